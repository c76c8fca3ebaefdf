"""Compute routes: a unit registers and manages its components and applications; the owner's admins decide
subscriptions; the bureau (here the platform admin) reviews and publishes; published components are everyone's to
read; auditors and operators read every unit's."""

from __future__ import annotations

from typing import Any

from cityhub.compute import service as compute
from cityhub.compute.schemas import (
    AnalysisCreate,
    AnalysisRunStart,
    AppCreate,
    JobCreate,
    ScenarioRunCreate,
    SubscriptionCreate,
    VersionCreate,
)
from cityhub.data import service as data
from tests.authz import ANY_USER, Expect, roles
from tests.compute.helpers import component_data
from tests.data.helpers import entry_data, load_people, published_entry

P = "/api/v1/compute"
WRITERS_A = roles("platform_admin", "org_admin_a", "org_member_a")
READ_A = WRITERS_A | roles("auditor", "operator")
BUREAU = roles("platform_admin")
OWNER_ADMIN = roles("platform_admin", "org_admin_a")


def _component(w: Any, code: str, status: str) -> Any:
    member, admin = w.actors["org_member_a"], w.actors["platform_admin"]
    c = compute.component_create(w.session, member, component_data(w, code, builtin="noop"))
    compute.component_version_create(w.session, member, c.id, VersionCreate(
        version="1.0.0", kind="builtin", builtin="noop"))
    if status != "draft":
        compute.component_submit(w.session, member, c.id)
    if status in ("published", "deprecated"):
        compute.component_review(w.session, admin, c.id, True)
    if status == "deprecated":
        compute.component_deprecate(w.session, member, c.id)
    return c


def prepare(w: Any) -> None:
    """A draft, a submitted, a published and a deprecated component of dept A; apps of A and B; a pending
    subscription of B's app; a new unpublished version of the published component."""
    s = w.session
    pub = _component(w, "az-pub", "published")
    v2 = compute.component_version_create(s, w.actors["org_member_a"], pub.id, VersionCreate(
        version="1.1.0", kind="builtin", builtin="noop"))
    app_a = compute.app_create(s, w.actors["org_member_a"], AppCreate(org_id=w.orgs["dept_a"].id, name="az-a"))
    key_a, _raw = compute.app_key_create(s, w.actors["org_member_a"], app_a.id)
    app_b = compute.app_create(s, w.actors["org_member_b"], AppCreate(org_id=w.orgs["dept_b"].id, name="az-b"))
    sub = compute.subscription_create(s, w.actors["org_member_b"], SubscriptionCreate(
        app_id=app_b.id, component_code="az-pub", version="1.0.0"))
    admin = w.actors["platform_admin"]
    analysis = compute.analysis_create(s, admin, AnalysisCreate(
        org_id=w.orgs["dept_a"].id, name="az-analysis", sql="SELECT count(*) AS n FROM devices"))
    run = compute.analysis_run(s, admin, analysis.id, AnalysisRunStart(), wait=True)
    w.extra["compute_run"] = run["id"]
    entry = data.catalog_entry_create(s, w.actors["org_member_a"], entry_data(w, "dept_a", name="az-job-input"))
    data.catalog_entry_submit(s, w.actors["org_member_a"], entry.id)
    data.catalog_entry_review(s, admin, entry.id, True, "ok")
    res = load_people(w, entry)
    job = compute.job_create(s, w.actors["org_member_a"], JobCreate.model_validate({
        "org_id": w.orgs["dept_a"].id, "component_code": "az-pub", "version": "1.0.0", "path": "/ping",
        "source_kind": "table", "resource_id": res.id, "fields": {"name": "name"}}))
    w.extra["compute_job"] = {"job": job, "res": res}
    w.extra["compute_scenario"] = compute.scenario_run(s, w.actors["org_member_a"], ScenarioRunCreate(
        name="az-closure", kind="traffic", inputs={"closures": [["500103", "500105"]]})).id
    w.extra["compute"] = {"analysis": analysis, "draft": _component(w, "az-draft", "draft"),
                          "review": _component(w, "az-review", "review"),
                          "pub": pub, "dep": _component(w, "az-dep", "deprecated"), "v2": v2, "app_a": app_a,
                          "app_b": app_b, "key_a": key_a, "sub": sub}


def prepare_refs(w: Any) -> None:
    """Unit B's twin of the job's input for the id swaps (tests/test_cross_unit_refs.py): a published entry of dept B
    with its own datastore table, which A's staff may not read row by row."""
    entry = published_entry(w, "dept_b", name="az-job-input-b")
    w.extra["compute_job_res_b"] = load_people(w, entry, org="dept_b")


def _id(name: str) -> Any:
    return lambda w: w.extra["compute"][name].id


def _p(param: str, name: str) -> Any:
    return lambda w: {param: w.extra["compute"][name].id}


