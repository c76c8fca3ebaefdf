"""compute: a subscription's quotas count in fixed or sliding windows (issue 17)

Revision ID: 0015
Revises: 0014
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('compute_subscription') as batch:
        batch.add_column(sa.Column('quota_window', sa.String(length=10), server_default='fixed', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('compute_subscription') as batch:
        batch.drop_column('quota_window')
