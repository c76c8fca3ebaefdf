"""Telemetry reads: the contract's points, latest values and aggregates (system level), a device's series.

Also a visible device's raw points and CSV, and what archiving needs (counts, days, rows, the audited delete).
"""

from __future__ import annotations

import csv
import io
import math
import re
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Integer, cast, delete, func, select
from sqlalchemy.orm import Session

from cityhub.connect import policies
from cityhub.connect.devices.service import device_get
from cityhub.connect.ingest.facts import CACHE, DeviceInfo, load_device_infos
from cityhub.connect.models import (
    Latest,
    Telemetry,
)
from cityhub.connect.schemas import (
    SeriesPoint,
)
from cityhub.core import service as core
from cityhub.core.actor import Actor
from cityhub.kit.db import is_postgres
from cityhub.kit.errors import ValidationFailed
from cityhub.kit.i18n import gettext as _

AGGREGATES = ("avg", "min", "max", "sum", "count")
INTERVAL_RE = re.compile(r"^(\d{1,4})([smhd])$")
UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_RAW_POINTS = 50_000
MAX_BUCKETS = 5_000


def _series_context(session: Session, device_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, DeviceInfo]:
    return load_device_infos(session, list(device_ids))


def series_points(session: Session, rows: Sequence[tuple[uuid.UUID, str, datetime, float | None, str | None]]
                  ) -> list[SeriesPoint]:
    """Stored points (device id, key, ts, value, text) with their device's context, as TELEMETRY_STORED carries them.

    For consumers that evaluate a stored batch later (the rule engine's queue): device facts come from ingest's
    per-process cache, so a batch of known devices costs no query; points of deleted devices are dropped.
    """
    infos = CACHE.get_many(session, {r[0] for r in rows})
    out: list[SeriesPoint] = []
    for did, key, ts, value, text in rows:
        info = infos.get(did)
        if info is not None:
            out.append(SeriesPoint(did, key, ts, value, text, info.org_id, info.profile_code, info.asset_path,
                                   info.district_id, info.lon, info.lat))
    return out


def telemetry_points(session: Session, *, device_ids: Sequence[uuid.UUID], keys: Sequence[str] | None,
                     start: datetime, end: datetime) -> Iterator[SeriesPoint]:
    """Stored points with start <= ts < end, ordered by ts (system level)."""
    if not device_ids:
        return
    infos = _series_context(session, device_ids)
    stmt = (select(Telemetry.device_id, Telemetry.key, Telemetry.ts, Telemetry.value, Telemetry.text)
            .where(Telemetry.device_id.in_(list(device_ids)), Telemetry.ts >= start, Telemetry.ts < end)
            .order_by(Telemetry.ts, Telemetry.device_id, Telemetry.key))
    if keys is not None:
        stmt = stmt.where(Telemetry.key.in_(list(keys)))
    for did, key, ts, value, text in session.execute(stmt).yield_per(5000):
        info = infos.get(did)
        if info is None:
            continue
        yield SeriesPoint(did, key, ts, value, text, info.org_id, info.profile_code, info.asset_path,
                          info.district_id, info.lon, info.lat)


def latest_values(session: Session, device_ids: Sequence[uuid.UUID], keys: Sequence[str] | None = None
                  ) -> dict[uuid.UUID, dict[str, tuple[datetime, float | None, str | None]]]:
    """The newest value per device and key (system level)."""
    out: dict[uuid.UUID, dict[str, tuple[datetime, float | None, str | None]]] = {}
    if not device_ids:
        return out
    stmt = select(Latest.device_id, Latest.key, Latest.ts, Latest.value, Latest.text).where(
        Latest.device_id.in_(list(device_ids)))
    if keys is not None:
        stmt = stmt.where(Latest.key.in_(list(keys)))
    for did, key, ts, value, text in session.execute(stmt):
        out.setdefault(did, {})[key] = (ts, value, text)
    return out


def _agg_fn(agg: str) -> Any:
    if agg not in AGGREGATES:
        raise ValidationFailed(_("Unknown aggregate"), field="agg")
    return {"avg": func.avg, "min": func.min, "max": func.max, "sum": func.sum, "count": func.count}[agg]


def telemetry_aggregate(session: Session, *, device_ids: Sequence[uuid.UUID], key: str, agg: str,
                        start: datetime, end: datetime) -> float | None:
    """One aggregate (avg|min|max|sum|count) over start <= ts < end (system level)."""
    fn = _agg_fn(agg)
    if not device_ids:
        return 0.0 if agg == "count" else None
    value = session.scalar(select(fn(Telemetry.value)).where(
        Telemetry.device_id.in_(list(device_ids)), Telemetry.key == key, Telemetry.ts >= start, Telemetry.ts < end))
    return float(value) if value is not None else (0.0 if agg == "count" else None)


def parse_interval(text: str) -> int:
    """'1m' … '1d' to seconds (60 s to 1 day)."""
    m = INTERVAL_RE.match(text or "")
    if not m:
        raise ValidationFailed(_("Interval must look like 1m, 15m, 1h or 1d"), field="interval")
    seconds = int(m.group(1)) * UNIT_S[m.group(2)]
    if not 60 <= seconds <= 86400:
        raise ValidationFailed(_("Interval must be between 1m and 1d"), field="interval")
    return seconds


