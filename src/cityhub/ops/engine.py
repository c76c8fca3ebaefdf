"""The rule engine: compiled rules, per-series state transitions, and the persisted state rows of a batch.

Pure evaluation (`step`, `tick_state`) is separate from storage (`StateStore`) so the same code runs inline with
ingest, in the background tick, in the 24-hour preview (with throw-away state) and in the benchmark.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session

from cityhub.kit import clock
from cityhub.kit.db import is_postgres
from cityhub.ops.models import Rule, RuleKind, RuleState

OPS: dict[str, Any] = {
    ">": lambda a, b: a > b, ">=": lambda a, b: a >= b, "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
    "==": lambda a, b: a == b, "!=": lambda a, b: a != b, "abs>": lambda a, b: abs(a) > b,
    "abs>=": lambda a, b: abs(a) >= b,
}
STATE_NS = uuid.UUID("6f1c8f3e-2b1a-4c55-9d0e-0a5e5e0c0b01")
NO_DATA_SLACK = 0.1  # no-data fires between T and 1.1·T of silence (last-seen writes are throttled to T/10)


STATE_TABLE: Table = RuleState.__table__  # type: ignore[assignment]  # a declarative model's table is a Table


def state_id(rule_id: uuid.UUID, device_id: uuid.UUID) -> uuid.UUID:
    """Deterministic id of a rule's state on one series: every worker derives it without a lookup."""
    return uuid.uuid5(STATE_NS, f"{rule_id}:{device_id}")


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """A rule row reduced to what evaluation needs."""

    id: uuid.UUID
    org_id: uuid.UUID
    name: str
    kind: str
    profile_code: str | None
    asset_id: uuid.UUID | None
    key: str
    alarm_type: str
    severity: str
    op: str = ">"
    value: float = 0.0
    clear_op: str | None = None
    clear_value: float | None = None
    duration_s: int = 0
    repeat_count: int = 1
    no_data_s: int = 0
    z: float = 3.0
    alpha: float = 0.05
    min_samples: int = 30
    auto_incident: bool = False
    category: str = ""

    @classmethod
    def of(cls, r: Rule) -> CompiledRule:
        """Compile a rule row."""
        cond = r.condition or {}
        clear = r.clear_condition or {}
        return cls(id=r.id, org_id=r.org_id, name=r.name, kind=r.kind, profile_code=r.profile_code,
                   asset_id=r.asset_id, key=r.key, alarm_type=r.alarm_type, severity=r.severity,
                   op=str(cond.get("op", ">")), value=float(cond.get("value", 0.0)),
                   clear_op=clear.get("op"), clear_value=float(clear["value"]) if "value" in clear else None,
                   duration_s=r.duration_s, repeat_count=max(1, r.repeat_count), no_data_s=r.no_data_s,
                   z=float(cond.get("z", 3.0)), alpha=float(cond.get("alpha", 0.05)),
                   min_samples=int(cond.get("min_samples", 30)), auto_incident=r.auto_incident,
                   category=r.category)


@dataclass(slots=True)
class SeriesState:
    """In-memory copy of one `ops_rule_state` row; `dirty` marks what must be written back."""

    id: uuid.UUID
    rule_id: uuid.UUID
    device_id: uuid.UUID
    active: bool = False
    pending_since: datetime | None = None
    count: int = 0
    last_ts: datetime | None = None
    last_value: float | None = None
    data: dict[str, Any] = field(default_factory=dict)
    due_at: datetime | None = None
    version: int = 0
    dirty: bool = False
    new: bool = False


@dataclass(frozen=True, slots=True)
class Action:
    """What evaluation decided for one series: raise (or re-trigger) or clear the rule's alarm."""

    kind: str  # raise | retrigger | clear
    rule: CompiledRule
    device_id: uuid.UUID
    ts: datetime
    value: float | None
    details: dict[str, Any]


