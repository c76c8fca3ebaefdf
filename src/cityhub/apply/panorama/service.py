"""The 全景 screen's figures from the layers (云 联 数 算 一网统管): one city-wide reading of each, through the façades.

Like the progress sources, every figure is a **city-wide count** read as the platform itself (`Actor.system`): the
screen shows the city's programme to every member of staff and no unit's rows — the one per-district figure is the
5G register's density (a public infrastructure count). The caller's own permission (`apply.read`) is checked by
`apply.service.panorama`, which adds the cockpit's own figures (targets, scenarios, enterprises).

Each layer is read independently: a layer that fails (a module not configured, a table empty on a fresh install)
shows as unavailable (`None`) and the screen still answers — the failure is logged, never a 500.

**Never read on a request.** At the issue's scale (100,000 devices and incidents) reading every layer takes about
a second; the worker reads them and keeps the result (`snapshot.py`); a request reads that row only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from cityhub.apply.facilities import service as facilities
from cityhub.apply.stations import service as stations
from cityhub.cloud import service as cloud
from cityhub.compute import service as compute
from cityhub.connect import service as connect
from cityhub.core.actor import Actor
from cityhub.data import service as data
from cityhub.kit import clock
from cityhub.kit.pagination import PageParams
from cityhub.ops import service as ops

log = logging.getLogger(__name__)
_ACTOR = Actor.system("apply-panorama")
_ONE = PageParams(limit=1, offset=0)


def _cloud(session: Session) -> dict[str, Any]:
    city, units = cloud.ratios(session, _ACTOR)
    ov = cloud.overview(session, _ACTOR)
    month = clock.now().strftime("%Y-%m")
    bill = cloud.chargeback(session, _ACTOR, month)
    return {"systems": city.systems if city else 0, "on_cloud": city.on_cloud_ratio if city else 0.0,
            "integration": city.integration_ratio if city else 0.0,
            "integration_city": _level(units, "city"), "integration_district": _level(units, "district"),
            "vcpus_total": ov["vcpus_total"], "vcpus_used": ov["vcpus_used"], "pools": ov["pools"],
            "month": month, "cost": round(sum(b.amount for b in bill), 2)}


def _level(units: list[Any], level: str) -> float | None:
    """整合率 of the level's units (None when they have no systems: nothing to integrate is not 0 %)."""
    n = sum(u.systems for u in units if u.level == level)
    return round(sum(u.integrated for u in units if u.level == level) / n, 4) if n else None


def _connect(session: Session) -> dict[str, Any]:
    ov = connect.overview(session, _ACTOR)
    density = stations.density(session, _ACTOR)
    links = stations.link_totals(session)
    fac = facilities.totals(session)
    return {"devices": ov["total"], "devices_online": ov["by_status"].get("active", 0),
            "stations_active": sum(d.active for d in density),
            "districts": [{"name": d.name, "value": d.active} for d in density],
            "backbone_egress_tbps": links["backbone_egress_tbps"], "direct_cities": links["direct_cities"],
            "channel_users": fac.channel_users_active, "liangjiang_servers": fac.liangjiang_servers}


def _data(session: Session) -> dict[str, Any]:
    return dict(data.programme_counts(session))


def _compute(session: Session) -> dict[str, Any]:
    items, published = compute.component_list(session, _ACTOR, PageParams(limit=500, offset=0), status="published")
    names = {c.code: (c.name_zh, c.name_en or c.name_zh) for c in items}  # names, not codes, in both languages
    since = clock.now() - timedelta(days=30)
    calls: dict[str, int] = {}
    for row in compute.usage_report(session, _ACTOR, since=since):
        calls[row.component_code] = calls.get(row.component_code, 0) + row.calls
    top = sorted(calls.items(), key=lambda kv: -kv[1])[:6]
    return {"components": published, "calls_30d": sum(calls.values()),
            "top": [{"name": names.get(k, (k, k))[0], "name_en": names.get(k, (k, k))[1], "value": v}
                    for k, v in top]}


def _ops(session: Session) -> dict[str, Any]:
    stats = ops.alarm_stats(session, _ACTOR)
    open_ = ops.incident_list(session, _ACTOR, _ONE, open_only=True)[1]
    closed = ops.incident_list(session, _ACTOR, _ONE, status="closed")[1]
    kept = ops.incident_list(session, _ACTOR, _ONE, status="closed", breached=False)[1]
    return {"alarms": stats.total_active, "unacknowledged": stats.unacknowledged,
            "by_severity": stats.by_severity, "incidents_open": open_, "incidents_closed": closed,
            "within_sla": round(kept / closed, 4) if closed else None}


LAYERS: dict[str, Callable[[Session], dict[str, Any]]] = {
    "cloud": _cloud, "connect": _connect, "data": _data, "compute": _compute, "ops": _ops}


def read_layers(session: Session) -> dict[str, Any]:
    """Read every layer now."""
    out: dict[str, Any] = {}
    for key, read in LAYERS.items():
        try:
            with session.begin_nested():
                out[key] = read(session)
        except Exception:  # one layer's failure must not blank the screen: logged, shown as unavailable
            log.exception("panorama: the %s layer could not be read", key)
            out[key] = None
    out["at"] = datetime.isoformat(clock.now())
    return out
