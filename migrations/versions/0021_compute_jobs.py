"""compute: batch jobs (the AI compute centre, issue 17)

Revision ID: 0021
Revises: 0020
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import cityhub.kit.db

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('compute_job',
    sa.Column('org_id', sa.Uuid(), nullable=False),
    sa.Column('component_id', sa.Uuid(), nullable=False),
    sa.Column('version_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('source_kind', sa.String(length=10), nullable=False),
    sa.Column('source', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('request', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('grade', sa.String(length=10), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('rows_total', sa.Integer(), nullable=False),
    sa.Column('rows_done', sa.Integer(), nullable=False),
    sa.Column('rows_failed', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('submitted_by', sa.String(length=100), nullable=False),
    sa.Column('worker', sa.String(length=100), nullable=False),
    sa.Column('started_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('result_entry_id', sa.Uuid(), nullable=True),
    sa.Column('result_resource_id', sa.Uuid(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['component_id'], ['compute_component.id'], name=op.f('fk_compute_job_component_id_compute_component')),
    sa.ForeignKeyConstraint(['org_id'], ['core_organization.id'], name=op.f('fk_compute_job_org_id_core_organization')),
    sa.ForeignKeyConstraint(['version_id'], ['compute_component_version.id'], name=op.f('fk_compute_job_version_id_compute_component_version')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_compute_job'))
    )
    op.create_index(op.f('ix_compute_job_component_id'), 'compute_job', ['component_id'], unique=False)
    op.create_index('ix_compute_job_org_status', 'compute_job', ['org_id', 'status'], unique=False)
    op.create_index(op.f('ix_compute_job_org_id'), 'compute_job', ['org_id'], unique=False)
    op.create_index(op.f('ix_compute_job_status'), 'compute_job', ['status'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_compute_job_status'), table_name='compute_job')
    op.drop_index(op.f('ix_compute_job_org_id'), table_name='compute_job')
    op.drop_index('ix_compute_job_org_status', table_name='compute_job')
    op.drop_index(op.f('ix_compute_job_component_id'), table_name='compute_job')
    op.drop_table('compute_job')
