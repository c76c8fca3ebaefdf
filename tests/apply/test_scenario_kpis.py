"""A scenario's KPIs (target against actual) and budget (planned against spent): its owner unit's staff and the
bureau change them, nobody else (403); repeated names and bad numbers name their field (422); an accepted scenario's
are final (409); every change is audited with before and after; the scenario page shows them and its forms."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import select

from cityhub.apply import service as apply
from cityhub.apply.schemas import KpiIn, ScenarioBudgetSet, ScenarioCreate, ScenarioKpisSet
from cityhub.core.models import AuditEntry
from cityhub.kit.errors import Conflict, Forbidden, NotFound, ValidationFailed
from tests.apply.test_pages import _csrf, _login
from tests.compute.helpers import bureau_setup

sc = apply.scenarios
KPIS = ScenarioKpisSet(kpis=[KpiIn(name="覆盖小区", unit="个", target=200, actual=150),
                             KpiIn(name="群众满意度", unit="%", target=90)])


def _scenario(w: Any) -> Any:
    return sc.scenario_create(w.session, w.actors["org_member_a"], ScenarioCreate(
        name="智慧停车", batch="livelihood", year=2026, owner_org_id=w.orgs["dept_a"].id))


def _audit(w: Any, action: str) -> list[Any]:
    return list(w.session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def test_the_owner_unit_and_the_bureau_set_kpis_and_budget_others_may_not(world: Any) -> None:
    bureau_setup(world)
    s = _scenario(world)
    out = sc.scenario_kpis_set(world.session, world.actors["org_member_a"], s.id, KPIS)
    assert [(k.name, k.target, k.actual, k.achieved) for k in out] == [("覆盖小区", 200, 150, 0.75),
                                                                     ("群众满意度", 90, None, None)]
    for who in ("org_member_b", "auditor", "district_admin"):
        with pytest.raises(Forbidden):
            sc.scenario_kpis_set(world.session, world.actors[who], s.id, ScenarioKpisSet(kpis=[]))
        with pytest.raises(Forbidden):
            sc.scenario_budget_set(world.session, world.actors[who], s.id, ScenarioBudgetSet(budget_planned=1))
        assert len(sc.scenario_kpis(world.session, world.actors[who], s.id)) == 2  # staff read them all
    again = sc.scenario_kpis_set(world.session, world.actors["platform_admin"], s.id, ScenarioKpisSet(
        kpis=[KpiIn(name="覆盖小区", unit="个", target=200, actual=210)]))
    assert [(k.name, k.achieved) for k in again] == [("覆盖小区", 1.05)]  # replaced, beyond the target
    read = sc.scenario_budget_set(world.session, world.actors["org_member_a"], s.id,
                                  ScenarioBudgetSet(budget_planned=1200, budget_spent=1300))
    assert (read.budget_planned, read.budget_spent) == (1200, 1300)  # an overrun is recorded, not refused
    first, second = _audit(world, "scenario_kpis_set")
    assert first.summary["before"]["kpis"] == [] and second.summary["before"]["kpis"][1]["name"] == "群众满意度"
    [budget] = _audit(world, "scenario_budget_set")
    assert budget.summary["before"]["budget_planned"] is None and budget.summary["after"]["budget_spent"] == 1300
    assert budget.org_id == world.orgs["dept_a"].id


def test_bad_input_names_the_field_and_an_accepted_scenario_is_final(world: Any) -> None:
    bureau_setup(world)
    s = _scenario(world)
    member = world.actors["org_member_a"]
    with pytest.raises(ValidationFailed) as e:
        sc.scenario_kpis_set(world.session, member, s.id, ScenarioKpisSet(kpis=[
            KpiIn(name="覆盖小区", target=1), KpiIn(name="覆盖小区", target=2)]))
    assert e.value.field == "kpis.1.name" and sc.scenario_kpis(world.session, member, s.id) == []
    with pytest.raises(ValidationError, match="budget_planned"):
        ScenarioBudgetSet(budget_planned=-1)
    with pytest.raises(ValidationError, match="target"):
        KpiIn.model_validate({"name": "x", "target": float("nan")})
    with pytest.raises(NotFound):
        sc.scenario_kpis(world.session, member, world.orgs["dept_a"].id)
    admin = world.actors["platform_admin"]
    for to in ("building", "built", "accepted"):
        sc.scenario_transition(world.session, admin, s.id, to)
    with pytest.raises(Conflict):
        sc.scenario_kpis_set(world.session, admin, s.id, KPIS)
    with pytest.raises(Conflict):
        sc.scenario_budget_set(world.session, admin, s.id, ScenarioBudgetSet(budget_spent=5))
    assert _audit(world, "scenario_kpis_set") == [] and _audit(world, "scenario_budget_set") == []


def test_the_scenario_page_shows_kpis_and_budget_with_the_forms(client: TestClient, world: Any) -> None:
    bureau_setup(world)
    s = _scenario(world)
    world.session.commit()
    _login(client, "t-a-member")
    register = client.get("/apply/scenarios").text
    assert f'href="/apply/scenarios/{s.id}"' in register
    page = client.get(f"/apply/scenarios/{s.id}")
    assert page.status_code == 200 and 'data-testid="kpi-form"' in page.text and "尚未设置考核指标" in page.text
    r = client.post(f"/apply/scenarios/{s.id}/kpis", data={
        "csrf_token": _csrf(page.text), "name": ["覆盖小区", "", "满意度"], "unit": ["个", "", "%"],
        "target": ["200", "", "90"], "actual": ["100", "", ""]}, follow_redirects=True)
    assert r.status_code == 200 and "覆盖小区" in r.text and "50.0%" in r.text
    bad = client.post(f"/apply/scenarios/{s.id}/kpis", data={
        "csrf_token": _csrf(r.text), "name": ["覆盖小区"], "target": ["很多"]}, follow_redirects=True)
    assert "请输入数字" in bad.text and len(sc.scenario_kpis(world.session, world.actors["auditor"], s.id)) == 2
    b = client.post(f"/apply/scenarios/{s.id}/budget", data={
        "csrf_token": _csrf(bad.text), "budget_planned": "800", "budget_spent": "1000"}, follow_redirects=True)
    rate = re.search(r'data-testid="budget-rate"[^>]*>([^<]+)<', b.text)
    assert rate is not None and rate.group(1) == "125.0%" and "超出计划" in b.text
    client.cookies.clear()
    _login(client, "t-b-member")
    other = client.get(f"/apply/scenarios/{s.id}").text
    assert "覆盖小区" in other and 'data-testid="kpi-form"' not in other and 'data-testid="budget-form"' not in other
    assert client.post(f"/apply/scenarios/{s.id}/budget", data={
        "csrf_token": _csrf(other), "budget_planned": "1"}, follow_redirects=True).status_code == 200
    assert sc.scenario_get(world.session, world.actors["auditor"], s.id).budget_planned == 800  # refused, unchanged
    client.cookies.set("cityhub_lang", "en")
    assert "Budget planned (10,000 yuan)" in client.get(f"/apply/scenarios/{s.id}").text


def test_the_api_sets_and_reads_kpis_and_budget(client: TestClient, world: Any) -> None:
    bureau_setup(world)
    s = _scenario(world)
    world.session.commit()
    a = world.headers("org_member_a")
    put = client.put(f"/api/v1/apply/scenarios/{s.id}/kpis", json={"kpis": [{"name": "覆盖小区", "target": 0}]},
                     headers=a)
    assert put.status_code == 200 and put.json()[0]["achieved"] is None  # a zero target has no ratio
    bad = client.put(f"/api/v1/apply/scenarios/{s.id}/budget", json={"budget_spent": -3}, headers=a)
    assert bad.status_code == 422 and "budget_spent" in bad.text
    ok = client.put(f"/api/v1/apply/scenarios/{s.id}/budget", json={"budget_planned": 50}, headers=a)
    assert ok.status_code == 200 and ok.json()["budget_planned"] == 50
    assert client.get(f"/api/v1/apply/scenarios/{s.id}", headers=world.headers("auditor")).json()[
        "budget_planned"] == 50
    assert client.put(f"/api/v1/apply/scenarios/{s.id}/budget", json={"budget_planned": 1},
                      headers=world.headers("org_member_b")).status_code == 403
