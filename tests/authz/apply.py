"""Apply routes: every member of staff reads the programme; the bureau (here the platform admin) manages targets,
runs computed progress and reviews reports; a target's owner unit (dept A) reports its value."""

from __future__ import annotations

from datetime import date
from typing import Any

from cityhub.apply import service as apply
from cityhub.apply.evaluation.schemas import IndicatorSpec, RunCreate, SchemeCreate
from cityhub.apply.projects.schemas import KeyProjectCreate
from cityhub.apply.schemas import ParkCreate, ReportCreate, ScenarioCreate, StationCreate, TargetCreate
from cityhub.cloud import service as cloud
from cityhub.cloud.schemas import RequestCreate
from cityhub.compute import service as compute
from cityhub.core.actor import Actor
from cityhub.kit.idcodes import credit_code_check_char
from cityhub.kit.pagination import PageParams
from tests.authz import ANY_USER, Expect, roles
from tests.compute.helpers import component_data

P = "/api/v1/apply"
BUREAU = roles("platform_admin")
OWNER_A = roles("platform_admin", "org_admin_a", "org_member_a")
_ANY_NODE = "targets are the city's, not a unit's: any node is a valid parent"
_ANY_OWNER = "the bureau names any unit as a target's owner"


def prepare(w: Any) -> None:
    """A programme node, a target owned by dept A (with a submitted report by its member) and a leaf to delete."""
    admin = w.actors["platform_admin"]
    root = apply.target_create(w.session, admin, TargetCreate(code="az-prog", title_zh="规划", kind="programme"))
    t = apply.target_create(w.session, admin, TargetCreate(
        code="az-t", title_zh="目标", parent_id=root.id, owner_org_id=w.orgs["dept_a"].id, target_value=10,
        start_date=date(2026, 1, 1), deadline=date(2027, 1, 1)))
    leaf = apply.target_create(w.session, admin, TargetCreate(code="az-leaf", title_zh="删", parent_id=root.id))
    r = apply.report_create(w.session, w.actors["org_member_a"], t.id, ReportCreate(
        value=3, evidence_url="https://example.gov.cn/e.pdf"))
    scheme = apply.evaluation.evaluation_scheme_create(w.session, admin, SchemeCreate(
        code="az-eval", title_zh="评比", org_type="department",
        indicators=[IndicatorSpec(key="cloud.on_cloud", weight=50), IndicatorSpec(key="bureau.assessment", weight=50)]))
    run = apply.evaluation.evaluation_run_compute(w.session, admin, RunCreate(scheme_id=scheme.id, year=2026))
    station = apply.stations.base_station_create(w.session, admin, StationCreate(
        carrier="cmcc", site_code="AZ-1", district_org_id=w.orgs["district"].id, band="n41"))
    declared = apply.scenarios.scenario_create(w.session, w.actors["org_member_a"], ScenarioCreate(
        name="az-场景", batch="smart_city", year=2026, owner_org_id=w.orgs["dept_a"].id))
    building = apply.scenarios.scenario_create(w.session, w.actors["org_member_a"], ScenarioCreate(
        name="az-在建", batch="5g", year=2026, owner_org_id=w.orgs["dept_a"].id))
    apply.scenarios.scenario_transition(w.session, admin, building.id, "building")
    apply.economy.digital_park_create(w.session, admin, ParkCreate(code="az-park", name="测试园"))
    w.extra["apply_ev"] = apply.evidence.evaluation_evidence_attach(
        w.session, admin, run.id, w.orgs["dept_a"].id, "cloud.on_cloud", "e.pdf", b"%PDF-1.4\n%%EOF\n")
    w.extra["apply_rev"] = apply.report_evidence.report_evidence_attach(
        w.session, w.actors["org_member_a"], r.id, "e.pdf", b"%PDF-1.4\n%%EOF\n")
    project = apply.projects.key_project_create(w.session, w.actors["org_member_a"], KeyProjectCreate(
        name="az-重点项目", owner_org_id=w.orgs["dept_a"].id, sector="ai", investment_total=1000))
    w.extra["apply"] = {"root": root, "t": t, "leaf": leaf, "report": r, "scheme": scheme, "run": run,
                        "station": station, "declared": declared, "building": building, "project": project}


