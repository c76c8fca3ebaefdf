"""Forecast rules (issue 18, 预判预警): fitting series per second, the models' accuracy, and rule evaluation.

One JSON line (and `results/forecast.json`), all parts in the same run:

- **Fit.** `forecast_series_per_s`: `rules.forecast.fit_many` (Holt, grid search over α × β, every series at once)
  on FIT_SERIES (5,000; `--quick` 500) series of one day at one point a minute (1,440 points, what a refit reads:
  `refit.HISTORY_H`) — random walks with drift and noise. Baseline, same series: statsforecast's `Holt` (ETS
  "AAN", parameters optimised per series; one StatsForecast call on 2 cores after a warm-up so numba's compilation
  is not counted) on BASELINE_SERIES (50) of them → `statsforecast_holt_series_per_s` and
  `ratio_fit_vs_statsforecast_holt`.
- **Accuracy** (is the cheap fit still honest?): on those BASELINE_SERIES series the last 120 points are held out;
  mean absolute error of the forecast 1..120 minutes ahead for the numpy fit (`mae_2h_numpy_holt`), statsforecast's
  optimised Holt (`mae_2h_statsforecast_holt`) and the naive last value (`mae_2h_naive`).
- **Evaluation** (`--eval-only`: this part alone). A scratch database (PostgreSQL when reachable, else SQLite) with
  EVAL_DEVICES (1,000) devices of one profile, one hour of stored history each near 20 (through connect's
  ingest), one profile-wide rule. Phase 1: a threshold rule (`> 100`) — the baseline. Phase 2: the same series
  under a forecast rule (`> 100 within 2 h`), its models refitted from the stored history first (`refit_s`:
  reading the history and fitting every series). Each phase offers EVAL_SECONDS (10) of points at a sustained
  EVAL_RATE (20,000) points/s: point j arrives at start + j / EVAL_RATE, and a batch of 1,000 goes through
  `ops.on_telemetry_stored` (inline evaluation, as with SQLite or `CITYHUB_OPS_EVALUATION=inline`; one batch per
  transaction) once its last point has arrived, or at once when the evaluator is behind — so a process that
  cannot keep up shows it as a feed rate below EVAL_RATE and as growing latency. The batches are built before
  the clock starts. 1 series in RISE_EVERY (25) stays near 20 until its onset (spread over the first half of the
  phase, so alarms come at full rate, not in the cold first batch), then climbs 2 units a point. Figures per
  phase: `<phase>_feed_points_per_s` (achieved), `<phase>_points_per_s` (the evaluator's throughput, engine time
  only), `<phase>_busy_share` (engine time / wall time), `<phase>_max_lag_ms` (how far behind the arrivals a
  batch started), `<phase>_p95_batch_ms` (first point of a batch arrived → batch committed, every batch),
  `<phase>_p95_point_to_alarm_ms` and `…_max_…` (that latency for every alarm raised), `<phase>_alarms`,
  `<phase>_false_alarms` (on series that never climb); and `ratio_forecast_vs_threshold_points_per_s`,
  `ratio_forecast_vs_threshold_p95_point_to_alarm`. Both rules raise for every climbing series: the forecast
  rule early (values near 45, the line meeting 100 within 2 h), the threshold rule once they pass 100
  (`<phase>_mean_value_at_alarm`).
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import pct, record, scratch_database

QUICK = "--quick" in sys.argv
EVAL_ONLY = "--eval-only" in sys.argv  # the evaluation part alone (no fit, no statsforecast)
FIT_SERIES = int(os.environ.get("BENCH_FIT_SERIES", "500" if QUICK else "5000"))
BASELINE_SERIES = int(os.environ.get("BENCH_BASELINE_SERIES", "20" if QUICK else "50"))
POINTS = 1440
HOLDOUT = 120
EVAL_DEVICES = int(os.environ.get("BENCH_EVAL_DEVICES", "200" if QUICK else "1000"))
EVAL_SECONDS = float(os.environ.get("BENCH_EVAL_SECONDS", "3" if QUICK else "10"))
EVAL_RATE = int(os.environ.get("BENCH_EVAL_RATE", "20000"))
BATCH = 1000
RISE_EVERY = 25  # 1 series in 25 starts to climb during each phase


def _timed(fn: Any) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def _series(n: int, length: int) -> np.ndarray[Any, np.dtype[np.float64]]:
    rng = np.random.default_rng(18)
    drift = rng.normal(0, 0.05, (n, 1))
    walk = np.cumsum(rng.normal(0, 0.2, (n, length)), axis=1)
    return (50 + drift * np.arange(length) + walk + rng.normal(0, 0.5, (n, length))).astype(np.float64)


def bench_fit() -> dict[str, Any]:
    import pandas as pd
    from statsforecast import StatsForecast
    from statsforecast.models import Holt

    from cityhub.ops.rules import forecast

    ys = _series(FIT_SERIES, POINTS)
    ts = 60.0 * np.arange(POINTS, dtype=np.float64)
    secs, fits = _timed(lambda: forecast.fit_many([(ts, ys[i]) for i in range(FIT_SERIES)]))
    assert all(isinstance(f, forecast.HoltFit) for f in fits)
    out: dict[str, Any] = {"fit_series": FIT_SERIES, "fit_points_per_series": POINTS, "fit_s": round(secs, 3),
                           "forecast_series_per_s": round(FIT_SERIES / secs, 1)}
    # the baseline and the accuracy check: the first BASELINE_SERIES series, the last HOLDOUT points held out
    train, test = ys[:BASELINE_SERIES, :-HOLDOUT], ys[:BASELINE_SERIES, -HOLDOUT:]
    tt = ts[:-HOLDOUT]
    own = forecast.fit_many([(tt, train[i]) for i in range(BASELINE_SERIES)])
    steps = 60.0 * np.arange(1, HOLDOUT + 1)
    own_pred = np.array([f.level + f.trend * steps for f in own if isinstance(f, forecast.HoltFit)])
    stamps = pd.date_range("2026-01-01", periods=POINTS - HOLDOUT, freq="min")
    df = pd.concat([pd.DataFrame({"unique_id": f"s{i}", "ds": stamps, "y": train[i]})
                    for i in range(BASELINE_SERIES)], ignore_index=True)
    sf = StatsForecast(models=[Holt()], freq="min", n_jobs=2)
    sf.forecast(df=df[df.unique_id == "s0"], h=HOLDOUT)  # numba's compilation is not the model's speed
    base_s, res = _timed(lambda: sf.forecast(df=df, h=HOLDOUT))
    sf_pred = np.stack([res[res.unique_id == f"s{i}"]["Holt"].to_numpy() for i in range(BASELINE_SERIES)])
    out.update(statsforecast_holt_series=BASELINE_SERIES,
               statsforecast_holt_series_per_s=round(BASELINE_SERIES / base_s, 2),
               ratio_fit_vs_statsforecast_holt=round((FIT_SERIES / secs) / (BASELINE_SERIES / base_s), 1),
               mae_2h_numpy_holt=round(float(np.abs(own_pred - test).mean()), 3),
               mae_2h_statsforecast_holt=round(float(np.abs(sf_pred - test).mean()), 3),
               mae_2h_naive=round(float(np.abs(train[:, -1:] - test).mean()), 3))
    return out


def _setup(url: str) -> tuple[Any, Any, list[tuple[uuid.UUID, uuid.UUID]], datetime]:
    from cityhub.connect import service as connect
    from cityhub.connect.schemas import DeviceCreate, DeviceProfileCreate, RawMessage
    from cityhub.core import service as core
    from cityhub.core.schemas import OrganizationCreate
    from cityhub.kit.db import Database
    from cityhub.kit.migrate import upgrade

    upgrade(url)
    db = Database(url)
    actor = core.Actor.system("bench")
    devices: list[tuple[uuid.UUID, uuid.UUID]] = []
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    with db.session_scope() as s:
        city = core.organization_create(s, actor, OrganizationCreate(name="基准市", code="f-city", kind="city"))
        dept = core.organization_create(s, actor, OrganizationCreate(name="排水", code="f-dept", kind="department",
                                                                     parent_id=city.id))
        connect.device_profile_create(s, actor, DeviceProfileCreate.model_validate({
            "code": "gallery", "name": "管廊", "metrics": [{"key": "level", "name": "水位", "min": -1e9,
                                                             "max": 1e9, "interval_s": 60}]}))
        for d in range(EVAL_DEVICES):
            dev, _tok = connect.device_create(s, actor, DeviceCreate(name=f"g{d}", org_id=dept.id,
                                                                    profile_code="gallery"))
            devices.append((dev.id, dept.id))
    rng = random.Random(3)
    for chunk in range(0, EVAL_DEVICES, 100):
        msgs = []
        for dev_id, _org in devices[chunk:chunk + 100]:
            body = [{"ts": (start + timedelta(minutes=m)).isoformat(), "values": {"level": 20 + rng.gauss(0, 1)}}
                    for m in range(60)]
            msgs.append(RawMessage(topic=f"cityhub/v1/devices/{dev_id}/telemetry", payload=json.dumps(body).encode(),
                                   received_at=datetime.now(UTC)))
        with db.session_scope() as s:
            connect.ingest_messages(s, msgs)
    return db, dept, devices, start + timedelta(minutes=60)


def _onsets(n_devices: int) -> dict[int, int]:
    """Device index -> the series' point at which it starts to climb: 1 series in RISE_EVERY, onsets spread over
    the run so that alarms come while the feed is at full rate (not in its first, cold batch)."""
    per_series = int(EVAL_SECONDS * EVAL_RATE / BATCH) * BATCH // n_devices
    rising = list(range(0, n_devices, RISE_EVERY))
    lo, hi = int(0.05 * per_series), int(0.55 * per_series)
    return {d: lo + (hi - lo) * j // max(1, len(rising) - 1) for j, d in enumerate(rising)}


def _batches(devices: list[tuple[uuid.UUID, uuid.UUID]], t0: datetime) -> list[list[Any]]:
    """Every batch of the phase, built before the clock starts (the feeder is not the evaluator's work): the
    series' k-th new point a minute after its (k-1)-th, near 20 — or, from its onset on, climbing 2 units a
    minute from 20."""
    from cityhub.connect.schemas import SeriesPoint

    rng = random.Random(9)
    onset = _onsets(len(devices))
    seen = [0] * len(devices)
    out = []
    for b in range(int(EVAL_SECONDS * EVAL_RATE / BATCH)):
        batch = []
        for i in range(BATCH):
            d = (b * BATCH + i) % len(devices)
            dev, org = devices[d]
            k = seen[d] = seen[d] + 1
            value = 20 + 2.0 * (k - onset[d]) if d in onset and k > onset[d] else 20 + rng.gauss(0, 1)
            batch.append(SeriesPoint(device_id=dev, key="level", ts=t0 + timedelta(minutes=k), value=value,
                                     text=None, org_id=org, profile_code="gallery", asset_path=()))
        out.append(batch)
    return out


def _feed(db: Any, devices: list[tuple[uuid.UUID, uuid.UUID]], t0: datetime) -> dict[str, float]:
    """Offer the points at EVAL_RATE: point j arrives at start + j / EVAL_RATE, a batch is evaluated (one
    transaction) once its last point has arrived — or at once when the evaluator is behind, so a backlog shows
    as latency and as a feed rate below EVAL_RATE. Latency of a batch: commit − arrival of its *first* point (an
    upper bound for every point in it); point→alarm: that latency for each alarm the batch raised."""
    from cityhub.ops import service as ops

    batches = _batches(devices, t0)
    interval = BATCH / EVAL_RATE
    handler_s = 0.0
    points = raised = 0
    batch_ms: list[float] = []
    alarm_ms: list[float] = []
    max_lag = 0.0
    started = time.perf_counter()
    for b, batch in enumerate(batches):
        due = started + (b + 1) * interval  # its last point arrives
        now = time.perf_counter()
        if now < due:
            time.sleep(due - now)
        max_lag = max(max_lag, time.perf_counter() - due)
        with db.session_scope() as s:
            t = time.perf_counter()
            out = ops.on_telemetry_stored(s, batch)
            handler_s += time.perf_counter() - t
        done = time.perf_counter()
        latency = (done - (started + b * interval)) * 1000
        batch_ms.append(latency)
        points += len(batch)
        raised += out.raised
        alarm_ms += [latency] * out.raised
    wall = time.perf_counter() - started
    return {"feed_points_per_s": round(points / wall, 1), "points_per_s": round(points / handler_s, 1),
            "busy_share": round(handler_s / wall, 2), "max_lag_ms": round(max_lag * 1000, 1),
            "p95_batch_ms": round(pct(batch_ms, 95), 1), "p95_point_to_alarm_ms": round(pct(alarm_ms, 95), 1),
            "max_point_to_alarm_ms": round(max(alarm_ms, default=0.0), 1), "alarms": raised, "points": points}


def _mean_value_at_alarm(db: Any, rule_id: uuid.UUID) -> float:
    from sqlalchemy import select

    from cityhub.ops.models import Alarm

    with db.session_scope() as s:
        values = [float(d["value"]) for d in s.scalars(select(Alarm.details).where(Alarm.rule_id == rule_id))]
    return round(sum(values) / len(values), 1) if values else 0.0


def _false_alarms(db: Any, rule_id: uuid.UUID, devices: list[tuple[uuid.UUID, uuid.UUID]]) -> int:
    from sqlalchemy import select

    from cityhub.ops.models import Alarm

    rising = {devices[d][0] for d in _onsets(len(devices))}
    with db.session_scope() as s:
        return sum(1 for o in s.scalars(select(Alarm.originator_id).where(Alarm.rule_id == rule_id)) if o not in rising)


def bench_evaluation() -> dict[str, Any]:
    from sqlalchemy import update

    from cityhub.core import service as core
    from cityhub.ops import service as ops
    from cityhub.ops.models import Rule
    from cityhub.ops.schemas import RuleCreate

    url = scratch_database("cityhub_bench_forecast")
    db, dept, devices, t0 = _setup(url)
    actor = core.Actor.system("bench")
    out: dict[str, Any] = {"database": url.split(":")[0], "eval_devices": EVAL_DEVICES, "eval_rate": EVAL_RATE,
                           "eval_rising_series": len(_onsets(EVAL_DEVICES))}
    with db.session_scope() as s:
        threshold = ops.rule_create(s, actor, RuleCreate.model_validate({
            "name": "水位超限", "kind": "threshold", "profile_code": "gallery", "key": "level", "org_id": dept.id,
            "condition": {"op": ">", "value": 100}})).id
    # the threshold phase a day later: its points are not stored, and the forecast phase continues the history
    for k, v in _feed(db, devices, t0 + timedelta(days=1)).items():
        out[f"threshold_{k}"] = v
    out["threshold_mean_value_at_alarm"] = _mean_value_at_alarm(db, threshold)
    out["threshold_false_alarms"] = _false_alarms(db, threshold, devices)
    with db.session_scope() as s:
        s.execute(update(Rule).where(Rule.id == threshold).values(enabled=False))
        fc_rule = ops.rule_create(s, actor, RuleCreate.model_validate({
            "name": "水位预判", "kind": "forecast", "profile_code": "gallery", "key": "level", "org_id": dept.id,
            "condition": {"op": ">", "value": 100, "horizon_s": 7200}})).id
    with db.session_scope() as s:
        secs, res = _timed(lambda: ops.forecast_refit(s, now=t0, force=True))
    out.update(refit_s=round(secs, 3), refit_fitted=res.fitted, refit_failed=res.failed)
    for k, v in _feed(db, devices, t0).items():
        out[f"forecast_{k}"] = v
    out["forecast_mean_value_at_alarm"] = _mean_value_at_alarm(db, fc_rule)
    out["forecast_false_alarms"] = _false_alarms(db, fc_rule, devices)
    out["ratio_forecast_vs_threshold_points_per_s"] = round(out["forecast_points_per_s"]
                                                            / out["threshold_points_per_s"], 2)
    out["ratio_forecast_vs_threshold_p95_point_to_alarm"] = round(
        out["forecast_p95_point_to_alarm_ms"] / max(out["threshold_p95_point_to_alarm_ms"], 1e-9), 2)
    return out


def main() -> None:
    os.environ["CITYHUB_OPS_EVALUATION"] = "inline"
    result: dict[str, Any] = {"quick": QUICK}
    if not EVAL_ONLY:
        result.update(bench_fit())
    result.update(bench_evaluation())
    record("forecast", result)


if __name__ == "__main__":
    main()
