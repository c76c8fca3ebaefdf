"""Demo step: the programme cockpit — the seed plan's targets with a history, so the cockpit shows a living programme.

The plan's 2019–2022 window is moved onto the present (started three years ago, due in a year), so schedules and
statuses mean something on the day the demo runs; the numbers are the plan's. Computed targets take their value
from the layers the earlier steps built; each reported target gets quarterly reports by its owner's staff with a
link as evidence, approved by the bureau's reviewer (the latest two left waiting in the review queue). Idempotent:
a target that already has reports is skipped.

The scenario register gets each batch's scenarios, declared by their unit's staff and moved on by the bureau
(accepted into building, built, accepted as delivered), so the scenario targets read a real count.
The 5G register gets the operators' returns (through the CSV import), and the annual evaluation its default
schemes with last year's runs frozen and this year's in draft, each unit assessed by the bureau.
"""

from __future__ import annotations

import math
import uuid
from datetime import date, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from cityhub.apply import service as apply
from cityhub.apply.evaluation.schemas import Adjustment, RunCreate
from cityhub.apply.facilities.schemas import ChannelUserCreate, DataCentreCreate
from cityhub.apply.schemas import (
    EnterpriseCreate,
    KpiIn,
    LinkCreate,
    ParkCreate,
    ReportCreate,
    ScenarioBudgetSet,
    ScenarioCreate,
    ScenarioKpisSet,
)
from cityhub.cloud import service as cloud
from cityhub.compute import service as compute
from cityhub.core import service as core
from cityhub.core.actor import Actor
from cityhub.data import service as data
from cityhub.demo import apply_projects
from cityhub.demo.city import BUREAU_CODE
from cityhub.kit import clock, labels
from cityhub.kit.errors import NotFound
from cityhub.kit.idcodes import credit_code_check_char
from cityhub.kit.pagination import PageParams

if TYPE_CHECKING:
    from cityhub.demo import DemoContext

REVIEWER = "dsj-reviewer"
LEFT_IN_QUEUE = 2


def _quarters(start: date, today: date) -> list[date]:
    out: list[date] = []
    d = start
    while True:
        d = d + timedelta(days=91)
        if d >= today:
            return out
        out.append(d)


def build(session: Session, ctx: DemoContext) -> dict[str, int]:
    """Seed the targets, compute what the platform knows, and give the reported ones an approved history."""
    today = clock.now().date()
    start, deadline = today - timedelta(days=3 * 365), today + timedelta(days=365)
    seeded = apply.programme_seed(session, ctx.actor, start, deadline)
    stations = _stations(session, ctx, start, today)
    _links(session, ctx, start)
    scenarios = _scenarios(session, ctx, today.year)
    enterprises = _economy(session, ctx)
    key_projects = apply_projects.build(session, ctx, today)
    facilities = _facilities(session, ctx, start)
    refreshed = apply.progress_refresh(session, ctx.actor)
    reviewer = core.actor_for_username(session, REVIEWER)
    orgs = {o.id: o.code for o in core.organization_all(session)}
    reports = waiting = 0
    for node in apply.target_tree(session, ctx.actor):
        stack = [node]
        while stack:
            p = stack.pop()
            stack.extend(p.children)
            t = p.target
            if t.method != "reported" or t.target_value is None or apply.report_list(session, ctx.actor,
                                                                                    target_id=t.id):
                continue
            owner = orgs.get(t.owner_org_id, BUREAU_CODE) if t.owner_org_id else BUREAU_CODE
            reporter = core.actor_for_username(session, f"{owner.removeprefix('cq-')}-staff")
            pace = ctx.rng.uniform(0.45, 1.1)  # how far along its schedule this target's owner is
            quarters = _quarters(t.start_date or start, today)
            for i, as_of in enumerate(quarters, 1):
                share = min(1.0, pace * i / (len(quarters) + 4) * (1 + 0.08 * math.sin(i)))
                value = round(t.baseline + share * (t.target_value - t.baseline), 1 if t.target_value < 100 else 0)
                r = apply.report_create(session, reporter, t.id, ReportCreate(
                    value=value, as_of=as_of, note=f"{as_of:%Y} 年第 {(as_of.month - 1) // 3 + 1} 季度进展",
                    evidence_url=f"https://example.gov.cn/{owner}/progress/{t.code}/{as_of:%Y%m%d}.pdf"))
                reports += 1
                if i == len(quarters) and waiting < LEFT_IN_QUEUE:
                    waiting += 1  # the bureau has it to review, with the owner's scanned return as a file
                    apply.report_evidence.report_evidence_attach(
                        session, reporter, r.id, f"{t.code}-{as_of:%Y%m%d}.pdf", _pdf(f"{t.code} {as_of} {value}"))
                    continue
                apply.report_review(session, reviewer, r.id, True, "材料齐全，同意")
    runs = _evaluations(session, ctx, today.year)
    apply.panorama_refresh(session)  # the 全景 screen's first reading (the worker keeps it fresh under make run)
    ctx.log(f"demo: apply — {seeded.created} targets loaded, {refreshed.computed} computed from the layers, "
            f"{reports} progress reports ({waiting} waiting for the bureau's review), {stations} 5G base stations, "
            f"{scenarios} application scenarios, {enterprises} enterprises, {key_projects} key projects, "
            f"{facilities} channel users and data centres, "
            f"{runs} evaluation runs")
    return {"targets_created": seeded.created, "computed": refreshed.computed, "reports": reports,
            "waiting_review": waiting, "stations": stations, "scenarios": scenarios, "enterprises": enterprises,
            "key_projects": key_projects,
            "facilities": facilities, "evaluation_runs": runs}


