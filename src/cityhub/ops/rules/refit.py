"""The forecast rules' models, refitted on a schedule from stored telemetry (run by `cityhub ops worker`).

One model per (device, metric) series: every forecast rule watching the series gets the same fit in its state
(`ops_rule_state.data["model"]`), which the engine then advances point by point (`rules/forecast.py`). A series is
refitted when its model is older than `CITYHUB_OPS_FORECAST_REFIT_S` (or has none) from the last
`HISTORY_H` hours. A series that cannot be fitted (too few points) keeps no model — the rule never fires on it —
and says so: `data["model_error"]` on the state, and the rule's `errors`/`last_error`, shown in the rule list.
Nothing here commits.
"""

from __future__ import annotations

import time as time_mod
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cityhub.kit import clock
from cityhub.kit.settings import get_settings
from cityhub.ops import devices
from cityhub.ops.models import Rule, RuleKind, RuleState
from cityhub.ops.rules import forecast
from cityhub.ops.rules.engine import CompiledRule
from cityhub.ops.rules.service import rule_index
from cityhub.ops.rules.state import StateStore

HISTORY_H = 24  # the window a model is fitted on
CHECK_EVERY_S = 60.0  # how often the worker looks for models that are due (listing the series is not free)


@dataclass
class RefitResult:
    """What one pass did."""

    series: int = 0  # (device, metric) series fitted or attempted
    fitted: int = 0
    failed: int = 0
    states: int = 0  # rule states given the new model
    errors: dict[str, str] = field(default_factory=dict)  # "device:key" -> why it was not fitted


def _ctx(ref: Any) -> dict[str, Any]:
    return {"org": str(ref.org_id), "district": str(ref.district_id) if ref.district_id else None,
            "path": [str(a) for a in ref.asset_path], "lon": ref.lon, "lat": ref.lat, "profile": ref.profile_code,
            "name": ref.name}


def _selected(session: Session, rule: Any, reach: Any) -> list[Any]:
    """The devices whose series the rule forecasts: its one device, or its profile's below its asset, in reach."""
    return devices.device_refs(session, profile_code=rule.profile_code, asset_id=rule.asset_id,
                               device_id=rule.device_id, org_ids=reach)


_checked: dict[str, float] = {}


