"""context: entity scopes (NGSI-LD clause 4.18) — the `scope` member in the entity row, and one side row per scope
for scopeQ (indexed, as the type rows)

Revision ID: 0041
Revises: 0040
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0041'
down_revision = '0040'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    with op.batch_alter_table('context_entity') as batch:
        batch.add_column(sa.Column('scope', JSON, nullable=False, server_default=sa.text("'[]'")))
    op.create_table('context_entity_scope',
    sa.Column('entity_pk', sa.Uuid(), nullable=False),
    sa.Column('scope', sa.String(length=512), nullable=False),
    sa.PrimaryKeyConstraint('entity_pk', 'scope', name=op.f('pk_context_entity_scope'))
    )
    op.create_index('ix_context_entity_scope_scope', 'context_entity_scope', ['scope', 'entity_pk'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_context_entity_scope_scope', table_name='context_entity_scope')
    op.drop_table('context_entity_scope')
    with op.batch_alter_table('context_entity') as batch:
        batch.drop_column('scope')
