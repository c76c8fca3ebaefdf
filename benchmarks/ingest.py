"""Ingest benchmark on PostgreSQL with Mosquitto: broker baseline, COPY baseline, cityhub end to end, two workers.

(a) broker: a bare counting subscriber (QoS 1, shared subscription) receives the same messages from the same
publisher; (b) copy: a raw COPY of the same rows into an indexed scratch table; (c) cityhub: publisher → Mosquitto →
`cityhub ingest` (a subprocess) → stored, counted in the database. Then two workers in the same share group split
another stream. Prints one JSON line with points, points_per_s, broker_points_per_s, ratio_vs_broker,
copy_points_per_s, p95_publish_to_stored_ms, lost, duplicates, worker_rss_mb, two_workers_split.

    python benchmarks/ingest.py            # 60 s sustained end-to-end phase
    python benchmarks/ingest.py --quick    # about a minute in all (make bench)

Needs PostgreSQL (CITYHUB_TEST_POSTGRES_URL) and Mosquitto at 127.0.0.1:1883 (BENCH_MQTT_URL).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import orjson  # noqa: E402
import paho.mqtt.client as paho  # noqa: E402
import psycopg  # noqa: E402
from _common import scratch_database  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402
from paho.mqtt.packettypes import PacketTypes  # noqa: E402
from paho.mqtt.properties import Properties  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from cityhub.connect import mqtt, service  # noqa: E402
from cityhub.connect.schemas import DeviceCreate  # noqa: E402
from cityhub.core import service as core  # noqa: E402
from cityhub.core.schemas import OrganizationCreate  # noqa: E402
from cityhub.kit.db import Database  # noqa: E402
from cityhub.kit.migrate import upgrade  # noqa: E402

BROKER = os.environ.get("BENCH_MQTT_URL", "mqtt://127.0.0.1:1883")
QUICK = "--quick" in sys.argv
DEVICES = 200
POINTS_PER_MSG = 3
E2E_SECONDS = 15 if QUICK else 60
T0 = datetime(2026, 1, 1, tzinfo=UTC)
SYSTEM = core.Actor.system("bench")


def _setup(url: str) -> list[uuid.UUID]:
    upgrade(url)
    db = Database(url)
    with db.session_scope() as s:
        org = core.organization_create(s, SYSTEM, OrganizationCreate(name="基准测试局", code="bench",
                                                                    kind="department"))  # type: ignore[arg-type]
        service.device_profiles_ensure(s, SYSTEM)
        ids = [service.device_create(s, SYSTEM, DeviceCreate(name=f"bench-{i}", org_id=org.id,
                                                             profile_code="bridge-health"))[0].id
               for i in range(DEVICES)]
    db.engine.dispose()
    return ids


class Stream:
    """Messages of 3 points each, unique (device, ts), carrying their publish time in `ts`-independent order."""

    def __init__(self, devices: list[uuid.UUID], prefix: str, start: int) -> None:
        self.devices = devices
        self.prefix = prefix
        self.n = start

    def next(self) -> tuple[str, bytes]:
        i = self.n
        self.n += 1
        dev = self.devices[i % len(self.devices)]
        ts = T0 + timedelta(milliseconds=10 * (i // len(self.devices)))
        body = orjson.dumps({"ts": ts.isoformat(), "values": {"strain": 100 + i % 50, "deflection": 3.5,
                                                               "vibration": 1.2}})
        return f"{self.prefix}/devices/{dev}/telemetry", body


def publish_for(stream: Stream, seconds: float | None = None, count: int | None = None,
                marks: list[tuple[float, int]] | None = None) -> tuple[int, float]:
    """Publish QoS 1 as fast as one Python publisher can; returns (messages, seconds until all acknowledged)."""
    pub = mqtt.publisher(BROKER, max_inflight=2000)
    acked = [0]
    pub.on_publish = lambda *_a: acked.__setitem__(0, acked[0] + 1)
    started = time.perf_counter()
    sent = 0
    last = None
    while True:
        if sent - acked[0] > 20_000:  # message ids are 16-bit: keep the unacknowledged window well below that
            time.sleep(0.001)
            continue
        if seconds is not None and time.perf_counter() - started >= seconds:
            break
        if count is not None and sent >= count:
            break
        topic, body = stream.next()
        last = pub.publish(topic, body, qos=1)
        sent += 1
        if marks is not None and sent % 500 == 0:
            marks.append((time.perf_counter(), sent))
    if last is not None:
        last.wait_for_publish(60)
    elapsed = time.perf_counter() - started
    pub.loop_stop()
    pub.disconnect()
    return sent, elapsed


def broker_baseline(devices: list[uuid.UUID], count: int) -> float:
    """Points/s a bare counting subscriber receives (QoS 1, shared subscription)."""
    run = uuid.uuid4().hex[:8]
    prefix = f"bench-{run}/cityhub/v1"
    got = {"n": 0, "first": 0.0, "last": 0.0}
    done = threading.Event()

    def on_message(_c: object, _u: object, _m: object) -> None:
        if got["n"] == 0:
            got["first"] = time.perf_counter()
        got["n"] += 1
        got["last"] = time.perf_counter()
        if got["n"] >= count:
            done.set()

    sub = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-count-{run}", protocol=paho.MQTTv5)
    sub.on_message = on_message
    host, port = mqtt.BrokerUrl.parse(BROKER).host, mqtt.BrokerUrl.parse(BROKER).port
    props = Properties(PacketTypes.CONNECT)
    props.ReceiveMaximum = mqtt.RECEIVE_MAXIMUM  # the same flow-control window the ingest worker asks for
    sub.connect(host, port, properties=props)
    sub.loop_start()
    sub.subscribe(f"$share/bench-{run}/{prefix}/devices/+/telemetry", qos=1)
    time.sleep(0.5)
    started = time.perf_counter()
    publish_for(Stream(devices, prefix, 0), count=count)
    done.wait(60)
    sub.loop_stop()
    sub.disconnect()
    return got["n"] * POINTS_PER_MSG / max(got["last"] - started, 1e-9)


def copy_baseline(url: str, devices: list[uuid.UUID], rows: int) -> float:
    """Rows/s of a raw COPY into an indexed scratch table shaped like the telemetry table."""
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE bench_copy (device_id uuid, key text, ts timestamptz, value float8, text text, "
                    "PRIMARY KEY (device_id, key, ts))")
        cur.execute("CREATE INDEX ON bench_copy USING brin (ts)")
        data = [(devices[i % len(devices)], ("strain", "deflection", "vibration")[i % 3],
                 T0 + timedelta(milliseconds=10 * (i // (3 * len(devices)))), float(i), None) for i in range(rows)]
        started = time.perf_counter()
        for chunk in range(0, rows, 6000):
            with cur.copy("COPY bench_copy (device_id, key, ts, value, text) FROM STDIN") as cp:
                for r in data[chunk:chunk + 6000]:
                    cp.write_row(r)
            conn.commit()
        elapsed = time.perf_counter() - started
        cur.execute("DROP TABLE bench_copy")
    return rows / elapsed


def stored(url: str) -> int:
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn) as conn:
        return int(conn.execute("SELECT count(*) FROM connect_telemetry").fetchone()[0])  # type: ignore[index]


def spawn_worker(url: str, client_id: str, group: str, prefix: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CITYHUB_DATABASE_URL": url, "CITYHUB_MQTT_URL": BROKER, "CITYHUB_LOG_LEVEL": "INFO",
           "CITYHUB_INGEST_BATCH_SIZE": "3000", "CITYHUB_INGEST_BATCH_MS": "200"}
    proc = subprocess.Popen([sys.executable, "-m", "cityhub.cli", "ingest", "--client-id", client_id, "--group",
                             group, "--prefix", prefix], env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and log.read_text(errors="replace").count(f"{client_id} connected") < 1:
        time.sleep(0.1)
    time.sleep(0.5)
    return proc


def rss_peak_mb(pid: int) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    m = re.search(r"VmHWM:\s+(\d+) kB", text)
    return round(int(m.group(1)) / 1024, 1) if m else 0.0


def stop_worker(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()


def main() -> None:
    url = scratch_database("cityhub_bench_ingest")
    devices = _setup(url)
    load = os.getloadavg()[0]
    broker_msgs = 20_000 if QUICK else 60_000
    broker_pps = broker_baseline(devices, broker_msgs)
    copy_pps = copy_baseline(url, devices, 150_000 if QUICK else 300_000)

    run = uuid.uuid4().hex[:8]
    prefix, group = f"bench-{run}/cityhub/v1", f"bench-{run}"
    log = Path(f"/tmp/cityhub-bench-ingest-{run}.log")
    worker = spawn_worker(url, f"bench-ingest-{run}-0", group, prefix, log)
    marks: list[tuple[float, int]] = []
    samples: list[tuple[float, int]] = []
    sampling = threading.Event()

    def sample() -> None:
        while not sampling.is_set():
            samples.append((time.perf_counter(), stored(url)))
            time.sleep(0.1)

    sampler = threading.Thread(target=sample)
    sampler.start()
    started = time.perf_counter()
    sent, _ = publish_for(Stream(devices, prefix, 0), seconds=E2E_SECONDS, marks=marks)
    expected = sent * POINTS_PER_MSG
    deadline = time.monotonic() + 60
    while stored(url) < expected and time.monotonic() < deadline:
        time.sleep(0.1)
    done_at = time.perf_counter()
    sampling.set()
    sampler.join()
    got = stored(url)
    rss = rss_peak_mb(worker.pid)
    stop_worker(worker)
    # publish→stored: the time the stored count first reached each mark minus when that mark was published
    lat = []
    for t_pub, n in marks:
        need = n * POINTS_PER_MSG
        t_store = next((t for t, c in samples if c >= need), done_at)
        lat.append(max(0.0, t_store - t_pub))
    lat.sort()
    p95 = lat[int(0.95 * (len(lat) - 1))] * 1000 if lat else 0.0
    points_per_s = got / (done_at - started)
    dup_match = re.findall(r"(\d+) duplicates", log.read_text(errors="replace"))

    # two workers in one share group split a second stream
    run2 = uuid.uuid4().hex[:8]
    prefix2, group2 = f"bench-{run2}/cityhub/v1", f"bench-{run2}"
    log2 = Path(f"/tmp/cityhub-bench-ingest-{run2}.log")
    w1 = spawn_worker(url, f"bench-ingest-{run2}-1", group2, prefix2, log2)
    w2 = spawn_worker(url, f"bench-ingest-{run2}-2", group2, prefix2, log2)
    before = stored(url)
    sent2, _ = publish_for(Stream(devices, prefix2, 10_000_000), count=10_000 if QUICK else 30_000)
    deadline = time.monotonic() + 60
    while stored(url) - before < sent2 * POINTS_PER_MSG and time.monotonic() < deadline:
        time.sleep(0.1)
    stored2 = stored(url) - before
    for w in (w1, w2):
        stop_worker(w)
    split = [int(x) for x in re.findall(r"ingest: (\d+) messages", log2.read_text(errors="replace"))]

    print(json.dumps({
        "points": got, "points_per_s": round(points_per_s), "broker_points_per_s": round(broker_pps),
        "ratio_vs_broker": round(points_per_s / broker_pps, 3), "copy_points_per_s": round(copy_pps),
        "p95_publish_to_stored_ms": round(p95), "lost": expected - got,
        "duplicates": sum(int(x) for x in dup_match), "worker_rss_mb": rss,
        "two_workers_split": {"messages_per_worker": split, "points_stored": stored2, "lost": sent2 * 3 - stored2},
        "seconds": E2E_SECONDS, "devices": DEVICES, "points_per_message": POINTS_PER_MSG,
        "load_avg_1m_at_start": round(load, 2), "quick": QUICK}))


if __name__ == "__main__":
    main()
