"""Apply benchmark: the annual evaluation run, the target tree with computed progress, and the base-station density.

Prints one JSON line: `evaluation_run_s` (recomputing every scheme's draft run of the current year over every
department and district, each indicator measured through the layers' façades), `evaluation_sql_s` (the same per-unit
counts — systems on the cloud and integrated, published and shared entries, quality checks, closed incidents within
SLA, published components — queried directly in SQL, one grouped query each, in the same run) and their
`ratio_vs_sql`; `tree_p95_ms` / `tree_sql_p95_ms` (the target tree with status and forecast against reading the
target and value tables directly) and `density_p95_ms`; with the counts measured over.

Data: the demo city (`cityhub demo` — 72 units, 14,000 base stations, 26 targets; smaller than the issue's
1,000 systems / 100,000 devices / 10,000 entries / 100,000 incidents, which this script does not build). Set
APPLY_BENCH_DB to a database that holds the demo already; otherwise a scratch database is built (≈ 3–4 min).
APPLY_BENCH_REPEAT sets how many times each read is timed (default 30).
"""

from __future__ import annotations

import os
import time
from typing import Any

from _common import pct, record, scratch_database  # benchmarks/ is on sys.path: the scripts run as scripts
from sqlalchemy import text

from cityhub import demo
from cityhub.apply import service as apply
from cityhub.apply.schemas import RunCreate
from cityhub.core.actor import Actor
from cityhub.kit import clock
from cityhub.kit.db import Database
from cityhub.kit.migrate import upgrade

SYSTEM = Actor.system("bench")
SQL = (
    "SELECT org_id, COUNT(*), SUM(CASE WHEN hosting = 'cloud' THEN 1 ELSE 0 END), "
    "SUM(CASE WHEN integrated THEN 1 ELSE 0 END) FROM cloud_system WHERE NOT classified GROUP BY org_id",
    "SELECT provider_org_id, COUNT(*), SUM(CASE WHEN share_type <> 'none' THEN 1 ELSE 0 END) "
    "FROM data_catalog_entry WHERE status = 'published' GROUP BY provider_org_id",
    "SELECT org_id, AVG(last_score) FROM data_quality_check GROUP BY org_id",
    "SELECT org_id, COUNT(*), SUM(CASE WHEN sla_breached THEN 0 ELSE 1 END) FROM ops_incident "
    "WHERE status = 'closed' GROUP BY org_id",
    "SELECT org_id, COUNT(*) FROM compute_component WHERE status = 'published' GROUP BY org_id",
)


def _timed(fn: Any, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def main() -> None:
    url = os.environ.get("APPLY_BENCH_DB")
    if not url:
        url = scratch_database("cityhub_bench_apply")
        upgrade(url)
        demo.build(Database(url), "bench-pass-123", log=lambda _m: None)
    repeat = int(os.environ.get("APPLY_BENCH_REPEAT", "30"))
    db = Database(url)
    year = clock.now().year
    with db.session_scope() as session:
        schemes = apply.evaluation.scheme_list(session, SYSTEM)
        started = time.perf_counter()
        units = 0
        for s in schemes:
            run = apply.evaluation.evaluation_run_compute(session, SYSTEM, RunCreate(scheme_id=s.id, year=year))
            units += len(apply.evaluation.ranking(session, SYSTEM, run.id))
        run_s = time.perf_counter() - started
        session.rollback()  # the benchmark leaves the drafts as the demo made them
        started = time.perf_counter()
        for q in SQL:
            session.execute(text(q)).all()
        sql_s = time.perf_counter() - started
        tree = _timed(lambda: apply.target_tree(session, SYSTEM), repeat)
        tree_sql = _timed(lambda: (session.execute(text("SELECT * FROM apply_target")).all(),
                                   session.execute(text("SELECT target_id, at, value FROM apply_target_value "
                                                        "ORDER BY at")).all()), repeat)
        density = _timed(lambda: apply.stations.density(session, SYSTEM), repeat)
        counts = {
            "units": units,
            "systems": session.execute(text("SELECT COUNT(*) FROM cloud_system")).scalar_one(),
            "entries": session.execute(text("SELECT COUNT(*) FROM data_catalog_entry")).scalar_one(),
            "incidents": session.execute(text("SELECT COUNT(*) FROM ops_incident")).scalar_one(),
            "targets": session.execute(text("SELECT COUNT(*) FROM apply_target")).scalar_one(),
            "stations": session.execute(text("SELECT COUNT(*) FROM apply_base_station")).scalar_one(),
        }
    record("apply", {
        "backend": db.engine.dialect.name, "evaluation_run_s": round(run_s, 3), "evaluation_sql_s": round(sql_s, 4),
        "ratio_vs_sql": round(run_s / sql_s, 1) if sql_s else None,
        "tree_p95_ms": round(pct(tree, 95), 2), "tree_sql_p95_ms": round(pct(tree_sql, 95), 2),
        "tree_ratio_vs_sql": round(pct(tree, 95) / pct(tree_sql, 95), 1) if pct(tree_sql, 95) else None,
        "density_p95_ms": round(pct(density, 95), 2), "goals": {"evaluation_run_s": 30, "tree_p95_ms": 100},
        "counts": counts})
    db.engine.dispose()


if __name__ == "__main__":
    main()
