"""apply: the programme cockpit — the target tree, every value a target had, and owners' progress reports with
their evidence and the bureau's review (issue 21)

Revision ID: 0018
Revises: 0017
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cityhub.kit.db

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('apply_target',
    sa.Column('code', sa.String(length=60), nullable=False),
    sa.Column('parent_id', sa.Uuid(), nullable=True),
    sa.Column('kind', sa.Enum('programme', 'layer', 'target', name='nodekind', native_enum=False, length=20), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('layer', sa.String(length=20), nullable=False),
    sa.Column('title_zh', sa.String(length=300), nullable=False),
    sa.Column('title_en', sa.String(length=300), nullable=False),
    sa.Column('year', sa.Integer(), nullable=True),
    sa.Column('unit', sa.String(length=30), nullable=False),
    sa.Column('owner_org_id', sa.Uuid(), nullable=True),
    sa.Column('source_text', sa.Text(), nullable=False),
    sa.Column('baseline', sa.Float(), nullable=False),
    sa.Column('target_value', sa.Float(), nullable=True),
    sa.Column('start_date', sa.Date(), nullable=True),
    sa.Column('deadline', sa.Date(), nullable=True),
    sa.Column('method', sa.Enum('computed', 'reported', 'none', name='method', native_enum=False, length=20), nullable=False),
    sa.Column('source_key', sa.String(length=60), nullable=False),
    sa.Column('current_value', sa.Float(), nullable=True),
    sa.Column('current_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['owner_org_id'], ['core_organization.id'], name=op.f('fk_apply_target_owner_org_id_core_organization')),
    sa.ForeignKeyConstraint(['parent_id'], ['apply_target.id'], name=op.f('fk_apply_target_parent_id_apply_target')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_apply_target')),
    sa.UniqueConstraint('code', name=op.f('uq_apply_target_code'))
    )
    with op.batch_alter_table('apply_target', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_apply_target_owner_org_id'), ['owner_org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_apply_target_parent_id'), ['parent_id'], unique=False)

    op.create_table('apply_progress_report',
    sa.Column('target_id', sa.Uuid(), nullable=False),
    sa.Column('org_id', sa.Uuid(), nullable=False),
    sa.Column('reporter_id', sa.Uuid(), nullable=True),
    sa.Column('value', sa.Float(), nullable=False),
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('evidence_url', sa.String(length=500), nullable=False),
    sa.Column('status', sa.Enum('submitted', 'approved', 'rejected', name='reportstatus', native_enum=False, length=20), nullable=False),
    sa.Column('reviewer_id', sa.Uuid(), nullable=True),
    sa.Column('reviewed_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('review_note', sa.Text(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['core_organization.id'], name=op.f('fk_apply_progress_report_org_id_core_organization')),
    sa.ForeignKeyConstraint(['target_id'], ['apply_target.id'], name=op.f('fk_apply_progress_report_target_id_apply_target'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_apply_progress_report'))
    )
    with op.batch_alter_table('apply_progress_report', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_apply_progress_report_org_id'), ['org_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_apply_progress_report_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_apply_progress_report_target_id'), ['target_id'], unique=False)

    op.create_table('apply_target_value',
    sa.Column('target_id', sa.Uuid(), nullable=False),
    sa.Column('at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.Column('origin', sa.String(length=20), nullable=False),
    sa.Column('report_id', sa.Uuid(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['target_id'], ['apply_target.id'], name=op.f('fk_apply_target_value_target_id_apply_target'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_apply_target_value'))
    )
    with op.batch_alter_table('apply_target_value', schema=None) as batch_op:
        batch_op.create_index('ix_apply_target_value_target_at', ['target_id', 'at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('apply_target_value', schema=None) as batch_op:
        batch_op.drop_index('ix_apply_target_value_target_at')

    op.drop_table('apply_target_value')
    with op.batch_alter_table('apply_progress_report', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_apply_progress_report_target_id'))
        batch_op.drop_index(batch_op.f('ix_apply_progress_report_status'))
        batch_op.drop_index(batch_op.f('ix_apply_progress_report_org_id'))

    op.drop_table('apply_progress_report')
    with op.batch_alter_table('apply_target', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_apply_target_parent_id'))
        batch_op.drop_index(batch_op.f('ix_apply_target_owner_org_id'))

    op.drop_table('apply_target')
