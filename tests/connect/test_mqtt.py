"""MQTT ingest against the real Mosquitto: same rows as HTTP, kill -9 loses nothing, broker ACL isolation."""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt_client
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from cityhub.connect import service
from cityhub.connect.mqtt import broker_files
from cityhub.connect.mqtt import client as cityhub_mqtt
from cityhub.connect.mqtt import worker as mqtt_worker
from cityhub.connect.schemas import DeviceCreate
from cityhub.core import service as core
from cityhub.core.schemas import OrganizationCreate
from cityhub.kit.db import Database
from cityhub.kit.migrate import upgrade
from cityhub.kit.settings import get_settings
from tests.conftest import need_service
from tests.connect.helpers import SYSTEM, build_connect, ensure_profiles

BROKER = "mqtt://127.0.0.1:1883"
T0 = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)


@pytest.fixture
def broker() -> str:
    need_service("Mosquitto", "127.0.0.1", 1883)
    return BROKER


def _records(n: int, start: datetime, step_s: float = 1.0) -> list[dict[str, Any]]:
    return [{"ts": (start + timedelta(seconds=i * step_s)).isoformat(),
             "values": {"strain": 100 + i % 50, "deflection": 10 + i % 7, "temperature": 20}} for i in range(n)]


def test_mqtt_and_http_store_identical_rows(world: Any, db: Any, client: Any, broker: Any) -> None:
    cw = build_connect(world)
    s = world.session
    dev_http, token_http = cw["dev_a"], cw["token_a"]
    dev_mqtt, _ = service.device_create(s, SYSTEM, DeviceCreate(
        name="MQTT 应变计", org_id=world.orgs["dept_a"].id, profile_code="bridge-health", asset_id=cw["span"].id))
    s.commit()  # the worker's sessions are savepoints on the same test connection
    recs = _records(30, T0)
    bad = [{"ts": T0.isoformat(), "values": {"strain": "x", "colour": 1}}]
    payloads = [recs[:10], recs[10:20], recs[20:], bad]
    for p in payloads:
        resp = client.post(f"/api/v1/devices/{dev_http.id}/telemetry", json=p,
                           headers={"Authorization": f"Bearer {token_http}"})
        assert resp.status_code == 200, resp.text
    prefix = f"t-{uuid.uuid4().hex[:10]}/cityhub/v1"
    worker = mqtt_worker.IngestWorker(db, url=broker, client_id=f"t-ingest-{uuid.uuid4().hex[:8]}",
                               topic_filter=f"$share/t-{uuid.uuid4().hex[:8]}/{prefix}/devices/+/telemetry",
                               batch_size=100, batch_ms=50)
    worker.start()
    assert worker.wait_connected()
    time.sleep(0.3)  # SUBACK
    pub = cityhub_mqtt.publisher(broker)
    import json

    # the first batch from an MQTT 5 device with publish properties, which the worker's own decoder skips
    v5 = mqtt_client.Client(CallbackAPIVersion.VERSION2, client_id=f"t-v5-{uuid.uuid4().hex[:8]}",
                            protocol=mqtt_client.MQTTv5)
    v5.connect("127.0.0.1", 1883)
    v5.loop_start()
    props = Properties(PacketTypes.PUBLISH)
    props.UserProperty = [("gateway", "渝中-07")]
    props.ContentType = "application/json"
    v5.publish(f"{prefix}/devices/{dev_mqtt.id}/telemetry", json.dumps(payloads[0]), qos=1,
               properties=props).wait_for_publish(5)
    v5.loop_stop()
    v5.disconnect()
    infos = [pub.publish(f"{prefix}/devices/{dev_mqtt.id}/telemetry", json.dumps(p), qos=1) for p in payloads[1:]]
    pub.publish(f"{prefix}/devices/{dev_mqtt.id}/telemetry", b"{broken", qos=1).wait_for_publish(5)
    for i in infos:
        i.wait_for_publish(5)
    stats = worker.run(duration=20, until=lambda st: st.messages >= len(payloads) + 1)
    pub.loop_stop()
    pub.disconnect()
    assert stats.messages == 5 and stats.stored == 90 and stats.quarantined == 3

    def rows(device_id: Any) -> Any:
        return sorted((p.key, p.ts, p.value, p.text) for p in service.telemetry_points(
            s, device_ids=[device_id], keys=None, start=T0 - timedelta(days=1), end=T0 + timedelta(days=1)))

    assert rows(dev_mqtt.id) == rows(dev_http.id) and len(rows(dev_http.id)) == 90
    latest = service.latest_values(s, [dev_http.id, dev_mqtt.id])
    assert latest[dev_http.id] == latest[dev_mqtt.id]
    assert service.quarantine_counts(s, dev_http.id) == {"unknown_key": 1, "wrong_type": 1}
    assert service.quarantine_counts(s, dev_mqtt.id) == {"unknown_key": 1, "wrong_type": 1, "bad_json": 1}


