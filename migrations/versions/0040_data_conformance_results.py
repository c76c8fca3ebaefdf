"""data: stored standards conformance per table resource (checked at, totals, fields, the standards' versions,
stale marks) — issue 20, decision 0011

Nothing is computed here: every resource starts never checked, and the worker (`cityhub data conformance-refresh
--stale-only`, also called by the sync worker) checks the ones that follow data elements.

Revision ID: 0040
Revises: 0039
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import cityhub.kit.db

revision = '0040'
down_revision = '0039'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql')
BigCount = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
When = cityhub.kit.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table('data_conformance_result',
    sa.Column('resource_id', sa.Uuid(), nullable=False),
    sa.Column('checked_at', When, nullable=False),
    sa.Column('rows', BigCount, nullable=False),
    sa.Column('fields_total', sa.Integer(), nullable=False),
    sa.Column('fields_standardised', sa.Integer(), nullable=False),
    sa.Column('checked', BigCount, nullable=False),
    sa.Column('conforming', BigCount, nullable=False),
    sa.Column('nonconforming', BigCount, nullable=False),
    sa.Column('fields', JSON, nullable=False),
    sa.Column('standards', JSON, nullable=False),
    sa.Column('duration_ms', sa.Integer(), nullable=False),
    sa.Column('stale', sa.Boolean(), nullable=False),
    sa.Column('stale_reason', sa.String(length=20), nullable=False),
    sa.Column('stale_since', When, nullable=True),
    sa.ForeignKeyConstraint(['resource_id'], ['data_resource.id'],
                            name=op.f('fk_data_conformance_result_resource_id_data_resource'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('resource_id', name=op.f('pk_data_conformance_result'))
    )
    with op.batch_alter_table('data_conformance_result', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_data_conformance_result_stale'), ['stale'], unique=False)


def downgrade() -> None:
    op.drop_table('data_conformance_result')
