"""context: periodic subscriptions (timeInterval), their next due time (issue 19)

Revision ID: 0030
Revises: 0029
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cityhub.kit.db

revision = '0030'
down_revision = '0029'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('context_subscription', schema=None) as batch_op:
        batch_op.add_column(sa.Column('next_periodic_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_context_subscription_next_periodic_at'), ['next_periodic_at'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('context_subscription', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_context_subscription_next_periodic_at'))
        batch_op.drop_column('next_periodic_at')