def _pdf(line: str) -> bytes:
    """A one-page PDF saying `line` (ASCII), as a scanned return would be: a real file the viewers open."""
    text = line.encode("ascii", "replace").replace(b"(", b"[").replace(b")", b"]")
    stream = b"BT /F1 14 Tf 72 760 Td (" + text + b") Tj ET"
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
               b"/Resources << /Font << /F1 5 0 R >> >> >>",
               b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out, offsets = b"%PDF-1.4\n", []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += str(n).encode() + b" 0 obj\n" + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 " + str(len(objects) + 1).encode() + b"\n0000000000 65535 f \n"
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    return out + b"trailer << /Size " + str(len(objects) + 1).encode() + b" /Root 1 0 R >>\nstartxref\n" + \
        str(xref).encode() + b"\n%%EOF\n"


STATIONS = 14_000  # in the register; most in service — the plan asks 30,000 new ones by the deadline


def _stations(session: Session, ctx: DemoContext, start: date, today: date) -> int:
    """The operators' returns as one CSV through the register's import (skipped when stations exist)."""
    if apply.stations.station_list(session, ctx.actor, PageParams(limit=1))[1]:
        return 0
    districts = [o for o in core.organization_all(session) if o.kind in apply.stations.DISTRICT_KINDS]
    if not districts:
        return 0
    # the main urban districts are denser: weight by a rank-like factor so the map shows a gradient
    urban = {"渝中区", "江北区", "渝北区", "九龙坡区", "南岸区", "沙坪坝区", "两江新区", "大渡口区", "北碚区", "巴南区"}
    weights = [6.0 if o.name in urban else ctx.rng.uniform(0.6, 2.0) for o in districts]
    ops = ("cmcc", "cmcc", "ctcc", "cucc", "cbn")
    bands = {"cmcc": ("n41", "n79"), "ctcc": ("n78", "n1"), "cucc": ("n78", "n1"), "cbn": ("n28", "n79")}
    lines = ["carrier,site_code,district,address,lon,lat,band,status,commissioned_on"]
    span = (today - start).days
    for i, o in enumerate(ctx.rng.choices(districts, weights=weights, k=STATIONS)):
        op = ops[i % len(ops)]
        roll = ctx.rng.random()
        status = "active" if roll < 0.86 else "building" if roll < 0.95 else "planned"
        lon = f"{o.lon + ctx.rng.uniform(-0.08, 0.08):.5f}" if o.lon is not None else ""
        lat = f"{o.lat + ctx.rng.uniform(-0.06, 0.06):.5f}" if o.lat is not None else ""
        day = start + timedelta(days=int(span * ctx.rng.random() ** 0.8)) if status == "active" else None
        lines.append(f"{op},{op.upper()}-{o.code}-{i:05d},{o.code},{o.name}{i % 97 + 1}号站点,{lon},{lat},"
                     f"{ctx.rng.choice(bands[op])},{status},{day or ''}")
    return apply.stations.base_station_import(session, ctx.actor, "\n".join(lines).encode()).created


