"""The MQTT ingest worker through outages: the database cut behind a proxy, Mosquitto restarted mid-stream, and a
bad setting (which alone ends it, non-zero). Each test brings its own broker and database on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from cityhub.connect import service
from cityhub.connect.mqtt import client as mqtt_client
from cityhub.connect.mqtt import worker as mqtt_worker
from cityhub.connect.schemas import DeviceCreate
from cityhub.core import service as core
from cityhub.core.schemas import OrganizationCreate
from cityhub.kit import resilience
from cityhub.kit.db import Database
from cityhub.kit.migrate import upgrade
from cityhub.kit.settings import get_settings
from tests.conftest import need_service
from tests.connect.helpers import SYSTEM, ensure_profiles
from tests.outages import Mosquitto, TcpProxy, child_env, pg_scratch, via_proxy, wait_for

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
KEYS = 3  # points per message: strain, deflection, vibration


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    b = Mosquitto(tmp_path / "broker")
    b.start()
    yield b
    b.stop()


@pytest.fixture
def pg_url() -> Iterator[str]:
    yield from pg_scratch("cityhub_outage_ingest")


@pytest.fixture(params=["sqlite", "postgresql"])
def any_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'outage.db'}"
        upgrade(url)
        yield url
    else:
        yield from pg_scratch("cityhub_outage_broker")


def _device(url: str) -> uuid.UUID:
    db = Database(url)
    with db.session_scope() as s:
        org = core.organization_create(s, SYSTEM, OrganizationCreate(
            name="断线测试局", code=f"o-{uuid.uuid4().hex[:8]}", kind="department"))
        ensure_profiles(s)
        dev, _tok = service.device_create(s, SYSTEM, DeviceCreate(name="o", org_id=org.id,
                                                                   profile_code="bridge-health"))
    db.engine.dispose()
    return dev.id


def _body(i: int) -> bytes:
    return json.dumps({"ts": (T0 + timedelta(seconds=i)).isoformat(),
                       "values": {"strain": i % 100, "deflection": 1, "vibration": 2}}).encode()


def _publish(url: str, topic: str, indexes: range) -> None:
    pub = mqtt_client.publisher(url)
    try:
        infos = [pub.publish(topic, _body(i), qos=1) for i in indexes]
        for info in infos:
            info.wait_for_publish(10)
            assert info.is_published()
    finally:
        pub.loop_stop()
        pub.disconnect()


class Running:
    """An IngestWorker in a thread, with a fast backoff (cap 1 s) so the test is short."""

    def __init__(self, db: Database, broker_url: str, tmp: Path) -> None:
        run = uuid.uuid4().hex[:10]
        self.prefix = f"o-{run}/cityhub/v1"
        self.watch = resilience.Watch(f"ingest-{run}", heartbeat=tmp / "health" / "ingest.json",
                                      backoff=lambda: resilience.Backoff(0.2, 1.0), beat_every=0.2)
        self.worker = mqtt_worker.IngestWorker(db, url=broker_url, client_id=f"o-ingest-{run}",
                                        topic_filter=f"$share/o-{run}/{self.prefix}/devices/+/telemetry",
                                        batch_size=100, batch_ms=50, watch=self.watch)
        assert self.worker.wait_connected()
        self.stop = threading.Event()
        self.error: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.worker.run(self.stop)
        except BaseException as exc:
            self.error.append(exc)

    def topic(self, device: uuid.UUID) -> str:
        return f"{self.prefix}/devices/{device}/telemetry"

    def close(self) -> None:
        self.stop.set()
        self.thread.join(15)
        assert not self.thread.is_alive()


def _stored(db: Database) -> int:
    with db.session_scope() as s:
        return service.telemetry_count(s)


def _timestamps(db: Database, device: uuid.UUID) -> list[datetime]:
    with db.session_scope() as s:
        return sorted(p.ts for p in service.telemetry_points(s, device_ids=[device], keys=["strain"],
                                                             start=T0, end=T0 + timedelta(days=1)))


def _messages(caplog: pytest.LogCaptureFixture, needle: str) -> int:
    return sum(needle in r.getMessage() for r in caplog.records)


def test_ingest_worker_rides_out_a_database_outage_and_stores_everything_after(
        pg_url: str, broker: Mosquitto, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "cityhub")
    device = _device(pg_url)
    direct = Database(pg_url)
    pg = make_url(pg_url)
    proxy = TcpProxy(pg.host or "127.0.0.1", pg.port or 5432)
    worker_db = Database(via_proxy(pg_url, proxy))
    w = Running(worker_db, broker.url, tmp_path)
    try:
        _publish(broker.url, w.topic(device), range(0, 50))
        wait_for(lambda: _stored(direct) == 50 * KEYS, 20, "the first 50 messages")

        proxy.cut()  # every connection to PostgreSQL dropped, new ones refused
        _publish(broker.url, w.topic(device), range(50, 150))  # the broker takes them; the worker cannot store
        wait_for(lambda: w.watch.state == "waiting_for_database", 10, "the worker to notice")
        time.sleep(4)  # well past the 1.5 s after which the worker used to give up and exit
        assert w.thread.is_alive() and not w.error
        assert _stored(direct) == 50 * KEYS
        beat = json.loads((tmp_path / "health" / "ingest.json").read_text())
        assert beat["state"] == "waiting_for_database" and beat["consecutive_failures"] >= 2

        proxy.restore()
        wait_for(lambda: _stored(direct) == 150 * KEYS, 30, "the messages held through the outage")
        wait_for(lambda: w.watch.state == "running", 10, "the worker to report the database back")
        _publish(broker.url, w.topic(device), range(150, 200))  # and it goes on as before
        wait_for(lambda: _stored(direct) == 200 * KEYS, 20, "messages after the outage")
        time.sleep(0.5)
        assert _stored(direct) == 200 * KEYS
        assert _timestamps(direct, device) == [T0 + timedelta(seconds=i) for i in range(200)]
        assert _messages(caplog, "waiting for database") == 1 and _messages(caplog, "database back") == 1
    finally:
        w.close()
        proxy.close()
        worker_db.engine.dispose()
        direct.engine.dispose()
    assert not w.error


class StoreBlocked:
    """Hold the telemetry table so the worker's next store waits (the worker then holds received, unacknowledged
    messages in hand), until `release`."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url)
        self.conn = self.engine.connect()
        if self.engine.dialect.name == "sqlite":
            self.conn.exec_driver_sql("BEGIN IMMEDIATE")  # kit.db's own BEGIN is skipped: raw DBAPI-level BEGIN
        else:
            self.conn.execute(text("LOCK TABLE connect_telemetry IN EXCLUSIVE MODE"))

    def release(self) -> None:
        self.conn.rollback()
        self.conn.close()
        self.engine.dispose()


