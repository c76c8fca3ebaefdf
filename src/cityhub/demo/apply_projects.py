"""Demo step part: the digital-economy key projects (数字经济重点项目) across the plan's parks, with their history.

Each project is registered by its owner unit's staff (a district, new area or the economy commission), led by an
enterprise of its park, started on its planned day and reported on every quarter since — investment completed to
date rising along an S-curve towards the total — then completed, suspended or left building as its row says. Run
from `demo/apply.py` after the parks and enterprises; skipped when any key project exists.
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from cityhub.apply import service as apply
from cityhub.apply.projects.schemas import KeyProjectCreate, KeyProjectReportCreate
from cityhub.core import service as core
from cityhub.core.actor import Actor
from cityhub.kit.errors import NotFound
from cityhub.kit.pagination import PageParams

if TYPE_CHECKING:
    from cityhub.demo import DemoContext

# (name, park code, owner code, district code, sector, total investment 万元, started years ago (negative: not yet),
#  planned years, final state, description)
PROJECTS: tuple[tuple[str, str, str, str, str, float, float, float, str, str], ...] = (
    ("两江国际云计算数据中心三期", "ljsz", "cq-ljxq", "cq-ljxq", "big_data", 480_000, 2.6, 3.0, "under_construction",
     "新建机柜1.2万架，配套液冷与余热回收系统"),
    ("两江智能网联汽车大数据平台", "ljsz", "cq-ljxq", "cq-ljxq", "iot", 86_000, 2.2, 2.0, "completed",
     "车路协同数据汇聚、仿真测试与高精度地图服务"),
    ("礼嘉智慧公园数字孪生改造", "ljsz", "cq-ljxq", "cq-ljxq", "digital_content", 32_000, 1.1, 1.5,
     "under_construction", "园区三维建模、沉浸式体验与游客服务平台"),
    ("西永12英寸功率半导体晶圆制造项目", "xywdy", "cq-spb", "cq-spb", "ic", 1_250_000, 2.9, 4.0,
     "under_construction", "月产能3万片12英寸功率器件晶圆生产线"),
    ("西永智能终端产业基地二期", "xywdy", "cq-spb", "cq-spb", "smart_hardware", 210_000, 2.4, 2.0, "completed",
     "笔记本电脑与平板整机、关键零部件配套厂房"),
    ("西永集成电路封装测试基地", "xywdy", "cq-spb", "cq-spb", "ic", 360_000, 0.8, 3.0, "under_construction",
     "先进封装与晶圆级测试产线"),
    ("中国智谷人工智能计算中心", "zgzg", "cq-bn", "cq-bn", "ai", 150_000, 1.6, 2.0, "under_construction",
     "建设AI算力平台，为产业园企业提供训练与推理算力"),
    ("巴南工业互联网标识解析二级节点", "zgzg", "cq-bn", "cq-bn", "iot", 12_000, 2.1, 1.0, "completed",
     "面向装备制造行业的标识注册与解析服务"),
    ("巴南数字医疗器械产业园", "zgzg", "cq-bn", "cq-bn", "smart_hardware", 95_000, 1.4, 2.5, "suspended",
     "医疗影像与可穿戴设备研发生产基地（用地调整暂缓）"),
    ("仙桃数据谷大数据智能化创新中心", "xtsjg", "cq-yb", "cq-yb", "big_data", 68_000, 1.9, 2.0,
     "under_construction", "孵化载体、公共技术服务平台与数据开放实验室"),
    ("仙桃国际传感器产业园二期", "xtsjg", "cq-yb", "cq-yb", "iot", 140_000, 0.6, 2.5, "under_construction",
     "MEMS传感器中试线与检测认证中心"),
    ("渝北软件和信息服务外包基地", "xtsjg", "cq-yb", "cq-yb", "software", 45_000, -0.3, 2.0, "planned",
     "软件研发楼宇与人才公寓"),
    ("渝中区块链服务平台（BaaS）", "yzqkl", "cq-yz", "cq-yz", "blockchain", 18_000, 1.3, 1.5, "under_construction",
     "政务与金融场景的区块链底层服务平台"),
    ("解放碑数字文创街区", "yzqkl", "cq-yz", "cq-yz", "digital_content", 26_000, -0.5, 1.5, "planned",
     "数字展陈、沉浸式演艺与文创孵化空间"),
    ("渝中区块链供应链金融平台", "yzqkl", "cq-yz", "cq-yz", "blockchain", 9_500, -0.1, 1.0, "planned",
     "基于区块链的应收账款确权与融资服务"),
    ("重庆市工业互联网综合服务平台", "", "cq-jxw", "", "software", 58_000, 1.7, 2.5, "under_construction",
     "面向全市中小企业的上云用平台与工业APP应用商店"),
)


def _staff(session: Session, code: str, fallback: Actor) -> Actor:
    try:
        return core.actor_for_username(session, f"{code.removeprefix('cq-')}-staff")
    except NotFound:  # a city without the unit's staff account: the bureau registers for it
        return fallback


def _share(t: float, final: str) -> float:
    """Investment completed as a share of the total at `t` (0..1 of the planned period): an S-curve."""
    s = 1 / (1 + math.exp(-8 * (t - 0.5)))
    return min(1.0, s if final != "completed" else min(1.0, s * 1.05))


def build(session: Session, ctx: DemoContext, today: date) -> int:
    """Register the key projects with their quarterly progress; the number registered (0 when any existed)."""
    pj = apply.projects
    if pj.key_project_list(session, ctx.actor, PageParams(limit=1, offset=0))[1]:
        return 0
    orgs = {o.code: o.id for o in core.organization_all(session)}
    parks = {p.code: p.id for p in apply.economy.park_list(session, ctx.actor)}
    made = 0
    for i, (name, park, owner, district, sector, total, ago, years, final, text) in enumerate(PROJECTS):
        if owner not in orgs:
            continue
        staff = _staff(session, owner, ctx.actor)
        firms = apply.economy.enterprise_list(session, ctx.actor, PageParams(limit=50, offset=0),
                                              park_id=parks.get(park))[0] if park in parks else []
        start = today - timedelta(days=round(ago * 365))
        finish = start + timedelta(days=round(years * 365))
        p = pj.key_project_create(session, staff, KeyProjectCreate(
            name=name, owner_org_id=orgs[owner], sector=sector, investment_total=total, park_id=parks.get(park),
            lead_enterprise_id=firms[(i * 7) % len(firms)].id if firms else None,
            district_org_id=orgs.get(district) if district else None, planned_start=start, planned_finish=finish,
            description=text))
        made += 1
        if final == "planned":
            continue
        pj.key_project_transition(session, staff, p.id, "under_construction", "按计划开工")
        end = start + timedelta(days=round(years * 365 * (0.9 if final == "completed" else 1)))
        if final == "suspended":
            end = start + timedelta(days=round(ago * 365 * 0.7))
        stop = min(today, end)
        as_of, q = start + timedelta(days=91), 0
        while as_of <= stop:
            q += 1
            share = _share((as_of - start).days / max(1, (finish - start).days), final)
            pj.key_project_report(session, staff, p.id, KeyProjectReportCreate(
                as_of=as_of, investment_completed=round(total * share * (0.92 + 0.04 * (i % 3)), 0),
                milestone=f"第{q}季度：{_MILESTONES[min(int(share * len(_MILESTONES)), len(_MILESTONES) - 1)]}"))
            as_of += timedelta(days=91)
        if final == "completed":
            if stop > start + timedelta(days=91 * q):  # the last quarter's report was earlier: the final figure
                pj.key_project_report(session, staff, p.id, KeyProjectReportCreate(
                    as_of=stop, investment_completed=total, milestone="竣工验收，全部投资完成"))
            pj.key_project_transition(session, staff, p.id, "completed", "竣工验收")
        elif final == "suspended":
            pj.key_project_transition(session, staff, p.id, "suspended", "用地规划调整，项目暂缓")
    return made


_MILESTONES = ("完成土地平整与施工准备", "主体结构施工", "主体结构封顶", "机电安装与设备采购", "设备安装调试",
               "系统联调与试运行", "配套工程完工", "竣工验收准备")
