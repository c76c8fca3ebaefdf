"""Demo step: rules on the simulated sensors, the routing table, indicators, a few alarms and incidents.

Rules watch the simulated bridges, pipe galleries, traffic and air sensors; indicators get a month of history.

With `make run` the simulated stream and the ops worker then raise, re-trigger and clear alarms on their own.
Idempotent: each part is skipped when it exists.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from cityhub.compute import service as compute
from cityhub.compute.schemas import ScenarioRunCreate
from cityhub.connect import service as connect
from cityhub.core import service as core
from cityhub.kit import clock
from cityhub.kit.errors import CityhubError
from cityhub.kit.pagination import PageParams
from cityhub.kit.progress import counts_line
from cityhub.ops import service as ops
from cityhub.ops.schemas import (
    CitizenReportCreate,
    IncidentCreate,
    IncidentStatus,
    IndicatorCreate,
    RoutingRuleCreate,
    RuleCreate,
)

if TYPE_CHECKING:
    from cityhub.demo import DemoContext

# name, profile, kind, key, condition, clear, duration_s, repeat, no_data_s, severity, auto incident, category
# Thresholds fit the simulator (connect/simulator.py): spikes multiply the first metric of a profile by 4, -3 or
# 10, drift pushes it up for a while, silences last 20–200 readings; so alarms rise and clear on their own.
RULES: tuple[tuple[Any, ...], ...] = (
    ("桥梁应变超限", "bridge-health", "threshold", "strain", {"op": "abs>", "value": 600}, None,
     0, 1, 0, "major", False, "bridge"),
    ("桥梁挠度突变", "bridge-health", "rate", "deflection", {"op": "abs>", "value": 120}, None, 0, 3, 0, "minor",
     False, "bridge"),
    ("管廊甲烷浓度超限", "pipe-gallery", "threshold", "ch4", {"op": ">=", "value": 10}, {"op": "<", "value": 5}, 0, 1,
     0, "critical", True, "pipe_gallery"),
    ("管廊积水", "pipe-gallery", "threshold", "water_level", {"op": ">", "value": 100}, {"op": "<", "value": 60}, 0,
     2, 0, "major", True, "pipe_gallery"),
    # 预判预警: the gallery's water level forecast (Holt, refitted by the ops worker) to pass 100 mm within 2 h
    ("管廊积水预判", "pipe-gallery", "forecast", "water_level", {"op": ">", "value": 100, "horizon_s": 7200}, None,
     0, 1, 0, "warning", False, "pipe_gallery"),
    ("管廊缺氧", "pipe-gallery", "threshold", "o2", {"op": "<", "value": 19.5}, {"op": ">=", "value": 20}, 60, 1, 0,
     "major", False, "pipe_gallery"),
    ("道路拥堵", "traffic-flow", "threshold", "speed", {"op": "<", "value": 35}, {"op": ">", "value": 45}, 300, 1, 0,
     "minor", False, "traffic"),
    ("PM2.5 超标", "air-noise", "threshold", "pm25", {"op": ">", "value": 115}, {"op": "<", "value": 75}, 0, 1, 0,
     "minor", False, "environment"),
    ("噪声异常", "air-noise", "anomaly", "noise", {"z": 4.0, "alpha": 0.05, "min_samples": 30},
     {"op": "<", "value": 2.0}, 0, 2, 0, "warning", False, "environment"),
    ("房屋倾斜超限", "building-safety", "threshold", "tilt", {"op": "abs>", "value": 0.5}, None,
     0, 1, 0, "critical", True, "building"),
    ("桥梁监测离线", "bridge-health", "no_data", "", None, None, 0, 1, 900, "warning", False, "bridge"),
    ("管廊监测离线", "pipe-gallery", "no_data", "", None, None, 0, 1, 900, "warning", False, "pipe_gallery"),
    ("空气站离线", "air-noise", "no_data", "", None, None, 0, 1, 1800, "warning", False, "environment"),
)
# category -> department code (asset owners first for bridges and buildings)
ROUTING = (("bridge", None, True), ("building", None, True), ("pipe_gallery", "cq-zfcxjw", False),
           ("traffic", "cq-jtw", False), ("environment", "cq-sthj", False), ("road", "cq-cgj", False),
           ("sanitation", "cq-cgj", False), ("water", "cq-slj", False), ("public_safety", "cq-yjj", False))
# code, name, theme, unit, source, config, target, direction, warning, critical, owner, base, amplitude
INDICATORS: tuple[tuple[Any, ...], ...] = (
    ("env-pm25", "全市 PM2.5 小时均值", "environment", "µg/m³", "telemetry",
     {"profile_code": "air-noise", "key": "pm25", "agg": "avg", "window_s": 3600}, 35, "lower", 75, 115, "cq-sthj",
     38, 14),
    ("env-noise", "城区噪声均值", "environment", "dB(A)", "telemetry",
     {"profile_code": "air-noise", "key": "noise", "agg": "avg", "window_s": 3600}, 55, "lower", 65, 70, "cq-sthj",
     56, 4),
    ("eco-gdp-growth", "地区生产总值增速", "economy", "%", "datastore", {}, 6.0, "higher", 5.0, 4.0, "cq-tjj", 6.1, .4),
    ("eco-retail", "社会消费品零售总额增速", "economy", "%", "datastore", {}, 6.5, "higher", 4.0, 2.0, "cq-sww", 5.8,
     .8),
    ("con-sites", "在建工地扬尘达标率", "construction", "%", "manual", {}, 95, "higher", 90, 85, "cq-zfcxjw", 93, 3),
    ("ene-power", "全社会日用电量", "energy", "亿千瓦时", "datastore", {}, None, "lower", 4.6, 5.0, "cq-fgw", 3.9, .35),
    ("ene-gas", "天然气日供应量", "energy", "万立方米", "manual", {}, None, "lower", 5200, 5600, "cq-fgw", 4300, 500),
)
NAMES_EN = {"env-pm25": "City PM2.5, hourly mean", "env-noise": "Urban noise, mean",
            "eco-gdp-growth": "GDP growth", "eco-retail": "Retail sales growth",
            "con-sites": "Construction sites meeting dust rules", "ene-power": "Daily power consumption",
            "ene-gas": "Daily natural gas supply"}
INCIDENTS = (
    ("渝中区解放碑地下管廊积水", "pipe_gallery", "major", "resolved"),
    ("嘉陵江大桥伸缩缝异响", "bridge", "minor", "in_progress"),
    ("南岸区道路井盖缺失", "road", "critical", "accepted"),
    ("江北区夜间施工噪声投诉", "environment", "warning", "closed"),
    ("沙坪坝区垃圾清运不及时", "sanitation", "minor", "dispatched"),
    ("九龙坡区供水管网爆管", "water", "critical", "in_progress"),
)


# the demo's what-ifs, run once so the scenario pages and the 大屏 have runs to show: a dispatch suggestion for the
# open incidents (teams of the responsible departments, two on shifts) and the storm "暴雨 +50 %" (仿真预测)
DEMO_RAIN = [5.0, 20.0, 45.0, 60.0, 30.0, 10.0]  # mm/h over six hours: a short summer rainstorm
DEMO_TEAMS = (("管廊抢修一队", "500103", 3, ("pipe_gallery", "water"), "cq-zfcxjw", None),
              ("管廊抢修二队", "500112", 3, ("pipe_gallery", "water"), "cq-zfcxjw", (20, 8)),
              ("城管综合执法队", "500106", 4, (), "cq-cgj", (8, 20)),
              ("道路抢通队", "500105", 2, ("traffic", "road"), "cq-jtw", None))


def _org(session: Session, code: str | None) -> Any:
    return core.organization_by_code(session, code) if code else None


def build(session: Session, ctx: DemoContext) -> dict[str, int]:
    """Create what is missing of the operations center's demo."""
    actor = ctx.actor
    counts = {"rules": 0, "routes": 0, "indicators": 0, "incidents": 0, "alarms": 0}
    # the center's rules watch the whole city: a rule reaches the devices of its owner's subtree only
    owner = _org(session, "cq")
    if owner is None:
        return counts
    existing = {r.name for r in ops.rule_list(session, actor, PageParams(limit=500, offset=0))[0]}
    for name, profile, kind, key, cond, clear, dur, rep, nod, sev, auto, cat in RULES:
        if name in existing:
            continue
        ops.rule_create(session, actor, RuleCreate.model_validate({
            "name": name, "org_id": owner.id, "kind": kind, "profile_code": profile, "key": key, "condition": cond,
            "clear_condition": clear, "duration_s": dur,
            "repeat_count": rep, "no_data_s": nod, "severity": sev, "auto_incident": auto, "category": cat}))
        counts["rules"] += 1
    if counts["rules"]:
        counts["forecast_models"] = ops.forecast_refit(session, force=True).fitted  # from the simulated history
    if not ops.routing_rule_list(session, actor):
        for i, (cat, code, use_owner) in enumerate(ROUTING):
            target = _org(session, code)
            if target is None and not use_owner:
                continue
            ops.routing_rule_create(session, actor, RoutingRuleCreate(
                priority=10 + i, category=cat, use_asset_owner=use_owner, target_org_id=target.id if target else None,
                note="演示派单规则"))
            counts["routes"] += 1
    have = {i.code for i in ops.indicator_list(session, actor)}
    now = clock.now().replace(minute=0, second=0, microsecond=0)
    for code, name, theme, unit, source, cfg, target, direction, warn, crit, org_code, base, amp in INDICATORS:
        if code in have:
            continue
        org = _org(session, org_code) or owner
        ind = ops.indicator_create(session, actor, IndicatorCreate.model_validate({
            "code": code, "name": name, "name_en": NAMES_EN.get(code, ""), "theme": theme, "unit": unit,
            "source": source, "source_config": cfg,
            "target": target, "direction": direction, "warning": warn, "critical": crit, "org_id": org.id,
            "frequency_s": 900 if source == "telemetry" else 86400,
            "definition": f"{name}（演示数据：近 30 天）"}))
        for day in range(30, 0, -1):  # a month of history with a weekly rhythm and one bad spell
            wave = math.sin(day / 7 * 2 * math.pi) + (1.6 if 8 <= day <= 10 else 0.0)
            value = round(base + amp * wave * (1 if direction == "lower" else -1), 2)
            ops.indicator_value_record(session, actor, ind.id, value, now - timedelta(days=day), source="datastore")
        counts["indicators"] += 1
    counts["incidents"], counts["alarms"] = _incidents(session, ctx)
    counts["scenarios"] = _scenarios(session, ctx)
    ctx.log(counts_line("demo: ops —", counts).replace(" —:", " —"))
    return counts


