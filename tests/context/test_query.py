"""Query entities: type expressions, ids and patterns, attrs, the q language, geo-queries, paging and counts."""

from __future__ import annotations

from typing import Any

import pytest

from tests.context.helpers import E, entity_body, headers, problem


def _seed(client: Any, world: Any) -> dict[str, str]:
    h = headers(world, "org_member_a")
    bodies = [
        entity_body("urn:ngsi-ld:AirQualityObserved:a", pm25=10, lon=106.55, lat=29.56),
        entity_body("urn:ngsi-ld:AirQualityObserved:b", pm25=35.5, lon=106.58, lat=29.56),
        entity_body("urn:ngsi-ld:AirQualityObserved:c", pm25=80, lon=106.70, lat=29.60),
        {"id": "urn:ngsi-ld:Device:7", "type": ["Device", "Sensor"], "status": "ok", "battery": 0.9,
         "config": {"type": "Property", "value": {"mode": "fast", "rate": {"hz": 5}}},
         "serial": "SN-001", "enabled": True,
         "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [106.551, 29.561]}}},
        {"id": "urn:ngsi-ld:Building:1", "type": "Building", "name": "来福士",
         "location": {"type": "GeoProperty", "value": {"type": "Polygon", "coordinates": [
             [[106.54, 29.55], [106.56, 29.55], [106.56, 29.57], [106.54, 29.57], [106.54, 29.55]]]}}},
    ]
    for b in bodies:
        assert client.post(E, json=b, headers=h).status_code == 201
    return h


def _ids(resp: Any) -> list[str]:
    assert resp.status_code == 200, resp.text
    return sorted(e["id"].rsplit(":", 1)[-1] for e in resp.json())


def test_type_expressions_ids_and_patterns(client: Any, world: Any) -> None:
    h = _seed(client, world)

    def get(qs: str) -> Any:
        return client.get(f"{E}?{qs}", headers=h)

    assert _ids(get("type=AirQualityObserved")) == ["a", "b", "c"]
    assert _ids(get("type=Device,Building")) == ["1", "7"]
    assert _ids(get("type=Device|Building")) == ["1", "7"]
    assert _ids(get("type=Device;Sensor")) == ["7"]
    assert _ids(get("type=Device;Building")) == []
    assert _ids(get("type=(Device;Sensor)|Building")) == ["1", "7"]
    assert _ids(get("type=Nothing")) == []
    assert _ids(get("id=urn:ngsi-ld:AirQualityObserved:a,urn:ngsi-ld:Building:1")) == ["1", "a"]
    assert _ids(get("idPattern=^urn:ngsi-ld:Air.*:[ab]$")) == ["a", "b"]
    assert _ids(get("attrs=battery,serial")) == ["7"]
    assert _ids(get("attrs=battery,name")) == ["1", "7", "a", "b", "c"]
    for bad in ("type=(Device", "type=Device;;", "type=A)", "idPattern=(", "limit=5000", "offset=-1",
                "offset=48179343216194900644069376"):  # past BIGINT: a 400, never a 500 (the fuzzer found one)
        resp = get(bad)
        assert resp.status_code == 400, bad
        assert problem(resp)["type"].endswith("/BadRequestData")
    assert client.get(E, headers=h).status_code == 400  # no filter at all


@pytest.mark.parametrize(("q", "expected"), [
    ("pm25>30", ["b", "c"]),
    ("pm25>=35.5", ["b", "c"]),
    ("pm25<35.5", ["a"]),
    ("pm25==10", ["a"]),
    ("pm25!=10", ["b", "c"]),
    ("pm25==10,80", ["a", "c"]),
    ("pm25==20..80", ["b", "c"]),
    ("pm25!=20..80", ["a"]),
    ("pm25>30;pm25<50", ["b"]),
    ("pm25<20|pm25>50", ["a", "c"]),
    ("(pm25<20|pm25>50);pm25>15", ["c"]),
    ("pm25.accuracy==0.5", ["a", "b", "c"]),
    ("pm25.observedAt>2026-11-30T00:00:00Z", ["a", "b", "c"]),
    ("pm25.observedAt<2026-11-30T00:00:00Z", []),
    ("pm25.unitCode==\"GQ\"", ["a", "b", "c"]),
    ("refDevice==urn:ngsi-ld:Device:7", ["a", "b", "c"]),
    ("status==\"ok\"", ["7"]),
    ("status==ok", ["7"]),
    ("status~=o.", ["7"]),
    ("status!~=^o", []),
    ("serial~=\"SN-0\"", ["7"]),
    ("config[mode]==\"fast\"", ["7"]),
    ("config[rate.hz]>4", ["7"]),
    ("enabled==true", ["7"]),
    ("enabled==false", []),
    ("battery", ["7"]),
    ("!battery;!pm25", ["1"]),
    ("pm25==\"10\"", []),  # a string never equals a number
    ("status>5", []),  # nor is compared with one
])
def test_q_language(client: Any, world: Any, q: str, expected: list[str]) -> None:
    h = _seed(client, world)
    assert _ids(client.get(E, params={"q": q}, headers=h)) == expected


@pytest.mark.parametrize("q", ["pm25>", "pm25>>3", "(pm25>3", "pm25>3)", "pm25==1..", "pm25~=(", "a;;b",
                               "!pm25>3", "pm25==1..\"x\"", "enabled>true", "x" * 3000])
def test_q_that_does_not_parse_is_400(client: Any, world: Any, q: str) -> None:
    h = headers(world, "org_member_a")
    resp = client.get(E, params={"q": q}, headers=h)
    assert resp.status_code == 400, (q, resp.text)
    assert "q" in problem(resp)["detail"]


def test_geo_queries(client: Any, world: Any) -> None:
    h = _seed(client, world)

    def geo(**params: str) -> list[str]:
        return _ids(client.get(E, params={"type": "AirQualityObserved,Device,Building", **params}, headers=h))

    point = "[106.55,29.56]"
    assert geo(georel="near;maxDistance==500", geometry="Point", coordinates=point) == ["1", "7", "a"]
    assert geo(georel="near;maxDistance==5000", geometry="Point", coordinates=point) == ["1", "7", "a", "b"]
    assert geo(georel="near;minDistance==5000", geometry="Point", coordinates=point) == ["c"]
    box = "[[[106.545,29.555],[106.585,29.555],[106.585,29.565],[106.545,29.565],[106.545,29.555]]]"
    assert geo(georel="within", geometry="Polygon", coordinates=box) == ["7", "a", "b"]
    assert geo(georel="intersects", geometry="Polygon", coordinates=box) == ["1", "7", "a", "b"]
    assert geo(georel="overlaps", geometry="Polygon", coordinates=box) == ["1"]
    assert geo(georel="contains", geometry="Point", coordinates="[106.545,29.565]") == ["1"]
    assert geo(georel="disjoint", geometry="Polygon", coordinates=box) == ["c"]
    assert geo(georel="equals", geometry="Point", coordinates="[106.7,29.6]") == ["c"]
    counted = client.get(E, params={"type": "AirQualityObserved", "georel": "near;maxDistance==5000",
                                    "geometry": "Point", "coordinates": point, "count": "true", "limit": "1"},
                         headers=h)
    assert counted.headers["NGSILD-Results-Count"] == "2" and len(counted.json()) == 1
    for bad in ({"georel": "near", "geometry": "Point", "coordinates": point},
                {"georel": "around", "geometry": "Point", "coordinates": point},
                {"georel": "within", "geometry": "Polygon", "coordinates": "[[[0,0],[1,0],[1,1]]]"},
                {"georel": "within", "geometry": "Point", "coordinates": "not json"},
                {"georel": "within", "geometry": "Point"},
                {"georel": "near;maxDistance==-1", "geometry": "Point", "coordinates": point}):
        resp = client.get(E, params={"type": "Building", **bad}, headers=h)
        assert resp.status_code == 400, (bad, resp.text)


def test_paging_count_and_geojson(client: Any, world: Any) -> None:
    h = _seed(client, world)
    resp = client.get(E, params={"type": "AirQualityObserved", "limit": 2, "count": "true"}, headers=h)
    assert _ids(resp) == ["a", "b"] and resp.headers["NGSILD-Results-Count"] == "3"
    resp = client.get(E, params={"type": "AirQualityObserved", "limit": 2, "offset": 2}, headers=h)
    assert _ids(resp) == ["c"] and "NGSILD-Results-Count" not in resp.headers
    resp = client.get(E, params={"type": "AirQualityObserved", "limit": 0, "count": "true"}, headers=h)
    assert resp.json() == [] and resp.headers["NGSILD-Results-Count"] == "3"
    kv = client.get(E, params={"type": "Device", "options": "keyValues"}, headers=h).json()
    assert kv[0]["battery"] == 0.9 and kv[0]["type"] == ["Device", "Sensor"]
    geo = client.get(E, params={"type": "Building"}, headers={**h, "Accept": "application/geo+json"})
    assert geo.headers["content-type"].startswith("application/geo+json")
    assert geo.json()["type"] == "FeatureCollection" and geo.json()["features"][0]["geometry"]["type"] == "Polygon"


def test_types_and_attributes(client: Any, world: Any) -> None:
    h = _seed(client, world)
    types = client.get("/ngsi-ld/v1/types", headers=h).json()
    assert types["type"] == "EntityTypeList"
    assert types["typeList"] == ["AirQualityObserved", "Building", "Device", "Sensor"]
    details = client.get("/ngsi-ld/v1/types?details=true", headers=h).json()
    device = next(d for d in details if d["typeName"] == "Device")
    assert "battery" in device["attributeNames"]
    info = client.get("/ngsi-ld/v1/types/AirQualityObserved", headers=h).json()
    assert info["entityCount"] == 3 and info["type"] == "EntityTypeInfo"
    ref = next(a for a in info["attributeDetails"] if a["attributeName"] == "refDevice")
    assert ref["attributeTypes"] == ["Relationship"]
    assert client.get("/ngsi-ld/v1/types/Nothing", headers=h).status_code == 404
    attrs = client.get("/ngsi-ld/v1/attributes", headers=h).json()
    assert attrs["type"] == "AttributeList" and "pm25" in attrs["attributeList"]
    pm = client.get("/ngsi-ld/v1/attributes/location", headers=h).json()
    assert pm["attributeCount"] == 5 and pm["attributeTypes"] == ["GeoProperty"]
    assert sorted(pm["typeNames"]) == ["AirQualityObserved", "Building", "Device", "Sensor"]
    assert client.get("/ngsi-ld/v1/attributes/nothing", headers=h).status_code == 404


def test_number_rows_answer_like_the_json_document(client: Any, world: Any) -> None:
    from sqlalchemy import select

    from cityhub.context import qlang
    from cityhub.context.jsonld import core
    from cityhub.context.models import ContextEntity

    h = _seed(client, world)
    # the number rows follow every kind of write
    assert client.patch(f"{E}/urn:ngsi-ld:AirQualityObserved:a/attrs/pm25", json={"value": 60},
                        headers=h).status_code == 204
    assert client.post(f"{E}/urn:ngsi-ld:Device:7/attrs", json={"battery": "full"}, headers=h).status_code == 204
    s = world.session
    dialect = s.get_bind().dialect.name
    for q in ("pm25>30", "pm25==60", "pm25!=60", "pm25==10,80", "pm25==20..70", "pm25<=35.5;pm25>0",
              "battery>0", "pm25.accuracy==0.5", "pm25>30|battery<1",
              "pm25>=10;pm25<60;refDevice==urn:ngsi-ld:Device:7",
              "(pm25>=10;pm25<61)|(battery>0.5;battery<=1)", "pm25>5;pm25!=60;pm25<90"):
        tree = qlang.parse(q, core())
        via_json = s.scalars(select(ContextEntity.entity_id).where(
            qlang.to_sql(tree, ContextEntity.attrs, dialect)).order_by(ContextEntity.entity_id)).all()
        via_rows = s.scalars(select(ContextEntity.entity_id).where(
            qlang.to_sql(tree, ContextEntity.attrs, dialect, ContextEntity.id)).order_by(ContextEntity.entity_id)).all()
        assert via_rows == via_json, q
    assert _ids(client.get(E, params={"q": "pm25==60"}, headers=h)) == ["a"]
    assert _ids(client.get(E, params={"q": "battery>0"}, headers=h)) == []  # now a string
