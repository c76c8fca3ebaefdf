"""Ops benchmark: the rule engine with 1,000 active rules over 5,000 series, fed at 20,000 points/s.

Prints one JSON line with `points_evaluated_per_s` (engine throughput inside the batch transaction, state rows
read/locked and written), `p95_point_to_alarm_ms` (point generated → alarm committed, for points that raised an
alarm; batches of 1,000 points every 50 ms), and `ingest_ratio_rules_on_off` (connect's `ingest_messages` points/s
with the rule engine subscribed ÷ the same without, same run, same database: five interleaved cycles of one round
per condition, the median of the five per-cycle ratios with its min and max, plus a do-nothing subscriber to
separate connect's publishing cost from the engine's) and CPU seconds per 1,000 points with rules on and off
(this process plus the ops worker that evaluates the queue; the database server's CPU is not counted).

Setup: 1,000 assets with 5 devices each (connect services); one rule per asset on metric `v` (70 % threshold with
a duration or a repeat count, 10 % rate, 10 % anomaly, 10 % no-data), so every point meets one rule. About 1 in
2,000 points violates its threshold. PostgreSQL when reachable (else SQLite). OPS_BENCH_SECONDS (default 20) sets
the length of the paced feed; OPS_BENCH_RATE (default 20000) its rate.
"""

from __future__ import annotations

import json
import math
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import pct, record, scratch_database

ASSETS = 1000
PER_ASSET = 5
BATCH = 1000


def setup(url: str) -> tuple[object, list[tuple[uuid.UUID, uuid.UUID, tuple[uuid.UUID, ...]]]]:
    from cityhub.connect import service as connect
    from cityhub.connect.schemas import AssetCreate, DeviceCreate, DeviceProfileCreate
    from cityhub.core import service as core
    from cityhub.core.schemas import OrganizationCreate
    from cityhub.kit.db import Database
    from cityhub.kit.migrate import upgrade
    from cityhub.ops import service as ops
    from cityhub.ops.schemas import RuleCreate

    upgrade(url)
    db = Database(url)
    actor = core.Actor.system("bench")
    rng = random.Random(8)
    devices: list[tuple[uuid.UUID, uuid.UUID, tuple[uuid.UUID, ...]]] = []
    with db.session_scope() as s:
        city = core.organization_create(s, actor, OrganizationCreate(name="基准市", code="b-city", kind="city"))
        dept = core.organization_create(s, actor, OrganizationCreate(name="基准局", code="b-dept", kind="department",
                                                                     parent_id=city.id))
        connect.device_profile_create(s, actor, DeviceProfileCreate.model_validate({
            "code": "bench", "name": "基准", "metrics": [{"key": "v", "name": "值", "min": -1e9, "max": 1e9,
                                                          "interval_s": 1}]}))
        for a in range(ASSETS):
            asset = connect.asset_create(s, actor, AssetCreate(name=f"资产{a}", kind="bridge", org_id=dept.id,
                                                               lon=106.5, lat=29.5))
            for d in range(PER_ASSET):
                dev, _tok = connect.device_create(s, actor, DeviceCreate(name=f"d{a}-{d}", org_id=dept.id,
                                                                        profile_code="bench", asset_id=asset.id))
                devices.append((dev.id, dept.id, (asset.id,)))
            pick = rng.random()
            if pick < 0.7:
                body = {"kind": "threshold", "key": "v", "condition": {"op": ">", "value": 100},
                        "clear_condition": {"op": "<", "value": 50},
                        "repeat_count": 1 if a % 2 else 2, "duration_s": 0 if a % 2 else 1}
            elif pick < 0.8:
                body = {"kind": "rate", "key": "v", "condition": {"op": "abs>", "value": 1e6}}
            elif pick < 0.9:
                body = {"kind": "anomaly", "key": "v", "condition": {"z": 6.0, "alpha": 0.05, "min_samples": 30}}
            else:
                body = {"kind": "no_data", "key": "", "no_data_s": 3600}
            ops.rule_create(s, actor, RuleCreate.model_validate({"name": f"r{a}", "asset_id": asset.id,
                                                                 "org_id": dept.id, **body}))
    return db, devices


