"""MQTT side of connect: the ingest worker (paho-mqtt 2, manual acks), publishers, broker password/ACL files.

The worker joins a shared subscription with QoS 1 on a persistent MQTT 5 session (stable client id, clean start
off, a session expiry), collects messages into batches (by count and by time), stores each batch in one
transaction through `ingest.service.ingest_messages`, commits, and only then acknowledges every message of the batch.
A worker killed before the commit loses nothing: the broker redelivers the unacknowledged messages and the unique
(device, key, ts) rule absorbs what had been stored.

Outages (`kit.resilience`): while the database is down the worker keeps the batch in hand, unacknowledged, and
retries it with backoff, pumping the network meanwhile so the broker connection stays up; while the broker is down
it reconnects with backoff and resumes its session. Neither ends the worker; it exits (non-zero) only on a bad
setting or an unexpected error. A message is acknowledged only on the connection that delivered it: after a
reconnect its packet id may belong to another message, so a message received before is stored but left for the
broker to redeliver (the duplicate is absorbed).

"""

from __future__ import annotations

import collections
import gc
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from cityhub.connect.ingest import service as ingest
from cityhub.connect.mqtt.client import BrokerUrl, ReadAheadClient
from cityhub.connect.schemas import IngestResult, RawMessage
from cityhub.kit import resilience
from cityhub.kit.db import Database
from cityhub.kit.settings import Settings, get_settings

log = logging.getLogger("cityhub.connect.ingest")
SESSION_EXPIRY_S = 7 * 86400  # the broker keeps the worker's queue this long while it is away
RECEIVE_MAXIMUM = 65535  # unacknowledged messages the broker may send us (we ack a whole batch at once)
POISON_ATTEMPTS = 3  # a batch failing this often for another reason than an outage is stored message by message
# CONNACK/SUBACK reasons that are settings, not outages: retrying cannot help
_REFUSALS_FATAL = {"Bad user name or password", "Not authorized", "Client identifier not valid", "Banned",
                   "Topic Filter invalid", "Shared Subscriptions not supported", "Bad authentication method"}
# topic, payload, packet id, qos, received at, connection number, redelivered (DUP flag)
Item = tuple[str, bytes, int, int, datetime, int, bool]
KEY_PRUNE_EVERY_S = 60.0  # how often a worker deletes expired idempotency keys (decision 0009)


def default_client_id(settings: Settings, index: int = 0) -> str:
    """A stable client id per worker: the setting, else derived from the host name and worker index."""
    if settings.mqtt_client_id:
        return settings.mqtt_client_id if index == 0 else f"{settings.mqtt_client_id}-{index}"
    return f"cityhub-ingest-{socket.gethostname()}-{index}"[:64]


def subscription(settings: Settings, group: str | None = None, prefix: str | None = None) -> str:
    """The shared subscription every ingest worker joins."""
    return f"$share/{group or settings.mqtt_share_group}/{prefix or settings.mqtt_topic_prefix}/devices/#"


@dataclass
class WorkerStats:
    """Counters of one worker (also exported to its own Prometheus registry)."""

    messages: int = 0
    batches: int = 0
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    failures: int = 0
    started: float = field(default_factory=time.monotonic)


