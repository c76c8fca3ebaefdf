"""`cityhub data …`: deadline checks, search reindex, sync jobs and their worker, standards conformance counts."""

from __future__ import annotations

import logging
import uuid
from typing import Annotated

import typer

from cityhub.core.service import Actor
from cityhub.data import service
from cityhub.data.base import postgis
from cityhub.kit import context, resilience
from cityhub.kit.db import Database
from cityhub.kit.progress import Progress, counts_line, rich_progress


def _db() -> Database:
    context.set_current(context.RequestContext(channel="cli"))
    return Database.from_settings()


def _due_harvests(db: Database, actor: Actor, log: logging.Logger, done: dict[str, int]) -> int:
    """Run the scheduled CKAN/DCAT harvests that are due (a source's `options.every_hours`); how many were due."""
    with db.session_scope() as session:
        harvests = service.sync_harvest_due(session)
    for source_id in harvests:
        try:
            with db.session_scope() as session:
                if not service.sync_harvest_claim(session, source_id):
                    continue
                run = service.sync_source_harvest(session, actor, source_id, trigger="schedule")
                done[run.status] = done.get(run.status, 0) + 1
        except Exception:  # as for jobs: one source's bug must not stop the others
            log.exception("harvest %s", source_id)
            done["failed"] += 1
    return len(harvests)


STALE_PER_PASS = 20  # the sync worker counts at most this many stale conformance results per pass


def _refresh(db: Database, ids: list[uuid.UUID], log: logging.Logger, bar: Progress | None = None) -> dict[str, int]:
    """Count each resource's conformance again, each in its own transaction (one failing never stops the rest)."""
    done = {"checked": 0, "failed": 0}
    for rid in ids:
        try:
            with db.session_scope() as session:
                service.conformance_refresh_one(session, rid)
            done["checked"] += 1
        except Exception:  # a table that cannot be read (dropped under us, a bug): logged, the next pass retries
            log.exception("conformance of resource %s", rid)
            done["failed"] += 1
        if bar is not None:
            bar.advance()
    return done


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

        resilience.run_every(step, every, "data-sla-check")

    @data_app.command("reindex")
    def reindex() -> None:
        """Recompute every entry's search text (after a segmenter dictionary change)."""
        with _db().session_scope() as session:
            n = service.reindex_all(session)
        typer.echo(f"reindexed {n} entries")

    @data_app.command("sync")
    def sync(job: Annotated[str, typer.Argument(help="The sync job's id or name.")]) -> None:
        """Run one sync job now with a progress display; exits 1 when the run fails (its error is printed)."""
        db = _db()
        actor = Actor.system("data-sync")
        with db.session_scope() as session, rich_progress() as bar:
            found = service.sync_job_find(session, actor, job)
            bar.start(f"sync {found.name}", None)
            run = service.sync_job_run(session, actor, found.id, trigger="cli", progress=bar.advance)
            bar.finish()
            line = (f"{run.status}: read {run.rows_read}, inserted {run.rows_inserted}, updated {run.rows_updated}, "
                    f"rejected {run.rows_rejected} in {run.duration_ms / 1000:.1f} s")
        typer.echo(line)
        for r in run.rejects[:20]:
            typer.echo(f"  row {r['row']}{' of ' + r['file'] if r.get('file') else ''}, {r['column']}: {r['message']}")
        if run.status != "succeeded":
            typer.echo(run.error, err=True)
            raise typer.Exit(1)

    @data_app.command("sync-worker")
    def sync_worker(every: Annotated[int, typer.Option(help="Look for due jobs every N seconds (0: once).")] = 30,
                    ) -> None:
        """Run the scheduled sync jobs and catalogue harvests that are due, each in its own transaction.

        One failing never stops the rest.

        With `--every` it runs until stopped and waits out database outages (heartbeat
        `<var_dir>/health/data-sync.json`).
        """
        db = _db()
        actor = Actor.system("data-sync")
        log = logging.getLogger("cityhub.data.sync")

        def step() -> float:
            with db.session_scope() as session:
                due = service.sync_due_jobs(session)
            done = {"succeeded": 0, "failed": 0}
            for job_id in due:
                try:
                    with db.session_scope() as session:
                        if not service.sync_job_claim(session, job_id):
                            continue
                        run = service.sync_job_run(session, actor, job_id, trigger="schedule")
                        done[run.status] = done.get(run.status, 0) + 1
                except Exception:  # one job's bug must not stop the others; the next pass retries it
                    log.exception("sync job %s", job_id)
                    done["failed"] += 1
            harvests = _due_harvests(db, actor, log, done)
            if due or harvests:
                typer.echo(counts_line("data sync", done), err=bool(every))
            with db.session_scope() as session:  # then a few stale conformance results (a standard changed ...)
                stale = service.conformance_due(session, stale_only=True, limit=STALE_PER_PASS)
            if stale:
                typer.echo(counts_line("data conformance", _refresh(db, stale, log)), err=bool(every))
            return float(every)

        resilience.run_every(step, every, "data-sync")

    _register_conformance(data_app)
    _register_geo(data_app)


def _register_conformance(data_app: typer.Typer) -> None:
    @data_app.command("conformance-refresh")
    def conformance_refresh(
            stale_only: Annotated[bool, typer.Option("--stale-only", help="Only results out of date or never "
                                                     "counted (of resources following data elements).")] = False,
    ) -> None:
        """Count the standards conformance of table resources again, with a progress display.

        Each resource is counted in its own transaction; the sync worker runs the `--stale-only` pass itself a few
        resources at a time. Exits 1 when a resource could not be counted (the others are stored).
        """
        db = _db()
        log = logging.getLogger("cityhub.data.conformance")
        with db.session_scope() as session:
            ids = service.conformance_due(session, stale_only=stale_only)
        with rich_progress() as bar:
            bar.start("conformance", len(ids))
            done = _refresh(db, ids, log, bar)
            bar.finish()
        typer.echo(counts_line("data conformance", done))
        if done["failed"]:
            raise typer.Exit(1)


def _register_geo(data_app: typer.Typer) -> None:
    @data_app.command("geo-index")
    def geo_index() -> None:
        """Give the geo base database its PostGIS column, GiST index and trigger, and backfill (idempotent).

        For a database whose operator ran `CREATE EXTENSION postgis` after the migrations (decision 0014); exits 1
        when the extension is not there (the lookups keep their fallback: nothing changes).
        """
        with _db().session_scope() as session:
            done = postgis.ensure(session.connection())
        if not done["postgis"]:
            typer.echo("no postgis extension in this database: nothing to do (CREATE EXTENSION postgis, as a "
                       "superuser, first)", err=True)
            raise typer.Exit(1)
        typer.echo(f"geo index {'added' if done['added'] else 'present'}: {done['backfilled']} records backfilled")
