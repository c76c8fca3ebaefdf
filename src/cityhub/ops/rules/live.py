"""The live engine: stored telemetry through the matching rules, and the background tick.

Every stored batch is evaluated inline with ingest or from the queue (`rules/queue.py`); the tick fires pending
durations that ran out and series silent for too long. Engine decisions become alarm changes here, and incidents
for rules with `auto_incident`. Nothing here commits.
"""

from __future__ import annotations

import logging
import time as time_mod
import uuid
from collections import Counter as Tally
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, bindparam, inspect, select, update
from sqlalchemy.orm import Session

from cityhub.kit import clock
from cityhub.kit.metrics import REGISTRY
from cityhub.ops import devices
from cityhub.ops.alarms.service import alarm_clear_by_rule, alarm_raise
from cityhub.ops.common import ENGINE_ACTOR
from cityhub.ops.incidents.service import incident_from_alarms
from cityhub.ops.models import Alarm, Rule, RuleKind, RuleState
from cityhub.ops.rules import engine
from cityhub.ops.rules.engine import Action, CompiledRule, RuleIndex
from cityhub.ops.rules.service import rule_index
from cityhub.ops.rules.state import StateStore

if TYPE_CHECKING:
    from cityhub.connect.schemas import SeriesPoint  # annotations only: ops runs without connect too

log = logging.getLogger("cityhub.ops")
ALARM_TABLE: Table = Alarm.__table__  # type: ignore[assignment]  # a declarative model's table is a Table

try:
    from prometheus_client import Counter

    POINTS_EVALUATED = Counter("cityhub_ops_points_evaluated_total", "Telemetry points the rule engine evaluated",
                               registry=REGISTRY)
    RULE_ERRORS = Counter("cityhub_ops_rule_errors_total", "Rule evaluations that raised (isolated)",
                          registry=REGISTRY)
except ValueError:  # pragma: no cover - module re-imported in the same process
    POINTS_EVALUATED = RULE_ERRORS = None  # type: ignore[assignment]  # a re-import keeps the process's existing counters; callers check for None


def _ctx_of_point(p: SeriesPoint) -> dict[str, Any]:
    return {"org": str(p.org_id), "district": str(p.district_id) if p.district_id else None,
            "path": [str(a) for a in p.asset_path], "lon": p.lon, "lat": p.lat, "profile": p.profile_code}


@dataclass
class BatchResult:
    """What one evaluation pass did."""

    points: int = 0
    evaluations: int = 0
    raised: int = 0
    retriggered: int = 0
    cleared: int = 0
    errors: int = 0
    states_written: int = 0
    replayed: int = 0  # series evaluated again because another worker changed them meanwhile


def on_telemetry_stored(session: Session, points: Sequence[SeriesPoint]) -> BatchResult:
    """Evaluate every rule that matches a stored batch (inline with ingest, inside its transaction)."""
    out = BatchResult(points=len(points))
    index = rule_index(session)
    if not index.rules or not points:
        return out
    work: list[tuple[SeriesPoint, CompiledRule, int]] = []
    pairs: dict[int, tuple[uuid.UUID, uuid.UUID, uuid.UUID]] = {}
    profiles = index.profiles
    has_asset_rules = index.scoped
    series_rules = index.series_rules
    for p in points:
        if p.profile_code not in profiles and not has_asset_rules:
            continue
        for rule, (sid, key) in series_rules(p.device_id, p.profile_code, p.key, p.asset_path, p.org_id):
            work.append((p, rule, key))
            if key not in pairs:
                pairs[key] = (sid, rule.id, p.device_id)
    if not work:
        return out
    store = StateStore(session)
    try:
        _evaluate(session, store, pairs, work, out)
    except Exception:
        store.forget()  # the savepoint rolls back: cached states may hold what was never stored
        raise
    if POINTS_EVALUATED is not None:
        POINTS_EVALUATED.inc(len(points))
    return out


def _evaluate(session: Session, store: StateStore, pairs: dict[int, tuple[uuid.UUID, uuid.UUID, uuid.UUID]],
              work: list[tuple[SeriesPoint, CompiledRule, int]], out: BatchResult) -> None:
    store.load_keyed(pairs, lock=False)
    errors: Tally[uuid.UUID] = Tally()
    last_error: dict[uuid.UUID, str] = {}
    work.sort(key=lambda w: w[0].ts)  # each series in time order, whatever the batch order
    actions = _run_points(store, work, out, errors, last_error)
    moved = store.flush()
    if moved:
        # Another worker wrote some of these series after we read them: evaluate their points again on the stored
        # state, re-read under a row lock so it cannot move again before this batch commits.
        store.reread(moved)
        actions = [a for a in actions if a[0] not in moved]
        actions += _run_points(store, [w for w in work if w[2] in moved], out, errors, last_error)
        out.replayed += len(moved)
        if store.flush():
            raise RuntimeError("rule state moved while locked")  # cannot happen: the rows are locked
    out.states_written = store.written
    _apply_actions(session, [(a, ctx) for _k, a, ctx in actions], out)
    if errors:
        _record_rule_errors(session, errors, last_error)
        out.errors = sum(errors.values())


