"""The rule engine: compiled rules, per-series state transitions, and the persisted state rows of a batch.

Pure evaluation (`step`, `tick_state`) is separate from storage (`StateStore`) so the same code runs inline with
ingest, in the background tick, in the 24-hour preview (with throw-away state) and in the benchmark.
"""

from __future__ import annotations

import math
import secrets
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Table, Uuid, any_, bindparam, cast, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
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
CHECKPOINT_S = 5.0  # running statistics of a series are written at most this often (decisions: every batch)
NO_DATA_SLACK = 0.1  # no-data fires between T and 1.1·T of silence (last-seen writes are throttled to T/10)


STATE_TABLE: Table = RuleState.__table__  # type: ignore[assignment]  # a declarative model's table is a Table


_state_ids: dict[tuple[int, int], uuid.UUID] = {}


def state_id(rule_id: uuid.UUID, device_id: uuid.UUID) -> uuid.UUID:
    """Deterministic id of a rule's state on one series: every worker derives it without a lookup."""
    key = (rule_id.int, device_id.int)  # ints hash in C; UUID.__hash__ is Python code, and this is the hot path
    sid = _state_ids.get(key)
    if sid is None:  # uuid5 hashes with SHA-1: remember it, a series is evaluated again and again
        if len(_state_ids) > 1_000_000:
            _state_ids.clear()
        sid = _state_ids[key] = uuid.uuid5(STATE_NS, f"{rule_id}:{device_id}")
    return sid


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
    quiet: Any = None  # threshold rules: value -> True when it neither fires nor matters to a clean series

    def __post_init__(self) -> None:
        if self.kind == RuleKind.THRESHOLD and self.op in OPS:
            fire, edge = OPS[self.op], self.value
            object.__setattr__(self, "quiet", lambda v: not fire(v, edge))

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
    """In-memory copy of one `ops_rule_state` row.

    `dirty`: a decision changed (active, pending, count, deadlines) and is written with the batch. `soft`: only
    running statistics moved (a rate rule's previous point, an anomaly rule's mean and variance); those are
    checkpointed at most every CHECKPOINT_S per series instead (see `StateStore.flush`).
    """

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
    soft: bool = False
    saved_at: float = -math.inf  # time.monotonic() of this process's last write of the row


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
    """Rules by what they match: (profile, key), asset id, and the no-data rules by profile.

    `reach(owner)` is the set of organisations whose devices a rule of `owner` watches (the owner's subtree): a
    unit's rule never raises an alarm, or opens an incident, for another unit's device, whatever profile or asset
    it names. The center writes city-wide rules by owning them at the city.
    """

    def __init__(self, rules: Iterable[CompiledRule], *,
                 reach: Callable[[uuid.UUID], Collection[uuid.UUID]]) -> None:
        self.reach = reach
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
        self._matching: dict[tuple[str, str, tuple[int, ...]], list[CompiledRule]] = {}
        self._no_data: dict[tuple[str, tuple[int, ...]], list[CompiledRule]] = {}
        # (device, key, profile) -> every rule of that series; the index is rebuilt at least every minute, so a
        # device moved to another asset meets its new asset's rules within that time
        self._series: dict[tuple[int, str, str, int], tuple[tuple[CompiledRule, tuple[uuid.UUID, int]], ...]] = {}

    def series_rules(self, device_id: uuid.UUID, profile_code: str, key: str, asset_path: tuple[uuid.UUID, ...],
                     org_id: uuid.UUID) -> tuple[tuple[CompiledRule, tuple[uuid.UUID, int]], ...]:
        """The rules of one series that reach its device's owner, each with its state id and the id's int (memoised)."""
        ck = (device_id.int, key, profile_code, org_id.int)
        hit = self._series.get(ck)
        if hit is None:
            rules = (*self.matching(profile_code, key, asset_path), *self.no_data(profile_code, asset_path))
            out = []
            for r in rules:
                if not self.reaches(r, org_id):
                    continue
                sid = state_id(r.id, device_id)
                out.append((r, (sid, sid.int)))
            if len(self._series) > 2_000_000:
                self._series.clear()
            hit = self._series[ck] = tuple(out)
        return hit

    def __len__(self) -> int:
        return len(self.rules)

    def reaches(self, rule: CompiledRule, org_id: uuid.UUID) -> bool:
        """Does `rule` watch devices owned by `org_id` (its owner's subtree)?"""
        return org_id in self.reach(rule.org_id)

    def matching(self, profile_code: str, key: str, asset_path: tuple[uuid.UUID, ...]) -> list[CompiledRule]:
        """Rules (other than no-data) that apply to a point (memoised: the same series comes back every batch)."""
        ck = (profile_code, key, tuple(a.int for a in asset_path))
        hit = self._matching.get(ck)
        if hit is None:
            hit = self._matching[ck] = self._match(profile_code, key, asset_path)
        return hit

    def _match(self, profile_code: str, key: str, asset_path: Sequence[uuid.UUID]) -> list[CompiledRule]:
        out = self.by_profile_key.get((profile_code, key), [])
        if self.by_asset and asset_path:
            extra = [r for a in asset_path for r in self.by_asset.get(a, ()) if r.key == key
                     and (r.profile_code is None or r.profile_code == profile_code)]
            if extra:
                out = [*out, *(r for r in extra if r not in out)]
        return out

    def no_data(self, profile_code: str, asset_path: tuple[uuid.UUID, ...]) -> list[CompiledRule]:
        """No-data rules that watch a device (memoised)."""
        ck = (profile_code, tuple(a.int for a in asset_path))
        hit = self._no_data.get(ck)
        if hit is None:
            hit = self._no_data[ck] = self._nd(profile_code, asset_path)
        return hit

    def _nd(self, profile_code: str, asset_path: Sequence[uuid.UUID]) -> list[CompiledRule]:
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
    st.data = {**d, "n": n + 1, "mean": mean, "var": var}  # keeps the series' context (ctx)
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
        st.soft = True
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


