"""ops: a rule may watch one device (ops_rule.device_id) (issue 16)

Revision ID: 0020
Revises: 0019
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('ops_rule') as batch_op:
        batch_op.add_column(sa.Column('device_id', sa.Uuid(), nullable=True))
        batch_op.create_index(batch_op.f('ix_ops_rule_device_id'), ['device_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('ops_rule') as batch_op:
        batch_op.drop_index(batch_op.f('ix_ops_rule_device_id'))
        batch_op.drop_column('device_id')