def _run_points(store: StateStore, work: list[tuple[SeriesPoint, CompiledRule, int]], out: BatchResult,
                errors: Tally[uuid.UUID], last_error: dict[uuid.UUID, str]
                ) -> list[tuple[int, Action, dict[str, Any]]]:
    states = store.states
    actions: list[tuple[int, Action, dict[str, Any]]] = []
    no_data = RuleKind.NO_DATA.value
    for p, rule, sid in work:
        st = states[sid]
        quiet = rule.quiet
        # Fast path, most points of a threshold rule: a clean series and a value that does not fire change nothing.
        if (quiet is not None and not st.active and not st.count and st.pending_since is None and not st.new
                and p.value is not None and quiet(p.value)):
            out.evaluations += 1
            continue
        try:
            if not st.data.get("ctx"):
                st.data = {**st.data, "ctx": _ctx_of_point(p)}
                st.dirty = True
            act = engine.seen(rule, st, p.ts) if rule.kind == no_data else engine.step(rule, st, p.ts, p.value)
        except Exception as exc:  # a rule that throws on odd data is isolated and reported
            errors[rule.id] += 1
            last_error[rule.id] = f"{type(exc).__name__}: {exc}"[:500]
            store.cache.pop(sid, None)  # it may have changed part of the state without marking it
            continue
        out.evaluations += 1
        if act is not None:
            actions.append((sid, act, st.data.get("ctx") or _ctx_of_point(p)))
    return actions


def _record_rule_errors(session: Session, errors: Tally[uuid.UUID], last: dict[uuid.UUID, str]) -> None:
    now = clock.now()
    for rule_id, n in errors.items():
        session.execute(update(Rule).where(Rule.id == rule_id).values(
            errors=Rule.errors + n, last_error=last[rule_id], last_error_at=now))
        log.warning("rule %s failed %d times in a batch: %s", rule_id, n, last[rule_id])
    if RULE_ERRORS is not None:
        RULE_ERRORS.inc(sum(errors.values()))


def _uuid(v: Any) -> uuid.UUID | None:
    return uuid.UUID(str(v)) if v else None


def _apply_actions(session: Session, actions: list[tuple[Action, dict[str, Any]]], out: BatchResult) -> None:
    """Turn engine actions into alarm changes: raise (one open per originator and type), re-trigger, clear."""
    if not actions:
        return
    retrig: Tally[tuple[uuid.UUID, str]] = Tally()
    last_ts: dict[tuple[uuid.UUID, str], datetime] = {}
    for act, ctx in actions:
        key = (act.device_id, act.rule.alarm_type)
        if act.kind == "retrigger":
            retrig[key] += 1
            last_ts[key] = max(last_ts.get(key, act.ts), act.ts)
            continue
        if act.kind == "raise":
            alarm, created = alarm_raise(
                session, ENGINE_ACTOR, originator_type="device", originator_id=act.device_id,
                alarm_type=act.rule.alarm_type, severity=act.rule.severity,
                details={**act.details, "key": act.rule.key, "ts": act.ts.isoformat()}, rule_id=act.rule.id,
                org_id=_uuid(ctx.get("org")) or act.rule.org_id, district_id=_uuid(ctx.get("district")),
                asset_path=[uuid.UUID(a) for a in ctx.get("path") or ()], lon=ctx.get("lon"), lat=ctx.get("lat"),
                at=act.ts)
            if created:
                out.raised += 1
                if act.rule.auto_incident:
                    incident_from_alarms(session, ENGINE_ACTOR, [alarm], category=act.rule.category)
            else:
                out.retriggered += 1
        else:
            if alarm_clear_by_rule(session, act.device_id, act.rule.alarm_type, act.ts, act.details):
                out.cleared += 1
    if retrig:
        # one executemany for the batch's open alarms (psycopg pipelines it), not a statement and round trip each:
        # a climbing series re-triggers its alarm with every point, and with tens of them open this was most of
        # a batch's time
        t = ALARM_TABLE.c
        session.connection().execute(
            update(ALARM_TABLE).where(t.originator_id == bindparam("b_origin"), t.type == bindparam("b_type"),
                                      t.cleared.is_(False)).values(count=t.count + bindparam("b_n"),
                                                                   end_ts=bindparam("b_end")),
            [{"b_origin": device_id, "b_type": alarm_type, "b_n": n, "b_end": last_ts[(device_id, alarm_type)]}
             for (device_id, alarm_type), n in sorted(retrig.items(), key=lambda kv: (kv[0][0].int, kv[0][1]))])
        for obj in list(session.identity_map.values()):  # Core bypasses the session: loaded alarms re-read them
            loaded = inspect(obj).dict  # without loading an expired object (it re-reads everything anyway)
            if isinstance(obj, Alarm) and (loaded.get("originator_id"), loaded.get("type")) in retrig:
                session.expire(obj, ["count", "end_ts"])
        out.retriggered += sum(retrig.values())


