"""Counts, content checksums and object fingerprints of a database: what a restore must reproduce exactly.

- **Tables**: per table its row count and a checksum of its content — one md5 per row of the row's text form
  (PostgreSQL `row::text` under pinned output settings; SQLite the Python `repr` of the row, which keeps the storage
  class), summed in two 64-bit halves. The sum streams (no 1 GB string limit, no sort) and does not depend on the
  physical order of rows, which a restore is free to change.
- **Objects** (PostgreSQL): schemas, tables, partitions and their bounds, views and their definitions, sequences,
  indexes, constraints, triggers, functions, enum and domain types, comments, and grants (with the owner written
  `<owner>`, since a restore with `--no-owner` makes the restoring role the owner). SQLite: every `sqlite_master` row.
- **Sequences** (PostgreSQL): last values. They are not transactional, so a restore may hold a later value than the
  one read for the manifest, never an earlier one.

PostgreSQL is read in one REPEATABLE READ transaction, SQLite in one read transaction: one instant per state.
"""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.pool import NullPool

from cityhub.kit.errors import NotFound, ValidationFailed
from cityhub.kit.i18n import gettext as _
from cityhub.kit.progress import Progress, QuietProgress


@dataclass
class DatabaseState:
    """What a restore must reproduce: per table its rows and content checksum, every object's fingerprint."""

    tables: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> {"rows": int, "checksum": str}
    objects: dict[str, str] = field(default_factory=dict)  # "<kind> <name>" -> md5 of its definition
    sequences: dict[str, int | None] = field(default_factory=dict)  # PostgreSQL: last value (not transactional)
    alembic_revision: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The manifest's part."""
        return {"tables": self.tables, "objects": self.objects, "sequences": self.sequences,
                "alembic_revision": self.alembic_revision}


def _halves(total_hi: int, total_lo: int) -> str:
    """The checksum of a table: the sums (mod 2^64) of both halves of every row's md5, order-independent."""
    return f"{total_hi % (1 << 64):016x}{total_lo % (1 << 64):016x}"


def _signed64(hex16: str) -> int:
    value = int(hex16, 16)
    return value - (1 << 64) if value >= 1 << 63 else value


def _md5(value: str) -> str:
    return hashlib.md5(value.encode("utf-8", "surrogatepass"), usedforsecurity=False).hexdigest()


_PG_SESSION = ("SET LOCAL TimeZone = 'UTC'", "SET LOCAL DateStyle = 'ISO, YMD'",
               "SET LOCAL IntervalStyle = 'postgres'", "SET LOCAL extra_float_digits = 1",
               "SET LOCAL bytea_output = 'hex'", "SET LOCAL search_path = pg_catalog, public")
PG_USER_NS = ("n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' "
               "AND n.nspname NOT LIKE 'pg\\_temp%'")
_PG_NOT_EXTENSION = "NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = {oid} AND d.deptype = 'e')"


def _pg_acl(acl: str, owner: str, kind: str) -> str:
    """SQL: an ACL as sorted text, the owner written `<owner>` (a restore may change who owns what).

    `kind` is an SQL expression of acldefault's object type, so a NULL (default) ACL reads like its explicit form.
    """
    entry = (f"CASE WHEN a.grantee = 0 THEN 'PUBLIC' WHEN a.grantee = {owner} THEN '<owner>' "
             "ELSE pg_get_userbyid(a.grantee) END || ':' || a.privilege_type "
             "|| CASE WHEN a.is_grantable THEN '*' ELSE '' END")
    return (f"(SELECT coalesce(string_agg({entry}, ',' ORDER BY {entry}), '') "
            f"FROM aclexplode(coalesce({acl}, acldefault({kind}, {owner}))) a)")


