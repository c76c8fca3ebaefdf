"""`cityhub ops …`: the background worker (rule timers, SLA escalation, indicators, outbox delivery), one tick."""

from __future__ import annotations

import time
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console

from cityhub.core.service import Actor
from cityhub.kit import context
from cityhub.kit.db import Database
from cityhub.ops import delivery, service

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
    with httpx.Client(timeout=5) as http:
        err.print(f"ops tick: {run_tick(_db(), publisher, http)}")
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
                self._conn = self._psycopg.connect(self._dsn, autocommit=True)
                self._conn.execute(f"LISTEN {service.QUEUE_CHANNEL}")
            got = False
            for _n in self._conn.notifies(timeout=max(timeout, 0.0), stop_after=1):
                got = True
            return got
        except self._psycopg.Error:  # the database went away: sleep the timeout out, reconnect next time
            self._conn = None
            time.sleep(max(timeout, 0.0))
            return False


@ops_app.command("worker")
def worker(
    interval: Annotated[float | None, typer.Option(help="Seconds between passes.")] = None,
    queue_only: Annotated[bool, typer.Option(help="Only evaluate queued telemetry (no timers, SLAs, outbox): "
                                                  "extra rule consumers beside a full worker.")] = False,
) -> None:
    """Run the pass forever (make run starts it), and evaluate queued telemetry as it arrives.

    Several workers may run against PostgreSQL: queued batches are claimed with SKIP LOCKED.
    """
    from cityhub.kit.settings import get_settings

    db = _db()
    pause = interval or get_settings().ops_tick_interval_s
    with db.session_scope() as session:
        queued = service.evaluation_mode(session) == "queue"
    listener = QueueListener(db) if queued else None
    if queue_only and listener is None:
        raise typer.BadParameter("--queue-only needs CITYHUB_OPS_EVALUATION=queue (or auto) on PostgreSQL")
    publisher = None if queue_only else delivery.mqtt_publisher()
    next_tick = float("inf") if queue_only else 0.0
    with httpx.Client(timeout=5) as http:
        while True:
            now = time.monotonic()
            if now >= next_tick:
                next_tick = now + pause
                try:
                    out = run_tick(db, publisher, http)
                    if out["timers"]["raised"] or out["escalated"] or out["outbox"]["delivered"]:
                        err.print(f"ops: {out}")
                except Exception as exc:  # keep the companion alive; the next pass retries
                    err.print(f"[red]ops worker pass failed: {type(exc).__name__}: {exc}[/red]")
                if publisher is None:
                    publisher = delivery.mqtt_publisher()
            if listener is None:
                time.sleep(max(0.0, next_tick - time.monotonic()))
                continue
            try:
                drained = drain_queue(db, until=next_tick)
                if drained.raised or drained.failed:
                    err.print(f"ops queue: {drained}")
            except Exception as exc:  # the database is down: the batches stay queued
                err.print(f"[red]ops queue drain failed: {type(exc).__name__}: {exc}[/red]")
            if listener.wait(min(1.0, max(0.0, next_tick - time.monotonic()))):
                # let a few more batches commit, so one engine call shares its fixed costs (the version check, the
                # state write, the transaction) over them: at 20,000 points/s that is 4 batches per call
                time.sleep(QUEUE_COALESCE_S)


def register(app: typer.Typer) -> None:
    """Add `cityhub ops …`."""
    app.add_typer(ops_app, name="ops")
