"""context: the attribute history keeps `at` as epoch milliseconds and the numeric value in columns of their own,
so temporal aggregation groups without parsing JSON or times (issue 19)

Revision ID: 0028
Revises: 0027
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0028'
down_revision = '0027'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('context_attribute_instance', schema=None) as batch_op:
        batch_op.add_column(sa.Column('at_ms', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('number', sa.Float(), nullable=True))
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("UPDATE context_attribute_instance SET "
                   "at_ms = (extract(epoch FROM at::timestamp) * 1000)::bigint, "
                   "number = CASE WHEN jsonb_typeof(instance -> 'value') = 'number' "
                   "THEN (instance -> 'value')::float8 END")
    else:
        op.execute("UPDATE context_attribute_instance SET "
                   "at_ms = CAST(strftime('%s', at) AS INTEGER) * 1000 + CAST(substr(at, 21, 3) AS INTEGER), "
                   "number = CASE WHEN json_type(instance, '$.value') IN ('integer', 'real') "
                   "THEN json_extract(instance, '$.value') END")


def downgrade() -> None:
    with op.batch_alter_table('context_attribute_instance', schema=None) as batch_op:
        batch_op.drop_column('number')
        batch_op.drop_column('at_ms')
