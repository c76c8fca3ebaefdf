"""The demo's collection (issue 20): department systems the base databases fill themselves from.

The public security bureau's household register is a SQLite "department system" (`<var>/data/sources/`) seeded with
generated residents (valid GB 11643 numbers) that a sync job reads incrementally every 30 minutes; the market
regulator's register of legal persons (valid GB 32100 codes) is read in full every hour, and a district drops CSV
files of newly registered enterprises into a watched folder. Quality checks are declared on both targets, and
every job runs once so the pages have rows, runs and scores. The two entries feed the 自然人 and 法人 base
databases, so every sync fills their golden records.

The market regulator's electronic business licences come over HTTP: its registry (the demo's stub department
system, `compute/stub.py`, which `make run` serves on 127.0.0.1) offers them as a paged JSON feed behind a
department API token, and an incremental job collects them every five minutes into the 电子证照 base database.
The registry is not up while the demo is built, so that job's first run is the sync worker's, minutes after
`make run` starts.
"""

from __future__ import annotations

import csv
import random
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from cityhub.compute import service as compute
from cityhub.core import service as core
from cityhub.data import schemas, service
from cityhub.data.base.schemas import BaseFeedSet
from cityhub.data.collection.schemas import JobCreate, Source, SourceCreate
from cityhub.data.quality.schemas import QualityCheckCreate
from cityhub.kit import egress
from cityhub.kit.errors import NotFound
from cityhub.kit.settings import get_settings

if TYPE_CHECKING:
    from cityhub.demo import DemoContext


def _person_rows(rng: random.Random, n: int, people: Any) -> list[tuple[Any, ...]]:
    seen: set[str] = set()
    out: list[tuple[Any, ...]] = []
    start = datetime(2026, 1, 1, tzinfo=UTC)
    while len(out) < n:
        p = people(rng)
        if p["id_number"] in seen:
            continue
        seen.add(p["id_number"])
        out.append((len(out) + 1, p["id_number"], p["name"], p["phone"], p["gender"], p["birth_date"].isoformat(),
                    p["district"], p["address"], (start + timedelta(minutes=len(out))).isoformat()))
    return out


def _enterprise_rows(rng: random.Random, n: int, uscc: Any, districts: list[str]) -> list[tuple[Any, ...]]:
    seen: set[str] = set()
    out: list[tuple[Any, ...]] = []
    while len(out) < n:
        code = uscc(rng)
        if code in seen:
            continue
        seen.add(code)
        est = datetime(1995, 1, 1) + timedelta(days=rng.randrange(0, 365 * 30))
        out.append((code, f"重庆示例{len(out) + 1}号有限公司", f"法人{len(out) + 1}", round(rng.uniform(10, 5000), 2),
                    est.date().isoformat(), rng.choice(districts), rng.choice(["存续", "存续", "注销", "吊销"])))
    return out


