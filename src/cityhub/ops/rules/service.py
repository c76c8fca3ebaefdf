"""Rules as data: definitions, visibility, the 24-hour preview, and the compiled rule set.

A definition is validated as a whole (422 naming the field) before anything is saved; each process caches the
compiled rule set (`rule_index`) and reloads it when the rule-set token changes. Nothing here commits.
"""

from __future__ import annotations

import time as time_mod
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from cityhub.core import service as core
from cityhub.core.actor import Actor
from cityhub.kit import clock
from cityhub.kit.db import get_or_404
from cityhub.kit.errors import NotFound, ValidationFailed
from cityhub.kit.i18n import gettext as _
from cityhub.kit.pagination import PageParams, paginate
from cityhub.kit.refs import reference
from cityhub.ops import devices, policies
from cityhub.ops.common import home_org, org_exists
from cityhub.ops.models import Alarm, EngineMeta, Rule, RuleKind, RuleState, RuleVersion
from cityhub.ops.rules import engine, forecast
from cityhub.ops.rules.engine import Action, CompiledRule, RuleIndex, SeriesState
from cityhub.ops.rules.state import new_version
from cityhub.ops.schemas import PreviewFiring, RuleCreate, RulePreview, RuleUpdate

RULE_OPS = tuple(engine.OPS)


def _validate_scope(data: RuleCreate | Rule) -> None:
    """What a rule watches: a device profile, an asset or one device (not a device and an asset)."""
    if not data.profile_code and not data.asset_id and not data.device_id:
        raise ValidationFailed(_("A rule applies to a device profile, an asset or one device"), field="profile_code")
    if data.device_id and data.asset_id:
        raise ValidationFailed(_("A rule watches one device or an asset, not both"), field="device_id")


def _validate_rule(data: RuleCreate | Rule, condition: dict[str, Any] | None, clear: dict[str, Any] | None) -> None:
    kind = data.kind
    _validate_scope(data)
    if kind != RuleKind.NO_DATA and not data.key:
        raise ValidationFailed(_("Name the metric key the rule watches"), field="key")
    if kind in (RuleKind.THRESHOLD, RuleKind.RATE):
        if condition is None or "value" not in condition:
            raise ValidationFailed(_("A threshold or rate rule needs a condition"), field="condition")
        if condition.get("op") not in engine.OPS:
            raise ValidationFailed(_("Unknown comparison operator"), field="condition.op")
    if kind == RuleKind.FORECAST:
        _validate_forecast(condition)
    if kind == RuleKind.ANOMALY and (condition is None or condition.get("z") is None):
        raise ValidationFailed(_("An anomaly rule needs condition.z (the z-score that fires)"), field="condition.z")
    if kind == RuleKind.NO_DATA and not data.no_data_s:
        raise ValidationFailed(_("A no-data rule needs no_data_s (seconds of silence)"), field="no_data_s")
    if kind == RuleKind.NO_DATA and (data.duration_s or data.repeat_count > 1):
        raise ValidationFailed(_("A no-data rule has no duration or repeat count"), field="duration_s")
    if clear is not None:
        if clear.get("op") not in engine.OPS:
            raise ValidationFailed(_("Unknown comparison operator"), field="clear_condition.op")
        if kind == RuleKind.NO_DATA:
            raise ValidationFailed(_("A no-data rule clears when data arrives"), field="clear_condition")
        if kind == RuleKind.ANOMALY and condition and float(clear["value"]) > float(condition.get("z") or 0):
            raise ValidationFailed(_("The clear z-score must not exceed the firing one"),
                                   field="clear_condition.value")
        if kind in (RuleKind.THRESHOLD, RuleKind.RATE, RuleKind.FORECAST) and condition is not None \
                and "value" in condition and _overlap(condition, clear):
            # a value that both fires and clears would make the alarm flap on every point
            raise ValidationFailed(_("The clear condition overlaps the firing condition"), field="clear_condition")


