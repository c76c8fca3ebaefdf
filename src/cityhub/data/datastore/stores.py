"""Where a resource's content lives: datastore tables, files on disk, an upstream API's encrypted credentials.

Tables: naming, DDL, bulk insert (COPY on PostgreSQL), the provider's indexes.

Used by the datastore service and by the sharing capability's grant reads; not on the domain's public surface.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterable
from datetime import UTC
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from cityhub.data.models import Resource
from cityhub.kit.db import is_postgres
from cityhub.kit.settings import get_settings

_PG_TYPES = {"C": "TEXT", "M": "TEXT", "G": "TEXT", "N": "NUMERIC", "Y": "NUMERIC(20,2)", "I": "BIGINT",
             "B": "DOUBLE PRECISION", "F": "DOUBLE PRECISION", "D": "DATE", "T": "TIMESTAMPTZ", "L": "BOOLEAN"}


_SQLITE_TYPES = {"C": "TEXT", "M": "TEXT", "G": "TEXT", "N": "TEXT", "Y": "TEXT", "I": "INTEGER", "B": "REAL",
                 "F": "REAL", "D": "TEXT", "T": "TEXT", "L": "INTEGER"}


def cascade(session: Session) -> str:
    """A datastore table's open_data view (see openviews) goes with it; the next public query recreates it."""
    return " CASCADE" if is_postgres(session) else ""


def quote(ident: str) -> str:
    """A datastore identifier, double-quoted (only names validated as information items get here)."""
    if not re.match(r"^[a-z_][a-z0-9_]{0,62}$", ident):
        raise ValueError(f"bad identifier {ident!r}")  # identifiers come from validated items only
    return f'"{ident}"'


def sqlite_value(item: dict[str, Any], v: Any) -> Any:
    """A converted cell as SQLite stores it (decimals and dates as text, booleans as 0/1)."""
    if v is None:
        return None
    t = item["data_type"]
    if t in ("N", "Y"):
        return str(v)
    if t == "D":
        return v.isoformat()
    if t == "T":
        return v.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
    if t == "L":
        return 1 if v else 0
    return v


def index_name(table: str, column: str) -> str:
    """The name of a provider's index on one column."""
    return "ix_" + hashlib.sha1(f"{table}.{column}".encode()).hexdigest()[:20]


def indexed_columns(session: Session, table: str) -> list[str]:
    """Columns of a datastore table that carry a single-column index made by `datastore_index`."""
    if is_postgres(session):
        rows = session.execute(text("SELECT a.attname FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid "
                                    "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = i.indkey[0] "
                                    "WHERE t.relname = :t AND NOT i.indisprimary"), {"t": table})
        return [str(r[0]) for r in rows]
    rows = session.execute(text("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = :t "
                                "AND sql IS NOT NULL"), {"t": table})
    out = []
    for (name,) in rows:
        for col in session.execute(text(f"PRAGMA index_info({quote(str(name))})")):
            if int(col[0]) == 0:  # the filtered column; the second is _id
                out.append(str(col[2]))
    return out


def carry_indexes(session: Session, old: str, new: str) -> None:
    """A re-upload keeps the provider's indexes: rebuild them on the staging table before the swap."""
    for col in indexed_columns(session, old):
        if re.match(r"^[a-z_][a-z0-9_]{0,62}$", col):
            session.execute(text(f'CREATE INDEX {quote(index_name(new, col))} ON {quote(new)} ({quote(col)}, "_id")'))


def create_table(session: Session, name: str, items: list[dict[str, Any]]) -> None:
    """A datastore table with `_id` and one typed column per information item."""
    pg = is_postgres(session)
    types = _PG_TYPES if pg else _SQLITE_TYPES
    cols = ", ".join(f"{quote(it['name_en'])} {types[it['data_type']]}" for it in items)
    session.execute(text(f'CREATE TABLE {quote(name)} ("_id" BIGINT PRIMARY KEY, {cols})'))


def bulk_insert(session: Session, table: str, items: list[dict[str, Any]], rows: Iterable[list[Any]]) -> int:
    """Insert converted rows (COPY on PostgreSQL, batches on SQLite); the row count."""
    cols = ["_id", *(it["name_en"] for it in items)]
    n = 0
    if is_postgres(session):
        raw = session.connection().connection.driver_connection
        with raw.cursor() as cur, cur.copy(  # type: ignore[union-attr]  # psycopg 3 connection
                f"COPY {quote(table)} ({', '.join(quote(c) for c in cols)}) FROM STDIN") as cp:
            for r in rows:
                n += 1
                cp.write_row([n, *r])
        return n
    sql = text(f"INSERT INTO {quote(table)} ({', '.join(quote(c) for c in cols)}) "
               f"VALUES ({', '.join(':p' + str(i) for i in range(len(cols)))})")
    batch: list[dict[str, Any]] = []
    for r in rows:
        n += 1
        batch.append({f"p{i}": v for i, v in enumerate([n, *(sqlite_value(it, x) for it, x in zip(items, r,
                                                                                              strict=True))])})
        if len(batch) >= 2000:
            session.execute(sql, batch)
            batch = []
    if batch:
        session.execute(sql, batch)
    return n


def files_dir() -> Path:
    """Where file resources are kept (one file per resource id)."""
    return get_settings().var_dir / "data" / "files"


def fernet() -> Any:
    """The cipher of upstream credentials (its key derived from the secret key)."""
    from cryptography.fernet import Fernet

    key = hashlib.sha256(b"cityhub-data-credentials:" + get_settings().secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def resource_credentials(res: Resource) -> dict[str, str]:
    """Decrypted upstream headers of an API resource (server-side only)."""
    if not res.credentials_enc:
        return {}
    return dict(json.loads(fernet().decrypt(res.credentials_enc.encode())))
