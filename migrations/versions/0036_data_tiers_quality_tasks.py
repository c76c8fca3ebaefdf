"""data: district catalog tiers (an entry's tier and upward sharing, a request's reviewing district) and quality
tasks (整改任务) opened by failing quality runs — issue 20, decision 0012

Existing entries and requests stay in the city tier (`tier` 'city', no district): a deployment with district
units re-registers nothing, and the district admins take over reviews of new district entries only.

Revision ID: 0036
Revises: 0035
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import cityhub.kit.db

revision = '0036'
down_revision = '0035'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql')
BigCount = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
When = cityhub.kit.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table('data_catalog_entry', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tier', sa.String(length=10), nullable=False, server_default='city'))
        batch_op.add_column(sa.Column('tier_org_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('shared_upward', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.create_index(batch_op.f('ix_data_catalog_entry_tier_org_id'), ['tier_org_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_data_catalog_entry_tier_org_id_core_organization'),
                                    'core_organization', ['tier_org_id'], ['id'])
    with op.batch_alter_table('data_catalog_search', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tier', sa.String(length=10), nullable=False, server_default='city'))
        batch_op.add_column(sa.Column('tier_org_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('shared_upward', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('publisher_org_id', sa.Uuid(), nullable=True))
    op.execute(sa.text('UPDATE data_catalog_search SET publisher_org_id = provider_org_id'))
    with op.batch_alter_table('data_share_request', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tier_org_id', sa.Uuid(), nullable=True))

    op.create_table('data_quality_task',
    sa.Column('entry_id', sa.Uuid(), nullable=False),
    sa.Column('active_entry_id', sa.Uuid(), nullable=True),
    sa.Column('org_id', sa.Uuid(), nullable=False),
    sa.Column('status', sa.Enum('open', 'resolved', 'closed', name='qualitytaskstatus', native_enum=False,
                                length=20, create_constraint=False), nullable=False),
    sa.Column('failures', JSON, nullable=False),
    sa.Column('failed_checks', sa.Integer(), nullable=False),
    sa.Column('failed_rows', BigCount, nullable=False),
    sa.Column('opened_at', When, nullable=False),
    sa.Column('deadline_at', When, nullable=False),
    sa.Column('last_run_at', When, nullable=True),
    sa.Column('resolved_at', When, nullable=True),
    sa.Column('resolved_by', sa.String(length=100), nullable=False),
    sa.Column('resolution_note', sa.Text(), nullable=False),
    sa.Column('closed_at', When, nullable=True),
    sa.Column('reopened', sa.Integer(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', When, nullable=False),
    sa.Column('updated_at', When, nullable=False),
    sa.ForeignKeyConstraint(['entry_id'], ['data_catalog_entry.id'],
                            name=op.f('fk_data_quality_task_entry_id_data_catalog_entry'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['org_id'], ['core_organization.id'],
                            name=op.f('fk_data_quality_task_org_id_core_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_quality_task')),
    sa.UniqueConstraint('active_entry_id', name=op.f('uq_data_quality_task_active_entry_id'))
    )
    with op.batch_alter_table('data_quality_task', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_data_quality_task_entry_id'), ['entry_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_data_quality_task_org_id'), ['org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_data_quality_task_status'), ['status'], unique=False)


def downgrade() -> None:
    op.drop_table('data_quality_task')
    with op.batch_alter_table('data_share_request', schema=None) as batch_op:
        batch_op.drop_column('tier_org_id')
    with op.batch_alter_table('data_catalog_search', schema=None) as batch_op:
        batch_op.drop_column('publisher_org_id')
        batch_op.drop_column('shared_upward')
        batch_op.drop_column('tier_org_id')
        batch_op.drop_column('tier')
    with op.batch_alter_table('data_catalog_entry', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_data_catalog_entry_tier_org_id_core_organization'),
                                 type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_data_catalog_entry_tier_org_id'))
        batch_op.drop_column('shared_upward')
        batch_op.drop_column('tier_org_id')
        batch_op.drop_column('tier')
