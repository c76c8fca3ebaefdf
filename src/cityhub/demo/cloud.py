"""Demo step: five providers on the dummy driver, pools, the catalog, a tenancy per department, ~500 systems.

Also migration history, DR records and drills, requests in every state, 70 days of utilisation and the idle
rule. Idempotent: each part is skipped when it exists.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from cityhub.cloud import service as cloud
from cityhub.cloud.schemas import (
    CatalogItemCreate,
    DrillCreate,
    PoolCreate,
    ProviderAccountCreate,
    Quota,
    RegionCreate,
    RequestCreate,
    SystemCreate,
    SystemUpdate,
    TenancyCreate,
)
from cityhub.core import service as core
from cityhub.demo.city import DEPARTMENTS
from cityhub.kit import clock
from cityhub.kit.errors import CityhubError
from cityhub.kit.pagination import PageParams

if TYPE_CHECKING:
    from cityhub.demo import DemoContext

# name, slug, security level of its pools, price factor, regions
PROVIDERS = (
    ("浪潮云 Inspur", "inspur", 3, 1.0, (("cq-liangjiang", "两江数据中心"), ("cq-xiyong", "西永数据中心"))),
    ("华为云 Huawei", "huawei", 3, 1.1, (("cq-liangjiang", "两江数据中心"), ("gz-guian", "贵安灾备中心"))),
    ("紫光云 Unisplendour", "unisplendour", 2, 0.9, (("cq-shuitu", "水土数据中心"), ("cq-xiyong", "西永数据中心"))),
    ("阿里云 Alibaba", "alibaba", 2, 1.2, (("cn-chengdu", "成都区域"), ("cq-liangjiang", "两江专属区域"))),
    ("腾讯云 Tencent", "tencent", 2, 1.15, (("cq-xiyong", "西永专区"), ("cn-chengdu", "成都区域"))),
)
CATALOG = (
    ("ecs.small", "云主机 小型 2核4G", "compute", "ecs.s1", 2, 4096, 40, 0, 320.0),
    ("ecs.medium", "云主机 中型 4核8G", "compute", "ecs.m1", 4, 8192, 80, 0, 640.0),
    ("ecs.large", "云主机 大型 8核16G", "compute", "ecs.l1", 8, 16384, 160, 0, 1280.0),
    ("ecs.xlarge", "云主机 超大型 16核64G", "compute", "ecs.x1", 16, 65536, 320, 0, 3600.0),
    ("rds.mysql.m", "云数据库 MySQL 4核8G", "database", "ecs.m1", 4, 8192, 200, 0, 1500.0),
    ("oss.1t", "对象存储 1TB", "storage", "", 0, 0, 0, 1024, 120.0),
)
BUSINESS = ("政务服务", "行政审批", "综合执法", "统计分析", "办公自动化", "档案管理", "应急指挥", "视频监控",
            "数据共享交换", "门户网站", "信用信息", "财务管理", "人事管理", "项目管理", "监测预警", "公共服务",
            "移动办公", "许可证管理", "投诉举报", "业务协同")
SNAPSHOT_DAYS = (date(2026, 6, 1), date(2026, 7, 1), date(2026, 8, 1), date(2026, 9, 1), date(2026, 10, 1),
                 date(2026, 11, 1))


def _providers(session: Session, ctx: DemoContext) -> int:
    existing = {a.name for a in cloud.provider_account_list(session, ctx.actor)}
    made = 0
    for name, slug, level, price, regions in PROVIDERS:
        if name in existing:
            continue
        acc = cloud.provider_account_create(session, ctx.actor, ProviderAccountCreate(
            name=name, kind="dummy", config={"slug": slug},
            credentials={"access_key": f"demo-{slug}", "secret_key": f"demo-secret-{slug}"}))
        for code, rname in regions:
            region = cloud.region_create(session, ctx.actor, RegionCreate(account_id=acc.id, code=code, name=rname))
            for i, scale in enumerate((1.0, 0.6)):
                cloud.pool_create(session, ctx.actor, PoolCreate(
                    region_id=region.id, name=f"{slug}-{code}-{'ab'[i]}", security_level=level - i,
                    price_factor=price, vcpus_total=int(256 * scale), ram_mb_total=int(1024 * 1024 * scale),
                    disk_gb_total=int(40_000 * scale), storage_gb_total=int(100_000 * scale)))
        made += 1
    existing_items = {c.code for c in cloud.catalog_list(session, ctx.actor)}
    for code, name, kind, size, vcpus, ram, disk, storage, price in CATALOG:
        if code not in existing_items:
            cloud.catalog_item_create(session, ctx.actor, CatalogItemCreate(
                code=code, name=name, kind=kind, size_id=size, vcpus=vcpus, ram_mb=ram, disk_gb=disk,
                storage_gb=storage, monthly_price=price))
    return made


def _tenancies(session: Session, ctx: DemoContext) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for unit in DEPARTMENTS:
        org = core.organization_by_code(session, unit.code)
        if org is None:
            continue
        t = cloud.tenancy_for_org(session, org.id)
        if t is None:
            big = unit.code in ("cq-gaj", "cq-dsj", "cq-rsj", "cq-wjw", "cq-jtw")
            t = cloud.tenancy_create(session, ctx.actor, TenancyCreate(
                org_id=org.id, name=f"{unit.name}政务云租户",
                quota=Quota(instances=60 if big else 24, vcpus=400 if big else 120, ram_mb=(800 if big else 240) * 1024,
                            disk_gb=20000 if big else 6000, buckets=10, storage_gb=50000 if big else 10000)))
        out[unit.code] = (org, t)
    return out


def _systems(session: Session, ctx: DemoContext, tenancies: dict[str, Any]) -> int:
    if cloud.system_list(session, ctx.actor, PageParams(limit=1, offset=0))[1]:
        return 0
    rng = ctx.rng
    made: list[tuple[Any, float]] = []
    for unit in DEPARTMENTS:
        if unit.code not in tenancies:
            continue
        org, _t = tenancies[unit.code]
        short = unit.name.removeprefix("重庆市").removeprefix("国家税务总局重庆市")
        # Each department moves at its own pace (the ranking needs leaders and laggards).
        pace = rng.uniform(0.6, 1.05)
        offset = rng.randrange(len(BUSINESS))
        for i in range(rng.randint(10, 21)):
            business = BUSINESS[(i + offset) % len(BUSINESS)]
            importance = rng.random()
            required = 5 if importance > 0.9 else 4 if importance > 0.7 else 3 if importance > 0.4 else 2
            s = cloud.system_create(session, ctx.actor, SystemCreate(
                org_id=org.id, name=f"{short}{business}系统{'' if i < len(BUSINESS) else ' 二期'}",
                classified=rng.random() < 0.05, security_level=3 if importance > 0.7 else 2,
                strategy=rng.choices(("rehost", "replatform", "refactor", "repurchase", "retire", "retain"),
                                     (45, 25, 12, 8, 5, 5))[0],
                readiness=rng.randint(20, 95), wave=rng.randint(1, 4), dr_required=required,
                dr_actual=max(1, required - rng.choice((0, 0, 1, 1, 2))),
                dr_roles=["primary"] + (["same_city_backup"] if required >= 3 else [])
                + (["remote_dr"] if required >= 4 else []) + (["same_city_active"] if required >= 5 else [])))
            made.append((s, pace * rng.uniform(0.6, 1.35) if rng.random() > 0.08 else 0.04))
    # Move systems along in monthly steps and snapshot the ratios after each month: a real history.
    stages = ("planned", "migrating", "verifying", "done")
    for month, day in enumerate(SNAPSHOT_DAYS):
        for s, pace in made:
            progress = min(1.0, pace * (month + 3) / len(SNAPSHOT_DAYS))
            want = int(progress * 4 + rng.random() * 0.8)
            current = ("assessing", *stages).index(s.status)
            for st in stages[current:min(want, 4)]:
                cloud.system_transition(session, ctx.actor, s.id, st)
            if s.status == "done" and not s.integrated and rng.random() < 0.8 * pace:
                cloud.system_update(session, ctx.actor, s.id, SystemUpdate(integrated=True))
        cloud.ratio_snapshot_take(session, ctx.actor, day)
    cloud.ratio_snapshot_take(session, ctx.actor, clock.now().date())
    # Some drills for systems with a DR requirement.
    for s, _pace in made[::9]:
        if s.dr_required >= 3:
            ok = rng.random() < 0.8
            cloud.drill_record(session, ctx.actor, s.id, DrillCreate(
                scenario=rng.choice(("主中心整体断电", "数据库主节点故障", "同城链路中断", "勒索病毒恢复演练")),
                success=ok, rpo_minutes=rng.choice((0, 5, 30, 240, 1440)), rto_minutes=rng.choice((10, 60, 600, 1440)),
                at=datetime(2026, rng.randint(3, 10), rng.randint(1, 28), 2, tzinfo=UTC)))
    return len(made)


def _requests(session: Session, ctx: DemoContext, tenancies: dict[str, Any]) -> int:
    if cloud.request_list(session, ctx.actor, PageParams(limit=1, offset=0))[1]:
        return 0
    rng = ctx.rng
    items = {c.code: c for c in cloud.catalog_list(session, ctx.actor)}
    bureau = core.actor_for_username(session, "dsj-chief")
    n = 0
    later: list[Any] = []
    for code, (org, t) in tenancies.items():
        short = code.removeprefix("cq-")
        try:
            staff = core.actor_for_username(session, f"{short}-staff")
            chief = core.actor_for_username(session, f"{short}-chief")
        except CityhubError:
            continue
        plan = ["active", "active", "active", "submitted"]
        plan += rng.sample(["pending_bureau", "rejected", "reclaimed", "active", "provisioning"], 2)
        for state in plan:
            item = items["ecs.xlarge"] if state == "pending_bureau" else items[rng.choice(
                ("ecs.small", "ecs.medium", "ecs.medium", "ecs.large", "rds.mysql.m", "oss.1t"))]
            qty = 2 if state == "pending_bureau" else rng.randint(1, 3)
            try:
                req = cloud.request_create(session, staff, t.id, RequestCreate(
                    item_id=item.id, quantity=qty, security_level=rng.choice((2, 2, 3)),
                    strategy=rng.choice(("spread", "pack")), purpose=f"{org.name}业务系统上云"))
            except CityhubError:
                continue
            n += 1
            if state == "submitted":
                continue
            if state == "rejected":
                cloud.request_reject(session, chief, req.id, "请先完成系统迁移评估")
                continue
            if state == "provisioning":
                later.append((chief, req.id))  # approved last: their jobs stay queued for the worker
                continue
            cloud.request_approve(session, chief, req.id)
            if state == "pending_bureau" or req.status == "pending_bureau":
                if state != "pending_bureau":
                    cloud.request_approve(session, bureau, req.id)
                else:
                    continue
            cloud.jobs_run(session, ctx.actor, limit=1000)
            if state == "reclaimed":
                cloud.request_reclaim(session, chief, req.id)
                cloud.jobs_run(session, ctx.actor, limit=1000)
    n += _failed_request(session, ctx, tenancies, items)
    for chief, req_id in later:
        cloud.request_approve(session, chief, req_id)
    return n


def _failed_request(session: Session, ctx: DemoContext, tenancies: dict[str, Any], items: dict[str, Any]) -> int:
    """One request whose provisioning fails at the provider on every attempt (shows the failure path)."""
    if "cq-tjj" not in tenancies:
        return 0
    _org, t = tenancies["cq-tjj"]
    chief = core.actor_for_username(session, "tjj-chief")
    req = cloud.request_create(session, core.actor_for_username(session, "tjj-staff"), t.id, RequestCreate(
        item_id=items["ecs.medium"].id, purpose="统计数据分析平台扩容"))
    cloud.request_approve(session, chief, req.id)
    res = cloud.resource_list(session, ctx.actor, PageParams(limit=1, offset=0), request_id=req.id)[0][0]
    prov = cloud.provider_for(session, cloud.provider_account_get(session, ctx.actor, res.account_id))
    driver = getattr(prov, "driver", None)
    if driver is None:
        return 1
    driver.set_failures(100)
    start = clock.now()
    ctx.log("demo: cloud — one request is made to fail at the provider on purpose, to show the failure path "
            "(its provisioning attempts fail as intended; their warnings are held back)")
    jobs_log = logging.getLogger("cityhub.cloud")
    level = jobs_log.level
    jobs_log.setLevel(logging.ERROR)  # the intended "attempt N failed" warnings would read as a broken build
    try:
        for attempt in range(6):  # the job's retries with backoff, replayed on the demo clock
            with clock.frozen(start + timedelta(hours=attempt)):
                cloud.jobs_run(session, ctx.actor, limit=1000)
    finally:
        jobs_log.setLevel(level)
        driver.set_failures(0)
    ctx.log(f"demo: cloud — intended failure done: request {str(req.id)[:8]} is marked failed after its retries")
    return 1


def _metering(session: Session, ctx: DemoContext) -> int:
    now = clock.now()
    rows = 0
    for back in range(70, 0, -1):
        day = now.date() - timedelta(days=back)
        rows += cloud.usage_collect(session, ctx.actor, day)
        if back == 38:  # the idle rule ran then too: today's run escalates what it reminded
            with clock.frozen(now - timedelta(days=back - 1)):
                cloud.idle_check(session, ctx.actor)
    cloud.idle_check(session, ctx.actor)
    return rows


def build(session: Session, ctx: DemoContext) -> dict[str, int]:
    """Create what is missing of the demo cloud."""
    providers = _providers(session, ctx)
    tenancies = _tenancies(session, ctx)
    systems = _systems(session, ctx, tenancies)
    with clock.frozen(clock.now() - timedelta(days=75)):  # resources have run for a while: usage has history
        requests = _requests(session, ctx, tenancies)
    usage = _metering(session, ctx) if requests else 0
    ctx.log(f"demo: cloud — {providers} providers, {len(tenancies)} tenancies, {systems} systems, "
            f"{requests} requests, {usage} usage rows")
    return {"providers": providers, "tenancies": len(tenancies), "systems": systems, "requests": requests,
            "usage_days": usage}
