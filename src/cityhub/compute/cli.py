"""Commands of the capability hub: the demo's stub department system, the analytics lake and its queries."""

from __future__ import annotations

from typing import Annotated

import typer

from cityhub.kit.settings import get_settings


def register(app: typer.Typer) -> None:
    """`cityhub compute …`."""
    compute_app = typer.Typer(help="算 Compute: the capability hub.", no_args_is_help=True)
    app.add_typer(compute_app, name="compute")

    @compute_app.command("demo-upstream")
    def demo_upstream(port: Annotated[int | None, typer.Option(
            help="Port on 127.0.0.1 (default CITYHUB_COMPUTE_DEMO_UPSTREAM_PORT).")] = None) -> None:
        """Serve the demo's stub licence registry (made-up records), the upstream of `licence-registry`."""
        import uvicorn

        listen = port or get_settings().compute_demo_upstream_port
        uvicorn.run("cityhub.compute.stub:app", host="127.0.0.1", port=listen, log_level="warning", access_log=False)

    @compute_app.command("lake-export")
    def lake_export(every: Annotated[int, typer.Option(help="Repeat every N seconds (0: once).")] = 0) -> None:
        """Write the device registry and the ops facts (alarms, incidents) to the Parquet lake.

        With `--every` it runs until stopped and waits out database outages (heartbeat
        `<var_dir>/health/analytics-export.json`).
        """
        from cityhub.compute import service
        from cityhub.core.actor import Actor
        from cityhub.kit import resilience
        from cityhub.kit.db import Database

        db = Database.from_settings()

        def step() -> float:
            with db.session_scope() as session:
                counts = service.analytics_lake_export(session, Actor.system("analytics-export"))
            typer.echo("lake export " + " ".join(f"{k}={v}" for k, v in counts.items()), err=bool(every))
            return float(every)

        resilience.run_every(step, every, "analytics-export")

    @compute_app.command("analysis-scheduler")
    def analysis_scheduler(every: Annotated[int | None, typer.Option(
            help="Look for due analyses every N seconds (0: once; default CITYHUB_ANALYTICS_SCHEDULE_S).")] = None,
                           ) -> None:
        """Run the saved analyses whose cron schedule is due, each as the user who set its schedule.

        Each run in its own transaction (one refused never stops the rest; a refusal is kept on the analysis).
        With `--every` it runs until stopped and waits out database outages (heartbeat
        `<var_dir>/health/analysis-scheduler.json`).
        """
        import logging

        from cityhub.compute import service
        from cityhub.kit import resilience
        from cityhub.kit.db import Database

        db = Database.from_settings()
        period = get_settings().analytics_schedule_s if every is None else every
        log = logging.getLogger("cityhub.compute.schedules")

        def step() -> float:
            with db.session_scope() as session:
                due = service.analysis_schedules_due(session)
            done: dict[str, int] = {}
            for analysis_id in due:
                try:
                    with db.session_scope() as session:
                        outcome = service.analysis_schedule_run(session, analysis_id)
                except Exception:  # one analysis's bug must not stop the others; the next pass retries it
                    log.exception("scheduled analysis %s", analysis_id)
                    outcome = "failed"
                done[outcome] = done.get(outcome, 0) + 1
            if due:
                typer.echo("analysis scheduler " + " ".join(f"{k}={v}" for k, v in sorted(done.items())),
                           err=bool(period))
            return float(period)

        resilience.run_every(step, period, "analysis-scheduler")

    @compute_app.command("query")
    def query(name: Annotated[str, typer.Argument(help="A built-in query: daily_aggregate, topk_anomaly, …")],
              k: Annotated[int | None, typer.Option(help="topk_anomaly: how many points.")] = None,
              max_rows: Annotated[int, typer.Option(help="Row limit.")] = 50,
              timeout: Annotated[float, typer.Option(help="Time limit in seconds.")] = 60.0) -> None:
        """Run a built-in analytics query on the configured engine (CITYHUB_ENGINE) and print CSV."""
        import csv
        import sys

        from cityhub.compute import service

        eng = service.analytics_engine()
        try:
            res = service.analytics_run_builtin(eng, name, {"k": k} if k is not None else None,
                                                max_rows=max_rows, timeout_s=timeout)
        finally:
            eng.close()
        out = csv.writer(sys.stdout)
        out.writerow(res.columns)
        out.writerows(res.rows())
        typer.echo(f"# {res.engine}: {res.table.num_rows} rows{' (truncated)' if res.truncated else ''} "
                   f"in {res.elapsed_s:.2f} s", err=True)

    @compute_app.command("job-worker")
    def job_worker(processes: Annotated[int, typer.Option(
                       help="Worker processes to start on this machine (each runs one job at a time).")] = 1,
                   poll: Annotated[float, typer.Option(help="Seconds to wait when no job could be claimed.")] = 2.0,
                   once: Annotated[bool, typer.Option(help="Run at most one job, then exit.")] = False) -> None:
        """Run queued batch jobs (the AI compute centre), within each unit's concurrency limit.

        Each process claims the oldest queued job whose unit runs fewer than CITYHUB_COMPUTE_JOB_CONCURRENCY
        jobs, runs it, writes progress and its answer, and claims the next; heartbeat
        `<var_dir>/health/compute-jobs.json`.
        """
        import multiprocessing

        if processes > 1 and not once:
            ctx = multiprocessing.get_context("spawn")
            procs = [ctx.Process(target=_work, args=(poll, False), name=f"compute-jobs-{i}")
                     for i in range(processes)]
            for p in procs:
                p.start()
            for p in procs:
                p.join()
            return
        _work(poll, once)


def _work(poll: float, once: bool) -> None:
    """One worker process's loop (a module function: spawned processes import it)."""
    from cityhub.compute import service
    from cityhub.kit import resilience
    from cityhub.kit.db import Database

    db = Database.from_settings()

    def step() -> float:
        end = service.job_work_once(db)
        if end is not None:
            typer.echo(f"job ended: {end}", err=True)
        return 0.0 if end is not None else poll

    resilience.run_every(step, 0.0 if once else poll, "compute-jobs")
