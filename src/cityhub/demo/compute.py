"""Demo step: the capability hub — the built-ins published by the bureau, departments' applications and their load.

The big-data bureau registers the built-in components (no-op probe, coordinate conversion, identity checks,
reverse geocoding) with their OpenAPI documents, submits them and its reviewer publishes them; the Market
Regulation Administration offers a 业务协同 component (licence credit-code verification) and the Planning bureau
has one waiting in review. Three departments register applications, take keys and subscribe (open components at
once, the others approved by the owner's chief; one request is left pending for the approval queue).

Then a few hundred calls go through the gateway in this process (`Gateway.in_session`): key, subscription and
quota are checked and the built-ins really compute, so the usage pages show metered calls, a few quota refusals
among them. Idempotent: every part is skipped when it exists, and the load only when the hub has usage.
"""

from __future__ import annotations

import asyncio
import math
import random
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from cityhub.compute import service as compute
from cityhub.compute.schemas import (
    AppCreate,
    ComponentCreate,
    JobCreate,
    SubscriptionCreate,
    SubscriptionDecision,
    VersionCreate,
)
from cityhub.core import service as core
from cityhub.demo.core import synthetic_uscc
from cityhub.kit import clock
from cityhub.kit.errors import NotFound
from cityhub.kit.idcodes import ID_CHECK, resident_id_check_char
from cityhub.kit.pagination import PageParams
from cityhub.kit.settings import get_settings

if TYPE_CHECKING:
    from cityhub.demo import DemoContext

UPSTREAM = "@upstream"  # the demo's stub department system (compute/stub.py), not a built-in
UPSTREAM_OPENAPI = {"openapi": "3.1.0", "info": {"title": "Licence registry (demo stub)", "version": "1.0.0",
                                                 "description": "营业执照信息查询（演示数据）"},
                    "paths": {"/licences/{code}": {"get": {
                        "summary": "The licence of a 统一社会信用代码",
                        "parameters": [{"name": "code", "in": "path", "required": True, "schema": {"type": "string"}}],
                        "responses": {"200": {"description": "The licence"}, "404": {"description": "Not held"},
                                      "422": {"description": "Not a valid code"}}}}}}


