"""Helpers for ops tests: publish crafted SeriesPoints through kit.events as connect would, build rules."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from cityhub.connect.schemas import TELEMETRY_STORED, SeriesPoint
from cityhub.kit import clock, events
from cityhub.ops import service as ops
from cityhub.ops.schemas import RuleCreate

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
PROFILE = "bridge-health"


class Series:
    """One simulated device of the test world: publishes its points the way connect's ingest does."""

    def __init__(self, w: Any, org: str = "dept_a", district: str | None = "district", profile: str = PROFILE,
                 asset_path: tuple[uuid.UUID, ...] = ()) -> None:
        self.w = w
        self.device_id = uuid.uuid4()
        self.org_id = w.orgs[org].id
        self.district_id = w.orgs[district].id if district else None
        self.profile = profile
        self.asset_path = asset_path

    def point(self, ts: datetime, value: float | None, key: str = "strain") -> SeriesPoint:
        return SeriesPoint(device_id=self.device_id, key=key, ts=ts, value=value, text=None,
                                  org_id=self.org_id, profile_code=self.profile, asset_path=self.asset_path,
                                  district_id=self.district_id, lon=106.55, lat=29.56)

    def send(self, session: Session, *values: tuple[float, float | None], key: str = "strain") -> int:
        """Publish points given as (minutes after T0, value) in one batch; returns handlers that succeeded."""
        pts = [self.point(T0 + timedelta(minutes=m), v, key) for m, v in values]
        return events.publish(session, TELEMETRY_STORED, pts)


def rule(w: Any, session: Session, who: str = "operator", **kw: Any) -> Any:
    data = {"name": kw.pop("name", f"rule-{uuid.uuid4().hex[:6]}"), "kind": kw.pop("kind", "threshold"),
            "profile_code": kw.pop("profile_code", PROFILE), "key": kw.pop("key", "strain"),
            "org_id": kw.pop("org_id", w.orgs["dept_a"].id), **kw}
    return ops.rule_create(session, w.actors[who], RuleCreate(**data))


def open_alarms(session: Session, device_id: uuid.UUID) -> list[Any]:
    from sqlalchemy import select

    from cityhub.ops.models import Alarm

    return list(session.scalars(select(Alarm).where(Alarm.originator_id == device_id, Alarm.cleared.is_(False))))


def all_alarms(session: Session, device_id: uuid.UUID) -> list[Any]:
    from sqlalchemy import select

    from cityhub.ops.models import Alarm

    return list(session.scalars(select(Alarm).where(Alarm.originator_id == device_id).order_by(Alarm.start_ts)))


def at(minutes: float) -> datetime:
    clock.set_now(T0 + timedelta(minutes=minutes))
    return clock.now()
