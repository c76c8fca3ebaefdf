"""Ops benchmark: the rule engine with 1,000 active rules over 5,000 series, fed at 20,000 points/s.

Prints one JSON line with `points_evaluated_per_s` (engine throughput inside the batch transaction, state rows
read/locked and written), `p95_point_to_alarm_ms` (point generated → alarm committed, for points that raised an
alarm; batches of 1,000 points every 50 ms), and `ingest_ratio_rules_on_off` (connect's `ingest_messages` points/s
with the rule engine subscribed ÷ the same without, same run, same database; medians of alternating rounds, plus
a do-nothing subscriber to separate connect's publishing cost from the engine's).

Setup: 1,000 assets with 5 devices each (connect services); one rule per asset on metric `v` (70 % threshold with
a duration or a repeat count, 10 % rate, 10 % anomaly, 10 % no-data), so every point meets one rule. About 1 in
2,000 points violates its threshold. PostgreSQL when reachable (else SQLite). OPS_BENCH_SECONDS (default 20) sets
the length of the paced feed; OPS_BENCH_RATE (default 20000) its rate.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import pct, scratch_database  # noqa: E402 - benchmarks run as scripts

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
    from cityhub.kit.events import SeriesPoint
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


def bench_ingest(db: object, devices: list[tuple[uuid.UUID, uuid.UUID, tuple[uuid.UUID, ...]]],
                 rounds: int = 12, per_round: int = 15_000) -> dict[str, float]:
    """connect's ingest_messages with rules on, with rules off, and with a do-nothing subscriber.

    The conditions take turns round by round (the machine is shared, so its speed drifts) and each reports the
    median of its rounds. The do-nothing subscriber shows what publishing costs connect by itself (it returns the
    stored rows to build the event only when someone subscribes), apart from the engine's own cost.
    """
    from cityhub.connect import service as connect
    from cityhub.connect.schemas import RawMessage
    from cityhub.kit import events
    from cityhub.ops import subscribers

    def noop(_session: object, _points: object) -> None:
        return None

    rng = random.Random(10)
    # in the past (future timestamps are quarantined) and after the evaluation feed (so no point is late)
    clock0 = datetime.now(UTC) - timedelta(minutes=55)
    rates: dict[str, list[float]] = {"on": [], "off": [], "noop": []}
    conditions = ("on", "off", "noop")
    for r in range(rounds):
        cond = conditions[r % 3]
        events.unsubscribe(events.TELEMETRY_STORED, subscribers.on_telemetry_stored)
        events.unsubscribe(events.TELEMETRY_STORED, noop)
        if cond == "on":
            subscribers.register()
        elif cond == "noop":
            events.subscribe(events.TELEMETRY_STORED, noop)
        msgs = []
        for i in range(per_round // 3):  # 3 points per message, like the ingest benchmark
            d, _o, _p = devices[(r * 7919 + i) % len(devices)]
            base = r * per_round + i * 3
            recs = [{"ts": (clock0 + timedelta(milliseconds=10 * (base + k))).isoformat(), "values": {"v": _value(rng)}}
                    for k in range(3)]
            msgs.append(RawMessage(topic=f"cityhub/v1/devices/{d}/telemetry", payload=json.dumps(recs).encode(),
                                   received_at=datetime.now(UTC)))
        t0 = time.perf_counter()
        stored = 0
        for start in range(0, len(msgs), 333):  # batches of ~1,000 points, each its own transaction
            with db.session_scope() as s:  # type: ignore[attr-defined]  # a Database
                stored += connect.ingest_messages(s, msgs[start:start + 333]).stored
        if stored < len(msgs) * 3:
            raise RuntimeError(f"ingest stored {stored} of {len(msgs) * 3} points")
        rates[cond].append(stored / (time.perf_counter() - t0))
    events.unsubscribe(events.TELEMETRY_STORED, noop)
    subscribers.register()
    on, off, nop = (statistics.median(rates[c]) for c in ("on", "off", "noop"))
    return {"ingest_points_per_s_rules_on": round(on, 1), "ingest_points_per_s_rules_off": round(off, 1),
            "ingest_points_per_s_noop_subscriber": round(nop, 1), "ingest_ratio_rules_on_off": round(on / off, 3),
            "ingest_ratio_noop_subscriber_off": round(nop / off, 3),
            "ingest_ratio_rules_on_noop": round(on / nop, 3)}


def main() -> None:
    seconds = float(os.environ.get("OPS_BENCH_SECONDS", "20"))
    rate = int(os.environ.get("OPS_BENCH_RATE", "20000"))
    url = scratch_database("cityhub_bench_ops")
    from cityhub.kit import events

    events.load_subscribers()
    t0 = time.perf_counter()
    db, devices = setup(url)
    setup_s = time.perf_counter() - t0
    result = {"benchmark": "ops", "rules": ASSETS, "series": len(devices), "feed_rate": rate, "seconds": seconds,
              "database": "postgresql" if url.startswith("postgresql") else "sqlite", "setup_s": round(setup_s, 1)}
    result.update(bench_evaluation(db, devices, seconds, rate))
    result.update(bench_ingest(db, devices))
    result["load_avg_1m"] = round(os.getloadavg()[0], 2)
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
