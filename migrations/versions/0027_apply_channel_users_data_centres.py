"""apply: the international data-channel users and the data-centre register (with the cloud pools each hosts);
the two targets they count become computed; evidence files for a unit's evaluation indicators (issue 21)

Revision ID: 0027
Revises: 0026
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cityhub.kit.db

revision = '0027'
down_revision = '0026'
branch_labels = None
depends_on = None

STATUS = sa.Enum('planned', 'building', 'active', 'retired', name='stationstatus', native_enum=False, length=20,
                 create_constraint=False)
# (target code, progress source): reported until this register existed, computed from it since
COMPUTED = (('connect.channel_users', 'connect.channel_users_active'),
            ('cloud.liangjiang_servers', 'cloud.liangjiang_servers'))


def upgrade() -> None:
    op.create_table('apply_channel_user',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('credit_code', sa.String(length=18), nullable=False),
    sa.Column('sector', sa.String(length=30), nullable=False),
    sa.Column('district_org_id', sa.Uuid(), nullable=True),
    sa.Column('bandwidth_mbps', sa.Float(), nullable=False),
    sa.Column('status', STATUS, nullable=False),
    sa.Column('commissioned_on', sa.Date(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['district_org_id'], ['core_organization.id'], name=op.f('fk_apply_channel_user_district_org_id_core_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_apply_channel_user')),
    sa.UniqueConstraint('name', name=op.f('uq_apply_channel_user_name'))
    )
    with op.batch_alter_table('apply_channel_user', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_apply_channel_user_status'), ['status'], unique=False)

    op.create_table('apply_data_centre',
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('operator', sa.String(length=120), nullable=False),
    sa.Column('tier', sa.String(length=4), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('site', sa.String(length=200), nullable=False),
    sa.Column('district_org_id', sa.Uuid(), nullable=True),
    sa.Column('liangjiang_park', sa.Boolean(), nullable=False),
    sa.Column('racks', sa.Integer(), nullable=False),
    sa.Column('servers', sa.Integer(), nullable=False),
    sa.Column('pue', sa.Float(), nullable=True),
    sa.Column('status', STATUS, nullable=False),
    sa.Column('commissioned_on', sa.Date(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['district_org_id'], ['core_organization.id'], name=op.f('fk_apply_data_centre_district_org_id_core_organization')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_apply_data_centre')),
    sa.UniqueConstraint('code', name=op.f('uq_apply_data_centre_code')),
    sa.UniqueConstraint('name', name=op.f('uq_apply_data_centre_name'))
    )
    op.create_table('apply_data_centre_pool',
    sa.Column('data_centre_id', sa.Uuid(), nullable=False),
    sa.Column('pool_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['data_centre_id'], ['apply_data_centre.id'], name=op.f('fk_apply_data_centre_pool_data_centre_id_apply_data_centre'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_apply_data_centre_pool')),
    sa.UniqueConstraint('pool_id', name=op.f('uq_apply_data_centre_pool_pool_id'))
    )
    with op.batch_alter_table('apply_data_centre_pool', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_apply_data_centre_pool_data_centre_id'), ['data_centre_id'], unique=False)

    op.create_table('apply_eval_evidence',
    sa.Column('run_id', sa.Uuid(), nullable=False),
    sa.Column('org_id', sa.Uuid(), nullable=False),
    sa.Column('indicator_key', sa.String(length=60), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('uploaded_by', sa.Uuid(), nullable=True),
    sa.Column('uploaded_at', cityhub.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['core_organization.id'], name=op.f('fk_apply_eval_evidence_org_id_core_organization')),
    sa.ForeignKeyConstraint(['run_id'], ['apply_eval_run.id'], name=op.f('fk_apply_eval_evidence_run_id_apply_eval_run'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_apply_eval_evidence'))
    )
    with op.batch_alter_table('apply_eval_evidence', schema=None) as batch_op:
        batch_op.create_index('ix_apply_eval_evidence_run_org', ['run_id', 'org_id'], unique=False)

    target = sa.table('apply_target', sa.column('code', sa.String), sa.column('method', sa.String),
                      sa.column('source_key', sa.String))
    for code, source in COMPUTED:
        op.execute(target.update().where(target.c.code == code, target.c.method == 'reported')
                   .values(method='computed', source_key=source))


def downgrade() -> None:
    target = sa.table('apply_target', sa.column('code', sa.String), sa.column('method', sa.String),
                      sa.column('source_key', sa.String))
    for code, source in COMPUTED:
        op.execute(target.update().where(target.c.code == code, target.c.source_key == source)
                   .values(method='reported', source_key=''))
    with op.batch_alter_table('apply_eval_evidence', schema=None) as batch_op:
        batch_op.drop_index('ix_apply_eval_evidence_run_org')
    op.drop_table('apply_eval_evidence')
    with op.batch_alter_table('apply_data_centre_pool', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_apply_data_centre_pool_data_centre_id'))
    op.drop_table('apply_data_centre_pool')
    op.drop_table('apply_data_centre')
    with op.batch_alter_table('apply_channel_user', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_apply_channel_user_status'))
    op.drop_table('apply_channel_user')
