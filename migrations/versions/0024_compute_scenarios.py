"""compute: scenario runs — drainage and traffic simulations, dispatch optimisation (issue 18)

Revision ID: 0024
Revises: 0023
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import cityhub.kit.db

revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql')


def upgrade() -> None:
    op.create_table('compute_scenario_run',
    sa.Column('org_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('inputs', JSON, nullable=False),
    sa.Column('result', JSON, nullable=False),
    sa.Column('model_version', sa.String(length=20), nullable=False),
    sa.Column('seed', sa.Integer(), nullable=False),
    sa.Column('duration_ms', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.Column('created_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['core_organization.id'], name=op.f('fk_compute_scenario_run_org_id_core_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_compute_scenario_run'))
    )
    op.create_index(op.f('ix_compute_scenario_run_org_id'), 'compute_scenario_run', ['org_id'], unique=False)
    op.create_index(op.f('ix_compute_scenario_run_created_at'), 'compute_scenario_run', ['created_at'], unique=False)


def downgrade() -> None:
    op.drop_table('compute_scenario_run')
