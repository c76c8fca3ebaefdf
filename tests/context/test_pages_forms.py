"""The entity browser's forms (create an entity, change a property's value) call the API's actions: the same checks,
permission and audit; polygons are drawn on the maps. Permission matrix: the owner unit's member, another unit's
member, an auditor (reads every unit's, writes none), anonymous; bad input comes back as a message, nothing written."""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from cityhub.core.models import AuditEntry
from tests.context.helpers import E, entity_body, headers
from tests.context.test_pages import MINE, _login, _text, city

__all__ = ["city"]  # the fixture

AQ = "AirQualityObserved"
SQUARE = [[106.55, 29.55], [106.56, 29.55], [106.56, 29.56], [106.55, 29.56], [106.55, 29.55]]


def _csrf(client: TestClient, path: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert m, path
    return m.group(1)


def _audited(world: Any, action: str) -> list[AuditEntry]:
    world.session.expire_all()
    return list(world.session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def _page_data(html: str) -> dict[str, Any]:
    m = re.search(r'id="page-data">(.*?)</script>', html, flags=re.S)
    assert m
    data: dict[str, Any] = json.loads(m.group(1))
    return data


def test_owner_creates_an_entity_from_the_form(client: TestClient, city: Any) -> None:
    page = client.get("/context/entities", params={"type": AQ})
    assert 'data-testid="entity-create"' in page.text and "新建此类型的实体" in page.text
    new = "urn:ngsi-ld:AirQualityObserved:form-1"
    r = client.post("/context/entities", data={
        "csrf_token": _csrf(client, f"/context/entities?type={AQ}"), "type": AQ, "entity_id": new,
        "name": "观音桥监测点", "attr": "pm25", "value": "28.5", "lon": "106.53", "lat": "29.58"},
        follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith(f"/context/entities/{new}"), r.text[:300]
    got = client.get(f"{E}/{new}", headers=headers(city, "org_member_a")).json()
    assert got["pm25"]["value"] == 28.5 and got["name"]["value"] == "观音桥监测点"
    assert got["location"]["value"] == {"type": "Point", "coordinates": [106.53, 29.58]}
    assert _audited(city, "context_entity_create")[-1].target_id == new
    assert "观音桥监测点" in _text(client.get(f"/context/entities/{new}").text)


def test_bad_input_comes_back_as_a_message_and_writes_nothing(client: TestClient, city: Any) -> None:
    token = _csrf(client, f"/context/entities?type={AQ}")
    for fields in ({"entity_id": "not a uri"}, {"entity_id": "urn:ngsi-ld:AirQualityObserved:f2", "lon": "东经"},
                   {"entity_id": MINE}):  # the last: it exists already (409)
        r = client.post("/context/entities", data={"csrf_token": token, "type": AQ, **fields},
                        follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/context/entities?type="), fields
        assert "msg=" in r.headers["location"], fields
        back = client.get(r.headers["location"])
        assert fields["entity_id"] in back.text  # the refused form comes back filled in
    assert client.get(f"{E}/urn:ngsi-ld:AirQualityObserved:f2", headers=headers(city, "org_member_a")
                      ).status_code == 404
    r = client.post("/context/entities", data={"type": AQ, "entity_id": "urn:ngsi-ld:X:1"}, follow_redirects=False)
    assert r.status_code == 403  # no CSRF token


def test_owner_changes_a_value_and_subscribers_see_the_api_action(client: TestClient, city: Any) -> None:
    page = client.get(f"/context/entities/{MINE}")
    assert 'data-testid="attr-patch"' in page.text and '<option value="pm25"' in page.text
    r = client.post(f"/context/entities/{MINE}/attrs", data={
        "csrf_token": _csrf(client, f"/context/entities/{MINE}"), "attr": "pm25", "value": "52"},
        follow_redirects=False)
    assert r.status_code == 303 and "msg=" in r.headers["location"]
    got = client.get(f"{E}/{MINE}", headers=headers(city, "org_member_a")).json()
    assert got["pm25"]["value"] == 52
    assert _audited(city, "context_entity_attr_patch")[-1].target_id == MINE
    # an attribute the entity does not have: refused (the API's 404), nothing changed
    r = client.post(f"/context/entities/{MINE}/attrs", data={
        "csrf_token": _csrf(client, f"/context/entities/{MINE}"), "attr": "no2", "value": "1"},
        follow_redirects=False)
    assert r.status_code == 303
    assert "no2" not in client.get(f"{E}/{MINE}", headers=headers(city, "org_member_a")).json()


def test_who_may_use_the_forms(client: TestClient, city: Any) -> None:
    """Another unit's member: no form on A's entity, and a forged post changes nothing (creating goes to its own
    unit); an auditor sees the page but gets no form and a refusal; anonymous changes nothing."""
    for who in ("org_member_b", "auditor"):
        client.cookies.clear()
        _login(client, city.users[who].username)
        page = client.get(f"/context/entities/{MINE}")
        assert page.status_code == (404 if who == "org_member_b" else 200), who
        assert 'data-testid="attr-patch"' not in page.text
        if who == "auditor":
            assert 'data-testid="entity-create"' not in client.get("/context/entities", params={"type": AQ}).text
        token = _csrf(client, "/context/subscriptions")
        r = client.post(f"/context/entities/{MINE}/attrs", data={"csrf_token": token, "attr": "pm25", "value": "99"},
                        follow_redirects=False)
        assert r.status_code == 303 and "msg=" in r.headers["location"], who
        r = client.post("/context/entities", data={"csrf_token": token, "type": AQ,
                                                    "entity_id": f"urn:ngsi-ld:AirQualityObserved:{who}"},
                        follow_redirects=False)
        refused = r.headers["location"].startswith("/context/entities?type=")
        assert r.status_code == 303 and refused == (who == "auditor"), who  # B's member creates in B's unit
    mine_b = client.get(f"{E}/urn:ngsi-ld:AirQualityObserved:org_member_b", headers=headers(city, "org_member_b"))
    assert mine_b.status_code == 200
    assert client.get(f"{E}/urn:ngsi-ld:AirQualityObserved:org_member_b",
                      headers=headers(city, "org_member_a")).status_code == 404
    assert client.get(f"{E}/{MINE}", headers=headers(city, "org_member_a")).json()["pm25"]["value"] == 41.0
    assert client.get(f"{E}/urn:ngsi-ld:AirQualityObserved:auditor",
                      headers=headers(city, "platform_admin")).status_code == 404
    client.cookies.clear()
    r = client.post(f"/context/entities/{MINE}/attrs", data={"attr": "pm25", "value": "1"}, follow_redirects=False)
    assert r.status_code in (303, 401, 403)
    assert client.get(f"{E}/{MINE}", headers=headers(city, "org_member_a")).json()["pm25"]["value"] == 41.0


def test_owner_removes_an_attribute_then_deletes_the_entity_through_the_api_actions(client: TestClient,
                                                                                   city: Any) -> None:
    page = client.get(f"/context/entities/{MINE}")
    assert 'data-testid="attr-delete"' in page.text and 'data-testid="entity-delete"' in page.text
    assert "删除该实体" in page.text
    r = client.post(f"/context/entities/{MINE}/attrs/delete", data={
        "csrf_token": _csrf(client, f"/context/entities/{MINE}"), "attr": "pm25"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith(f"/context/entities/{MINE}")
    got = client.get(f"{E}/{MINE}", headers=headers(city, "org_member_a")).json()
    assert "pm25" not in got and "refDevice" in got
    assert _audited(city, "context_entity_attr_delete")[-1].target_id == MINE
    # an attribute it no longer has: the API's 404 as a message, nothing else removed
    r = client.post(f"/context/entities/{MINE}/attrs/delete", data={
        "csrf_token": _csrf(client, f"/context/entities/{MINE}"), "attr": "pm25"}, follow_redirects=False)
    assert r.status_code == 303 and "msg=" in r.headers["location"]
    assert "refDevice" in client.get(f"{E}/{MINE}", headers=headers(city, "org_member_a")).json()
    r = client.post(f"/context/entities/{MINE}/delete", data={
        "csrf_token": _csrf(client, f"/context/entities/{MINE}")}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith(f"/context/entities?type={AQ}")
    assert client.get(f"{E}/{MINE}", headers=headers(city, "org_member_a")).status_code == 404
    assert _audited(city, "context_entity_delete")[-1].target_id == MINE
    assert client.get(f"/ngsi-ld/v1/temporal/entities/{MINE}", headers=headers(city, "org_member_a")).status_code \
        == 404  # its history went with it


def test_only_the_owner_unit_removes_or_deletes(client: TestClient, city: Any) -> None:
    """An auditor sees the page without the forms and a forged post is refused; another unit's member gets the
    404 of an entity it cannot see; a missing CSRF token changes nothing."""
    for who, status in (("auditor", 200), ("org_member_b", 404)):
        client.cookies.clear()
        _login(client, city.users[who].username)
        page = client.get(f"/context/entities/{MINE}")
        assert page.status_code == status and 'data-testid="entity-delete"' not in page.text, who
        token = _csrf(client, "/context/subscriptions")
        r = client.post(f"/context/entities/{MINE}/attrs/delete", data={"csrf_token": token, "attr": "pm25"},
                        follow_redirects=False)
        assert r.status_code in (303, 404), who
        r = client.post(f"/context/entities/{MINE}/delete", data={"csrf_token": token}, follow_redirects=False)
        assert r.status_code in (303, 404), who
    client.cookies.clear()
    _login(client, city.users["org_member_a"].username)
    r = client.post(f"/context/entities/{MINE}/delete", data={"csrf_token": "forged"}, follow_redirects=False)
    assert r.status_code in (303, 403)
    got = client.get(f"{E}/{MINE}", headers=headers(city, "org_member_a")).json()
    assert got["pm25"]["value"] == 41.0  # untouched by all of the above


def test_polygons_are_drawn_on_the_maps(client: TestClient, city: Any) -> None:
    area = "urn:ngsi-ld:AirQualityObserved:area-1"
    body = entity_body(area)
    body["location"] = {"type": "GeoProperty", "value": {"type": "Polygon", "coordinates": [SQUARE]}}
    body["zone"] = {"type": "GeoProperty", "value": {"type": "MultiPolygon", "coordinates": [[SQUARE], [SQUARE]]}}
    assert client.post(E, json=body, headers=headers(city, "org_member_a")).status_code == 201
    listing = _page_data(client.get("/context/entities", params={"type": AQ}).text)
    [shape] = [s for s in listing["shapes"] if s["name"] == area]
    assert len(shape["rings"]) == 3 and shape["rings"][0] == SQUARE  # the polygon and the multipolygon's two
    assert MINE in [p["name"] for p in listing["points"]]  # points stay points
    one = client.get(f"/context/entities/{area}")
    assert 'data-testid="entity-map"' in one.text and _page_data(one.text)["shapes"][0]["rings"][0] == SQUARE
    assert "<script>" not in one.text and "区域（多边形）" in _text(one.text)  # the geometry in words, not JSON
