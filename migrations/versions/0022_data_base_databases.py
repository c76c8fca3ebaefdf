"""data: base databases as data — feeds (entries feeding a base database), golden records, conflicts (issue 20)

Revision ID: 0022
Revises: 0021
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import cityhub.kit.db

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('data_base_record',
    sa.Column('base_db', sa.String(length=20), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('fields', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('provenance', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('sources', sa.Integer(), nullable=False),
    sa.Column('conflicts', sa.Integer(), nullable=False),
    sa.Column('merged_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_base_record')),
    sa.UniqueConstraint('base_db', 'key', name=op.f('uq_data_base_record_base_db_key'))
    )
    op.create_table('data_base_conflict',
    sa.Column('record_id', sa.Uuid(), nullable=False),
    sa.Column('base_db', sa.String(length=20), nullable=False),
    sa.Column('field', sa.String(length=60), nullable=False),
    sa.Column('candidates', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('chosen', sa.Text(), nullable=True),
    sa.Column('resolved_by', sa.Uuid(), nullable=True),
    sa.Column('resolved_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['record_id'], ['data_base_record.id'], name=op.f('fk_data_base_conflict_record_id_data_base_record'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_base_conflict')),
    sa.UniqueConstraint('record_id', 'field', name=op.f('uq_data_base_conflict_record_id_field'))
    )
    with op.batch_alter_table('data_base_conflict', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_data_base_conflict_base_db'), ['base_db'], unique=False)
        batch_op.create_index(batch_op.f('ix_data_base_conflict_record_id'), ['record_id'], unique=False)

    op.create_table('data_base_feed',
    sa.Column('base_db', sa.String(length=20), nullable=False),
    sa.Column('entry_id', sa.Uuid(), nullable=False),
    sa.Column('org_id', sa.Uuid(), nullable=False),
    sa.Column('key_item', sa.String(length=60), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['entry_id'], ['data_catalog_entry.id'], name=op.f('fk_data_base_feed_entry_id_data_catalog_entry'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_base_feed')),
    sa.UniqueConstraint('base_db', 'entry_id', name=op.f('uq_data_base_feed_base_db_entry_id'))
    )
    with op.batch_alter_table('data_base_feed', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_data_base_feed_base_db'), ['base_db'], unique=False)
        batch_op.create_index(batch_op.f('ix_data_base_feed_entry_id'), ['entry_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_data_base_feed_org_id'), ['org_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('data_base_feed', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_data_base_feed_org_id'))
        batch_op.drop_index(batch_op.f('ix_data_base_feed_entry_id'))
        batch_op.drop_index(batch_op.f('ix_data_base_feed_base_db'))

    op.drop_table('data_base_feed')
    with op.batch_alter_table('data_base_conflict', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_data_base_conflict_record_id'))
        batch_op.drop_index(batch_op.f('ix_data_base_conflict_base_db'))

    op.drop_table('data_base_conflict')
    op.drop_table('data_base_record')
