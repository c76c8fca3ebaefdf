"""Rule evaluation through the queue (CITYHUB_OPS_EVALUATION=queue): ingest enqueues, the ops worker evaluates.

The rest of the ops suite runs inline (tests/conftest.py); these tests prove the queue gives the same alarms, only
for what committed, exactly once across workers, and that the worker wakes on the NOTIFY.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, delete, insert, text

from cityhub.connect import service as connect
from cityhub.kit import clock
from cityhub.kit.db import Database
from cityhub.kit.settings import get_settings
from cityhub.ops import cli as ops_cli
from cityhub.ops import service as ops
from cityhub.ops.models import TelemetryQueue
from cityhub.ops.rules import live, queue
from tests.connect.helpers import build_connect, message
from tests.ops.helpers import T0, open_alarms, rule


@pytest.fixture
def queue_mode(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("CITYHUB_OPS_EVALUATION", "queue")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def _ingest(session: Any, device_id: Any, *values: tuple[float, float]) -> None:
    recs = [{"ts": (T0 + timedelta(minutes=m)).isoformat(), "values": {"strain": v}} for m, v in values]
    clock.set_now(T0 + timedelta(hours=1))
    result = connect.ingest_messages(session, [message(device_id, recs, clock.now())])
    assert result.stored == len(values)


def test_ingest_queues_and_the_worker_raises_the_same_alarm(world: Any, session: Any, queue_mode: None) -> None:
    cw = build_connect(world)
    if session.get_bind().dialect.name != "postgresql":
        assert ops.evaluation_mode(session) == "inline"  # no SKIP LOCKED / NOTIFY: SQLite evaluates inline
        return
    r = rule(world, session, condition={"op": ">", "value": 100})
    dev = cw["dev_a"].id
    _ingest(session, dev, (0, 50), (1, 120))
    assert open_alarms(session, dev) == []  # nothing evaluated inside the ingest transaction
    assert ops.telemetry_queue_depth(session) == 1
    out = ops.drain_telemetry_queue(session)
    assert (out.batches, out.points, out.raised, out.failed) == (1, 2, 1, 0)
    [alarm] = open_alarms(session, dev)
    assert alarm.rule_id == r.id and alarm.start_ts == T0 + timedelta(minutes=1)
    assert ops.telemetry_queue_depth(session) == 0
    # a later violation re-triggers the one open alarm (counted), it does not raise a second
    _ingest(session, dev, (2, 130))
    assert ops.drain_telemetry_queue(session).raised == 0
    assert open_alarms(session, dev)[0].count == 2


@pytest.mark.postgresql_only("the queue is PostgreSQL's")
def test_a_rolled_back_ingest_queues_nothing(world: Any, session: Any, queue_mode: None) -> None:
    cw = build_connect(world)
    rule(world, session, condition={"op": ">", "value": 100})
    sp = session.begin_nested()
    _ingest(session, cw["dev_a"].id, (0, 150))
    assert ops.telemetry_queue_depth(session) == 1
    sp.rollback()
    assert ops.telemetry_queue_depth(session) == 0


@pytest.mark.postgresql_only("the queue is PostgreSQL's")
def test_a_failed_enqueue_fails_the_ingest_batch_instead_of_storing_it_unevaluated(
        world: Any, session: Any, queue_mode: None, monkeypatch: pytest.MonkeyPatch) -> None:
    cw = build_connect(world)
    rule(world, session, condition={"op": ">", "value": 100})

    def broken(_s: Any, _p: Any) -> None:
        raise RuntimeError("queue table unavailable")

    monkeypatch.setattr(queue, "enqueue_telemetry", broken)
    sp = session.begin_nested()
    with pytest.raises(RuntimeError, match="queue table unavailable"):
        _ingest(session, cw["dev_a"].id, (0, 150))
    sp.rollback()  # the boundary rolls the batch back; the broker redelivers it
    assert connect.latest_values(session, [cw["dev_a"].id]) == {}


def test_inline_evaluation_that_raises_keeps_the_batch(world: Any, session: Any,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    cw = build_connect(world)
    rule(world, session, condition={"op": ">", "value": 100})

    def boom(_s: Any, _p: Any) -> None:
        raise RuntimeError("engine bug")

    monkeypatch.setattr(live, "on_telemetry_stored", boom)
    _ingest(session, cw["dev_a"].id, (0, 150))  # inline (the suite's mode): the engine's savepoint absorbs it
    assert cw["dev_a"].id in connect.latest_values(session, [cw["dev_a"].id])


@pytest.mark.postgresql_only("the queue is PostgreSQL's")
def test_no_rules_no_queue(world: Any, session: Any, queue_mode: None) -> None:
    cw = build_connect(world)
    _ingest(session, cw["dev_a"].id, (0, 150))
    assert ops.telemetry_queue_depth(session) == 0


@pytest.mark.postgresql_only("the queue is PostgreSQL's")
def test_a_batch_whose_evaluation_fails_is_dropped_and_counted(world: Any, session: Any, queue_mode: None,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    cw = build_connect(world)
    rule(world, session, condition={"op": ">", "value": 100})
    _ingest(session, cw["dev_a"].id, (0, 150))

    def boom(_s: Any, _p: Any) -> None:
        raise RuntimeError("engine bug")

    monkeypatch.setattr(live, "on_telemetry_stored", boom)
    out = ops.drain_telemetry_queue(session)
    assert (out.batches, out.failed) == (1, 1)
    assert ops.telemetry_queue_depth(session) == 0  # not retried forever behind everything else


# ---------------------------------------------------------------- several workers, real commits


@pytest.fixture
def pg_db(engine: Any) -> Iterator[Database]:
    if engine.dialect.name != "postgresql":
        pytest.skip("SKIP LOCKED and NOTIFY are PostgreSQL's")
    db = Database(engine=create_engine(engine.url, pool_size=3))
    with db.engine.begin() as conn:
        conn.execute(delete(TelemetryQueue))
    yield db
    with db.engine.begin() as conn:
        conn.execute(delete(TelemetryQueue))
    db.engine.dispose()


def _queue_rows(db: Database, n: int) -> None:
    # batches of unknown devices: evaluation drops their points, which is all these tests need
    with db.engine.begin() as conn:
        conn.execute(insert(TelemetryQueue), [{"enqueued_at": clock.now(), "points": queue.pack_points([])}
                                              for _ in range(n)])


def test_two_workers_never_take_the_same_batch(pg_db: Database) -> None:
    _queue_rows(pg_db, 3)
    with pg_db.session_scope() as a:
        first = ops.drain_telemetry_queue(a, limit=2)  # claims two, keeps them locked until commit
        with pg_db.session_scope() as b:
            second = ops.drain_telemetry_queue(b, limit=5)  # skips the locked ones
        assert (first.batches, second.batches) == (2, 1)
    with pg_db.session_scope() as c:
        assert ops.drain_telemetry_queue(c).batches == 0


def test_a_worker_that_dies_before_commit_leaves_its_batches_for_the_next(pg_db: Database) -> None:
    _queue_rows(pg_db, 2)
    s = pg_db.sessionmaker()
    assert ops.drain_telemetry_queue(s).batches == 2
    s.rollback()  # the worker died: its transaction never committed
    s.close()
    assert ops_cli.drain_queue(pg_db).batches == 2


def test_the_worker_wakes_on_the_notify_of_a_committed_batch(pg_db: Database) -> None:
    listener = ops_cli.QueueListener(pg_db)
    assert listener.wait(0.05) is False  # connects and LISTENs; nothing yet

    def commit_later() -> None:
        time.sleep(0.3)
        with pg_db.engine.begin() as conn:
            conn.execute(text("SELECT pg_notify(:c, '')"), {"c": ops.QUEUE_CHANNEL})

    t = threading.Thread(target=commit_later)
    started = time.monotonic()
    t.start()
    assert listener.wait(10) is True
    assert time.monotonic() - started < 5
    t.join()


@pytest.mark.postgresql_only("the queue is PostgreSQL's")
def test_one_failing_batch_does_not_cost_the_others_their_evaluation(world: Any, session: Any, queue_mode: None,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    cw = build_connect(world)
    rule(world, session, condition={"op": ">", "value": 100})
    dev = cw["dev_a"].id
    _ingest(session, dev, (0, 150))  # raises an alarm
    _ingest(session, dev, (1, 2999))  # the engine "fails" on this one
    real = ops.on_telemetry_stored

    def picky(s: Any, points: Any) -> Any:
        if any(p.value == 2999 for p in points):
            raise RuntimeError("engine bug on this batch")
        return real(s, points)

    monkeypatch.setattr(live, "on_telemetry_stored", picky)
    out = ops.drain_telemetry_queue(session)
    assert (out.batches, out.raised, out.failed) == (2, 1, 1)
    assert len(open_alarms(session, dev)) == 1 and ops.telemetry_queue_depth(session) == 0


def test_an_unreadable_queued_row_is_dropped_not_retried_forever(pg_db: Database) -> None:
    with pg_db.engine.begin() as conn:
        conn.execute(insert(TelemetryQueue), [{"enqueued_at": clock.now(), "points": b"not zstd"}])
    _queue_rows(pg_db, 1)
    with pg_db.session_scope() as s:
        out = ops.drain_telemetry_queue(s)
    assert (out.batches, out.failed) == (2, 1)
    with pg_db.session_scope() as s:
        assert ops.telemetry_queue_depth(s) == 0
