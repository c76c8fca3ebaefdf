"""`cityhub data …`: deadline checks (reminders, escalation, expiry), search reindex, naming the bureau."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from cityhub.core.service import Actor
from cityhub.data import service
from cityhub.kit import context, resilience
from cityhub.kit.db import Database
from cityhub.kit.progress import counts_line
from cityhub.kit.settings import get_settings


def _db() -> Database:
    context.set_current(context.RequestContext(channel="cli"))
    return Database.from_settings()


def register(app: typer.Typer) -> None:
    """Add the `data` command group."""
    data_app = typer.Typer(help="数 Data: catalog, sharing, deadlines.", no_args_is_help=True)
    app.add_typer(data_app, name="data")

    @data_app.command("sla-check")
    def sla_check(every: Annotated[int, typer.Option(help="Repeat every N seconds (0: once).")] = 0) -> None:
        """Remind and escalate overdue reviews, expire ended grants (idempotent; run from cron or a timer).

        With `--every` it runs until stopped and waits out database outages (heartbeat
        `<var_dir>/health/data-sla-check.json`), exiting non-zero only on a fatal error.
        """
        db = _db()

        def step() -> float:
            with db.session_scope() as session:
                counts = service.sla_check(session, Actor.system("data-sla"))
            typer.echo(counts_line("data sla check", counts), err=bool(every))
            return float(every)

        if not every:
            step()
            return
        settings = get_settings()
        logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        stop = resilience.stop_on_signals()
        resilience.run_forever(step, resilience.Watch.for_worker("data-sla-check", settings), stop)

    @data_app.command("reindex")
    def reindex() -> None:
        """Recompute every entry's search text (after a segmenter dictionary change)."""
        with _db().session_scope() as session:
            n = service.reindex_all(session)
        typer.echo(f"reindexed {n} entries")
