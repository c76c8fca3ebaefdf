"""data: geometry of the 自然资源和空间地理 golden records (GeoJSON text and its bounding box), the holder of an
电子证照 record — issue 20

Revision ID: 0038
Revises: 0037
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0038'
down_revision = '0037'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('data_base_record') as batch:
        batch.add_column(sa.Column('geometry', sa.Text(), nullable=True))
        for name in ('min_x', 'min_y', 'max_x', 'max_y'):
            batch.add_column(sa.Column(name, sa.Double(), nullable=True))
        batch.add_column(sa.Column('holder', sa.String(length=64), nullable=True))
    op.create_index('ix_data_base_record_bbox', 'data_base_record', ['base_db', 'min_x', 'min_y'])
    op.create_index('ix_data_base_record_holder', 'data_base_record', ['base_db', 'holder'])


def downgrade() -> None:
    op.drop_index('ix_data_base_record_holder', table_name='data_base_record')
    op.drop_index('ix_data_base_record_bbox', table_name='data_base_record')
    with op.batch_alter_table('data_base_record') as batch:
        for name in ('holder', 'max_y', 'max_x', 'min_y', 'min_x', 'geometry'):
            batch.drop_column(name)
