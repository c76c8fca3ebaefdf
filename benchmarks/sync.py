"""Sync benchmark (issue 20): full sync from a PostgreSQL table and from a CSV drop, then an incremental 1 %.

Prints ONE JSON line: rows, full_rows_per_s (PostgreSQL source), csv_rows_per_s, copy_rows_per_s (a raw `COPY` of
the same rows from the same CSV into a plain table of the same columns, in the same run), ratio_vs_copy and
csv_ratio_vs_copy, full_s, incremental_s (after changing 1 % of the source rows), incremental_ratio
(incremental_s / full_s), peak_rss_mb (this process: the sync runs in it) and rss_before_sync_mb (its peak
before the first sync: imports and setup), goals_met.

Each sync goes through `service.sync_job_run` as the scheduler calls it: conversion and validation of every cell
against the entry's items, upsert by the key, and the entry's quality checks afterwards (not null, unique, GB 11643
check digits). Target and source are scratch PostgreSQL databases (`cityhub_bench_sync`, `cityhub_bench_sync_src`)
next to settings.test_postgres_url. Sizes: 1,000,000 rows; `--quick` 50,000 (a smoke run); `BENCH_SYNC_ROWS`
overrides. Goals: ratio_vs_copy >= 0.3, incremental_ratio < 0.1, peak_rss_mb < 300.
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("CITYHUB_EGRESS_ALLOWED_HOSTS", "127.0.0.1")
os.environ.setdefault("CITYHUB_VAR_DIR", tempfile.mkdtemp(prefix="cityhub-bench-sync-"))

from _common import record  # benchmarks/ is on sys.path; settings are read later, from the environment above
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from cityhub.core import service as core
from cityhub.core.schemas import OrganizationCreate
from cityhub.data import schemas, service
from cityhub.data.collection.schemas import JobCreate, Source, SourceCreate
from cityhub.data.quality.schemas import QualityCheckCreate
from cityhub.kit.db import Database, make_engine
from cityhub.kit.migrate import upgrade
from cityhub.kit.settings import get_settings

QUICK = "--quick" in sys.argv
ROWS = int(os.environ.get("BENCH_SYNC_ROWS", 50_000 if QUICK else 1_000_000))
ITEMS: list[dict[str, Any]] = [
    {"name_cn": "公民身份号码", "name_en": "id_number", "data_type": "C", "length": 18, "required": True},
    {"name_cn": "姓名", "name_en": "name", "data_type": "C", "length": 20, "required": True},
    {"name_cn": "出生日期", "name_en": "birth_date", "data_type": "D"},
    {"name_cn": "月收入", "name_en": "income", "data_type": "Y"},
    {"name_cn": "更新时间", "name_en": "updated_at", "data_type": "T"},
]
MAPPING = {"id_number": "sfzh", "name": "xm", "birth_date": "csrq", "income": "sr", "updated_at": "gx"}
# 17 digits from the row number, then the GB 11643 check character computed in SQL (weights 2^(17-i) mod 11)
_WEIGHTS = [pow(2, 17 - i, 11) for i in range(17)]
_CHECK = ("substr('10X98765432', ((" + " + ".join(f"substr(b, {i + 1}, 1)::int * {w}" for i, w in enumerate(_WEIGHTS))
          + ") % 11) + 1, 1)")


def _scratch(name: str) -> str:
    admin_url = make_url(get_settings().test_postgres_url)
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return admin_url.set(database=name).render_as_string(hide_password=False)


def _source(url: str) -> None:
    """The department system's table: ROWS people with valid ID numbers, unique by (birth date, sequence, row)."""
    eng = create_engine(url)
    with eng.begin() as conn:
        conn.execute(text("CREATE TABLE people (seq BIGINT PRIMARY KEY, sfzh TEXT, xm TEXT, csrq DATE, sr NUMERIC, "
                          "gx TIMESTAMPTZ)"))
        # unique 17-digit bodies: region 500103, a birth date (row / 1000 days after 1950) and a sequence (row % 1000)
        conn.execute(text(
            "INSERT INTO people SELECT g, b || " + _CHECK + ", '居民' || g, d, (g % 50000) / 3.0, "
            "timestamptz '2026-01-01' + g * interval '1 second' FROM ("
            "SELECT g, d, '500103' || to_char(d, 'YYYYMMDD') || lpad((g % 1000)::text, 3, '0') AS b FROM ("
            "SELECT g, (date '1950-01-01' + (g / 1000)::int) AS d FROM generate_series(1, :n) AS g) AS t) AS s"),
            {"n": ROWS})
        conn.execute(text("CREATE INDEX ON people (gx)"))
    eng.dispose()


def _csv(url: str, path: Path) -> None:
    raw = make_url(url).set(drivername="postgresql")
    import psycopg

    with psycopg.connect(raw.render_as_string(hide_password=False)) as conn, conn.cursor() as cur, \
            path.open("wb") as out, cur.copy("COPY people (sfzh, xm, csrq, sr, gx) TO STDOUT WITH (FORMAT csv, "
                                             "HEADER)") as cp:
        for block in cp:
            out.write(block)


