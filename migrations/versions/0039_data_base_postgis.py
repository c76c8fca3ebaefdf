"""data: the PostGIS geometry column of the 自然资源和空间地理 golden records (`geom`, its GiST index and the trigger
filling it), only when the database has the postgis extension — issue 20, decision 0014

An operator creates the extension (`CREATE EXTENSION postgis`, as a superuser); the platform never does. Installed
later, `cityhub data geo-index` runs the same idempotent step. Without the extension (and on SQLite) nothing changes.

Revision ID: 0039
Revises: 0038
"""
from __future__ import annotations

from alembic import op

from cityhub.data.base import postgis  # one definition of the column, index and trigger, shared with the CLI

revision = '0039'
down_revision = '0038'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_context().as_sql:  # offline (--sql): whether the extension is there is known only online
        return
    postgis.ensure(op.get_bind())


def downgrade() -> None:
    if op.get_context().as_sql:
        return
    postgis.drop(op.get_bind())
