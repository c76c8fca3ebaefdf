"""Metering: every gateway call is recorded without a database write on the hot path.

The gateway appends a tuple to an in-memory buffer and counts it in Prometheus (`/metrics`:
`cityhub_compute_calls_total{component,status}`, `cityhub_compute_call_seconds{component}`). A flusher thread
writes the buffer every CITYHUB_COMPUTE_METER_FLUSH_S seconds, or as soon as it holds CITYHUB_COMPUTE_METER_BATCH
records, in one transaction: the calls table (one multi-row insert) and the hourly roll-up (one upsert per hour,
component, version and application, adding to what other processes wrote). A failed flush puts the records back
and is retried; only a buffer grown past `max_buffer` (a database down for long under load) drops records, and
counts them in `dropped`. Usage and chargeback read the roll-up (hours and months), never the calls table.
"""

from __future__ import annotations

import csv
import io
import logging
import threading
import uuid
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import Counter, Histogram
from sqlalchemy import func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from cityhub.compute import policies
from cityhub.compute.models import Call, Component, UsageHourly
from cityhub.compute.models import ConsumerApp as App
from cityhub.compute.schemas import UsagePoint, UsageRow
from cityhub.core.actor import Actor
from cityhub.kit import clock
from cityhub.kit.errors import ValidationFailed
from cityhub.kit.i18n import gettext as _
from cityhub.kit.metrics import REGISTRY

log = logging.getLogger("cityhub.compute.metering")

CALLS = Counter("cityhub_compute_calls_total", "Gateway calls by component and HTTP status.",
                ["component", "status"], registry=REGISTRY)