def _system_db(path: Path, people: list[tuple[Any, ...]], firms: list[tuple[Any, ...]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path)
    try:
        con.execute("DROP TABLE IF EXISTS hjrk")
        con.execute("CREATE TABLE hjrk (xh INTEGER PRIMARY KEY, gmsfhm TEXT, xm TEXT, lxdh TEXT, xb TEXT, csrq TEXT, "
                    "hjqx TEXT, zz TEXT, gxsj TEXT)")
        con.executemany("INSERT INTO hjrk VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", people)
        con.execute("DROP TABLE IF EXISTS scztdj")
        con.execute("CREATE TABLE scztdj (tyshxydm TEXT, qymc TEXT, fddbr TEXT, zczb REAL, clrq TEXT, djjg TEXT, "
                    "jyzt TEXT)")
        con.executemany("INSERT INTO scztdj VALUES (?, ?, ?, ?, ?, ?, ?)", firms)
        con.commit()
    finally:
        con.close()


def _entry(session: Session, staff: core.Actor, bureau: core.Actor, org_id: Any, **spec: Any) -> Any:
    entry = service.catalog_entry_create(session, staff, schemas.EntryCreate.model_validate(
        {**spec, "provider_org_id": org_id, "classification": "base", "format_category": "database",
         "share_type": "conditional", "share_condition": "仅限履行法定职责", "share_mode": "table",
         "open_type": "none", "update_cycle": "daily"}))
    service.catalog_entry_submit(session, staff, entry.id)
    service.catalog_entry_review(session, bureau, entry.id, True, "符合编目规范")
    return entry


LICENCE_ITEMS: list[dict[str, Any]] = [
    {"name_cn": "证照编号", "name_en": "license_no", "data_type": "C", "length": 30, "required": True},
    {"name_cn": "证照类型", "name_en": "license_type", "data_type": "C", "length": 20},
    {"name_cn": "统一社会信用代码", "name_en": "uscc", "data_type": "C", "length": 18},
    {"name_cn": "持证主体名称", "name_en": "holder", "data_type": "C", "length": 100},
    {"name_cn": "法定代表人", "name_en": "legal_rep", "data_type": "C", "length": 30},
    {"name_cn": "发证机关", "name_en": "issuer", "data_type": "C", "length": 50},
    {"name_cn": "发证日期", "name_en": "issue_date", "data_type": "D"},
    {"name_cn": "有效期至", "name_en": "valid_until", "data_type": "D"},
    {"name_cn": "证照状态", "name_en": "status", "data_type": "C", "length": 10},
    {"name_cn": "更新时间", "name_en": "updated_at", "data_type": "T"},
]
LICENCE_MAPPING = {"license_no": "zzbh", "license_type": "zzlx", "uscc": "tyshxydm", "holder": "czztmc",
                   "legal_rep": "fddbr", "issuer": "fzjg", "issue_date": "fzrq", "valid_until": "yxqz",
                   "status": "zzzt", "updated_at": "gxsj"}


def _licence_feed(session: Session, scjgj: core.Actor, bureau: core.Actor, org_id: Any) -> tuple[Any, Any] | None:
    """The HTTP source, its entry and incremental job; None when the demo may not call the registry."""
    port = get_settings().compute_demo_upstream_port
    if not port or "127.0.0.1" not in egress.allowed_hosts():
        return None  # `make demo` allows it (CITYHUB_EGRESS_ALLOWED_HOSTS); a bare `cityhub demo` may not
    entry = _entry(session, scjgj, bureau, org_id, name="dianzi-zhengzhao-guiji",
                   title="电子证照库（营业执照接口归集）",
                   abstract="从市场监管局证照系统接口按更新时间增量归集的营业执照电子证照，每 10 分钟同步。",
                   base_db="license", items=LICENCE_ITEMS, security_grade="general", source_system="市场监管证照系统",
                   tags=["电子证照", "归集"])
    source = service.sync_source_create(session, scjgj, SourceCreate(
        org_id=org_id, name="市场监管证照系统接口", kind="http", url=f"http://127.0.0.1:{port}/api/licence-feed",
        headers={"Authorization": f"Bearer {compute.demo_licence_feed_token()}"}, options={"page_size": 200}))
    return service.sync_job_create(session, scjgj, JobCreate(
        name="电子证照接口增量同步", source_id=source.id, entry_id=entry.id, key=["license_no"], mode="incremental",
        cursor_column="gxsj", mapping=LICENCE_MAPPING, schedule="*/5 * * * *")), entry


def build(session: Session, ctx: DemoContext, staff: dict[str, core.Actor], bureau: core.Actor,
          helpers: dict[str, Any]) -> dict[str, int]:
    """Register the demo departments' sources, jobs and checks, and run each job once (idempotent)."""
    try:
        service.catalog_entry_by_name(session, ctx.actor, "renkou-guiji-ku")
        return {"sources": 0, "jobs": 0, "rows": 0}
    except NotFound:
        pass
    rng = random.Random(20261205)
    gaj, scjgj = staff["gaj"], staff["scjgj"]
    gaj_org, scj_org = core.organization_by_code(session, "cq-gaj"), core.organization_by_code(session, "cq-scjgj")
    assert gaj_org is not None and scj_org is not None
    people_rows = _person_rows(rng, 800, helpers["person"])
    firm_rows = _enterprise_rows(rng, 400, helpers["uscc"], helpers["districts"])
    path = (service.sync_sources_dir() / "demo-department-system.db").resolve()
    _system_db(path, people_rows, firm_rows)
    people = _entry(session, gaj, bureau, gaj_org.id, name="renkou-guiji-ku", title="自然人基础库（户籍系统归集）",
                    abstract="从公安户籍管理系统按更新时间增量归集的自然人基础信息，每 30 分钟同步。",
                    base_db="population", items=helpers["people_items"], security_grade="important",
                    source_system="公安户籍管理系统", tags=["人口", "归集"])
    firms = _entry(session, scjgj, bureau, scj_org.id, name="faren-guiji-ku", title="法人基础库（登记系统归集）",
                   abstract="从市场主体登记系统和区县上报文件归集的法人单位信息，每小时同步。",
                   base_db="legal_person", items=helpers["enterprise_items"], security_grade="general",
                   source_system="市场主体登记系统", tags=["法人", "归集"])
    hj = service.sync_source_create(session, gaj, SourceCreate(
        org_id=gaj_org.id, name="公安户籍管理系统", kind="database", url=f"sqlite:///{path}"))
    dj = service.sync_source_create(session, scjgj, SourceCreate(
        org_id=scj_org.id, name="市场主体登记系统", kind="database", url=f"sqlite:///{path}"))
    drop = service.sync_source_create(session, scjgj, SourceCreate(
        org_id=scj_org.id, name="区县上报目录", kind="files", options={"format": "csv"}))
    folder = Path(Source.model_validate(drop).drop_folder)
    with (folder / "2026-12-district-report.csv").open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["统一社会信用代码", "企业名称", "法定代表人", "注册资本", "成立日期", "登记机关", "经营状态"])
        w.writerows(_enterprise_rows(rng, 60, helpers["uscc"], helpers["districts"]))
        w.writerow(["", "缺少代码的一行", "某人", "1", "2026-01-01", "渝中区", "存续"])  # rejected with its reason
    jobs = [
        service.sync_job_create(session, gaj, JobCreate(
            name="户籍人口增量同步", source_id=hj.id, entry_id=people.id, query="hjrk", key=["id_number"],
            mapping={"name": "xm", "id_number": "gmsfhm", "phone": "lxdh", "gender": "xb", "birth_date": "csrq",
                     "district": "hjqx", "address": "zz"}, mode="incremental", cursor_column="gxsj",
            schedule="*/30 * * * *")),
        service.sync_job_create(session, scjgj, JobCreate(
            name="法人登记全量同步", source_id=dj.id, entry_id=firms.id, query="SELECT * FROM scztdj",
            key=["uscc"], mapping={"uscc": "tyshxydm", "ent_name": "qymc", "legal_rep": "fddbr",
                                   "reg_capital": "zczb", "est_date": "clrq", "district": "djjg",
                                   "status": "jyzt"}, schedule="0 * * * *")),
        service.sync_job_create(session, scjgj, JobCreate(
            name="区县上报文件", source_id=drop.id, entry_id=firms.id, key=["uscc"], mode="incremental",
            mapping={"uscc": "统一社会信用代码", "ent_name": "企业名称", "legal_rep": "法定代表人",
                     "reg_capital": "注册资本", "est_date": "成立日期", "district": "登记机关", "status": "经营状态"},
            schedule="*/15 * * * *")),
    ]
    feed = _licence_feed(session, scjgj, bureau, scj_org.id)
    for actor, entry, kind, column, params in [
            (gaj, people, "id_card", "id_number", {}), (gaj, people, "unique", "id_number", {}),
            (gaj, people, "not_null", "phone", {}), (gaj, people, "freshness", "", {"max_age_hours": 2}),
            (scjgj, firms, "credit_code", "uscc", {}), (scjgj, firms, "in_list", "status",
                                                         {"values": ["存续", "在业", "注销", "吊销"]}),
            (scjgj, firms, "row_count_change", "", {"max_change_pct": 20})]:
        service.quality_check_create(session, actor, QualityCheckCreate(
            entry_id=entry.id, kind=kind, column=column, params=params))
    feeds = [("population", people, "id_number"), ("legal_person", firms, "uscc")]
    if feed is not None:
        service.quality_check_create(session, scjgj, QualityCheckCreate(entry_id=feed[1].id, kind="credit_code",
                                                                        column="uscc"))
        feeds.append(("license", feed[1], "license_no"))
    for base_db, entry, key in feeds:
        service.base_feed_set(session, bureau, BaseFeedSet(  # each feeding sync re-merges the database
            base_db=base_db, entry_id=entry.id, key_item=key, priority=1))
    rows = 0
    for job, actor in zip(jobs, (gaj, scjgj, scjgj), strict=True):
        run = service.sync_job_run(session, actor, job.id)
        rows += run.rows_inserted
    n = len(jobs) + (feed is not None)
    waiting = ", the licence feed's first run when make run serves the registry" if feed is not None else ""
    ctx.log(f"demo: collection — {n} sources, {n} sync jobs, {rows} rows collected{waiting}")
    return {"sources": n, "jobs": n, "rows": rows}