# ---------------------------------------------------------------- kill -9


@pytest.fixture
def scratch_db(engine: Any, tmp_path: Any) -> Iterator[Any]:
    """A separate, committed database of the same backend (the worker subprocess needs committed devices)."""
    if engine.dialect.name == "sqlite":
        url = f"sqlite:///{tmp_path / 'kill.db'}"
        upgrade(url)
        yield url
        return
    admin_url = make_url(get_settings().test_postgres_url)
    name = f"cityhub_kill_{os.getpid()}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _spawn(url: str, client_id: str, group: str, prefix: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CITYHUB_DATABASE_URL": url, "CITYHUB_MQTT_URL": BROKER, "CITYHUB_INGEST_BATCH_MS": "100",
           "CITYHUB_INGEST_BATCH_SIZE": "200", "CITYHUB_LOG_LEVEL": "INFO"}
    return subprocess.Popen([sys.executable, "-m", "cityhub.cli", "ingest", "--client-id", client_id,
                             "--group", group, "--prefix", prefix], env=env, stdout=log.open("ab"),
                            stderr=subprocess.STDOUT)


def _wait_log(log: Path, needle: str, count: int, timeout: float = 30) -> None:
    ends = time.monotonic() + timeout
    while time.monotonic() < ends:
        if log.exists() and log.read_text(errors="replace").count(needle) >= count:
            return
        time.sleep(0.1)
    raise AssertionError(f"worker never logged {needle!r}: {log.read_text(errors='replace')[-2000:]}")


def test_kill_9_mid_stream_then_restart_stores_every_point_once(scratch_db: Any, broker: Any, tmp_path: Any) -> None:
    db = Database(scratch_db)
    with db.session_scope() as s:
        org = core.organization_create(s, SYSTEM, OrganizationCreate(
            name="杀进程测试局", code=f"k-{uuid.uuid4().hex[:8]}", kind="department"))
        ensure_profiles(s)
        dev, _tok = service.device_create(s, SYSTEM, DeviceCreate(name="k", org_id=org.id,
                                                                   profile_code="bridge-health"))
        device_id = dev.id
    run = uuid.uuid4().hex[:10]
    prefix, group, cid = f"k-{run}/cityhub/v1", f"k-{run}", f"k-ingest-{run}"
    log = tmp_path / "worker.log"
    worker = _spawn(scratch_db, cid, group, prefix, log)
    try:
        _wait_log(log, "subscribed to", 1)
        time.sleep(0.3)
        total = 1200
        pub = cityhub_mqtt.publisher(broker)
        published = threading.Event()
        killed, resumed = threading.Event(), threading.Event()

        def publish() -> None:
            import json

            since_kill = 0
            for i in range(total):
                if killed.is_set():
                    since_kill += 1
                    if since_kill > 300:
                        # Mosquitto queues at most max_queued_messages (default 1000) for an absent session and
                        # drops beyond that (see docs/connect.md): hold the stream until the worker is back.
                        resumed.wait(60)
                rec = {"ts": (T0 + timedelta(milliseconds=i * 10)).isoformat(),
                       "values": {"strain": i % 100, "deflection": 1, "vibration": 2}}
                pub.publish(f"{prefix}/devices/{device_id}/telemetry", json.dumps(rec), qos=1)
                time.sleep(0.004)
            published.set()

        t = threading.Thread(target=publish)
        t.start()

        def stored() -> int:
            with db.session_scope() as s:
                return service.telemetry_count(s)

        ends = time.monotonic() + 30
        while stored() < 300 and time.monotonic() < ends:
            time.sleep(0.05)
        assert stored() >= 300
        worker.send_signal(signal.SIGKILL)  # mid-stream: batches in flight are neither committed nor acked
        worker.wait()
        killed.set()
        at_kill = stored()
        assert at_kill < total * 3
        time.sleep(0.5)
        worker = _spawn(scratch_db, cid, group, prefix, log)  # same client id: the persistent session resumes
        _wait_log(log, "subscribed to", 2, timeout=60)
        resumed.set()
        t.join()
        assert published.wait(30)
        ends = time.monotonic() + 60
        while stored() < total * 3 and time.monotonic() < ends:
            time.sleep(0.2)
        time.sleep(1.0)  # anything redelivered late must still not add a row
        assert stored() == total * 3
        with db.session_scope() as s:
            ts = {p.ts for p in service.telemetry_points(s, device_ids=[device_id], keys=["strain"],
                                                         start=T0, end=T0 + timedelta(hours=1))}
        assert ts == {T0 + timedelta(milliseconds=i * 10) for i in range(total)}
        pub.loop_stop()
        pub.disconnect()
    finally:
        worker.terminate()
        try:
            worker.wait(10)
        except subprocess.TimeoutExpired:
            worker.kill()
        db.engine.dispose()
        _drop_session(cid)


