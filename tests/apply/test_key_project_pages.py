"""Key projects over HTTP: the API's permission matrix (owner unit / other unit / bureau / anonymous) with 404, 409
and 422 naming the field; the pages — the register with its filters and chart data, a project with its investment
chart, the forms for those who may use them (a refused form comes back named and kept), the park page listing its
projects; zh-CN first, English on the switch."""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from cityhub.apply import service as apply
from cityhub.apply.projects.schemas import KeyProjectCreate, KeyProjectReportCreate
from cityhub.apply.schemas import ParkCreate
from cityhub.kit import clock
from tests.apply.test_pages import _csrf, _login

P = "/api/v1/apply/key-projects"
TODAY = clock.now().date()


def _data(html: str) -> Any:
    return json.loads(re.search(r'id="page-data">(.*?)</script>', html, re.S).group(1))  # type: ignore[union-attr]  # the block is there


def _project(w: Any, name: str = "两江云计算数据中心三期", **over: Any) -> Any:
    park = apply.economy.digital_park_create(w.session, w.actors["platform_admin"], ParkCreate(
        code="lj", name="两江数字经济产业园", district_org_id=w.orgs["district"].id))
    p = apply.projects.key_project_create(w.session, w.actors["org_member_a"], KeyProjectCreate(**{
        "name": name, "owner_org_id": w.orgs["dept_a"].id, "sector": "big_data", "investment_total": 48000,
        "park_id": park.id, "district_org_id": w.orgs["district"].id, "planned_start": TODAY - timedelta(days=500),
        "planned_finish": TODAY + timedelta(days=400), **over}))
    return park, p


def test_api_permission_matrix_for_each_write(client: TestClient, world: Any) -> None:
    _park, p = _project(world)
    world.session.commit()
    h = world.headers
    body = {"name": "新项目", "owner_org_id": str(world.orgs["dept_a"].id), "sector": "ai", "investment_total": 10}
    assert client.get(P).status_code == 401  # anonymous
    for who in ("org_member_a", "org_member_b", "platform_admin", "auditor"):
        r = client.get(P, headers=h(who))
        assert r.status_code == 200 and r.json()["total"] == 1
        assert client.get(f"{P}/{p.id}", headers=h(who)).json()["name"] == p.name
    for who, expected in (("", 401), ("org_member_b", 403), ("auditor", 403), ("org_member_a", 201)):
        assert client.post(P, json=body, headers=h(who)).status_code == expected, who
    assert client.post(P, json={**body, "name": "局建项目"}, headers=h("platform_admin")).status_code == 201
    patch = {"description": "扩建"}
    for who, expected in (("", 401), ("org_member_b", 403), ("org_member_a", 200), ("platform_admin", 200)):
        assert client.patch(f"{P}/{p.id}", json=patch, headers=h(who)).status_code == expected, who
    report = {"as_of": str(TODAY - timedelta(days=100)), "investment_completed": 9000, "milestone": "主体施工"}
    for who, expected in (("", 401), ("org_member_b", 403), ("org_member_a", 201)):
        assert client.post(f"{P}/{p.id}/reports", json=report, headers=h(who)).status_code == expected, who
    assert client.post(f"{P}/{p.id}/reports", json={**report, "as_of": str(TODAY)},
                       headers=h("platform_admin")).status_code == 201
    history = client.get(f"{P}/{p.id}/reports", headers=h("org_member_b")).json()
    assert [r["investment_completed"] for r in history] == [9000, 9000]
    move = {"status": "under_construction", "note": "开工"}
    for who, expected in (("", 401), ("org_member_b", 403), ("org_member_a", 200)):
        assert client.post(f"{P}/{p.id}/transition", json=move, headers=h(who)).status_code == expected, who
    assert client.post(f"{P}/{p.id}/transition", json=move, headers=h("platform_admin")).status_code == 409
    # deleting: never for another unit, and only while planned (409 now it is building)
    assert client.delete(f"{P}/{p.id}", headers=h("org_member_b")).status_code == 403
    assert client.delete(f"{P}/{p.id}", headers=h("org_member_a")).status_code == 409
    assert client.post(f"{P}/import", content=b"", headers=h("org_member_a")).status_code == 403
    assert client.post(f"{P}/import", content=b"", headers=h("platform_admin")).status_code == 422
    summary = client.get(f"{P}/summary", headers=h("org_member_b")).json()
    assert summary["total"] == 3 and summary["investment_completed"] == 9000