def _validate_forecast(condition: dict[str, Any] | None) -> None:
    if condition is None or "value" not in condition:
        raise ValidationFailed(_("A forecast rule needs a condition"), field="condition.value")
    if condition.get("op") not in forecast.FORECAST_OPS:
        raise ValidationFailed(_("A forecast rule compares with >, >=, < or <="), field="condition.op")
    if not condition.get("horizon_s"):
        raise ValidationFailed(_("A forecast rule needs condition.horizon_s (how far ahead it looks)"),
                               field="condition.horizon_s")


def _overlap(condition: dict[str, Any], clear: dict[str, Any]) -> bool:
    """Is there a value that both fires and clears? (the regions are intervals: probe around their edges)."""
    a, b = float(condition["value"]), float(clear["value"])
    eps = max(abs(a), abs(b), 1.0) * 1e-9
    probes = {x + d for x in (a, b, (a + b) / 2, -a, -b) for d in (-eps, 0.0, eps)}
    fire, clr = engine.OPS[condition["op"]], engine.OPS[clear["op"]]
    return any(fire(x, a) and clr(x, b) for x in probes)


def _condition_dict(kind: str, cond: Any) -> dict[str, Any] | None:
    if cond is None:
        return None
    d = cond.model_dump(exclude_none=True)
    if kind == RuleKind.ANOMALY:
        d.pop("op", None)
        d.pop("value", None)
        d.setdefault("alpha", 0.05)
        d.setdefault("min_samples", 30)
    elif kind == RuleKind.FORECAST:
        d = {k: v for k, v in d.items() if k in ("op", "value", "horizon_s")}
    else:
        d.pop("horizon_s", None)
    return dict(d)


def _touch_rules(session: Session) -> None:
    """A rule changed: give the rule set a new token so every process reloads its cache."""
    token = uuid.uuid4().hex
    _rule_cache.clear()  # this process sees its own change at once
    row = session.get(EngineMeta, 1)
    if row is None:
        session.add(EngineMeta(id=1, rules_token=token, updated_at=clock.now()))
    else:
        row.rules_token = token
        row.updated_at = clock.now()
    session.flush()


def _rule_owner(session: Session, actor: Actor, data: RuleCreate) -> tuple[uuid.UUID, str | None]:
    """The owner of a new rule and its profile; its asset or device each checked as a reference the actor may use.

    The owner: an existing unit the actor writes rules for. The asset or device: one the actor may see (else 422,
    as if unknown), whose unit the actor writes rules for (else 403), inside the owner's subtree (the rule's reach).
    A rule on one device takes the device's profile (naming another profile is a 422 on `profile_code`).
    """
    org_id = data.org_id or home_org(actor)
    org_exists(session, org_id, "org_id")
    policies.rule_create(actor, org_id)
    asset_id = data.asset_id
    if asset_id is not None and devices.available():
        asset = reference("asset_id", lambda: devices.visible_asset(session, actor, asset_id), _("Unknown asset"))
        policies.rule_create(actor, asset.org_id)
        if asset.org_id not in core.org_subtree(session, org_id):
            raise ValidationFailed(_("The asset belongs to another unit than the rule's owner"), field="asset_id")
    profile_code = data.profile_code
    device_id = data.device_id
    if device_id is not None and devices.available():
        device = reference("device_id", lambda: devices.visible_device(session, actor, device_id),
                           _("Unknown device"))
        policies.rule_create(actor, device.org_id)
        if device.org_id not in core.org_subtree(session, org_id):
            raise ValidationFailed(_("The device belongs to another unit than the rule's owner"), field="device_id")
        if profile_code and profile_code != device.profile_code:
            raise ValidationFailed(_("The device is not of the rule's device profile"), field="profile_code")
        profile_code = device.profile_code
    return org_id, profile_code


DEFINITION = ("name", "severity", "condition", "clear_condition", "duration_s", "repeat_count", "no_data_s",
              "auto_incident", "category")  # what a version keeps (kind, what it watches and the owner never change)


def _save_version(session: Session, actor: Actor, rule: Rule) -> RuleVersion:
    """Keep the rule's current definition as its next version."""
    last = session.scalar(select(func.max(RuleVersion.number)).where(RuleVersion.rule_id == rule.id)) or 0
    version = RuleVersion(rule_id=rule.id, number=last + 1, at=clock.now(), actor_name=actor.username[:100],
                          definition={f: getattr(rule, f) for f in DEFINITION})
    session.add(version)
    session.flush()
    return version


