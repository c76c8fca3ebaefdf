"""connect: idempotency keys of payloads without `ts`, so a redelivered copy takes its first copy's time (issue 14)

Revision ID: 0010
Revises: 0009
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cityhub.kit.db

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

UTC_TS = cityhub.kit.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'connect_ingest_key',
        sa.Column('device_id', sa.Uuid(), nullable=False),
        sa.Column('digest', sa.LargeBinary(length=16), nullable=False),
        sa.Column('ts', UTC_TS, nullable=False),
        sa.PrimaryKeyConstraint('device_id', 'digest', name=op.f('pk_connect_ingest_key')),
    )
    with op.batch_alter_table('connect_ingest_key') as batch:
        batch.create_index(batch.f('ix_connect_ingest_key_ts'), ['ts'], unique=False)


def downgrade() -> None:
    op.drop_table('connect_ingest_key')
