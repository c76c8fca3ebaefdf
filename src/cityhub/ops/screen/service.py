"""The 大屏: everything the operations screen shows, in one snapshot.

The snapshot is also the body of the screen's server-sent events. Reads only, through the other capabilities'
visibility rules.
"""

from __future__ import annotations

import time as time_mod
import uuid
from collections import Counter as Tally
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityhub.core import service as core
from cityhub.core.actor import Actor
from cityhub.kit import clock, i18n
from cityhub.ops import devices, policies
from cityhub.ops.alarms.service import alarm_query, alarm_stats
from cityhub.ops.incidents.service import OPEN_INCIDENT, incident_query
from cityhub.ops.indicators.service import indicator_list, indicator_values
from cityhub.ops.models import Alarm, IncidentStatus, Rule, RuleKind, RuleState
from cityhub.ops.rules import forecast
from cityhub.ops.rules.editor import metrics
from cityhub.ops.schemas import unit_text

SCREEN_FORECASTS = 4  # forecast series drawn on the screen: the most urgent first
FORECAST_STATES = 500  # rule states read to choose them (the screen's snapshot stays a bounded read)
SPARK_KEYS = {"bridge-health": "strain", "pipe-gallery": "ch4", "traffic-flow": "flow", "air-noise": "pm25",
              "building-safety": "tilt"}


def dashboard_snapshot(session: Session, actor: Actor, district_id: uuid.UUID | None = None) -> dict[str, Any]:
    """Everything the 大屏 shows, filtered to a district when given."""
    started = time_mod.perf_counter()
    stats = alarm_stats(session, actor, district_id)
    active = list(session.scalars(alarm_query(actor, active=True, district_id=district_id)
                                  .order_by(Alarm.start_ts.desc()).limit(500)))
    names = core.organization_names(session)
    points = [{"id": str(a.id), "name": a.originator_name, "type": a.type, "severity": a.severity,
               "value": [a.lon, a.lat], "district": names.get(a.district_id, "") if a.district_id else ""}
              for a in active if a.lon is not None and a.lat is not None]
    recent = [{"id": str(a.id), "name": a.originator_name, "type": a.type, "severity": a.severity,
               "at": a.end_ts.isoformat(), "count": a.count, "ack": a.acknowledged} for a in active[:12]]
    refs = devices.visible_device_refs(session, actor, district_id=district_id)
    device_pts = [{"name": r.name, "value": [r.lon, r.lat], "profile": r.profile_code} for r in refs
                  if r.lon is not None and r.lat is not None][:3000]
    inc_base = incident_query(actor, district_id=district_id).subquery()
    funnel_rows: dict[str, int] = dict(session.execute(
        select(inc_base.c.status, func.count()).group_by(inc_base.c.status)).all())
    funnel = {s.value: int(funnel_rows.get(s.value, 0)) for s in IncidentStatus}
    breaches = session.scalar(select(func.count()).select_from(inc_base).where(
        inc_base.c.sla_breached.is_(True), inc_base.c.status.in_(OPEN_INCIDENT))) or 0
    open_n = sum(funnel[s.value] for s in OPEN_INCIDENT)
    indicators = []
    english = i18n.get_locale() != "zh_CN"
    for ind in indicator_list(session, actor)[:12]:
        series = indicator_values(session, actor, ind.id, start=clock.now() - timedelta(days=30), limit=60)
        name = ind.name_en if english and ind.name_en else ind.name
        indicators.append({"code": ind.code, "name": name, "unit": unit_text(ind.unit), "theme": ind.theme,
                           "value": ind.last_value, "target": ind.target, "warning": ind.warning,
                           "critical": ind.critical, "band": ind.band, "direction": ind.direction,
                           "trend": [[v.ts.isoformat(), v.value] for v in series]})
    sparklines = _sparklines(session, refs)
    forecasts, forecast_errors = _forecasts(session, actor, {r.device_id for r in refs} if district_id else None)
    district_names = {names.get(uuid.UUID(d), "") if d and d != "None" else "": n
                      for d, n in stats.by_district.items()}
    districts = [{"name": k, "value": v} for k, v in sorted(district_names.items(), key=lambda kv: -kv[1]) if k]
    return {"at": clock.now(), "district_id": district_id, "alarms": stats, "alarm_points": points,
            "devices": device_pts, "recent_alarms": recent, "funnel": funnel, "sla_breaches": int(breaches),
            "open_incidents": open_n, "indicators": indicators, "sparklines": sparklines, "districts": districts,
            "forecasts": forecasts, "forecast_errors": forecast_errors,
            "ms": round((time_mod.perf_counter() - started) * 1000, 1)}


