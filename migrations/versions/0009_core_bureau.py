"""core: the big-data bureau is a core concept: `core_option` holds which organisation it is (issue 15)

Before, data kept it in `data_option` (with a hard-coded `cq-dsj` fallback) and cloud in a setting. The row moves
to core; `data_option` held nothing else and is dropped.

Revision ID: 0009
Revises: 0008
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'core_option',
        sa.Column('key', sa.String(length=60), nullable=False),
        sa.Column('value', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_core_option')),
    )
    op.execute("INSERT INTO core_option (key, value) SELECT 'bureau_org_id', value FROM data_option "
               "WHERE key = 'bureau_org_id' AND value <> ''")
    op.drop_table('data_option')


def downgrade() -> None:
    op.create_table(
        'data_option',
        sa.Column('key', sa.String(length=60), nullable=False),
        sa.Column('value', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_data_option')),
    )
    op.execute("INSERT INTO data_option (key, value) SELECT key, value FROM core_option WHERE key = 'bureau_org_id'")
    op.drop_table('core_option')
