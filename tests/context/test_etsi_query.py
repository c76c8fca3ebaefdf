"""Behaviour checked against the ETSI NGSI-LD API test suite: query entities (ETSI TP 019_*) and discovery.

Our own bodies; each test names the test purposes it guards. The query on ids alone (TP 019_03_05) differs on
purpose, and linked entity retrieval (`join`) is not built: see docs/context.md, "ETSI test suite".
"""

from __future__ import annotations

from typing import Any

from tests.context.helpers import LD_HEADERS, E, headers, ld_link, problem
from tests.context.test_etsi_entities import CTX, ERR, NS

OPS = "/ngsi-ld/v1/entityOperations"


def seed(client: Any, h: dict[str, str]) -> None:
    here = {"type": "Point", "coordinates": [13.3986, 52.5547]}
    bodies = [
        {"id": "urn:ngsi-ld:Site:q1", "type": "Site", "level": {"type": "Property", "value": 4},
         "label": {"type": "Property", "value": "Tower"}, "location": {"type": "GeoProperty", "value": here},
         "scope": "/Madrid/Gardens/ParqueNorte"},
        {"id": "urn:ngsi-ld:Site:q2", "type": "Site", "level": {"type": "Property", "value": 6},
         "location": {"type": "GeoProperty", "value": here},
         "scope": ["/Madrid/Gardens/ParqueNorte", "/CompanyA/OrganizationB/UnitC"]},
        {"id": "urn:ngsi-ld:Site:q3", "type": "Site"},
        {"id": "urn:ngsi-ld:Vehicle:q4", "type": "Vehicle", "label": {"type": "Property", "value": "Car"}},
    ]
    resp = client.post(f"{OPS}/create", json=[{**b, "@context": [CTX]} for b in bodies],
                       headers={**h, **LD_HEADERS})
    assert resp.status_code == 201, resp.text


def ids(resp: Any) -> list[str]:
    assert resp.status_code == 200, resp.text
    return sorted(e["id"] for e in resp.json())


def test_query_selectors(client: Any, world: Any) -> None:
    """ETSI TP 019_01_01 to 019_01_06, 019_02_01, 019_04, 019_06, 019_07: ids, types (expanded IRIs without a
    context), idPattern, attrs (the entities holding any, showing only those), geo, scopeQ, POST, limit, count."""
    h = headers(world, "org_member_a")
    seed(client, h)
    site, vehicle = f"{NS}Site", f"{NS}Vehicle"
    by_ids = client.get(f"{E}/", params={"id": "urn:ngsi-ld:Site:q1,urn:ngsi-ld:Site:q2", "type": site}, headers=h)
    assert ids(by_ids) == ["urn:ngsi-ld:Site:q1", "urn:ngsi-ld:Site:q2"]
    assert ids(client.get(f"{E}/", params={"type": f"{site},{vehicle}"}, headers=h)) == [
        "urn:ngsi-ld:Site:q1", "urn:ngsi-ld:Site:q2", "urn:ngsi-ld:Site:q3", "urn:ngsi-ld:Vehicle:q4"]
    assert ids(client.get(f"{E}/", params={"idPattern": "urn:ngsi-ld:Site:.*", "type": site}, headers=h)) == [
        "urn:ngsi-ld:Site:q1", "urn:ngsi-ld:Site:q2", "urn:ngsi-ld:Site:q3"]
    by_attrs = client.get(f"{E}/", params={"attrs": f"{NS}level"}, headers=h)
    assert ids(by_attrs) == ["urn:ngsi-ld:Site:q1", "urn:ngsi-ld:Site:q2"]
    assert all(set(e) == {"id", "type", f"{NS}level", "scope"} for e in by_attrs.json()), by_attrs.json()
    geo = client.get(f"{E}/", params={"type": site, "georel": "equals", "geometry": "Point",
                                      "coordinates": "[13.3986, 52.5547]"}, headers=h)
    assert ids(geo) == ["urn:ngsi-ld:Site:q1", "urn:ngsi-ld:Site:q2"]
    for scope_q, count in (("/Madrid/Gardens/ParqueNorte", 2), ("/Madrid/+/ParqueNorte", 2), ("/CompanyA/#", 1),
                           ("/#", 2), ("/Madrid/Gardens/ParqueNorte;/CompanyA/OrganizationB/UnitC", 1),
                           ("/Madrid/Gardens/ParqueNorte,/CompanyA/OrganizationB/UnitC", 2)):
        assert len(ids(client.get(E, params={"type": site, "scopeQ": scope_q}, headers=h))) == count, scope_q
    post = client.post(f"{OPS}/query", json={"type": "Query", "entities": [{"id": "urn:ngsi-ld:Site:q1",
                                                                             "type": site}]}, headers=h)
    assert ids(post) == ["urn:ngsi-ld:Site:q1"]
    kv = client.get(f"{E}?id=urn:ngsi-ld:Site:q1&type=Site&options=keyValues", headers={**h, "Link": ld_link(CTX)})
    assert kv.json()[0]["level"] == 4 and kv.json()[0]["label"] == "Tower"
    assert len(client.get(E, params={"type": site, "limit": "2"}, headers=h).json()) == 2
    for q, count in (("", "3"), ("level==6", "1")):
        resp = client.get(E, params={"type": "Site", "q": q, "count": "true"} if q else
                          {"type": "Site", "count": "true"}, headers={**h, "Link": ld_link(CTX)})
        assert resp.headers["NGSILD-Results-Count"] == count, q


def test_query_errors(client: Any, world: Any) -> None:
    """ETSI TP 019_03_01 to 019_03_04: ids that are not URIs, a broken idPattern, attrs naming id or type, an
    unknown georel: 400 BadRequestData."""
    seed(client, headers(world, "org_member_a"))
    h = {**headers(world, "org_member_a"), "Link": ld_link(CTX)}
    for params in ({"id": "thisisaninvaliduri1,thisisaninvaliduri2", "type": "Site"},
                   {"idPattern": "invalid_entity_id_pattern**", "type": "Site"},
                   {"attrs": "id,type"},
                   {"type": "Site", "georel": "invalid", "geometry": "Point", "coordinates": "[-8.503,41.202]",
                    "geoproperty": "location"}):
        resp = client.get(E, params=params, headers=h)
        assert resp.status_code == 400 and problem(resp)["type"] == ERR + "BadRequestData", (params, resp.text)
