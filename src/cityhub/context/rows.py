"""Many rows into one table at once: COPY on PostgreSQL, one executemany elsewhere.

The broker's bulk writes (entity rows, type rows, GeoProperty boxes, numbers, the attribute history) insert
thousands of rows per batch. Through the ORM's bulk insert psycopg sends one prepared statement per row (pipeline
mode): about 45 µs of client work a row, most of a batch's time. One COPY sends them as a single stream; JSON
columns go as their orjson text (jsonb parses it on the server), everything else through psycopg's own dumpers.
Both paths store the same values (`tests/context/test_rows.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import JSON, Table, insert
from sqlalchemy.orm import Session

from cityhub.kit.db import Base


def _json_columns(table: Table, names: Sequence[str]) -> frozenset[str]:
    return frozenset(n for n in names if isinstance(table.c[n].type, JSON))


def insert_rows(session: Session, model: type[Base], rows: list[dict[str, Any]]) -> None:
    """Insert `rows` (dicts with the same keys: column names) into `model`'s table in the session's transaction."""
    if not rows:
        return
    table = model.__table__
    assert isinstance(table, Table)
    if session.get_bind().dialect.name != "postgresql":
        session.execute(insert(table), rows)
        return
    names = list(rows[0])
    json_cols = _json_columns(table, names)
    raw = session.connection().connection.driver_connection
    sql = f"COPY {table.name} ({', '.join(names)}) FROM STDIN"
    with raw.cursor() as cur, cur.copy(sql) as copy:  # type: ignore[union-attr]  # psycopg 3 on PostgreSQL
        write = copy.write_row
        if not json_cols:
            values = itemgetter(*names) if len(names) > 1 else lambda row: (row[names[0]],)
            for row in rows:
                write(values(row))
            return
        dumps = orjson.dumps
        encoders = [(n, n in json_cols) for n in names]
        for row in rows:
            write([dumps(row[n]).decode() if is_json else row[n] for n, is_json in encoders])
