"""A scenario after its declaration: its owner (lead) unit and the bureau change what it uses until it is accepted
(newly named ids go through their layers' visibility, links already there stay, every change audited); the showcase
picture is set over the API as on the page. Permission matrix: owner unit / other unit / bureau / anonymous."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from cityhub.apply import service as apply
from cityhub.apply.schemas import ScenarioCreate, ScenarioLinksSet
from cityhub.compute import service as compute
from cityhub.core.models import AuditEntry
from cityhub.kit.errors import Conflict, Forbidden, NotFound, ValidationFailed
from cityhub.kit.pagination import PageParams
from tests.compute.helpers import bureau_setup, component_data
from tests.connect.helpers import build_connect

sc = apply.scenarios
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def _scenario(w: Any, **kw: Any) -> Any:
    return sc.scenario_create(w.session, w.actors["org_member_a"], ScenarioCreate(
        name="智慧停车", batch="livelihood", year=2026, owner_org_id=w.orgs["dept_a"].id, **kw))


def _rows(w: Any, action: str) -> list[AuditEntry]:
    return list(w.session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def test_the_owner_unit_changes_what_its_scenario_uses_until_it_is_accepted(world: Any) -> None:
    w = bureau_setup(world)
    comp_a = compute.component_create(w.session, w.actors["org_member_a"], component_data(w))  # A's draft
    comp_b = compute.component_create(w.session, w.actors["org_member_b"], component_data(w, "b-comp", org="dept_b"))
    devices = build_connect(w)
    s = _scenario(w, component_ids=[comp_a.id])
    member_a, member_b, bureau = w.actors["org_member_a"], w.actors["org_member_b"], w.actors["platform_admin"]
    got = sc.scenario_links_set(w.session, member_a, s.id, ScenarioLinksSet(device_ids=[devices["dev_a"].id]))
    assert got.component_ids == [comp_a.id] and got.device_ids == [devices["dev_a"].id]  # components untouched
    with pytest.raises(Forbidden):  # another unit
        sc.scenario_links_set(w.session, member_b, s.id, ScenarioLinksSet(component_ids=[]))
    with pytest.raises(ValidationFailed) as e:  # B's draft is not A's to name: 422 naming the field, nothing written
        sc.scenario_links_set(w.session, member_a, s.id, ScenarioLinksSet(component_ids=[comp_a.id, comp_b.id],
                                                                          device_ids=[]))
    assert e.value.field == "component_ids"
    assert sc.scenario_get(w.session, member_a, s.id).device_ids == [devices["dev_a"].id]
    with pytest.raises(ValidationFailed) as e:
        sc.scenario_links_set(w.session, member_a, s.id, ScenarioLinksSet(entry_ids=[uuid.uuid4()]))
    assert e.value.field == "entry_ids"
    # the bureau links B's component; A keeps it when changing the other links (no new check of a kept link)
    sc.scenario_links_set(w.session, bureau, s.id, ScenarioLinksSet(component_ids=[comp_a.id, comp_b.id]))
    kept = sc.scenario_links_set(w.session, member_a, s.id, ScenarioLinksSet(component_ids=[comp_b.id]))
    assert kept.component_ids == [comp_b.id]
    assert [x.id for x in sc.scenario_list(w.session, member_b, PageParams(limit=50), component_id=comp_a.id)[0]] == []
    rows = _rows(w, "scenario_links_set")
    assert len(rows) == 3 and rows[0].summary["before"] == {"device_ids": []}
    assert rows[0].summary["after"] == {"device_ids": [str(devices["dev_a"].id)]}
    assert rows[-1].summary["after"] == {"component_ids": [str(comp_b.id)]}
    with pytest.raises(NotFound):
        sc.scenario_links_set(w.session, member_a, uuid.uuid4(), ScenarioLinksSet())
    # building and built still change; accepted is final
    for to in ("building", "built", "accepted"):
        sc.scenario_transition(w.session, bureau, s.id, to)
    with pytest.raises(Conflict):
        sc.scenario_links_set(w.session, bureau, s.id, ScenarioLinksSet(device_ids=[]))


def test_links_and_picture_over_the_api_permission_matrix(client: TestClient, world: Any) -> None:
    s = _scenario(world)
    world.session.commit()
    h = world.headers
    links = f"/api/v1/apply/scenarios/{s.id}/links"
    for who, expected in (("", 401), ("org_member_b", 403), ("auditor", 403), ("org_member_a", 200),
                          ("platform_admin", 200)):
        assert client.put(links, json={"component_ids": []}, headers=h(who)).status_code == expected, who
    r = client.put(links, json={"device_ids": [str(uuid.uuid4())]}, headers=h("org_member_a"))
    assert r.status_code == 422 and "device_ids" in r.text
    assert client.put(links, json={"devices": []}, headers=h("org_member_a")).status_code == 422  # unknown field
    assert client.put(f"/api/v1/apply/scenarios/{uuid.uuid4()}/links", json={},
                      headers=h("org_member_a")).status_code == 404
    pic = f"/api/v1/apply/scenarios/{s.id}/picture"
    for who, expected in (("", 401), ("org_member_b", 403), ("org_member_a", 200), ("platform_admin", 200)):
        r = client.put(pic, content=PNG, params={"filename": "p.png"}, headers=h(who))
        assert r.status_code == expected, who
    assert client.get(f"/api/v1/apply/scenarios/{s.id}", headers=h("org_member_b")).json()["picture"] is True
    r = client.put(pic, content=b"%PDF-1.4\n%%EOF\n", params={"filename": "p.pdf"}, headers=h("org_member_a"))
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "file"
    assert client.put(pic, content=b"", headers=h("org_member_a")).status_code == 422
    assert client.put(f"/api/v1/apply/scenarios/{uuid.uuid4()}/picture", content=PNG,
                      headers=h("org_member_a")).status_code == 404
    assert len(_rows(world, "scenario_picture_set")) == 2
