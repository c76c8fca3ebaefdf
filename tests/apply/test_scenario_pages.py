"""The scenario page: the register by batch with its chart data, the declaration form (a bad value comes back
named, nothing written), the bureau's and the owner's transition buttons; zh-CN first, English on the switch."""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi.testclient import TestClient

from cityhub.apply import service as apply
from cityhub.apply.schemas import ScenarioCreate
from cityhub.kit.pagination import PageParams
from tests.apply.test_pages import _csrf, _login


def _count(world: Any) -> int:
    world.session.expire_all()
    return apply.scenarios.scenario_list(world.session, world.actors["auditor"], PageParams(limit=1))[1]


def test_declare_through_the_form_then_the_bureau_accepts(client: TestClient, world: Any) -> None:
    _login(client, "t-a-member")
    page = client.get("/apply/scenarios").text
    assert 'data-testid="scenario-form"' in page and "应用场景" in page and "小切口大民生" in page
    form = {"csrf_token": _csrf(page), "name": "社区智慧养老", "batch": "livelihood", "year": "2026",
            "owner_org_id": str(world.orgs["dept_a"].id), "district_org_id": str(world.orgs["district"].id)}
    bad = client.post("/apply/scenarios", data={**form, "year": "两千"}, follow_redirects=True)
    assert bad.status_code == 200 and "社区智慧养老" in bad.text and _count(world) == 0  # kept, not written
    bad = client.post("/apply/scenarios", data={**form, "batch": "6g"}, follow_redirects=True)
    assert bad.status_code == 200 and _count(world) == 0
    ok = client.post("/apply/scenarios", data=form, follow_redirects=True)
    assert ok.status_code == 200 and "已申报" in ok.text and _count(world) == 1
    assert "/transition" not in ok.text  # only the bureau accepts a declaration
    data = json.loads(re.search(r'id="page-data">(.*?)</script>', ok.text, re.S).group(1))  # type: ignore[union-attr]  # the block is there
    assert data["series"][0]["data"] == [0, 1, 0, 0, 0]  # declared, per batch in order
    client.cookies.clear()
    _login(client, "t-admin")
    page = client.get("/apply/scenarios").text
    sid = re.search(r'/apply/scenarios/([0-9a-f-]+)/transition', page).group(1)  # type: ignore[union-attr]  # one button
    r = client.post(f"/apply/scenarios/{sid}/transition", data={"csrf_token": _csrf(page), "status": "building"},
                    follow_redirects=True)
    assert r.status_code == 200 and "建设中" in r.text
    client.cookies.set("cityhub_lang", "en")
    assert "Application scenarios" in client.get("/apply/scenarios").text


def test_another_units_member_sees_but_cannot_move_it(client: TestClient, world: Any) -> None:
    s = apply.scenarios.scenario_create(world.session, world.actors["platform_admin"], ScenarioCreate(
        name="5G+智慧工厂", batch="5g", year=2026, owner_org_id=world.orgs["dept_a"].id))
    apply.scenarios.scenario_transition(world.session, world.actors["platform_admin"], s.id, "building")
    _login(client, "t-b-member")
    page = client.get("/apply/scenarios?batch=5g").text
    assert "5G+智慧工厂" in page and "/transition" not in page
    r = client.post(f"/apply/scenarios/{s.id}/transition", data={"csrf_token": _csrf(page), "status": "built"},
                    follow_redirects=True)
    assert r.status_code == 200
    world.session.expire_all()
    assert apply.scenarios.scenario_get(world.session, world.actors["auditor"], s.id).status == "building"