def rule_versions(session: Session, actor: Actor, rule_id: uuid.UUID) -> list[RuleVersion]:
    """The saved definitions of a rule the actor may see, newest first."""
    _visible_rule(session, actor, rule_id)
    return list(session.scalars(select(RuleVersion).where(RuleVersion.rule_id == rule_id)
                                .order_by(RuleVersion.number.desc())))


def rule_create(session: Session, actor: Actor, data: RuleCreate) -> Rule:
    """Define a rule; invalid definitions are refused naming the field before anything is saved."""
    org_id, profile_code = _rule_owner(session, actor, data)
    condition = _condition_dict(data.kind, data.condition)
    clear = data.clear_condition.model_dump() if data.clear_condition else None
    if data.kind == RuleKind.ANOMALY and data.condition is not None and data.condition.z is None:
        raise ValidationFailed(_("An anomaly rule needs condition.z (the z-score that fires)"), field="condition.z")
    _validate_rule(data, condition, clear)
    rule = Rule(org_id=org_id, name=data.name, kind=data.kind.value, profile_code=profile_code,
                asset_id=data.asset_id, device_id=data.device_id,
                key=data.key if data.kind != RuleKind.NO_DATA else (data.key or "*"),
                alarm_type=data.alarm_type or data.name, severity=data.severity.value, condition=condition or {},
                clear_condition=clear, duration_s=data.duration_s, repeat_count=data.repeat_count,
                no_data_s=data.no_data_s, auto_incident=data.auto_incident, category=data.category,
                enabled=data.enabled)
    session.add(rule)
    session.flush()
    _save_version(session, actor, rule)
    _touch_rules(session)
    core.audit_record(session, actor, "rule_create", target_type="ops_rule", target_id=rule.id, org_id=org_id,
                      after=core.snapshot(rule, ("name", "kind", "profile_code", "asset_id", "device_id", "key",
                                                 "severity", "condition", "duration_s", "repeat_count", "no_data_s")))
    return rule


def _visible_rule(session: Session, actor: Actor, rule_id: uuid.UUID) -> Rule:
    rule = get_or_404(session, Rule, rule_id, "Rule")
    if not policies.visible(actor, rule.org_id):
        raise NotFound(_("Rule not found"), details={"id": str(rule_id)})
    return rule


def rule_get(session: Session, actor: Actor, rule_id: uuid.UUID) -> Rule:
    """One rule the actor may see."""
    return _visible_rule(session, actor, rule_id)


def rule_list(session: Session, actor: Actor, page: PageParams, *, profile_code: str | None = None,
              enabled: bool | None = None, device_id: uuid.UUID | None = None) -> tuple[list[Rule], int]:
    """Rules the actor may see; `device_id` keeps the rules scoped to that one device."""
    policies.read(actor)
    stmt = select(Rule)
    if not policies.sees_all(actor):
        stmt = stmt.where(Rule.org_id.in_(policies.work_orgs(actor)))
    if profile_code:
        stmt = stmt.where(Rule.profile_code == profile_code)
    if enabled is not None:
        stmt = stmt.where(Rule.enabled == enabled)
    if device_id is not None:
        stmt = stmt.where(Rule.device_id == device_id)
    return paginate(session, stmt.order_by(Rule.created_at.desc(), Rule.id), page)


_UPDATABLE = ("name", "severity", "condition", "clear_condition", "duration_s", "repeat_count", "no_data_s",
              "auto_incident", "category", "enabled")