LINKS = (  # (name, kind, far end, Gbps, commissioned this many days after the plan's start; None = building)
    ("重庆—北京 骨干出口扩容", "backbone_egress", "北京", 4_000, 120),
    ("重庆—上海 骨干出口扩容", "backbone_egress", "上海", 3_200, 400),
    ("重庆—广州 骨干出口扩容", "backbone_egress", "广州", 2_800, 700),
    ("重庆—西安 骨干出口扩容", "backbone_egress", "西安", 2_400, None),
    ("国家级互联网骨干直联点 一期", "interconnect", "国家直联点", 40, 200),
    ("国家级互联网骨干直联点 二期", "interconnect", "国家直联点", 30, 800),
    *((f"省际直联 重庆—{c}", "direct_city", c, 10, 45 * i) for i, c in enumerate(
        ("成都", "贵阳", "昆明", "西安", "武汉", "长沙", "南宁", "兰州", "西宁", "拉萨", "银川", "乌鲁木齐", "呼和浩特",
         "郑州", "合肥", "南京", "杭州", "福州", "南昌", "济南", "石家庄", "太原"), 1)),
)


def _links(session: Session, ctx: DemoContext, start: date) -> None:
    """The backbone and interconnect links the plan counts (skipped when links exist)."""
    if apply.stations.link_list(session, ctx.actor):
        return
    for name, kind, far, gbps, days in LINKS:
        apply.stations.network_link_create(session, ctx.actor, LinkCreate(
            name=name, kind=kind, endpoint_a="重庆", endpoint_b=far, capacity_gbps=gbps,
            status="active" if days is not None else "building",
            commissioned_on=start + timedelta(days=days) if days is not None else None))


def _evaluations(session: Session, ctx: DemoContext, year: int) -> int:
    """The default schemes; last year's runs frozen, this year's a draft, with the bureau's assessments."""
    ev = apply.evaluation
    ev.scheme_seed(session, ctx.actor)
    done = {(r.scheme_id, r.year) for r in ev.run_list(session, ctx.actor)}
    runs = 0
    for scheme in ev.scheme_list(session, ctx.actor):
        for y in (year - 1, year):
            if (scheme.id, y) in done:
                continue
            run = ev.evaluation_run_compute(session, ctx.actor, RunCreate(scheme_id=scheme.id, year=y))
            for row in ev.ranking(session, ctx.actor, run.id):
                ev.evaluation_score_adjust(session, ctx.actor, run.id, row.org_id, Adjustment(
                    manual={"bureau.assessment": round(ctx.rng.uniform(60, 98), 0)},
                    reason="年度工作材料评审"))
            if y < year:
                ev.evaluation_run_freeze(session, ctx.actor, run.id)
            runs += 1
    return runs


# (batch, name, owner unit, district or "", how far it got: 0 declared … 3 accepted); the future-community samples
# are led by their districts (so the district evaluation's scenario delivery has scenarios to measure)
SCENARIOS: tuple[tuple[str, str, str, str, int], ...] = (
    ("smart_city", "“渝快办”一网通办", "cq-dsj", "", 3), ("smart_city", "城市综合运行监测“一网统管”", "cq-cgj", "", 3),
    ("smart_city", "智慧交通出行服务", "cq-jtw", "", 3), ("smart_city", "智慧医疗“互联网+医院”", "cq-wjw", "", 2),
    ("smart_city", "智慧教育资源公共服务", "cq-jw", "", 2), ("smart_city", "生态环境智慧监管", "cq-sthj", "", 2),
    ("smart_city", "智慧应急指挥", "cq-yjj", "", 1), ("smart_city", "智慧水利防汛", "cq-slj", "", 1),
    ("smart_city", "智慧旅游“惠游重庆”", "cq-whlyw", "", 0),
    ("livelihood", "老旧小区智能停车", "cq-cgj", "cq-yz", 3), ("livelihood", "智慧菜市场", "cq-sww", "cq-jb", 3),
    ("livelihood", "社区养老智能看护", "cq-mzj", "cq-yz", 2), ("livelihood", "医保移动支付", "cq-ybj", "", 2),
    ("livelihood", "电梯安全智能监测", "cq-scjgj", "cq-jb", 2), ("livelihood", "学校食堂“明厨亮灶”", "cq-scjgj", "", 1),
    ("livelihood", "背街小巷智慧照明", "cq-cgj", "cq-ddk", 1), ("livelihood", "退役军人一站式服务", "cq-tyjrj", "", 0),
    ("5g", "5G+智能制造工厂", "cq-jxw", "cq-jb", 3), ("5g", "5G+智慧港口", "cq-jtw", "cq-jb", 3),
    ("5g", "5G+远程医疗", "cq-wjw", "cq-yz", 2), ("5g", "5G+智慧矿山", "cq-jxw", "cq-wz", 2),
    ("5g", "5G+无人机巡检", "cq-lyj", "cq-fl", 1), ("5g", "5G+超高清直播", "cq-whlyw", "", 1),
    ("data_channel", "跨境金融数据服务", "cq-sww", "", 3), ("data_channel", "中新跨境远程医疗", "cq-wjw", "", 2),
    ("data_channel", "跨境电商数据通关", "cq-sww", "cq-jb", 2), ("data_channel", "中新联合研发云协作", "cq-kjj", "", 1),
    ("data_channel", "国际游戏数据加速", "cq-jxw", "", 0),
    ("future_community", "渝中区未来社区样板", "cq-yz", "cq-yz", 3),
    ("future_community", "江北区未来社区样板", "cq-jb", "cq-jb", 2),
    ("future_community", "万州区未来社区样板", "cq-wz", "cq-wz", 2),
    ("future_community", "涪陵区未来社区样板", "cq-fl", "cq-fl", 1),
    ("future_community", "大渡口区未来社区样板", "cq-ddk", "cq-ddk", 0),
)
_STEPS = ("building", "built", "accepted")


