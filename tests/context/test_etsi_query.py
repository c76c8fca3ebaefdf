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
    bodies: list[dict[str, Any]] = [
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
    for q, expected in (("", "3"), ("level==6", "1")):
        resp = client.get(E, params={"type": "Site", "q": q, "count": "true"} if q else
                          {"type": "Site", "count": "true"}, headers={**h, "Link": ld_link(CTX)})
        assert resp.headers["NGSILD-Results-Count"] == expected, q


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


def count(client: Any, h: dict[str, str], **params: str) -> int:
    resp = client.get(E, params={"count": "true", **params}, headers={**h, "Link": ld_link(CTX)})
    assert resp.status_code == 200, (params, resp.text)
    return int(resp.headers["NGSILD-Results-Count"])


def test_type_selection_q_and_geojson(client: Any, world: Any) -> None:
    """ETSI TP 019_05, 019_08, 019_09: type expressions with , ; and parentheses; q with strings, booleans,
    numbers, ranges and relationships, and and or; a FeatureCollection with the @context in its body."""
    h = headers(world, "org_member_a")
    here = {"type": "Point", "coordinates": [13.3986, 52.5547]}
    bodies = [
        {"id": "urn:ngsi-ld:Site:t1", "type": "Site", "label": {"type": "Property", "value": "Eiffel Tower"},
         "full": {"type": "Property", "value": False}, "level": {"type": "Property", "value": 4},
         "location": {"type": "GeoProperty", "value": here}},
        {"id": "urn:ngsi-ld:Site:t2", "type": "Parking", "label": {"type": "Property", "value": "Pisa Tower"},
         "full": {"type": "Property", "value": False}, "level": {"type": "Property", "value": 6},
         "watchedBy": {"type": "Relationship", "object": "urn:ngsi-ld:City:Pisa"}},
        {"id": "urn:ngsi-ld:Site:t3", "type": ["Site", "Tourism"], "label": {"type": "Property", "value": "Louvre"},
         "full": {"type": "Property", "value": False}, "level": {"type": "Property", "value": 9},
         "location": {"type": "GeoProperty", "value": here}},
    ]
    for body in bodies:
        assert client.post(E, json=body, headers={**h, "Link": ld_link(CTX)}).status_code == 201
    for expr, found in (("Site", {"t1", "t3"}), ("(Site;Tourism)", {"t3"}), ("Site,Parking", {"t1", "t2", "t3"}),
                        ("Parking,Tourism", {"t2", "t3"}), ("(Site;Parking),Tourism", {"t3"})):
        resp = client.get(E, params={"type": expr}, headers={**h, "Link": ld_link(CTX)})
        assert {e["id"].rsplit(":", 1)[1] for e in resp.json()} == found, expr
    for q, n in (('label=="Eiffel Tower"', 1), ('label=="Pisa Tower";full==false', 1),
                 ('label=="Pisa Tower"|full==false', 3), ('(label=="Pisa Tower"|label=="Eiffel Tower");full==false', 2),
                 ("level==4", 1), ("level>=4;level<7", 2), ("watchedBy==urn:ngsi-ld:City:Pisa", 1),
                 ("watchedBy==urn:ngsi-ld:City:Paris", 0),
                 ("watchedBy==urn:ngsi-ld:City:Pisa|watchedBy==urn:ngsi-ld:City:Paris", 1)):
        assert count(client, h, q=q) == n, q
    geo = client.get(E, params={"id": "urn:ngsi-ld:Site:t1,urn:ngsi-ld:Site:t3", "type": "Site"},
                     headers={**h, "Link": ld_link(CTX), "Accept": "application/geo+json"}).json()
    assert geo["type"] == "FeatureCollection" and geo["@context"] == CTX
    assert [f["geometry"] for f in geo["features"]] == [here, here]
    assert all(set(f) == {"id", "type", "geometry", "properties"} for f in geo["features"])


def test_geo_queries(client: Any, world: Any) -> None:
    """ETSI TP 019_10, 019_11: near with maxDistance and minDistance in metres, equals, within, disjoint,
    contains, intersects and overlaps, on points and polygons (the polygons are our own)."""
    h = headers(world, "org_member_a")
    points = {"p1": [13.3986, 52.5547], "p2": [13.509818, 52.363457], "p3": [13.215983, 52.470441]}
    for key, at in points.items():
        body = {"id": f"urn:ngsi-ld:Site:{key}", "type": "Site",
                "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": at}}}
        assert client.post(E, json=body, headers={**h, "Link": ld_link(CTX)}).status_code == 201
    ref = "[13.388930, 52.534473]"
    around = "[[[13.1,52.3],[13.6,52.3],[13.6,52.5],[13.1,52.5],[13.1,52.3]]]"  # holds p2 and p3
    for georel, geometry, coords, n in (("equals", "Point", "[13.3986, 52.5547]", 1),
                                        ("near;maxDistance==15000", "Point", ref, 2),
                                        ("near;minDistance==15000", "Point", ref, 1),
                                        ("within", "Polygon", around, 2), ("disjoint", "Polygon", around, 1),
                                        ("disjoint", "Point", "[13.3986, 52.5547]", 2),
                                        ("contains", "Point", "[13.3986, 52.5547]", 1),
                                        ("intersects", "Point", "[13.3986, 52.5547]", 1)):
        assert count(client, h, type="Site", georel=georel, geometry=geometry, coordinates=coords) == n, georel
    square = [[10, 10], [12, 10], [12, 12], [10, 12], [10, 10]]
    triangle = [[20, 20], [21, 20], [20, 21], [20, 20]]
    for key, ring in (("g1", square), ("g2", triangle)):
        body = {"id": f"urn:ngsi-ld:Tourism:{key}", "type": "Tourism",
                "location": {"type": "GeoProperty", "value": {"type": "Polygon", "coordinates": [ring]}}}
        assert client.post(E, json=body, headers={**h, "Link": ld_link(CTX)}).status_code == 201
    for georel, geometry, coords, n in (
            ("equals", "Polygon", str([square]), 1),
            ("intersects", "Polygon", "[[[11,11],[13,11],[13,13],[11,13],[11,11]]]", 1),
            ("contains", "Polygon", "[[[10.5,10.5],[11,10.5],[11,11],[10.5,10.5]]]", 1),
            ("contains", "Polygon", "[[[30,30],[31,30],[31,31],[30,30]]]", 0),
            ("disjoint", "Polygon", "[[[30,30],[31,30],[31,31],[30,30]]]", 2),
            ("within", "Polygon", "[[[19,19],[22,19],[22,22],[19,22],[19,19]]]", 1),
            ("overlaps", "Polygon", "[[[11,11],[13,11],[13,13],[11,13],[11,11]]]", 1),
            ("contains", "Point", "[11, 11]", 1)):
        assert count(client, h, type="Tourism", georel=georel, geometry=geometry, coordinates=coords) == n, (
            georel, coords)


