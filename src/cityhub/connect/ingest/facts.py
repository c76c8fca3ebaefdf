"""What ingest knows of devices: facts resolved once and cached per process (decision 0009's per-topic lookup).

Profile metric specs are pre-compiled to tuples; every device, profile or asset write in this process
invalidates the cache at once (`CACHE.invalidate()`), another process's within CACHE_TTL_S.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityhub.connect.models import (
    Asset,
    Device,
    DeviceProfile,
    DeviceStatus,
)

NUMBER, BOOLEAN, STRING = 0, 1, 2
_TYPE_CODES = {"number": NUMBER, "boolean": BOOLEAN, "string": STRING}

CACHE_TTL_S = 10.0  # another process's device change is seen within this long
FULL_RELOAD_S = 600.0  # reload everything this often even when the change token stayed the same
NEGATIVE_TTL_S = 2.0  # unknown ids are re-checked soon (a device may be registered right before it reports)


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """What ingest needs of a device, resolved once and cached."""

    device_id: uuid.UUID
    active: bool
    org_id: uuid.UUID
    profile_code: str
    metrics: dict[str, tuple[int, float | None, float | None]]  # key -> (type code, min, max)
    asset_path: tuple[uuid.UUID, ...]
    district_id: uuid.UUID | None
    lon: float | None
    lat: float | None


def change_token(session: Session) -> tuple[Any, ...]:
    """Count and latest change of devices, assets and profiles: equal tokens mean no fact ingest uses moved."""
    return tuple(tuple(r) for r in session.execute(
        select(func.count(), func.max(Device.updated_at)).select_from(Device)
        .union_all(select(func.count(), func.max(Asset.updated_at)).select_from(Asset),
                   select(func.count(), func.max(DeviceProfile.updated_at)).select_from(DeviceProfile))).all())


class DeviceCache:
    """Per-process device facts; writes in this process invalidate at once, other processes' within CACHE_TTL_S.

    Every CACHE_TTL_S the cache compares a change token (one small query, `change_token`) and forgets everything
    only when it moved, instead of expiring entries: reloading thousands of devices at once (with every asset's
    path) stalled ingest for a second each time the entries loaded together expired together. As a backstop
    against clock skew between writers (an update stamped earlier than the latest one), everything is reloaded
    every FULL_RELOAD_S anyway. Unknown ids are re-checked after NEGATIVE_TTL_S.
    """

    def __init__(self) -> None:
        self._items: dict[uuid.UUID, tuple[float, DeviceInfo | None]] = {}
        self._lock = threading.Lock()
        self._token: tuple[Any, ...] | None = None
        self._checked = -math.inf
        self._since = time.monotonic()

    def invalidate(self) -> None:
        """Forget everything (a device, profile or asset changed)."""
        with self._lock:
            self._items.clear()

    def _revalidate(self, session: Session, now: float) -> None:
        token = change_token(session)
        with self._lock:
            if token != self._token or now - self._since >= FULL_RELOAD_S:
                self._items.clear()
                self._since = now
            self._token, self._checked = token, now

    def get_many(self, session: Session, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, DeviceInfo | None]:
        """Facts of each id (None: unknown device), loading the missing ones in one query."""
        now = time.monotonic()
        if now - self._checked >= CACHE_TTL_S:
            self._revalidate(session, now)
        out: dict[uuid.UUID, DeviceInfo | None] = {}
        missing = []
        items = self._items
        for i in ids:
            hit = items.get(i)
            if hit is not None and hit[0] > now:
                out[i] = hit[1]
            else:
                missing.append(i)
        if missing:
            loaded = load_device_infos(session, missing)
            with self._lock:
                if len(items) > 200_000:
                    items.clear()
                for i in missing:
                    info = loaded.get(i)
                    items[i] = (math.inf if info else now + NEGATIVE_TTL_S, info)
                    out[i] = info
        return out


CACHE = DeviceCache()


def compile_metrics(metrics: Sequence[dict[str, Any]]) -> dict[str, tuple[int, float | None, float | None]]:
    """Profile metric specs as lookup tuples."""
    return {m["key"]: (_TYPE_CODES.get(m.get("type", "number"), NUMBER), m.get("min"), m.get("max"))
            for m in metrics}


def asset_paths(session: Session) -> dict[uuid.UUID, tuple[tuple[uuid.UUID, ...], uuid.UUID | None]]:
    """Every asset's path (itself, then ancestors) and its district (inherited from the nearest ancestor)."""
    rows = session.execute(select(Asset.id, Asset.parent_id, Asset.district_id)).all()
    parent = {r[0]: r[1] for r in rows}
    district = {r[0]: r[2] for r in rows}
    out: dict[uuid.UUID, tuple[tuple[uuid.UUID, ...], uuid.UUID | None]] = {}
    for aid in parent:
        path = [aid]
        seen = {aid}
        cur = parent[aid]
        while cur is not None and cur not in seen and cur in parent:
            path.append(cur)
            seen.add(cur)
            cur = parent[cur]
        dist = next((district[a] for a in path if district.get(a) is not None), None)
        out[aid] = (tuple(path), dist)
    return out


def load_device_infos(session: Session, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, DeviceInfo]:
    """Device facts for ids, straight from the database."""
    out: dict[uuid.UUID, DeviceInfo] = {}
    rows = session.execute(
        select(Device.id, Device.status, Device.org_id, Device.asset_id, Device.lon, Device.lat,
               DeviceProfile.code, DeviceProfile.metrics)
        .join(DeviceProfile, DeviceProfile.id == Device.profile_id)
        .where(Device.id.in_(list(ids)))).all()
    if not rows:
        return out
    paths = asset_paths(session) if any(r[3] for r in rows) else {}
    coords = {}
    if paths:
        coords = {a: (lon, lat) for a, lon, lat in session.execute(select(Asset.id, Asset.lon, Asset.lat)).all()}
    for did, status, org_id, asset_id, lon, lat, code, metrics in rows:
        path, dist = paths.get(asset_id, ((), None)) if asset_id else ((), None)
        if lon is None and asset_id in coords:
            lon, lat = coords[asset_id]
        out[did] = DeviceInfo(did, status == DeviceStatus.ACTIVE, org_id, code, compile_metrics(metrics or []),
                              path, dist, lon, lat)
    return out