def _forecasts(session: Session, actor: Actor, device_ids: set[uuid.UUID] | None
               ) -> tuple[list[dict[str, Any]], int]:
    """The active forecasts (预判预警): the most urgent series of the enabled forecast rules the actor sees.

    Urgency: an open alarm first, then a forecast that meets the threshold within the rule's horizon, then how close
    the forecast comes to it. Each with its path and 95 % band over the horizon, as a percentage of the threshold
    (rules of different units share one chart). Also how many series have no model (a fit that failed is an
    explicit error state operators see, never a silent gap).
    """
    stmt = select(Rule).where(Rule.kind == RuleKind.FORECAST, Rule.enabled.is_(True))
    if not policies.sees_all(actor):
        stmt = stmt.where(Rule.org_id.in_(policies.work_orgs(actor)))
    rules = {r.id: r for r in session.scalars(stmt.limit(200))}
    if not rules:
        return [], 0
    rows = session.execute(select(RuleState.rule_id, RuleState.device_id, RuleState.active, RuleState.data)
                           .where(RuleState.rule_id.in_(list(rules))).limit(FORECAST_STATES)).all()
    ranked, errors = [], 0
    for rule_id, device_id, active, data in rows:
        if device_ids is not None and device_id not in device_ids:
            continue
        if rules[rule_id].device_id is not None and device_id != rules[rule_id].device_id:
            continue  # a one-device rule forecasts that series only (a state left by an older refit is not shown)
        data = data or {}
        model = data.get("model")
        if not model:
            errors += 1 if data.get("model_error") else 0
            continue
        rule = rules[rule_id]
        cond = rule.condition or {}
        threshold, horizon = float(cond.get("value") or 0), float(cond.get("horizon_s") or 0)
        if not threshold or not horizon:
            continue
        fc = data.get("forecast") or forecast.forecast(model, str(cond.get("op") or ">"), threshold, horizon)
        upward = str(cond.get("op") or ">") in (">", ">=")
        meets = float(fc["value"]) >= threshold if upward else float(fc["value"]) <= threshold
        closeness = float(fc["value"]) / threshold if upward else threshold / max(float(fc["value"]), 1e-9)
        ranked.append(((not active, not meets, -closeness), rule, device_id, active, meets, model, fc, data))
    ranked.sort(key=lambda x: (x[0], str(x[2])))
    out = []
    for _key, rule, _dev, active, meets, model, fc, data in ranked[:SCREEN_FORECASTS]:
        threshold = float(rule.condition["value"])
        path = forecast.path(model, float(rule.condition["horizon_s"]))
        out.append({"rule": rule.name, "name": (data.get("ctx") or {}).get("name") or "", "key": rule.key,
                    "threshold": threshold, "active": bool(active), "meets": meets, "at": fc.get("at"),
                    "value": fc.get("value"),
                    "line": [[_iso(t), _pct(v, threshold)] for t, v, _lo, _hi in path],
                    "lower": [[_iso(t), _pct(lo, threshold)] for t, _v, lo, _hi in path],
                    "band": [[_iso(t), round(_pct(hi, threshold) - _pct(lo, threshold), 1)]
                             for t, _v, lo, hi in path]})
    return out, errors


def _pct(value: float, threshold: float) -> float:
    return round(value / threshold * 100, 1)


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat()


def _sparklines(session: Session, refs: Sequence[Any]) -> list[dict[str, Any]]:
    """The last hour of one metric for a few sensors of each demo profile."""
    chosen: list[Any] = []
    per_profile: Tally[str] = Tally()
    for r in refs:
        if r.profile_code in SPARK_KEYS and per_profile[r.profile_code] < 2:
            chosen.append(r)
            per_profile[r.profile_code] += 1
    if not chosen:
        return []
    end = clock.now()
    series: dict[tuple[uuid.UUID, str], list[list[Any]]] = {}
    keys = sorted({SPARK_KEYS[r.profile_code] for r in chosen})
    for p in devices.telemetry_points(session, device_ids=[r.device_id for r in chosen], keys=keys,
                                      start=end - timedelta(hours=1), end=end):
        if p.value is not None and SPARK_KEYS.get(p.profile_code) == p.key:
            series.setdefault((p.device_id, p.key), []).append([p.ts.isoformat(), round(p.value, 3)])
    out = []
    catalogue = metrics(session)
    for r in chosen:
        key = SPARK_KEYS[r.profile_code]
        data = series.get((r.device_id, key), [])
        metric = catalogue.get(r.profile_code, {}).get(key)
        out.append({"device": r.name, "key": key, "profile": r.profile_code, "data": data[-120:],
                    "metric": metric.name if metric else key, "unit": metric.unit if metric else ""})
    return out