class RuleIndex:
    """Rules by what they match: (profile, key), asset id, and the no-data rules by profile."""

    def __init__(self, rules: Iterable[CompiledRule]) -> None:
        self.rules: dict[uuid.UUID, CompiledRule] = {}
        self.by_profile_key: dict[tuple[str, str], list[CompiledRule]] = {}
        self.by_asset: dict[uuid.UUID, list[CompiledRule]] = {}
        self.no_data_by_profile: dict[str, list[CompiledRule]] = {}
        self.no_data_by_asset: dict[uuid.UUID, list[CompiledRule]] = {}
        for r in rules:
            self.rules[r.id] = r
            if r.kind == RuleKind.NO_DATA:
                if r.profile_code:
                    self.no_data_by_profile.setdefault(r.profile_code, []).append(r)
                if r.asset_id:
                    self.no_data_by_asset.setdefault(r.asset_id, []).append(r)
                continue
            if r.profile_code:
                self.by_profile_key.setdefault((r.profile_code, r.key), []).append(r)
            if r.asset_id:
                self.by_asset.setdefault(r.asset_id, []).append(r)
        self.profiles = {p for p, _k in self.by_profile_key} | set(self.no_data_by_profile)

    def __len__(self) -> int:
        return len(self.rules)

    def matching(self, profile_code: str, key: str, asset_path: Sequence[uuid.UUID]) -> list[CompiledRule]:
        """Rules (other than no-data) that apply to a point."""
        out = self.by_profile_key.get((profile_code, key), [])
        if self.by_asset and asset_path:
            extra = [r for a in asset_path for r in self.by_asset.get(a, ()) if r.key == key
                     and (r.profile_code is None or r.profile_code == profile_code)]
            if extra:
                out = [*out, *(r for r in extra if r not in out)]
        return out

    def no_data(self, profile_code: str, asset_path: Sequence[uuid.UUID]) -> list[CompiledRule]:
        """No-data rules that watch a device."""
        out = self.no_data_by_profile.get(profile_code, [])
        if self.no_data_by_asset and asset_path:
            extra = [r for a in asset_path for r in self.no_data_by_asset.get(a, ())
                     if r.profile_code is None or r.profile_code == profile_code]
            if extra:
                out = [*out, *(r for r in extra if r not in out)]
        return out


# ---------------------------------------------------------------- pure evaluation


def _holds(op: str, a: float, b: float) -> bool:
    return bool(OPS[op](a, b))


def _measure(rule: CompiledRule, st: SeriesState, ts: datetime, value: float) -> tuple[float | None, bool]:
    """The quantity the rule compares (value, rate or z-score) and whether the state changed doing so."""
    if rule.kind == RuleKind.THRESHOLD:
        return value, False
    if rule.kind == RuleKind.RATE:
        prev_ts, prev = st.last_ts, st.last_value
        st.last_ts, st.last_value = ts, value
        if prev_ts is None or prev is None:
            return None, True
        minutes = (ts - prev_ts).total_seconds() / 60.0
        return ((value - prev) / minutes if minutes > 0 else None), True
    # anomaly: exponentially weighted mean and variance (the same recurrences as river's EWMean/EWVar)
    d = st.data
    n = int(d.get("n", 0))
    mean = float(d.get("mean", value))
    var = float(d.get("var", 0.0))
    z: float | None = None
    if n >= rule.min_samples and var > 0:
        z = (value - mean) / math.sqrt(var)
    alpha = rule.alpha
    if n == 0:
        mean, var = value, 0.0
    else:
        diff = value - mean
        incr = alpha * diff
        mean += incr
        var = (1 - alpha) * (var + diff * incr)
    st.data = {"n": n + 1, "mean": mean, "var": var}
    st.last_ts, st.last_value = ts, value
    return z, True


def _violates(rule: CompiledRule, q: float) -> bool:
    if rule.kind == RuleKind.ANOMALY:
        return abs(q) > rule.z
    return _holds(rule.op, q, rule.value)


def _clears(rule: CompiledRule, q: float) -> bool:
    if rule.clear_op is not None and rule.clear_value is not None:
        if rule.kind == RuleKind.ANOMALY:
            return abs(q) < rule.clear_value
        return _holds(rule.clear_op, q, rule.clear_value)
    return not _violates(rule, q)