def _incidents(session: Session, ctx: DemoContext) -> tuple[int, int]:
    actor = ctx.actor
    if ops.incident_list(session, actor, PageParams(limit=1, offset=0))[1]:
        return 0, 0
    made = alarms = 0
    flow = ("dispatched", "accepted", "in_progress", "resolved", "closed")
    for title, category, severity, target in INCIDENTS:
        try:
            inc = ops.incident_create(session, actor, IncidentCreate.model_validate(
                {"title": title, "category": category, "severity": severity, "description": title + "，请尽快处置"}))
            if inc.status == "new":
                fallback = _org(session, "cq-cgj")
                ops.incident_transition(session, actor, inc.id, IncidentStatus.DISPATCHED,
                                        org_id=fallback.id if fallback else None)
            for status in flow[1:flow.index(target) + 1]:
                ops.incident_transition(session, actor, inc.id, IncidentStatus(status), "演示")
            made += 1
        except CityhubError as exc:
            ctx.log(f"demo: ops incident skipped: {exc.message}")
    ops.citizen_report_create(session, CitizenReportCreate(
        category="road", description="观音桥步行街路面塌陷约一平方米，已有行人绊倒", lon=106.574, lat=29.578),
        ip="demo-citizen")
    made += 1
    # a few open alarms on real demo devices, so the map is not empty before the stream raises its own
    refs = connect.device_refs(session)
    for i, ref in enumerate(refs[: min(12, len(refs))]):
        sev = ("critical", "major", "minor", "warning")[i % 4]
        ops.alarm_raise(session, actor, originator_type="device", originator_id=ref.device_id,
                        alarm_type="巡检发现异常", severity=sev, details={"note": "演示告警"}, org_id=ref.org_id,
                        district_id=ref.district_id, asset_path=ref.asset_path, lon=ref.lon, lat=ref.lat,
                        name=ref.name)
        alarms += 1
    return made, alarms


def _scenarios(session: Session, ctx: DemoContext) -> int:
    operator = core.actor_for_username(session, "operator")
    if operator is None or compute.scenario_list(session, operator, PageParams(limit=1, offset=0))[1]:
        return 0
    teams = []
    for name, district, capacity, skills, org_code, shift in DEMO_TEAMS:
        org = _org(session, org_code)
        teams.append({"name": name, "district_code": district, "capacity": capacity, "skills": list(skills),
                      "org_id": str(org.id) if org else None, "shift_start": shift[0] if shift else None,
                      "shift_end": shift[1] if shift else None})
    made = 0
    for name, kind, inputs in (("今日调度建议", "dispatch", {"teams": teams}),
                               ("暴雨 +50 %", "drainage", {"rain_mm_h": DEMO_RAIN, "intensity": 1.5})):
        try:
            compute.scenario_run(session, operator, ScenarioRunCreate.model_validate(
                {"name": name, "kind": kind, "inputs": inputs}))
            made += 1
        except CityhubError as exc:  # e.g. the district outlines not installed
            ctx.log(f"demo: scenario {name} skipped: {exc.message}")
    return made