def test_dataset_filter(client: Any, world: Any) -> None:
    """ETSI TP 019_12: datasetId keeps the instances it names (@none: the default), with attrs too; an entity whose
    attributes all drop out keeps its id and type."""
    h = {**headers(world, "org_member_a"), "Link": ld_link(CTX)}
    fr, de, es = "urn:ngsi-ld:Dataset:fr", "urn:ngsi-ld:Dataset:de", "urn:ngsi-ld:Dataset:es"
    body = {"id": "urn:ngsi-ld:Site:ds", "type": "Site",
            "label": [{"type": "Property", "value": "Tower"}, {"type": "Property", "value": "Tour", "datasetId": fr},
                      {"type": "Property", "value": "Turm", "datasetId": de}],
            "level": [{"type": "Property", "value": 1}, {"type": "Property", "value": 2, "datasetId": es}]}
    assert client.post(E, json=body, headers=h).status_code == 201

    def values(**params: str) -> dict[str, Any]:
        resp = client.get(E, params={"type": "Site", **params}, headers=h)
        assert resp.status_code == 200, resp.text
        entity = resp.json()[0]
        return {k: sorted(i["value"] for i in (v if isinstance(v, list) else [v]))
                for k, v in entity.items() if k not in ("id", "type")}

    assert values(attrs="label") == {"label": ["Tour", "Tower", "Turm"]}
    assert values(datasetId=fr) == {"label": ["Tour"]}
    assert values(datasetId=f"{fr},{es}") == {"label": ["Tour"], "level": [2]}
    assert values(datasetId="@none") == {"label": ["Tower"], "level": [1]}
    assert values(attrs="label", datasetId="@none") == {"label": ["Tower"]}
    assert values(attrs="label", datasetId=de) == {"label": ["Turm"]}
    assert values(attrs="label", datasetId=es) == {}
    bad = client.get(E, params={"type": "Site", "datasetId": "not a uri"}, headers=h)
    assert bad.status_code == 400
