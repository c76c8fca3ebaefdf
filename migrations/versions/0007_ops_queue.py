"""ops: telemetry queue for rule evaluation outside the ingest transaction (issue 8)

Revision ID: 0007
Revises: 0006
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cityhub.kit.db

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ops_telemetry_queue',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('enqueued_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('points', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ops_telemetry_queue'))
    )
    if op.get_bind().dialect.name == "postgresql":
        # the batches are zstd-compressed already: no second (pglz) compression, no TOAST compression attempt
        op.execute("ALTER TABLE ops_telemetry_queue ALTER COLUMN points SET STORAGE EXTERNAL")


def downgrade() -> None:
    op.drop_table('ops_telemetry_queue')