def prepare_refs(w: Any) -> None:
    """Unit B's draft component and cloud node (invisible to unit A) for the scenario's link swaps."""
    w.extra["apply_b_component"] = compute.component_create(w.session, w.actors["org_member_b"],
                                                            component_data(w, "az-b-scn", org="dept_b"))
    req = cloud.request_create(w.session, w.actors["org_member_b"], w.extra["cloud"]["tenancy_b"].id,
                               RequestCreate(item_id=w.extra["cloud"]["small"].id))
    cloud.request_approve(w.session, Actor.system("authz"), req.id)
    cloud.jobs_run(w.session, Actor.system("authz"))
    w.extra["apply_b_resource"] = cloud.resource_list(w.session, w.actors["org_member_b"], PageParams(),
                                                      request_id=req.id)[0][0]


def _p(param: str, name: str) -> Any:
    return lambda w: {param: w.extra["apply"][name].id}


T = f"{P}/targets/{{target_id}}"

EXPECTATIONS = [
    Expect("GET", f"{P}/targets", ANY_USER),
    Expect("POST", f"{P}/targets", BUREAU, body=lambda w: {
        "code": "az-new", "title_zh": "新目标", "parent_id": str(w.extra["apply"]["root"].id),
        "owner_org_id": str(w.orgs["dept_b"].id)}, refs={"parent_id": _ANY_NODE, "owner_org_id": _ANY_OWNER}),
    Expect("GET", T, ANY_USER, params=_p("target_id", "t")),
    Expect("PATCH", T, BUREAU, params=_p("target_id", "t"), body=lambda w: {"target_value": 12},
           refs={"owner_org_id": _ANY_OWNER}),
    Expect("DELETE", T, BUREAU, params=_p("target_id", "leaf")),
    Expect("GET", f"{T}/history", ANY_USER, params=_p("target_id", "t")),
    Expect("POST", f"{T}/reports", OWNER_A, params=_p("target_id", "t"),
           body=lambda w: {"value": 4, "evidence_url": "https://example.gov.cn/e2.pdf"}),
    Expect("GET", f"{P}/reports", ANY_USER),
    Expect("GET", f"{P}/review-queue", BUREAU),
    Expect("GET", f"{P}/reports/{{report_id}}", OWNER_A, params=_p("report_id", "report")),
    Expect("POST", f"{P}/reports/{{report_id}}/review", BUREAU, params=_p("report_id", "report"),
           body=lambda w: {"approve": True}),
    Expect("POST", f"{P}/progress/refresh", BUREAU),
    Expect("GET", f"{P}/sources", ANY_USER),
]

E = f"{P}/evaluation"
RUN = f"{E}/runs/{{run_id}}"
UNIT_A = roles("platform_admin", "auditor", "org_admin_a", "org_member_a")  # the bureau, auditors, the unit


def _unit(w: Any) -> dict[str, Any]:
    return {"run_id": w.extra["apply"]["run"].id, "org_id": w.orgs["dept_a"].id}


EXPECTATIONS += [
    Expect("GET", f"{E}/indicators", ANY_USER),
    Expect("GET", f"{E}/schemes", ANY_USER),
    Expect("POST", f"{E}/schemes", BUREAU, body=lambda w: {
        "code": "az-eval2", "title_zh": "评比二", "org_type": "district",
        "indicators": [{"key": "cloud.on_cloud", "weight": 100}]}),
    Expect("PATCH", f"{E}/schemes/{{scheme_id}}", BUREAU, params=_p("scheme_id", "scheme"),
           body=lambda w: {"title_zh": "评比改"}),
    Expect("GET", f"{E}/runs", ANY_USER),
    Expect("POST", f"{E}/runs", BUREAU, body=lambda w: {"scheme_id": str(w.extra["apply"]["scheme"].id),
                                                         "year": 2025},
           refs={"scheme_id": "schemes are the city's rules, not a unit's: only the bureau names one"}),
    Expect("GET", RUN, ANY_USER, params=_p("run_id", "run")),
    Expect("GET", f"{RUN}/ranking", ANY_USER, params=_p("run_id", "run")),
    Expect("GET", f"{RUN}/units/{{org_id}}", UNIT_A, params=_unit),
    Expect("POST", f"{RUN}/units/{{org_id}}/adjustment", BUREAU, params=_unit,
           body=lambda w: {"adjustment": 2, "reason": "材料齐全"}),
    Expect("POST", f"{RUN}/freeze", BUREAU, params=_p("run_id", "run")),
    Expect("GET", f"{RUN}/report.xlsx", roles("platform_admin", "auditor"), params=_p("run_id", "run")),
    Expect("GET", f"{RUN}/report.pdf", roles("platform_admin", "auditor"), params=_p("run_id", "run")),
    Expect("GET", f"{P}/base-stations", ANY_USER),
    Expect("POST", f"{P}/base-stations", BUREAU, body=lambda w: {
        "carrier": "ctcc", "site_code": "AZ-2", "district_org_id": str(w.orgs["district"].id), "band": "n78"},
           refs={"district_org_id": "the register names any district of the city"}),
    Expect("POST", f"{P}/base-stations/import", BUREAU, note="(an empty body: 422 for the bureau)"),
    Expect("GET", f"{P}/base-stations/density", ANY_USER),
    Expect("GET", f"{P}/links", ANY_USER),
    Expect("POST", f"{P}/links", BUREAU, body=lambda w: {
        "name": "az-link", "kind": "interconnect", "endpoint_a": "重庆", "endpoint_b": "国家直联点",
        "capacity_gbps": 10}),
]

