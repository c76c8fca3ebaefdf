"""Commands of the programme cockpit: load the seed plan's targets, compute progress."""

from __future__ import annotations

import json

import typer

from cityhub.apply import service as apply
from cityhub.apply.evaluation.schemas import RunCreate
from cityhub.core.actor import Actor
from cityhub.kit.db import Database

SYSTEM = Actor.system("cli")


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
