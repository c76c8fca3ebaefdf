"""data: catalog entries and versions, resources, loads, sharing requests, grants, access log, objections, needs

Revision ID: 0003
Revises: 0002
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import cityhub.kit.db

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('data_option',
    sa.Column('key', sa.String(length=60), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_data_option'))
    )
    op.create_table('data_catalog_entry',
    sa.Column('code', sa.String(length=60), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('abstract', sa.Text(), nullable=False),
    sa.Column('provider_org_id', sa.Uuid(), nullable=False),
    sa.Column('classification', sa.String(length=20), nullable=False),
    sa.Column('base_db', sa.String(length=20), nullable=False),
    sa.Column('theme', sa.String(length=60), nullable=False),
    sa.Column('tags', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('format_category', sa.String(length=20), nullable=False),
    sa.Column('items', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('share_type', sa.String(length=20), nullable=False),
    sa.Column('share_condition', sa.Text(), nullable=False),
    sa.Column('legal_basis', sa.Text(), nullable=False),
    sa.Column('share_mode', sa.String(length=20), nullable=False),
    sa.Column('open_type', sa.String(length=20), nullable=False),
    sa.Column('open_condition', sa.Text(), nullable=False),
    sa.Column('update_cycle', sa.String(length=20), nullable=False),
    sa.Column('security_grade', sa.String(length=20), nullable=False),
    sa.Column('source_system', sa.String(length=200), nullable=False),
    sa.Column('related_entry_ids', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('change_status', sa.String(length=20), nullable=False),
    sa.Column('pending_changes', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('review_note', sa.Text(), nullable=False),
    sa.Column('published_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('search_text', sa.Text(), nullable=False),
    sa.Column('views', sa.Integer(), nullable=False),
    sa.Column('requests_count', sa.Integer(), nullable=False),
    sa.Column('grants_count', sa.Integer(), nullable=False),
    sa.Column('accesses_count', sa.Integer(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['provider_org_id'], ['core_organization.id'], name=op.f('fk_data_catalog_entry_provider_org_id_core_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_catalog_entry')),
    sa.UniqueConstraint('code', name=op.f('uq_data_catalog_entry_code')),
    sa.UniqueConstraint('name', name=op.f('uq_data_catalog_entry_name'))
    )
    with op.batch_alter_table('data_catalog_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_data_catalog_entry_base_db'), ['base_db'], unique=False)
        batch_op.create_index(batch_op.f('ix_data_catalog_entry_classification'), ['classification'], unique=False)
        batch_op.create_index(batch_op.f('ix_data_catalog_entry_open_type'), ['open_type'], unique=False)
        batch_op.create_index(batch_op.f('ix_data_catalog_entry_provider_org_id'), ['provider_org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_data_catalog_entry_security_grade'), ['security_grade'], unique=False)
        batch_op.create_index(batch_op.f('ix_data_catalog_entry_share_type'), ['share_type'], unique=False)
        batch_op.create_index(batch_op.f('ix_data_catalog_entry_status'), ['status'], unique=False)

    # The narrow search row per entry (facets + tokens); on PostgreSQL a tsvector with a GIN index.
    op.create_table('data_catalog_search',
    sa.Column('entry_id', sa.Uuid(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('open_type', sa.String(length=20), nullable=False),
    sa.Column('provider_org_id', sa.Uuid(), nullable=False),
    sa.Column('classification', sa.String(length=20), nullable=False),
    sa.Column('base_db', sa.String(length=20), nullable=False),
    sa.Column('share_type', sa.String(length=20), nullable=False),
    sa.Column('format_category', sa.String(length=20), nullable=False),
    sa.Column('update_cycle', sa.String(length=20), nullable=False),
    sa.Column('security_grade', sa.String(length=20), nullable=False),
    sa.Column('code', sa.String(length=60), nullable=False),
    sa.Column('updated_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('search_text', sa.Text(), nullable=False),
    sa.Column('search_vector', sa.Text().with_variant(postgresql.TSVECTOR(), 'postgresql'), nullable=True),
    sa.ForeignKeyConstraint(['entry_id'], ['data_catalog_entry.id'], name=op.f('fk_data_catalog_search_entry_id_data_catalog_entry'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('entry_id', name=op.f('pk_data_catalog_search'))
    )
    with op.batch_alter_table('data_catalog_search', schema=None) as batch_op:
        batch_op.create_index('ix_data_catalog_search_vector', ['search_vector'], unique=False, postgresql_using='gin')

    op.create_table('data_demand',
    sa.Column('requester_org_id', sa.Uuid(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('purpose', sa.Text(), nullable=False),
    sa.Column('legal_basis', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('assigned_org_id', sa.Uuid(), nullable=True),
    sa.Column('deadline_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('entry_id', sa.Uuid(), nullable=True),
    sa.Column('answer', sa.Text(), nullable=False),
    sa.Column('answered_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['assigned_org_id'], ['core_organization.id'], name=op.f('fk_data_demand_assigned_org_id_core_organization')),
    sa.ForeignKeyConstraint(['entry_id'], ['data_catalog_entry.id'], name=op.f('fk_data_demand_entry_id_data_catalog_entry')),
    sa.ForeignKeyConstraint(['requester_org_id'], ['core_organization.id'], name=op.f('fk_data_demand_requester_org_id_core_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_demand'))
    )
    with op.batch_alter_table('data_demand', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_data_demand_assigned_org_id'), ['assigned_org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_data_demand_requester_org_id'), ['requester_org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_data_demand_status'), ['status'], unique=False)

    op.create_table('data_entry_version',
    sa.Column('entry_id', sa.Uuid(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('snapshot', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('diff', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('actor_name', sa.String(length=100), nullable=False),
    sa.Column('created_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['entry_id'], ['data_catalog_entry.id'], name=op.f('fk_data_entry_version_entry_id_data_catalog_entry'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_entry_version')),
    sa.UniqueConstraint('entry_id', 'version', name=op.f('uq_data_entry_version_entry_id_version'))
    )
    with op.batch_alter_table('data_entry_version', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_data_entry_version_entry_id'), ['entry_id'], unique=False)

    op.create_table('data_resource',
    sa.Column('entry_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('table_name', sa.String(length=63), nullable=True),
    sa.Column('columns', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('row_count', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('loaded_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('upstream_url', sa.String(length=500), nullable=False),
    sa.Column('upstream_method', sa.String(length=10), nullable=False),
    sa.Column('credentials_enc', sa.Text(), nullable=False),
    sa.Column('file_name', sa.String(length=200), nullable=False),
    sa.Column('file_size', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('file_sha256', sa.String(length=64), nullable=False),
    sa.Column('media_type', sa.String(length=100), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['entry_id'], ['data_catalog_entry.id'], name=op.f('fk_data_resource_entry_id_data_catalog_entry'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_resource'))
    )
    with op.batch_alter_table('data_resource', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_data_resource_entry_id'), ['entry_id'], unique=False)

    op.create_table('data_share_request',
    sa.Column('entry_id', sa.Uuid(), nullable=False),
    sa.Column('provider_org_id', sa.Uuid(), nullable=False),
    sa.Column('requester_org_id', sa.Uuid(), nullable=False),
    sa.Column('requester_user_id', sa.Uuid(), nullable=True),
    sa.Column('items', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('legal_basis', sa.Text(), nullable=False),
    sa.Column('attachment_name', sa.String(length=200), nullable=False),
    sa.Column('purpose', sa.Text(), nullable=False),
    sa.Column('scope', sa.Text(), nullable=False),
    sa.Column('scenario', sa.Text(), nullable=False),
    sa.Column('consuming_system', sa.String(length=200), nullable=False),
    sa.Column('valid_until', cityhub.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('quota', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('core_grade', sa.Boolean(), nullable=False),
    sa.Column('provider_approved_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('stage_started_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('deadline_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reminded_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('escalated_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('submitted_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['entry_id'], ['data_catalog_entry.id'], name=op.f('fk_data_share_request_entry_id_data_catalog_entry')),
    sa.ForeignKeyConstraint(['provider_org_id'], ['core_organization.id'], name=op.f('fk_data_share_request_provider_org_id_core_organization')),
    sa.ForeignKeyConstraint(['requester_org_id'], ['core_organization.id'], name=op.f('fk_data_share_request_requester_org_id_core_organization')),
    sa.ForeignKeyConstraint(['requester_user_id'], ['core_user.id'], name=op.f('fk_data_share_request_requester_user_id_core_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_share_request'))
    )
    with op.batch_alter_table('data_share_request', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_data_share_request_entry_id'), ['entry_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_data_share_request_provider_org_id'), ['provider_org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_data_share_request_requester_org_id'), ['requester_org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_data_share_request_status'), ['status'], unique=False)

    op.create_table('data_grant',
    sa.Column('request_id', sa.Uuid(), nullable=False),
    sa.Column('entry_id', sa.Uuid(), nullable=False),
    sa.Column('org_id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=True),
    sa.Column('token_id', sa.Uuid(), nullable=True),
    sa.Column('items', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('quota', sa.Integer(), nullable=False),
    sa.Column('used', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('valid_until', cityhub.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['entry_id'], ['data_catalog_entry.id'], name=op.f('fk_data_grant_entry_id_data_catalog_entry')),
    sa.ForeignKeyConstraint(['org_id'], ['core_organization.id'], name=op.f('fk_data_grant_org_id_core_organization')),
    sa.ForeignKeyConstraint(['request_id'], ['data_share_request.id'], name=op.f('fk_data_grant_request_id_data_share_request')),
    sa.ForeignKeyConstraint(['user_id'], ['core_user.id'], name=op.f('fk_data_grant_user_id_core_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_grant')),
    sa.UniqueConstraint('request_id', name=op.f('uq_data_grant_request_id'))
    )
    with op.batch_alter_table('data_grant', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_data_grant_entry_id'), ['entry_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_data_grant_org_id'), ['org_id'], unique=False)

    op.create_table('data_load',
    sa.Column('entry_id', sa.Uuid(), nullable=False),
    sa.Column('resource_id', sa.Uuid(), nullable=True),
    sa.Column('provider_org_id', sa.Uuid(), nullable=False),
    sa.Column('at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('encoding', sa.String(length=20), nullable=False),
    sa.Column('rows_total', sa.Integer(), nullable=False),
    sa.Column('rows_bad', sa.Integer(), nullable=False),
    sa.Column('accepted', sa.Boolean(), nullable=False),
    sa.Column('errors', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['entry_id'], ['data_catalog_entry.id'], name=op.f('fk_data_load_entry_id_data_catalog_entry'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['resource_id'], ['data_resource.id'], name=op.f('fk_data_load_resource_id_data_resource'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_load'))
    )
    with op.batch_alter_table('data_load', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_data_load_entry_id'), ['entry_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_data_load_provider_org_id'), ['provider_org_id'], unique=False)

    op.create_table('data_objection',
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('entry_id', sa.Uuid(), nullable=False),
    sa.Column('request_id', sa.Uuid(), nullable=True),
    sa.Column('handler_org_id', sa.Uuid(), nullable=False),
    sa.Column('raiser_org_id', sa.Uuid(), nullable=False),
    sa.Column('raiser_user_id', sa.Uuid(), nullable=True),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('deadline_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reply', sa.Text(), nullable=False),
    sa.Column('handled_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('rating', sa.Integer(), nullable=True),
    sa.Column('evaluation', sa.Text(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['entry_id'], ['data_catalog_entry.id'], name=op.f('fk_data_objection_entry_id_data_catalog_entry')),
    sa.ForeignKeyConstraint(['handler_org_id'], ['core_organization.id'], name=op.f('fk_data_objection_handler_org_id_core_organization')),
    sa.ForeignKeyConstraint(['raiser_org_id'], ['core_organization.id'], name=op.f('fk_data_objection_raiser_org_id_core_organization')),
    sa.ForeignKeyConstraint(['raiser_user_id'], ['core_user.id'], name=op.f('fk_data_objection_raiser_user_id_core_user')),
    sa.ForeignKeyConstraint(['request_id'], ['data_share_request.id'], name=op.f('fk_data_objection_request_id_data_share_request')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_objection'))
    )
    with op.batch_alter_table('data_objection', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_data_objection_entry_id'), ['entry_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_data_objection_handler_org_id'), ['handler_org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_data_objection_raiser_org_id'), ['raiser_org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_data_objection_status'), ['status'], unique=False)

    op.create_table('data_request_event',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('request_id', sa.Uuid(), nullable=False),
    sa.Column('at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor_name', sa.String(length=100), nullable=False),
    sa.Column('from_status', sa.String(length=20), nullable=False),
    sa.Column('to_status', sa.String(length=20), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['request_id'], ['data_share_request.id'], name=op.f('fk_data_request_event_request_id_data_share_request'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_request_event'))
    )
    with op.batch_alter_table('data_request_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_data_request_event_request_id'), ['request_id'], unique=False)

    op.create_table('data_access_log',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('grant_id', sa.Uuid(), nullable=False),
    sa.Column('resource_id', sa.Uuid(), nullable=True),
    sa.Column('at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor_name', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['grant_id'], ['data_grant.id'], name=op.f('fk_data_access_log_grant_id_data_grant'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_access_log'))
    )
    with op.batch_alter_table('data_access_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_data_access_log_grant_id'), ['grant_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('data_access_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_data_access_log_grant_id'))

    op.drop_table('data_access_log')
    with op.batch_alter_table('data_request_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_data_request_event_request_id'))

    op.drop_table('data_request_event')
    with op.batch_alter_table('data_objection', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_data_objection_status'))
        batch_op.drop_index(batch_op.f('ix_data_objection_raiser_org_id'))
        batch_op.drop_index(batch_op.f('ix_data_objection_handler_org_id'))
        batch_op.drop_index(batch_op.f('ix_data_objection_entry_id'))

    op.drop_table('data_objection')
    with op.batch_alter_table('data_load', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_data_load_provider_org_id'))
        batch_op.drop_index(batch_op.f('ix_data_load_entry_id'))

    op.drop_table('data_load')
    with op.batch_alter_table('data_grant', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_data_grant_org_id'))
        batch_op.drop_index(batch_op.f('ix_data_grant_entry_id'))

    op.drop_table('data_grant')
    with op.batch_alter_table('data_share_request', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_data_share_request_status'))
        batch_op.drop_index(batch_op.f('ix_data_share_request_requester_org_id'))
        batch_op.drop_index(batch_op.f('ix_data_share_request_provider_org_id'))
        batch_op.drop_index(batch_op.f('ix_data_share_request_entry_id'))

    op.drop_table('data_share_request')
    with op.batch_alter_table('data_resource', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_data_resource_entry_id'))

    op.drop_table('data_resource')
    with op.batch_alter_table('data_entry_version', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_data_entry_version_entry_id'))

    op.drop_table('data_entry_version')
    with op.batch_alter_table('data_demand', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_data_demand_status'))
        batch_op.drop_index(batch_op.f('ix_data_demand_requester_org_id'))
        batch_op.drop_index(batch_op.f('ix_data_demand_assigned_org_id'))

    op.drop_table('data_demand')
    with op.batch_alter_table('data_catalog_search', schema=None) as batch_op:
        batch_op.drop_index('ix_data_catalog_search_vector', postgresql_using='gin')

    op.drop_table('data_catalog_search')
    with op.batch_alter_table('data_catalog_entry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_data_catalog_entry_status'))
        batch_op.drop_index(batch_op.f('ix_data_catalog_entry_share_type'))
        batch_op.drop_index(batch_op.f('ix_data_catalog_entry_security_grade'))
        batch_op.drop_index(batch_op.f('ix_data_catalog_entry_provider_org_id'))
        batch_op.drop_index(batch_op.f('ix_data_catalog_entry_open_type'))
        batch_op.drop_index(batch_op.f('ix_data_catalog_entry_classification'))
        batch_op.drop_index(batch_op.f('ix_data_catalog_entry_base_db'))

    op.drop_table('data_catalog_entry')
    op.drop_table('data_option')
