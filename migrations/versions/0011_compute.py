"""compute: the capability hub — components and immutable versions, consumer applications and keyed-hash keys,
subscriptions with quotas, metered calls and their hourly roll-up (issue 17)

Revision ID: 0011
Revises: 0010
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import cityhub.kit.db

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('compute_call',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('component_id', sa.Uuid(), nullable=True),
    sa.Column('version_id', sa.Uuid(), nullable=True),
    sa.Column('app_id', sa.Uuid(), nullable=True),
    sa.Column('org_id', sa.Uuid(), nullable=True),
    sa.Column('method', sa.String(length=10), nullable=False),
    sa.Column('status', sa.Integer(), nullable=False),
    sa.Column('error_code', sa.String(length=40), nullable=False),
    sa.Column('latency_ms', sa.Float(), nullable=False),
    sa.Column('bytes_in', sa.Integer(), nullable=False),
    sa.Column('bytes_out', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_compute_call'))
    )
    op.create_index(op.f('ix_compute_call_at'), 'compute_call', ['at'], unique=False)
    op.create_index(op.f('ix_compute_call_component_id'), 'compute_call', ['component_id'], unique=False)
    op.create_table('compute_usage_hourly',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('hour', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('component_id', sa.Uuid(), nullable=False),
    sa.Column('version_id', sa.Uuid(), nullable=False),
    sa.Column('app_id', sa.Uuid(), nullable=False),
    sa.Column('org_id', sa.Uuid(), nullable=False),
    sa.Column('calls', sa.Integer(), nullable=False),
    sa.Column('errors', sa.Integer(), nullable=False),
    sa.Column('latency_ms_sum', sa.Float(), nullable=False),
    sa.Column('latency_ms_max', sa.Float(), nullable=False),
    sa.Column('bytes_in', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('bytes_out', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_compute_usage_hourly')),
    sa.UniqueConstraint('hour', 'component_id', 'version_id', 'app_id', name=op.f('uq_compute_usage_hourly_hour_component_id_version_id_app_id'))
    )
    op.create_index(op.f('ix_compute_usage_hourly_component_id'), 'compute_usage_hourly', ['component_id'], unique=False)
    op.create_index(op.f('ix_compute_usage_hourly_hour'), 'compute_usage_hourly', ['hour'], unique=False)
    op.create_index(op.f('ix_compute_usage_hourly_org_id'), 'compute_usage_hourly', ['org_id'], unique=False)
    op.create_table('compute_app',
    sa.Column('org_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['core_organization.id'], name=op.f('fk_compute_app_org_id_core_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_compute_app')),
    sa.UniqueConstraint('org_id', 'name', name=op.f('uq_compute_app_org_id_name'))
    )
    op.create_index(op.f('ix_compute_app_org_id'), 'compute_app', ['org_id'], unique=False)
    op.create_table('compute_component',
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name_zh', sa.String(length=200), nullable=False),
    sa.Column('name_en', sa.String(length=200), nullable=False),
    sa.Column('category', sa.String(length=20), nullable=False),
    sa.Column('subcategory', sa.String(length=100), nullable=False),
    sa.Column('org_id', sa.Uuid(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('tags', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('openapi', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('docs', sa.Text(), nullable=False),
    sa.Column('sla', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('catalog_entry_ids', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('open_to_all', sa.Boolean(), nullable=False),
    sa.Column('price_per_call', sa.Float(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('review_note', sa.Text(), nullable=False),
    sa.Column('search_text', sa.Text(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['core_organization.id'], name=op.f('fk_compute_component_org_id_core_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_compute_component')),
    sa.UniqueConstraint('code', name=op.f('uq_compute_component_code'))
    )
    op.create_index(op.f('ix_compute_component_category'), 'compute_component', ['category'], unique=False)
    op.create_index(op.f('ix_compute_component_org_id'), 'compute_component', ['org_id'], unique=False)
    op.create_index(op.f('ix_compute_component_status'), 'compute_component', ['status'], unique=False)
    op.create_table('compute_app_key',
    sa.Column('app_id', sa.Uuid(), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['app_id'], ['compute_app.id'], name=op.f('fk_compute_app_key_app_id_compute_app'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_compute_app_key')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_compute_app_key_key_hash')),
    sa.UniqueConstraint('prefix', name=op.f('uq_compute_app_key_prefix'))
    )
    op.create_index(op.f('ix_compute_app_key_app_id'), 'compute_app_key', ['app_id'], unique=False)
    op.create_table('compute_component_version',
    sa.Column('component_id', sa.Uuid(), nullable=False),
    sa.Column('version', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('upstream_url', sa.String(length=500), nullable=False),
    sa.Column('builtin', sa.String(length=64), nullable=False),
    sa.Column('changelog', sa.Text(), nullable=False),
    sa.Column('created_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('published_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['component_id'], ['compute_component.id'], name=op.f('fk_compute_component_version_component_id_compute_component'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_compute_component_version')),
    sa.UniqueConstraint('component_id', 'version', name=op.f('uq_compute_component_version_component_id_version'))
    )
    op.create_index(op.f('ix_compute_component_version_component_id'), 'compute_component_version', ['component_id'], unique=False)
    op.create_table('compute_subscription',
    sa.Column('app_id', sa.Uuid(), nullable=False),
    sa.Column('component_id', sa.Uuid(), nullable=False),
    sa.Column('version_id', sa.Uuid(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('quota_per_minute', sa.Integer(), nullable=True),
    sa.Column('quota_per_day', sa.Integer(), nullable=True),
    sa.Column('quota_per_month', sa.Integer(), nullable=True),
    sa.Column('expires_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('purpose', sa.Text(), nullable=False),
    sa.Column('requested_by', sa.Uuid(), nullable=True),
    sa.Column('decided_by', sa.Uuid(), nullable=True),
    sa.Column('decided_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('decision_note', sa.Text(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['app_id'], ['compute_app.id'], name=op.f('fk_compute_subscription_app_id_compute_app'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['component_id'], ['compute_component.id'], name=op.f('fk_compute_subscription_component_id_compute_component')),
    sa.ForeignKeyConstraint(['version_id'], ['compute_component_version.id'], name=op.f('fk_compute_subscription_version_id_compute_component_version')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_compute_subscription'))
    )
    op.create_index(op.f('ix_compute_subscription_app_id'), 'compute_subscription', ['app_id'], unique=False)
    op.create_index('ix_compute_subscription_app_version', 'compute_subscription', ['app_id', 'version_id'], unique=False)
    op.create_index(op.f('ix_compute_subscription_component_id'), 'compute_subscription', ['component_id'], unique=False)
    op.create_index(op.f('ix_compute_subscription_status'), 'compute_subscription', ['status'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_compute_subscription_status'), table_name='compute_subscription')
    op.drop_index(op.f('ix_compute_subscription_component_id'), table_name='compute_subscription')
    op.drop_index('ix_compute_subscription_app_version', table_name='compute_subscription')
    op.drop_index(op.f('ix_compute_subscription_app_id'), table_name='compute_subscription')
    op.drop_table('compute_subscription')
    op.drop_index(op.f('ix_compute_component_version_component_id'), table_name='compute_component_version')
    op.drop_table('compute_component_version')
    op.drop_index(op.f('ix_compute_app_key_app_id'), table_name='compute_app_key')
    op.drop_table('compute_app_key')
    op.drop_index(op.f('ix_compute_component_status'), table_name='compute_component')
    op.drop_index(op.f('ix_compute_component_org_id'), table_name='compute_component')
    op.drop_index(op.f('ix_compute_component_category'), table_name='compute_component')
    op.drop_table('compute_component')
    op.drop_index(op.f('ix_compute_app_org_id'), table_name='compute_app')
    op.drop_table('compute_app')
    op.drop_index(op.f('ix_compute_usage_hourly_org_id'), table_name='compute_usage_hourly')
    op.drop_index(op.f('ix_compute_usage_hourly_hour'), table_name='compute_usage_hourly')
    op.drop_index(op.f('ix_compute_usage_hourly_component_id'), table_name='compute_usage_hourly')
    op.drop_table('compute_usage_hourly')
    op.drop_index(op.f('ix_compute_call_component_id'), table_name='compute_call')
    op.drop_index(op.f('ix_compute_call_at'), table_name='compute_call')
    op.drop_table('compute_call')