def forecast_refit(session: Session, now: datetime | None = None, *, force: bool = False) -> RefitResult:
    """Refit the models of the forecast rules' series that are due (all of them with `force`)."""
    out = RefitResult()
    now = now or clock.now()
    index = rule_index(session)
    rules = [r for r in index.rules.values() if r.kind == RuleKind.FORECAST]
    if not rules or not devices.available():
        return out
    key = str(session.get_bind().engine.url)
    if not force and time_mod.monotonic() - _checked.get(key, -1e18) < CHECK_EVERY_S:
        return out
    _checked[key] = time_mod.monotonic()
    every = timedelta(seconds=get_settings().ops_forecast_refit_s)
    pairs: list[tuple[CompiledRule, Any]] = []
    for rule in rules:
        pairs += [(rule, ref) for ref in _selected(session, rule, index.reach(rule.org_id))]
    if not pairs:
        return out
    fitted_at = {(r, d): (data or {}).get("model", {}).get("fitted_at") for r, d, data in session.execute(
        select(RuleState.rule_id, RuleState.device_id, RuleState.data).where(
            RuleState.rule_id.in_([r.id for r in rules])))}
    due = [(r, ref) for r, ref in pairs
           if force or not fitted_at.get((r.id, ref.device_id))
           or datetime.fromisoformat(str(fitted_at[(r.id, ref.device_id)])) <= now - every]
    if not due:
        return out
    store = StateStore(session)
    store.load((r.id, ref.device_id) for r, ref in due)  # locked on PostgreSQL first: no point slips in between
    series: dict[tuple[uuid.UUID, str], list[tuple[CompiledRule, Any]]] = defaultdict(list)
    for r, ref in due:
        series[(ref.device_id, r.key)].append((r, ref))
    history: dict[tuple[uuid.UUID, str], tuple[list[float], list[float]]] = {k: ([], []) for k in series}
    for p in devices.telemetry_points(session, device_ids=list({d for d, _k in series}),
                                      keys=sorted({k for _d, k in series}), start=now - timedelta(hours=HISTORY_H),
                                      end=now + timedelta(seconds=1)):
        h = history.get((p.device_id, p.key))
        if h is not None and p.value is not None:
            h[0].append(p.ts.timestamp())
            h[1].append(float(p.value))
    order = list(series)
    fits = forecast.fit_many([(np.asarray(history[k][0], dtype=float), np.asarray(history[k][1], dtype=float))
                              for k in order])
    failed: dict[uuid.UUID, str] = {}
    for k, fit in zip(order, fits, strict=True):
        out.series += 1
        if isinstance(fit, str):
            out.failed += 1
            out.errors[f"{k[0]}:{k[1]}"] = fit
        else:
            out.fitted += 1
        for rule, ref in series[k]:
            st = store.get(rule.id, ref.device_id)
            data = {kk: v for kk, v in st.data.items() if kk not in ("model", "model_error")}
            data["ctx"] = {**_ctx(ref), **(data.get("ctx") or {}), "name": ref.name}  # the name: for pages
            if isinstance(fit, str):
                data["model_error"] = {"reason": fit, "at": now.isoformat()}
                failed[rule.id] = f"forecast model for {ref.name}: {fit}"
            else:
                data["model"] = fit.as_data(now)
                if st.last_ts is None or st.last_ts.timestamp() < fit.ts:
                    st.last_ts = datetime.fromtimestamp(fit.ts, UTC)
                # the forecast as of the fitted state (the engine refreshes it with every point)
                data["forecast"] = forecast.forecast(data["model"], rule.op, rule.value, rule.horizon_s)
            st.data = data
            st.dirty = True
            out.states += 1
    store.flush()  # the rows were loaded locked: nothing can have moved
    for rule_id, reason in failed.items():
        session.execute(update(Rule).where(Rule.id == rule_id).values(
            errors=Rule.errors + 1, last_error=reason[:500], last_error_at=now))
    return out


def forecast_series(session: Session, rule: Rule, limit: int = 20) -> list[dict[str, Any]]:
    """The forecast rule's series as stored: model, latest forecast and its path with the 95 % band."""
    if rule.kind != RuleKind.FORECAST:
        return []
    horizon = float((rule.condition or {}).get("horizon_s") or 0)
    stmt = select(RuleState.device_id, RuleState.data, RuleState.active).where(RuleState.rule_id == rule.id)
    if rule.device_id is not None:  # a one-device rule forecasts that series only
        stmt = stmt.where(RuleState.device_id == rule.device_id)
    rows = session.execute(stmt.order_by(RuleState.device_id).limit(limit)).all()
    out = []
    for device_id, data, active in rows:
        data = data or {}
        model = data.get("model")
        out.append({"device_id": device_id, "name": (data.get("ctx") or {}).get("name") or "", "active": active,
                    "model": model, "forecast": data.get("forecast"), "error": data.get("model_error"),
                    "path": forecast.path(model, horizon) if model else []})
    return out




def forecast_coverage(session: Session, rule: Rule) -> dict[str, Any]:
    """What a forecast rule forecasts: its metric, the series it selects now, how many have a model, how many failed.

    The selection is the rule's own (one device, or its profile's devices below its asset, within its owner's
    reach), the same the refit fits — never every series of the metric.
    """
    if rule.kind != RuleKind.FORECAST:
        return {}
    selected = {r.device_id: r.name for r in _selected(session, rule, rule_index(session).reach(rule.org_id))}
    fitted = failed = 0
    for device_id, data in session.execute(select(RuleState.device_id, RuleState.data).where(
            RuleState.rule_id == rule.id)):
        if device_id in selected:
            fitted += 1 if (data or {}).get("model") else 0
            failed += 1 if (data or {}).get("model_error") else 0
    return {"key": rule.key, "series": len(selected), "fitted": fitted, "failed": failed,
            "waiting": len(selected) - fitted - failed, "names": sorted(selected.values())[:10]}
