"""apply: the digital-economy key projects (数字经济重点项目) and their progress reports — issue 21

Revision ID: 0037
Revises: 0036
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cityhub.kit.db

revision = '0037'
down_revision = '0036'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('apply_key_project',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('park_id', sa.Uuid(), nullable=True),
    sa.Column('lead_enterprise_id', sa.Uuid(), nullable=True),
    sa.Column('district_org_id', sa.Uuid(), nullable=True),
    sa.Column('owner_org_id', sa.Uuid(), nullable=False),
    sa.Column('sector', sa.String(length=30), nullable=False),
    sa.Column('investment_total', sa.Float(), nullable=False),
    sa.Column('investment_completed', sa.Float(), nullable=False),
    sa.Column('planned_start', sa.Date(), nullable=True),
    sa.Column('planned_finish', sa.Date(), nullable=True),
    sa.Column('status', sa.Enum('planned', 'under_construction', 'completed', 'suspended', name='projectstatus',
                                native_enum=False, length=20), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['park_id'], ['apply_digital_park.id'],
                            name=op.f('fk_apply_key_project_park_id_apply_digital_park')),
    sa.ForeignKeyConstraint(['lead_enterprise_id'], ['apply_enterprise.id'],
                            name=op.f('fk_apply_key_project_lead_enterprise_id_apply_enterprise')),
    sa.ForeignKeyConstraint(['district_org_id'], ['core_organization.id'],
                            name=op.f('fk_apply_key_project_district_org_id_core_organization')),
    sa.ForeignKeyConstraint(['owner_org_id'], ['core_organization.id'],
                            name=op.f('fk_apply_key_project_owner_org_id_core_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_apply_key_project')),
    sa.UniqueConstraint('name', name=op.f('uq_apply_key_project_name'))
    )
    with op.batch_alter_table('apply_key_project', schema=None) as batch_op:
        for col in ('park_id', 'lead_enterprise_id', 'district_org_id', 'owner_org_id', 'sector', 'status'):
            batch_op.create_index(batch_op.f(f'ix_apply_key_project_{col}'), [col], unique=False)

    op.create_table('apply_key_project_report',
    sa.Column('project_id', sa.Uuid(), nullable=False),
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('investment_completed', sa.Float(), nullable=False),
    sa.Column('milestone', sa.Text(), nullable=False),
    sa.Column('reported_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('reported_by', sa.Uuid(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['apply_key_project.id'],
                            name=op.f('fk_apply_key_project_report_project_id_apply_key_project'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_apply_key_project_report')),
    sa.UniqueConstraint('project_id', 'as_of', name='uq_apply_key_project_report_as_of')
    )
    with op.batch_alter_table('apply_key_project_report', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_apply_key_project_report_project_id'), ['project_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('apply_key_project_report', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_apply_key_project_report_project_id'))
    op.drop_table('apply_key_project_report')
    with op.batch_alter_table('apply_key_project', schema=None) as batch_op:
        for col in ('status', 'sector', 'owner_org_id', 'district_org_id', 'lead_enterprise_id', 'park_id'):
            batch_op.drop_index(batch_op.f(f'ix_apply_key_project_{col}'))
    op.drop_table('apply_key_project')