def _copy_baseline(db: Database, path: Path) -> float:
    """Seconds for a raw COPY of the CSV into a plain table of the same columns (the floor for any loader)."""
    with db.session_scope() as s:
        s.execute(text("CREATE TABLE copy_baseline (sfzh TEXT, xm TEXT, csrq DATE, sr NUMERIC(20,2), "
                       "gx TIMESTAMPTZ)"))
    t0 = time.perf_counter()
    with db.session_scope() as s:
        raw = s.connection().connection.driver_connection
        with raw.cursor() as cur, cur.copy(  # type: ignore[union-attr]  # psycopg 3 connection
                "COPY copy_baseline FROM STDIN WITH (FORMAT csv, HEADER)") as cp, path.open("rb") as f:
            while block := f.read(1 << 20):
                cp.write(block)
    return time.perf_counter() - t0


def _run(db: Database, actor: core.Actor, job_id: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    with db.session_scope() as s:
        run = service.sync_job_run(s, actor, job_id, trigger="cli")
        out = (run.status, run.error, run.rows_read, run.rows_inserted, run.rows_updated, run.rows_rejected)
    return time.perf_counter() - t0, out


def main() -> None:
    target = _scratch("cityhub_bench_sync")
    src_url = _scratch("cityhub_bench_sync_src")
    upgrade(target)
    _source(src_url)
    db = Database(engine=make_engine(target))
    system = core.Actor.system("bench")
    with db.session_scope() as s:
        org = core.organization_create(s, system, OrganizationCreate(name="基准人社局", code="b-hr", kind="department"))
        entries = []
        for title in ("人口（库表同步）", "人口（文件同步）"):
            entries.append(service.catalog_entry_create(s, system, schemas.EntryCreate.model_validate({
                "title": title, "abstract": "同步基准", "provider_org_id": org.id, "classification": "base",
                "base_db": "population", "format_category": "database", "items": ITEMS, "share_type": "conditional",
                "share_condition": "核验", "open_type": "none", "update_cycle": "daily",
                "security_grade": "general"})))
        u = make_url(src_url)
        pg_src = service.sync_source_create(s, system, SourceCreate(
            org_id=org.id, name="人社系统", kind="database",
            url=f"postgresql+psycopg://{u.username or ''}@{u.host}:{u.port or 5432}/{u.database}"))
        drop = service.sync_source_create(s, system, SourceCreate(org_id=org.id, name="投放", kind="files",
                                                                          options={"format": "csv"}))
        pg_job = service.sync_job_create(s, system, JobCreate(
            name="库表", source_id=pg_src.id, entry_id=entries[0].id, query="people", mapping=MAPPING,
            key=["id_number"], mode="incremental", cursor_column="gx", batch_size=10_000))
        csv_job = service.sync_job_create(s, system, JobCreate(
            name="文件", source_id=drop.id, entry_id=entries[1].id, mapping=MAPPING, key=["id_number"],
            batch_size=10_000))
        for entry in entries:
            for kind, col in (("not_null", "name"), ("unique", "id_number"), ("id_card", "id_number")):
                service.quality_check_create(s, system, QualityCheckCreate(entry_id=entry.id, kind=kind,
                                                                                   column=col))
        folder = Path(Source.model_validate(drop).drop_folder)
        ids = (pg_job.id, csv_job.id)
    _csv(src_url, folder / "people.csv")
    copy_s = _copy_baseline(db, folder / "people.csv")
    setup_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # imports, app, setup: before any sync
    full_s, full = _run(db, system, ids[0])
    csv_s, csv_out = _run(db, system, ids[1])
    eng = create_engine(src_url)
    with eng.begin() as conn:  # 1 % of the rows change in the department's system
        conn.execute(text("UPDATE people SET xm = xm || '改', gx = now() WHERE seq % 100 = 0"))
    eng.dispose()
    inc_s, inc = _run(db, system, ids[0])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ok = full[0] == "succeeded" and csv_out[0] == "succeeded" and inc[0] == "succeeded"
    ratio = (ROWS / full_s) / (ROWS / copy_s)
    result = {
        "benchmark": "sync", "rows": ROWS, "backend": "postgresql", "quick": QUICK,
        "full_s": round(full_s, 2), "full_rows_per_s": round(ROWS / full_s), "csv_s": round(csv_s, 2),
        "csv_rows_per_s": round(ROWS / csv_s), "copy_s": round(copy_s, 2), "copy_rows_per_s": round(ROWS / copy_s),
        "ratio_vs_copy": round(ratio, 3), "csv_ratio_vs_copy": round(copy_s / csv_s, 3),
        "incremental_s": round(inc_s, 2), "incremental_rows": inc[2], "incremental_ratio": round(inc_s / full_s, 3),
        "peak_rss_mb": round(peak, 1), "rss_before_sync_mb": round(setup_peak, 1),
        "runs": {"full": full[:1] + full[2:], "csv": csv_out[:1] + csv_out[2:], "incremental": inc[:1] + inc[2:]},
        "errors": [r[1] for r in (full, csv_out, inc) if r[1]],
        "goals_met": ok and ratio >= 0.3 and inc_s / full_s < 0.1 and peak < 300,
    }
    record("sync", result)


if __name__ == "__main__":
    main()