def _drop_session(client_id: str) -> None:
    """End the worker's persistent session at the broker (clean start, session expiry 0)."""
    c = mqtt_client.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt_client.MQTTv5)
    try:
        c.connect("127.0.0.1", 1883, clean_start=True)
        c.loop_start()
        time.sleep(0.2)
        c.disconnect()
        c.loop_stop()
    except OSError:
        pass


# ---------------------------------------------------------------- broker ACL


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def test_generated_acl_keeps_each_device_on_its_own_topic(world: Any, tmp_path: Any) -> None:
    if not Path(MOSQUITTO).exists():
        pytest.skip("mosquitto is not installed")
    cw = build_connect(world)
    s = world.session
    accounts = service.broker_accounts(s, SYSTEM)
    passwd, acl = broker_files.write_broker_auth(tmp_path / "auth", accounts, "ingest-secret")
    assert passwd.read_text().count("$7$101$") == len(accounts) + 1
    port = _free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {passwd}\nacl_file {acl}\n"
                    "persistence false\n"
                    # the files are 0600 and owned by whoever runs the test; keep the broker as that user
                    f"user {getpass.getuser()}\n")
    broker = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ends = time.monotonic() + 10
        while time.monotonic() < ends and not _listening(port):
            time.sleep(0.05)
        got: list[tuple[str, bytes | bytearray]] = []
        sub = mqtt_client.Client(CallbackAPIVersion.VERSION2, client_id="acl-ingest", protocol=mqtt_client.MQTTv5)
        sub.username_pw_set(broker_files.INGEST_USER, "ingest-secret")
        sub.on_message = lambda _c, _u, m: got.append((m.topic, m.payload))
        sub.connect("127.0.0.1", port)
        sub.loop_start()
        sub.subscribe("$share/g/cityhub/v1/devices/+/telemetry", qos=1)
        time.sleep(0.3)
        a, b = cw["dev_a"].id, cw["dev_b"].id
        pub = cityhub_mqtt.publisher(f"mqtt://127.0.0.1:{port}", username=str(a), password=cw["token_a"])
        pub.publish(f"cityhub/v1/devices/{a}/telemetry", b"own", qos=1).wait_for_publish(5)
        pub.publish(f"cityhub/v1/devices/{b}/telemetry", b"forged", qos=1).wait_for_publish(5)
        time.sleep(0.5)
        assert got == [(f"cityhub/v1/devices/{a}/telemetry", b"own")]
        # a wrong password is refused at CONNECT
        bad = mqtt_client.Client(CallbackAPIVersion.VERSION2, client_id="acl-bad", protocol=mqtt_client.MQTTv311)
        bad.username_pw_set(str(a), "not-the-token")
        assert bad.connect("127.0.0.1", port) == 0
        result: list[Any] = []
        bad.on_connect = lambda _c, _u, _f, rc, _p: result.append(rc)
        bad.loop_start()
        time.sleep(0.5)
        bad.loop_stop()
        assert result and result[0].is_failure
        for c in (sub, pub):
            c.loop_stop()
            c.disconnect()
    finally:
        broker.terminate()
        broker.wait(5)


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