# code, name_zh, name_en, category, subcategory, owner unit, built-in, open to all, price per call (yuan),
# SLA (availability %, p95 ms), tags, description, published (False: left in the bureau's review queue)
COMPONENTS: tuple[tuple[Any, ...], ...] = (
    ("hub-noop", "网关连通性探测", "Gateway probe (no-op)", "common", "测试工具", "cq-dsj", "noop", True, 0.0,
     (99.99, 5), ["探测", "网关"], "立即应答的空操作组件：各部门系统接入网关后的连通性自检与开销基准。", True),
    ("coord-convert", "坐标转换", "Coordinate conversion", "common", "地理空间", "cq-dsj", "coord-convert", True,
     0.001, (99.9, 20), ["坐标", "地图", "WGS-84", "GCJ-02", "BD-09"],
     "WGS-84（GPS）、GCJ-02（国测局）与 BD-09（百度）坐标互转，单点或批量（每次至多一万个点）。", True),
    ("id-check", "身份证号与统一社会信用代码校验", "Identity number checks", "common", "身份核验", "cq-dsj",
     "id-check", False, 0.002, (99.9, 20), ["身份证", "统一社会信用代码", "校验"],
     "按 GB 11643 校验公民身份号码（校验码、出生日期、行政区划），按 GB 32100 校验统一社会信用代码，指出错误所在。",
     True),
    ("reverse-geocode", "逆地理编码（区县）", "Reverse geocoding to districts", "common", "地理空间", "cq-dsj",
     "reverse-geocode", True, 0.001, (99.9, 30), ["地理编码", "区县", "行政区划"],
     "判断坐标点所在的重庆市区县（内置区县边界，点在多边形内判断），支持三种坐标系。", True),
    ("ts-forecast", "时间序列预测", "Time-series forecast", "common", "智能分析", "cq-dsj", "forecast", True, 0.01,
     (99.5, 2000), ["预测", "时间序列", "AutoETS", "AutoARIMA"],
     "对设备遥测、客流、案件量等时间序列做 AutoETS / AutoARIMA 预测，给出预测值与预测区间。", True),
    ("ts-anomaly", "时间序列异常评分", "Time-series anomaly scoring", "common", "智能分析", "cq-dsj", "anomaly", True,
     0.005, (99.5, 500), ["异常检测", "时间序列", "river"],
     "对一段时间序列逐点做在线异常评分（river），标出异常点，可用于设备遥测与业务指标监测。", True),
    ("report-classify", "市民诉求智能分类", "Citizen report classification", "common", "智能分析", "cq-dsj",
     "report-classify", True, 0.002, (99.5, 200), ["诉求", "分类", "一网统管", "自然语言"],
     "将市民反映的问题文本归入一网统管事件类别（桥梁、管廊、交通、环境等），给出置信度与备选类别。", True),
    ("licence-credit-verify", "营业执照信用代码核验", "Business licence credit-code verification", "business",
     "电子证照", "cq-scjgj", "id-check", False, 0.005, (99.5, 50), ["电子证照", "营业执照", "核验"],
     "市场监管局提供的营业执照统一社会信用代码核验，供招商、审批、监管等业务系统调用。", True),
    ("licence-registry", "营业执照信息查询（演示桩）", "Business licence lookup (demo stub)", "business", "电子证照",
     "cq-scjgj", UPSTREAM, False, 0.01, (99.0, 200), ["电子证照", "营业执照", "上游系统", "演示"],
     "市场监管局营业执照系统的查询接口，经网关转发到部门系统（本演示中为 `make run` 启动的本机演示桩，数据虚构）："
     "`GET /hub/licence-registry/1.0.0/licences/{统一社会信用代码}`。", True),
    ("address-district", "地址所属区县判定", "District of an address point", "common", "地理空间", "cq-ghzy",
     "reverse-geocode", False, 0.001, (99.5, 50), ["地址", "区县", "规划"],
     "规划和自然资源局提交的地址点区县判定组件，等待大数据局审核。", False),
)
# unit, application name, description, subscriptions: (component, per-minute quota, per-day quota, approve)
APPS: tuple[tuple[str, str, str, tuple[tuple[str, int | None, int | None, bool], ...]], ...] = (
    ("cq-gaj", "治安综合管理系统", "人口核查与警情定位", (
        ("id-check", 100, 20_000, True), ("coord-convert", None, None, True), ("hub-noop", None, None, True))),
    ("cq-cgj", "数字城管平台", "案件定位与区县派单", (
        ("coord-convert", 600, None, True), ("reverse-geocode", 600, None, True), ("hub-noop", None, None, True),
        ("report-classify", 600, None, True), ("ts-forecast", 60, None, True), ("ts-anomaly", 60, None, True))),
    ("cq-sww", "外资企业服务系统", "外资企业登记信息核验", (
        ("licence-credit-verify", 60, 5_000, True), ("reverse-geocode", None, None, True),
        ("licence-registry", 600, 5_000, True))),
    ("cq-rsj", "就业创业服务平台", "创业补贴申请的企业核验", (("licence-credit-verify", 60, 5_000, False),)),
)
OWNER = {spec[0]: spec[5] for spec in COMPONENTS}
REPORTS = ("小区门口的下水道堵了，污水漫到路上", "路口红绿灯坏了好几天没人修", "工地半夜还在施工，噪音太大",
           "楼道里有人给电动车充电，很危险", "垃圾站的垃圾好几天没人清运", "人行天桥的栏杆松动了")
CALLS = 360  # the simulated load (each one a real call through the gateway)
LOAD_DAYS = 14  # spread over the last two weeks


