"""compute: analysis schedules and published results, dispatch decisions (issue 18)

Revision ID: 0029
Revises: 0028
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cityhub.kit.db

revision = '0029'
down_revision = '0028'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('compute_analysis', schema=None) as batch_op:
        batch_op.add_column(sa.Column('schedule', sa.String(length=100), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('schedule_by', sa.String(length=100), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('next_run_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('schedule_error', sa.Text(), nullable=False, server_default=''))
        batch_op.create_index(batch_op.f('ix_compute_analysis_next_run_at'), ['next_run_at'], unique=False)
    with op.batch_alter_table('compute_analysis_run', schema=None) as batch_op:
        batch_op.add_column(sa.Column('trigger', sa.String(length=10), nullable=False, server_default='manual'))
        batch_op.add_column(sa.Column('grade', sa.String(length=10), nullable=False, server_default='general'))
        batch_op.add_column(sa.Column('published_entry_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('published_resource_id', sa.Uuid(), nullable=True))
    op.create_table('compute_dispatch_decision',
    sa.Column('run_id', sa.Uuid(), nullable=False),
    sa.Column('org_id', sa.Uuid(), nullable=False),
    sa.Column('incident_id', sa.Uuid(), nullable=False),
    sa.Column('action', sa.String(length=10), nullable=False),
    sa.Column('suggested_team', sa.String(length=100), nullable=False),
    sa.Column('team', sa.String(length=100), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('decided_by', sa.String(length=100), nullable=False),
    sa.Column('decided_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['core_organization.id'],
                            name=op.f('fk_compute_dispatch_decision_org_id_core_organization')),
    sa.ForeignKeyConstraint(['run_id'], ['compute_scenario_run.id'],
                            name=op.f('fk_compute_dispatch_decision_run_id_compute_scenario_run'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_compute_dispatch_decision')),
    sa.UniqueConstraint('run_id', 'incident_id', name=op.f('uq_compute_dispatch_decision_run_id_incident_id'))
    )
    op.create_index(op.f('ix_compute_dispatch_decision_run_id'), 'compute_dispatch_decision', ['run_id'], unique=False)
    op.create_index(op.f('ix_compute_dispatch_decision_org_id'), 'compute_dispatch_decision', ['org_id'], unique=False)


def downgrade() -> None:
    op.drop_table('compute_dispatch_decision')
    with op.batch_alter_table('compute_analysis_run', schema=None) as batch_op:
        for col in ('published_resource_id', 'published_entry_id', 'grade', 'trigger'):
            batch_op.drop_column(col)
    with op.batch_alter_table('compute_analysis', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_compute_analysis_next_run_at'))
        for col in ('schedule_error', 'next_run_at', 'schedule_by', 'schedule'):
            batch_op.drop_column(col)
