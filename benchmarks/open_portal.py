"""Open-portal benchmark: CKAN package_search (Chinese query, two facets) and datastore_search (filtered) vs a
plain indexed primary-key select in the same run.
The two facets are `organization` and `license_id`; a quarter as many queries with `organization` and `tags`
(CKAN's default facet list) give `package_search_tags_facet_p95_ms`.

Prints ONE JSON line: datasets, rows, backend, package_search_p50_ms, package_search_p95_ms,
datastore_search_p50_ms, datastore_search_p95_ms, pk_select_p50_ms, pk_select_p95_ms, the ratios and goals_met.

Sizes: default 20,000 open datasets and a 200,000-row table (a few minutes on 2 cores); `--full` (or
CITYHUB_BENCH_FULL=1) uses the issue's 100,000 open datasets and a 1,000,000-row table. Database: PostgreSQL (a
scratch database `cityhub_bench_portal` next to settings.test_postgres_url) when reachable, else SQLite; `--sqlite`
forces SQLite. Goals (PostgreSQL): package_search p95 < 100 ms, datastore_search p95 < 50 ms.

Datasets are bulk-inserted the way benchmarks/catalog.py does it (same search text and search row as the service);
the table goes through `service.datastore_bulk_load` and the provider indexes the filtered column with
`service.datastore_index`. Every measured call is the CKAN action itself (`ckan.call` as an anonymous caller:
parameter parsing, visibility, search, dictization, masking), without HTTP and without the response cache.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent))

import catalog as catalog_bench  # reuse the catalog benchmark's bulk loader and vocabularies
from _common import record

from cityhub.core import service as core
from cityhub.data import schemas, service
from cityhub.data.portal import ckan
from cityhub.kit.db import Database
from cityhub.kit.migrate import upgrade

FULL = "--full" in sys.argv or os.environ.get("CITYHUB_BENCH_FULL") == "1"
N_DATASETS = 100_000 if FULL else 20_000
N_ROWS = 1_000_000 if FULL else 200_000
N_QUERIES = 200
DISTRICTS = ["渝中区", "江北区", "南岸区", "沙坪坝区", "九龙坡区", "大渡口区", "渝北区", "巴南区", "北碚区", "万州区",
             "涪陵区", "长寿区", "江津区", "合川区", "永川区"]
ITEMS = [{"name_cn": "姓名", "name_en": "name", "data_type": "C", "length": 30, "masking_rule": "name",
          "security_level": "important"},
         {"name_cn": "所在区县", "name_en": "district", "data_type": "C", "length": 10},
         {"name_cn": "性别", "name_en": "gender", "data_type": "C", "length": 2},
         {"name_cn": "出生日期", "name_en": "birth_date", "data_type": "D"},
         {"name_cn": "月收入", "name_en": "income", "data_type": "Y"}]


def _pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return round(s[min(len(s) - 1, int(p * len(s)))] * 1000, 2)


def _database() -> tuple[Database, str]:
    # catalog's _database reads the same sys.argv (the --sqlite switch)
    db, backend = catalog_bench._database()
    if backend == "postgresql":  # its own scratch database, so both benchmarks can run one after the other
        from sqlalchemy import create_engine
        from sqlalchemy.engine import make_url

        from cityhub.kit.db import make_engine
        from cityhub.kit.settings import get_settings

        db.engine.dispose()
        admin_url = make_url(get_settings().test_postgres_url)
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text('DROP DATABASE IF EXISTS "cityhub_bench_catalog" WITH (FORCE)'))
            conn.execute(text('DROP DATABASE IF EXISTS "cityhub_bench_portal" WITH (FORCE)'))
            conn.execute(text('CREATE DATABASE "cityhub_bench_portal"'))
        admin.dispose()
        url = admin_url.set(database="cityhub_bench_portal").render_as_string(hide_password=False)
        db = Database(engine=make_engine(url))
    return db, backend


def _open_datasets(db: Database, w: dict[str, Any]) -> None:
    # The catalog loader draws open types from none/conditional/unconditional; the portal benchmark wants the
    # issue's 100,000 *open* datasets, so it draws from the two open types only.
    catalog_bench.N_ENTRIES = N_DATASETS
    catalog_bench.FACET_VALUES["open_type"] = ["conditional", "unconditional", "unconditional"]
    catalog_bench._entries(db, w, random.Random(42))


def _table(db: Database, w: dict[str, Any], provider: core.Actor, bureau: core.Actor) -> tuple[Any, str]:
    rng = random.Random(7)
    surnames, given = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高", "伟芳娜敏静丽强磊军洋勇艳杰涛明超秀兰霞平"

    def rows() -> Any:
        for i in range(N_ROWS):
            yield [rng.choice(surnames) + rng.choice(given), rng.choice(DISTRICTS), rng.choice("男女"),
                   date(1950, 1, 1) + timedelta(days=i % 20000), f"{rng.randint(2000, 30000)}.00"]

    with db.session_scope() as s:
        entry = service.catalog_entry_create(s, provider, schemas.EntryCreate.model_validate({
            "title": "各区县常住人口抽样", "provider_org_id": w["orgs"][0][0], "classification": "base",
            "base_db": "population", "format_category": "database", "items": ITEMS, "share_type": "unconditional",
            "open_type": "unconditional", "update_cycle": "yearly", "security_grade": "general"}))
        service.catalog_entry_submit(s, provider, entry.id)
        service.catalog_entry_review(s, bureau, entry.id, True)
        entry_id = entry.id
    with db.session_scope() as s:
        res = service.datastore_bulk_load(s, provider, entry_id, rows())
        service.datastore_index(s, provider, res.id, ["district"])
        res_id, table = res.id, str(res.table_name)
    if db.is_postgres:
        # The steady state autovacuum reaches minutes after a bulk load (PostgreSQL 13+ vacuums insert-only tables):
        # statistics, and a visibility map so that filtered counts are index-only scans.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'VACUUM ANALYZE "{table}"'))
            conn.execute(text("ANALYZE"))
    return res_id, table


def main() -> None:
    """Build, measure, print one JSON line."""
    db, backend = _database()
    with db.engine.begin() as conn:
        upgrade(connection=conn)
    w = catalog_bench._world(db)
    provider, bureau = catalog_bench._actor(db, "bench-a"), catalog_bench._actor(db, "bench-bureau")
    started = time.perf_counter()
    _open_datasets(db, w)
    resource_id, table = _table(db, w, provider, bureau)
    build_s = time.perf_counter() - started
    anon = core.Actor.anonymous()
    rng = random.Random(1)
    base = "http://bench.local"
    search_t: list[float] = []
    rows_t: list[float] = []
    pk_t: list[float] = []
    with db.session_scope() as s:
        ckan.call(s, anon, "package_search", {"q": "人口"}, base)  # warm jieba and caches
        for i in range(N_QUERIES):
            q = rng.choice(catalog_bench.WORDS) + (rng.choice(catalog_bench.SUFFIX) if i % 3 == 0 else "")
            t0 = time.perf_counter()
            out = ckan.call(s, anon, "package_search", {"q": q, "facet.field": '["organization", "license_id"]',
                                                        "rows": 10}, base)
            search_t.append(time.perf_counter() - t0)
            assert out["search_facets"]["organization"]["items"] or out["count"] == 0
            t0 = time.perf_counter()
            recs = ckan.call(s, anon, "datastore_search", {"resource_id": str(resource_id), "limit": 100,
                                                           "offset": rng.randrange(0, 1000),
                                                           "filters": json.dumps({"district": rng.choice(DISTRICTS)})},
                             base)
            rows_t.append(time.perf_counter() - t0)
            assert len(recs["records"]) == 100 and "name" not in recs["records"][0] and recs["total"] > 0
            t0 = time.perf_counter()
            s.execute(text(f'SELECT * FROM "{table}" WHERE "_id" = :i'), {"i": rng.randrange(1, N_ROWS)}).one()
            pk_t.append(time.perf_counter() - t0)
            s.expunge_all()
    # CKAN's default facet list includes tags; they are counted over the matching entries' JSON (not the narrow
    # search row), so they are measured apart.
    tags_t: list[float] = []
    with db.session_scope() as s:
        for _ in range(N_QUERIES // 4):
            t0 = time.perf_counter()
            ckan.call(s, anon, "package_search", {"q": rng.choice(catalog_bench.WORDS),
                                                  "facet.field": '["organization", "tags"]', "rows": 10}, base)
            tags_t.append(time.perf_counter() - t0)
            s.expunge_all()
    result: dict[str, Any] = {
        "benchmark": "open_portal", "backend": backend, "full_size": FULL, "datasets": N_DATASETS, "rows": N_ROWS,
        "queries": N_QUERIES, "package_search_p50_ms": _pct(search_t, 0.5),
        "package_search_p95_ms": _pct(search_t, 0.95), "datastore_search_p50_ms": _pct(rows_t, 0.5),
        "datastore_search_p95_ms": _pct(rows_t, 0.95), "pk_select_p50_ms": _pct(pk_t, 0.5),
        "pk_select_p95_ms": _pct(pk_t, 0.95), "package_search_tags_facet_p95_ms": _pct(tags_t, 0.95),
        "build_s": round(build_s, 1),
    }
    pk95 = max(result["pk_select_p95_ms"], 0.001)
    result["package_search_vs_pk_p95_ratio"] = round(result["package_search_p95_ms"] / pk95, 1)
    result["datastore_search_vs_pk_p95_ratio"] = round(result["datastore_search_p95_ms"] / pk95, 1)
    result["goals_met"] = {"package_search_p95_lt_100ms": result["package_search_p95_ms"] < 100,
                           "datastore_search_p95_lt_50ms": result["datastore_search_p95_ms"] < 50}
    record("open_portal", result)
    db.engine.dispose()


if __name__ == "__main__":
    main()
