"""The ingest path's entry points: `ingest` (parse, validate, quarantine, store, publish) and HTTP ingest.

Also idempotency-key housekeeping, the quarantine's reads, and simulated history stored through the same path.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityhub.connect import policies, simulator
from cityhub.connect.devices.credentials import device_authenticate, topic_for
from cityhub.connect.devices.service import device_get
from cityhub.connect.ingest import keys
from cityhub.connect.ingest.facts import load_device_infos
from cityhub.connect.ingest.parse import Row, canonical_device_id, parse_messages
from cityhub.connect.ingest.store import store_pg, store_quarantine, store_sqlite
from cityhub.connect.models import (
    Device,
    Quarantine,
    QuarantineCount,
    QuarantineReason,
)
from cityhub.connect.schemas import (
    TELEMETRY_STORED,
    IngestResult,
    RawMessage,
    SeriesPoint,
)
from cityhub.core.actor import Actor
from cityhub.kit import clock, events
from cityhub.kit.errors import ValidationFailed
from cityhub.kit.i18n import gettext as _
from cityhub.kit.pagination import PageParams, paginate

QUARANTINE_REASONS = [r.value for r in QuarantineReason]

_BY_TS = itemgetter(2)  # SeriesPoint.ts


def ingest(session: Session, messages: Sequence[RawMessage]) -> IngestResult:
    """Parse, validate, quarantine, bulk-store, update latest values and publish TELEMETRY_STORED; flushes only."""
    if not messages:
        return IngestResult(0, 0, 0)
    session.flush()
    parsed = parse_messages(session, messages)
    rows = parsed.rows
    stored = 0
    want = events.has_subscribers(TELEMETRY_STORED)
    returned: list[tuple[Any, ...]] | None = []  # (device, key, ts) of the stored rows; None: all of them
    if rows:
        if session.get_bind().dialect.name == "postgresql":
            stored, returned = store_pg(session, rows, want)
        else:
            stored, returned = store_sqlite(session, rows, want)
    if parsed.quarantine:
        store_quarantine(session, parsed.quarantine)
    if want and stored:
        infos = parsed.infos
        if returned is None or stored == len(rows):  # every row was stored: no need to match what came back
            kept: Iterable[Row] = rows
        else:
            back = {(r[0], r[1], r[2]) for r in returned}
            kept = [r for r in rows if (r[0], r[1], r[2]) in back]
        # a point is its row followed by its device's context: one tuple concatenation and one tuple.__new__ per
        # point (SeriesPoint's own __new__ is a Python function taking eleven arguments)
        points: list[SeriesPoint] = []
        append_point = points.append
        new_point = tuple.__new__
        last_did: uuid.UUID | None = None
        context: tuple[Any, ...] | None = None
        for r in kept:
            did = r[0]
            if did is not last_did:  # rows are sorted by device on PostgreSQL, by message on SQLite
                last_did = did
                info = infos.get(did)
                context = None if info is None else (info.org_id, info.profile_code, info.asset_path,
                                                     info.district_id, info.lon, info.lat)
            if context is not None:
                append_point(new_point(SeriesPoint, r + context))
        points.sort(key=_BY_TS)
        events.publish(session, TELEMETRY_STORED, points)
    return IngestResult(stored=stored, duplicates=len(rows) - stored, quarantined=parsed.problems)

# ---------------------------------------------------------------- ingest (contract)


def ingest_messages(session: Session, messages: Sequence[RawMessage]) -> IngestResult:
    """The one ingest path (MQTT worker and HTTP): parse, validate, quarantine, bulk-store, publish; flushes only."""
    return ingest(session, messages)


def ingest_http(session: Session, device_id: uuid.UUID | str, token: str, body: bytes) -> IngestResult:
    """HTTP ingest for a device authenticated by its token; the same path as MQTT.

    The id from the URL is canonicalised by the same rule as an MQTT topic's (`ingest.parse.canonical_device_id`);
    any other spelling is a 422 naming `device_id`.
    """
    if isinstance(device_id, str):
        canonical = canonical_device_id(device_id)
        if canonical is None:
            raise ValidationFailed(_("A device id is a UUID: 8-4-4-4-12 hex digits (32 hex digits, {…} and "
                                     "urn:uuid:… are accepted too)"), field="device_id")
        device_id = canonical
    device_authenticate(session, device_id, token)
    msg = RawMessage(topic=topic_for(device_id), payload=body, received_at=clock.now())
    return ingest(session, [msg])


_keys_pruned_at = -math.inf


def ingest_keys_prune(session: Session) -> int:
    """Delete idempotency keys of payloads without `ts` older than the redelivery window (decision 0009)."""
    return keys.prune_keys(session, clock.now() - keys.REDELIVERY_WINDOW)


def ingest_keys_prune_due(every_s: float = 60.0) -> bool:
    """True once per `every_s` in this process: HTTP ingest prunes the keys that often (the worker on its own)."""
    global _keys_pruned_at
    now = time.monotonic()
    if now - _keys_pruned_at < every_s:
        return False
    _keys_pruned_at = now
    return True


def simulate_history(session: Session, device_ids: Sequence[uuid.UUID], *, start: datetime, end: datetime,
                     step: timedelta, seed: int = 42, spike_p: float = 0.003) -> int:
    """Simulated series for devices from start to end, stored through the ingest path; returns points stored."""
    infos = load_device_infos(session, list(device_ids))
    sims = [simulator.SimDevice(d, infos[d].profile_code, offset=(i % 7) / 7)
            for i, d in enumerate(device_ids) if d in infos]
    sim = simulator.Simulator(sims, seed=seed, spike_p=spike_p, drift_p=0.0, silence_p=0.0)
    stored = 0
    for dev in sim.devices:
        records = []
        t = start
        while t < end:
            rec = sim.record(dev, t)
            if rec is not None:
                records.append(rec)
            t += step
        msg = RawMessage(topic_for(dev.device_id), orjson.dumps(records), end)
        stored += ingest(session, [msg]).stored
    return stored

# ---------------------------------------------------------------- quarantine


def quarantine_list(session: Session, actor: Actor, page: PageParams, *, device_id: uuid.UUID | None = None,
                    reason: str | None = None) -> tuple[list[Quarantine], int]:
    """Quarantined items the actor may see (rows of unknown devices: the platform team only)."""
    stmt = select(Quarantine).order_by(Quarantine.received_at.desc(), Quarantine.id)
    if device_id is not None:
        device_get(session, actor, device_id)
        stmt = stmt.where(Quarantine.device_id == device_id)
    elif not policies.platform_team(actor):
        orgs = policies.visible_orgs(actor) or frozenset()
        stmt = stmt.where(Quarantine.device_id.in_(select(Device.id).where(Device.org_id.in_(orgs))))
    if reason:
        stmt = stmt.where(Quarantine.reason == reason)
    return paginate(session, stmt, page)


def quarantine_unexpected(session: Session, message: RawMessage) -> None:
    """Quarantine a message that failed storage for a reason no check names (the worker isolated it)."""
    store_quarantine(session, [{
        "id": uuid.uuid4(), "received_at": message.received_at, "topic": message.topic[:300].replace("\x00", ""),
        "device_id": None, "reason": QuarantineReason.UNPROCESSABLE.value, "detail": "storing failed",
        "payload": message.payload[:2000].decode("utf-8", "replace").replace("\x00", "\\u0000")}])
    session.flush()


def quarantine_counts(session: Session, device_id: uuid.UUID | None = None) -> dict[str, int]:
    """Quarantine counts per reason: running totals, or one device's rows grouped (system level)."""
    if device_id is None:
        return {r: int(c) for r, c in session.execute(select(QuarantineCount.reason, QuarantineCount.count))}
    return {r: int(c) for r, c in session.execute(
        select(Quarantine.reason, func.count()).where(Quarantine.device_id == device_id).group_by(Quarantine.reason))}