def step(rule: CompiledRule, st: SeriesState, ts: datetime, value: float | None) -> Action | None:
    """Feed one point of the rule's series; returns the alarm action it causes, if any."""
    if value is None or not math.isfinite(value):
        return None  # text metrics and NaN/inf are not compared (not an error: odd data is skipped)
    if rule.kind == RuleKind.NO_DATA:
        return seen(rule, st, ts)
    if st.last_ts is not None and ts < st.last_ts and rule.kind != RuleKind.THRESHOLD:
        return None  # late point: the series' running state has moved past it
    q, changed = _measure(rule, st, ts, value)
    if changed:
        st.dirty = True
    if q is None:
        return None
    if st.active:
        if _clears(rule, q):
            st.active, st.count, st.pending_since, st.due_at, st.dirty = False, 0, None, None, True
            return Action("clear", rule, st.device_id, ts, value, {"value": value, "measure": q})
        if _violates(rule, q):
            return Action("retrigger", rule, st.device_id, ts, value, {"value": value, "measure": q})
        return None
    if not _violates(rule, q):
        if st.count or st.pending_since is not None:
            st.count, st.pending_since, st.due_at, st.dirty = 0, None, None, True
        return None
    st.count += 1
    if st.pending_since is None:
        st.pending_since = ts
    st.dirty = True
    held = (ts - st.pending_since).total_seconds()
    if st.count >= rule.repeat_count and held >= rule.duration_s:
        return _fire(rule, st, ts, value, q)
    if rule.duration_s and st.count >= rule.repeat_count:
        st.due_at = st.pending_since + timedelta(seconds=rule.duration_s)  # the tick fires it if nothing clears
    st.data = {**st.data, "last_violation": value, "last_measure": q}
    return None


def _fire(rule: CompiledRule, st: SeriesState, ts: datetime, value: float | None, q: float | None) -> Action:
    details = {"rule": rule.name, "value": value, "measure": q, "count": st.count,
               "since": st.pending_since.isoformat() if st.pending_since else None}
    st.active, st.due_at, st.dirty = True, None, True
    st.data = {k: v for k, v in st.data.items() if k not in ("last_violation", "last_measure")}
    return Action("raise", rule, st.device_id, ts, value, details)


def seen(rule: CompiledRule, st: SeriesState, ts: datetime) -> Action | None:
    """A no-data rule saw a point: push the deadline (throttled), clear an open no-data alarm."""
    slack = timedelta(seconds=rule.no_data_s * (1 + NO_DATA_SLACK))
    if st.active:
        st.active, st.last_ts, st.due_at, st.dirty = False, ts, ts + slack, True
        return Action("clear", rule, st.device_id, ts, None, {"seen": ts.isoformat()})
    if st.last_ts is None or (ts - st.last_ts).total_seconds() >= rule.no_data_s * NO_DATA_SLACK:
        st.last_ts, st.due_at, st.dirty = ts, ts + slack, True
    return None


def tick_state(rule: CompiledRule, st: SeriesState, now: datetime) -> Action | None:
    """Time passed: fire a pending duration whose period is over, or a series silent for too long."""
    if st.active or st.due_at is None or st.due_at > now:
        return None
    if rule.kind == RuleKind.NO_DATA:
        silent = (now - st.last_ts).total_seconds() if st.last_ts else None
        st.active, st.due_at, st.dirty = True, None, True
        return Action("raise", rule, st.device_id, now, None,
                      {"rule": rule.name, "last_seen": st.last_ts.isoformat() if st.last_ts else None,
                       "silent_s": round(silent) if silent is not None else None})
    if st.pending_since is None or st.count < rule.repeat_count:
        st.due_at, st.dirty = None, True
        return None
    value = st.data.get("last_violation")
    return _fire(rule, st, st.due_at, value, st.data.get("last_measure"))


# ---------------------------------------------------------------- persisted state of a batch


def _row(st: SeriesState) -> dict[str, Any]:
    return {"id": st.id, "rule_id": st.rule_id, "device_id": st.device_id, "active": st.active,
            "pending_since": st.pending_since, "count": st.count, "last_ts": st.last_ts,
            "last_value": st.last_value, "data": st.data, "due_at": st.due_at}


def _from_row(r: RuleState) -> SeriesState:
    return SeriesState(id=r.id, rule_id=r.rule_id, device_id=r.device_id, active=r.active,
                       pending_since=clock.as_utc(r.pending_since) if r.pending_since else None, count=r.count,
                       last_ts=clock.as_utc(r.last_ts) if r.last_ts else None, last_value=r.last_value,
                       data=dict(r.data or {}), due_at=clock.as_utc(r.due_at) if r.due_at else None,
                       version=r.version)


