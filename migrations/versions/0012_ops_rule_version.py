"""ops: rule versions — every saved definition of a rule, version 1 backfilled from the current rules (issue 16)

Revision ID: 0012
Revises: 0011
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import cityhub.kit.db

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql')
FIELDS = {'name': sa.String(), 'severity': sa.String(), 'condition': JSON, 'clear_condition': JSON,
          'duration_s': sa.Integer(), 'repeat_count': sa.Integer(), 'no_data_s': sa.Integer(),
          'auto_incident': sa.Boolean(), 'category': sa.String()}


def upgrade() -> None:
    version = op.create_table(
        'ops_rule_version',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('rule_id', sa.Uuid(), nullable=False),
        sa.Column('number', sa.Integer(), nullable=False),
        sa.Column('at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('actor_name', sa.String(length=100), nullable=False),
        sa.Column('definition', JSON, nullable=False),
        sa.ForeignKeyConstraint(['rule_id'], ['ops_rule.id'], name=op.f('fk_ops_rule_version_rule_id_ops_rule'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_ops_rule_version')),
        sa.UniqueConstraint('rule_id', 'number', name=op.f('uq_ops_rule_version_rule_id_number')),
    )
    with op.batch_alter_table('ops_rule_version') as batch:
        batch.create_index(batch.f('ix_ops_rule_version_rule_id'), ['rule_id'], unique=False)
    rule = sa.table('ops_rule', sa.column('id', sa.Uuid()), sa.column('updated_at', cityhub.kit.db.UTCDateTime()),
                    *(sa.column(f, t) for f, t in FIELDS.items()))
    rows = op.get_bind().execute(sa.select(rule)).mappings().all()
    if rows:
        op.bulk_insert(version, [{'rule_id': r['id'], 'number': 1, 'at': r['updated_at'], 'actor_name': '',
                                  'definition': {f: r[f] for f in FIELDS}} for r in rows])


def downgrade() -> None:
    op.drop_table('ops_rule_version')
