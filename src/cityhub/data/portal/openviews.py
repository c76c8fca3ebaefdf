"""PostgreSQL views of open datastore tables, and the least-privilege connection public SQL runs on.

`datastore_search_sql` runs caller-written SQL. On PostgreSQL it never runs on the application's connection: it runs
on a separate login of the role `open_sql_role` (default `cityhub_open`), whose `session_user` is that role, so no
`SET ROLE`/`set_config('role', …)` can climb back to the application role. That role holds `USAGE` on schema
`open_data` and `SELECT` on its views, nothing else; each view is named by the resource id and exposes `_id` and the
entry's open items only (masked and 核心 columns are not in the view). So even a query that slips past the parser
in `sqlguard` reads nothing but published 无条件开放 columns.

The views are reconciled, in their own short transaction under an advisory lock, right before each query: views of
resources that are no longer open are dropped, the views the query names are (re)created when their definition
changed. A datastore reload drops its table with CASCADE, which drops the view; the next query recreates it.
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from collections.abc import Iterable

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from cityhub.data.catalog import service as catalog
from cityhub.kit.db import make_engine
from cityhub.kit.settings import get_settings

SCHEMA = "open_data"
_LOCK = "cityhub.data.open_views"
_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _fingerprint(table: str, columns: list[str]) -> str:
    return hashlib.sha256(json.dumps([table, columns]).encode()).hexdigest()[:32]


def reader_url(app_url: str) -> str:
    """The URL public SQL connects with: the setting, or the app's URL with the open role as user."""
    s = get_settings()
    if s.open_sql_database_url:
        return s.open_sql_database_url
    url = make_url(app_url).set(username=s.open_sql_role, password=s.open_sql_password or None)
    return url.render_as_string(hide_password=False)


def reader_engine(app_engine: Engine) -> Engine:
    """One small pool per database, logged in as the open-data role."""
    url = reader_url(app_engine.url.render_as_string(hide_password=False))
    with _engines_lock:
        eng = _engines.get(url)
        if eng is None:
            eng = _engines[url] = make_engine(url, pool_size=2, max_overflow=2)
        return eng


def sync(app_engine: Engine, wanted: dict[str, tuple[str, list[str]]]) -> None:
    """Drop views of resources no longer open; (re)create the views in `wanted` (resource id → table, columns)."""
    role = get_settings().open_sql_role
    with app_engine.begin() as conn:
        existing = {r[0]: r[1] for r in conn.execute(text(
            "SELECT c.relname, obj_description(c.oid, 'pg_class') FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :s AND c.relkind = 'v'"), {"s": SCHEMA})}
        still_open = _open_ids(Session(bind=conn), existing)
        stale = [name for name in existing if name not in still_open]
        changed = {rid: spec for rid, spec in wanted.items() if existing.get(rid) != _fingerprint(*spec)}
        if not stale and not changed:
            return
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": _LOCK})
        conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
        conn.execute(text(f"REVOKE ALL ON SCHEMA {SCHEMA} FROM PUBLIC"))
        if _role_exists(conn, role):
            conn.execute(text(f"GRANT USAGE ON SCHEMA {SCHEMA} TO {_ident(role)}"))
        for name in stale:
            conn.execute(text(f"DROP VIEW IF EXISTS {SCHEMA}.{_ident(name)}"))
        for rid, (table, columns) in changed.items():
            view = f"{SCHEMA}.{_ident(rid)}"
            cols = ", ".join(_ident(c) for c in ["_id", *columns])
            conn.execute(text(f"DROP VIEW IF EXISTS {view}"))
            conn.execute(text(f"CREATE VIEW {view} AS SELECT {cols} FROM public.{_ident(table)}"))
            conn.execute(text(f"REVOKE ALL ON {view} FROM PUBLIC"))
            if _role_exists(conn, role):
                conn.execute(text(f"GRANT SELECT ON {view} TO {_ident(role)}"))
            conn.execute(text(f"COMMENT ON VIEW {view} IS '{_fingerprint(table, columns)}'"))


def _role_exists(conn: object, role: str) -> bool:
    return bool(conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).scalar())  # type: ignore[attr-defined]  # a Connection


def _open_ids(session: Session, names: Iterable[str]) -> set[str]:
    """Of the view names, those that are still resources of a published 无条件开放 entry."""
    ids = []
    for n in names:
        try:
            ids.append(uuid.UUID(n))
        except ValueError:
            continue
    return {str(res.id) for res, _entry in catalog.open_table_resources(session, ids)}
