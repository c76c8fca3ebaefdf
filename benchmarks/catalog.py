"""Catalog benchmark: search with facets vs indexed id lookup, and masked granted-rows pages of a big table.

Prints ONE JSON line: entries, rows, backend, search_p50_ms, search_p95_ms, id_lookup_p50_ms, id_lookup_p95_ms,
search_vs_id_p95_ratio, masked_page_p50_ms, masked_page_p95_ms, load_rows_per_s, goals_met.

Sizes: default 20,000 entries and a 200,000-row table (finishes in a few minutes on 2 cores);
`--full` (or CITYHUB_BENCH_FULL=1) uses the issue's 100,000 entries and 1,000,000 rows.
Database: PostgreSQL (a scratch database `cityhub_bench_catalog` created next to settings.test_postgres_url) when
reachable, else SQLite in a temporary folder; `--sqlite` forces SQLite. Goals (PostgreSQL): search p95 < 100 ms,
masked page p95 < 50 ms.

Entries are bulk-inserted by this harness (with the same search text and search row the service computes) instead of one
`catalog_entry_create` call each, so generation fits the time budget; the table is loaded through
`service.datastore_bulk_load` (COPY on PostgreSQL) and every measured call goes through the public services.
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from typing import Any

from _common import record  # benchmarks/ is on sys.path: the scripts run as scripts
from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url

from cityhub.core import service as core
from cityhub.core.schemas import OrganizationCreate, UserCreate
from cityhub.data import schemas, service, vocabulary
from cityhub.data.catalog import index
from cityhub.data.models import CatalogEntry, CatalogSearch
from cityhub.kit import clock
from cityhub.kit.db import Database, make_engine
from cityhub.kit.migrate import upgrade
from cityhub.kit.settings import get_settings

FULL = "--full" in sys.argv or os.environ.get("CITYHUB_BENCH_FULL") == "1"
N_ENTRIES = 100_000 if FULL else 20_000
N_ROWS = 1_000_000 if FULL else 200_000
N_QUERIES = 200
WORDS = ["人口", "法人", "企业", "户籍", "社保", "医保", "交通", "公交", "地铁", "空气", "水质", "气象", "教育", "学校",
         "医院", "药品", "住房", "公积金", "不动产", "规划", "土地", "林业", "农业", "旅游", "文化", "体育", "税务",
         "财政", "统计", "应急", "消防", "市场", "监管", "信用", "证照", "营业执照", "婚姻", "出生", "死亡", "养老",
         "就业", "失业", "补贴", "救助", "残疾", "退役", "城管", "环卫", "供水", "燃气", "电力", "通信", "网格"]
SUFFIX = ["基础信息", "登记信息", "统计数据", "监测数据", "名录", "办件信息", "许可信息", "处罚信息", "缴费信息",
          "运行数据", "备案信息", "评价结果"]
FACET_VALUES = {"classification": list(vocabulary.CLASSIFICATIONS), "format_category": list(vocabulary.FORMATS),
                "share_type": list(vocabulary.SHARE_TYPES), "open_type": ["none", "conditional", "unconditional"],
                "update_cycle": list(vocabulary.UPDATE_CYCLES), "security_grade": ["general", "important"]}


def _pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return round(s[min(len(s) - 1, int(p * len(s)))] * 1000, 2)


def _database() -> tuple[Database, str]:
    if "--sqlite" not in sys.argv:
        admin_url = make_url(get_settings().test_postgres_url)
        try:
            admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text('DROP DATABASE IF EXISTS "cityhub_bench_catalog" WITH (FORCE)'))
                conn.execute(text('CREATE DATABASE "cityhub_bench_catalog"'))
            admin.dispose()
            url = admin_url.set(database="cityhub_bench_catalog").render_as_string(hide_password=False)
            return Database(engine=make_engine(url)), "postgresql"
        except Exception as exc:  # no PostgreSQL: fall back to SQLite
            print(f"PostgreSQL unavailable ({type(exc).__name__}); using SQLite", file=sys.stderr)
    path = os.path.join(tempfile.mkdtemp(prefix="cityhub-bench-"), "bench.db")
    return Database(f"sqlite:///{path}"), "sqlite"


def _world(db: Database) -> dict[str, Any]:
    system = core.Actor.system("bench")
    with db.session_scope() as s:
        city = core.organization_create(s, system, OrganizationCreate(name="基准市", code="b-city", kind="city"))
        orgs = [core.organization_create(s, system, OrganizationCreate(
            name=f"基准委办局{i:02d}", code=f"b-d{i:02d}", kind="department", parent_id=city.id))
            for i in range(40)]
        users = {}
        for key, org in (("a", orgs[0]), ("b", orgs[1]), ("bureau", orgs[2])):
            users[key] = core.user_create(s, system, UserCreate(
                username=f"bench-{key}", password="bench-password-1", org_id=org.id, roles=["org_member"]))
        core.bureau_set(s, system, orgs[2].id)
        return {"orgs": [(o.id, o.name) for o in orgs], "users": {k: u.id for k, u in users.items()}}


def _actor(db: Database, username: str) -> core.Actor:
    with db.session_scope() as s:
        return core.actor_for_username(s, username)


def _entries(db: Database, w: dict[str, Any], rng: random.Random) -> list[uuid.UUID]:
    items = [{"name_cn": "名称", "name_en": "name", "data_type": "C", "length": 50, "description": "",
              "security_level": "general", "masking_rule": "", "required": False}]
    ids: list[uuid.UUID] = []
    now = clock.now()
    batch: list[dict[str, Any]] = []
    search: list[dict[str, Any]] = []
    with db.session_scope() as s:
        for i in range(N_ENTRIES):
            word, word2, suf = rng.choice(WORDS), rng.choice(WORDS), rng.choice(SUFFIX)
            org_id, org_name = rng.choice(w["orgs"])
            e = CatalogEntry(
                id=uuid.uuid4(), code=f"500000-{rng.randint(1, 3)}{i % 99 + 1:02d}-{i:06d}", name=f"bench-{i}",
                title=f"{word}{suf}", abstract=f"{org_name}汇聚的{word}与{word2}相关{suf}，用于跨部门共享和业务协同。",
                provider_org_id=org_id, classification=rng.choice(FACET_VALUES["classification"]),
                base_db=rng.choice(["", "population", "legal_person", "geo", "credit", "license"]), theme="",
                tags=[word, word2], format_category=rng.choice(FACET_VALUES["format_category"]), items=items,
                share_type=rng.choice(FACET_VALUES["share_type"]), open_type=rng.choice(FACET_VALUES["open_type"]),
                update_cycle=rng.choice(FACET_VALUES["update_cycle"]),
                security_grade=rng.choice(FACET_VALUES["security_grade"]), status="published", version=1,
                published_at=now, related_entry_ids=[])
            e.search_text = index.build_search_text(e, org_name)
            row = {c.key: getattr(e, c.key) for c in CatalogEntry.__table__.columns if getattr(e, c.key) is not None}
            row.update(created_at=now, updated_at=now - timedelta(seconds=i), share_condition="", legal_basis="",
                       share_mode="", open_condition="", source_system="", change_status="", review_note="", views=0,
                       requests_count=0, grants_count=0, accesses_count=0)
            batch.append(row)
            search.append({"entry_id": e.id, **index.search_row_values(e, db.is_postgres)})
            ids.append(e.id)
            if len(batch) >= 5000:
                s.execute(insert(CatalogEntry), batch)
                s.execute(insert(CatalogSearch), search)
                batch, search = [], []
        if batch:
            s.execute(insert(CatalogEntry), batch)
            s.execute(insert(CatalogSearch), search)
        if db.is_postgres:
            s.execute(text("ANALYZE data_catalog_entry"))
            s.execute(text("ANALYZE data_catalog_search"))
    return ids


PEOPLE = [{"name_cn": "姓名", "name_en": "name", "data_type": "C", "length": 30, "masking_rule": "name",
           "security_level": "important"},
          {"name_cn": "公民身份号码", "name_en": "id_number", "data_type": "C", "length": 18,
           "masking_rule": "id_number", "security_level": "important"},
          {"name_cn": "联系电话", "name_en": "phone", "data_type": "C", "length": 11, "masking_rule": "phone"},
          {"name_cn": "性别", "name_en": "gender", "data_type": "C", "length": 2},
          {"name_cn": "出生日期", "name_en": "birth_date", "data_type": "D"},
          {"name_cn": "月收入", "name_en": "income", "data_type": "Y"}]


def _table(db: Database, w: dict[str, Any], a: core.Actor, b: core.Actor, bureau: core.Actor
           ) -> tuple[uuid.UUID, float]:
    rng = random.Random(7)
    surnames, given = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高", "伟芳娜敏静丽强磊军洋勇艳杰涛明超秀兰霞平"

    def rows() -> Any:
        for i in range(N_ROWS):
            yield [rng.choice(surnames) + rng.choice(given) + rng.choice(given), f"500101{19500101 + i % 500000:08d}"
                   f"{i % 10000:04d}"[:18], f"1{rng.randint(30, 99)}{i % 100000000:08d}", rng.choice("男女"),
                   date(1950, 1, 1) + timedelta(days=i % 20000), f"{rng.randint(2000, 30000)}.00"]

    with db.session_scope() as s:
        entry = service.catalog_entry_create(s, a, schemas.EntryCreate.model_validate({
            "title": "基准人口表", "provider_org_id": w["orgs"][0][0], "classification": "base",
            "base_db": "population", "format_category": "database", "items": PEOPLE, "share_type": "conditional",
            "share_condition": "核验", "update_cycle": "daily", "security_grade": "important"}))
        service.catalog_entry_submit(s, a, entry.id)
        service.catalog_entry_review(s, bureau, entry.id, True)
        entry_id = entry.id
    started = time.perf_counter()
    with db.session_scope() as s:
        service.datastore_bulk_load(s, a, entry_id, rows())
        if db.is_postgres:
            s.execute(text("ANALYZE"))
    load_s = time.perf_counter() - started
    with db.session_scope() as s:
        req = service.share_request_create(s, b, schemas.ShareRequestCreate(
            entry_id=entry_id, items=["name", "id_number", "phone", "gender"], legal_basis="基准", purpose="基准",
            consuming_system="基准系统"))
        service.share_request_submit(s, b, req.id)
        service.share_request_compliance_review(s, bureau, req.id, True)
        service.share_request_provider_review(s, a, req.id, True)
        grant, _tok = service.share_request_activate(s, b, req.id)
        return grant.id, N_ROWS / load_s


def main() -> None:
    """Build, measure, print one JSON line."""
    db, backend = _database()
    with db.engine.begin() as conn:
        upgrade(connection=conn)
    rng = random.Random(42)
    w = _world(db)
    a, b, bureau = (_actor(db, f"bench-{k}") for k in ("a", "b", "bureau"))
    ids = _entries(db, w, rng)
    facets = list(vocabulary.FACETS)
    search_t: list[float] = []
    id_t: list[float] = []
    with db.session_scope() as s:
        service.catalog_search(s, b, "人口", {}, facets)  # warm jieba and caches
        for i in range(N_QUERIES):
            q = rng.choice(WORDS) + (rng.choice(SUFFIX) if i % 3 == 0 else "")
            flt = {"share_type": [rng.choice(FACET_VALUES["share_type"])]} if i % 2 else {}
            t0 = time.perf_counter()
            service.catalog_search(s, b, q, flt, facets, "", 20, 0)
            search_t.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            service.catalog_entry_get(s, b, rng.choice(ids))
            id_t.append(time.perf_counter() - t0)
            s.expunge_all()
    grant_id, load_rate = _table(db, w, a, b, bureau)
    page_t: list[float] = []
    with db.session_scope() as s:
        for _ in range(N_QUERIES):
            t0 = time.perf_counter()
            _f, recs, _tot, _n = service.grant_rows(s, b, grant_id, limit=100, include_total=False,
                                                    after=rng.randrange(0, N_ROWS - 100))
            page_t.append(time.perf_counter() - t0)
            assert len(recs) == 100 and "*" in recs[0]["id_number"]
    result: dict[str, Any] = {
        "benchmark": "catalog", "backend": backend, "full_size": FULL, "entries": N_ENTRIES, "rows": N_ROWS,
        "queries": N_QUERIES, "search_p50_ms": _pct(search_t, 0.5), "search_p95_ms": _pct(search_t, 0.95),
        "id_lookup_p50_ms": _pct(id_t, 0.5), "id_lookup_p95_ms": _pct(id_t, 0.95),
        "search_vs_id_p95_ratio": round(_pct(search_t, 0.95) / max(_pct(id_t, 0.95), 0.001), 1),
        "masked_page_p50_ms": _pct(page_t, 0.5), "masked_page_p95_ms": _pct(page_t, 0.95),
        "load_rows_per_s": int(load_rate),
    }
    result["goals_met"] = {"search_p95_lt_100ms": result["search_p95_ms"] < 100,
                           "masked_page_p95_lt_50ms": result["masked_page_p95_ms"] < 50}
    record("catalog", result)
    db.engine.dispose()


if __name__ == "__main__":
    main()
