"""apply: the annual evaluation (schemes as data, yearly runs, each unit's scores, adjustments, freeze), the
5G base-station register and the backbone / interconnect links (issue 21)

Revision ID: 0023
Revises: 0022
"""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import cityhub.kit.db

revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def _stamps() -> list[sa.Column[Any]]:
    return [sa.Column('id', sa.Uuid(), nullable=False),
            sa.Column('created_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
            sa.Column('updated_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False)]


def upgrade() -> None:
    op.create_table('apply_eval_scheme',
    sa.Column('code', sa.String(length=60), nullable=False),
    sa.Column('title_zh', sa.String(length=200), nullable=False),
    sa.Column('title_en', sa.String(length=200), nullable=False),
    sa.Column('org_type', sa.Enum('department', 'district', name='orgtype', native_enum=False, length=20), nullable=False),
    sa.Column('indicators', JSON, nullable=False),
    *_stamps(),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_apply_eval_scheme')),
    sa.UniqueConstraint('code', name=op.f('uq_apply_eval_scheme_code'))
    )
    op.create_table('apply_eval_run',
    sa.Column('scheme_id', sa.Uuid(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('draft', 'frozen', name='evalstatus', native_enum=False, length=20), nullable=False),
    sa.Column('indicators', JSON, nullable=False),
    sa.Column('computed_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('frozen_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('frozen_by', sa.Uuid(), nullable=True),
    *_stamps(),
    sa.ForeignKeyConstraint(['scheme_id'], ['apply_eval_scheme.id'], name=op.f('fk_apply_eval_run_scheme_id_apply_eval_scheme')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_apply_eval_run')),
    sa.UniqueConstraint('scheme_id', 'year', name='uq_apply_eval_run_scheme_year')
    )
    with op.batch_alter_table('apply_eval_run', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_apply_eval_run_scheme_id'), ['scheme_id'], unique=False)

    op.create_table('apply_eval_score',
    sa.Column('run_id', sa.Uuid(), nullable=False),
    sa.Column('org_id', sa.Uuid(), nullable=False),
    sa.Column('breakdown', JSON, nullable=False),
    sa.Column('manual', JSON, nullable=False),
    sa.Column('computed', sa.Float(), nullable=False),
    sa.Column('adjustment', sa.Float(), nullable=False),
    sa.Column('adjustment_reason', sa.Text(), nullable=False),
    sa.Column('total', sa.Float(), nullable=False),
    sa.Column('rank', sa.Integer(), nullable=False),
    *_stamps(),
    sa.ForeignKeyConstraint(['org_id'], ['core_organization.id'], name=op.f('fk_apply_eval_score_org_id_core_organization')),
    sa.ForeignKeyConstraint(['run_id'], ['apply_eval_run.id'], name=op.f('fk_apply_eval_score_run_id_apply_eval_run'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_apply_eval_score')),
    sa.UniqueConstraint('run_id', 'org_id', name='uq_apply_eval_score_run_org')
    )
    with op.batch_alter_table('apply_eval_score', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_apply_eval_score_org_id'), ['org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_apply_eval_score_run_id'), ['run_id'], unique=False)

    op.create_table('apply_base_station',
    sa.Column('carrier', sa.String(length=20), nullable=False),
    sa.Column('site_code', sa.String(length=60), nullable=False),
    sa.Column('district_org_id', sa.Uuid(), nullable=False),
    sa.Column('address', sa.String(length=300), nullable=False),
    sa.Column('lon', sa.Float(), nullable=True),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('band', sa.String(length=10), nullable=False),
    sa.Column('status', sa.Enum('planned', 'building', 'active', 'retired', name='stationstatus', native_enum=False, length=20), nullable=False),
    sa.Column('commissioned_on', sa.Date(), nullable=True),
    *_stamps(),
    sa.ForeignKeyConstraint(['district_org_id'], ['core_organization.id'], name=op.f('fk_apply_base_station_district_org_id_core_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_apply_base_station')),
    sa.UniqueConstraint('carrier', 'site_code', name='uq_apply_base_station_carrier_site')
    )
    with op.batch_alter_table('apply_base_station', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_apply_base_station_district_org_id'), ['district_org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_apply_base_station_status'), ['status'], unique=False)

    op.create_table('apply_network_link',
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('kind', sa.Enum('backbone_egress', 'interconnect', 'direct_city', name='linkkind', native_enum=False, length=20), nullable=False),
    sa.Column('endpoint_a', sa.String(length=120), nullable=False),
    sa.Column('endpoint_b', sa.String(length=120), nullable=False),
    sa.Column('capacity_gbps', sa.Float(), nullable=False),
    sa.Column('status', sa.Enum('planned', 'building', 'active', 'retired', name='stationstatus', native_enum=False, length=20), nullable=False),
    sa.Column('commissioned_on', sa.Date(), nullable=True),
    *_stamps(),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_apply_network_link')),
    sa.UniqueConstraint('name', name=op.f('uq_apply_network_link_name'))
    )
    with op.batch_alter_table('apply_network_link', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_apply_network_link_kind'), ['kind'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('apply_network_link', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_apply_network_link_kind'))
    op.drop_table('apply_network_link')
    with op.batch_alter_table('apply_base_station', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_apply_base_station_status'))
        batch_op.drop_index(batch_op.f('ix_apply_base_station_district_org_id'))
    op.drop_table('apply_base_station')
    with op.batch_alter_table('apply_eval_score', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_apply_eval_score_run_id'))
        batch_op.drop_index(batch_op.f('ix_apply_eval_score_org_id'))
    op.drop_table('apply_eval_score')
    with op.batch_alter_table('apply_eval_run', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_apply_eval_run_scheme_id'))
    op.drop_table('apply_eval_run')
    op.drop_table('apply_eval_scheme')
