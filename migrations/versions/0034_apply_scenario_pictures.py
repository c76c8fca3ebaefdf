"""apply: a scenario's showcase picture (its content type and digest; the bytes under var_dir) — issue 21

Revision ID: 0034
Revises: 0033
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0034'
down_revision = '0033'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('apply_scenario', schema=None) as batch_op:
        batch_op.add_column(sa.Column('picture_type', sa.String(length=20), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('picture_sha256', sa.String(length=64), nullable=False, server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('apply_scenario', schema=None) as batch_op:
        batch_op.drop_column('picture_sha256')
        batch_op.drop_column('picture_type')
