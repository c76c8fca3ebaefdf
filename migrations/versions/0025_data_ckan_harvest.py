"""data: CKAN harvest — provenance columns on catalog entries, harvest runs (issue 20)

Revision ID: 0025
Revises: 0024
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import cityhub.kit.db

revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql')


def upgrade() -> None:
    with op.batch_alter_table('data_catalog_entry', schema=None) as batch_op:
        batch_op.add_column(sa.Column('harvest_source_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('harvest_remote_id', sa.String(length=200), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('harvest_remote_name', sa.String(length=200), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('harvest_remote_modified', cityhub.kit.db.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column('harvested_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('harvest_gone', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.create_index(batch_op.f('ix_data_catalog_entry_harvest_source_id'), ['harvest_source_id'],
                              unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_data_catalog_entry_harvest_source_id_data_sync_source'),
                                    'data_sync_source', ['harvest_source_id'], ['id'], ondelete='SET NULL')
    op.create_table('data_harvest_run',
    sa.Column('source_id', sa.Uuid(), nullable=False),
    sa.Column('trigger', sa.String(length=12), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('started_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('duration_ms', sa.Integer(), nullable=False),
    sa.Column('pages', sa.Integer(), nullable=False),
    sa.Column('datasets_read', sa.Integer(), nullable=False),
    sa.Column('created', sa.Integer(), nullable=False),
    sa.Column('updated', sa.Integer(), nullable=False),
    sa.Column('unchanged', sa.Integer(), nullable=False),
    sa.Column('gone', sa.Integer(), nullable=False),
    sa.Column('failed', sa.Integer(), nullable=False),
    sa.Column('failures', JSON, nullable=False),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['source_id'], ['data_sync_source.id'],
                            name=op.f('fk_data_harvest_run_source_id_data_sync_source'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_harvest_run'))
    )
    op.create_index(op.f('ix_data_harvest_run_source_id'), 'data_harvest_run', ['source_id'], unique=False)


def downgrade() -> None:
    op.drop_table('data_harvest_run')
    with op.batch_alter_table('data_catalog_entry', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_data_catalog_entry_harvest_source_id_data_sync_source'),
                                 type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_data_catalog_entry_harvest_source_id'))
        for col in ('harvest_gone', 'harvested_at', 'harvest_remote_modified', 'harvest_remote_name',
                    'harvest_remote_id', 'harvest_source_id'):
            batch_op.drop_column(col)
