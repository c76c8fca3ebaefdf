"""apply: the 全景 screen's figures kept computed; evidence files of progress reports;
a scenario's KPIs (target, actual) and budget (planned, spent) (issue 21)

Revision ID: 0032
Revises: 0031
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import cityhub.kit.db

revision = '0032'
down_revision = '0031'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table('apply_panorama_snapshot',
    sa.Column('key', sa.String(length=20), nullable=False),
    sa.Column('payload', JSON, nullable=False),
    sa.Column('computed_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('requested_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_apply_panorama_snapshot'))
    )
    op.create_table('apply_report_evidence',
    sa.Column('report_id', sa.Uuid(), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('uploaded_by', sa.Uuid(), nullable=True),
    sa.Column('uploaded_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['report_id'], ['apply_progress_report.id'], name=op.f('fk_apply_report_evidence_report_id_apply_progress_report'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_apply_report_evidence'))
    )
    with op.batch_alter_table('apply_report_evidence', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_apply_report_evidence_report_id'), ['report_id'], unique=False)
    with op.batch_alter_table('apply_scenario', schema=None) as batch_op:
        batch_op.add_column(sa.Column('budget_planned', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('budget_spent', sa.Float(), nullable=True))
    op.create_table('apply_scenario_kpi',
    sa.Column('scenario_id', sa.Uuid(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('unit', sa.String(length=30), nullable=False),
    sa.Column('target', sa.Float(), nullable=False),
    sa.Column('actual', sa.Float(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['scenario_id'], ['apply_scenario.id'], name=op.f('fk_apply_scenario_kpi_scenario_id_apply_scenario'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_apply_scenario_kpi')),
    sa.UniqueConstraint('scenario_id', 'name', name='uq_apply_scenario_kpi_scenario_name')
    )
    with op.batch_alter_table('apply_scenario_kpi', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_apply_scenario_kpi_scenario_id'), ['scenario_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('apply_scenario_kpi', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_apply_scenario_kpi_scenario_id'))
    op.drop_table('apply_scenario_kpi')
    with op.batch_alter_table('apply_scenario', schema=None) as batch_op:
        batch_op.drop_column('budget_spent')
        batch_op.drop_column('budget_planned')
    with op.batch_alter_table('apply_report_evidence', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_apply_report_evidence_report_id'))
    op.drop_table('apply_report_evidence')
    op.drop_table('apply_panorama_snapshot')
