"""compute: saved analyses and their runs (issue 18)

Revision ID: 0016
Revises: 0015
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cityhub.kit.db

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('compute_analysis',
    sa.Column('org_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('sql', sa.Text(), nullable=False),
    sa.Column('chart', sa.String(length=10), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['core_organization.id'], name=op.f('fk_compute_analysis_org_id_core_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_compute_analysis')),
    sa.UniqueConstraint('org_id', 'name', name=op.f('uq_compute_analysis_org_id_name'))
    )
    op.create_index(op.f('ix_compute_analysis_org_id'), 'compute_analysis', ['org_id'], unique=False)
    op.create_table('compute_analysis_run',
    sa.Column('analysis_id', sa.Uuid(), nullable=False),
    sa.Column('org_id', sa.Uuid(), nullable=False),
    sa.Column('started_by', sa.String(length=100), nullable=False),
    sa.Column('engine', sa.String(length=10), nullable=False),
    sa.Column('max_rows', sa.Integer(), nullable=False),
    sa.Column('timeout_s', sa.Float(), nullable=False),
    sa.Column('started_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['analysis_id'], ['compute_analysis.id'], name=op.f('fk_compute_analysis_run_analysis_id_compute_analysis'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['org_id'], ['core_organization.id'], name=op.f('fk_compute_analysis_run_org_id_core_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_compute_analysis_run'))
    )
    op.create_index(op.f('ix_compute_analysis_run_analysis_id'), 'compute_analysis_run', ['analysis_id'], unique=False)
    op.create_index(op.f('ix_compute_analysis_run_org_id'), 'compute_analysis_run', ['org_id'], unique=False)
    op.create_index(op.f('ix_compute_analysis_run_started_at'), 'compute_analysis_run', ['started_at'], unique=False)


def downgrade() -> None:
    op.drop_table('compute_analysis_run')
    op.drop_table('compute_analysis')