class IngestWorker:
    """Shared-subscription consumer: batch, store, commit, then acknowledge."""

    def __init__(self, db: Database, *, url: str, client_id: str, topic_filter: str, batch_size: int = 2000,
                 batch_ms: int = 200, on_batch: Callable[[IngestResult, int], None] | None = None,
                 registry: CollectorRegistry | None = None, watch: resilience.Watch | None = None) -> None:
        self.db = db
        self.broker = BrokerUrl.parse(url)
        self.client_id = client_id
        self.topic_filter = topic_filter
        self.batch_size = batch_size
        self.batch_s = batch_ms / 1000
        self.on_batch = on_batch
        self.stats = WorkerStats()
        self.watch = watch or resilience.Watch(f"ingest {client_id}", logger=log)  # no heartbeat file unless given
        self._queue: collections.deque[Item] = collections.deque()
        self._pending: list[Item] | None = None  # the batch being stored (kept, unacknowledged, through an outage)
        self._failed_attempts = 0  # of the pending batch, outages not counted
        self._generation = 0  # connections so far: a packet id is valid on the connection that delivered it only
        self._retry_at = 0.0
        self._prune_at = 0.0
        self._dialled = False
        self._fatal: resilience.ConfigurationError | None = None
        self._connected = threading.Event()
        self.registry = registry or CollectorRegistry()
        self._m_points = Counter("cityhub_ingest_points_total", "Points handled by this worker, by outcome.",
                                 ["outcome"], registry=self.registry)
        self._m_messages = Counter("cityhub_ingest_messages_total", "MQTT messages received by this worker.",
                                   registry=self.registry)
        self._m_batch = Histogram("cityhub_ingest_batch_seconds", "Time to store and commit one batch.",
                                  registry=self.registry, buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
        self._m_queue = Gauge("cityhub_ingest_queue", "Messages received and not yet stored.",
                              registry=self.registry)
        self._m_queue.set_function(lambda: len(self._queue))
        self.client = self._make_client()
        self._started = False

    def _make_client(self) -> ReadAheadClient:
        client = ReadAheadClient(CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=mqtt.MQTTv5,
                             manual_ack=True)
        if self.broker.username:
            client.username_pw_set(self.broker.username, self.broker.password)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_raw_publish = self._on_raw_publish
        client.reconnect_delay_set(1, 10)
        return client

    def _on_connect(self, client: mqtt.Client, _userdata: Any, flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            log.error("broker refused the ingest worker: %s", reason)
            if str(reason) in _REFUSALS_FATAL:
                self._fatal = resilience.ConfigurationError(f"the broker refused the ingest worker: {reason}")
            return
        self._generation += 1
        if getattr(flags, "session_present", False):
            # The broker resends every unacknowledged message of the resumed session: drop the copies not yet
            # stored (those of an earlier session are kept: they may exist nowhere else any more)
            self._queue.clear()
        # Subscribing again on a resumed session is harmless and covers a session the broker expired.
        client.subscribe(self.topic_filter, options=SubscribeOptions(qos=1))
        log.info("ingest worker %s connected (session %s)", self.client_id,
                 "resumed" if getattr(flags, "session_present", False) else "new")

    def _on_subscribe(self, _client: mqtt.Client, _userdata: Any, _mid: int, reasons: Any, _props: Any) -> None:
        if any(getattr(r, "is_failure", False) for r in reasons):
            log.error("broker refused the subscription %s: %s", self.topic_filter, reasons)
            if any(str(r) in _REFUSALS_FATAL for r in reasons):
                self._fatal = resilience.ConfigurationError(
                    f"the broker refused the subscription {self.topic_filter}: {reasons}")
            return
        self._connected.set()  # ready only once the broker confirmed the subscription (SUBACK)
        self.watch.up(resilience.BROKER)
        log.info("ingest worker %s subscribed to %s", self.client_id, self.topic_filter)

    def _on_disconnect(self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        self._connected.clear()
        log.warning("ingest worker %s disconnected: %s", self.client_id, reason)

    def _on_message(self, _client: mqtt.Client, _userdata: Any, msg: mqtt.MQTTMessage) -> None:
        self._queue.append((msg.topic, bytes(msg.payload), msg.mid, msg.qos, datetime.now(UTC), self._generation,
                            bool(msg.dup)))

    def _on_raw_publish(self, topic: bytes, payload: bytes, mid: int, qos: int, dup: bool) -> None:
        # an undecodable topic becomes one no device matches (quarantined as bad_topic), never an exception
        self._queue.append((topic.decode("utf-8", "replace"), payload, mid, qos, datetime.now(UTC),
                            self._generation, dup))

    def start(self) -> None:
        """Prepare the persistent-session connection (once); `run` and `wait_connected` drive the network.

        One thread does everything — network loop, batching, storing, acknowledging — instead of paho's network
        thread plus ours: at thousands of messages a second the two threads spent much of their time handing the
        GIL back and forth and waking each other (measured: one thread stores about a third more per CPU second).
        """
        if self._started:
            return
        self._started = True
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = SESSION_EXPIRY_S
        props.ReceiveMaximum = RECEIVE_MAXIMUM
        self.client.connect_async(self.broker.host, self.broker.port, keepalive=30, clean_start=False,
                                  properties=props)

    def _pump(self, timeout: float) -> None:
        """One turn of paho's network loop; (re)connect with backoff when there is no connection."""
        rc = self.client.loop(timeout)
        if self._fatal is not None:
            raise self._fatal
        if rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
            return
        now = time.monotonic()
        if now < self._retry_at:
            time.sleep(min(timeout, self._retry_at - now))
            return
        first, self._dialled = not self._dialled, True
        try:
            self.client.reconnect()
        except OSError as exc:  # broker down or unreachable: try again later (logged once per outage)
            self._retry_at = time.monotonic() + self.watch.down(resilience.BROKER, exc)
            return
        if not first:  # connected again, yet waiting for the broker until it confirms the subscription (SUBACK)
            self._retry_at = time.monotonic() + self.watch.down(resilience.BROKER, f"connection lost ({rc.name})")

    def wait_connected(self, timeout: float = 10.0) -> bool:
        """Drive the network until connected and subscribed (or timeout)."""
        self.start()
        ends = time.monotonic() + timeout
        while not self._connected.is_set() and time.monotonic() < ends:
            self._pump(0.05)
        return self._connected.is_set()

    def stop(self) -> None:
        """Disconnect, keeping the session (unacknowledged messages are redelivered to the next worker)."""
        self.client.disconnect()
        self.client.loop(0.1)

    def _take_batch(self, stop: threading.Event) -> list[Item]:
        """Pump the network until a batch is full or its oldest message waited batch_ms ([] after 0.5 s idle)."""
        q = self._queue
        idle_until = time.monotonic() + 0.5
        deadline = time.monotonic() + self.batch_s if q else None
        while not stop.is_set():
            now = time.monotonic()
            if deadline is None and q:
                deadline = now + self.batch_s
            if len(q) >= self.batch_size or (deadline is not None and now >= deadline):
                break
            if deadline is None and now >= idle_until:
                return []
            self._pump(min(0.05, deadline - now) if deadline is not None else 0.05)
        return [q.popleft() for _ in range(min(self.batch_size, len(q)))]

    def _store(self, items: Sequence[Item]) -> IngestResult:
        msgs = [RawMessage(t, p, r, dup) for t, p, _m, _q, r, _g, dup in items]
        with self.db.session_scope() as session:
            return ingest.ingest_messages(session, msgs)

    def _try_store(self, items: list[Item], stop: threading.Event) -> IngestResult | None:
        """Store the batch once; None when it must be tried again (the database is down: after waiting out)."""
        try:
            result = self._store(items)
        except Exception as exc:
            if resilience.outage_of(exc) is not None:  # keep the batch unacknowledged: wait, then try again
                self.stats.failures += 1
                self._wait_out(self.watch.down(resilience.DATABASE, exc), stop)
                return None
            # not an outage: a message the service cannot handle, or a bug. Retry, then isolate the message at fault
            self._failed_attempts += 1
            self.stats.failures += 1
            log.exception("ingest batch of %d failed (attempt %d)", len(items), self._failed_attempts)
            if self._failed_attempts < POISON_ATTEMPTS:
                self._wait_out(0.5 * 2 ** self._failed_attempts, stop)
                return None
            return self._one_by_one(items, stop)
        self.watch.up(resilience.DATABASE)
        return result

    def _one_by_one(self, items: list[Item], stop: threading.Event) -> IngestResult | None:
        total = IngestResult(0, 0, 0)
        for item in items:
            try:
                try:
                    r = self._store([item])
                except Exception as exc:
                    if resilience.outage_of(exc) is not None:
                        raise
                    log.exception("message on %s cannot be stored; quarantined", item[0])
                    r = self._quarantine_unexpected(item)
            except Exception as exc:
                if resilience.outage_of(exc) is None:
                    raise  # quarantining itself failed for another reason: a bug, the worker exits (unacknowledged)
                # the database went away meanwhile: keep the batch unacknowledged, wait, start it again
                self._wait_out(self.watch.down(resilience.DATABASE, exc), stop)
                return None
            total = IngestResult(total.stored + r.stored, total.duplicates + r.duplicates,
                                 total.quarantined + r.quarantined)
        self.watch.up(resilience.DATABASE)
        return total

    def _quarantine_unexpected(self, item: Item) -> IngestResult:
        with self.db.session_scope() as session:
            ingest.quarantine_unexpected(session, RawMessage(item[0], item[1], item[4], item[6]))
        return IngestResult(0, 0, 1)

    def _wait_out(self, seconds: float, stop: threading.Event) -> None:
        """Wait, pumping the network (the connection stays up, messages keep arriving unacknowledged)."""
        ends = time.monotonic() + seconds
        while not stop.is_set():
            left = ends - time.monotonic()
            if left <= 0:
                return
            self._pump(min(0.1, left))
            self.watch.beat()

    def run(self, stop: threading.Event | None = None, duration: float | None = None,
            until: Callable[[WorkerStats], bool] | None = None) -> WorkerStats:
        """Consume until `stop` is set, `duration` seconds passed or `until(stats)` holds.

        Database and broker outages are waited out (see the module's docstring); a bad setting raises
        `resilience.ConfigurationError` and anything unexpected propagates, both after a clean disconnect.
        """
        stop = stop or threading.Event()
        ends = time.monotonic() + duration if duration else None
        self.start()
        started = time.perf_counter()
        try:
            while not stop.is_set() and (ends is None or time.monotonic() < ends):
                if until is not None and until(self.stats):
                    break
                if self._pending is None:
                    items = self._take_batch(stop)
                    self.watch.beat()
                    if not items:
                        continue
                    self._pending, self._failed_attempts, started = items, 0, time.perf_counter()
                result = self._try_store(self._pending, stop)
                if result is None:  # not stored (yet): the batch stays in hand, unacknowledged
                    continue
                items, self._pending = self._pending, None
                # only what this connection delivered: an older packet id may name another message by now
                gen = self._generation
                self.client.ack_many([(mid, qos) for _t, _p, mid, qos, _r, g, _d in items if g == gen])
                self._record(result, len(items), time.perf_counter() - started)
                self._prune_keys()
        finally:
            self.stop()
        return self.stats

    def _prune_keys(self) -> None:
        """Every KEY_PRUNE_EVERY_S, delete expired idempotency keys in a transaction of their own.

        Housekeeping: a failure is logged and tried again next time, never the end of the worker.
        """
        now = time.monotonic()
        if now < self._prune_at:
            return
        self._prune_at = now + KEY_PRUNE_EVERY_S
        try:
            with self.db.session_scope() as session:
                ingest.ingest_keys_prune(session)
        except Exception:
            log.warning("pruning idempotency keys failed; trying again later", exc_info=True)

    def _record(self, result: IngestResult, n: int, seconds: float) -> None:
        s = self.stats
        s.messages += n
        s.batches += 1
        s.stored += result.stored
        s.duplicates += result.duplicates
        s.quarantined += result.quarantined
        self._m_messages.inc(n)
        self._m_points.labels("stored").inc(result.stored)
        self._m_points.labels("duplicate").inc(result.duplicates)
        self._m_points.labels("quarantined").inc(result.quarantined)
        self._m_batch.observe(seconds)
        if self.on_batch is not None:
            self.on_batch(result, n)


def run_worker(db: Database, settings: Settings | None = None, *, client_id: str | None = None,
               group: str | None = None, prefix: str | None = None, duration: float | None = None,
               metrics_port: int | None = None, stop: threading.Event | None = None) -> WorkerStats:
    """`cityhub ingest`: one worker until stopped, through any outage; `SystemExit` (non-zero) on a fatal error.

    Its heartbeat is `<var_dir>/health/ingest-<client id>.json` (`cityhub health`). The database is checked before
    subscribing: an unknown database or refused credentials exit at once (78), an unreachable one is waited for.
    """
    s = settings or get_settings()
    stop = stop or threading.Event()
    client = client_id or default_client_id(s)
    watch = resilience.Watch.for_worker(f"ingest-{client}", s, logger=log)
    with resilience.exit_on_fatal(watch):
        if not s.mqtt_url:
            raise resilience.ConfigurationError(
                "CITYHUB_MQTT_URL is not set: there is no broker to ingest from (HTTP ingest still works)")
        worker = IngestWorker(db, url=s.mqtt_url, client_id=client, topic_filter=subscription(s, group, prefix),
                              batch_size=s.ingest_batch_size, batch_ms=s.ingest_batch_ms, watch=watch)
        if resilience.until_up(lambda: _probe(db), watch, stop) is None:
            watch.stopped()
            return worker.stats
        if metrics_port:
            start_http_server(metrics_port, addr="127.0.0.1", registry=worker.registry)
        log.info("ingest worker pid %d as %s", os.getpid(), worker.client_id)
        freeze_startup_heap()
        stats = worker.run(stop, duration)
    watch.stopped()
    return stats


def freeze_startup_heap() -> None:
    """Take what a worker process built at start-up out of the cyclic garbage collector's sight (`gc.freeze`).

    Every batch allocates a few hundred thousand small container objects (queued messages, decoded payloads, rows,
    points) that live until the batch is stored, so CPython promotes them and keeps running full collections, each
    of which walked the whole start-up heap (every domain's modules, SQLAlchemy's mappers: about 200,000 objects).
    Measured on the benchmark's stream: 0.096 CPU-s per 10,000 points before, 0.062 after (docs/connect.md).
    Reference counting still frees frozen objects; only a reference cycle among them would never be collected,
    hence the collection first. Called once by `cityhub ingest` (and the benchmark's counting worker, whose read
    path must stay the same) just before consuming.
    """
    gc.collect()
    gc.freeze()


def _probe(db: Database) -> bool:
    with db.engine.connect().execution_options(sqlite_deferred=True) as conn:  # a read: no SQLite write lock
        conn.exec_driver_sql("SELECT 1")
    return True