class StateStore:
    """Loads (and on PostgreSQL locks) the state rows a batch touches, then writes back the changed ones.

    Locking the touched rows for the batch's transaction makes evaluation correct when a shared subscription
    spreads one device's messages over several ingest workers: a second worker waits for the first to commit and
    then reads its result, instead of evaluating against a stale copy.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self.states: dict[uuid.UUID, SeriesState] = {}

    def load(self, pairs: Iterable[tuple[uuid.UUID, uuid.UUID]]) -> None:
        """Read (and lock) the states of these (rule id, device id) pairs; missing ones start empty."""
        wanted = {state_id(r, d): (r, d) for r, d in pairs}
        wanted = {k: v for k, v in wanted.items() if k not in self.states}
        if not wanted:
            return
        pg = is_postgres(self.session)
        self._select(sorted(wanted), pg)
        missing = {k: v for k, v in wanted.items() if k not in self.states}
        if missing and pg:
            # Create the rows empty first and lock them, so two workers starting the same new series serialise
            # on the row instead of both evaluating from nothing.
            now = clock.now()
            self._insert([{"id": sid, "rule_id": r, "device_id": d, "active": False, "pending_since": None,
                           "count": 0, "last_ts": None, "last_value": None, "data": {}, "due_at": None,
                           "version": 0, "updated_at": now} for sid, (r, d) in missing.items()], overwrite=False)
            self._select(sorted(missing), pg)
        for sid, (rule_id, device_id) in wanted.items():
            if sid not in self.states:
                self.states[sid] = SeriesState(id=sid, rule_id=rule_id, device_id=device_id, new=True)

    def _select(self, ids: list[uuid.UUID], pg: bool) -> None:
        # sorted ids: a fixed lock order, so two workers never deadlock on the same rows
        for start in range(0, len(ids), 1000):
            stmt = select(RuleState).where(RuleState.id.in_(ids[start:start + 1000])).order_by(RuleState.id)
            if pg:
                stmt = stmt.with_for_update()
            for row in self.session.execute(stmt.execution_options(populate_existing=True)).scalars():
                self.states[row.id] = _from_row(row)

    def get(self, rule_id: uuid.UUID, device_id: uuid.UUID) -> SeriesState:
        """The state of a pair loaded before."""
        return self.states[state_id(rule_id, device_id)]

    def flush(self) -> int:
        """Write the changed states (insert new ones, update the rest with version + 1); returns rows written."""
        dirty = [s for s in self.states.values() if s.dirty]
        if not dirty:
            return 0
        now = clock.now()
        inserts = [{**_row(s), "version": 1, "updated_at": now} for s in dirty if s.new]
        updates = [{**_row(s), "b_id": s.id, "version": s.version + 1, "updated_at": now}
                   for s in dirty if not s.new]
        if inserts:
            self._insert(inserts)
        if updates:
            conn = self.session.connection()
            conn.execute(update(STATE_TABLE).where(STATE_TABLE.c.id == _bind("b_id")).values(
                {c: _bind(c) for c in ("active", "pending_since", "count", "last_ts", "last_value", "data",
                                       "due_at", "version", "updated_at")}), updates)
        for s in dirty:
            s.version += 1
            s.dirty = s.new = False
        return len(dirty)

    def _insert(self, rows: list[dict[str, Any]], overwrite: bool = True) -> None:
        conn = self.session.connection()
        if is_postgres(self.session):
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            stmt = pg_insert(STATE_TABLE)
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            stmt = sqlite_insert(STATE_TABLE)  # type: ignore[assignment]  # same interface as PostgreSQL's
        if not overwrite:
            conn.execute(stmt.on_conflict_do_nothing(index_elements=["id"]), rows)
            return
        conn.execute(stmt.on_conflict_do_update(index_elements=["id"], set_={
            c: stmt.excluded[c] for c in ("active", "pending_since", "count", "last_ts", "last_value", "data",
                                          "due_at", "version", "updated_at")}), rows)


def _bind(name: str) -> Any:
    from sqlalchemy import bindparam

    return bindparam(name)
