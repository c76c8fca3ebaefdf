"""The rule engine: compiled rules, the rule index, and per-series state transitions (pure evaluation).

Pure evaluation (`step`, `tick_state`) is separate from storage (`rules/state.py`, `StateStore`) so the same code
runs inline with ingest, in the background tick, in the 24-hour preview (with throw-away state) and in the
benchmark.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cityhub.ops.models import Rule, RuleKind
from cityhub.ops.rules import forecast

OPS: dict[str, Any] = {
    ">": lambda a, b: a > b, ">=": lambda a, b: a >= b, "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
    "==": lambda a, b: a == b, "!=": lambda a, b: a != b, "abs>": lambda a, b: abs(a) > b,
    "abs>=": lambda a, b: abs(a) >= b,
}
STATE_NS = uuid.UUID("6f1c8f3e-2b1a-4c55-9d0e-0a5e5e0c0b01")
UPWARD = (">", ">=")  # forecast rules: the operators whose forecast extreme is the line's maximum
NO_DATA_SLACK = 0.1  # no-data fires between T and 1.1·T of silence (last-seen writes are throttled to T/10)


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
    device_id: uuid.UUID | None
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
    horizon_s: float = 0.0  # forecast rules: fire when the forecast meets the condition within this many seconds
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
                   asset_id=r.asset_id, device_id=r.device_id, key=r.key, alarm_type=r.alarm_type, severity=r.severity,
                   op=str(cond.get("op", ">")), value=float(cond.get("value", 0.0)),
                   clear_op=clear.get("op"), clear_value=float(clear["value"]) if "value" in clear else None,
                   duration_s=r.duration_s, repeat_count=max(1, r.repeat_count), no_data_s=r.no_data_s,
                   z=float(cond.get("z", 3.0)), alpha=float(cond.get("alpha", 0.05)),
                   min_samples=int(cond.get("min_samples", 30)), horizon_s=float(cond.get("horizon_s", 0.0)),
                   auto_incident=r.auto_incident,
                   category=r.category)


@dataclass(slots=True)
class SeriesState:
    """In-memory copy of one `ops_rule_state` row.

    `dirty`: a decision changed (active, pending, count, deadlines) and is written with the batch. `soft`: only
    running statistics moved (a rate rule's previous point, an anomaly rule's mean and variance); those are
    checkpointed at most every `state.CHECKPOINT_S` per series instead (see `StateStore.flush`).
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
    evidence: CompiledRule | None = None  # a forecast rule whose data["forecast"] lags data["model"] (see _forecast)


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
    """Rules by what they match: (profile, key), asset id, (device, key), and the no-data rules by each.

    A rule on one device (`device_id`) watches that device only — never the rest of its profile or asset.

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
        self.by_device: dict[tuple[uuid.UUID, str], list[CompiledRule]] = {}
        self.no_data_by_device: dict[uuid.UUID, list[CompiledRule]] = {}
        for r in rules:
            self.rules[r.id] = r
            if r.device_id is not None:  # one device: indexed by it alone
                if r.kind == RuleKind.NO_DATA:
                    self.no_data_by_device.setdefault(r.device_id, []).append(r)
                else:
                    self.by_device.setdefault((r.device_id, r.key), []).append(r)
                continue
            # a rule on an asset watches the devices below it (of its profile, when it names one), never the whole
            # profile
            if r.kind == RuleKind.NO_DATA:
                if r.profile_code and not r.asset_id:
                    self.no_data_by_profile.setdefault(r.profile_code, []).append(r)
                if r.asset_id:
                    self.no_data_by_asset.setdefault(r.asset_id, []).append(r)
                continue
            if r.profile_code and not r.asset_id:
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
            rules = (*self.matching(profile_code, key, asset_path), *self.no_data(profile_code, asset_path),
                     *self.by_device.get((device_id, key), ()), *self.no_data_by_device.get(device_id, ()))
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

    @property
    def scoped(self) -> bool:
        """Are there rules on assets or single devices (a point of an unwatched profile may still match)?"""
        return bool(self.by_asset or self.no_data_by_asset or self.by_device or self.no_data_by_device)

    def no_data_rules(self) -> list[CompiledRule]:
        """Every no-data rule, once."""
        groups = (*self.no_data_by_profile.values(), *self.no_data_by_asset.values(),
                  *self.no_data_by_device.values())
        return list({r.id: r for rs in groups for r in rs}.values())

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
    if rule.kind == RuleKind.FORECAST:
        return _forecast(rule, st, ts, value)
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


def _forecast(rule: CompiledRule, st: SeriesState, ts: datetime, value: float) -> tuple[float | None, bool]:
    """Advance the series' Holt model by the point; the forecast's extreme over the horizon is the measure.

    Without a fitted model (`rules/refit.py` has not fitted it yet, or could not: `data["model_error"]`) the rule
    compares nothing — it never fires on an unfitted series.
    """
    model = st.data.get("model")
    if not model:
        return None, False
    q = forecast.advance_in_place(model, ts.timestamp(), value, rule.op in UPWARD, rule.horizon_s)
    if q is None:
        return None, False
    st.evidence = rule  # data["forecast"] now lags the model: rebuilt when the row is written or an alarm fires
    st.last_ts, st.last_value = ts, value
    return q, True


def refresh_forecast(st: SeriesState) -> None:
    """Rebuild a forecast rule's stored forecast (the evidence and the rule page's line) from the series' model.

    The per-point path (`_forecast`) only moves the model; this runs once per stored row or fired alarm instead of
    on every point (`StateStore.flush`, `_fire`), so what is stored or shown is what the per-point version stored.
    """
    rule, st.evidence = st.evidence, None
    model = st.data.get("model")
    if rule is not None and model:
        st.data = {**st.data, "forecast": forecast.forecast(model, rule.op, rule.value, rule.horizon_s)}


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
    details: dict[str, Any] = {"rule": rule.name, "value": value, "measure": q, "count": st.count,
                               "since": st.pending_since.isoformat() if st.pending_since else None}
    if st.evidence is not None:
        refresh_forecast(st)
    if rule.kind == RuleKind.FORECAST and st.data.get("forecast"):
        details["forecast"] = st.data["forecast"]  # the evidence: value, when, its 95 % interval
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
