"""context: side rows and history without foreign-key checks; the queue of connect devices' changes (issue 19)

The type rows, GeoProperty boxes, number rows and history rows referenced `context_entity.id` with ON DELETE
CASCADE. PostgreSQL checks such a key with one trigger per inserted row (15 per entity of the benchmark): a third of
the database's CPU per upserted entity. Every writer inserts them for the entity row it has just written or
locked, and `store.entity_delete` removes them with the entity (docs/context.md, "Storage").

`context_telemetry_change`: one row per stored ingest batch (its devices and metric keys), queued in the batch's
transaction and matched against change subscriptions by the context worker (docs/context.md, "Subscriptions").

Revision ID: 0033
Revises: 0032
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cityhub.kit.db

revision = '0033'
down_revision = '0032'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
_TABLES = ('context_entity_type', 'context_geometry', 'context_number', 'context_attribute_instance')


def upgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(batch_op.f(f'fk_{table}_entity_pk_context_entity'), type_='foreignkey')
    op.create_table('context_telemetry_change',
    sa.Column('id', BigId, autoincrement=True, nullable=False),
    sa.Column('devices', sa.Text(), nullable=False),
    sa.Column('created_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_context_telemetry_change'))
    )


def downgrade() -> None:
    op.drop_table('context_telemetry_change')
    for table in _TABLES:  # rows of entities deleted meanwhile would break the keys: remove them first
        op.execute(sa.text(f'DELETE FROM {table} WHERE entity_pk NOT IN (SELECT id FROM context_entity)'))
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_foreign_key(batch_op.f(f'fk_{table}_entity_pk_context_entity'), 'context_entity',
                                        ['entity_pk'], ['id'], ondelete='CASCADE')