def test_a_broker_restart_mid_stream_loses_nothing_and_stores_each_point_once(
        any_url: str, broker: Mosquitto, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "cityhub")
    device = _device(any_url)
    db = Database(any_url)
    w = Running(Database(any_url), broker.url, tmp_path)
    first, n, m = 100, 400, 300
    try:
        _publish(broker.url, w.topic(device), range(0, first))
        wait_for(lambda: _stored(db) == first * KEYS, 20, "the first messages")
        blocked = StoreBlocked(any_url)
        try:
            _publish(broker.url, w.topic(device), range(first, first + n))  # all acknowledged by the broker
            time.sleep(0.5)  # the worker has them in hand, its store waiting on the lock: none acknowledged
            broker.stop()  # mid-stream; Mosquitto saves its sessions with their unacknowledged messages
        finally:
            blocked.release()  # the worker stores what it holds; its acknowledgements cannot reach the broker
        wait_for(lambda: w.watch.state == "waiting_for_broker", 10, "the worker to notice")
        time.sleep(1.5)
        assert w.thread.is_alive() and not w.error
        broker.start()
        wait_for(lambda: w.watch.state == "running", 15, "the worker to resume its session")
        _publish(broker.url, w.topic(device), range(first + n, first + n + m))
        total = first + n + m
        wait_for(lambda: _stored(db) == total * KEYS, 30, f"all {total} messages")
        wait_for(lambda: w.worker.stats.messages >= total + 1, 10, "the redelivered messages")
        time.sleep(1.0)  # anything redelivered late must still not add a row
        assert _stored(db) == total * KEYS
        assert _timestamps(db, device) == [T0 + timedelta(seconds=i) for i in range(total)]
        # the resumed session redelivered what had not been acknowledged; the unique rule absorbed the copies
        assert w.worker.stats.duplicates > 0
        assert _messages(caplog, "waiting for broker") == 1 and _messages(caplog, "broker back") == 1
        assert any("session resumed" in r.getMessage() for r in caplog.records)
    finally:
        w.close()
        w.worker.db.engine.dispose()
        db.engine.dispose()
    assert not w.error


def _ingest(env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cityhub.cli", "ingest", "--client-id", "o-fatal"],
                          capture_output=True, text=True, env=env, timeout=timeout)


def test_ingest_exits_non_zero_on_a_fatal_configuration_error(tmp_path: Path) -> None:
    admin = make_url(get_settings().test_postgres_url)
    need_service("PostgreSQL", admin.host or "127.0.0.1", admin.port or 5432)
    # an unknown database: before, the worker subscribed and idled (or, at the first message, gave up with 0)
    missing = admin.set(database=f"cityhub_missing_{uuid.uuid4().hex[:8]}").render_as_string(hide_password=False)
    started = time.monotonic()
    done = _ingest(child_env(CITYHUB_DATABASE_URL=missing, CITYHUB_MQTT_URL="mqtt://127.0.0.1:1",
                             CITYHUB_VAR_DIR=str(tmp_path)))
    assert done.returncode == resilience.EXIT_CONFIG, done.stderr[-2000:]
    assert "bad configuration" in done.stderr and "does not exist" in done.stderr
    assert time.monotonic() - started < 30
    beat: dict[str, Any] = json.loads((tmp_path / "health" / "ingest-o-fatal.json").read_text())
    assert beat["state"] == "failed"
    no_broker = _ingest(child_env(CITYHUB_DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}", CITYHUB_MQTT_URL="",
                                  CITYHUB_VAR_DIR=str(tmp_path)))
    assert no_broker.returncode == resilience.EXIT_CONFIG and "CITYHUB_MQTT_URL" in no_broker.stderr
