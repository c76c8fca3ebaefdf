"""data: collection sources, sync jobs and their runs; quality checks and their results (issue 20)

Revision ID: 0017
Revises: 0016
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import cityhub.kit.db

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('data_sync_source',
    sa.Column('org_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('url', sa.String(length=500), nullable=False),
    sa.Column('credentials_enc', sa.Text(), nullable=False),
    sa.Column('options', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['core_organization.id'], name=op.f('fk_data_sync_source_org_id_core_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_sync_source')),
    sa.UniqueConstraint('org_id', 'name', name=op.f('uq_data_sync_source_org_id_name'))
    )
    with op.batch_alter_table('data_sync_source', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_data_sync_source_org_id'), ['org_id'], unique=False)

    op.create_table('data_quality_check',
    sa.Column('entry_id', sa.Uuid(), nullable=False),
    sa.Column('org_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('column', sa.String(length=63), nullable=False),
    sa.Column('params', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('last_score', sa.Double(), nullable=True),
    sa.Column('last_failed', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('last_message', sa.Text(), nullable=False),
    sa.Column('last_run_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['entry_id'], ['data_catalog_entry.id'], name=op.f('fk_data_quality_check_entry_id_data_catalog_entry'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['org_id'], ['core_organization.id'], name=op.f('fk_data_quality_check_org_id_core_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_quality_check'))
    )
    with op.batch_alter_table('data_quality_check', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_data_quality_check_entry_id'), ['entry_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_data_quality_check_org_id'), ['org_id'], unique=False)

    op.create_table('data_sync_job',
    sa.Column('org_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('source_id', sa.Uuid(), nullable=False),
    sa.Column('entry_id', sa.Uuid(), nullable=False),
    sa.Column('query', sa.Text(), nullable=False),
    sa.Column('mapping', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('key', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('mode', sa.String(length=12), nullable=False),
    sa.Column('cursor_column', sa.String(length=63), nullable=False),
    sa.Column('watermark', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=True),
    sa.Column('schedule', sa.String(length=100), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('next_run_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('batch_size', sa.Integer(), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('last_status', sa.String(length=12), nullable=False),
    sa.Column('last_run_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['entry_id'], ['data_catalog_entry.id'], name=op.f('fk_data_sync_job_entry_id_data_catalog_entry'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['org_id'], ['core_organization.id'], name=op.f('fk_data_sync_job_org_id_core_organization')),
    sa.ForeignKeyConstraint(['source_id'], ['data_sync_source.id'], name=op.f('fk_data_sync_job_source_id_data_sync_source'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_sync_job')),
    sa.UniqueConstraint('org_id', 'name', name=op.f('uq_data_sync_job_org_id_name'))
    )
    with op.batch_alter_table('data_sync_job', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_data_sync_job_entry_id'), ['entry_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_data_sync_job_next_run_at'), ['next_run_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_data_sync_job_org_id'), ['org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_data_sync_job_source_id'), ['source_id'], unique=False)

    op.create_table('data_quality_result',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('check_id', sa.Uuid(), nullable=False),
    sa.Column('entry_id', sa.Uuid(), nullable=False),
    sa.Column('org_id', sa.Uuid(), nullable=False),
    sa.Column('at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('checked', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('failed', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('score', sa.Double(), nullable=False),
    sa.Column('sample', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['check_id'], ['data_quality_check.id'], name=op.f('fk_data_quality_result_check_id_data_quality_check'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_quality_result'))
    )
    with op.batch_alter_table('data_quality_result', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_data_quality_result_check_id'), ['check_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_data_quality_result_entry_id'), ['entry_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_data_quality_result_org_id'), ['org_id'], unique=False)

    op.create_table('data_sync_run',
    sa.Column('job_id', sa.Uuid(), nullable=False),
    sa.Column('trigger', sa.String(length=12), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('started_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('duration_ms', sa.Integer(), nullable=False),
    sa.Column('rows_read', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('rows_inserted', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('rows_updated', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('rows_rejected', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('rejects', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('watermark_from', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=True),
    sa.Column('watermark_to', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['job_id'], ['data_sync_job.id'], name=op.f('fk_data_sync_run_job_id_data_sync_job'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_sync_run'))
    )
    with op.batch_alter_table('data_sync_run', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_data_sync_run_job_id'), ['job_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('data_sync_run', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_data_sync_run_job_id'))

    op.drop_table('data_sync_run')
    with op.batch_alter_table('data_quality_result', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_data_quality_result_org_id'))
        batch_op.drop_index(batch_op.f('ix_data_quality_result_entry_id'))
        batch_op.drop_index(batch_op.f('ix_data_quality_result_check_id'))

    op.drop_table('data_quality_result')
    with op.batch_alter_table('data_sync_job', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_data_sync_job_source_id'))
        batch_op.drop_index(batch_op.f('ix_data_sync_job_org_id'))
        batch_op.drop_index(batch_op.f('ix_data_sync_job_next_run_at'))
        batch_op.drop_index(batch_op.f('ix_data_sync_job_entry_id'))

    op.drop_table('data_sync_job')
    with op.batch_alter_table('data_quality_check', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_data_quality_check_org_id'))
        batch_op.drop_index(batch_op.f('ix_data_quality_check_entry_id'))

    op.drop_table('data_quality_check')
    with op.batch_alter_table('data_sync_source', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_data_sync_source_org_id'))

    op.drop_table('data_sync_source')
