"""`cityhub cloud …`: the job worker, the idle rule, metering, reconciliation and ratio snapshots."""

from __future__ import annotations

import logging
import time
from datetime import date, timedelta
from typing import Annotated

import typer
from rich.console import Console

from cityhub.cloud import service
from cityhub.core.service import Actor
from cityhub.kit import clock, context, resilience
from cityhub.kit.db import Database
from cityhub.kit.errors import CityhubError, NotFound
from cityhub.kit.progress import counts_line
from cityhub.kit.settings import get_settings

cloud_app = typer.Typer(help="云 Cloud control plane.", no_args_is_help=True)
jobs_app = typer.Typer(help="Provider jobs (provision, resize, reclaim).", no_args_is_help=True)
cloud_app.add_typer(jobs_app, name="jobs")
err = Console(stderr=True)
ACTOR = Actor.system("cloud-worker")


def _db() -> Database:
    context.set_current(context.RequestContext(channel="cli"))
    return Database.from_settings()


def run_due_jobs(db: Database, limit: int = 100) -> dict[str, int]:
    """Run due jobs, each attempt in its own transaction (a crash loses at most one attempt, which resumes)."""
    with db.session_scope() as session:
        due = service.jobs_due(session, limit)
    out = {"run": 0, "done": 0, "retrying": 0, "failed": 0}
    for job_id in due:
        try:
            with db.session_scope() as session:
                job = service.job_execute(session, ACTOR, job_id)
                status = job.status
        except NotFound:
            continue  # another worker holds it
        out["run"] += 1
        out[{"done": "done", "failed": "failed"}.get(status, "retrying")] += 1
    return out


@jobs_app.command("run")
def jobs_run(
    loop: Annotated[bool, typer.Option(help="Keep polling instead of running once.")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between polls with --loop.")] = 5.0,
    limit: Annotated[int, typer.Option(help="Jobs per poll.")] = 100,
) -> None:
    """Run due provider jobs (retries with exponential backoff; finished jobs never run twice)."""
    db = _db()
    while True:
        out = run_due_jobs(db, limit)
        if out["run"] or not loop:
            err.print(counts_line("cloud jobs", out), soft_wrap=True)
        if not loop:
            return
        time.sleep(interval)


@cloud_app.command("idle-check")
def idle_check() -> None:
    """Apply the idle rule (remind → escalate → propose reduction); safe to run any number of times."""
    with _db().session_scope() as session:
        err.print(counts_line("idle rule", service.idle_check(session, ACTOR)), soft_wrap=True)


@cloud_app.command("collect-usage")
def collect_usage(day: Annotated[str, typer.Option(help="Day (YYYY-MM-DD); default yesterday.")] = "") -> None:
    """Collect one day's utilisation of every active node (idempotent)."""
    d = date.fromisoformat(day) if day else clock.now().date() - timedelta(days=1)
    with _db().session_scope() as session:
        err.print(f"usage {d}: {service.usage_collect(session, ACTOR, d)} nodes")


@cloud_app.command("reconcile")
def reconcile() -> None:
    """Compare every provider's inventory with cityhub's and record drift and orphans."""
    db = _db()
    with db.session_scope() as session:
        accounts = [(a.id, a.name) for a in service.provider_account_list(session, ACTOR) if a.enabled]
    for account_id, name in accounts:
        try:
            with db.session_scope() as session:
                found = service.reconcile(session, ACTOR, account_id)
                err.print(f"reconcile {name}: {len(found)} findings")
        except CityhubError as exc:
            err.print(f"[red]reconcile {name}: {exc.message}[/red]")


@cloud_app.command("snapshot")
def snapshot() -> None:
    """Store today's 上云率/整合率 per unit and for the city."""
    with _db().session_scope() as session:
        err.print(counts_line("ratio snapshots", service.ratio_snapshot_take(session, ACTOR)), soft_wrap=True)


@cloud_app.command("worker")
def worker(interval: Annotated[float, typer.Option(help="Seconds between job polls.")] = 5.0) -> None:
    """Run jobs continuously and the daily tasks (usage, idle rule, snapshot, reconcile) once a day.

    Database outages are waited out (heartbeat `<var_dir>/health/cloud-worker.json`); exits non-zero only on a
    fatal error. Jobs and daily tasks are idempotent, so a pass cut short by an outage is simply run again.
    """
    settings = get_settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = resilience.stop_on_signals()
    watch = resilience.Watch.for_worker("cloud-worker", settings)
    db = _db()
    last_daily: list[date] = []

    def step() -> float:
        out = run_due_jobs(db)
        if out["run"]:
            err.print(counts_line("cloud jobs", out), soft_wrap=True)
        today = clock.now().date()
        if not last_daily or last_daily[0] != today:
            try:
                with db.session_scope() as session:
                    service.usage_collect(session, ACTOR, today - timedelta(days=1))
                with db.session_scope() as session:
                    service.idle_check(session, ACTOR)
                with db.session_scope() as session:
                    service.ratio_snapshot_take(session, ACTOR)
                reconcile()
            except CityhubError as exc:
                err.print(f"[red]daily cloud tasks: {exc.message}[/red]")
            last_daily[:] = [today]  # an outage raised above: the daily tasks run again after it
        return interval

    resilience.run_forever(step, watch, stop)


def register(app: typer.Typer) -> None:
    """Add `cityhub cloud …`."""
    app.add_typer(cloud_app, name="cloud")
