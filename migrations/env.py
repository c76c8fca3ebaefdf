"""Alembic environment: cityhub's settings give the URL, every domain's models give the metadata."""

from __future__ import annotations

from alembic import context
from sqlalchemy import pool

from cityhub.data.base import postgis
from cityhub.kit.db import make_engine
from cityhub.kit.models_registry import load_all_models
from cityhub.kit.settings import get_settings

config = context.config
target_metadata = load_all_models()


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """Leave out of autogenerate what exists only with PostGIS (decision 0014): the `geom` column, its indexes and
    the extension's `spatial_ref_sys`."""
    return not (reflected and compare_to is None and name in postgis.OBJECTS)


def run_migrations_offline() -> None:
    context.configure(url=get_settings().effective_database_url, target_metadata=target_metadata,
                      literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url") or get_settings().effective_database_url,
                         poolclass=pool.NullPool)
    with engine.begin() as conn:
        _run(conn)


def _run(connection: object) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True,
                      compare_type=True, include_object=include_object)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
