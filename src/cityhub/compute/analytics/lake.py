"""The Parquet lake the analytics engines read: its tables, their files and schemas, and the facts export.

`<lake>/telemetry/day=YYYY-MM-DD/*.parquet` is connect's archive (written by `connect/archive.py`, Hive-style, so
both engines read `day` as a DATE column). Beside it this module writes the facts other domains hold in their
databases, each table one Parquet file replaced atomically (temporary file, fsync, rename) so a reader never sees
half a file:

- `registry/devices.parquet` — the device registry (connect's `device_refs`, every status);
- `ops/alarms.parquet`, `ops/incidents.parquet` — the operations center's alarms and incidents.

A table whose file does not exist yet reads as empty with the same columns, so every built-in query runs on a fresh
install and on both engines alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
from sqlalchemy.orm import Session

from cityhub.connect import service as connect
from cityhub.core.actor import Actor
from cityhub.kit import parquet
from cityhub.kit.pagination import PageParams
from cityhub.ops import service as ops

# connect's archive layout (connect/archive.py SCHEMA) plus the Hive partition column both engines derive from the
# folder name; tests/compute/analytics/test_engines.py reads a day that archive wrote, so a change there fails here
TELEMETRY = pa.schema([("device_id", pa.string()), ("key", pa.string()), ("ts", pa.timestamp("us", tz="UTC")),
                       ("value", pa.float64()), ("text", pa.string()), ("day", pa.date32())])
DEVICES = pa.schema([("device_id", pa.string()), ("name", pa.string()), ("org_id", pa.string()),
                     ("profile_code", pa.string()), ("asset_id", pa.string()), ("district_id", pa.string()),
                     ("lon", pa.float64()), ("lat", pa.float64()), ("status", pa.string())])
ALARMS = pa.schema([("alarm_id", pa.string()), ("org_id", pa.string()), ("originator_type", pa.string()),
                    ("originator_id", pa.string()), ("type", pa.string()), ("severity", pa.string()),
                    ("acknowledged", pa.bool_()), ("cleared", pa.bool_()),
                    ("start_ts", pa.timestamp("us", tz="UTC")), ("end_ts", pa.timestamp("us", tz="UTC")),
                    ("clear_ts", pa.timestamp("us", tz="UTC")), ("count", pa.int64()), ("rule_id", pa.string()),
                    ("district_id", pa.string()), ("incident_id", pa.string())])
INCIDENTS = pa.schema([("incident_id", pa.string()), ("number", pa.string()), ("category", pa.string()),
                       ("severity", pa.string()), ("status", pa.string()), ("source", pa.string()),
                       ("org_id", pa.string()), ("district_id", pa.string()), ("originator_id", pa.string()),
                       ("created_at", pa.timestamp("us", tz="UTC")), ("resolved_at", pa.timestamp("us", tz="UTC")),
                       ("closed_at", pa.timestamp("us", tz="UTC"))])


@dataclass(frozen=True, slots=True)
class LakeTable:
    """One table of the lake: its view name, where its files are (relative to the lake), its columns."""

    name: str
    path: str  # a folder of Hive partitions (partitioned) or one file
    schema: pa.Schema
    partitioned: bool = False
    title: str = ""


TABLES: tuple[LakeTable, ...] = (
    LakeTable("telemetry", "telemetry", TELEMETRY, partitioned=True, title="Archived telemetry points"),
    LakeTable("devices", "registry/devices.parquet", DEVICES, title="Device registry"),
    LakeTable("alarms", "ops/alarms.parquet", ALARMS, title="Alarms"),
    LakeTable("incidents", "ops/incidents.parquet", INCIDENTS, title="Incidents"),
)


def table_files(lake_dir: Path, table: LakeTable) -> list[Path]:
    """The table's Parquet files now (empty: the table reads as empty)."""
    where = lake_dir / table.path
    if not table.partitioned:
        return [where] if where.is_file() else []
    return sorted(p for p in where.glob("day=*/*.parquet") if not p.name.startswith("."))


def empty(table: LakeTable) -> pa.Table:
    """The table with no rows, for a lake that has no file of it yet."""
    return table.schema.empty_table()


def write_table(path: Path, table: pa.Table) -> None:
    """Replace one Parquet file of the lake atomically (`kit.parquet.write_atomic`)."""
    parquet.write_atomic(path, table)


def _s(v: Any) -> str | None:
    return None if v is None else str(v)


def _paged(fetch: Callable[[PageParams], tuple[list[Any], int]], size: int = 5000) -> Iterable[Any]:
    offset = 0
    while True:
        items, _total = fetch(PageParams(limit=size, offset=offset))
        yield from items
        if len(items) < size:
            return
        offset += size


def export_facts(session: Session, lake_dir: Path) -> dict[str, int]:
    """Write the device registry and the ops facts to the lake (system level); returns rows per table."""
    system = Actor.system("analytics-export")
    devices = [{"device_id": str(d.device_id), "name": d.name, "org_id": str(d.org_id),
                "profile_code": d.profile_code, "asset_id": _s(d.asset_id), "district_id": _s(d.district_id),
                "lon": d.lon, "lat": d.lat, "status": d.status}
               for d in connect.device_refs(session, status=None)]
    alarms = [{"alarm_id": str(a.id), "org_id": str(a.org_id), "originator_type": a.originator_type,
               "originator_id": str(a.originator_id), "type": a.type, "severity": a.severity,
               "acknowledged": bool(a.acknowledged), "cleared": bool(a.cleared), "start_ts": a.start_ts,
               "end_ts": a.end_ts, "clear_ts": a.clear_ts, "count": int(a.count), "rule_id": _s(a.rule_id),
               "district_id": _s(a.district_id), "incident_id": _s(a.incident_id)}
              for a in _paged(lambda p: ops.alarm_list(session, system, p))]
    incidents = [{"incident_id": str(i.id), "number": i.number, "category": i.category, "severity": i.severity,
                  "status": str(i.status), "source": i.source, "org_id": _s(i.org_id),
                  "district_id": _s(i.district_id), "originator_id": _s(i.originator_id),
                  "created_at": i.created_at, "resolved_at": i.resolved_at, "closed_at": i.closed_at}
                 for i in _paged(lambda p: ops.incident_list(session, system, p))]
    out = {}
    for name, rows in (("devices", devices), ("alarms", alarms), ("incidents", incidents)):
        table = next(t for t in TABLES if t.name == name)
        write_table(lake_dir / table.path, pa.Table.from_pylist(rows, schema=table.schema))
        out[name] = len(rows)
    return out