_REL_ACL_KIND = "(CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END)::\"char\""
_PG_OBJECTS = {
    "schema": f"""SELECT n.nspname, concat_ws(' | ', {_pg_acl('n.nspacl', 'n.nspowner', "'n'")},
                         obj_description(n.oid, 'pg_namespace'))
                  FROM pg_namespace n WHERE {PG_USER_NS}""",
    "relation": f"""SELECT c.relkind::text || ' ' || n.nspname || '.' || c.relname, concat_ws(' | ',
                      (SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                               || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
                               || coalesce(' default ' || pg_get_expr(ad.adbin, ad.adrelid), ''), ', '
                               ORDER BY a.attnum)
                         FROM pg_attribute a LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
                        WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
                      CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) END,
                      CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END,
                      pg_get_expr(c.relpartbound, c.oid), c.relpersistence::text,
                      obj_description(c.oid, 'pg_class'),
                      {_pg_acl('c.relacl', 'c.relowner', _REL_ACL_KIND)})
                  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE {PG_USER_NS} AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
                   AND {_PG_NOT_EXTENSION.format(oid='c.oid')}""",
    "index": f"""SELECT n.nspname || '.' || c.relname, pg_get_indexdef(c.oid)
                  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE {PG_USER_NS} AND c.relkind IN ('i', 'I') AND {_PG_NOT_EXTENSION.format(oid='c.oid')}""",
    "constraint": f"""SELECT n.nspname || '.' || c.relname || '.' || k.conname, pg_get_constraintdef(k.oid)
                  FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
                  JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {PG_USER_NS}""",
    "trigger": f"""SELECT n.nspname || '.' || c.relname || '.' || t.tgname, pg_get_triggerdef(t.oid)
                  FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
                  JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {PG_USER_NS} AND NOT t.tgisinternal""",
    "function": f"""SELECT n.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
                      concat_ws(' | ', pg_get_functiondef(p.oid), {_pg_acl('p.proacl', 'p.proowner', "'f'")})
                  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                 WHERE {PG_USER_NS} AND p.prokind IN ('f', 'p') AND {_PG_NOT_EXTENSION.format(oid='p.oid')}""",
    "type": f"""SELECT n.nspname || '.' || t.typname, t.typtype::text || ' ' || coalesce((SELECT string_agg(
                      e.enumlabel, ',' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid), '')
                  FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
                 WHERE {PG_USER_NS} AND t.typtype IN ('e', 'd', 'r') AND {_PG_NOT_EXTENSION.format(oid='t.oid')}""",
}


def _pg_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def pg_state(conn: Connection, progress: Progress) -> DatabaseState:
    """Run inside one REPEATABLE READ transaction, so every table is read at the same instant."""
    for stmt in _PG_SESSION:
        conn.execute(text(stmt))
    state = DatabaseState()
    for kind, sql in _PG_OBJECTS.items():
        for name, definition in conn.execute(text(sql)):
            state.objects[f"{kind} {name}"] = _md5(definition or "")
    for schema, name, value in conn.execute(text(
            "SELECT schemaname, sequencename, last_value FROM pg_sequences s "
            f"JOIN pg_namespace n ON n.nspname = s.schemaname WHERE {PG_USER_NS}")):
        state.sequences[f"{schema}.{name}"] = None if value is None else int(value)
    tables = conn.execute(text(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        f"WHERE {PG_USER_NS} AND c.relkind = 'r' AND {_PG_NOT_EXTENSION.format(oid='c.oid')} "
        "ORDER BY 1, 2")).all()
    progress.start(_("Checksums of {n} tables").format(n=len(tables)), total=len(tables))
    for schema, name in tables:
        # One md5 per row of the row's text, summed in two 64-bit halves: streams (no 1 GB string, no sort) and
        # does not depend on the physical row order a restore produces.
        rows, hi, lo = conn.execute(text(
            "SELECT count(*), coalesce(sum(('x' || substr(h, 1, 16))::bit(64)::bigint::numeric), 0), "
            "coalesce(sum(('x' || substr(h, 17, 16))::bit(64)::bigint::numeric), 0) "
            f"FROM (SELECT md5(_bk_row::text) AS h FROM {_pg_ident(schema)}.{_pg_ident(name)} AS _bk_row) s")).one()
        state.tables[f"{schema}.{name}"] = {"rows": int(rows), "checksum": _halves(int(hi), int(lo))}
        progress.advance()
    progress.finish()
    if "public.alembic_version" in state.tables:
        state.alembic_revision = conn.execute(text("SELECT max(version_num) FROM public.alembic_version")).scalar()
    return state


