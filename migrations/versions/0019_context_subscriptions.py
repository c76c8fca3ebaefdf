"""context: NGSI-LD subscriptions and their notification outbox; the attribute history (temporal API) (issue 19)

Revision ID: 0019
Revises: 0018
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import cityhub.kit.db

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql')
BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('context_subscription',
    sa.Column('sub_id', sa.String(length=512), nullable=False),
    sa.Column('org_id', sa.Uuid(), nullable=False),
    sa.Column('created_by', sa.Uuid(), nullable=True),
    sa.Column('body', JSON, nullable=False),
    sa.Column('ld_context', JSON, nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('expires_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('throttling', sa.Float(), nullable=False),
    sa.Column('next_allowed_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('times_sent', sa.Integer(), nullable=False),
    sa.Column('last_notification', cityhub.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_success', cityhub.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_failure', cityhub.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.Column('created_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('modified_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['core_organization.id'], name=op.f('fk_context_subscription_org_id_core_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_context_subscription')),
    sa.UniqueConstraint('sub_id', name=op.f('uq_context_subscription_sub_id'))
    )
    op.create_index(op.f('ix_context_subscription_org_id'), 'context_subscription', ['org_id'], unique=False)
    op.create_table('context_notification',
    sa.Column('id', BigId, autoincrement=True, nullable=False),
    sa.Column('subscription_pk', sa.Uuid(), nullable=False),
    sa.Column('payload', JSON, nullable=False),
    sa.Column('created_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('delivered', sa.Boolean(), nullable=False),
    sa.Column('delivered_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('failed', sa.Boolean(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['subscription_pk'], ['context_subscription.id'], name=op.f('fk_context_notification_subscription_pk_context_subscription'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_context_notification'))
    )
    op.create_index('ix_context_notification_due', 'context_notification', ['delivered', 'failed', 'next_attempt_at'], unique=False)
    op.create_index(op.f('ix_context_notification_subscription_pk'), 'context_notification', ['subscription_pk'], unique=False)

    op.create_table('context_attribute_instance',
    sa.Column('id', BigId, autoincrement=True, nullable=False),
    sa.Column('entity_pk', sa.Uuid(), nullable=False),
    sa.Column('attr', sa.String(length=512), nullable=False),
    sa.Column('dataset_id', sa.String(length=512), nullable=False),
    sa.Column('at', sa.String(length=32), nullable=False),
    sa.Column('modified_at', sa.String(length=32), nullable=False),
    sa.Column('instance', JSON, nullable=False),
    sa.ForeignKeyConstraint(['entity_pk'], ['context_entity.id'], name=op.f('fk_context_attribute_instance_entity_pk_context_entity'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_context_attribute_instance'))
    )
    op.create_index('ix_context_attribute_instance_at', 'context_attribute_instance', ['entity_pk', 'attr', 'at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_context_attribute_instance_at', table_name='context_attribute_instance')
    op.drop_table('context_attribute_instance')
    op.drop_index(op.f('ix_context_notification_subscription_pk'), table_name='context_notification')
    op.drop_index('ix_context_notification_due', table_name='context_notification')
    op.drop_table('context_notification')
    op.drop_index(op.f('ix_context_subscription_org_id'), table_name='context_subscription')
    op.drop_table('context_subscription')
