"""City indicators: definitions and bands, recorded and computed values.

Values come by hand or from a datastore job, or as telemetry aggregates the worker computes when due; a band change
raises, re-grades or clears the indicator's alarm. Nothing here commits.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from cityhub.core import service as core
from cityhub.core.actor import Actor
from cityhub.kit import clock
from cityhub.kit.db import get_or_404
from cityhub.kit.errors import Conflict, ValidationFailed
from cityhub.kit.i18n import gettext as _
from cityhub.ops import devices, policies
from cityhub.ops.alarms.service import alarm_clear_by_rule, alarm_raise
from cityhub.ops.common import ENGINE_ACTOR, home_org, org_exists
from cityhub.ops.models import Indicator, IndicatorValue, Severity
from cityhub.ops.schemas import IndicatorCreate, IndicatorUpdate


def _visible_indicator(session: Session, actor: Actor, indicator_id: uuid.UUID) -> Indicator:
    policies.read(actor)
    ind = get_or_404(session, Indicator, indicator_id, "Indicator")
    return ind


def _check_indicator_source(session: Session, source: str, cfg: dict[str, Any]) -> None:
    if source == "telemetry":
        for key in ("profile_code", "key"):
            if not isinstance(cfg.get(key), str) or not cfg.get(key):
                raise ValidationFailed(_("A telemetry indicator names the profile and the metric"),
                                       field=f"source_config.{key}")
        if cfg.get("agg", "avg") not in ("avg", "min", "max", "sum", "count"):
            raise ValidationFailed(_("agg is one of avg, min, max, sum, count"), field="source_config.agg")
        window = cfg.get("window_s", 3600)
        if not isinstance(window, int) or not 60 <= window <= 31 * 86400:
            raise ValidationFailed(_("window_s is between 60 s and 31 days"), field="source_config.window_s")


def _check_bands(direction: str, target: float | None, warning: float | None, critical: float | None) -> None:
    if warning is not None and critical is not None:
        ok = critical >= warning if direction == "lower" else critical <= warning
        if not ok:
            raise ValidationFailed(_("The critical band lies beyond the warning band"), field="critical")


def indicator_create(session: Session, actor: Actor, data: IndicatorCreate) -> Indicator:
    """Register an indicator."""
    org_id = data.org_id or home_org(actor)
    org_exists(session, org_id, "org_id")
    policies.indicator_write(actor, org_id)
    if session.scalar(select(Indicator.id).where(Indicator.code == data.code)):
        raise Conflict(_("An indicator with this code exists"), details={"field": "code"})
    _check_indicator_source(session, data.source.value, data.source_config)
    _check_bands(data.direction, data.target, data.warning, data.critical)
    ind = Indicator(**{**data.model_dump(), "org_id": org_id, "theme": data.theme.value,
                       "source": data.source.value}, next_due_at=clock.now())
    session.add(ind)
    session.flush()
    core.audit_record(session, actor, "indicator_create", target_type="ops_indicator", target_id=ind.id,
                      org_id=org_id, after=core.snapshot(ind, ("code", "name", "source", "target", "warning",
                                                     "critical")))
    return ind


def indicator_update(session: Session, actor: Actor, indicator_id: uuid.UUID, data: IndicatorUpdate) -> Indicator:
    """Change an indicator's definition or bands."""
    ind = _visible_indicator(session, actor, indicator_id)
    policies.indicator_write(actor, ind.org_id)
    fields = ("name", "definition", "frequency_s", "target", "warning", "critical")
    before = core.snapshot(ind, fields)
    changes = data.model_dump(exclude_unset=True)
    _check_bands(ind.direction, changes.get("target", ind.target), changes.get("warning", ind.warning),
                 changes.get("critical", ind.critical))
    for k, v in changes.items():
        if v is not None or k in ("target", "warning", "critical"):
            setattr(ind, k, v)
    session.flush()
    core.audit_record(session, actor, "indicator_update", target_type="ops_indicator", target_id=ind.id,
                      org_id=ind.org_id, before=before, after=core.snapshot(ind, fields))
    return ind


def indicator_list(session: Session, actor: Actor, theme: str | None = None) -> list[Indicator]:
    """Every indicator (the city's indicators are visible to all staff)."""
    policies.read(actor)
    stmt = select(Indicator).order_by(Indicator.theme, Indicator.code)
    if theme:
        stmt = stmt.where(Indicator.theme == theme)
    return list(session.scalars(stmt))


def indicator_get(session: Session, actor: Actor, indicator_id: uuid.UUID) -> Indicator:
    """One indicator."""
    return _visible_indicator(session, actor, indicator_id)