def tick(session: Session, now: datetime | None = None, limit: int = 5000) -> BatchResult:
    """Time passed: fire pending durations whose period is over and series silent for too long."""
    now = now or clock.now()
    out = BatchResult()
    index = rule_index(session)
    if not index.rules:
        return out
    _seed_no_data(session, index, now)
    stmt = select(RuleState.rule_id, RuleState.device_id).where(
        RuleState.due_at <= now, RuleState.active.is_(False)).order_by(RuleState.due_at).limit(limit)
    due = [(r, d) for r, d in session.execute(stmt).all() if r in index.rules]
    if not due:
        return out
    store = StateStore(session)
    store.load(due)
    actions: list[tuple[Action, dict[str, Any]]] = []
    for rule_id, device_id in due:
        rule = index.rules[rule_id]
        st = store.get(rule_id, device_id)
        act = engine.tick_state(rule, st, now)  # re-checked under the lock: another worker may have moved it
        out.evaluations += 1
        if act is not None:
            ctx = st.data.get("ctx") or _device_ctx(session, device_id) or {"org": str(rule.org_id)}
            owner = _uuid(ctx.get("org"))
            if owner is None or not index.reaches(rule, owner):
                continue  # a series outside the rule's reach (state left from before reach was enforced)
            actions.append((act, ctx))
    store.flush()  # the rows were loaded locked: nothing can have moved
    out.states_written = store.written
    _apply_actions(session, actions, out)
    return out


def _device_ctx(session: Session, device_id: uuid.UUID) -> dict[str, Any] | None:
    ref = devices.device_ref(session, device_id)
    if ref is None:
        return None
    return {"org": str(ref.org_id), "district": str(ref.district_id) if ref.district_id else None,
            "path": [str(a) for a in ref.asset_path], "lon": ref.lon, "lat": ref.lat, "profile": ref.profile_code,
            "name": ref.name}


_seeded: dict[str, tuple[RuleIndex, float]] = {}
SEED_EVERY_S = 60.0  # new devices of a watched profile get their no-data deadline within a minute


def _seed_no_data(session: Session, index: RuleIndex, now: datetime) -> None:
    """Devices that never reported still count as silent: give each (no-data rule, device) a deadline."""
    rules = index.no_data_rules()
    if not rules or not devices.available():
        return
    key = str(session.get_bind().engine.url)
    last = _seeded.get(key)
    if last is not None and last[0] is index and time_mod.monotonic() - last[1] < SEED_EVERY_S:
        return  # listing every device of a profile is not free; the rule set is unchanged since the last pass
    _seeded[key] = (index, time_mod.monotonic())
    for rule in rules:
        refs = devices.device_refs(session, profile_code=rule.profile_code, asset_id=rule.asset_id,
                                   device_id=rule.device_id, org_ids=index.reach(rule.org_id))
        if not refs:
            continue
        ids = {engine.state_id(rule.id, ref.device_id): ref for ref in refs}
        have = set(session.scalars(select(RuleState.id).where(RuleState.rule_id == rule.id)).all())
        missing = [ref for sid, ref in ids.items() if sid not in have]
        if not missing:
            continue
        store = StateStore(session)
        store.load((rule.id, ref.device_id) for ref in missing)
        for ref in missing:
            st = store.get(rule.id, ref.device_id)
            if st.due_at is None and st.last_ts is None:
                st.due_at = now + timedelta(seconds=rule.no_data_s * (1 + engine.NO_DATA_SLACK))
                st.data = {"ctx": {"org": str(ref.org_id), "district": str(ref.district_id) if ref.district_id
                                   else None, "path": [str(a) for a in ref.asset_path], "lon": ref.lon,
                                   "lat": ref.lat, "profile": ref.profile_code, "name": ref.name}}
                st.dirty = True
        store.flush()
