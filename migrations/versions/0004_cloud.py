"""cloud: providers, regions, pools, tenancies, catalog, requests, resources, jobs, metering, idle cases,
information systems, DR drills, ratio snapshots, reconciler findings

Revision ID: 0004
Revises: 0003
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import cityhub.kit.db

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('cloud_catalog_item',
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('size_id', sa.String(length=40), nullable=False),
    sa.Column('vcpus', sa.Integer(), nullable=False),
    sa.Column('ram_mb', sa.Integer(), nullable=False),
    sa.Column('disk_gb', sa.Integer(), nullable=False),
    sa.Column('storage_gb', sa.Integer(), nullable=False),
    sa.Column('monthly_price', sa.Double(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cloud_catalog_item')),
    sa.UniqueConstraint('code', name=op.f('uq_cloud_catalog_item_code'))
    )
    op.create_table('cloud_provider_account',
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('config', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('credentials_enc', sa.Text(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('last_reconciled_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cloud_provider_account')),
    sa.UniqueConstraint('name', name=op.f('uq_cloud_provider_account_name'))
    )
    op.create_table('cloud_ratio_snapshot',
    sa.Column('org_id', sa.Uuid(), nullable=True),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('systems', sa.Integer(), nullable=False),
    sa.Column('on_cloud', sa.Integer(), nullable=False),
    sa.Column('integrated', sa.Integer(), nullable=False),
    sa.Column('on_cloud_ratio', sa.Double(), nullable=False),
    sa.Column('integration_ratio', sa.Double(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['core_organization.id'], name=op.f('fk_cloud_ratio_snapshot_org_id_core_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cloud_ratio_snapshot')),
    sa.UniqueConstraint('org_id', 'day', name=op.f('uq_cloud_ratio_snapshot_org_id_day'))
    )
    with op.batch_alter_table('cloud_ratio_snapshot', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cloud_ratio_snapshot_day'), ['day'], unique=False)

    op.create_table('cloud_region',
    sa.Column('account_id', sa.Uuid(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['cloud_provider_account.id'], name=op.f('fk_cloud_region_account_id_cloud_provider_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cloud_region')),
    sa.UniqueConstraint('account_id', 'code', name=op.f('uq_cloud_region_account_id_code'))
    )
    with op.batch_alter_table('cloud_region', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cloud_region_account_id'), ['account_id'], unique=False)

    op.create_table('cloud_tenancy',
    sa.Column('org_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('quota_instances', sa.Integer(), nullable=False),
    sa.Column('quota_vcpus', sa.Integer(), nullable=False),
    sa.Column('quota_ram_mb', sa.Integer(), nullable=False),
    sa.Column('quota_disk_gb', sa.Integer(), nullable=False),
    sa.Column('quota_buckets', sa.Integer(), nullable=False),
    sa.Column('quota_storage_gb', sa.Integer(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['core_organization.id'], name=op.f('fk_cloud_tenancy_org_id_core_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cloud_tenancy')),
    sa.UniqueConstraint('org_id', name=op.f('uq_cloud_tenancy_org_id'))
    )
    op.create_table('cloud_idle_case',
    sa.Column('tenancy_id', sa.Uuid(), nullable=False),
    sa.Column('org_id', sa.Uuid(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('idle_ratio', sa.Double(), nullable=False),
    sa.Column('reminded_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('escalated_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('proposed_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('resolved_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('proposal', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['core_organization.id'], name=op.f('fk_cloud_idle_case_org_id_core_organization')),
    sa.ForeignKeyConstraint(['tenancy_id'], ['cloud_tenancy.id'], name=op.f('fk_cloud_idle_case_tenancy_id_cloud_tenancy')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cloud_idle_case'))
    )
    with op.batch_alter_table('cloud_idle_case', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cloud_idle_case_org_id'), ['org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cloud_idle_case_tenancy_id'), ['tenancy_id'], unique=False)

    op.create_table('cloud_pool',
    sa.Column('region_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('security_level', sa.Integer(), nullable=False),
    sa.Column('price_factor', sa.Double(), nullable=False),
    sa.Column('vcpus_total', sa.Integer(), nullable=False),
    sa.Column('ram_mb_total', sa.Integer(), nullable=False),
    sa.Column('disk_gb_total', sa.Integer(), nullable=False),
    sa.Column('storage_gb_total', sa.Integer(), nullable=False),
    sa.Column('vcpus_used', sa.Integer(), nullable=False),
    sa.Column('ram_mb_used', sa.Integer(), nullable=False),
    sa.Column('disk_gb_used', sa.Integer(), nullable=False),
    sa.Column('storage_gb_used', sa.Integer(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['region_id'], ['cloud_region.id'], name=op.f('fk_cloud_pool_region_id_cloud_region')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cloud_pool')),
    sa.UniqueConstraint('name', name=op.f('uq_cloud_pool_name'))
    )
    with op.batch_alter_table('cloud_pool', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cloud_pool_region_id'), ['region_id'], unique=False)

    op.create_table('cloud_system',
    sa.Column('org_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('classified', sa.Boolean(), nullable=False),
    sa.Column('security_level', sa.Integer(), nullable=False),
    sa.Column('hosting', sa.String(length=20), nullable=False),
    sa.Column('tenancy_id', sa.Uuid(), nullable=True),
    sa.Column('strategy', sa.String(length=20), nullable=False),
    sa.Column('readiness', sa.Integer(), nullable=False),
    sa.Column('wave', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('integrated', sa.Boolean(), nullable=False),
    sa.Column('merged_into_id', sa.Uuid(), nullable=True),
    sa.Column('dr_required', sa.Integer(), nullable=False),
    sa.Column('dr_actual', sa.Integer(), nullable=False),
    sa.Column('dr_roles', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['merged_into_id'], ['cloud_system.id'], name=op.f('fk_cloud_system_merged_into_id_cloud_system')),
    sa.ForeignKeyConstraint(['org_id'], ['core_organization.id'], name=op.f('fk_cloud_system_org_id_core_organization')),
    sa.ForeignKeyConstraint(['tenancy_id'], ['cloud_tenancy.id'], name=op.f('fk_cloud_system_tenancy_id_cloud_tenancy')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cloud_system'))
    )
    with op.batch_alter_table('cloud_system', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cloud_system_org_id'), ['org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cloud_system_status'), ['status'], unique=False)

    op.create_table('cloud_dr_drill',
    sa.Column('system_id', sa.Uuid(), nullable=False),
    sa.Column('org_id', sa.Uuid(), nullable=False),
    sa.Column('at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('scenario', sa.String(length=200), nullable=False),
    sa.Column('success', sa.Boolean(), nullable=False),
    sa.Column('rpo_minutes', sa.Integer(), nullable=False),
    sa.Column('rto_minutes', sa.Integer(), nullable=False),
    sa.Column('level_achieved', sa.Integer(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['core_organization.id'], name=op.f('fk_cloud_dr_drill_org_id_core_organization')),
    sa.ForeignKeyConstraint(['system_id'], ['cloud_system.id'], name=op.f('fk_cloud_dr_drill_system_id_cloud_system')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cloud_dr_drill'))
    )
    with op.batch_alter_table('cloud_dr_drill', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cloud_dr_drill_org_id'), ['org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cloud_dr_drill_system_id'), ['system_id'], unique=False)

    op.create_table('cloud_request',
    sa.Column('tenancy_id', sa.Uuid(), nullable=False),
    sa.Column('org_id', sa.Uuid(), nullable=False),
    sa.Column('item_id', sa.Uuid(), nullable=False),
    sa.Column('system_id', sa.Uuid(), nullable=True),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('security_level', sa.Integer(), nullable=False),
    sa.Column('region_code', sa.String(length=40), nullable=False),
    sa.Column('strategy', sa.String(length=10), nullable=False),
    sa.Column('purpose', sa.String(length=500), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('monthly_cost', sa.Double(), nullable=False),
    sa.Column('pool_id', sa.Uuid(), nullable=True),
    sa.Column('requested_by', sa.Uuid(), nullable=True),
    sa.Column('dept_approved_by', sa.Uuid(), nullable=True),
    sa.Column('bureau_approved_by', sa.Uuid(), nullable=True),
    sa.Column('note', sa.String(length=500), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['cloud_catalog_item.id'], name=op.f('fk_cloud_request_item_id_cloud_catalog_item')),
    sa.ForeignKeyConstraint(['org_id'], ['core_organization.id'], name=op.f('fk_cloud_request_org_id_core_organization')),
    sa.ForeignKeyConstraint(['pool_id'], ['cloud_pool.id'], name=op.f('fk_cloud_request_pool_id_cloud_pool')),
    sa.ForeignKeyConstraint(['system_id'], ['cloud_system.id'], name=op.f('fk_cloud_request_system_id_cloud_system')),
    sa.ForeignKeyConstraint(['tenancy_id'], ['cloud_tenancy.id'], name=op.f('fk_cloud_request_tenancy_id_cloud_tenancy')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cloud_request'))
    )
    with op.batch_alter_table('cloud_request', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cloud_request_org_id'), ['org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cloud_request_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_cloud_request_tenancy_id'), ['tenancy_id'], unique=False)

    op.create_table('cloud_resource',
    sa.Column('request_id', sa.Uuid(), nullable=True),
    sa.Column('tenancy_id', sa.Uuid(), nullable=False),
    sa.Column('org_id', sa.Uuid(), nullable=False),
    sa.Column('pool_id', sa.Uuid(), nullable=False),
    sa.Column('account_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('size_id', sa.String(length=40), nullable=False),
    sa.Column('external_id', sa.String(length=100), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('vcpus', sa.Integer(), nullable=False),
    sa.Column('ram_mb', sa.Integer(), nullable=False),
    sa.Column('disk_gb', sa.Integer(), nullable=False),
    sa.Column('storage_gb', sa.Integer(), nullable=False),
    sa.Column('monthly_price', sa.Double(), nullable=False),
    sa.Column('active_since', cityhub.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reclaimed_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_backup', sa.String(length=200), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['cloud_provider_account.id'], name=op.f('fk_cloud_resource_account_id_cloud_provider_account')),
    sa.ForeignKeyConstraint(['org_id'], ['core_organization.id'], name=op.f('fk_cloud_resource_org_id_core_organization')),
    sa.ForeignKeyConstraint(['pool_id'], ['cloud_pool.id'], name=op.f('fk_cloud_resource_pool_id_cloud_pool')),
    sa.ForeignKeyConstraint(['request_id'], ['cloud_request.id'], name=op.f('fk_cloud_resource_request_id_cloud_request')),
    sa.ForeignKeyConstraint(['tenancy_id'], ['cloud_tenancy.id'], name=op.f('fk_cloud_resource_tenancy_id_cloud_tenancy')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cloud_resource')),
    sa.UniqueConstraint('name', name=op.f('uq_cloud_resource_name'))
    )
    with op.batch_alter_table('cloud_resource', schema=None) as batch_op:
        batch_op.create_index('ix_cloud_resource_account_external', ['account_id', 'external_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cloud_resource_org_id'), ['org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cloud_resource_pool_id'), ['pool_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cloud_resource_request_id'), ['request_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cloud_resource_tenancy_id'), ['tenancy_id'], unique=False)

    op.create_table('cloud_finding',
    sa.Column('account_id', sa.Uuid(), nullable=False),
    sa.Column('resource_id', sa.Uuid(), nullable=True),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('external_id', sa.String(length=100), nullable=False),
    sa.Column('detail', sa.String(length=300), nullable=False),
    sa.Column('found_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('open', sa.Boolean(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['cloud_provider_account.id'], name=op.f('fk_cloud_finding_account_id_cloud_provider_account')),
    sa.ForeignKeyConstraint(['resource_id'], ['cloud_resource.id'], name=op.f('fk_cloud_finding_resource_id_cloud_resource')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cloud_finding'))
    )
    with op.batch_alter_table('cloud_finding', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cloud_finding_account_id'), ['account_id'], unique=False)

    op.create_table('cloud_job',
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('request_id', sa.Uuid(), nullable=True),
    sa.Column('resource_id', sa.Uuid(), nullable=True),
    sa.Column('key', sa.String(length=120), nullable=False),
    sa.Column('params', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('max_attempts', sa.Integer(), nullable=False),
    sa.Column('next_run_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_error', sa.String(length=500), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['request_id'], ['cloud_request.id'], name=op.f('fk_cloud_job_request_id_cloud_request')),
    sa.ForeignKeyConstraint(['resource_id'], ['cloud_resource.id'], name=op.f('fk_cloud_job_resource_id_cloud_resource')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cloud_job')),
    sa.UniqueConstraint('key', name=op.f('uq_cloud_job_key'))
    )
    with op.batch_alter_table('cloud_job', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cloud_job_request_id'), ['request_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cloud_job_status'), ['status'], unique=False)

    op.create_table('cloud_usage_day',
    sa.Column('resource_id', sa.Uuid(), nullable=False),
    sa.Column('org_id', sa.Uuid(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('cpu_avg', sa.Double(), nullable=False),
    sa.Column('cpu_peak', sa.Double(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['core_organization.id'], name=op.f('fk_cloud_usage_day_org_id_core_organization')),
    sa.ForeignKeyConstraint(['resource_id'], ['cloud_resource.id'], name=op.f('fk_cloud_usage_day_resource_id_cloud_resource')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cloud_usage_day')),
    sa.UniqueConstraint('resource_id', 'day', name=op.f('uq_cloud_usage_day_resource_id_day'))
    )
    with op.batch_alter_table('cloud_usage_day', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cloud_usage_day_day'), ['day'], unique=False)
        batch_op.create_index(batch_op.f('ix_cloud_usage_day_org_id'), ['org_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('cloud_usage_day', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cloud_usage_day_org_id'))
        batch_op.drop_index(batch_op.f('ix_cloud_usage_day_day'))

    op.drop_table('cloud_usage_day')
    with op.batch_alter_table('cloud_job', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cloud_job_status'))
        batch_op.drop_index(batch_op.f('ix_cloud_job_request_id'))

    op.drop_table('cloud_job')
    with op.batch_alter_table('cloud_finding', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cloud_finding_account_id'))

    op.drop_table('cloud_finding')
    with op.batch_alter_table('cloud_resource', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cloud_resource_tenancy_id'))
        batch_op.drop_index(batch_op.f('ix_cloud_resource_request_id'))
        batch_op.drop_index(batch_op.f('ix_cloud_resource_pool_id'))
        batch_op.drop_index(batch_op.f('ix_cloud_resource_org_id'))
        batch_op.drop_index('ix_cloud_resource_account_external')

    op.drop_table('cloud_resource')
    with op.batch_alter_table('cloud_request', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cloud_request_tenancy_id'))
        batch_op.drop_index(batch_op.f('ix_cloud_request_status'))
        batch_op.drop_index(batch_op.f('ix_cloud_request_org_id'))

    op.drop_table('cloud_request')
    with op.batch_alter_table('cloud_dr_drill', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cloud_dr_drill_system_id'))
        batch_op.drop_index(batch_op.f('ix_cloud_dr_drill_org_id'))

    op.drop_table('cloud_dr_drill')
    with op.batch_alter_table('cloud_system', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cloud_system_status'))
        batch_op.drop_index(batch_op.f('ix_cloud_system_org_id'))

    op.drop_table('cloud_system')
    with op.batch_alter_table('cloud_pool', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cloud_pool_region_id'))

    op.drop_table('cloud_pool')
    with op.batch_alter_table('cloud_idle_case', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cloud_idle_case_tenancy_id'))
        batch_op.drop_index(batch_op.f('ix_cloud_idle_case_org_id'))

    op.drop_table('cloud_idle_case')
    op.drop_table('cloud_tenancy')
    with op.batch_alter_table('cloud_region', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cloud_region_account_id'))

    op.drop_table('cloud_region')
    with op.batch_alter_table('cloud_ratio_snapshot', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cloud_ratio_snapshot_day'))

    op.drop_table('cloud_ratio_snapshot')
    op.drop_table('cloud_provider_account')
    op.drop_table('cloud_catalog_item')