SC = f"{P}/scenarios"
EXPECTATIONS += [
    Expect("GET", SC, ANY_USER),
    Expect("GET", f"{SC}/summary", ANY_USER),
    Expect("POST", SC, OWNER_A, body=lambda w: {"name": "az-新场景", "batch": "livelihood", "year": 2026,
                                                "owner_org_id": str(w.orgs["dept_a"].id)},
           refs={"owner_org_id": lambda w: w.orgs["dept_b"].id,
                 "district_org_id": "a scenario names any district of the city it is built in",
                 "component_ids": lambda w: [w.extra["apply_b_component"].id],
                 "entry_ids": lambda w: [w.extra["d_b_draft"].id],
                 "device_ids": lambda w: [w.extra["connect"]["dev_b"].id],
                 "cloud_resource_ids": lambda w: [w.extra["apply_b_resource"].id]}),
    Expect("GET", f"{SC}/{{scenario_id}}", ANY_USER, params=_p("scenario_id", "declared")),
    # accepting a declaration is the bureau's; reporting a scenario built is its owner unit's (or the bureau's)
    Expect("POST", f"{SC}/{{scenario_id}}/transition", BUREAU, params=_p("scenario_id", "declared"),
           body=lambda w: {"status": "building"}),
    Expect("POST", f"{SC}/{{scenario_id}}/transition", OWNER_A, params=_p("scenario_id", "building"),
           body=lambda w: {"status": "built"}, note="(the owner unit reports it built)"),
]

EXPECTATIONS += [
    Expect("GET", f"{P}/parks", ANY_USER),
    Expect("POST", f"{P}/parks", BUREAU, body=lambda w: {"code": "az-park2", "name": "测试园二"},
           refs={"district_org_id": "the bureau's register names any district of the city"}),
    Expect("GET", f"{P}/enterprises", ANY_USER),
    Expect("POST", f"{P}/enterprises", BUREAU, body=lambda w: {
        "credit_code": _uscc("91500000MA5U1234X"), "name": "测试科技有限公司", "sector": "ai", "size": "small"},
           refs={"park_id": "parks are the city's register, not a unit's: any park is legitimate"}),
]


def _uscc(first17: str) -> str:
    return first17 + credit_code_check_char(first17)


EXPECTATIONS += [
    Expect("GET", f"{P}/channel-users", ANY_USER),
    Expect("POST", f"{P}/channel-users", BUREAU, body=lambda w: {
        "name": "az-通道用户", "sector": "finance", "bandwidth_mbps": 10},
           refs={"district_org_id": "the register names any district of the city"}),
    Expect("GET", f"{P}/data-centres", ANY_USER),
    Expect("POST", f"{P}/data-centres", BUREAU, body=lambda w: {
        "code": "az-dc", "name": "测试数据中心", "operator": "中国电信", "tier": "A", "role": "production"},
           refs={"district_org_id": "the register names any district of the city",
                 "pool_ids": "cloud pools are the platform's, listed to every user"}),
    Expect("GET", f"{P}/facilities/totals", ANY_USER),
]

EXPECTATIONS += [Expect("GET", f"{P}/panorama", ANY_USER)]

EXPECTATIONS += [
    # the unit's staff (and the bureau) attach; an empty body is a 422 for them, others 403/404
    Expect("POST", f"{E}/evidence", OWNER_A, query=lambda w: {
        "run_id": str(w.extra["apply"]["run"].id), "org_id": str(w.orgs["dept_a"].id),
        "indicator_key": "cloud.on_cloud"}, note="(an empty body: 422 for those who may attach)"),
    Expect("GET", f"{E}/evidence", UNIT_A, query=lambda w: {
        "run_id": str(w.extra["apply"]["run"].id), "org_id": str(w.orgs["dept_a"].id)}),
    Expect("GET", f"{E}/evidence/{{evidence_id}}", UNIT_A, params=lambda w: {"evidence_id": w.extra["apply_ev"].id}),
]

