"""Change subscriptions on connect's devices: new telemetry notifies them, matched off the ingest path in batches.

connect's devices are entities read through from connect (`bridge.py`): no store write announces their changes.
Instead:

- `on_telemetry_stored` (connect's `telemetry.stored`, in the ingest batch's transaction: `context/subscribers.py`)
  queues **one** `context_telemetry_change` row per stored batch — the devices and metric keys it carried,
  computed from the points in memory, nothing read — so a change is queued exactly when its telemetry commits,
  and ingest pays one small INSERT per batch.
- `run` (a pass of `cityhub context worker`, before delivery) takes the queued rows, oldest first (at most BATCH,
  `FOR UPDATE SKIP LOCKED` on PostgreSQL so several workers may run) and deletes them; with no active change
  subscription that is all. Otherwise it builds the devices once, as they are now (`bridge.devices`: their
  latest values), and hands them to `subscriptions.on_change` as one change per device whose touched attributes
  are the metrics the batches carried (event `attributeUpdated`): selectors, watchedAttributes,
  notificationTrigger, throttling and the Notification are those of every change; `match` below replaces the SQL
  over stored rows: visibility as `subscriptions.visible_to_org` (the unit's own devices, others' through a
  read grant), `q` by the very SQL compiled for stored entities over the devices' documents (`query._q_hits`),
  `geoQ` by shapely (`subscriptions.geo_filter`).

- `on_device_changed` (connect's `device.changed`, in the transaction of `device_create` / `device_update`) queues
  one row in the same queue for a change made through connect's actions: the device, whether it is new, the
  changed fields' old values. The pass touches the record-given attributes that differ between the device as it
  was (`bridge.device_as_was`) and as it is, with their previous values (`showChanges`); a new device is
  `entityCreated`.

Several rows of one pass are one change per device (its newest state), so one notification per subscription
and pass, as a batch upsert is one. Not notified: a change of an asset (a device standing at its position);
telemetry's `showChanges` has no previous value (the latest value is overwritten by ingest, none is kept here).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import orjson
from sqlalchemy import delete, insert, or_, select
from sqlalchemy.orm import Session

from cityhub.connect.schemas import DeviceChanged
from cityhub.context import bridge
from cityhub.context.jsonld import LdContext
from cityhub.context.models import ContextGrant, ContextSubscription, ContextTelemetryChange
from cityhub.context.subscriptions import Changed, geo_filter, on_change
from cityhub.kit import clock
from cityhub.kit.db import is_postgres

T = ContextTelemetryChange
S = ContextSubscription
BATCH = 500  # queued ingest batches per pass


_INSERT = insert(T)


def on_telemetry_stored(session: Session, points: Sequence[Any]) -> None:
    """Queue the devices and metric keys of a stored ingest batch (one row; points are connect's SeriesPoints).

    On ingest's path, so cheap: devices by their 128-bit integers (a UUID hashes in Python, an int in C), the
    document by orjson into a text column, one prepared Core INSERT (≈ 1 ms of CPU per 2,000-point batch).
    """
    if not points:
        return
    keys: dict[int, list[str]] = {}
    for device, key in {(p[0].int, p[1]) for p in points}:
        keys.setdefault(device, []).append(key)
    doc = orjson.dumps({str(uuid.UUID(int=d)): sorted(k) for d, k in keys.items()}).decode()
    session.connection().execute(_INSERT, {"devices": doc, "created_at": clock.now()})


@dataclass
class Pending:
    """What the queued rows say of one device: metric keys with new telemetry, changed fields' old values, new."""

    keys: set[str] = field(default_factory=set)
    before: dict[str, Any] = field(default_factory=dict)
    created: bool = False


def on_device_changed(session: Session, change: DeviceChanged) -> None:
    """Queue a device created or changed through connect's actions (name, status, asset, position): one row.

    The row holds the changed fields' old values, so the worker's pass knows which attributes the change touched
    and what they were (`showChanges`); the device is read as it is then, like after telemetry.
    """
    before = {k: str(v) if isinstance(v, uuid.UUID | StrEnum) else v for k, v in change.before}
    doc = orjson.dumps({str(change.device_id): {"created": change.created, "before": before}}).decode()
    session.connection().execute(_INSERT, {"devices": doc, "created_at": clock.now()})


def _taken(session: Session) -> dict[uuid.UUID, Pending]:
    stmt = select(T).order_by(T.id).limit(BATCH)
    if is_postgres(session):
        stmt = stmt.with_for_update(skip_locked=True)
    rows = list(session.scalars(stmt))
    if rows:
        session.execute(delete(T).where(T.id.in_([r.id for r in rows])))
    out: dict[uuid.UUID, Pending] = {}
    for r in rows:  # oldest first: a field's first old value is what it was before the pass
        for device_id, what in orjson.loads(r.devices).items():
            p = out.setdefault(uuid.UUID(device_id), Pending())
            if isinstance(what, list):  # a telemetry batch's metric keys
                p.keys.update(what)
            else:  # a change through connect's actions
                p.created = p.created or bool(what.get("created"))
                for k, v in what.get("before", {}).items():
                    p.before.setdefault(k, v)
    return out


def _any_subscription(session: Session) -> bool:
    now = clock.now()
    return session.scalar(select(S.id).where(S.active.is_(True), or_(S.expires_at.is_(None), S.expires_at > now),
                                             S.next_periodic_at.is_(None)).limit(1)) is not None


def match(session: Session, row: ContextSubscription, ctx: LdContext, members: dict[str, Any],
          candidates: list[Changed]) -> list[Changed]:
    """What a subscription sees and keeps of these devices: visibility, then `q`, then `geoQ`."""
    from cityhub.context.query import _q_hits  # query builds on the store, which imports subscriptions

    owners = {c.org_id for c in candidates} - {row.org_id}
    grants = session.execute(select(ContextGrant.owner_org_id, ContextGrant.entity_type).where(
        ContextGrant.owner_org_id.in_(owners), or_(ContextGrant.grantee_org_id.is_(None),
                                                   ContextGrant.grantee_org_id == row.org_id))).all() if owners else []
    seen = [c for c in candidates if c.org_id == row.org_id or any(
        owner == c.org_id and (kind == "" or kind in c.types) for owner, kind in grants)]
    if seen and "q" in members:
        hits = _q_hits(session, members["q"], ctx, [c.attrs for c in seen])
        seen = [c for i, c in enumerate(seen) if i in hits]
    return geo_filter(members, ctx, seen)


def _change(session: Session, found: bridge.BridgedEntity, p: Pending, static: frozenset[str]) -> Changed | None:
    assert found.device_id is not None  # bridge.devices builds devices
    if p.created:  # entityCreated: every attribute is new
        return Changed(found.device_id, found.entity_id, found.org_id, found.types, found.attrs, found.created_at,
                       found.modified_at, None)
    touched = {bridge.type_iri(k) for k in p.keys} & found.attrs.keys()
    previous = found.attrs  # telemetry: the latest value is overwritten by ingest, no earlier one is kept
    if p.before:
        was = bridge.device_as_was(session, found.device_id, p.before)
        if was is not None:
            previous = {**{k: v for k, v in found.attrs.items() if k not in static}, **was}
            # the record-given attributes that differ: updated, created (an asset linked) or deleted (unlinked)
            touched |= {i for i in static if was.get(i) != found.attrs.get(i)}
    if not touched:
        return None
    return Changed(found.device_id, found.entity_id, found.org_id, found.types, found.attrs, found.created_at,
                   found.modified_at, frozenset(touched), previous=previous)


def run(session: Session) -> int:
    """One pass: match the queued device changes against change subscriptions; how many notifications queued."""
    changed = _taken(session)
    if not changed or not _any_subscription(session):
        return 0
    static = bridge.static_iris()
    changes = [c for found in bridge.devices(session, changed)
               if found.device_id is not None and (c := _change(session, found, changed[found.device_id], static))]
    return on_change(session, changes, match)