def sqlite_state(conn: sqlite3.Connection, progress: Progress) -> DatabaseState:
    """Every object's SQL and every table's rows, read in one read transaction."""
    state = DatabaseState()
    conn.execute("BEGIN")
    try:
        tables = []
        for kind, name, sql in conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY type, name"):
            state.objects[f"{kind} {name}"] = _md5(sql or "")
            if kind == "table":
                tables.append(name)
        progress.start(_("Checksums of {n} tables").format(n=len(tables)), total=len(tables))
        for name in tables:
            rows = hi = lo = 0
            for row in conn.execute(f'SELECT * FROM "{name.replace(chr(34), chr(34) * 2)}"'):
                h = _md5(repr(row))  # repr keeps the storage class: 1, 1.0, '1' and b'1' differ
                rows, hi, lo = rows + 1, hi + _signed64(h[:16]), lo + _signed64(h[16:])
            state.tables[name] = {"rows": rows, "checksum": _halves(hi, lo)}
            progress.advance()
        progress.finish()
        if "alembic_version" in state.tables:
            state.alembic_revision = conn.execute("SELECT max(version_num) FROM alembic_version").fetchone()[0]
    finally:
        conn.execute("ROLLBACK")
    return state


def sqlite_path(url: URL) -> Path:
    """The file of a SQLite URL (an in-memory database has none)."""
    if not url.database or url.database == ":memory:":
        raise ValidationFailed(_("An in-memory SQLite database cannot be backed up or restored"),
                               field="database_url")
    return Path(url.database)


def sqlite_connect(path: Path, *, read_only: bool = False) -> sqlite3.Connection:
    """A plain sqlite3 connection in autocommit mode (read-only when asked) that waits for locks."""
    uri = path.resolve().as_uri() + ("?mode=ro" if read_only else "")
    conn = sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 30000")
    return conn


def database_state(url: str, progress: Progress | None = None) -> DatabaseState:
    """Counts, checksums and object fingerprints of the database at `url` (one consistent snapshot)."""
    progress = progress or QuietProgress()
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_path(parsed)
        if not path.exists():
            raise NotFound(_("No SQLite database at {path}").format(path=path))
        conn = sqlite_connect(path, read_only=True)
        try:
            return sqlite_state(conn, progress)
        finally:
            conn.close()
    engine = create_engine(parsed, poolclass=NullPool, isolation_level="REPEATABLE READ")
    try:
        with engine.connect() as pg, pg.begin():
            pg.execute(text("SET TRANSACTION READ ONLY"))
            return pg_state(pg, progress)
    finally:
        engine.dispose()


def compare(expected: dict[str, Any], actual: DatabaseState) -> list[str]:
    """Every difference between a manifest's database part and a database's state (empty = identical)."""
    out: list[str] = []
    want_tables: dict[str, dict[str, Any]] = expected.get("tables", {})
    for name in sorted(set(want_tables) | set(actual.tables)):
        want, got = want_tables.get(name), actual.tables.get(name)
        if want is None:
            out.append(_("table {name}: not in the backup").format(name=name))
        elif got is None:
            out.append(_("table {name}: missing after the restore").format(name=name))
        elif want["rows"] != got["rows"]:
            out.append(_("table {name}: {got} rows, the backup has {want}").format(
                name=name, got=got["rows"], want=want["rows"]))
        elif want["checksum"] != got["checksum"]:
            out.append(_("table {name}: content checksum differs").format(name=name))
    want_objects: dict[str, str] = expected.get("objects", {})
    for name in sorted(set(want_objects) | set(actual.objects)):
        if name not in actual.objects:
            out.append(_("{object}: missing after the restore").format(object=name))
        elif name not in want_objects:
            out.append(_("{object}: not in the backup").format(object=name))
        elif want_objects[name] != actual.objects[name]:
            out.append(_("{object}: definition differs").format(object=name))
    want_seqs: dict[str, int | None] = expected.get("sequences", {})
    for name, value in sorted(want_seqs.items()):
        got_value = actual.sequences.get(name)
        if name not in actual.sequences:
            out.append(_("{object}: missing after the restore").format(object=f"sequence {name}"))
        elif value is not None and (got_value is None or got_value < value):
            # sequences are not transactional: pg_dump may read a later value than the manifest, never an earlier
            out.append(_("sequence {name}: at {got}, the backup has {want}").format(
                name=name, got=got_value, want=value))
    if expected.get("alembic_revision") != actual.alembic_revision:
        out.append(_("Alembic revision {got}, the backup has {want}").format(
            got=actual.alembic_revision, want=expected.get("alembic_revision")))
    return out