EXPECTATIONS += [Expect("POST", f"{P}/enterprises/import", BUREAU, note="(an empty body: 422 for the bureau)")]

EXPECTATIONS += [
    # a progress report's files: the owner unit's staff (and the bureau) attach; whoever sees the report reads them
    Expect("POST", f"{T}/reports/upload", OWNER_A, params=_p("target_id", "t"), query=lambda w: {"value": 5},
           note="(an empty body: 422 for those who may report)"),
    Expect("POST", f"{P}/reports/{{report_id}}/evidence", OWNER_A, params=_p("report_id", "report"),
           note="(an empty body: 422 for those who may attach)"),
    Expect("GET", f"{P}/reports/{{report_id}}/evidence", OWNER_A, params=_p("report_id", "report")),
    Expect("GET", f"{P}/report-evidence/{{evidence_id}}", OWNER_A,
           params=lambda w: {"evidence_id": w.extra["apply_rev"].id}),
]

EXPECTATIONS += [
    # a scenario's KPIs and budget: staff read them, its owner unit (and the bureau) change them
    Expect("GET", f"{SC}/{{scenario_id}}/kpis", ANY_USER, params=_p("scenario_id", "declared")),
    Expect("PUT", f"{SC}/{{scenario_id}}/kpis", OWNER_A, params=_p("scenario_id", "declared"),
           body=lambda w: {"kpis": [{"name": "覆盖率", "unit": "%", "target": 90, "actual": 40}]}),
    Expect("PUT", f"{SC}/{{scenario_id}}/budget", OWNER_A, params=_p("scenario_id", "declared"),
           body=lambda w: {"budget_planned": 1200, "budget_spent": 300}),
]

KP = f"{P}/key-projects"
_KP_REFS: dict[str, Any] = {
    "owner_org_id": lambda w: w.orgs["dept_b"].id,
    "park_id": "parks are the city's register, not a unit's: any park is legitimate",
    "lead_enterprise_id": "enterprises are the city's register, not a unit's: any enterprise may lead a project",
    "district_org_id": "a key project names any district of the city it is built in"}
EXPECTATIONS += [
    # the key-project register: staff read it; its owner unit's staff (and the bureau) write; the bureau imports
    Expect("GET", KP, ANY_USER),
    Expect("POST", KP, OWNER_A, body=lambda w: {"name": "az-新项目", "owner_org_id": str(w.orgs["dept_a"].id),
                                                "sector": "iot", "investment_total": 500}, refs=_KP_REFS),
    Expect("GET", f"{KP}/summary", ANY_USER),
    Expect("POST", f"{KP}/import", BUREAU, note="(an empty body: 422 for the bureau)"),
    Expect("GET", f"{KP}/{{project_id}}", ANY_USER, params=_p("project_id", "project")),
    Expect("PATCH", f"{KP}/{{project_id}}", OWNER_A, params=_p("project_id", "project"),
           body=lambda w: {"description": "改"}, refs=_KP_REFS),
    Expect("DELETE", f"{KP}/{{project_id}}", OWNER_A, params=_p("project_id", "project")),
    Expect("POST", f"{KP}/{{project_id}}/transition", OWNER_A, params=_p("project_id", "project"),
           body=lambda w: {"status": "under_construction"}),
    Expect("GET", f"{KP}/{{project_id}}/reports", ANY_USER, params=_p("project_id", "project")),
    Expect("POST", f"{KP}/{{project_id}}/reports", OWNER_A, params=_p("project_id", "project"),
           body=lambda w: {"as_of": "2024-06-30", "investment_completed": 100, "milestone": "开工"}),
]

EXPECTATIONS += [
    # a scenario's showcase picture over the API: the owner unit's staff and the bureau (an empty body: 422 for them)
    Expect("PUT", f"{SC}/{{scenario_id}}/picture", OWNER_A, params=_p("scenario_id", "declared"),
           note="(an empty body: 422 for those who may set it)"),
]

EXPECTATIONS += [
    # what a scenario uses, after its declaration: the owner unit's staff and the bureau, until it is accepted
    Expect("PUT", f"{SC}/{{scenario_id}}/links", OWNER_A, params=_p("scenario_id", "declared"),
           body=lambda w: {"component_ids": []},
           refs={"component_ids": lambda w: [w.extra["apply_b_component"].id],
                 "entry_ids": lambda w: [w.extra["d_b_draft"].id],
                 "device_ids": lambda w: [w.extra["connect"]["dev_b"].id],
                 "cloud_resource_ids": lambda w: [w.extra["apply_b_resource"].id]}),
]