def _value(rng: random.Random) -> float:
    return 150.0 if rng.random() < 1 / 2000 else 20.0 + rng.random() * 10


def bench_evaluation(db: object, devices: list[tuple[uuid.UUID, uuid.UUID, tuple[uuid.UUID, ...]]],
                     seconds: float, rate: int) -> dict[str, float]:
    from cityhub.connect.schemas import SeriesPoint
    from cityhub.ops import service as ops

    rng = random.Random(9)
    interval = BATCH / rate
    handler_s = 0.0
    points = raised = 0
    latencies: list[float] = []
    behind = 0
    order = list(devices)
    rng.shuffle(order)
    t_start = datetime.now(UTC) - timedelta(hours=2)  # in the past, before the ingest part's points
    started = time.perf_counter()
    n_batches = int(seconds * rate / BATCH)
    for b in range(n_batches):
        due = started + b * interval
        now = time.perf_counter()
        if now < due:
            time.sleep(due - now)
        elif now - due > interval:
            behind += 1
        gen = time.perf_counter()
        # every series reports in turn (5,000 series at 20,000 points/s: each every 0.25 s), stamped on its slot
        batch = [SeriesPoint(device_id=d, key="v", ts=t_start + timedelta(seconds=(b * BATCH + i) / rate),
                             value=_value(rng), text=None, org_id=o, profile_code="bench", asset_path=p)
                 for i, (d, o, p) in enumerate(order[(b * BATCH + i) % len(order)] for i in range(BATCH))]
        with db.session_scope() as s:  # type: ignore[attr-defined]  # a Database
            t0 = time.perf_counter()
            out = ops.on_telemetry_stored(s, batch)
            handler_s += time.perf_counter() - t0
        done = time.perf_counter()
        points += len(batch)
        raised += out.raised
        if out.raised:
            latencies.append((done - gen) * 1000)
    wall = time.perf_counter() - started
    return {"points_evaluated_per_s": round(points / handler_s, 1), "fed_points_per_s": round(points / wall, 1),
            "p95_point_to_alarm_ms": round(pct(latencies, 95), 1), "alarms_raised": raised,
            "batches_late": behind, "points_fed": points}


def _mode(mode: str) -> None:
    from cityhub.kit.settings import get_settings

    os.environ["CITYHUB_OPS_EVALUATION"] = mode
    get_settings.cache_clear()


