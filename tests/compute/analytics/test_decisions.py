"""Decisions on a dispatch run's suggestions (issue 18, 指挥调度): accepted or overridden once, with the reason,
noted on the incident's timeline, audited; refused naming the field at fault; other units get 404."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from cityhub.compute import schemas
from cityhub.compute import service as compute
from cityhub.core.models import AuditEntry
from cityhub.kit.errors import Conflict, NotFound, ValidationFailed
from cityhub.ops import service as ops
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
    timeline = ops.incident_detail(world.session, world.actors["operator"], pipe.id)["events"]
    assert any(e.kind == "comment" and "综合队" in (e.text or "") for e in timeline)
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