def _actor(session: Session, username: str) -> Any:
    return core.actor_for_username(session, username)


def _short(unit: str) -> str:
    return unit.removeprefix("cq-")


def resident_id(rng: random.Random, valid: bool = True) -> str:
    """A synthetic 公民身份号码 of a Chongqing district (GB 11643 check digit right, or wrong on purpose)."""
    region = rng.choice(("500101", "500103", "500105", "500106", "500107", "500108", "500112"))
    body = f"{region}{rng.randint(1950, 2005)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(1, 999):03d}"
    check = resident_id_check_char(body)
    if not valid:
        check = ID_CHECK[(ID_CHECK.index(check) + 1) % 11]
    return body + check


def _upstream_url() -> str | None:
    """The stub's address, when make run starts it and the gateway may call it (127.0.0.1 allow-listed)."""
    s = get_settings()
    hosts = {h.strip() for h in s.compute_upstream_allowed_hosts.split(",")}
    if s.compute_demo_upstream_port <= 0 or "127.0.0.1" not in hosts:
        return None
    return f"http://127.0.0.1:{s.compute_demo_upstream_port}/api"


def _component(session: Session, ctx: DemoContext, spec: tuple[Any, ...]) -> tuple[Any, bool]:
    code, zh, en, cat, sub, unit, builtin, open_all, price, (avail, p95), tags, desc, publish = spec
    upstream = _upstream_url() if builtin == UPSTREAM else None
    if builtin == UPSTREAM and upstream is None:
        return None, False
    bureau = _actor(session, "dsj-reviewer")
    try:
        return compute.component_by_code(session, bureau, code), False
    except NotFound:
        pass
    org = core.organization_by_code(session, unit)
    if org is None:
        return None, False
    staff = _actor(session, f"{_short(unit)}-staff")
    c = compute.component_create(session, staff, ComponentCreate(
        code=code, name_zh=zh, name_en=en, category=cat, subcategory=sub, org_id=org.id, description=desc,
        tags=tags, openapi=UPSTREAM_OPENAPI if upstream else compute.builtin_openapi(builtin),
        sla={"availability": avail, "p95_ms": p95},
        docs=f"通过网关调用：`/hub/{code}/1.0.0/…`，请求头 `X-Api-Key` 携带本单位应用的密钥。",
        open_to_all=open_all, price_per_call=price))
    compute.component_version_create(session, staff, c.id, VersionCreate(
        version="1.0.0", kind="upstream", upstream_url=upstream, changelog="首个版本") if upstream else VersionCreate(
        version="1.0.0", kind="builtin", builtin=builtin, changelog="首个版本"))
    compute.component_submit(session, staff, c.id)
    if publish:
        compute.component_review(session, bureau, c.id, True, "接口文档完整，准予发布")
    return c, True