def _consumer(url: str) -> subprocess.Popen[bytes]:
    """`cityhub ops worker --queue-only`: a process evaluating queued batches (no timers: the benchmark's points
    are stamped in the past, and no-data timers would fire on every series between rounds)."""
    env = {**os.environ, "CITYHUB_DATABASE_URL": url, "CITYHUB_OPS_EVALUATION": "queue",
           "CITYHUB_OPS_TICK_INTERVAL_S": "5"}
    return subprocess.Popen([sys.executable, "-m", "cityhub.cli", "ops", "worker", "--queue-only"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a running process so far (/proc/<pid>/stat, fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_ingest(db: object, devices: list[tuple[uuid.UUID, uuid.UUID, tuple[uuid.UUID, ...]]],  # noqa: C901  # one measured phase after another, each with its own set-up; splitting it would hide the order
                 cycles: int = 5, per_round: int = 45_000) -> dict[str, Any]:
    """connect's ingest_messages: rules off, a do-nothing subscriber, rules inline, rules through the queue.

    The conditions take turns round by round (the machine is shared, so its speed drifts): `cycles` cycles of one
    round each, so every condition has `cycles` rounds (5: the median of five). `ingest_ratio_rules_on_off` is
    the median over cycles of (rules on ÷ rules off in the same cycle), reported with its min and max; pairing
    rounds of one cycle cancels most of the drift. CPU seconds per 1,000 points count every process that works
    on the points — this one (`time.process_time`) and, in the queue condition, the `cityhub ops worker` until it
    has drained the round (/proc/<pid>/stat) — but not the PostgreSQL server's. The do-nothing subscriber shows
    what publishing costs connect by itself (it returns the stored rows to build the event only when someone
    subscribes). In the queue condition (PostgreSQL's default,
    `CITYHUB_OPS_EVALUATION=queue`) ingest only enqueues each batch and a `cityhub ops worker` process, running
    the whole time, evaluates it: its rate counts only if the worker kept up, so after each queue round the
    benchmark waits until the queue is empty and reports that wait, and a sampler records how old the oldest
    queued batch is every 20 ms (`queue_lag_p95_ms`: how long a point waits for its rules).
    """
    import threading

    from sqlalchemy import text as sql

    from cityhub.connect import service as connect
    from cityhub.connect.schemas import TELEMETRY_STORED, RawMessage
    from cityhub.kit import events
    from cityhub.ops import subscribers

    def noop(_session: object, _points: object) -> None:
        return None

    queue = db.is_postgres  # type: ignore[attr-defined]  # a Database
    consumer = _consumer(str(db.engine.url.render_as_string(hide_password=False))) if queue else None  # type: ignore[attr-defined]  # db is setup()'s Database, typed object so cityhub loads inside the timed functions
    lags: list[float] = []
    sampling = threading.Event()
    halt = threading.Event()

    def sample() -> None:
        with db.engine.connect() as conn:  # type: ignore[attr-defined]  # db is setup()'s Database, typed object so cityhub loads inside the timed functions
            while not halt.is_set():
                if sampling.is_set():
                    age = conn.execute(sql("SELECT EXTRACT(EPOCH FROM now() - min(enqueued_at)) "
                                           "FROM ops_telemetry_queue")).scalar()
                    conn.commit()
                    lags.append(float(age or 0.0) * 1000)
                time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    if queue:
        sampler.start()
    rng = random.Random(10)
    # in the past (future timestamps are quarantined) and after the evaluation feed (so no point is late)
    clock0 = datetime.now(UTC) - timedelta(minutes=55)
    conditions = ("off", "queue", "inline", "noop") if queue else ("off", "inline", "noop")
    rounds = cycles * len(conditions)
    rates: dict[str, list[float]] = {c: [] for c in conditions}
    cpu_per_k: dict[str, list[float]] = {c: [] for c in conditions}
    drains: list[float] = []
    paced: dict[str, float] = {}
    try:
        time.sleep(2)  # the consumer connects and LISTENs
        for r in range(rounds):
            cond = conditions[r % len(conditions)]
            events.unsubscribe(TELEMETRY_STORED, subscribers.on_telemetry_stored)
            events.unsubscribe(TELEMETRY_STORED, noop)
            if cond in ("inline", "queue"):
                _mode(cond)
                subscribers.register()
            elif cond == "noop":
                events.subscribe(TELEMETRY_STORED, noop)
            msgs = []
            for i in range(per_round // 3):  # 3 points per message, like the ingest benchmark
                d, _o, _p = devices[(r * 7919 + i) % len(devices)]
                base = r * per_round + i * 3
                recs = [{"ts": (clock0 + timedelta(milliseconds=2 * (base + k))).isoformat(),
                         "values": {"v": _value(rng)}} for k in range(3)]
                msgs.append(RawMessage(topic=f"cityhub/v1/devices/{d}/telemetry",
                                       payload=json.dumps(recs).encode(), received_at=datetime.now(UTC)))
            if cond == "queue":
                sampling.set()
            cpu0 = time.process_time()
            worker_cpu0 = _proc_cpu_s(consumer.pid) if consumer is not None else 0.0
            t0 = time.perf_counter()
            stored = 0
            for start in range(0, len(msgs), 333):  # batches of ~1,000 points, each its own transaction
                with db.session_scope() as s:  # type: ignore[attr-defined]  # a Database
                    stored += connect.ingest_messages(s, msgs[start:start + 333]).stored
            if stored < len(msgs) * 3:
                raise RuntimeError(f"ingest stored {stored} of {len(msgs) * 3} points")
            rates[cond].append(stored / (time.perf_counter() - t0))
            cpu = time.process_time() - cpu0
            if cond == "queue":
                t1 = time.perf_counter()
                while True:
                    with db.engine.connect() as conn:  # type: ignore[attr-defined]  # db is setup()'s Database, typed object so cityhub loads inside the timed functions
                        if not conn.execute(sql("SELECT count(*) FROM ops_telemetry_queue")).scalar():
                            break
                    if time.perf_counter() - t1 > 120:
                        raise RuntimeError("the ops worker did not drain the queue")
                    time.sleep(0.01)
                drains.append(time.perf_counter() - t1)
                sampling.clear()
            if consumer is not None:  # the worker's CPU in every condition (idle polling included), drain included
                cpu += _proc_cpu_s(consumer.pid) - worker_cpu0
            cpu_per_k[cond].append(cpu / stored * 1000)
        if queue:
            _mode("queue")
            subscribers.register()
            paced = _queue_latency(db, devices, rng)
    finally:
        halt.set()
        if consumer is not None:
            consumer.terminate()
            consumer.wait(10)
        events.unsubscribe(TELEMETRY_STORED, noop)
        _mode("inline")
        subscribers.register()
    med = {c: statistics.median(v) for c, v in rates.items()}
    on_cond = "queue" if queue else "inline"
    on = med[on_cond]
    pairs = [a / b for a, b in zip(rates[on_cond], rates["off"], strict=True)]  # same cycle, adjacent rounds
    cpu_med = {c: statistics.median(v) for c, v in cpu_per_k.items()}
    out: dict[str, Any] = {"evaluation": on_cond, "ingest_rounds_per_condition": cycles,
           "ingest_ratio_rules_on_off": round(statistics.median(pairs), 3),
           "ingest_ratio_rules_on_off_min": round(min(pairs), 3),
           "ingest_ratio_rules_on_off_max": round(max(pairs), 3),
           "ingest_ratio_of_medians_on_off": round(on / med["off"], 3),
           "ingest_points_per_s_rules_off_min": round(min(rates["off"]), 1),
           "ingest_points_per_s_rules_off_max": round(max(rates["off"]), 1),
           "ingest_points_per_s_rules_on_min": round(min(rates[on_cond]), 1),
           "ingest_points_per_s_rules_on_max": round(max(rates[on_cond]), 1),
           "cpu_s_per_1000_points_rules_off": round(cpu_med["off"], 4),
           "cpu_s_per_1000_points_rules_on": round(cpu_med[on_cond], 4),
           "cpu_s_per_1000_points_rules_inline": round(cpu_med["inline"], 4),
           "cpu_s_per_1000_points_noop_subscriber": round(cpu_med["noop"], 4),
           "cpu_s_per_1000_points_rule_evaluation": round(cpu_med[on_cond] - cpu_med["off"], 4),
           "ingest_points_per_s_rules_on": round(on, 1), "ingest_points_per_s_rules_off": round(med["off"], 1),
           "ingest_points_per_s_rules_inline": round(med["inline"], 1),
           "ingest_points_per_s_noop_subscriber": round(med["noop"], 1),
           "ingest_ratio_inline_on_off": round(med["inline"] / med["off"], 3),
           "ingest_ratio_noop_subscriber_off": round(med["noop"] / med["off"], 3)}
    if queue:
        out["queue_drain_after_round_s_max"] = round(max(drains), 3)
        out["queue_lag_p95_ms"] = round(pct(lags, 95), 1) if lags else 0.0
        out.update(paced)
    return out


def _queue_latency(db: object, devices: list[tuple[uuid.UUID, uuid.UUID, tuple[uuid.UUID, ...]]],
                   rng: random.Random, seconds: float = 10.0, rate: int = 20_000) -> dict[str, float]:
    """Queue mode at the feed rate: ingest 1,000-point batches every 50 ms (points stamped with their generation
    time) while the ops worker evaluates; per batch, generation → its queue row gone (deleted in the transaction
    that evaluated it). The benchmark process is the only producer, so batch k has queue id base + 1 + k."""
    import threading

    from sqlalchemy import text as sql

    from cityhub.connect import service as connect
    from cityhub.connect.schemas import RawMessage

    with db.engine.connect() as conn:  # type: ignore[attr-defined]  # db is setup()'s Database, typed object so cityhub loads inside the timed functions
        base = int(conn.execute(sql("SELECT last_value FROM ops_telemetry_queue_id_seq")).scalar() or 0)
    samples: list[tuple[float, float]] = []  # (time, smallest queued id or +inf)
    halt = threading.Event()

    def sample() -> None:
        with db.engine.connect() as conn:  # type: ignore[attr-defined]  # db is setup()'s Database, typed object so cityhub loads inside the timed functions
            while not halt.is_set():
                low = conn.execute(sql("SELECT min(id) FROM ops_telemetry_queue")).scalar()
                conn.commit()
                samples.append((time.perf_counter(), float(low) if low is not None else math.inf))
                time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    per_batch = 333  # messages of 3 points
    interval = per_batch * 3 / rate
    born: list[float] = []
    first_ts = datetime.now(UTC) - timedelta(seconds=1)
    started = time.perf_counter()
    k = 0
    while time.perf_counter() - started < seconds:
        due = started + k * interval
        now = time.perf_counter()
        if now < due:
            time.sleep(due - now)
        gen = time.perf_counter()
        ts = datetime.now(UTC)
        msgs = []
        for i in range(per_batch):
            d, _o, _p = devices[(k * per_batch + i) % len(devices)]
            # 10 ms apart (1 µs apart, a rate-of-change rule sees enormous rates)
            recs = [{"ts": (ts - timedelta(milliseconds=10 * (2 - j))).isoformat(), "values": {"v": _value(rng)}}
                    for j in range(3)]
            msgs.append(RawMessage(topic=f"cityhub/v1/devices/{d}/telemetry", payload=json.dumps(recs).encode(),
                                   received_at=ts + timedelta(seconds=1)))
        with db.session_scope() as s:  # type: ignore[attr-defined]  # a Database
            connect.ingest_messages(s, msgs)
        born.append(gen)
        k += 1
    fed = k * per_batch * 3 / (time.perf_counter() - started)
    deadline = time.perf_counter() + 60
    while time.perf_counter() < deadline and (not samples or samples[-1][1] <= base + k):
        time.sleep(0.01)
    halt.set()
    sampler.join()
    with db.engine.connect() as conn:  # type: ignore[attr-defined]  # db is setup()'s Database, typed object so cityhub loads inside the timed functions
        raised = int(conn.execute(sql("SELECT count(*) FROM ops_alarm WHERE start_ts >= :t"),
                                  {"t": first_ts}).scalar() or 0)
    lat = []
    j = 0
    for n, t_gen in enumerate(born):
        qid = base + 1 + n
        while j < len(samples) and (samples[j][0] < t_gen or samples[j][1] <= qid):
            j += 1
        if j < len(samples):
            lat.append((samples[j][0] - t_gen) * 1000)
    return {"queue_fed_points_per_s": round(fed, 1), "queue_alarms_raised_paced": raised,
            "p95_point_to_evaluated_ms_queue": round(pct(lat, 95), 1) if lat else float("nan"),
            "p50_point_to_evaluated_ms_queue": round(pct(lat, 50), 1) if lat else float("nan")}


def main() -> None:
    seconds = float(os.environ.get("OPS_BENCH_SECONDS", "20"))
    rate = int(os.environ.get("OPS_BENCH_RATE", "20000"))
    url = scratch_database("cityhub_bench_ops")
    from cityhub.kit import events

    _mode("inline")  # setup and the evaluation part call the engine directly
    events.load_subscribers()
    t0 = time.perf_counter()
    db, devices = setup(url)
    setup_s = time.perf_counter() - t0
    result = {"benchmark": "ops", "rules": ASSETS, "series": len(devices), "feed_rate": rate, "seconds": seconds,
              "database": "postgresql" if url.startswith("postgresql") else "sqlite", "setup_s": round(setup_s, 1)}
    result.update(bench_evaluation(db, devices, seconds, rate))
    result.update(bench_ingest(db, devices))
    result["load_avg_1m"] = round(os.getloadavg()[0], 2)
    record("ops", result)


if __name__ == "__main__":
    main()
