"""Decisions on a dispatch run's suggestions (issue 18, 指挥调度): accepted or overridden once, with the reason; a
team chosen gets the incident through ops' own action (re-dispatched to the team's department, ops' rules and audit);
refused naming the field at fault; other units get 404."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from cityhub.compute import schemas
from cityhub.compute import service as compute
from cityhub.core.models import AuditEntry
from cityhub.kit.errors import Conflict, Forbidden, NotFound, ValidationFailed
from cityhub.ops import service as ops
from cityhub.ops.models import IncidentStatus
from cityhub.ops.schemas import IncidentCreate
from tests.web.test_pages import login

YUZHONG = (106.569, 29.553)  # 渝中区 500103
TEAMS = [{"name": "抢修队", "district_code": "500112", "capacity": 1, "skills": ["pipe_gallery"]},
         {"name": "综合队", "district_code": "500103", "capacity": 5}]


def _dispatch(world: Any) -> tuple[Any, list[Any]]:
    op, s = world.actors["operator"], world.session
    incidents = [ops.incident_create(s, op, IncidentCreate(title=t, category=c, severity="major",
                                                           org_id=world.orgs["dept_a"].id, lon=YUZHONG[0],
                                                           lat=YUZHONG[1]))
                 for t, c in (("管廊积水", "pipe_gallery"), ("井盖缺失", "road"))]
    run = compute.scenario_run(s, op, schemas.ScenarioRunCreate.model_validate({
        "name": "调度", "kind": "dispatch", "inputs": {"teams": TEAMS}, "org_id": world.orgs["dept_a"].id}))
    return run, incidents


def _decide(world: Any, who: str, run: Any, **body: Any) -> Any:
    return compute.dispatch_decide(world.session, world.actors[who], run.id,
                                   schemas.DispatchDecisionCreate.model_validate(body))


def test_accept_and_override_are_recorded_once_noted_and_audited(world: Any) -> None:
    run, (pipe, road) = _dispatch(world)
    suggested = {a["incident_id"]: a["team"] for a in run.result["assignments"]}
    assert suggested[str(pipe.id)] == "综合队"  # nearest skilled team (综合队 takes every category)
    d = _decide(world, "operator", run, incident_id=pipe.id, action="accept")
    assert (d.action, d.suggested_team, d.team, d.decided_by) == ("accept", "综合队", "综合队", "t-operator")
    with pytest.raises(Conflict):
        _decide(world, "operator", run, incident_id=pipe.id, action="override", team="抢修队", reason="近")
    o = _decide(world, "org_member_a", run, incident_id=road.id, action="override", team="", reason="市民已自行处理")
    assert (o.suggested_team, o.team, o.reason) == ("综合队", "", "市民已自行处理")
    got = compute.dispatch_decisions(world.session, world.actors["org_member_a"], run.id)
    assert [(x.incident_id, x.action) for x in got] == [(pipe.id, "accept"), (road.id, "override")]
    detail = ops.incident_detail(world.session, world.actors["operator"], pipe.id)
    assert (detail["incident"].team, detail["incident"].org_id) == ("综合队", world.orgs["dept_a"].id)
    assert any(e.kind == "assigned" and "综合队" in (e.text or "") for e in detail["events"])
    assert d.team_org_id == world.orgs["dept_a"].id  # a team of no named department: the run's unit
    road_events = ops.incident_detail(world.session, world.actors["operator"], road.id)["events"]
    assert any(e.kind == "comment" and "市民已自行处理" in (e.text or "") for e in road_events)
    assert ops.incident_get(world.session, world.actors["operator"], road.id).team == ""  # nobody: left where it was
    rows = list(world.session.scalars(select(AuditEntry).where(AuditEntry.action == "dispatch_decision")))
    assert [r.summary["after"]["action"] for r in rows] == ["accept", "override"]
    assert rows[1].summary["after"]["reason"] == "市民已自行处理"


@pytest.mark.parametrize(("body", "field"), [
    ({"action": "override", "team": "不存在的队", "reason": "x"}, "team"),
    ({"action": "override", "team": "综合队", "reason": "x"}, "team"),  # that is the suggestion: accept it
    ({"action": "override", "team": "抢修队", "reason": " "}, "reason"),
])
def test_a_bad_decision_is_refused_naming_the_field(world: Any, body: dict[str, Any], field: str) -> None:
    run, (pipe, _road) = _dispatch(world)
    with pytest.raises(ValidationFailed) as err:
        _decide(world, "operator", run, incident_id=pipe.id, **body)
    assert err.value.field == field
    assert compute.dispatch_decisions(world.session, world.actors["operator"], run.id) == []


def test_only_dispatch_runs_and_their_incidents_and_other_units_get_404(world: Any) -> None:
    run, (pipe, _road) = _dispatch(world)
    stranger = ops.incident_create(world.session, world.actors["operator"], IncidentCreate(
        title="别处", category="road", severity="minor", org_id=world.orgs["dept_b"].id))
    with pytest.raises(ValidationFailed) as err:
        _decide(world, "operator", run, incident_id=stranger.id, action="accept")
    assert err.value.field == "incident_id"
    traffic = compute.scenario_run(world.session, world.actors["operator"], schemas.ScenarioRunCreate.model_validate({
        "name": "封路", "kind": "traffic", "inputs": {"closures": [["500103", "500105"]]},
        "org_id": world.orgs["dept_a"].id}))
    with pytest.raises(ValidationFailed) as err:
        _decide(world, "operator", traffic, incident_id=pipe.id, action="accept")
    assert err.value.field == "run_id"
    with pytest.raises(NotFound):
        _decide(world, "org_member_b", run, incident_id=pipe.id, action="accept")
    with pytest.raises(NotFound):
        compute.dispatch_decisions(world.session, world.actors["org_member_b"], run.id)


def test_decisions_through_the_api_and_the_page(client: Any, world: Any) -> None:
    run, (pipe, road) = _dispatch(world)
    h = world.headers("operator")
    url = f"/api/v1/compute/scenarios/{run.id}/decisions"
    r = client.post(url, headers=h, json={"incident_id": str(pipe.id), "action": "accept"})
    assert r.status_code == 201, r.text
    assert client.post(url, headers=h, json={"incident_id": str(pipe.id), "action": "accept"}).status_code == 409
    bad = client.post(url, headers=h, json={"incident_id": str(road.id), "action": "override", "team": "x",
                                            "reason": "y"})
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "team"
    maybe = client.post(url, headers=h, json={"incident_id": str(road.id), "action": "maybe"})
    assert maybe.status_code == 422 and maybe.json()["error"]["details"][0]["field"].endswith("action")
    assert [d["action"] for d in client.get(url, headers=h).json()] == ["accept"]
    assert client.get(url, headers=world.headers("org_member_b")).status_code == 404
    login(client, "t-a-member")
    page = client.get(f"/compute/scenarios/{run.id}").text
    assert page.count('data-testid="decision-form"') == 1 and "已采纳" in page  # one decided, one open
    assert "已派往" in page  # where the incident went
    assert 'data-testid="team">综合队<' in client.get(f"/ops/incidents/{pipe.id}").text  # the incident shows its team


def _routed(world: Any, status: str = "") -> tuple[Any, Any]:
    """A pipe-gallery incident of dept A, and a run whose only skilled team belongs to dept B."""
    op, s = world.actors["operator"], world.session
    inc = ops.incident_create(s, op, IncidentCreate(title="管廊积水", category="pipe_gallery", severity="major",
                                                    org_id=world.orgs["dept_a"].id, lon=YUZHONG[0], lat=YUZHONG[1]))
    if status:
        ops.incident_transition(s, world.actors["org_member_a"], inc.id, IncidentStatus(status))
    teams = [{"name": "乙队", "district_code": "500103", "capacity": 2, "skills": ["pipe_gallery"],
              "org_id": str(world.orgs["dept_b"].id)},
             {"name": "甲队", "district_code": "500112", "capacity": 2, "skills": ["pipe_gallery"]}]
    run = compute.scenario_run(s, op, schemas.ScenarioRunCreate.model_validate({
        "name": "跨部门", "kind": "dispatch", "inputs": {"teams": teams}, "org_id": world.orgs["dept_a"].id}))
    assert {a["incident_id"]: a["team"] for a in run.result["assignments"]}[str(inc.id)] == "乙队"  # the nearer
    return run, inc


def test_accepting_moves_the_incident_to_the_teams_department_through_ops(world: Any) -> None:
    run, inc = _routed(world)
    d = _decide(world, "operator", run, incident_id=inc.id, action="accept")
    assert d.team_org_id == world.orgs["dept_b"].id
    got = ops.incident_get(world.session, world.actors["operator"], inc.id)
    assert (got.org_id, got.team, str(got.status)) == (world.orgs["dept_b"].id, "乙队", "dispatched")
    events = ops.incident_detail(world.session, world.actors["operator"], inc.id)["events"]
    assert [e.kind for e in events][-2:] == ["dispatched", "assigned"]
    assert "已采纳调度建议" in events[-1].text or "accepted" in events[-1].text
    audit = list(world.session.scalars(select(AuditEntry).where(AuditEntry.action == "incident_assign")))
    assert [(a.summary["before"]["org_id"], a.summary["after"]["team"]) for a in audit] == [
        (str(world.orgs["dept_a"].id), "乙队")]
    # dept B now sees the incident it was given; dept A no longer does
    assert ops.incident_get(world.session, world.actors["org_member_b"], inc.id).team == "乙队"
    with pytest.raises(NotFound):
        ops.incident_get(world.session, world.actors["org_member_a"], inc.id)


def test_overriding_with_a_team_gives_it_that_team_with_the_reason(world: Any) -> None:
    run, inc = _routed(world)
    d = _decide(world, "operator", run, incident_id=inc.id, action="override", team="甲队", reason="乙队在抢险")
    assert (d.team, d.team_org_id, d.reason) == ("甲队", world.orgs["dept_a"].id, "乙队在抢险")
    got = ops.incident_get(world.session, world.actors["operator"], inc.id)
    assert (got.org_id, got.team) == (world.orgs["dept_a"].id, "甲队")
    last = ops.incident_detail(world.session, world.actors["operator"], inc.id)["events"][-1]
    assert last.kind == "assigned" and "乙队在抢险" in last.text


def test_ops_rules_apply_a_department_cannot_move_it_away_and_an_accepted_one_stays(world: Any) -> None:
    run, inc = _routed(world)
    with pytest.raises(Forbidden):  # only the operations center moves an incident between departments
        _decide(world, "org_member_a", run, incident_id=inc.id, action="accept")
    assert compute.dispatch_decisions(world.session, world.actors["operator"], run.id) == []  # nothing recorded
    assert ops.incident_get(world.session, world.actors["operator"], inc.id).team == ""
    run, inc = _routed(world, status="accepted")
    with pytest.raises(Conflict):  # accepted by dept A: the state table allows no dispatch
        _decide(world, "operator", run, incident_id=inc.id, action="accept")
    assert compute.dispatch_decisions(world.session, world.actors["operator"], run.id) == []
    run, inc = _routed(world, status="accepted")  # its own department's team: given without a dispatch
    _decide(world, "org_member_a", run, incident_id=inc.id, action="override", team="甲队", reason="本部门处理")
    got = ops.incident_get(world.session, world.actors["org_member_a"], inc.id)
    assert (got.team, str(got.status)) == ("甲队", "accepted")


def test_a_teams_department_must_be_a_known_unit(world: Any) -> None:
    import uuid

    with pytest.raises(ValidationFailed) as err:
        compute.scenario_run(world.session, world.actors["operator"], schemas.ScenarioRunCreate.model_validate({
            "name": "x", "kind": "dispatch", "org_id": world.orgs["dept_a"].id,
            "inputs": {"teams": [TEAMS[1], {**TEAMS[0], "org_id": str(uuid.uuid4())}]}}))
    assert err.value.field == "inputs.teams.1.org_id"


def test_the_dispatch_form_takes_each_teams_department(client: Any, world: Any) -> None:
    import re
    import uuid

    from cityhub.compute.models import ScenarioRun

    login(client, "t-operator")
    page = client.get("/compute/scenarios").text
    assert 'name="team_org_0"' in page
    m = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert m
    form = client.post("/compute/scenarios", data={
        "csrf_token": m.group(1), "kind": "dispatch", "name": "派单", "org_id": str(world.orgs["dept_a"].id),
        "team_name_0": "乙队", "team_district_0": "500103", "team_capacity_0": "2",
        "team_org_0": str(world.orgs["dept_b"].id), "team_name_1": "甲队", "team_district_1": "500112",
        "team_capacity_1": "1"}, follow_redirects=False)
    assert form.status_code == 303 and "/compute/scenarios/" in form.headers["location"], form.text
    run_id = form.headers["location"].split("?", 1)[0].rsplit("/", 1)[1]
    run = world.session.get(ScenarioRun, uuid.UUID(run_id))
    assert run is not None
    assert [(t["name"], t["org_id"]) for t in run.result["teams"]] == [("乙队", str(world.orgs["dept_b"].id)),
                                                                       ("甲队", None)]
