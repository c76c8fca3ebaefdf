"""apply: the application-scenario register (batches, status, owner unit, district) and its links to capability
components and catalog entries (issue 21)

Revision ID: 0026
Revises: 0024
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cityhub.kit.db

revision = '0026'
down_revision = '0024'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('apply_scenario',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('batch', sa.Enum('smart_city', 'livelihood', '5g', 'data_channel', 'future_community', name='scenariobatch', native_enum=False, length=20), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('owner_org_id', sa.Uuid(), nullable=False),
    sa.Column('district_org_id', sa.Uuid(), nullable=True),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('status', sa.Enum('declared', 'building', 'built', 'accepted', name='scenariostatus', native_enum=False, length=20), nullable=False),
    sa.Column('proposed_by', sa.Uuid(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['district_org_id'], ['core_organization.id'], name=op.f('fk_apply_scenario_district_org_id_core_organization')),
    sa.ForeignKeyConstraint(['owner_org_id'], ['core_organization.id'], name=op.f('fk_apply_scenario_owner_org_id_core_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_apply_scenario')),
    sa.UniqueConstraint('batch', 'name', name='uq_apply_scenario_batch_name')
    )
    with op.batch_alter_table('apply_scenario', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_apply_scenario_batch'), ['batch'], unique=False)
        batch_op.create_index(batch_op.f('ix_apply_scenario_owner_org_id'), ['owner_org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_apply_scenario_status'), ['status'], unique=False)

    op.create_table('apply_scenario_link',
    sa.Column('scenario_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.Enum('component', 'catalog_entry', name='scenariolinkkind', native_enum=False, length=20), nullable=False),
    sa.Column('ref_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['scenario_id'], ['apply_scenario.id'], name=op.f('fk_apply_scenario_link_scenario_id_apply_scenario'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_apply_scenario_link')),
    sa.UniqueConstraint('scenario_id', 'kind', 'ref_id', name='uq_apply_scenario_link')
    )
    with op.batch_alter_table('apply_scenario_link', schema=None) as batch_op:
        batch_op.create_index('ix_apply_scenario_link_kind_ref', ['kind', 'ref_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('apply_scenario_link', schema=None) as batch_op:
        batch_op.drop_index('ix_apply_scenario_link_kind_ref')
    op.drop_table('apply_scenario_link')
    with op.batch_alter_table('apply_scenario', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_apply_scenario_status'))
        batch_op.drop_index(batch_op.f('ix_apply_scenario_owner_org_id'))
        batch_op.drop_index(batch_op.f('ix_apply_scenario_batch'))
    op.drop_table('apply_scenario')