def _scenarios(session: Session, ctx: DemoContext, year: int) -> int:
    """Each batch's scenarios, declared by the unit's staff and moved on by the bureau (skipped when any exist).

    Each uses a few published components and its unit's published catalog entries.
    """
    sc = apply.scenarios
    if sc.scenario_list(session, ctx.actor, PageParams(limit=1))[1]:
        return 0
    orgs = {o.code: o.id for o in core.organization_all(session)}
    components = compute.component_list(session, ctx.actor, PageParams(limit=50), status="published")[0]
    n = 0
    for i, (batch, name, owner, district, reached) in enumerate(SCENARIOS):
        if owner not in orgs:
            continue
        try:
            staff = core.actor_for_username(session, f"{owner.removeprefix('cq-')}-staff")
        except NotFound:
            staff = ctx.actor
        uses = [c.id for c in components[i % 7::7][:2]] if components else []
        entries = [e.id for e in data.catalog_entry_list_owned(session, staff, status="published")[:2]]
        s = sc.scenario_create(session, staff, ScenarioCreate(
            name=name, batch=batch, year=year - 2 + i % 3, owner_org_id=orgs[owner],
            district_org_id=orgs.get(district) if district else None, component_ids=uses, entry_ids=entries))
        _plan(session, staff, s.id, i, reached)
        for step in _STEPS[:reached]:
            sc.scenario_transition(session, staff if step == "built" else ctx.actor, s.id, step)
        n += 1
    return n


# each scenario's KPIs (name, unit, target) and how far a scenario at each step has got towards them
_KPIS = (("服务覆盖人口", "万人", 50.0), ("系统可用率", "%", 99.5), ("群众满意度", "%", 90.0))
_REACHED = (None, 0.45, 0.92, 1.03)  # declared (not measured yet), building, built, accepted
_SPENT = (0.0, 0.4, 0.85, 0.98)


def _plan(session: Session, staff: Actor, scenario_id: uuid.UUID, i: int, reached: int) -> None:
    """A scenario's KPIs and budget as its unit keeps them (before the bureau's acceptance makes them final)."""
    share = _REACHED[reached]
    kpis = [KpiIn(name=name, unit=unit, target=target * (1 + i % 4 / 2) if unit == "万人" else target,
                  actual=None if share is None else round(target * min(share + (i % 5 - 2) / 50, 1.1), 1))
            for name, unit, target in _KPIS]
    apply.scenarios.scenario_kpis_set(session, staff, scenario_id, ScenarioKpisSet(kpis=kpis))
    planned = float(300 + i * 137 % 1700)
    spent = round(planned * (_SPENT[reached] + (0.2 if i % 6 == 3 and reached >= 2 else 0.0)), 1)  # a few overrun
    apply.scenarios.scenario_budget_set(session, staff, scenario_id, ScenarioBudgetSet(
        budget_planned=planned, budget_spent=spent))


ENTERPRISES = 640  # registered so far; the plan asks 1,000
_PREFIXES = ("重庆", "渝", "两江", "西永", "仙桃", "智谷", "山城", "巴渝")
_WORDS = ("数联", "智算", "云图", "芯创", "链信", "物感", "视界", "数智", "星河", "天元", "博睿", "慧通")


