"""Several ingest workers over the same devices in shuffled orders: no deadlock, no failed batch (PostgreSQL).

Each worker is a thread with its own connection, storing through the real ingest path (`service.ingest_messages`
in a `Database.session_scope`, as `IngestWorker._store` does). Every round all workers start together on the same
devices, each in its own random order: the latest-value upsert then locks the same (device, key) rows in different
orders unless the ingest path sorts them. Every third round all workers send the very same points (a redelivery
to several workers at once), so the telemetry insert itself waits on rows another batch has not committed yet.
"""

from __future__ import annotations

import json
import random
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from cityhub.connect import service
from cityhub.connect.schemas import DeviceCreate, IngestResult
from cityhub.core import service as core
from cityhub.core.schemas import OrganizationCreate
from cityhub.kit.db import Database
from tests.connect.helpers import SYSTEM, ensure_profiles, message
from tests.outages import pg_scratch

T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
WORKERS = 4
DEVICES = 60
ROUNDS = 24
KEYS = ("strain", "deflection", "vibration")
SHARED_POINTS = 20  # records per message in the rounds every worker sends alike


@pytest.fixture
def pg_url() -> Iterator[str]:
    yield from pg_scratch("cityhub_ingest_deadlock")


def _devices(db: Database, n: int) -> list[uuid.UUID]:
    with db.session_scope() as s:
        org = core.organization_create(s, SYSTEM, OrganizationCreate(
            name="并发写入测试局", code=f"c-{uuid.uuid4().hex[:8]}", kind="department"))
        ensure_profiles(s)
        ids = [service.device_create(s, SYSTEM, DeviceCreate(name=f"c{i}", org_id=org.id,
                                                             profile_code="bridge-health"))[0].id for i in range(n)]
    return ids


def _ts(rnd: int, worker: int) -> datetime:
    if rnd % 3 == 2:  # every worker sends the same points: one stores them, the others count duplicates
        return T0 + timedelta(seconds=rnd)
    return T0 + timedelta(seconds=rnd, milliseconds=worker + 1)


def test_workers_in_shuffled_device_orders_never_deadlock(pg_url: str) -> None:
    db = Database(pg_url)
    devices = _devices(db, DEVICES)
    start = threading.Barrier(WORKERS, timeout=60)
    errors: list[BaseException] = []
    results: list[IngestResult] = []
    lock = threading.Lock()

    def work(w: int) -> None:
        rng = random.Random(1000 + w)  # a different order per worker, the same per run
        order = list(devices)
        for rnd in range(ROUNDS):
            rng.shuffle(order)
            ts = _ts(rnd, w)
            reps = SHARED_POINTS if rnd % 3 == 2 else 1  # shared rounds: long COPYs that overlap
            batch = [message(d, [{"ts": (ts - timedelta(milliseconds=10 * i)).isoformat(),
                                  "values": {k: float(rnd + w) for k in KEYS}} for i in range(reps)], ts)
                     for d in order]
            try:
                start.wait()
                with db.session_scope() as s:
                    r = service.ingest_messages(s, batch)
            except threading.BrokenBarrierError:
                return  # another worker failed: its error is the one reported
            except BaseException as exc:
                with lock:
                    errors.append(exc)
                start.abort()
                return
            with lock:
                results.append(r)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    try:
        assert not errors, f"{len(errors)} failed batch(es), first: {errors[0]!r}"
        assert len(results) == WORKERS * ROUNDS
        shared = sum(1 for rnd in range(ROUNDS) if rnd % 3 == 2)
        expected = DEVICES * len(KEYS) * ((ROUNDS - shared) * WORKERS + shared * SHARED_POINTS)
        assert sum(r.stored for r in results) == expected
        assert sum(r.duplicates for r in results) == DEVICES * len(KEYS) * shared * SHARED_POINTS * (WORKERS - 1)
        assert sum(r.quarantined for r in results) == 0
        with db.session_scope() as s:
            assert service.telemetry_count(s) == expected
            latest = service.latest_values(s, devices)
        last = ROUNDS - 1
        newest = max(_ts(last, w) for w in range(WORKERS))
        assert all(latest[d][k][0] == newest for d in devices for k in KEYS)
    finally:
        db.engine.dispose()


def test_one_batch_holding_two_copies_of_a_point_stores_it_once(pg_url: str) -> None:
    """The staging path (a duplicate inside the batch) inserts in the same order as the COPY path."""
    db = Database(pg_url)
    devices = _devices(db, 3)
    body = json.dumps({"ts": T0.isoformat(), "values": {"strain": 1.0}}).encode()
    try:
        with db.session_scope() as s:
            r = service.ingest_messages(s, [message(d, body, T0) for d in devices + devices[::-1]])
        assert (r.stored, r.duplicates) == (3, 3)
    finally:
        db.engine.dispose()


def test_workers_racing_on_copies_of_payloads_without_ts_store_each_once(pg_url: str) -> None:
    """Three workers get copies of the same payloads without `ts` at once, in shuffled orders: the idempotency
    keys are claimed in key order (no deadlock) and every copy takes the first copy's time (one point each)."""
    db = Database(pg_url)
    devices = _devices(db, 30)
    workers, rounds = 3, 8
    start = threading.Barrier(workers, timeout=60)
    errors: list[BaseException] = []
    results: list[IngestResult] = []
    lock = threading.Lock()

    def work(w: int) -> None:
        rng = random.Random(2000 + w)
        order = list(devices)
        for rnd in range(rounds):
            rng.shuffle(order)
            at = T0 + timedelta(seconds=rnd, milliseconds=w)  # each worker received its copy a little apart
            batch = [message(d, {"values": {"strain": float(rnd)}}, at) for d in order]
            try:
                start.wait()
                with db.session_scope() as s:
                    r = service.ingest_messages(s, batch)
            except threading.BrokenBarrierError:
                return
            except BaseException as exc:
                with lock:
                    errors.append(exc)
                start.abort()
                return
            with lock:
                results.append(r)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    try:
        assert not errors, f"{len(errors)} failed batch(es), first: {errors[0]!r}"
        assert sum(r.stored for r in results) == len(devices) * rounds
        assert sum(r.duplicates for r in results) == len(devices) * rounds * (workers - 1)
        with db.session_scope() as s:
            assert service.telemetry_count(s) == len(devices) * rounds
    finally:
        db.engine.dispose()