def _bucket_expr(session: Session, seconds: int) -> Any:
    if is_postgres(session):
        return func.floor(func.extract("epoch", Telemetry.ts) / seconds) * seconds
    return (cast(func.strftime("%s", Telemetry.ts), Integer) // seconds) * seconds


def _check_range(start: datetime, end: datetime) -> None:
    if end <= start:
        raise ValidationFailed(_("'to' must be after 'from'"), field="to")


def telemetry_series(session: Session, actor: Actor, device_id: uuid.UUID, *, keys: Sequence[str], agg: str,
                     interval: str, start: datetime, end: datetime) -> list[tuple[str, datetime, float | None]]:
    """Time-bucket aggregates of a visible device's metrics: (key, bucket start, value)."""
    device_get(session, actor, device_id)
    fn = _agg_fn(agg)
    seconds = parse_interval(interval)
    _check_range(start, end)
    if (end - start).total_seconds() / seconds > MAX_BUCKETS:
        raise ValidationFailed(_("Too many buckets; widen the interval or shorten the range"), field="interval")
    bucket = _bucket_expr(session, seconds).label("bucket")
    stmt = (select(Telemetry.key, bucket, fn(Telemetry.value))
            .where(Telemetry.device_id == device_id, Telemetry.ts >= start, Telemetry.ts < end)
            .group_by(Telemetry.key, bucket).order_by(Telemetry.key, bucket))
    if keys:
        stmt = stmt.where(Telemetry.key.in_(list(keys)))
    out = []
    for key, b, value in session.execute(stmt):
        ts = datetime.fromtimestamp(float(b), UTC)
        out.append((key, ts, float(value) if value is not None else None))
    return out


def telemetry_raw(session: Session, actor: Actor, device_id: uuid.UUID, *, keys: Sequence[str] | None,
                  start: datetime, end: datetime, limit: int = 10_000) -> list[tuple[str, datetime, float | None,
                                                                                      str | None]]:
    """Raw points of a visible device, ordered by time (at most `limit`)."""
    device_get(session, actor, device_id)
    _check_range(start, end)
    stmt = (select(Telemetry.key, Telemetry.ts, Telemetry.value, Telemetry.text)
            .where(Telemetry.device_id == device_id, Telemetry.ts >= start, Telemetry.ts < end)
            .order_by(Telemetry.ts, Telemetry.key).limit(min(limit, MAX_RAW_POINTS)))
    if keys:
        stmt = stmt.where(Telemetry.key.in_(list(keys)))
    return [(k, ts, v, t) for k, ts, v, t in session.execute(stmt)]


def telemetry_csv(session: Session, actor: Actor, device_id: uuid.UUID, *, keys: Sequence[str] | None,
                  start: datetime, end: datetime) -> Iterator[str]:
    """Raw points as CSV lines (device_id, key, ts, value, text)."""
    rows = telemetry_raw(session, actor, device_id, keys=keys, start=start, end=end, limit=MAX_RAW_POINTS)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["device_id", "key", "ts", "value", "text"])
    for key, ts, value, text in rows:
        writer.writerow([device_id, key, ts.isoformat(), "" if value is None else repr(value), text or ""])
        if buf.tell() > 64_000:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()


def device_latest(session: Session, actor: Actor, device_id: uuid.UUID
                  ) -> dict[str, tuple[datetime, float | None, str | None]]:
    """Latest values of a visible device."""
    device_get(session, actor, device_id)
    return latest_values(session, [device_id]).get(device_id, {})


def last_seen(session: Session, device_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, datetime]:
    """When each device last reported (newest latest-value timestamp)."""
    if not device_ids:
        return {}
    return {d: ts for d, ts in session.execute(
        select(Latest.device_id, func.max(Latest.ts)).where(Latest.device_id.in_(list(device_ids)))
        .group_by(Latest.device_id)).all()}


def telemetry_count(session: Session, *, before: datetime | None = None) -> int:
    """Stored points (before a time, when given)."""
    stmt = select(func.count()).select_from(Telemetry)
    if before is not None:
        stmt = stmt.where(Telemetry.ts < before)
    return int(session.scalar(stmt) or 0)


def telemetry_days_before(session: Session, before: datetime) -> list[datetime]:
    """UTC day starts that hold points older than `before`."""
    first = session.scalar(select(func.min(Telemetry.ts)).where(Telemetry.ts < before))
    if first is None:
        return []
    day = datetime(first.year, first.month, first.day, tzinfo=UTC)
    out = []
    while day < before:
        out.append(day)
        day += timedelta(days=1)
    return out


def telemetry_rows(session: Session, start: datetime, end: datetime) -> list[tuple[Any, ...]]:
    """Every point with start <= ts < end as (device_id, key, ts, value, text) (system level, for archiving)."""
    return [tuple(r) for r in session.execute(
        select(Telemetry.device_id, Telemetry.key, Telemetry.ts, Telemetry.value, Telemetry.text)
        .where(Telemetry.ts >= start, Telemetry.ts < end).order_by(Telemetry.device_id, Telemetry.key, Telemetry.ts))]


def telemetry_delete(session: Session, actor: Actor, start: datetime, end: datetime) -> int:
    """Delete points with start <= ts < end (after they were archived); audited."""
    policies.telemetry_archive(actor)
    result = session.execute(delete(Telemetry).where(Telemetry.ts >= start, Telemetry.ts < end))
    n = int(result.rowcount or 0)  # type: ignore[attr-defined]  # CursorResult of a DELETE
    if n:
        core.audit_record(session, actor, "telemetry_archive", target_type="telemetry",
                          target_id=start.date().isoformat(), after={"from": start, "to": end, "points": n})
    return n


def finite(value: float | None) -> float | None:
    """None for NaN/inf (JSON has no such numbers)."""
    return value if value is not None and math.isfinite(value) else None
