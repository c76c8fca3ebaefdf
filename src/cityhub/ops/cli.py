"""`cityhub ops …`: the background worker (rule timers, SLA escalation, indicators, outbox delivery), one tick."""

from __future__ import annotations

import logging
import time
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console

from cityhub.core.service import Actor
from cityhub.kit import context, egress, resilience
from cityhub.kit.db import Database
from cityhub.kit.progress import counts_line
from cityhub.ops import service
from cityhub.ops.alarms import delivery

ops_app = typer.Typer(help="一网统管 Operations center.", no_args_is_help=True)
err = Console(stderr=True)
ACTOR = Actor.system("ops-worker")


def _db() -> Database:
    context.set_current(context.RequestContext(channel="cli"))
    return Database.from_settings()


def run_tick(db: Database, publisher: delivery.Publisher | None, http: httpx.Client) -> dict[str, Any]:
    """One pass, each part in its own transaction (a failing part never blocks the others)."""
    out: dict[str, Any] = {}
    with db.session_scope() as session:
        r = service.tick(session)
        out["timers"] = {"raised": r.raised, "cleared": r.cleared}
    with db.session_scope() as session:
        f = service.forecast_refit(session)
        out["forecast"] = {"fitted": f.fitted, "failed": f.failed}
    with db.session_scope() as session:
        out["escalated"] = service.sla_check(session, ACTOR)
    with db.session_scope() as session:
        out["indicators"] = service.indicators_compute(session)
    with db.session_scope() as session:
        out["outbox"] = delivery.deliver(session, publisher, http)
    return out


@ops_app.command("tick")
def tick() -> None:
    """Run one pass: fire due timers and no-data, escalate SLAs, compute indicators, deliver events."""
    publisher = delivery.mqtt_publisher()
    with egress.client(timeout=5, listed_only=True) as http:  # webhooks: allow-listed hosts only
        err.print(counts_line("ops tick", run_tick(_db(), publisher, http)), soft_wrap=True)
    if isinstance(publisher, delivery.MqttPublisher):
        publisher.close()


QUEUE_COALESCE_S = 0.1  # added to a point's wait for its rules; p95 point -> evaluated stays well under 1 s


def drain_queue(db: Database, batches: int = 16, until: float | None = None) -> service.DrainResult:
    """Evaluate queued batches until the queue is empty or `until` (monotonic) passed; a claim per transaction."""
    total = service.DrainResult()
    while until is None or time.monotonic() < until:
        with db.session_scope() as session:
            r = service.drain_telemetry_queue(session, batches)
        if not r.batches:
            return total
        total.batches += r.batches
        total.points += r.points
        total.raised += r.raised
        total.failed += r.failed
        total.oldest_wait_s = max(total.oldest_wait_s, r.oldest_wait_s)
    return total


class QueueListener:
    """A dedicated autocommit connection LISTENing on the queue channel: wake when a batch commits.

    A missed notification (the connection dropped, the worker started after the NOTIFY) costs at most `timeout`:
    the caller drains after every wait, notified or not.
    """

    def __init__(self, db: Database) -> None:
        import psycopg

        self._dsn = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._psycopg = psycopg
        self._conn: Any = None

    def wait(self, timeout: float) -> bool:
        """Block until a notification or `timeout` seconds; True when notified."""
        try:
            if self._conn is None or self._conn.closed:
                self._conn = self._psycopg.connect(self._dsn, autocommit=True, connect_timeout=5)
                self._conn.execute(f"LISTEN {service.QUEUE_CHANNEL}")
            got = False
            for _n in self._conn.notifies(timeout=max(timeout, 0.0), stop_after=1):
                got = True
            return got
        except self._psycopg.Error:  # the database went away: sleep the timeout out, reconnect next time
            self._conn = None
            time.sleep(max(timeout, 0.0))
            return False


class WorkerLoop:
    """One step of `cityhub ops worker`: a pass when due, then the queue until the next (or a notification)."""

    def __init__(self, db: Database, pause: float, listener: QueueListener | None,
                 publisher: delivery.Publisher | None, http: httpx.Client, watch: resilience.Watch,
                 queue_only: bool = False) -> None:
        self.db, self.pause, self.listener, self.publisher, self.http, self.watch = (
            db, pause, listener, publisher, http, watch)
        self.next_tick = float("inf") if queue_only else 0.0

    def step(self) -> float:
        """Run what is due; returns the seconds to wait (a database outage raises: `run_forever` waits it out)."""
        now = time.monotonic()
        if now >= self.next_tick:
            out = run_tick(self.db, self.publisher, self.http)  # an outage raises before the next pass is set
            self.next_tick = now + self.pause
            if out["timers"]["raised"] or out["escalated"] or out["outbox"]["delivered"]:
                err.print(counts_line("ops worker", out), soft_wrap=True)
            if self.publisher is not None:  # the broker's state, for the log and the heartbeat
                if self.publisher.ready():
                    self.watch.up(resilience.BROKER)
                else:
                    self.watch.down(resilience.BROKER, "not connected; alarm events wait in the outbox")
        if self.listener is None:
            return max(0.0, self.next_tick - time.monotonic())
        drained = drain_queue(self.db, until=self.next_tick)
        if drained.raised or drained.failed:
            err.print(counts_line("ops queue", drained), soft_wrap=True)
        if self.listener.wait(min(1.0, max(0.0, self.next_tick - time.monotonic()))):
            # let a few more batches commit, so one engine call shares its fixed costs (the version check, the
            # state write, the transaction) over them: at 20,000 points/s that is 4 batches per call
            time.sleep(QUEUE_COALESCE_S)
        return 0.0


@ops_app.command("worker")
def worker(
    interval: Annotated[float | None, typer.Option(help="Seconds between passes.")] = None,
    queue_only: Annotated[bool, typer.Option(help="Only evaluate queued telemetry (no timers, SLAs, outbox): "
                                                  "extra rule consumers beside a full worker.")] = False,
) -> None:
    """Run the pass forever (make run starts it), and evaluate queued telemetry as it arrives.

    Several workers may run against PostgreSQL: queued batches are claimed with SKIP LOCKED. Database and broker
    outages are waited out (heartbeat `<var_dir>/health/ops-worker.json`); exits non-zero only on a fatal error.
    """
    from cityhub.kit.settings import get_settings

    settings = get_settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = resilience.stop_on_signals()
    watch = resilience.Watch.for_worker("ops-worker-queue" if queue_only else "ops-worker", settings)
    with resilience.exit_on_fatal(watch):
        db = _db()
        pause = interval or settings.ops_tick_interval_s

        def mode() -> str:
            with db.session_scope() as session:
                return service.evaluation_mode(session)

        evaluation = resilience.until_up(mode, watch, stop)  # a database down at start is waited for
        if evaluation is None:
            watch.stopped()
            return
        listener = QueueListener(db) if evaluation == "queue" else None
        if queue_only and listener is None:
            raise resilience.ConfigurationError(
                "--queue-only needs CITYHUB_OPS_EVALUATION=queue (or auto) on PostgreSQL")
        publisher = None if queue_only else delivery.mqtt_publisher()
    with egress.client(timeout=5, listed_only=True) as http:  # webhooks: allow-listed hosts only
        loop = WorkerLoop(db, pause, listener, publisher, http, watch, queue_only)
        try:
            resilience.run_forever(loop.step, watch, stop)
        finally:
            if isinstance(publisher, delivery.MqttPublisher):
                publisher.close()


def register(app: typer.Typer) -> None:
    """Add `cityhub ops …`."""
    app.add_typer(ops_app, name="ops")
