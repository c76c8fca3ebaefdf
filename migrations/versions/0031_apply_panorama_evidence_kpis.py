"""apply: the 全景 screen's figures kept computed (issue 21)

Revision ID: 0031
Revises: 0030
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import cityhub.kit.db

revision = '0031'
down_revision = '0030'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table('apply_panorama_snapshot',
    sa.Column('key', sa.String(length=20), nullable=False),
    sa.Column('payload', JSON, nullable=False),
    sa.Column('computed_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('requested_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_apply_panorama_snapshot'))
    )


def downgrade() -> None:
    op.drop_table('apply_panorama_snapshot')
