"""ops incidents keep the field team they were given to; a dispatch decision records where it sent the incident
(issue 18)

Revision ID: 0031
Revises: 0030
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0031'
down_revision = '0030'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('ops_incident', schema=None) as batch_op:
        batch_op.add_column(sa.Column('team', sa.String(length=100), nullable=False, server_default=''))
    with op.batch_alter_table('compute_dispatch_decision', schema=None) as batch_op:
        batch_op.add_column(sa.Column('team_org_id', sa.Uuid(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('compute_dispatch_decision', schema=None) as batch_op:
        batch_op.drop_column('team_org_id')
    with op.batch_alter_table('ops_incident', schema=None) as batch_op:
        batch_op.drop_column('team')
