"""Giving an incident to a field team (issue 18, 指挥调度): within its department by the department or the center;
to another department's team only by the center, as a dispatch along the state table; audited, on the timeline."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select

from cityhub.core.models import AuditEntry
from cityhub.kit.errors import Conflict, Forbidden, InvalidTransition, NotFound, ValidationFailed
from cityhub.ops import service as ops
from cityhub.ops.models import IncidentStatus
from cityhub.ops.schemas import IncidentCreate

API = "/api/v1/ops"


def _incident(world: Any) -> Any:
    return ops.incident_create(world.session, world.actors["operator"], IncidentCreate(
        title="井盖缺失", category="road", severity="major", org_id=world.orgs["dept_a"].id))


def test_a_department_gives_its_incident_to_its_team(world: Any) -> None:
    inc = _incident(world)
    got = ops.incident_assign(world.session, world.actors["org_member_a"], inc.id, " 一队 ", note="就近")
    assert (got.team, got.org_id, got.status) == ("一队", world.orgs["dept_a"].id, IncidentStatus.DISPATCHED)
    last = ops.incident_detail(world.session, world.actors["operator"], inc.id)["events"][-1]
    assert (last.kind, last.text, last.data["team"]) == ("assigned", "就近", "一队")
    row = world.session.scalars(select(AuditEntry).where(AuditEntry.action == "incident_assign")).one()
    assert row.summary["before"]["team"] == "" and row.summary["after"]["team"] == "一队"


def test_another_departments_team_is_a_dispatch_the_centers(world: Any) -> None:
    inc = _incident(world)
    b = world.orgs["dept_b"].id
    with pytest.raises(Forbidden):
        ops.incident_assign(world.session, world.actors["org_member_a"], inc.id, "乙队", org_id=b)
    assert ops.incident_get(world.session, world.actors["operator"], inc.id).org_id == world.orgs["dept_a"].id
    got = ops.incident_assign(world.session, world.actors["operator"], inc.id, "乙队", org_id=b)
    assert (got.org_id, got.team) == (b, "乙队")
    with pytest.raises(NotFound):  # dept A no longer sees it
        ops.incident_get(world.session, world.actors["org_member_a"], inc.id)
    # a plain re-dispatch elsewhere drops the team: it was the other department's
    again = ops.incident_transition(world.session, world.actors["operator"], inc.id, IncidentStatus.DISPATCHED,
                                    org_id=world.orgs["dept_a"].id)
    assert again.team == ""


def test_refusals_name_the_field_or_the_state(world: Any) -> None:
    inc = _incident(world)
    op = world.actors["operator"]
    with pytest.raises(ValidationFailed) as err:
        ops.incident_assign(world.session, op, inc.id, "  ")
    assert err.value.field == "team"
    with pytest.raises(ValidationFailed) as err:
        ops.incident_assign(world.session, op, inc.id, "x", org_id=uuid.uuid4())
    assert err.value.field == "org_id"
    with pytest.raises(NotFound):
        ops.incident_assign(world.session, world.actors["org_member_b"], inc.id, "x")
    ops.incident_transition(world.session, world.actors["org_member_a"], inc.id, IncidentStatus.ACCEPTED)
    with pytest.raises(InvalidTransition):  # accepted by dept A: it cannot be dispatched elsewhere
        ops.incident_assign(world.session, op, inc.id, "乙队", org_id=world.orgs["dept_b"].id)
    for status in (IncidentStatus.RESOLVED, IncidentStatus.CLOSED):
        ops.incident_transition(world.session, op, inc.id, status)
    with pytest.raises(Conflict):
        ops.incident_assign(world.session, op, inc.id, "一队")


def test_through_the_api(client: Any, world: Any) -> None:
    inc = _incident(world)
    url = f"{API}/incidents/{inc.id}/assign"
    r = client.post(url, json={"team": "一队"}, headers=world.headers("org_member_a"))
    assert r.status_code == 200 and r.json()["team"] == "一队", r.text
    r = client.post(url, json={"team": "乙队", "org_id": str(world.orgs["dept_b"].id)},
                    headers=world.headers("org_member_a"))
    assert r.status_code == 403
    r = client.post(url, json={"team": ""}, headers=world.headers("operator"))
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"].endswith("team")
    assert client.post(url, json={"team": "x"}, headers=world.headers("org_member_b")).status_code == 404


def test_the_incident_page_gives_it_to_a_team(client: Any, world: Any) -> None:
    from tests.web.test_pages import login

    inc = _incident(world)
    login(client, "t-operator")
    page = client.get(f"/ops/incidents/{inc.id}").text
    assert 'data-testid="assign-form"' in page and "派给处置队伍" in page
    csrf = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    r = client.post(f"/ops/incidents/{inc.id}/assign", data={"csrf_token": csrf, "team": "二队", "note": "就近",
                                                             "org_id": str(world.orgs["dept_b"].id)})
    assert r.status_code in (200, 303), r.text
    world.session.expire_all()  # the page wrote through its own session
    got = ops.incident_get(world.session, world.actors["operator"], inc.id)
    assert (got.team, got.org_id) == ("二队", world.orgs["dept_b"].id)
    assert 'data-testid="team">二队<' in client.get(f"/ops/incidents/{inc.id}").text
