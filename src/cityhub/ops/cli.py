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


@ops_app.command("worker")
def worker(interval: Annotated[float | None, typer.Option(help="Seconds between passes.")] = None) -> None:
    """Run the pass forever (make run starts it); several workers may run against PostgreSQL."""
    from cityhub.kit.settings import get_settings

    db = _db()
    pause = interval or get_settings().ops_tick_interval_s
    publisher = delivery.mqtt_publisher()
    with httpx.Client(timeout=5) as http:
        while True:
            try:
                out = run_tick(db, publisher, http)
                if out["timers"]["raised"] or out["escalated"] or out["outbox"]["delivered"]:
                    err.print(f"ops: {out}")
            except Exception as exc:  # keep the companion alive; the next pass retries
                err.print(f"[red]ops worker pass failed: {type(exc).__name__}: {exc}[/red]")
            if publisher is None:
                publisher = delivery.mqtt_publisher()
            time.sleep(pause)


def register(app: typer.Typer) -> None:
    """Add `cityhub ops …`."""
    app.add_typer(ops_app, name="ops")