def build(session: Session, ctx: DemoContext) -> dict[str, int]:
    """Create what is missing of the hub's demo, then run the simulated load once."""
    counts = {"components": 0, "apps": 0, "subscriptions": 0, "calls": 0}
    if core.organization_by_code(session, "cq-dsj") is None or core.user_by_username(session, "dsj-reviewer") is None:
        return counts
    comps: dict[str, Any] = {}
    for spec in COMPONENTS:
        c, created = _component(session, ctx, spec)
        if c is not None:
            comps[c.code] = c
            counts["components"] += created
    keys: list[tuple[str, str, str]] = []  # (unit, component code, raw key) of active subscriptions made now
    for unit, name, desc, subs in APPS:
        org = core.organization_by_code(session, unit)
        if org is None:
            continue
        staff = _actor(session, f"{_short(unit)}-staff")
        app = next((a for a in compute.app_list(session, staff, org.id) if a.name == name), None)
        raw = ""
        if app is None:
            app = compute.app_create(session, staff, AppCreate(org_id=org.id, name=name, description=desc))
            _key, raw = compute.app_key_create(session, staff, app.id)
            counts["apps"] += 1
        have = {r["component_code"] for r in compute.subscription_list(session, staff, app_id=app.id)}
        for code, per_minute, per_day, approve in subs:
            if code in have or code not in comps:
                continue
            sub = compute.subscription_create(session, staff, SubscriptionCreate(
                app_id=app.id, component_code=code, version="1.0.0", quota_per_minute=per_minute,
                quota_per_day=per_day, purpose=desc))
            counts["subscriptions"] += 1
            if sub.status == "pending" and approve:
                owner_unit = OWNER[code]  # the owner unit's chief (its org admin) decides
                compute.subscription_decide(session, _actor(session, f"{_short(owner_unit)}-chief"), sub.id,
                                            SubscriptionDecision(approve=True, note="同意接入"))
            if raw and sub.status == "active" and code != "licence-registry":  # the stub is not up yet
                keys.append((unit, code, raw))
    if keys and not compute.usage_report(session, _actor(session, "dsj-reviewer")):
        counts["calls"] = asyncio.run(_load(session, ctx.rng, keys))
    counts["jobs"] = _jobs(session)
    ctx.log(f"demo: compute — {counts['components']} components, {counts['apps']} applications, "
            f"{counts['subscriptions']} subscriptions, {counts['calls']} metered calls, {counts['jobs']} batch jobs")
    return counts


# The public security bureau checks its population table's ID numbers with the hub's id-check, as a batch job (run
# here to its end, in this transaction), and queues the same check over its ID-card licences (left for a worker).
JOBS = (("renkou-jichu-xinxi", "人口库身份号码批量核验", True), ("jumin-shenfenzheng-dianzi-zhengzhao",
                                                            "身份证电子证照号码批量核验", False))


def _jobs(session: Session) -> int:
    return _id_jobs(session) + _licence_job(session)


def _licence_job(session: Session) -> int:
    """The Commerce Commission queues a lookup of its granted legal-person table in the stub licence registry.

    An upstream version's job: left for the worker of `make run` (the stub is not up during this step), run as the
    commission's 外资企业服务系统 application — that subscription's quota, every call metered.
    """
    from cityhub.data import service as data

    staff = _actor(session, "sww-staff")
    org = core.organization_by_code(session, "cq-sww")
    if org is None or compute.job_list(session, staff, PageParams(limit=1), org_id=org.id).total:
        return 0
    app = next((a for a in compute.app_list(session, staff, org.id) if a.name == "外资企业服务系统"), None)
    subs = compute.subscription_list(session, staff, app_id=app.id) if app is not None else []
    if app is None or not any(r["component_code"] == "licence-registry" and r["subscription"].status == "active"
                              for r in subs):
        return 0  # no stub allow-listed: no upstream component
    try:
        entry = data.catalog_entry_by_name(session, staff, "faren-danwei-jichu-xinxi")
    except NotFound:
        return 0
    table = next((r for r in data.resource_list(session, staff, entry.id) if r.kind == "table"), None)
    if table is None:
        return 0
    compute.job_create(session, staff, JobCreate(
        org_id=org.id, app_id=app.id, component_code="licence-registry", version="1.0.0",
        name="外资企业营业执照批量查询", method="GET", path="/licences", source_kind="table",
        resource_id=table.id, fields={"credit_code": "uscc"}))
    return 1


def _id_jobs(session: Session) -> int:
    from cityhub.data import service as data

    staff = _actor(session, "gaj-staff")
    org = core.organization_by_code(session, "cq-gaj")
    if org is None or compute.job_list(session, staff, PageParams(limit=1), org_id=org.id).total:
        return 0
    made = 0
    for slug, name, run in JOBS:
        try:
            entry = data.catalog_entry_by_name(session, staff, slug)
        except NotFound:
            continue
        table = next((r for r in data.resource_list(session, staff, entry.id) if r.kind == "table"), None)
        if table is None:
            continue
        job = compute.job_create(session, staff, JobCreate(
            org_id=org.id, component_code="id-check", version="1.0.0", name=name, method="GET",
            path="/resident-id", source_kind="table", resource_id=table.id, fields={"number": "id_number"}))
        made += 1
        if run:
            claimed = compute.job_claim(session, "demo")
            if claimed is not None and claimed.id == job.id:
                compute.job_run(session, job.id)
    return made