def indicator_values(session: Session, actor: Actor, indicator_id: uuid.UUID, start: datetime | None = None,
                     end: datetime | None = None, limit: int = 1000) -> list[IndicatorValue]:
    """An indicator's series, oldest first."""
    ind = _visible_indicator(session, actor, indicator_id)
    stmt = select(IndicatorValue).where(IndicatorValue.indicator_id == ind.id)
    start = clock.as_utc(start) if start else None  # a time without zone in a query string is taken as UTC
    end = clock.as_utc(end) if end else None
    if start:
        stmt = stmt.where(IndicatorValue.ts >= start)
    if end:
        stmt = stmt.where(IndicatorValue.ts < end)
    rows = list(session.scalars(stmt.order_by(IndicatorValue.ts.desc()).limit(limit)))
    return rows[::-1]


def band_of(ind: Indicator, value: float) -> str:
    """'' (normal), 'warning' or 'critical' for a value of this indicator."""
    lower = ind.direction == "lower"

    def worse(edge: float) -> bool:
        return value >= edge if lower else value <= edge

    if ind.critical is not None and worse(ind.critical):
        return "critical"
    if ind.warning is not None and worse(ind.warning):
        return "warning"
    return ""


def _record_value(session: Session, actor: Actor, ind: Indicator, value: float, ts: datetime, source: str
                  ) -> IndicatorValue:
    existing = session.scalar(select(IndicatorValue).where(IndicatorValue.indicator_id == ind.id,
                                                           IndicatorValue.ts == ts))
    if existing is not None:
        existing.value, existing.source = value, source
        row = existing
    else:
        row = IndicatorValue(indicator_id=ind.id, ts=ts, value=value, source=source)
        session.add(row)
    if ind.last_ts is None or ts >= clock.as_utc(ind.last_ts):
        ind.last_value, ind.last_ts = value, ts
        band = band_of(ind, value)
        if band != ind.band:
            _indicator_breach(session, actor, ind, band, value, ts)
            ind.band = band
    session.flush()
    return row


def _indicator_breach(session: Session, actor: Actor, ind: Indicator, band: str, value: float, ts: datetime) -> None:
    """A band change opens, re-grades or clears the indicator's alarm like any other rule."""
    alarm_type = "indicator_breach"
    if band:
        severity = Severity.CRITICAL.value if band == "critical" else Severity.WARNING.value
        alarm_raise(session, ENGINE_ACTOR, originator_type="indicator", originator_id=ind.id, alarm_type=alarm_type,
                    severity=severity, details={"indicator": ind.code, "value": value, "band": band,
                                                "warning": ind.warning, "critical": ind.critical},
                    org_id=ind.org_id, name=ind.name, at=ts)
    else:
        alarm_clear_by_rule(session, ind.id, alarm_type, ts, {"value": value})


def indicator_value_record(session: Session, actor: Actor, indicator_id: uuid.UUID, value: float,
                           ts: datetime | None = None, source: str = "manual") -> IndicatorValue:
    """Record a value (manual entry or a datastore job); a band breach raises the indicator's alarm."""
    ind = _visible_indicator(session, actor, indicator_id)
    policies.indicator_write(actor, ind.org_id)
    ts = ts or clock.now()
    if ts.tzinfo is None:
        raise ValidationFailed(_("Give the time with a time zone"), field="ts")
    if ts > clock.now() + timedelta(days=1):
        raise ValidationFailed(_("The time lies in the future"), field="ts")
    row = _record_value(session, actor, ind, value, ts, source)
    core.audit_record(session, actor, "indicator_value_record", target_type="ops_indicator", target_id=ind.id,
                      org_id=ind.org_id, after={"value": value, "ts": ts, "source": source})
    return row


def indicators_compute(session: Session, now: datetime | None = None) -> int:
    """Compute telemetry indicators that are due (an aggregate over the devices of a profile)."""
    now = now or clock.now()
    done = 0
    stmt = select(Indicator).where(Indicator.source == "telemetry", or_(Indicator.next_due_at.is_(None),
                                                                         Indicator.next_due_at <= now))
    for ind in session.scalars(stmt).all():
        cfg = ind.source_config or {}
        refs = devices.device_refs(session, profile_code=cfg.get("profile_code"))
        window = timedelta(seconds=int(cfg.get("window_s", 3600)))
        value = devices.telemetry_aggregate(session, device_ids=[r.device_id for r in refs], key=str(cfg.get("key")),
                                            agg=str(cfg.get("agg", "avg")), start=now - window, end=now)
        ind.next_due_at = now + timedelta(seconds=ind.frequency_s)
        if value is not None:
            _record_value(session, ENGINE_ACTOR, ind, round(value, 4), now.replace(microsecond=0), "telemetry")
            done += 1
    session.flush()
    return done
