"""data: the open portal's API calls per day, for the portal's usage chart (issue 16)

Revision ID: 0013
Revises: 0012
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('data_portal_api_call',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('calls', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('day', name=op.f('pk_data_portal_api_call'))
    )


def downgrade() -> None:
    op.drop_table('data_portal_api_call')
