"""ops: rules and their persisted state, alarms (one open per originator and type) and their propagation,
routing table, incidents with timeline, shares, attachments and citizen reports, indicators and their values,
webhooks and the alarm-event outbox

Revision ID: 0005
Revises: 0004
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import cityhub.kit.db

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ops_engine_meta',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rules_token', sa.String(length=40), nullable=False),
    sa.Column('updated_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ops_engine_meta'))
    )
    op.create_table('ops_outbox',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('channel', sa.String(length=10), nullable=False),
    sa.Column('target', sa.String(length=500), nullable=False),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('delivered', sa.Boolean(), nullable=False),
    sa.Column('delivered_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('failed', sa.Boolean(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ops_outbox'))
    )
    with op.batch_alter_table('ops_outbox', schema=None) as batch_op:
        batch_op.create_index('ix_ops_outbox_due', ['delivered', 'next_attempt_at'], unique=False)

    op.create_table('ops_incident',
    sa.Column('number', sa.String(length=30), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('category', sa.String(length=40), nullable=False),
    sa.Column('severity', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('org_id', sa.Uuid(), nullable=True),
    sa.Column('district_id', sa.Uuid(), nullable=True),
    sa.Column('originator_id', sa.Uuid(), nullable=True),
    sa.Column('originator_org_id', sa.Uuid(), nullable=True),
    sa.Column('lon', sa.Double(), nullable=True),
    sa.Column('lat', sa.Double(), nullable=True),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('dispatched_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('accepted_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('resolved_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('accept_due_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('resolve_due_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('sla_breached', sa.Boolean(), nullable=False),
    sa.Column('escalation_level', sa.Integer(), nullable=False),
    sa.Column('report_code', sa.String(length=20), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['district_id'], ['core_organization.id'], name=op.f('fk_ops_incident_district_id_core_organization')),
    sa.ForeignKeyConstraint(['org_id'], ['core_organization.id'], name=op.f('fk_ops_incident_org_id_core_organization')),
    sa.ForeignKeyConstraint(['originator_org_id'], ['core_organization.id'], name=op.f('fk_ops_incident_originator_org_id_core_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ops_incident')),
    sa.UniqueConstraint('number', name=op.f('uq_ops_incident_number')),
    sa.UniqueConstraint('report_code', name=op.f('uq_ops_incident_report_code'))
    )
    with op.batch_alter_table('ops_incident', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ops_incident_accept_due_at'), ['accept_due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_ops_incident_org_id'), ['org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ops_incident_resolve_due_at'), ['resolve_due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_ops_incident_status'), ['status'], unique=False)

    op.create_table('ops_indicator',
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('name_en', sa.String(length=200), nullable=False),
    sa.Column('theme', sa.String(length=20), nullable=False),
    sa.Column('unit', sa.String(length=20), nullable=False),
    sa.Column('definition', sa.Text(), nullable=False),
    sa.Column('org_id', sa.Uuid(), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('source_config', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('frequency_s', sa.Integer(), nullable=False),
    sa.Column('target', sa.Double(), nullable=True),
    sa.Column('direction', sa.String(length=10), nullable=False),
    sa.Column('warning', sa.Double(), nullable=True),
    sa.Column('critical', sa.Double(), nullable=True),
    sa.Column('last_value', sa.Double(), nullable=True),
    sa.Column('last_ts', cityhub.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('next_due_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('band', sa.String(length=10), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['core_organization.id'], name=op.f('fk_ops_indicator_org_id_core_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ops_indicator')),
    sa.UniqueConstraint('code', name=op.f('uq_ops_indicator_code'))
    )
    with op.batch_alter_table('ops_indicator', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ops_indicator_next_due_at'), ['next_due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_ops_indicator_org_id'), ['org_id'], unique=False)

    op.create_table('ops_routing_rule',
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('category', sa.String(length=40), nullable=False),
    sa.Column('district_id', sa.Uuid(), nullable=True),
    sa.Column('use_asset_owner', sa.Boolean(), nullable=False),
    sa.Column('target_org_id', sa.Uuid(), nullable=True),
    sa.Column('note', sa.String(length=200), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['district_id'], ['core_organization.id'], name=op.f('fk_ops_routing_rule_district_id_core_organization')),
    sa.ForeignKeyConstraint(['target_org_id'], ['core_organization.id'], name=op.f('fk_ops_routing_rule_target_org_id_core_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ops_routing_rule'))
    )
    op.create_table('ops_rule',
    sa.Column('org_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('profile_code', sa.String(length=64), nullable=True),
    sa.Column('asset_id', sa.Uuid(), nullable=True),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('alarm_type', sa.String(length=100), nullable=False),
    sa.Column('severity', sa.String(length=20), nullable=False),
    sa.Column('condition', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('clear_condition', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=True),
    sa.Column('duration_s', sa.Integer(), nullable=False),
    sa.Column('repeat_count', sa.Integer(), nullable=False),
    sa.Column('no_data_s', sa.Integer(), nullable=False),
    sa.Column('auto_incident', sa.Boolean(), nullable=False),
    sa.Column('category', sa.String(length=40), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('errors', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.Column('last_error_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['core_organization.id'], name=op.f('fk_ops_rule_org_id_core_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ops_rule'))
    )
    with op.batch_alter_table('ops_rule', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ops_rule_asset_id'), ['asset_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ops_rule_org_id'), ['org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ops_rule_profile_code'), ['profile_code'], unique=False)

    op.create_table('ops_webhook',
    sa.Column('org_id', sa.Uuid(), nullable=False),
    sa.Column('url', sa.String(length=500), nullable=False),
    sa.Column('secret_enc', sa.Text(), nullable=False),
    sa.Column('min_severity', sa.String(length=20), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['core_organization.id'], name=op.f('fk_ops_webhook_org_id_core_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ops_webhook'))
    )
    with op.batch_alter_table('ops_webhook', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ops_webhook_org_id'), ['org_id'], unique=False)

    op.create_table('ops_alarm',
    sa.Column('org_id', sa.Uuid(), nullable=False),
    sa.Column('originator_type', sa.String(length=20), nullable=False),
    sa.Column('originator_id', sa.Uuid(), nullable=False),
    sa.Column('originator_name', sa.String(length=200), nullable=False),
    sa.Column('type', sa.String(length=100), nullable=False),
    sa.Column('severity', sa.String(length=20), nullable=False),
    sa.Column('acknowledged', sa.Boolean(), nullable=False),
    sa.Column('cleared', sa.Boolean(), nullable=False),
    sa.Column('assignee_id', sa.Uuid(), nullable=True),
    sa.Column('start_ts', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('end_ts', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ack_ts', cityhub.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('clear_ts', cityhub.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('details', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('rule_id', sa.Uuid(), nullable=True),
    sa.Column('district_id', sa.Uuid(), nullable=True),
    sa.Column('lon', sa.Double(), nullable=True),
    sa.Column('lat', sa.Double(), nullable=True),
    sa.Column('incident_id', sa.Uuid(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['assignee_id'], ['core_user.id'], name=op.f('fk_ops_alarm_assignee_id_core_user')),
    sa.ForeignKeyConstraint(['district_id'], ['core_organization.id'], name=op.f('fk_ops_alarm_district_id_core_organization')),
    sa.ForeignKeyConstraint(['incident_id'], ['ops_incident.id'], name=op.f('fk_ops_alarm_incident_id_ops_incident')),
    sa.ForeignKeyConstraint(['org_id'], ['core_organization.id'], name=op.f('fk_ops_alarm_org_id_core_organization')),
    sa.ForeignKeyConstraint(['rule_id'], ['ops_rule.id'], name=op.f('fk_ops_alarm_rule_id_ops_rule'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ops_alarm'))
    )
    with op.batch_alter_table('ops_alarm', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ops_alarm_district_id'), ['district_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ops_alarm_incident_id'), ['incident_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ops_alarm_org_id'), ['org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ops_alarm_rule_id'), ['rule_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ops_alarm_start_ts'), ['start_ts'], unique=False)
        batch_op.create_index('ix_ops_alarm_status', ['cleared', 'severity'], unique=False)
        batch_op.create_index('uq_ops_alarm_open', ['originator_id', 'type'], unique=True, postgresql_where=sa.text('NOT cleared'), sqlite_where=sa.text('cleared = 0'))

    op.create_table('ops_citizen_report',
    sa.Column('received_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ip_hash', sa.String(length=64), nullable=False),
    sa.Column('category', sa.String(length=40), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('contact', sa.String(length=100), nullable=False),
    sa.Column('lon', sa.Double(), nullable=True),
    sa.Column('lat', sa.Double(), nullable=True),
    sa.Column('incident_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['ops_incident.id'], name=op.f('fk_ops_citizen_report_incident_id_ops_incident'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ops_citizen_report'))
    )
    with op.batch_alter_table('ops_citizen_report', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ops_citizen_report_incident_id'), ['incident_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ops_citizen_report_ip_hash'), ['ip_hash'], unique=False)
        batch_op.create_index(batch_op.f('ix_ops_citizen_report_received_at'), ['received_at'], unique=False)

    op.create_table('ops_incident_attachment',
    sa.Column('incident_id', sa.Uuid(), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('uploaded_by', sa.String(length=100), nullable=False),
    sa.Column('uploaded_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['ops_incident.id'], name=op.f('fk_ops_incident_attachment_incident_id_ops_incident'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ops_incident_attachment'))
    )
    with op.batch_alter_table('ops_incident_attachment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ops_incident_attachment_incident_id'), ['incident_id'], unique=False)

    op.create_table('ops_incident_event',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('incident_id', sa.Uuid(), nullable=False),
    sa.Column('at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor_name', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('from_status', sa.String(length=20), nullable=False),
    sa.Column('to_status', sa.String(length=20), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('data', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['ops_incident.id'], name=op.f('fk_ops_incident_event_incident_id_ops_incident'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ops_incident_event'))
    )
    with op.batch_alter_table('ops_incident_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ops_incident_event_incident_id'), ['incident_id'], unique=False)

    op.create_table('ops_incident_share',
    sa.Column('incident_id', sa.Uuid(), nullable=False),
    sa.Column('org_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['ops_incident.id'], name=op.f('fk_ops_incident_share_incident_id_ops_incident'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['org_id'], ['core_organization.id'], name=op.f('fk_ops_incident_share_org_id_core_organization')),
    sa.PrimaryKeyConstraint('incident_id', 'org_id', name=op.f('pk_ops_incident_share'))
    )
    with op.batch_alter_table('ops_incident_share', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ops_incident_share_org_id'), ['org_id'], unique=False)

    op.create_table('ops_indicator_value',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('indicator_id', sa.Uuid(), nullable=False),
    sa.Column('ts', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('value', sa.Double(), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.ForeignKeyConstraint(['indicator_id'], ['ops_indicator.id'], name=op.f('fk_ops_indicator_value_indicator_id_ops_indicator'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ops_indicator_value')),
    sa.UniqueConstraint('indicator_id', 'ts', name=op.f('uq_ops_indicator_value_indicator_id_ts'))
    )
    op.create_table('ops_rule_state',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('rule_id', sa.Uuid(), nullable=False),
    sa.Column('device_id', sa.Uuid(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('pending_since', cityhub.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('last_ts', cityhub.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_value', sa.Double(), nullable=True),
    sa.Column('data', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('due_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['rule_id'], ['ops_rule.id'], name=op.f('fk_ops_rule_state_rule_id_ops_rule'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ops_rule_state'))
    )
    with op.batch_alter_table('ops_rule_state', schema=None) as batch_op:
        batch_op.create_index('ix_ops_rule_state_due', ['due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_ops_rule_state_rule_id'), ['rule_id'], unique=False)

    op.create_table('ops_alarm_scope',
    sa.Column('alarm_id', sa.Uuid(), nullable=False),
    sa.Column('entity_id', sa.Uuid(), nullable=False),
    sa.Column('entity_kind', sa.String(length=20), nullable=False),
    sa.ForeignKeyConstraint(['alarm_id'], ['ops_alarm.id'], name=op.f('fk_ops_alarm_scope_alarm_id_ops_alarm'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('alarm_id', 'entity_id', name=op.f('pk_ops_alarm_scope'))
    )
    with op.batch_alter_table('ops_alarm_scope', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ops_alarm_scope_entity_id'), ['entity_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('ops_alarm_scope', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ops_alarm_scope_entity_id'))

    op.drop_table('ops_alarm_scope')
    with op.batch_alter_table('ops_rule_state', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ops_rule_state_rule_id'))
        batch_op.drop_index('ix_ops_rule_state_due')

    op.drop_table('ops_rule_state')
    op.drop_table('ops_indicator_value')
    with op.batch_alter_table('ops_incident_share', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ops_incident_share_org_id'))

    op.drop_table('ops_incident_share')
    with op.batch_alter_table('ops_incident_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ops_incident_event_incident_id'))

    op.drop_table('ops_incident_event')
    with op.batch_alter_table('ops_incident_attachment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ops_incident_attachment_incident_id'))

    op.drop_table('ops_incident_attachment')
    with op.batch_alter_table('ops_citizen_report', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ops_citizen_report_received_at'))
        batch_op.drop_index(batch_op.f('ix_ops_citizen_report_ip_hash'))
        batch_op.drop_index(batch_op.f('ix_ops_citizen_report_incident_id'))

    op.drop_table('ops_citizen_report')
    with op.batch_alter_table('ops_alarm', schema=None) as batch_op:
        batch_op.drop_index('uq_ops_alarm_open', postgresql_where=sa.text('NOT cleared'), sqlite_where=sa.text('cleared = 0'))
        batch_op.drop_index('ix_ops_alarm_status')
        batch_op.drop_index(batch_op.f('ix_ops_alarm_start_ts'))
        batch_op.drop_index(batch_op.f('ix_ops_alarm_rule_id'))
        batch_op.drop_index(batch_op.f('ix_ops_alarm_org_id'))
        batch_op.drop_index(batch_op.f('ix_ops_alarm_incident_id'))
        batch_op.drop_index(batch_op.f('ix_ops_alarm_district_id'))

    op.drop_table('ops_alarm')
    with op.batch_alter_table('ops_webhook', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ops_webhook_org_id'))

    op.drop_table('ops_webhook')
    with op.batch_alter_table('ops_rule', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ops_rule_profile_code'))
        batch_op.drop_index(batch_op.f('ix_ops_rule_org_id'))
        batch_op.drop_index(batch_op.f('ix_ops_rule_asset_id'))

    op.drop_table('ops_rule')
    op.drop_table('ops_routing_rule')
    with op.batch_alter_table('ops_indicator', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ops_indicator_org_id'))
        batch_op.drop_index(batch_op.f('ix_ops_indicator_next_due_at'))

    op.drop_table('ops_indicator')
    with op.batch_alter_table('ops_incident', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ops_incident_status'))
        batch_op.drop_index(batch_op.f('ix_ops_incident_resolve_due_at'))
        batch_op.drop_index(batch_op.f('ix_ops_incident_org_id'))
        batch_op.drop_index(batch_op.f('ix_ops_incident_accept_due_at'))

    op.drop_table('ops_incident')
    with op.batch_alter_table('ops_outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_ops_outbox_due')

    op.drop_table('ops_outbox')
    op.drop_table('ops_engine_meta')
