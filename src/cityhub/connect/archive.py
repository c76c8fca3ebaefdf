"""Retention: telemetry older than a date goes to Parquet (one file per UTC day), then leaves the database.

`<var_dir>/lake/telemetry/day=YYYY-MM-DD/telemetry.parquet` (Hive-style, so DuckDB and Spark read the day as a
column). Each day is written to a temporary file, fsynced and renamed, and only then are its rows deleted in
the same transaction that is committed next; a re-run after a crash merges with the day's existing file (the
(device, key, ts) key removes doubles), so archiving is idempotent.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from cityhub.connect import policies, service
from cityhub.core.service import Actor
from cityhub.kit import parquet
from cityhub.kit.db import Database

SCHEMA = pa.schema([("device_id", pa.string()), ("key", pa.string()), ("ts", pa.timestamp("us", tz="UTC")),
                    ("value", pa.float64()), ("text", pa.string())])


def lake_root(lake_dir: Path) -> Path:
    """Where archived telemetry lives."""
    return lake_dir / "telemetry"


def _day_file(root: Path, day: datetime) -> Path:
    return root / f"day={day:%Y-%m-%d}" / "telemetry.parquet"


def _write_day(path: Path, rows: list[tuple[Any, ...]]) -> int:
    merged: dict[tuple[str, str, datetime], tuple[float | None, str | None]] = {}
    if path.exists():
        old = pq.read_table(path, schema=SCHEMA).to_pylist()
        for r in old:
            merged[(r["device_id"], r["key"], r["ts"])] = (r["value"], r["text"])
    for device_id, key, ts, value, text in rows:
        merged[(str(device_id), key, ts)] = (value, text)
    items = sorted(merged.items())
    table = pa.table({
        "device_id": [k[0] for k, _ in items], "key": [k[1] for k, _ in items], "ts": [k[2] for k, _ in items],
        "value": [v[0] for _, v in items], "text": [v[1] for _, v in items]}, schema=SCHEMA)
    parquet.write_atomic(path, table)  # the rename survives a crash before the rows are deleted
    return len(items)


def archive(db: Database, actor: Actor, before: datetime, lake_dir: Path) -> dict[str, int]:
    """Move points with ts < before to Parquet day files; returns days, points archived and deleted."""
    before = before.astimezone(UTC)
    root = lake_root(lake_dir)
    with db.session_scope() as session:
        days = service.telemetry_days_before(session, before)
    out = {"days": 0, "archived": 0, "deleted": 0}
    for day in days:
        end = min(day + timedelta(days=1), before)
        with db.session_scope() as session:
            rows = service.telemetry_rows(session, day, end)
            if not rows:
                continue
            policies.telemetry_archive(actor)
            _write_day(_day_file(root, day), rows)
            out["deleted"] += service.telemetry_delete(session, actor, day, end)
            out["archived"] += len(rows)
            out["days"] += 1
    return out


def glob_pattern(lake_dir: Path) -> str:
    """The read_parquet pattern for DuckDB over the archive."""
    return str(lake_root(lake_dir) / "day=*" / "*.parquet")
