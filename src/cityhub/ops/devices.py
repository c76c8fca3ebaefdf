"""What ops needs of connect, and nothing else: the functions `docs/contracts.md` fixes ("connect → ops").

Every call to connect goes through here, so the contract ops depends on is visible in one place (and the
operations center still works, on published points only, in a build without the connect package).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterator, Sequence
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from cityhub.core.actor import Actor

if TYPE_CHECKING:
    from cityhub.connect.schemas import SeriesPoint  # annotations only: ops runs without connect too


@cache
def _connect() -> Any:
    try:
        from cityhub.connect import service
    except ImportError:  # pragma: no cover - a build without the connect layer
        return None
    return service


def available() -> bool:
    """True when the connect layer is installed."""
    return _connect() is not None


def device_refs(session: Session, *, profile_code: str | None = None, asset_id: uuid.UUID | None = None,
                device_id: uuid.UUID | None = None, district_id: uuid.UUID | None = None,
                org_ids: Collection[uuid.UUID] | None = None, status: str | None = "active") -> list[Any]:
    """Devices matching the filters (DeviceRef), or none without connect; `device_id` names one device."""
    c = _connect()
    if c is None:
        return []
    if device_id is not None:
        ref = c.device_ref(session, device_id)
        ok = ref is not None and (profile_code is None or ref.profile_code == profile_code) \
            and (asset_id is None or asset_id in ref.asset_path) and (org_ids is None or ref.org_id in org_ids) \
            and (status is None or ref.status == status) and (district_id is None or ref.district_id == district_id)
        return [ref] if ok else []
    return list(c.device_refs(session, profile_code=profile_code, asset_id=asset_id, district_id=district_id,
                              org_ids=org_ids, status=status))


def device_ref(session: Session, device_id: uuid.UUID) -> Any:
    """One device (DeviceRef) or None."""
    c = _connect()
    return c.device_ref(session, device_id) if c is not None else None


def visible_device_refs(session: Session, actor: Actor, *, district_id: uuid.UUID | None = None) -> list[Any]:
    """Devices the actor may see."""
    c = _connect()
    return list(c.visible_device_refs(session, actor, district_id=district_id)) if c is not None else []


def visible_asset(session: Session, actor: Actor, asset_id: uuid.UUID) -> Any:
    """One asset the actor may see (AssetRef); None when unknown, invisible, or without connect."""
    c = _connect()
    if c is None:
        return None
    c.asset_get(session, actor, asset_id)  # NotFound for unknown and invisible assets alike
    return c.asset_ref(session, asset_id)


def visible_device(session: Session, actor: Actor, device_id: uuid.UUID) -> Any:
    """One device the actor may see (DeviceRef); None when unknown, invisible, or without connect."""
    c = _connect()
    if c is None:
        return None
    c.device_get(session, actor, device_id)  # NotFound for unknown and invisible devices alike
    return c.device_ref(session, device_id)


def visible_asset_refs(session: Session, actor: Actor) -> list[Any]:
    """Assets the actor may see (AssetRef), by name; none without connect."""
    c = _connect()
    return list(c.visible_asset_refs(session, actor)) if c is not None else []


def profile_refs(session: Session) -> list[Any]:
    """Device profiles with their numeric metrics (ProfileRef); none without connect."""
    c = _connect()
    return list(c.profile_refs(session)) if c is not None else []


def asset_ref(session: Session, asset_id: uuid.UUID) -> Any:
    """One asset (AssetRef) or None."""
    c = _connect()
    return c.asset_ref(session, asset_id) if c is not None else None


def telemetry_points(session: Session, *, device_ids: Sequence[uuid.UUID], keys: Sequence[str] | None,
                     start: datetime, end: datetime) -> Iterator[SeriesPoint]:
    """Stored points with start <= ts < end, ordered by ts."""
    c = _connect()
    if c is None or not device_ids:
        return iter(())
    return iter(c.telemetry_points(session, device_ids=device_ids, keys=keys, start=start, end=end))


def latest_values(session: Session, device_ids: Sequence[uuid.UUID], keys: Sequence[str] | None = None
                  ) -> dict[uuid.UUID, dict[str, tuple[datetime, float | None, str | None]]]:
    """Latest value per device and key."""
    c = _connect()
    if c is None or not device_ids:
        return {}
    return dict(c.latest_values(session, device_ids, keys))


def telemetry_aggregate(session: Session, *, device_ids: Sequence[uuid.UUID], key: str, agg: str,
                        start: datetime, end: datetime) -> float | None:
    """avg|min|max|sum|count of a metric over devices and a time range."""
    c = _connect()
    if c is None or not device_ids:
        return None
    value = c.telemetry_aggregate(session, device_ids=device_ids, key=key, agg=agg, start=start, end=end)
    return float(value) if value is not None else None


def series_points(session: Session, rows: Sequence[tuple[uuid.UUID, str, datetime, float | None, str | None]]
                  ) -> list[SeriesPoint]:
    """Stored rows with their device context (SeriesPoint), or none without connect."""
    c = _connect()
    if c is None:
        return []
    return c.series_points(session, rows)  # type: ignore[no-any-return]  # connect's typed contract