def _request(rng: random.Random, code: str) -> tuple[str, str, str, bytes]:
    """A plausible call of a component: (method, path, query, body)."""
    lng, lat = round(rng.uniform(106.35, 106.75), 6), round(rng.uniform(29.40, 29.80), 6)
    if code == "hub-noop":
        return "GET", "ping", "", b""
    if code == "coord-convert":
        if rng.random() < 0.2:
            pts = [[round(rng.uniform(106.35, 106.75), 6), round(rng.uniform(29.4, 29.8), 6)] for _ in range(20)]
            return "POST", "convert", "from=wgs84&to=gcj02", _json({"points": pts})
        src, dst = rng.choice((("wgs84", "gcj02"), ("gcj02", "bd09"), ("bd09", "wgs84")))
        return "GET", "convert", f"lng={lng}&lat={lat}&from={src}&to={dst}", b""
    if code == "reverse-geocode":
        return "GET", "district", f"lng={lng}&lat={lat}", b""
    if code == "report-classify":
        return "POST", "classify", "", _json({"text": rng.choice(REPORTS)})
    if code in ("ts-forecast", "ts-anomaly"):  # a day of hourly readings with a daily cycle
        base = rng.uniform(20, 60)
        series = [round(base * (1 + 0.3 * math.sin(i / 24 * 2 * math.pi)) + rng.gauss(0, 1), 2) for i in range(72)]
        if code == "ts-forecast":
            return "POST", "forecast", "", _json({"series": series, "horizon": 12})
        series[rng.randrange(24, 72)] += base  # one reading out of line
        return "POST", "score", "", _json({"series": series, "threshold": 0.999})
    if code == "id-check":
        if rng.random() < 0.7:
            return "GET", "resident-id", f"number={resident_id(rng, rng.random() < 0.9)}", b""
        return "GET", "credit-code", f"code={synthetic_uscc(f'demo-{rng.random()}', '500000')}", b""
    # licence-credit-verify (the id-check built-in's /credit-code)
    code_ = synthetic_uscc(f"firm-{rng.randint(1, 10_000)}", "500103")
    if rng.random() < 0.1:
        code_ = code_[:-1] + ("0" if code_[-1] != "0" else "1")
    return "POST", "credit-code", "", _json({"code": code_})


def _json(value: Any) -> bytes:
    import orjson

    return orjson.dumps(value)


async def _load(session: Session, rng: random.Random, keys: list[tuple[str, str, str]]) -> int:
    """Send CALLS calls through the gateway in this transaction and write their metering into it."""
    gateway = compute.Gateway.in_session(session)
    weights = [5 if code == "id-check" else 1 for _u, code, _k in keys]  # enough to meet the per-minute quota
    # the calls are spread over the last LOAD_DAYS on the platform's clock, in time order, so each is recorded
    # (and rolled up) in its hour and the usage charts show days; quotas still count in real time (the id checks'
    # per-minute quota refuses some of this burst, as it would a real one)
    end = clock.now()
    stamps = sorted(end - timedelta(seconds=rng.uniform(60, LOAD_DAYS * 86_400)) for _ in range(CALLS))
    for at in stamps:
        _unit, code, key = rng.choices(keys, weights)[0]
        method, path, query, body = _request(rng, code)
        with clock.frozen(at):
            await gateway.call(method, code, "1.0.0", path, key=key, query=query, body=body)
    await gateway.aclose()
    return gateway.meter.written