_caches: dict[str, dict[int, SeriesState]] = {}


def _cache_for(session: Session) -> dict[int, SeriesState]:
    return _caches.setdefault(str(session.get_bind().engine.url), {})


def clear_cache() -> None:
    """Forget every cached state (a restart, as far as this process is concerned)."""
    _caches.clear()


def new_version() -> int:
    """A fresh version for a written state row (random: equal versions mean the same write)."""
    return secrets.randbelow(2**31 - 1) + 1


def _uuid_array(ids: Sequence[uuid.UUID]) -> str:
    # 32 hex digits without dashes: PostgreSQL reads them as uuid, and `.hex` costs a fraction of `str()`
    return "{" + ",".join([u.hex for u in ids]) + "}"


def _aware(value: datetime | None) -> datetime | None:
    return clock.as_utc(value) if value is not None else None


class StateStore:
    """Loads (and on PostgreSQL locks) the state rows a batch touches, then writes back the changed ones.

    Locking the touched rows for the batch's transaction makes evaluation correct when a shared subscription
    spreads one device's messages over several ingest workers: a second worker waits for the first to commit and
    then reads its result, instead of evaluating against a stale copy. The lock query returns only (id, version);
    full rows come from a per-process cache when the version matches (every write stores a fresh random version,
    so a match means the cached copy is exactly the stored row) and are read from the database otherwise.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self.states: dict[int, SeriesState] = {}  # keyed by the state id's int (see state_id)
        self.cache = _cache_for(session)
        self.written = 0

    def load(self, pairs: Iterable[tuple[uuid.UUID, uuid.UUID]]) -> None:
        """Read (and lock) the states of these (rule id, device id) pairs; missing ones start empty."""
        wanted: dict[int, tuple[uuid.UUID, uuid.UUID, uuid.UUID]] = {}
        for r, d in pairs:
            sid = state_id(r, d)
            wanted[sid.int] = (sid, r, d)
        self.load_keyed(wanted)

    def load_keyed(self, wanted: dict[int, tuple[uuid.UUID, uuid.UUID, uuid.UUID]], lock: bool = True) -> None:
        """Like `load`, given {state id int: (state id, rule id, device id)}.

        With lock=False (PostgreSQL) the rows are only read: `flush` then writes only where the version is still
        the one read and reports the rows another worker changed meanwhile, which the caller re-reads and evaluates
        again (optimistic concurrency: no tuple locks on the many series a batch does not change).
        """
        wanted = {k: v for k, v in wanted.items() if k not in self.states}
        if not wanted:
            return
        pg = is_postgres(self.session)
        self._lock_and_read([v[0] for v in wanted.values()], pg, lock)
        missing = {k: v for k, v in wanted.items() if k not in self.states}
        if missing and pg:
            # Create the rows empty first and lock them, so two workers starting the same new series serialise
            # on the row instead of both evaluating from nothing.
            now = clock.now()
            self._insert([{"id": sid, "rule_id": r, "device_id": d, "active": False, "pending_since": None,
                           "count": 0, "last_ts": None, "last_value": None, "data": {}, "due_at": None,
                           "version": 0, "updated_at": now} for sid, r, d in sorted(missing.values())],
                         overwrite=False)  # sorted: two workers insert (and wait on) the rows in one order
            self._lock_and_read([v[0] for v in missing.values()], pg, lock)
        for key, (sid, rule_id, device_id) in wanted.items():
            if key not in self.states:
                self.states[key] = SeriesState(id=sid, rule_id=rule_id, device_id=device_id, new=True)

    def reread(self, keys: set[int]) -> None:
        """Forget these states and read them again, locked, so they cannot move again before commit."""
        ids = [self.states[k].id for k in keys]
        for k in keys:
            self.states.pop(k, None)
            self.cache.pop(k, None)
        self._lock_and_read(ids, is_postgres(self.session), True)

    def _lock_and_read(self, ids: list[uuid.UUID], pg: bool, lock: bool = True) -> None:
        # Core rows, not ORM objects: this runs for every batch and the identity map would only cost time.
        conn = self.session.connection()
        stale: list[uuid.UUID] = []
        if pg and not lock:
            stale = self._stale_pg(conn, ids)
        else:
            found = self._lock_pg(conn, ids, lock) if pg else self._versions_sqlite(conn, ids)
            for sid, version in found:
                key = sid.int
                hit = self.cache.get(key)
                if hit is not None and hit.version == version:
                    # Shared, not copied: evaluation only changes a state when it also marks it dirty, and a failed
                    # batch drops what it touched from the cache (`forget`).
                    self.states[key] = hit
                else:
                    stale.append(sid)
        t = STATE_TABLE.c
        cols = (t.id, t.rule_id, t.device_id, t.active, t.pending_since, t.count, t.last_ts, t.last_value, t.data,
                t.due_at, t.version)
        for start in range(0, len(stale), 5000):
            chunk = stale[start:start + 5000]
            if pg:
                full = conn.execute(select(*cols).where(t.id == any_(cast(bindparam("ids"), ARRAY(Uuid)))),
                                    {"ids": _uuid_array(chunk)})
            else:
                full = conn.execute(select(*cols).where(t.id.in_(chunk)))
            for r in full.all():
                st = SeriesState(id=r[0], rule_id=r[1], device_id=r[2], active=r[3], pending_since=_aware(r[4]),
                                 count=r[5], last_ts=_aware(r[6]), last_value=r[7], data=dict(r[8] or {}),
                                 due_at=_aware(r[9]), version=r[10])
                self.states[r[0].int] = st
                self.cache[r[0].int] = st

    @staticmethod
    def _lock_pg(conn: Any, ids: list[uuid.UUID], lock: bool = True) -> list[tuple[uuid.UUID, int]]:
        # Lock in id order (two workers never deadlock) and return (position, version): small integers load far
        # faster than UUIDs, and the ids go out as one text array instead of thousands of parameters.
        sql = ("SELECT u.i, s.version FROM unnest(CAST(:ids AS uuid[])) WITH ORDINALITY AS u(id, i) "
               "JOIN ops_rule_state s ON s.id = u.id")
        rows = conn.execute(text(sql + (" ORDER BY s.id FOR UPDATE OF s" if lock else "")),
                            {"ids": _uuid_array(ids)}).all()
        return [(ids[i - 1], v) for i, v in rows]

    def _stale_pg(self, conn: Any, ids: list[uuid.UUID]) -> list[uuid.UUID]:
        """Send each id with the version this process holds; PostgreSQL answers only the ones that differ.

        In steady state nothing moved, so the answer is empty instead of a row per series (the client-side
        cost of thousands of result rows is most of a version check). Missing rows come back too (no version).
        """
        cache = self.cache
        hits = [cache.get(sid.int) for sid in ids]
        versions = "{" + ",".join([str(h.version) if h is not None else "-1" for h in hits]) + "}"
        rows = conn.execute(text(
            "SELECT u.i FROM unnest(CAST(:ids AS uuid[]), CAST(:vs AS integer[])) WITH ORDINALITY AS u(id, v, i) "
            "LEFT JOIN ops_rule_state s ON s.id = u.id AND s.id = ANY(CAST(:ids AS uuid[])) "
            "WHERE s.version IS DISTINCT FROM u.v"),
            {"ids": _uuid_array(ids), "vs": versions}).all()
        moved = {i - 1 for (i,) in rows}
        for pos, hit in enumerate(hits):
            if pos not in moved and hit is not None:
                self.states[hit.id.int] = hit  # shared, not copied (see _lock_and_read)
        return [ids[pos] for pos in sorted(moved)]

    @staticmethod
    def _versions_sqlite(conn: Any, ids: list[uuid.UUID]) -> list[tuple[uuid.UUID, int]]:
        t = STATE_TABLE.c
        out: list[tuple[uuid.UUID, int]] = []
        for start in range(0, len(ids), 900):  # SQLite's bound-parameter limit
            out += [(r[0], r[1]) for r in conn.execute(select(t.id, t.version).where(
                t.id.in_(ids[start:start + 900]))).all()]
        return out

    def get(self, rule_id: uuid.UUID, device_id: uuid.UUID) -> SeriesState:
        """The state of a pair loaded before."""
        return self.states[state_id(rule_id, device_id).int]

    def flush(self) -> set[int]:
        """Write the changed states, each with a fresh version; returns the keys another worker moved meanwhile.

        On PostgreSQL an update only applies where the stored version is still the one read (optimistic
        concurrency); the caller re-reads the moved ones (`reread`, locked) and evaluates them again.
        """
        mono = time.monotonic()
        due = mono - CHECKPOINT_S
        # Running statistics alone are written when the row was last written long enough ago (or never by this
        # process): every point of a rate or anomaly rule moves them, and writing each series on every batch
        # cost more than the rest of the evaluation. Unwritten statistics stay in this process's cache, whose
        # version still matches the stored row; if another worker writes the row first, or this process stops,
        # at most CHECKPOINT_S of them are lost: the mean, variance or previous point are then a little older,
        # which these rules tolerate. Every decision (dirty) is still written with its batch.
        dirty = [s for s in self.states.values() if s.dirty or (s.soft and (s.new or s.saved_at <= due))]
        dirty.sort(key=_state_order)  # inserts and updates lock rows in id order: two workers never deadlock
        if not dirty:
            return set()
        now = clock.now()
        read_versions = {s.id.int: s.version for s in dirty}
        for s in dirty:
            s.version = new_version()
        inserts = [{**_row(s), "version": s.version, "updated_at": now} for s in dirty if s.new]
        updates = [s for s in dirty if not s.new]
        moved: set[int] = set()
        if inserts:
            self._insert(inserts)
        if updates:
            conn = self.session.connection()
            if is_postgres(self.session):
                done = self._update_pg(conn, updates, read_versions, now)
                moved = {s.id.int for s in updates} - done
            else:  # SQLite: one writer at a time (the database lock), nothing can move in between
                conn.execute(update(STATE_TABLE).where(STATE_TABLE.c.id == _bind("b_id")).values(
                    {c: _bind(c) for c in ("active", "pending_since", "count", "last_ts", "last_value", "data",
                                           "due_at", "version", "updated_at")}),
                    [{**_row(s), "b_id": s.id, "version": s.version, "updated_at": now} for s in updates])
        if len(self.cache) > 2_000_000:
            self.cache.clear()
        for s in dirty:
            key = s.id.int
            if key in moved:
                continue
            s.dirty = s.new = s.soft = False
            s.saved_at = mono
            self.written += 1
            # if the batch later rolls back, the stored version differs from this one and the row is re-read
            self.cache[key] = s
        return moved

    def forget(self) -> None:
        """Drop every state this batch touched from the process cache (the batch failed and rolls back)."""
        for key in self.states:
            self.cache.pop(key, None)

    @staticmethod
    def _update_pg(conn: Any, rows: list[SeriesState], read_versions: dict[int, int], now: datetime) -> set[int]:
        # One statement over a JSON document instead of one UPDATE per row (a batch writes hundreds of states, and
        # orjson is far cheaper than binding arrays value by value); returns the keys it updated.
        doc = orjson.dumps([{"id": r.id, "active": r.active, "count": r.count, "last_value": r.last_value,
                             "pending_since": r.pending_since, "last_ts": r.last_ts, "due_at": r.due_at,
                             "data": r.data, "version": r.version, "old": read_versions[r.id.int]} for r in rows],
                           default=str).decode()
        done = conn.execute(text(
            "UPDATE ops_rule_state AS s SET active = v.active, pending_since = v.pending_since, count = v.count, "
            "last_ts = v.last_ts, last_value = v.last_value, data = v.data, due_at = v.due_at, "
            "version = v.version, updated_at = :now "
            "FROM jsonb_to_recordset(CAST(:doc AS jsonb)) AS v(id uuid, active boolean, pending_since timestamptz, "
            "count integer, last_ts timestamptz, last_value double precision, data jsonb, due_at timestamptz, "
            "version integer, old integer) WHERE s.id = v.id AND s.version = v.old "
            # the id list lets the planner probe the primary key: it cannot estimate jsonb_to_recordset's rows and
            # otherwise hashes the recordset against a scan of the whole state table
            "AND s.id = ANY(CAST(:ids AS uuid[])) RETURNING s.id"),
            {"doc": doc, "now": now, "ids": _uuid_array([r.id for r in rows])}).all()
        return {r[0].int for r in done}

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


def _state_order(s: SeriesState) -> int:
    return s.id.int


def _bind(name: str) -> Any:
    return bindparam(name)
