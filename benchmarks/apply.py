"""Apply benchmark: the annual evaluation run, the target tree with computed progress, and the base-station density.

Prints one JSON line: `evaluation_run_s` (recomputing every scheme's draft run of the current year over every
department and district, each indicator measured through the layers' façades), `evaluation_sql_s` (the same per-unit
counts — systems on the cloud and integrated, published and shared entries, quality checks, closed incidents within
SLA, published components, the sharing requests' provider events, assigned demands, component calls per unit,
scenarios per owner — queried directly in SQL, one grouped query each, in the same run) and their
`ratio_vs_sql`; `tree_p95_ms` / `tree_sql_p95_ms` (the target tree with status and forecast against reading the
target and value tables directly), `density_p95_ms`, and the 全景 screen's data endpoint:
- `panorama_p95_ms`: `GET /api/v1/apply/panorama` over HTTP (the app in-process, a staff token): the screen p95;
- `panorama_fresh_p95_ms`: the service in a **new session per call** with the worker having just stored a new
  reading (every process cache cold: what the first request after a change pays — nothing is cached in a process);
- `panorama_during_refresh_p95_ms`: the same while the worker's reading runs in another thread (PostgreSQL);
- `panorama_sql_p95_ms`: the screen's counts queried directly, and `panorama_ratio_vs_sql` /
  `panorama_fresh_ratio_vs_sql` against it;
- `panorama_compute_s_p95`: the worker's reading of every layer (what a request paid before the figures were kept
  computed, `panorama_cold_p95_ms` of earlier runs); with the counts.

Data: the demo city (`cityhub demo` — 72 units, 14,000 base stations, 26 targets). With APPLY_BENCH_SCALE=issue the
database is first topped up to the issue's scale (PostgreSQL only): 40 departments + the demo's 39 district-level
units, ≥ 1,000 systems, 100,000 devices, 10,000 catalog entries and 100,000 incidents — rows cloned in SQL from the
demo's own (new ids, unique codes suffixed, systems spread over every unit), so their shape is the demo's.
Set APPLY_BENCH_DB to a database that holds the demo already; otherwise a scratch database is built (≈ 1–4 min).
APPLY_BENCH_REPEAT sets how many times each read is timed (default 30).
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from _common import pct, record, scratch_database  # benchmarks/ is on sys.path: the scripts run as scripts
from sqlalchemy import text

from cityhub import demo
from cityhub.apply import service as apply
from cityhub.apply.evaluation.schemas import RunCreate
from cityhub.core import service as core
from cityhub.core.actor import Actor
from cityhub.core.schemas import OrganizationCreate
from cityhub.kit import clock
from cityhub.kit.db import Database
from cityhub.kit.migrate import upgrade
from cityhub.kit.pagination import PageParams

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
    # the indicators of issue 21's second round: response hours, 责任清单, component calls, scenario delivery
    "SELECT r.provider_org_id, r.id, r.submitted_at, e.at, e.from_status, e.to_status FROM data_share_request r "
    "JOIN data_request_event e ON e.request_id = r.id WHERE r.submitted_at IS NOT NULL "
    "AND (e.to_status = 'provider_review' OR e.from_status = 'provider_review') ORDER BY e.id",
    "SELECT assigned_org_id, COUNT(*), SUM(CASE WHEN answered_at <= deadline_at THEN 1 ELSE 0 END) FROM data_demand "
    "WHERE assigned_org_id IS NOT NULL GROUP BY assigned_org_id",
    "SELECT org_id, SUM(calls) FROM compute_usage_hourly GROUP BY org_id",
    "SELECT owner_org_id, COUNT(*), SUM(CASE WHEN status IN ('built', 'accepted') THEN 1 ELSE 0 END) "
    "FROM apply_scenario GROUP BY owner_org_id",
)


SCREEN_SQL = (
    "SELECT COUNT(*), SUM(CASE WHEN hosting = 'cloud' THEN 1 ELSE 0 END), SUM(CASE WHEN integrated THEN 1 ELSE 0 "
    "END) FROM cloud_system WHERE NOT classified",
    "SELECT SUM(vcpus_total), SUM(vcpus_used) FROM cloud_pool",
    "SELECT status, COUNT(*) FROM connect_device GROUP BY status",
    "SELECT district_org_id, COUNT(*) FROM apply_base_station WHERE status = 'active' GROUP BY district_org_id",
    "SELECT COUNT(*), SUM(CASE WHEN share_type <> 'none' THEN 1 ELSE 0 END), COUNT(DISTINCT provider_org_id) "
    "FROM data_catalog_entry WHERE status = 'published'",
    "SELECT COUNT(*) FROM compute_component WHERE status = 'published'",
    "SELECT severity, COUNT(*) FROM ops_alarm WHERE NOT cleared GROUP BY severity",
    "SELECT status, SUM(CASE WHEN sla_breached THEN 0 ELSE 1 END), COUNT(*) FROM ops_incident GROUP BY status",
    "SELECT t.layer, COUNT(*) FROM apply_target t JOIN apply_target_value v ON v.target_id = t.id GROUP BY t.layer",
    "SELECT batch, status, COUNT(*) FROM apply_scenario GROUP BY batch, status",
    "SELECT COUNT(*) FROM apply_enterprise",
)
# the scale: table -> (rows wanted, unique text columns to suffix)
SCALE = {"cloud_system": (1_200, ()), "connect_device": (100_000, ()),
         "data_catalog_entry": (10_000, ("code", "name")), "ops_incident": (100_000, ("number", "report_code"))}
DEPARTMENTS = 40


def _scale_up(db: Database) -> None:
    """Top the demo up to the issue's scale by cloning its own rows in SQL (idempotent: only what is missing)."""
    with db.session_scope() as session:
        have = [o for o in core.organization_all(session) if o.kind == "department"]
        parent = next((o.parent_id for o in have), None)
        for i in range(len(have), DEPARTMENTS):
            core.organization_create(session, SYSTEM, OrganizationCreate(
                name=f"基准测试委{i + 1}", code=f"bench-dept-{i + 1}", kind="department", parent_id=parent))
    with db.engine.begin() as conn:
        units = [str(r[0]) for r in conn.execute(text(
            "SELECT id FROM core_organization WHERE kind IN ('department', 'district', 'county', 'new_area') "
            "ORDER BY code"))]
        for table, (wanted, unique) in SCALE.items():
            have_n = conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one()
            missing = wanted - have_n
            if missing <= 0 or not have_n:
                continue
            cols = conn.execute(text("SELECT column_name, character_maximum_length FROM information_schema.columns "
                                     "WHERE table_name = :t ORDER BY ordinal_position"), {"t": table}).all()
            exprs = []
            for name, width in cols:
                if name == "id":
                    exprs.append("gen_random_uuid()")
                elif name in unique:
                    exprs.append(f"CASE WHEN {name} IS NULL THEN NULL ELSE left({name}, {width - 9}) || '~' || "
                                 f"lpad(g::text, 7, '0') END")
                elif name == "org_id" and table == "cloud_system":  # spread the systems over every unit
                    exprs.append("(CAST(:units AS text[]))[1 + ((row_number() OVER ()) % :n)]::uuid")
                else:
                    exprs.append(name)
            conn.execute(text(
                f"INSERT INTO {table} ({', '.join(c[0] for c in cols)}) SELECT {', '.join(exprs)} FROM "
                f"(SELECT * FROM {table} ORDER BY id) src CROSS JOIN generate_series(1, :k) g LIMIT :missing"),
                {"k": missing // have_n + 1, "missing": missing, "units": units, "n": len(units)})
        conn.execute(text("ANALYZE"))


def _timed(fn: Any, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def _fresh_reads(db: Database, repeat: int) -> list[float]:
    """The screen's data in a new session each time, each right after the worker stored a new reading."""
    out = []
    for _ in range(repeat):
        with db.session_scope() as session:
            session.execute(text("UPDATE apply_panorama_snapshot SET version = version + 1"))  # a new reading
        t = time.perf_counter()
        with db.session_scope() as session:
            apply.panorama(session, SYSTEM)
        out.append((time.perf_counter() - t) * 1000)
    return out


def _reads_during_refresh(db: Database, repeat: int) -> list[float]:
    """Fresh reads while the worker's reading (and its write of the row) runs in another thread."""
    done = threading.Event()

    def worker() -> None:
        while not done.is_set():
            with db.session_scope() as session:
                apply.panorama_refresh(session)

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        return _fresh_reads(db, repeat)
    finally:
        done.set()
        thread.join()


def _http_reads(db: Database, repeat: int) -> list[float]:
    """`GET /api/v1/apply/panorama` through the app with a staff member's token (revoked afterwards)."""
    from fastapi.testclient import TestClient

    from cityhub.app import create_app
    from cityhub.core.schemas import ApiTokenCreate
    from cityhub.kit.settings import get_settings

    with db.session_scope() as session:
        user = next(u for u in core.user_list(session, SYSTEM, PageParams(limit=200, offset=0))[0]
                    if u.username.startswith("dsj"))
        token, raw = core.api_token_create(session, SYSTEM, user.id, ApiTokenCreate(name="bench-apply"))
    try:
        with TestClient(create_app(get_settings(), db)) as client:
            headers = {"authorization": f"Bearer {raw}"}
            assert client.get("/api/v1/apply/panorama", headers=headers).status_code == 200
            return _timed(lambda: client.get("/api/v1/apply/panorama", headers=headers).raise_for_status(), repeat)
    finally:
        with db.session_scope() as session:
            core.api_token_revoke(session, SYSTEM, token.id)


def main() -> None:
    url = os.environ.get("APPLY_BENCH_DB")
    if not url:
        url = scratch_database("cityhub_bench_apply")
        upgrade(url)
        demo.build(Database(url), "bench-pass-123", log=lambda _m: None)
    repeat = int(os.environ.get("APPLY_BENCH_REPEAT", "30"))
    db = Database(url)
    scale = os.environ.get("APPLY_BENCH_SCALE", "demo")
    if scale == "issue":
        _scale_up(db)
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
        compute = _timed(lambda: apply.panorama_refresh(session), max(3, repeat // 5))  # the worker's reading
        session.commit()
        screen_sql = _timed(lambda: [session.execute(text(q)).all() for q in SCREEN_SQL], repeat)
    fresh = _fresh_reads(db, repeat)
    during = _reads_during_refresh(db, repeat) if db.engine.dialect.name == "postgresql" else []
    screen = _http_reads(db, repeat)
    with db.session_scope() as session:
        counts = {
            "units": units,
            "departments": session.execute(text(
                "SELECT COUNT(*) FROM core_organization WHERE kind = 'department'")).scalar_one(),
            "systems": session.execute(text("SELECT COUNT(*) FROM cloud_system")).scalar_one(),
            "devices": session.execute(text("SELECT COUNT(*) FROM connect_device")).scalar_one(),
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
        "density_p95_ms": round(pct(density, 95), 2),
        "panorama_p95_ms": round(pct(screen, 95), 2), "panorama_fresh_p95_ms": round(pct(fresh, 95), 2),
        "panorama_during_refresh_p95_ms": round(pct(during, 95), 2) if during else None,
        "panorama_sql_p95_ms": round(pct(screen_sql, 95), 2),
        "panorama_ratio_vs_sql": round(pct(screen, 95) / pct(screen_sql, 95), 2) if pct(screen_sql, 95) else None,
        "panorama_fresh_ratio_vs_sql": round(pct(fresh, 95) / pct(screen_sql, 95), 2) if pct(screen_sql, 95)
        else None,
        "panorama_compute_s_p95": round(pct(compute, 95) / 1000, 3),
        "goals": {"evaluation_run_s": 30, "tree_p95_ms": 100, "panorama_p95_ms": 100}, "scale": scale,
        "counts": counts})
    db.engine.dispose()


if __name__ == "__main__":
    main()
