"""portal: daily download counts of the open-data portal (issue 6)

Revision ID: 0006
Revises: 0005
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('data_portal_download',
    sa.Column('entry_id', sa.Uuid(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('downloads', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['entry_id'], ['data_catalog_entry.id'], name=op.f('fk_data_portal_download_entry_id_data_catalog_entry'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('entry_id', 'day', name=op.f('pk_data_portal_download'))
    )


def downgrade() -> None:
    op.drop_table('data_portal_download')