LATENCY = Histogram("cityhub_compute_call_seconds", "Gateway call latency by component (gateway in to answer out).",
                    ["component"], registry=REGISTRY,
                    buckets=(0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
UNKNOWN = "_unknown"  # the label of calls naming no known component (callers must not create label values)


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One call as the gateway saw it."""

    at: datetime
    component_id: uuid.UUID | None
    version_id: uuid.UUID | None
    app_id: uuid.UUID | None
    org_id: uuid.UUID | None
    method: str
    status: int
    error_code: str
    latency_ms: float
    bytes_in: int
    bytes_out: int


class Meter:
    """The buffer between the gateway and the database, with its flusher thread."""

    def __init__(self, session_scope: Callable[[], AbstractContextManager[Session]], *, flush_s: float = 1.0,
                 batch: int = 2000, max_buffer: int = 1_000_000) -> None:
        self._scope = session_scope
        self.flush_s, self.batch, self.max_buffer = flush_s, batch, max_buffer
        self._buf: list[CallRecord] = []
        self._lock = threading.Lock()  # between flushes (the flusher thread and a final flush at shutdown)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.recorded = 0
        self.written = 0
        self.dropped = 0
        self.failures = 0
        self._children: dict[tuple[str, int], tuple[Any, Any]] = {}  # the metrics' label children, looked up once

    def record(self, rec: CallRecord, component_code: str | None) -> None:
        """Buffer a call and count it in /metrics (no I/O)."""
        self._buf.append(rec)
        self.recorded += 1
        key = (component_code or UNKNOWN, rec.status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (CALLS.labels(key[0], str(key[1])), LATENCY.labels(key[0]))
        children[0].inc()
        children[1].observe(rec.latency_ms / 1000.0)
        if len(self._buf) >= self.batch:
            self._wake.set()

    @property
    def pending(self) -> int:
        """Records not yet written."""
        return len(self._buf)

    def flush(self) -> int:
        """Write what is buffered in one transaction; returns the number written (records are kept on failure)."""
        with self._lock:
            buf, self._buf = self._buf, []
            if not buf:
                return 0
            try:
                with self._scope() as session:
                    write(session, buf)
            except Exception:
                self.failures += 1
                log.warning("metering flush of %d calls failed; kept for the next one", len(buf), exc_info=True)
                self._buf[:0] = buf
                overflow = len(self._buf) - self.max_buffer
                if overflow > 0:
                    del self._buf[:overflow]
                    self.dropped += overflow
                return 0
            self.written += len(buf)
            return len(buf)

    def start(self) -> None:
        """Start the flusher thread (idempotent)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="compute-meter", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and write what is left."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.flush()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_s)
            self._wake.clear()
            self.flush()


def _hour(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


_CALL_COLUMNS = ("at", "component_id", "version_id", "app_id", "org_id", "method", "status", "error_code",
                 "latency_ms", "bytes_in", "bytes_out")
_COPY_CALLS = f"COPY compute_call ({', '.join(_CALL_COLUMNS)}) FROM STDIN"


def write(session: Session, records: list[CallRecord]) -> None:
    """Insert the calls (COPY on PostgreSQL) and add them to the hourly roll-up (one statement)."""
    pg = session.get_bind().dialect.name == "postgresql"
    if pg:  # COPY: a fraction of the Python work of a multi-row insert, and the flusher shares the GIL
        raw = session.connection().connection.driver_connection
        with raw.cursor() as cur, cur.copy(_COPY_CALLS) as cp:  # type: ignore[union-attr]  # psycopg 3
            for r in records:
                cp.write_row((r.at, r.component_id, r.version_id, r.app_id, r.org_id, r.method, r.status,
                              r.error_code, r.latency_ms, r.bytes_in, r.bytes_out))
    else:
        session.execute(Call.__table__.insert(), [  # type: ignore[attr-defined]  # Core insert of the table
            {"at": r.at, "component_id": r.component_id, "version_id": r.version_id, "app_id": r.app_id,
             "org_id": r.org_id, "method": r.method, "status": r.status, "error_code": r.error_code,
             "latency_ms": r.latency_ms, "bytes_in": r.bytes_in, "bytes_out": r.bytes_out} for r in records])
    groups: dict[tuple[Any, ...], list[float]] = {}
    for r in records:
        if r.component_id is None or r.version_id is None or r.app_id is None or r.org_id is None:
            continue
        key = (_hour(r.at), r.component_id, r.version_id, r.app_id, r.org_id)
        g = groups.get(key)
        if g is None:
            g = groups[key] = [0, 0, 0.0, 0.0, 0, 0]
        g[0] += 1
        g[1] += 1 if r.status >= 400 else 0
        g[2] += r.latency_ms
        g[3] = max(g[3], r.latency_ms)
        g[4] += r.bytes_in
        g[5] += r.bytes_out
    if not groups:
        return
    rows = [{"hour": k[0], "component_id": k[1], "version_id": k[2], "app_id": k[3], "org_id": k[4],
             "calls": int(g[0]), "errors": int(g[1]), "latency_ms_sum": g[2], "latency_ms_max": g[3],
             "bytes_in": int(g[4]), "bytes_out": int(g[5])} for k, g in sorted(groups.items(), key=lambda kv: (
                 kv[0][0], str(kv[0][1]), str(kv[0][2]), str(kv[0][3])))]  # key order: no deadlock between writers
    stmt = (pg_insert if pg else sqlite_insert)(UsageHourly)
    ex = stmt.excluded
    greatest = func.greatest if pg else func.max
    session.execute(stmt.on_conflict_do_update(
        index_elements=["hour", "component_id", "version_id", "app_id"],
        set_={"calls": UsageHourly.calls + ex.calls, "errors": UsageHourly.errors + ex.errors,
              "latency_ms_sum": UsageHourly.latency_ms_sum + ex.latency_ms_sum,
              "latency_ms_max": greatest(UsageHourly.latency_ms_max, ex.latency_ms_max),
              "bytes_in": UsageHourly.bytes_in + ex.bytes_in, "bytes_out": UsageHourly.bytes_out + ex.bytes_out}),
        rows)


# ---------------------------------------------------------------- reading usage


def _period(since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    try:
        until = clock.as_utc(until) if until else clock.now()
    except OverflowError as exc:  # a time zone shift past year 1 or 9999
        raise ValidationFailed(_("A date outside the years 1 to 9999"), field="until") from exc
    try:
        since = clock.as_utc(since) if since else until - timedelta(days=30)
    except OverflowError as exc:
        raise ValidationFailed(_("A date outside the years 1 to 9999"), field="since") from exc
    if since >= until:
        raise ValidationFailed(_("The period's start must come before its end"), field="since")
    if until - since > timedelta(days=400):
        raise ValidationFailed(_("At most 400 days at a time"), field="since")
    return since, until


def _visible_usage(actor: Actor) -> Any:
    """Usage rows the actor may read: their units' applications, and calls of their units' components."""
    if policies.reads_all(actor):
        return None
    orgs = policies.read_orgs(actor)
    return or_(UsageHourly.org_id.in_(orgs), Component.org_id.in_(orgs))


def usage_report(session: Session, actor: Actor, *, since: datetime | None = None, until: datetime | None = None,
                 org_id: uuid.UUID | None = None, component_id: uuid.UUID | None = None) -> list[UsageRow]:
    """Calls per component and consumer application over a period, with the chargeback (price × calls)."""
    if org_id is not None:
        policies.usage_read(actor, org_id)
    since, until = _period(since, until)
    stmt = (select(Component.code, Component.price_per_call, App.id, App.name, UsageHourly.org_id,
                   func.sum(UsageHourly.calls), func.sum(UsageHourly.errors), func.sum(UsageHourly.latency_ms_sum),
                   func.max(UsageHourly.latency_ms_max), func.sum(UsageHourly.bytes_in),
                   func.sum(UsageHourly.bytes_out))
            .join(Component, Component.id == UsageHourly.component_id).join(App, App.id == UsageHourly.app_id)
            .where(UsageHourly.hour >= _hour(since), UsageHourly.hour < until)
            .group_by(Component.code, Component.price_per_call, App.id, App.name, UsageHourly.org_id)
            .order_by(Component.code, App.name))
    visible = _visible_usage(actor)
    if visible is not None:
        stmt = stmt.where(visible)
    if org_id:
        stmt = stmt.where(UsageHourly.org_id == org_id)
    if component_id:
        stmt = stmt.where(UsageHourly.component_id == component_id)
    out = []
    for code, price, app_id, app_name, unit, calls, errors, lat_sum, lat_max, b_in, b_out in session.execute(stmt):
        calls = int(calls or 0)
        out.append(UsageRow(component_code=code, app_id=app_id, app_name=app_name, org_id=unit, calls=calls,
                            errors=int(errors or 0), avg_latency_ms=round(float(lat_sum or 0) / calls, 3) if calls
                            else 0.0, max_latency_ms=round(float(lat_max or 0), 3), bytes_in=int(b_in or 0),
                            bytes_out=int(b_out or 0), cost=round(calls * float(price or 0), 2)))
    return out


def usage_series(session: Session, actor: Actor, component_id: uuid.UUID, hours: int = 48) -> list[UsagePoint]:
    """Calls per hour of one component over the last `hours` (what the actor may read of it)."""
    since = _hour(clock.now()) - timedelta(hours=hours - 1)
    stmt = (select(UsageHourly.hour, func.sum(UsageHourly.calls), func.sum(UsageHourly.errors))
            .join(Component, Component.id == UsageHourly.component_id)
            .where(UsageHourly.component_id == component_id, UsageHourly.hour >= since)
            .group_by(UsageHourly.hour).order_by(UsageHourly.hour))
    visible = _visible_usage(actor)
    if visible is not None:
        stmt = stmt.where(visible)
    got = {clock.as_utc(h): (int(c or 0), int(e or 0)) for h, c, e in session.execute(stmt)}
    return [UsagePoint(hour=since + timedelta(hours=i), calls=got.get(since + timedelta(hours=i), (0, 0))[0],
                       errors=got.get(since + timedelta(hours=i), (0, 0))[1]) for i in range(hours)]


USAGE_CSV_COLUMNS = ("component_code", "app_name", "app_id", "org_id", "calls", "errors", "avg_latency_ms",
                     "max_latency_ms", "bytes_in", "bytes_out", "cost")


def usage_csv(rows: Iterable[UsageRow]) -> str:
    """The usage report as CSV (UTF-8 with a BOM, so spreadsheet programs read the Chinese names)."""
    buf = io.StringIO()
    buf.write("\ufeff")
    w = csv.writer(buf)
    w.writerow(USAGE_CSV_COLUMNS)
    for r in rows:
        w.writerow([_cell(getattr(r, c)) for c in USAGE_CSV_COLUMNS])
    return buf.getvalue()


def usage_xlsx(rows: list[UsageRow], unit_names: dict[uuid.UUID, str]) -> bytes:
    """The usage report as an XLSX workbook: a sheet per department (calls, refusals, cost) and the detail rows.

    Headers in the request's language; ids as text; names neutralised like the CSV's (no formula runs on open).
    """
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    units: dict[uuid.UUID, list[float]] = {}
    for r in rows:
        u = units.setdefault(r.org_id, [0, 0, 0.0])
        u[0] += r.calls
        u[1] += r.errors
        u[2] += r.cost
    summary = wb.create_sheet(_("By department")[:31])
    summary.append([_("Department"), _("Calls"), _("Refused or failed"), _("Cost (yuan)")])
    for org_id, (calls, errors, cost) in sorted(units.items(), key=lambda kv: -kv[1][2]):
        summary.append([_cell(unit_names.get(org_id, str(org_id))), int(calls), int(errors), round(cost, 2)])
    detail = wb.create_sheet(_("Call details")[:31])
    detail.append([_("Department"), *USAGE_CSV_COLUMNS])
    for r in rows:
        detail.append([_cell(unit_names.get(r.org_id, str(r.org_id))),
                       *(_cell(str(v)) if isinstance(v, uuid.UUID) else _cell(v)
                         for v in (getattr(r, c) for c in USAGE_CSV_COLUMNS))])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _cell(v: Any) -> Any:
    """Neutralise spreadsheet formulas in text cells (CSV injection)."""
    if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + v
    return v


def calls_recent(session: Session, actor: Actor, component_id: uuid.UUID, limit: int = 50) -> list[Call]:
    """The component's latest metered calls (owner's staff and readers of every unit)."""
    comp = session.get(Component, component_id)
    if comp is None or not policies.sees_unit(actor, comp.org_id):
        return []
    return list(session.scalars(select(Call).where(Call.component_id == component_id)
                                .order_by(Call.id.desc()).limit(limit)))
