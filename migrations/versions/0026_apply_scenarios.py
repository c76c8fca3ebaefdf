"""apply: the application-scenario register (batches, status, owner unit, district) and its links to capability
components and catalog entries; the digital-economy parks and enterprises (issue 21)

Revision ID: 0026
Revises: 0025
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cityhub.kit.db

revision = '0026'
down_revision = '0025'
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

    op.create_table('apply_digital_park',
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('district_org_id', sa.Uuid(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['district_org_id'], ['core_organization.id'], name=op.f('fk_apply_digital_park_district_org_id_core_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_apply_digital_park')),
    sa.UniqueConstraint('code', name=op.f('uq_apply_digital_park_code')),
    sa.UniqueConstraint('name', name=op.f('uq_apply_digital_park_name'))
    )
    op.create_table('apply_enterprise',
    sa.Column('credit_code', sa.String(length=18), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('sector', sa.String(length=30), nullable=False),
    sa.Column('size', sa.String(length=10), nullable=False),
    sa.Column('park_id', sa.Uuid(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['park_id'], ['apply_digital_park.id'], name=op.f('fk_apply_enterprise_park_id_apply_digital_park')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_apply_enterprise')),
    sa.UniqueConstraint('credit_code', name=op.f('uq_apply_enterprise_credit_code'))
    )
    with op.batch_alter_table('apply_enterprise', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_apply_enterprise_park_id'), ['park_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_apply_enterprise_sector'), ['sector'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('apply_enterprise', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_apply_enterprise_sector'))
        batch_op.drop_index(batch_op.f('ix_apply_enterprise_park_id'))
    op.drop_table('apply_enterprise')
    op.drop_table('apply_digital_park')
    with op.batch_alter_table('apply_scenario_link', schema=None) as batch_op:
        batch_op.drop_index('ix_apply_scenario_link_kind_ref')
    op.drop_table('apply_scenario_link')
    with op.batch_alter_table('apply_scenario', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_apply_scenario_status'))
        batch_op.drop_index(batch_op.f('ix_apply_scenario_owner_org_id'))
        batch_op.drop_index(batch_op.f('ix_apply_scenario_batch'))
    op.drop_table('apply_scenario')