def test_api_errors_are_404_409_and_422_naming_the_field(client: TestClient, world: Any) -> None:
    _park, p = _project(world)
    world.session.commit()
    h = world.headers("org_member_a")
    assert client.get(f"{P}/{uuid.uuid4()}", headers=h).status_code == 404
    assert client.post(f"{P}/{uuid.uuid4()}/reports", json={"as_of": str(TODAY), "investment_completed": 1},
                       headers=h).status_code == 404
    body = {"name": p.name, "owner_org_id": str(world.orgs["dept_a"].id), "sector": "ai", "investment_total": 10}
    assert client.post(P, json=body, headers=h).status_code == 409
    r = client.post(P, json={**body, "name": "坏引用", "park_id": str(uuid.uuid4())}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "park_id"
    r = client.post(P, json={**body, "name": "坏行业", "sector": "mining"}, headers=h)
    assert r.status_code == 422 and "sector" in r.text
    r = client.post(P, json={**body, "name": "倒置", "planned_start": "2026-01-01", "planned_finish": "2025-01-01"},
                    headers=h)
    assert r.status_code == 422 and "planned_finish" in r.text
    r = client.post(f"{P}/{p.id}/transition", json={"status": "completed"}, headers=h)
    assert r.status_code == 409
    r = client.post(f"{P}/{p.id}/transition", json={"status": "done"}, headers=h)
    assert r.status_code == 422 and "status" in r.text
    assert client.get(P, params={"status": "done"}, headers=h).status_code == 422
    assert client.delete(f"{P}/{p.id}", headers=h).status_code == 204  # planned: deleted
    assert client.get(f"{P}/{p.id}", headers=h).status_code == 404


def test_list_and_detail_pages_with_filters_chart_and_forms(client: TestClient, world: Any) -> None:
    park, p = _project(world)
    member = world.actors["org_member_a"]
    apply.projects.key_project_transition(world.session, member, p.id, "under_construction")
    for days, value in ((300, 6000), (200, 15000), (100, 24000)):
        apply.projects.key_project_report(world.session, member, p.id, KeyProjectReportCreate(
            as_of=TODAY - timedelta(days=days), investment_completed=value, milestone=f"里程碑{value}"))
    apply.projects.key_project_create(world.session, world.actors["platform_admin"], KeyProjectCreate(
        name="园外项目", owner_org_id=world.orgs["dept_b"].id, sector="ai", investment_total=100))
    world.session.commit()
    _login(client, "t-b-member")  # another unit: reads everything, no forms on unit A's project
    page = client.get("/apply/economy/projects")
    assert page.status_code == 200 and "数字经济重点项目" in page.text and 'id="park-investment-chart"' in page.text
    chart = _data(page.text)
    assert chart["parks"] == ["两江数字经济产业园"] and chart["total"] == [48000] and chart["completed"] == [24000]
    assert "建设中" in page.text and "under_construction" not in page.text.split('id="page-data"')[0].replace(
        'value="under_construction"', "")  # states in words
    assert "园外项目" in page.text and 'data-testid="project-import-form"' not in page.text
    filtered = client.get("/apply/economy/projects", params={"park_id": str(park.id)}).text
    assert p.name in filtered and "园外项目" not in filtered
    assert "园外项目" not in client.get("/apply/economy/projects", params={"status": "under_construction"}).text
    assert p.name not in client.get("/apply/economy/projects",
                                    params={"district_org_id": str(world.orgs["dept_b"].id)}).text
    assert client.get("/apply/economy/projects", params={"status": "nonsense"}).status_code == 422
    detail = client.get(f"/apply/economy/projects/{p.id}")
    assert detail.status_code == 200 and 'id="investment-chart"' in detail.text
    data = _data(detail.text)
    assert [v for _d, v in data["points"]] == [6000, 15000, 24000] and data["total"] == 48000
    assert "里程碑24000" in detail.text and 'data-testid="report-form"' not in detail.text
    assert 'data-testid="project-edit-form"' not in detail.text and "50.0%" in detail.text
    assert client.get(f"/apply/economy/projects/{uuid.uuid4()}").status_code == 404
    park_page = client.get(f"/apply/economy/parks/{park.id}").text
    assert 'data-testid="park-projects-table"' in park_page and p.name in park_page
    client.cookies.set("cityhub_lang", "en")
    en = client.get(f"/apply/economy/projects/{p.id}").text
    assert "Investment progress" in en and "Under construction" in en


def test_the_owner_units_forms_register_report_and_refuse_with_the_field_named(client: TestClient,
                                                                                world: Any) -> None:
    _park, p = _project(world)
    world.session.commit()
    _login(client, "t-a-member")
    page = client.get("/apply/economy/projects").text
    assert 'data-testid="project-form"' in page
    r = client.post("/apply/economy/projects", data={
        "csrf_token": _csrf(page), "name": "新登记项目", "owner_org_id": str(world.orgs["dept_a"].id),
        "sector": "software", "investment_total": "1,200", "planned_start": "2026-01-01",
        "planned_finish": "2025-01-01"}, follow_redirects=True)
    assert "planned_finish" in r.text or "计划竣工" in r.text  # refused, the field named
    assert 'value="新登记项目"' in r.text  # and the form kept
    r = client.post("/apply/economy/projects", data={
        "csrf_token": _csrf(page), "name": "新登记项目", "owner_org_id": str(world.orgs["dept_a"].id),
        "sector": "software", "investment_total": "1,200"}, follow_redirects=True)
    assert r.status_code == 200 and "重点项目已登记" in r.text and 'data-testid="investment-chart"' in r.text
    detail = client.get(f"/apply/economy/projects/{p.id}").text
    assert 'data-testid="report-form"' in detail and 'data-testid="project-delete"' in detail
    r = client.post(f"/apply/economy/projects/{p.id}/reports", data={
        "csrf_token": _csrf(detail), "as_of": str(TODAY), "investment_completed": "abc"}, follow_redirects=True)
    assert "请输入数字" in r.text or "investment_completed" in r.text
    r = client.post(f"/apply/economy/projects/{p.id}/reports", data={
        "csrf_token": _csrf(detail), "as_of": str(TODAY), "investment_completed": "3000", "milestone": "完成设计"},
        follow_redirects=True)
    assert "进度已填报" in r.text and "完成设计" in r.text
    r = client.post(f"/apply/economy/projects/{p.id}/transition", data={
        "csrf_token": _csrf(detail), "status": "completed"}, follow_redirects=True)
    assert "重点项目不能从 规划中 转为 已竣工" in r.text and "&#39;planned&#39;" not in r.text  # in words
    assert apply.projects.key_project_get(world.session, world.actors["org_member_a"], p.id).status == "planned"
    r = client.post(f"/apply/economy/projects/{p.id}", data={
        "csrf_token": _csrf(detail), "name": p.name, "owner_org_id": str(world.orgs["dept_a"].id),
        "sector": "ai", "investment_total": "50000", "description": "扩建二期"}, follow_redirects=True)
    assert "重点项目已保存" in r.text and "扩建二期" in r.text
    _login(client, "t-b-member")
    other = client.get(f"/apply/economy/projects/{p.id}").text
    r = client.post(f"/apply/economy/projects/{p.id}/delete", data={"csrf_token": _csrf(other)},
                    follow_redirects=True)
    assert apply.projects.key_project_get(world.session, world.actors["org_member_b"], p.id).name == p.name