_B_ENTRIES = {"catalog_entry_ids": lambda w: [w.extra["d_b_draft"].id]}  # unit B's unpublished catalog entry
C = f"{P}/components/{{component_id}}"

EXPECTATIONS = [
    Expect("GET", f"{P}/components", ANY_USER),
    Expect("POST", f"{P}/components", WRITERS_A, body=lambda w: {
        "code": "az-new", "name_zh": "新组件", "category": "common", "org_id": str(w.orgs["dept_a"].id)},
        refs={"org_id": lambda w: w.orgs["dept_b"].id, **_B_ENTRIES}),
    Expect("GET", C, READ_A, params=_p("component_id", "draft"), note="a draft"),
    Expect("PATCH", C, WRITERS_A, params=_p("component_id", "draft"), body=lambda w: {"name_zh": "改名"},
           refs=_B_ENTRIES),
    Expect("DELETE", C, WRITERS_A, params=_p("component_id", "draft")),
    Expect("GET", f"{C}/versions", ANY_USER, params=_p("component_id", "pub")),
    Expect("POST", f"{C}/versions", WRITERS_A, params=_p("component_id", "draft"),
           body=lambda w: {"version": "9.0.0", "kind": "builtin", "builtin": "noop"}),
    Expect("POST", f"{P}/versions/{{version_id}}/publish", BUREAU, params=_p("version_id", "v2")),
    Expect("POST", f"{C}/submit", WRITERS_A, params=_p("component_id", "draft")),
    Expect("POST", f"{C}/review", BUREAU, params=_p("component_id", "review"), body=lambda w: {"approve": True}),
    Expect("POST", f"{C}/deprecate", WRITERS_A, params=_p("component_id", "pub"), body=lambda w: {"note": "旧"}),
    Expect("POST", f"{C}/retire", WRITERS_A, params=_p("component_id", "dep"), body=lambda w: {"note": "停"}),
    Expect("POST", f"{C}/reinstate", BUREAU, params=_p("component_id", "dep")),
    Expect("GET", f"{C}/consumers", ANY_USER, params=_p("component_id", "pub")),
    Expect("GET", f"{C}/dependencies", ANY_USER, params=_p("component_id", "pub")),
    Expect("GET", f"{C}/usage", ANY_USER, params=_p("component_id", "pub")),
    Expect("GET", f"{P}/review-queue", BUREAU),
    Expect("GET", f"{P}/builtins", ANY_USER),
    Expect("GET", f"{P}/apps", ANY_USER),
    Expect("POST", f"{P}/apps", WRITERS_A, body=lambda w: {"org_id": str(w.orgs["dept_a"].id), "name": "新系统"},
           refs={"org_id": lambda w: w.orgs["dept_b"].id}),
    Expect("GET", f"{P}/apps/{{app_id}}", READ_A, params=_p("app_id", "app_a")),
    Expect("POST", f"{P}/apps/{{app_id}}/disable", WRITERS_A, params=_p("app_id", "app_a")),
    Expect("POST", f"{P}/apps/{{app_id}}/enable", WRITERS_A, params=_p("app_id", "app_a")),
    Expect("GET", f"{P}/apps/{{app_id}}/keys", READ_A, params=_p("app_id", "app_a")),
    Expect("POST", f"{P}/apps/{{app_id}}/keys", WRITERS_A, params=_p("app_id", "app_a")),
    Expect("POST", f"{P}/keys/{{key_id}}/revoke", WRITERS_A, params=_p("key_id", "key_a")),
    Expect("POST", f"{P}/keys/{{key_id}}/rotate", WRITERS_A, params=_p("key_id", "key_a")),
    Expect("GET", f"{P}/subscriptions", ANY_USER),
    # other units' staff cannot see dept A's application: a 422 naming app_id (decision 0007), not a 403
    Expect("POST", f"{P}/subscriptions", WRITERS_A | roles("org_member_b", "district_admin"), body=lambda w: {
        "app_id": str(w.extra["compute"]["app_a"].id), "component_code": "az-pub", "version": "1.0.0"},
        refs={"app_id": _id("app_b")}, note="unit B and the district get 422 naming app_id"),
    Expect("GET", f"{P}/subscriptions/{{sub_id}}", READ_A | roles("org_member_b"), params=_p("sub_id", "sub")),
    Expect("POST", f"{P}/subscriptions/{{sub_id}}/decide", OWNER_ADMIN, params=_p("sub_id", "sub"),
           body=lambda w: {"approve": True}),
    Expect("POST", f"{P}/subscriptions/{{sub_id}}/revoke", OWNER_ADMIN | roles("org_member_b"),
           params=_p("sub_id", "sub"), body=lambda w: {"note": "停用"}),
    Expect("GET", f"{P}/usage", ANY_USER),
    Expect("GET", f"{P}/usage.csv", ANY_USER),
    # saved analyses of dept A: the prepared one reads the lake (a platform admin's); a new one reads dept A's
    # people table (tests/authz/data.py prepares it; bodies are built when the call is made)
    Expect("GET", f"{P}/analyses", ANY_USER),
    Expect("POST", f"{P}/analyses", WRITERS_A, body=lambda w: {
        "org_id": str(w.orgs["dept_a"].id), "name": "新分析",
        "sql": f'SELECT count(*) AS n FROM "{w.extra["d_res"].id}"'},
        refs={"org_id": lambda w: w.orgs["dept_b"].id}),
    Expect("GET", f"{P}/analyses/{{analysis_id}}", WRITERS_A, params=_p("analysis_id", "analysis")),
    Expect("PATCH", f"{P}/analyses/{{analysis_id}}", WRITERS_A, params=_p("analysis_id", "analysis"),
           body=lambda w: {"chart": "bar"}),
    Expect("DELETE", f"{P}/analyses/{{analysis_id}}", WRITERS_A, params=_p("analysis_id", "analysis")),
    Expect("POST", f"{P}/analyses/{{analysis_id}}/runs", WRITERS_A, params=_p("analysis_id", "analysis"),
           body=lambda w: {"max_rows": 10, "timeout_s": 5}),
    Expect("GET", f"{P}/analyses/{{analysis_id}}/runs", WRITERS_A, params=_p("analysis_id", "analysis")),
    Expect("GET", f"{P}/analyses/runs/{{run_id}}", WRITERS_A, params=lambda w: {"run_id": w.extra["compute_run"]}),
    Expect("POST", f"{P}/analyses/runs/{{run_id}}/cancel", WRITERS_A,
           params=lambda w: {"run_id": w.extra["compute_run"]}, note="409: the run has ended"),
    Expect("GET", f"{P}/analyses/runs/{{run_id}}/csv", WRITERS_A,
           params=lambda w: {"run_id": w.extra["compute_run"]}),
    Expect("GET", f"{P}/analyses/runs/{{run_id}}/parquet", WRITERS_A,
           params=lambda w: {"run_id": w.extra["compute_run"]}),
    Expect("POST", f"{P}/analyses/runs/{{run_id}}/publish", WRITERS_A,
           params=lambda w: {"run_id": w.extra["compute_run"]}, body=lambda w: {"title": "az-结果"}),
    Expect("GET", f"{P}/usage.xlsx", ANY_USER),
    # batch jobs of dept A (over dept A's table, through its published no-op)
    Expect("GET", f"{P}/jobs", ANY_USER),
    Expect("POST", f"{P}/jobs", WRITERS_A, body=lambda w: {
        "org_id": str(w.orgs["dept_a"].id), "component_code": "az-pub", "version": "1.0.0", "path": "/ping",
        "source_kind": "table", "resource_id": str(w.extra["compute_job"]["res"].id), "fields": {"name": "name"}},
        refs={"org_id": lambda w: w.orgs["dept_b"].id, "resource_id": lambda w: w.extra["compute_job_res_b"].id,
              "device_id": lambda w: w.extra["connect"]["dev_b"].id, "app_id": _id("app_b")}),
    Expect("GET", f"{P}/jobs/{{job_id}}", READ_A, params=lambda w: {"job_id": w.extra["compute_job"]["job"].id}),
    Expect("POST", f"{P}/jobs/{{job_id}}/cancel", WRITERS_A,
           params=lambda w: {"job_id": w.extra["compute_job"]["job"].id}),
    # scenario runs of dept A (a road closure prepared by its staff); the operations center runs them too
    Expect("GET", f"{P}/scenarios", ANY_USER),
    Expect("POST", f"{P}/scenarios", WRITERS_A | roles("operator"), body=lambda w: {
        "org_id": str(w.orgs["dept_a"].id), "name": "封闭", "kind": "traffic",
        "inputs": {"closures": [["500103", "500105"]]}}, refs={"org_id": lambda w: w.orgs["dept_b"].id}),
    Expect("GET", f"{P}/scenarios/{{run_id}}", READ_A,
           params=lambda w: {"run_id": w.extra["compute_scenario"]}),
    # decisions on a run's suggestions (the prepared run is a road closure: those allowed get 422 naming run_id)
    Expect("GET", f"{P}/scenarios/{{run_id}}/decisions", READ_A,
           params=lambda w: {"run_id": w.extra["compute_scenario"]}),
    Expect("POST", f"{P}/scenarios/{{run_id}}/decisions", WRITERS_A | roles("operator"),
           params=lambda w: {"run_id": w.extra["compute_scenario"]},
           body=lambda w: {"incident_id": "9a07bab9-0000-4000-8000-000000000000", "action": "accept"},
           refs={"incident_id": "only an incident the run suggested a team for (incidents its runner saw) is "
                                "accepted; any other is a 422 naming incident_id (test_decisions.py)"},
           note="422: not a dispatch run"),
]