def _economy(session: Session, ctx: DemoContext) -> int:
    """The plan's parks and the enterprises registered in them (skipped when any enterprise exists)."""
    ec = apply.economy
    if ec.enterprise_count(session):
        return 0
    orgs = {o.code: o.id for o in core.organization_all(session)}
    have = {p.code for p in ec.park_list(session, ctx.actor)}
    for code, name, district in apply.economy.PARKS:
        if code not in have:
            ec.digital_park_create(session, ctx.actor, ParkCreate(code=code, name=name,
                                                                  district_org_id=orgs.get(district)))
    parks = [p.id for p in ec.park_list(session, ctx.actor)]
    for i in range(ENTERPRISES):
        first17 = f"91500000MA{i + 1:07d}"
        sector = ctx.rng.choice(apply.economy.SECTORS)
        ec.enterprise_create(session, ctx.actor, EnterpriseCreate(
            credit_code=first17 + credit_code_check_char(first17),
            name=f"{_PREFIXES[i % 8]}{_WORDS[(i // 8) % 12]}{i // 96 + 1 if i >= 96 else ''}"
                 f"{labels.label(sector, 'apply.sector', 'zh_CN')}有限公司",
            sector=sector, size=ctx.rng.choice(("large", "medium", "small", "small", "micro", "micro")),
            park_id=ctx.rng.choice(parks) if parks and ctx.rng.random() < 0.8 else None))
    return ENTERPRISES


# (code, name, operator, class, role, district code, in the 两江 park, racks, servers, PUE, years in service)
DATA_CENTRES: tuple[tuple[str, str, str, str, str, str, bool, int, int, float, int], ...] = (
    ("ctc-lj", "中国电信两江云计算中心", "中国电信", "A", "production", "cq-ljxq", True, 9_000, 68_000, 1.32, 3),
    ("cmcc-lj", "中国移动（重庆）数据中心", "中国移动", "A", "production", "cq-ljxq", True, 8_000, 61_000, 1.30, 3),
    ("cucc-lj", "中国联通两江数据中心", "中国联通", "A", "local_backup", "cq-ljxq", True, 5_500, 42_000, 1.35, 2),
    ("tx-lj", "腾讯西部云计算数据中心", "腾讯", "A", "production", "cq-ljxq", True, 4_000, 30_000, 1.25, 1),
    ("gds-lj", "万国数据重庆数据中心", "万国数据", "B", "local_backup", "cq-ljxq", True, 2_000, 16_000, 1.38, 0),
    ("xy-zw", "西永政务云灾备中心", "重庆市大数据发展局", "A", "remote_backup", "cq-spb", False, 600, 4_800, 1.42, 2),
)
CHANNEL_USERS = 36  # in service or being connected; the plan asks 50 new users
_CHANNEL_NAMES = ("跨境金融", "国际物流", "远程医疗", "工业互联网", "软件外包", "游戏出海", "联合研发", "跨境电商")


def _facilities(session: Session, ctx: DemoContext, start: date) -> int:
    """The data-channel users and the data centres, each hosting some of the cloud's pools (skipped when any exist)."""
    fa = apply.facilities
    if fa.channel_user_list(session, ctx.actor) or fa.data_centre_list(session, ctx.actor):
        return 0
    orgs = {o.code: o.id for o in core.organization_all(session)}
    pools = [p.id for p in cloud.pool_list(session, ctx.actor)]
    n = 0
    for i, (code, name, operator, tier, role, district, park, racks, servers, pue, years) in enumerate(DATA_CENTRES):
        fa.data_centre_create(session, ctx.actor, DataCentreCreate(
            code=code, name=name, operator=operator, tier=tier, role=role, district_org_id=orgs.get(district),
            liangjiang_park=park, racks=racks, servers=servers, pue=pue,
            status="active" if years else "building",
            commissioned_on=start + timedelta(days=365 * (3 - years)) if years else None,
            pool_ids=pools[i::len(DATA_CENTRES)]))
        n += 1
    districts = [orgs[c] for c in ("cq-ljxq", "cq-yz", "cq-jb", "cq-yb") if c in orgs]
    for i in range(CHANNEL_USERS):
        active = i < CHANNEL_USERS - 6
        fa.channel_user_create(session, ctx.actor, ChannelUserCreate(
            name=f"重庆{_CHANNEL_NAMES[i % 8]}{_WORDS[i % 12]}{i // 8 + 1}号用户",
            sector=apply.facilities.CHANNEL_SECTORS[i % len(apply.facilities.CHANNEL_SECTORS)],
            district_org_id=districts[i % len(districts)] if districts else None,
            bandwidth_mbps=float(ctx.rng.choice((10, 20, 20, 50, 100))), status="active" if active else "building",
            commissioned_on=start + timedelta(days=30 * (i + 1)) if active else None))
        n += 1
    return n
