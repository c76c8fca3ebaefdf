"""`cityhub context …`: the notification worker (subscriptions' outbox to HTTP and MQTT endpoints)."""

from __future__ import annotations

import logging
from typing import Annotated

import httpx
import typer
from rich.console import Console

from cityhub.context import devicewatch, notify, periodic
from cityhub.kit import context, egress, resilience
from cityhub.kit.db import Database
from cityhub.kit.progress import counts_line

err = Console(stderr=True)


def _db() -> Database:
    context.set_current(context.RequestContext(channel="cli"))
    return Database.from_settings()


def deliver_once(db: Database, http: httpx.Client) -> dict[str, int]:
    """One pass: queue the due periodic notifications and those of devices' new telemetry, then deliver.

    Periodic: timeInterval (`periodic.py`); devices: connect's stored batches queued for change subscriptions
    (`devicewatch.py`).
    """
    with db.session_scope() as session:
        periodic.run_due(session)
    with db.session_scope() as session:
        devicewatch.run(session)
    with db.session_scope() as session:
        return notify.deliver(session, http)


def register(app: typer.Typer) -> None:
    """Add `cityhub context …`."""
    context_app = typer.Typer(help="NGSI-LD context broker: subscription notifications.", no_args_is_help=True)
    app.add_typer(context_app, name="context")

    @context_app.command("notify")
    def notify_once() -> None:
        """Deliver the due notifications once."""
        with egress.client(timeout=5, listed_only=True) as http:  # endpoints: allow-listed hosts only
            err.print(counts_line("context notify", deliver_once(_db(), http)), soft_wrap=True)

    @context_app.command("worker")
    def worker(interval: Annotated[float, typer.Option(help="Seconds between passes.")] = 1.0) -> None:
        """Deliver notifications forever (make run starts it); database outages are waited out."""
        from cityhub.kit.settings import get_settings

        settings = get_settings()
        logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        stop = resilience.stop_on_signals()
        watch = resilience.Watch.for_worker("context-worker", settings)
        db = _db()
        with egress.client(timeout=5, listed_only=True) as http:

            def step() -> float:
                out = deliver_once(db, http)
                if out["delivered"] or out["failed"]:
                    err.print(counts_line("context worker", out), soft_wrap=True)
                return 0.0 if sum(out.values()) >= 200 else interval

            resilience.run_forever(step, watch, stop)
