"""Ingest benchmark on PostgreSQL with Mosquitto: broker baseline, COPY baseline, cityhub end to end, two workers.

(a) broker: a counting subscriber (QoS 1, shared subscription, its own process) receives what one flat-out
Python publisher sends for 15 s — the ingest worker itself with storage replaced by a count (`CountingWorker`: the
same client, PUBLISH decoder, batching and batched acknowledgements), so `ratio_vs_broker` is the cost of
validation and storage over bare delivery through the same read path; (b) copy: a raw COPY of the same rows into
an indexed scratch table;
(c) capacity: the same flat-out publisher → Mosquitto → `cityhub ingest` (a subprocess) → stored, counted in the
database, 15 s of publishing until all is stored (`points_per_s`, `ratio_vs_broker`); (d) sustained: a paced
publisher for 60 s (`--quick`: 15 s) at `--rate` points/s, by default 90 % of the measured capacity capped at
21,000 (5 % over the 20,000 goal), where `p95_publish_to_stored_ms` is measured: every message carries its publish
time as `ts`, and a sampler reads the stored watermark (the oldest per-device latest `ts` in `connect_latest`, 200
rows) every 50 ms, so measuring costs the database almost nothing. Then two
workers in the same share group split another stream. Prints one JSON line.

    python benchmarks/ingest.py                 # capacity, then 60 s sustained
    python benchmarks/ingest.py --quick         # 15 s sustained (make bench)
    python benchmarks/ingest.py --rate 20000    # sustained phase at a given rate

Needs PostgreSQL (CITYHUB_TEST_POSTGRES_URL) and the `mosquitto` binary: the benchmark starts its own broker on a
free port with docs/connect.md's production queue settings (BROKER_CONF); BENCH_MQTT_URL points it at another.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import orjson
import psycopg
from _common import record, scratch_database
from sqlalchemy.engine import make_url

from cityhub.connect import service
from cityhub.connect.mqtt import client as mqtt_client
from cityhub.connect.mqtt import worker as mqtt_worker
from cityhub.connect.schemas import DeviceCreate, IngestResult
from cityhub.core import service as core
from cityhub.core.schemas import OrganizationCreate
from cityhub.kit.db import Database
from cityhub.kit.migrate import upgrade

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
# The broker: BENCH_MQTT_URL when given, else a Mosquitto of our own (see `own_broker`), else the one at 1883.
BROKER = os.environ.get("BENCH_MQTT_URL", "")
# docs/connect.md's production settings: a worker that falls behind is queued for, not dropped
BROKER_CONF = "persistence false\nmax_queued_messages 1000000\nmax_queued_bytes 1073741824\n"
QUICK = "--quick" in sys.argv
DEVICES = 200
POINTS_PER_MSG = 3
E2E_SECONDS = 15 if QUICK else 60
RATE = int(sys.argv[sys.argv.index("--rate") + 1]) if "--rate" in sys.argv else None  # None: 90 % of capacity
GOAL_RATE = 20_000
CAPACITY_SECONDS = 15  # flat out for longer only grows a backlog the broker drops past its queue limits
T0 = datetime(2026, 1, 1, tzinfo=UTC)
SYSTEM = core.Actor.system("bench")


def _setup(url: str) -> list[uuid.UUID]:
    upgrade(url)
    db = Database(url)
    with db.session_scope() as s:
        org = core.organization_create(s, SYSTEM, OrganizationCreate(name="基准测试局", code="bench",
                                                                    kind="department"))
        service.device_profiles_ensure(s, SYSTEM)
        ids = [service.device_create(s, SYSTEM, DeviceCreate(name=f"bench-{i}", org_id=org.id,
                                                             profile_code="bridge-health"))[0].id
               for i in range(DEVICES)]
    db.engine.dispose()
    return ids


class Stream:
    """Messages of 3 points each with unique (device, ts): synthetic times, or live publish times (`live`).

    Each pass goes over every device once; with `shuffle` every pass in a new random order. Without it the fixed
    order and the broker's round-robin hand each of two workers a fixed half of the devices, so they never touch
    the same rows and cannot show lock-order deadlocks (issue 14).
    """

    def __init__(self, devices: list[uuid.UUID], prefix: str, start: int, live: bool = False,
                 shuffle: random.Random | None = None) -> None:
        self.devices = list(devices)
        self.prefix = prefix
        self.n = start
        self.live = live
        self.shuffle = shuffle
        self.last: dict[uuid.UUID, datetime] = {}

    def next(self) -> tuple[str, bytes]:
        i = self.n
        self.n += 1
        if self.shuffle is not None and i % len(self.devices) == 0:
            self.shuffle.shuffle(self.devices)
        dev = self.devices[i % len(self.devices)]
        if self.live:  # the publish time itself, kept strictly increasing per device
            ts = datetime.now(UTC)
            prev = self.last.get(dev)
            if prev is not None and ts <= prev:
                ts = prev + timedelta(microseconds=1)
            self.last[dev] = ts
        else:
            ts = T0 + timedelta(milliseconds=10 * (i // len(self.devices)))
        body = orjson.dumps({"ts": ts.isoformat(), "values": {"strain": 100 + i % 50, "deflection": 3.5,
                                                               "vibration": 1.2}})
        return f"{self.prefix}/devices/{dev}/telemetry", body


def publish_for(stream: Stream, seconds: float | None = None, count: int | None = None,
                rate: float | None = None) -> tuple[int, float]:
    """Publish QoS 1 flat out (or paced at `rate` messages/s); returns (messages, seconds until all acknowledged).

    One thread drives paho's network loop between publishes (no network thread): the cheapest way for a single
    Python publisher to push QoS-1 messages, about 10,000 a second on this machine with nothing else running.
    """
    pub = mqtt_client.publisher(BROKER, max_inflight=100, threaded=False)
    acked = [0]
    pub.on_publish = lambda *_a: acked.__setitem__(0, acked[0] + 1)
    started = time.perf_counter()
    sent = 0
    while True:
        now = time.perf_counter()
        if seconds is not None and now - started >= seconds:
            break
        if count is not None and sent >= count:
            break
        if sent - acked[0] > 2_000:  # paho scans its whole outgoing queue on every PUBACK: keep it short
            pub.loop(0.001)
            continue
        if rate is not None and sent >= (now - started) * rate:
            pub.loop(0.002)
            continue
        topic, body = stream.next()
        pub.publish(topic, body, qos=1)
        sent += 1
        if sent % 20 == 0:
            pub.loop(0)
    deadline = time.monotonic() + 60
    while acked[0] < sent and time.monotonic() < deadline:
        pub.loop(0.01)
    elapsed = time.perf_counter() - started
    pub.disconnect()
    return sent, elapsed


class CountingWorker(mqtt_worker.IngestWorker):
    """The ingest worker with storage replaced by a count: its own read path and nothing else.

    Same client (read-ahead socket, the worker's own PUBLISH decoder, Receive Maximum 65,535, one thread), same
    batching by count and time, same batched PUBACKs after each batch — only `_store` (parse, validate, write,
    commit) is gone. So `ratio_vs_broker` = the worker's rate ÷ this one's is what storage and validation cost
    over bare delivery through the very same code.
    """

    last = 0.0

    def _store(self, items: object) -> IngestResult:
        self.last = time.time()
        return IngestResult(0, 0, 0)

    def _prune_keys(self) -> None:  # no database
        return None


def count_subscriber(topic: str, client_id: str, idle_s: float = 3.0) -> None:
    """Child process of the broker baseline: count QoS-1 messages, print the count and the last arrival time."""
    worker = CountingWorker(Database("sqlite://"), url=BROKER, client_id=client_id, topic_filter=topic,
                            batch_size=int(os.environ.get("CITYHUB_INGEST_BATCH_SIZE", "2000")),
                            batch_ms=int(os.environ.get("CITYHUB_INGEST_BATCH_MS", "200")))
    assert worker.wait_connected()
    print("ready", flush=True)
    mqtt_worker.freeze_startup_heap()  # as `cityhub ingest` does: the same read path, garbage collection included
    # done once the stream has been quiet a while
    worker.run(until=lambda st: st.messages > 0 and time.time() - worker.last >= idle_s)
    print(json.dumps({"n": worker.stats.messages, "last": worker.last}), flush=True)


def broker_baseline(devices: list[uuid.UUID], seconds: float) -> float:
    """Points/s a bare counting subscriber (its own process, like the worker) receives from the flat-out publisher."""
    run = uuid.uuid4().hex[:8]
    prefix = f"bench-{run}/cityhub/v1"
    child = subprocess.Popen([sys.executable, __file__, "--count-subscriber",
                              f"$share/bench-{run}/{prefix}/devices/+/telemetry", f"bench-count-{run}"],
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    child.stdout.readline()  # "ready"
    time.sleep(0.5)
    started = time.time()
    publish_for(Stream(devices, prefix, 0), seconds=seconds)
    out = json.loads(child.stdout.readline())
    child.wait(30)
    return float(out["n"] * POINTS_PER_MSG / max(out["last"] - started, 1e-9))


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
        return int(conn.execute("SELECT count(*) FROM connect_telemetry").fetchone()[0])  # type: ignore[index]  # count(*) always returns one row


def spawn_worker(url: str, client_id: str, group: str, prefix: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CITYHUB_DATABASE_URL": url, "CITYHUB_MQTT_URL": BROKER, "CITYHUB_LOG_LEVEL": "INFO",
           "CITYHUB_INGEST_BATCH_SIZE": os.environ.get("CITYHUB_INGEST_BATCH_SIZE", "2000"),
           "CITYHUB_INGEST_BATCH_MS": os.environ.get("CITYHUB_INGEST_BATCH_MS", "200")}
    proc = subprocess.Popen([sys.executable, "-m", "cityhub.cli", "ingest", "--client-id", client_id, "--group",
                             group, "--prefix", prefix], env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and log.read_text(errors="replace").count(f"{client_id} subscribed to") < 1:
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


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def capacity_phase(url: str, devices: list[uuid.UUID], workers: int = 1) -> dict[str, float]:
    """Flat-out publisher → worker(s): stored points per second until everything published is stored."""
    run = uuid.uuid4().hex[:8]
    prefix, group = f"bench-{run}/cityhub/v1", f"bench-{run}"
    log = Path(f"/tmp/cityhub-bench-ingest-{run}.log")
    procs = [spawn_worker(url, f"bench-ingest-{run}-{i}", group, prefix, log) for i in range(workers)]
    before = stored(url)
    started = time.perf_counter()
    sent, _ = publish_for(Stream(devices, prefix, 0), seconds=CAPACITY_SECONDS)
    expected = sent * POINTS_PER_MSG
    deadline = time.monotonic() + 120
    while stored(url) - before < expected and time.monotonic() < deadline:
        time.sleep(0.1)
    elapsed = time.perf_counter() - started
    got = stored(url) - before
    rss = max(rss_peak_mb(p.pid) for p in procs)
    for p in procs:
        stop_worker(p)
    dups = sum(int(x) for x in re.findall(r"(\d+) duplicates", log.read_text(errors="replace")))
    return {"points": got, "points_per_s": got / elapsed, "lost": expected - got, "duplicates": dups, "rss": rss}


def paced_phase(url: str, devices: list[uuid.UUID], rate: int) -> dict[str, float]:
    """A publisher paced at `rate` points/s with live timestamps; p95 publish→stored from the stored watermark."""
    run = uuid.uuid4().hex[:8]
    prefix, group = f"bench-{run}/cityhub/v1", f"bench-{run}"
    log = Path(f"/tmp/cityhub-bench-ingest-{run}.log")
    worker = spawn_worker(url, f"bench-ingest-{run}-0", group, prefix, log)
    before = stored(url)
    samples: list[tuple[float, float]] = []  # (wall time of the sample, stored watermark as epoch seconds)
    halt = threading.Event()

    def sample() -> None:
        with psycopg.connect(_dsn(url), autocommit=True) as conn:
            while not halt.is_set():
                row = conn.execute("SELECT count(*), min(ts) FROM connect_latest WHERE key = 'strain' "
                                   "AND ts > now() - interval '1 hour'").fetchone()
                if row and row[0] == len(devices):
                    samples.append((time.time(), row[1].timestamp()))
                time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    stream = Stream(devices, prefix, 0, live=True)
    started = time.perf_counter()
    sent, _ = publish_for(stream, seconds=E2E_SECONDS, rate=rate / POINTS_PER_MSG)
    published_for = time.perf_counter() - started
    expected = sent * POINTS_PER_MSG
    deadline = time.monotonic() + 120
    while stored(url) - before < expected and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.2)
    halt.set()
    sampler.join()
    got = stored(url) - before
    rss = rss_peak_mb(worker.pid)
    stop_worker(worker)
    # latency of a publish at time p: the first sample whose watermark reached p, minus p (10 probes a second)
    lat = []
    if samples:
        first_pub = samples[0][1]
        probes = [first_pub + k / 10 for k in range(int((samples[-1][1] - first_pub) * 10))]
        j = 0
        for p in probes:
            while j < len(samples) and samples[j][1] < p:
                j += 1
            if j < len(samples):
                lat.append(samples[j][0] - p)
    lat.sort()
    return {"points": got, "points_per_s": got / published_for, "lost": expected - got, "rss": rss,
            "p95_ms": lat[int(0.95 * (len(lat) - 1))] * 1000 if lat else float("nan"),
            "p50_ms": lat[len(lat) // 2] * 1000 if lat else float("nan")}


def two_workers(url: str, devices: list[uuid.UUID]) -> dict[str, object]:
    """Two workers in one share group split a stream whose device order is shuffled on every pass.

    The broker deals messages round-robin, so both workers store points of the same devices in random, different
    orders: the case where unsorted multi-row writes deadlock. Failed batches (a deadlock among them) are counted
    from the workers' logs.
    """
    run = uuid.uuid4().hex[:8]
    prefix, group = f"bench-{run}/cityhub/v1", f"bench-{run}"
    log = Path(f"/tmp/cityhub-bench-ingest-{run}.log")
    w1 = spawn_worker(url, f"bench-ingest-{run}-1", group, prefix, log)
    w2 = spawn_worker(url, f"bench-ingest-{run}-2", group, prefix, log)
    before = stored(url)
    stream = Stream(devices, prefix, 10_000_000, shuffle=random.Random(14))
    sent, _ = publish_for(stream, count=10_000 if QUICK else 30_000)
    deadline = time.monotonic() + 60
    while stored(url) - before < sent * POINTS_PER_MSG and time.monotonic() < deadline:
        time.sleep(0.1)
    got = stored(url) - before
    for w in (w1, w2):
        stop_worker(w)
    text = log.read_text(errors="replace")
    split = [int(x) for x in re.findall(r"ingest: (\d+) messages", text)]
    failures = text.split("failed (attempt")[1:]  # each logged failed batch, followed by its traceback
    return {"messages_per_worker": split, "points_stored": got, "lost": sent * POINTS_PER_MSG - got,
            "device_order": "shuffled per pass", "failed_batches": len(failures),
            "deadlocks": sum("DeadlockDetected" in re.split(r"\n(?:INFO|WARNING|ERROR):", f)[0] for f in failures)}


def own_broker() -> subprocess.Popen[bytes] | None:
    """Start a Mosquitto on a free port with BROKER_CONF (unless BENCH_MQTT_URL names one); sets BROKER.

    The shared broker at 1883 keeps Mosquitto's defaults (`max_queued_messages 1000`): there, a flat-out
    publisher that gets more than the receive window plus 1,000 messages ahead of the worker has messages
    dropped by the broker, which measures the broker's configuration, not the ingest path.
    """
    global BROKER
    if BROKER:
        return None
    if not Path(MOSQUITTO).exists():
        BROKER = "mqtt://127.0.0.1:1883"
        return None
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conf = Path(f"/tmp/cityhub-bench-mosquitto-{port}.conf")
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n{BROKER_CONF}")
    proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    BROKER = f"mqtt://127.0.0.1:{port}"
    os.environ["BENCH_MQTT_URL"] = BROKER  # the counting subscriber (a child process) reads it
    return proc


def main() -> None:
    broker = own_broker()
    try:
        _run()
    finally:
        if broker is not None:
            broker.terminate()
            broker.wait(10)


def _run() -> None:
    url = scratch_database("cityhub_bench_ingest")
    devices = _setup(url)
    load = os.getloadavg()[0]
    broker_pps = broker_baseline(devices, CAPACITY_SECONDS)
    copy_pps = copy_baseline(url, devices, 150_000 if QUICK else 300_000)
    cap = capacity_phase(url, devices)
    # 5 % over the goal when capacity allows, so that the paced publisher's small shortfall stays above it
    rate = RATE or int(min(1.05 * GOAL_RATE, 0.9 * cap["points_per_s"]) // 500 * 500)
    paced = paced_phase(url, devices, rate)
    split = two_workers(url, devices)
    record("ingest", {
        "points": cap["points"] + paced["points"], "points_per_s": round(cap["points_per_s"]),
        "broker_points_per_s": round(broker_pps), "ratio_vs_broker": round(cap["points_per_s"] / broker_pps, 3),
        "copy_points_per_s": round(copy_pps),
        "paced_target_points_per_s": rate, "goal_points_per_s": GOAL_RATE,
        "paced_points_per_s": round(paced["points_per_s"]),
        "p95_publish_to_stored_ms": round(paced["p95_ms"]), "p50_publish_to_stored_ms": round(paced["p50_ms"]),
        "lost": cap["lost"] + paced["lost"], "duplicates": cap["duplicates"],
        "worker_rss_mb": max(cap["rss"], paced["rss"]), "two_workers_split": split,
        "seconds": E2E_SECONDS, "devices": DEVICES, "points_per_message": POINTS_PER_MSG,
        "load_avg_1m_at_start": round(load, 2), "quick": QUICK, "broker": BROKER})


if __name__ == "__main__":
    if "--count-subscriber" in sys.argv:
        i = sys.argv.index("--count-subscriber")
        count_subscriber(sys.argv[i + 1], sys.argv[i + 2])
    else:
        main()
