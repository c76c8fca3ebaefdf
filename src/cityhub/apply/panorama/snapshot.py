"""The 全景 screen's stored figures: read by every request, rewritten by the worker, marked stale by the writes.

A request never computes the screen: it reads one row (`apply_panorama_snapshot`, key `city`). The worker
(`cityhub apply panorama-worker`, started by `make run`) rewrites the row every `REFRESH_S` seconds — the other
layers' figures (devices online, alarms, incidents, cloud cost) change without the cockpit knowing — and at once
when a write of the cockpit asks for it with `mark_stale` (a target's value, a report approved, a scenario, an
enterprise, a station, a link, a channel user, a data centre): `requested_at` later than the start of the last
reading makes the next pass read again, so a write that lands during a reading is never lost.

This module imports nothing of the cockpit but its model, so every service of it may call `mark_stale`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cityhub.apply.models import PanoramaSnapshot
from cityhub.kit import clock

KEY = "city"
REFRESH_S = 15.0  # the worker's period: the other layers' figures are at most this old (plus one reading)
CHECK_S = 1.0  # how often the worker looks for a write's request


def stored(session: Session) -> PanoramaSnapshot | None:
    """The last reading, or None when none was ever taken on this database."""
    return session.get(PanoramaSnapshot, KEY)


def store(session: Session, payload: dict[str, Any], started: datetime) -> PanoramaSnapshot:
    """Keep a reading that started at `started` (an upsert: two writers never collide on the key)."""
    dialect = session.get_bind().dialect.name
    ins: Any = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(PanoramaSnapshot)
    stmt = ins.values(key=KEY, payload=payload, computed_at=started, version=1).on_conflict_do_update(
        index_elements=[PanoramaSnapshot.key],
        set_={"payload": payload, "computed_at": started, "version": PanoramaSnapshot.version + 1})
    session.execute(stmt)
    session.expire_all()  # the identity map may hold the row as it was
    row = session.get(PanoramaSnapshot, KEY)
    assert row is not None  # just written
    return row


def mark_stale(session: Session) -> None:
    """In a write's transaction: the screen's figures changed, the worker reads them again on its next pass."""
    session.execute(update(PanoramaSnapshot).where(PanoramaSnapshot.key == KEY).values(requested_at=clock.now()))


def due(row: PanoramaSnapshot | None, now: datetime, every_s: float = REFRESH_S) -> bool:
    """Whether the worker must read again: never read, older than `every_s`, or asked for since the last start."""
    if row is None:
        return True
    if now - row.computed_at >= timedelta(seconds=every_s):
        return True
    return row.requested_at is not None and row.requested_at >= row.computed_at
