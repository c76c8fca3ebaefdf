"""Commands of the programme cockpit: load the seed plan's targets, compute progress."""

from __future__ import annotations

import json
import logging
from typing import Annotated

import typer

from cityhub.apply import service as apply
from cityhub.apply.evaluation.schemas import RunCreate
from cityhub.apply.panorama.snapshot import CHECK_S, REFRESH_S
from cityhub.core.actor import Actor
from cityhub.kit import context, resilience
from cityhub.kit.db import Database

SYSTEM = Actor.system("cli")


def panorama_pass(db: Database, every_s: float) -> bool:
    """One pass of the 全景 worker: read the screen's figures again if they are due; whether it read them."""
    with db.session_scope() as session:
        if not apply.panorama_due(session, every_s):
            return False
        apply.panorama_refresh(session)
        return True


def register(app: typer.Typer) -> None:
    """`cityhub apply …`."""
    apply_app = typer.Typer(help="用 Apply: the programme cockpit.", no_args_is_help=True)
    app.add_typer(apply_app, name="apply")

    @apply_app.command("seed")
    def seed() -> None:
        """Load the seed plan's targets and the default evaluation schemes (codes that exist are left as they are)."""
        with Database.from_settings().session_scope() as session:
            out = apply.programme_seed(session, SYSTEM).model_dump()
            out["schemes_created"] = apply.evaluation.scheme_seed(session, SYSTEM)
            typer.echo(json.dumps(out))

    @apply_app.command("refresh")
    def refresh() -> None:
        """Compute every computed target from its progress source (keeps the value in the history)."""
        with Database.from_settings().session_scope() as session:
            typer.echo(json.dumps(apply.progress_refresh(session, SYSTEM).model_dump()))

    @apply_app.command("evaluate")
    def evaluate(year: int = typer.Argument(..., help="The year evaluated"),
                 scheme: str = typer.Option("", help="A scheme's code (default: every scheme)")) -> None:
        """Compute (or recompute the draft of) the annual evaluation of a year."""
        with Database.from_settings().session_scope() as session:
            for s in apply.evaluation.scheme_list(session, SYSTEM):
                if scheme in ("", s.code):
                    run = apply.evaluation.evaluation_run_compute(session, SYSTEM, RunCreate(scheme_id=s.id,
                                                                                             year=year))
                    typer.echo(json.dumps({"scheme": s.code, "run": str(run.id), "year": year}))

    @apply_app.command("panorama-worker")
    def panorama_worker(
        every: Annotated[float, typer.Option(help="Seconds between two readings of every layer.")] = REFRESH_S,
        check: Annotated[float, typer.Option(help="Seconds between looks for a write's request.")] = CHECK_S,
    ) -> None:
        """Keep the 全景 screen's figures computed (make run starts it); database outages are waited out.

        Every `every` seconds, and at once after a write of the cockpit asks for it; the screen only reads them.
        """
        from cityhub.kit.settings import get_settings

        settings = get_settings()
        logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        stop = resilience.stop_on_signals()
        watch = resilience.Watch.for_worker("apply-panorama", settings)
        context.set_current(context.RequestContext(channel="cli"))
        db = Database.from_settings()

        def step() -> float:
            panorama_pass(db, every)
            return check

        resilience.run_forever(step, watch, stop)