def rule_update(session: Session, actor: Actor, rule_id: uuid.UUID, data: RuleUpdate) -> Rule:
    """Change a rule (validated as a whole before it is saved); its series state restarts."""
    rule = _visible_rule(session, actor, rule_id)
    policies.rule_update(actor, rule.org_id)
    changes = data.model_dump(exclude_unset=True)
    condition = _condition_dict(rule.kind, data.condition) if "condition" in changes else rule.condition
    clear = (data.clear_condition.model_dump() if data.clear_condition else None) if "clear_condition" in changes \
        else rule.clear_condition
    probe = RuleCreate.model_construct(
        kind=RuleKind(rule.kind), profile_code=rule.profile_code, asset_id=rule.asset_id, device_id=rule.device_id,
        key=rule.key,
        duration_s=changes.get("duration_s", rule.duration_s), repeat_count=changes.get("repeat_count",
                                                                                        rule.repeat_count),
        no_data_s=changes.get("no_data_s", rule.no_data_s))
    _validate_rule(probe, condition, clear)
    with core.audited(session, actor, "rule_update", rule, _UPDATABLE, target_type="ops_rule", org_id=rule.org_id):
        for k, v in changes.items():
            if k == "condition":
                rule.condition = condition or {}
            elif k == "clear_condition":
                rule.clear_condition = clear
            elif k == "severity":
                rule.severity = str(v)
            elif v is not None:
                setattr(rule, k, v)
        session.flush()
        last = session.scalar(select(RuleVersion.definition).where(RuleVersion.rule_id == rule.id)
                              .order_by(RuleVersion.number.desc()).limit(1))
        if last != {f: getattr(rule, f) for f in DEFINITION}:
            _save_version(session, actor, rule)  # enabling or disabling is not a new definition
        if any(k in changes for k in ("condition", "clear_condition", "duration_s", "repeat_count", "no_data_s")):
            # Pending timers and counters meant the old definition; open alarms stay open until they clear.
            session.execute(update(RuleState).where(RuleState.rule_id == rule.id).values(
                pending_since=None, count=0, due_at=None, version=new_version()))
        _touch_rules(session)
    return rule


def rule_delete(session: Session, actor: Actor, rule_id: uuid.UUID) -> None:
    """Delete a rule and its series state (its alarms stay, without the link)."""
    rule = _visible_rule(session, actor, rule_id)
    policies.rule_delete(actor, rule.org_id)
    core.audit_record(session, actor, "rule_delete", target_type="ops_rule", target_id=rule.id, org_id=rule.org_id,
                      before=core.snapshot(rule, ("name", "kind", "profile_code", "key")))
    session.execute(delete(RuleState).where(RuleState.rule_id == rule.id))
    session.execute(update(Alarm).where(Alarm.rule_id == rule.id).values(rule_id=None))
    session.delete(rule)
    session.flush()
    _touch_rules(session)


def rule_preview(session: Session, actor: Actor, data: RuleCreate, hours: int = 24) -> RulePreview:
    """What a (possibly unsaved) rule would have done over the last `hours` of stored data."""
    org_id, profile_code = _rule_owner(session, actor, data)
    condition = _condition_dict(data.kind, data.condition)
    clear = data.clear_condition.model_dump() if data.clear_condition else None
    _validate_rule(data, condition, clear)
    probe = Rule(id=uuid.uuid4(), org_id=org_id, name=data.name, kind=data.kind.value, profile_code=profile_code,
                 asset_id=data.asset_id, device_id=data.device_id, key=data.key,
                 alarm_type=data.alarm_type or data.name,
                 severity=data.severity.value, condition=condition or {}, clear_condition=clear,
                 duration_s=data.duration_s, repeat_count=data.repeat_count, no_data_s=data.no_data_s,
                 auto_incident=False, category="")
    rule = CompiledRule.of(probe)
    end = clock.now()
    start = end - timedelta(hours=hours)
    refs = [r for r in devices.device_refs(session, profile_code=profile_code, asset_id=data.asset_id,
                                           device_id=data.device_id, org_ids=core.org_subtree(session, org_id))
            if policies.visible(actor, r.org_id)]
    names = {r.device_id: r.name for r in refs}
    states = {d: SeriesState(id=uuid.uuid4(), rule_id=rule.id, device_id=d) for d in names}
    firings: list[PreviewFiring] = []
    open_: dict[uuid.UUID, PreviewFiring] = {}
    points = cleared = 0
    keys = [data.key] if data.kind != RuleKind.NO_DATA else None

    def handle(act: Action | None) -> None:
        nonlocal cleared
        if act is None:
            return
        if act.kind == "raise":
            f = PreviewFiring(device_id=act.device_id, device_name=names.get(act.device_id, ""), raised_at=act.ts,
                              value=act.value)
            firings.append(f)
            open_[act.device_id] = f
        elif act.kind == "clear" and act.device_id in open_:
            open_.pop(act.device_id).cleared_at = act.ts
            cleared += 1

    if rule.kind == RuleKind.FORECAST:
        _preview_models(session, rule, states, start)
    for p in devices.telemetry_points(session, device_ids=list(names), keys=keys, start=start, end=end):
        points += 1
        st = states[p.device_id]
        for t in _timer_steps(rule, st, p.ts):
            handle(t)
        handle(engine.seen(rule, st, p.ts) if rule.kind == RuleKind.NO_DATA else engine.step(rule, st, p.ts,
                                                                                               p.value))
    for st in states.values():
        if rule.kind == RuleKind.NO_DATA and st.last_ts is None:
            st.due_at = start + timedelta(seconds=rule.no_data_s)
        for t in _timer_steps(rule, st, end):
            handle(t)
    firings.sort(key=lambda f: f.raised_at)
    return RulePreview(start=start, end=end, devices=len(names), points=points, fired=len(firings),
                       cleared=cleared, firings=firings[:200])


