"""connect: device profiles, assets, devices, telemetry (monthly partitions + BRIN on PostgreSQL), latest values,
quarantine and its counts

Revision ID: 0002
Revises: 0001
"""
from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import cityhub.kit.db

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
UTC_TS = cityhub.kit.db.UTCDateTime(timezone=True)
PARTITION_SCHEMA = "connect_partitions"


def _month_start(year: int, month: int) -> datetime:
    while month > 12:
        year, month = year + 1, month - 12
    while month < 1:
        year, month = year - 1, month + 12
    return datetime(year, month, 1, tzinfo=UTC)


def upgrade() -> None:
    op.create_table('connect_device_profile',
    sa.Column('code', sa.String(length=60), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('name_en', sa.String(length=120), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('metrics', JSON, nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', UTC_TS, nullable=False),
    sa.Column('updated_at', UTC_TS, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_connect_device_profile')),
    sa.UniqueConstraint('code', name=op.f('uq_connect_device_profile_code'))
    )
    op.create_table('connect_asset',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('org_id', sa.Uuid(), nullable=False),
    sa.Column('parent_id', sa.Uuid(), nullable=True),
    sa.Column('district_id', sa.Uuid(), nullable=True),
    sa.Column('lon', sa.Double(), nullable=True),
    sa.Column('lat', sa.Double(), nullable=True),
    sa.Column('address', sa.String(length=300), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', UTC_TS, nullable=False),
    sa.Column('updated_at', UTC_TS, nullable=False),
    sa.ForeignKeyConstraint(['district_id'], ['core_organization.id'], name=op.f('fk_connect_asset_district_id_core_organization')),
    sa.ForeignKeyConstraint(['org_id'], ['core_organization.id'], name=op.f('fk_connect_asset_org_id_core_organization')),
    sa.ForeignKeyConstraint(['parent_id'], ['connect_asset.id'], name=op.f('fk_connect_asset_parent_id_connect_asset')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_connect_asset'))
    )
    with op.batch_alter_table('connect_asset', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_connect_asset_district_id'), ['district_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_connect_asset_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_connect_asset_org_id'), ['org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_connect_asset_parent_id'), ['parent_id'], unique=False)

    op.create_table('connect_device',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('org_id', sa.Uuid(), nullable=False),
    sa.Column('asset_id', sa.Uuid(), nullable=True),
    sa.Column('profile_id', sa.Uuid(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('serial', sa.String(length=100), nullable=False),
    sa.Column('lon', sa.Double(), nullable=True),
    sa.Column('lat', sa.Double(), nullable=True),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('broker_hash', sa.String(length=200), nullable=False),
    sa.Column('token_rotated_at', UTC_TS, nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', UTC_TS, nullable=False),
    sa.Column('updated_at', UTC_TS, nullable=False),
    sa.ForeignKeyConstraint(['asset_id'], ['connect_asset.id'], name=op.f('fk_connect_device_asset_id_connect_asset')),
    sa.ForeignKeyConstraint(['org_id'], ['core_organization.id'], name=op.f('fk_connect_device_org_id_core_organization')),
    sa.ForeignKeyConstraint(['profile_id'], ['connect_device_profile.id'], name=op.f('fk_connect_device_profile_id_connect_device_profile')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_connect_device'))
    )
    with op.batch_alter_table('connect_device', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_connect_device_asset_id'), ['asset_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_connect_device_org_id'), ['org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_connect_device_profile_id'), ['profile_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_connect_device_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_connect_device_token_hash'), ['token_hash'], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        # Range-partitioned by month; partitions live in their own schema so the model/migration drift check
        # (which compares the default schema) sees only the parent table.
        op.execute(f"CREATE SCHEMA IF NOT EXISTS {PARTITION_SCHEMA}")
        op.execute("CREATE TABLE connect_telemetry ("
                   "device_id UUID NOT NULL, key VARCHAR(64) NOT NULL, ts TIMESTAMP WITH TIME ZONE NOT NULL, "
                   "value FLOAT, text TEXT, "
                   "CONSTRAINT pk_connect_telemetry PRIMARY KEY (device_id, key, ts)) PARTITION BY RANGE (ts)")
        op.execute("CREATE INDEX ix_connect_telemetry_ts ON connect_telemetry USING brin (ts)")
        now = datetime.now(UTC)
        for offset in range(-1, 3):  # last month to two months ahead; ingest creates others on demand
            lo, hi = _month_start(now.year, now.month + offset), _month_start(now.year, now.month + offset + 1)
            op.execute(f"CREATE TABLE IF NOT EXISTS {PARTITION_SCHEMA}.telemetry_{lo:%Y%m} PARTITION OF "
                       f"connect_telemetry FOR VALUES FROM ('{lo.isoformat()}') TO ('{hi.isoformat()}')")
    else:
        op.create_table('connect_telemetry',
        sa.Column('device_id', sa.Uuid(), nullable=False),
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('ts', UTC_TS, nullable=False),
        sa.Column('value', sa.Float(), nullable=True),
        sa.Column('text', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('device_id', 'key', 'ts', name=op.f('pk_connect_telemetry'))
        )
        with op.batch_alter_table('connect_telemetry', schema=None) as batch_op:
            batch_op.create_index('ix_connect_telemetry_ts', ['ts'], unique=False, postgresql_using='brin')

    op.create_table('connect_latest',
    sa.Column('device_id', sa.Uuid(), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('ts', UTC_TS, nullable=False),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('text', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('device_id', 'key', name=op.f('pk_connect_latest'))
    )
    op.create_table('connect_quarantine',
    sa.Column('received_at', UTC_TS, nullable=False),
    sa.Column('topic', sa.String(length=300), nullable=False),
    sa.Column('device_id', sa.Uuid(), nullable=True),
    sa.Column('reason', sa.String(length=30), nullable=False),
    sa.Column('detail', sa.String(length=500), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_connect_quarantine'))
    )
    with op.batch_alter_table('connect_quarantine', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_connect_quarantine_device_id'), ['device_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_connect_quarantine_reason'), ['reason'], unique=False)
        batch_op.create_index(batch_op.f('ix_connect_quarantine_received_at'), ['received_at'], unique=False)

    op.create_table('connect_quarantine_count',
    sa.Column('reason', sa.String(length=30), nullable=False),
    sa.Column('count', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('reason', name=op.f('pk_connect_quarantine_count'))
    )


def downgrade() -> None:
    op.drop_table('connect_quarantine_count')
    with op.batch_alter_table('connect_quarantine', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_connect_quarantine_received_at'))
        batch_op.drop_index(batch_op.f('ix_connect_quarantine_reason'))
        batch_op.drop_index(batch_op.f('ix_connect_quarantine_device_id'))
    op.drop_table('connect_quarantine')
    op.drop_table('connect_latest')
    op.drop_table('connect_telemetry')  # drops its partitions with it on PostgreSQL
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP SCHEMA IF EXISTS {PARTITION_SCHEMA} CASCADE")
    op.drop_table('connect_device')
    op.drop_table('connect_asset')
    op.drop_table('connect_device_profile')
