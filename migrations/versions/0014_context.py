"""context: the NGSI-LD broker — entities (one JSON document each), their types and GeoProperty boxes in side
tables, numeric values of default instances for q ranges, read grants (issue 19)

Revision ID: 0014
Revises: 0013
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import cityhub.kit.db

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql')


def upgrade() -> None:
    op.create_table('context_entity',
    sa.Column('entity_id', sa.String(length=512), nullable=False),
    sa.Column('org_id', sa.Uuid(), nullable=False),
    sa.Column('types', JSON, nullable=False),
    sa.Column('attrs', JSON, nullable=False),
    sa.Column('created_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('modified_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['core_organization.id'], name=op.f('fk_context_entity_org_id_core_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_context_entity')),
    sa.UniqueConstraint('entity_id', name=op.f('uq_context_entity_entity_id'))
    )
    op.create_index(op.f('ix_context_entity_org_id'), 'context_entity', ['org_id'], unique=False)
    op.create_table('context_entity_type',
    sa.Column('entity_pk', sa.Uuid(), nullable=False),
    sa.Column('type', sa.String(length=512), nullable=False),
    sa.ForeignKeyConstraint(['entity_pk'], ['context_entity.id'], name=op.f('fk_context_entity_type_entity_pk_context_entity'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('entity_pk', 'type', name=op.f('pk_context_entity_type'))
    )
    op.create_index('ix_context_entity_type_type', 'context_entity_type', ['type', 'entity_pk'], unique=False)
    op.create_table('context_geometry',
    sa.Column('entity_pk', sa.Uuid(), nullable=False),
    sa.Column('attr', sa.String(length=512), nullable=False),
    sa.Column('dataset_id', sa.String(length=512), nullable=False),
    sa.Column('min_x', sa.Float(), nullable=False),
    sa.Column('min_y', sa.Float(), nullable=False),
    sa.Column('max_x', sa.Float(), nullable=False),
    sa.Column('max_y', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['entity_pk'], ['context_entity.id'], name=op.f('fk_context_geometry_entity_pk_context_entity'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('entity_pk', 'attr', 'dataset_id', name=op.f('pk_context_geometry'))
    )
    op.create_index('ix_context_geometry_box', 'context_geometry', ['attr', 'min_x', 'max_x', 'min_y', 'max_y'], unique=False)
    op.create_table('context_number',
    sa.Column('entity_pk', sa.Uuid(), nullable=False),
    sa.Column('attr', sa.String(length=512), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['entity_pk'], ['context_entity.id'], name=op.f('fk_context_number_entity_pk_context_entity'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('entity_pk', 'attr', name=op.f('pk_context_number'))
    )
    op.create_index('ix_context_number_attr_value', 'context_number', ['attr', 'value'], unique=False)
    op.create_table('context_grant',
    sa.Column('owner_org_id', sa.Uuid(), nullable=False),
    sa.Column('grantee_org_id', sa.Uuid(), nullable=True),
    sa.Column('entity_type', sa.String(length=512), nullable=False),
    sa.Column('note', sa.String(length=500), nullable=False),
    sa.Column('created_by', sa.Uuid(), nullable=True),
    sa.Column('created_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['grantee_org_id'], ['core_organization.id'], name=op.f('fk_context_grant_grantee_org_id_core_organization')),
    sa.ForeignKeyConstraint(['owner_org_id'], ['core_organization.id'], name=op.f('fk_context_grant_owner_org_id_core_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_context_grant')),
    sa.UniqueConstraint('owner_org_id', 'grantee_org_id', 'entity_type', name=op.f('uq_context_grant_owner_org_id_grantee_org_id_entity_type'))
    )
    op.create_index(op.f('ix_context_grant_grantee_org_id'), 'context_grant', ['grantee_org_id'], unique=False)
    op.create_index(op.f('ix_context_grant_owner_org_id'), 'context_grant', ['owner_org_id'], unique=False)


def downgrade() -> None:
    op.drop_table('context_grant')
    op.drop_table('context_number')
    op.drop_table('context_geometry')
    op.drop_table('context_entity_type')
    op.drop_index(op.f('ix_context_entity_org_id'), table_name='context_entity')
    op.drop_table('context_entity')