def _preview_models(session: Session, rule: CompiledRule, states: dict[uuid.UUID, SeriesState],
                    start: datetime) -> None:
    """A forecast rule's preview starts from models fitted on the day before the window (as the worker would have)."""
    history: dict[uuid.UUID, tuple[list[float], list[float]]] = {d: ([], []) for d in states}
    for p in devices.telemetry_points(session, device_ids=list(states), keys=[rule.key],
                                      start=start - timedelta(hours=24), end=start):
        if p.value is not None:
            history[p.device_id][0].append(p.ts.timestamp())
            history[p.device_id][1].append(float(p.value))
    order = list(history)
    fits = forecast.fit_many([(np.asarray(history[d][0], dtype=float), np.asarray(history[d][1], dtype=float))
                              for d in order])
    for d, fit in zip(order, fits, strict=True):
        if not isinstance(fit, str):
            states[d].data = {"model": fit.as_data(start)}
            states[d].last_ts = datetime.fromtimestamp(fit.ts, UTC)


def _timer_steps(rule: CompiledRule, st: SeriesState, until: datetime) -> list[Action]:
    """Replay the tick between points (the preview has no background worker)."""
    out = []
    while st.due_at is not None and st.due_at <= until and not st.active:
        at = st.due_at
        act = engine.tick_state(rule, st, at)
        if act is None:
            break
        out.append(act)
    return out


# ---------------------------------------------------------------- the compiled rule set, cached per process


@dataclass
class _Cached:
    token: str
    index: RuleIndex
    built: float
    checked: float


RULE_TOKEN_CHECK_S = 1.0  # another process's rule change applies here within a second (this one's at once)
RULE_INDEX_TTL_S = 60.0  # also bounds how long a moved device keeps its old asset's rules
_rule_cache: dict[str, _Cached] = {}


def rule_index(session: Session) -> RuleIndex:
    """The enabled rules, compiled; cached per process and reloaded when the rule-set token changes."""
    key = str(session.get_bind().engine.url)
    hit = _rule_cache.get(key)
    now = time_mod.monotonic()
    if hit is not None and now - hit.checked < RULE_TOKEN_CHECK_S:
        return hit.index  # checked a moment ago: saves a round trip per ingest batch
    token = session.scalar(select(EngineMeta.rules_token).where(EngineMeta.id == 1)) or ""
    if hit is not None and hit.token == token and now - hit.built < RULE_INDEX_TTL_S:
        hit.checked = now
        return hit.index
    rules = session.scalars(select(Rule).where(Rule.enabled.is_(True))).all()
    # A rule watches the devices of its owner's subtree only. Taken from the tree now: a unit created under the owner
    # later is reached from the next rebuild (within RULE_INDEX_TTL_S) — a stale tree can only leave devices out.
    reach = {o: core.org_subtree(session, o) for o in {r.org_id for r in rules}}
    index = RuleIndex((CompiledRule.of(r) for r in rules), reach=lambda owner: reach.get(owner, frozenset()))
    _rule_cache[key] = _Cached(token, index, now, now)
    return index
