"""NGSI-LD entity operations over HTTP: create, retrieve, replace, merge, attribute operations, delete, media types."""

from __future__ import annotations

from typing import Any

from tests.context.helpers import CORE, LD_HEADERS, USER_CTX, E, entity_body, headers, ld_link, problem

# names in a 207 answer are expanded IRIs (it carries no @context; ETSI TP 010_04)
DEFAULT_VOCAB = "https://uri.etsi.org/ngsi-ld/default-context/"


def test_create_and_retrieve_in_each_form(client: Any, world: Any) -> None:
    h = headers(world, "org_member_a")
    resp = client.post(f"{E}", json=entity_body("urn:ngsi-ld:AirQualityObserved:1"), headers=h)
    assert resp.status_code == 201, resp.text
    assert resp.headers["location"] == f"{E}/urn:ngsi-ld:AirQualityObserved:1"
    got = client.get(f"{E}/urn:ngsi-ld:AirQualityObserved:1", headers=h)
    assert got.status_code == 200 and got.headers["content-type"].startswith("application/json")
    assert CORE in got.headers["link"]
    body = got.json()
    assert body["id"] == "urn:ngsi-ld:AirQualityObserved:1" and body["type"] == "AirQualityObserved"
    assert body["pm25"] == {"type": "Property", "value": 35.5, "unitCode": "GQ",
                            "observedAt": "2026-12-01T08:00:00.000Z",
                            "accuracy": {"type": "Property", "value": 0.5}}
    assert body["refDevice"] == {"type": "Relationship", "object": "urn:ngsi-ld:Device:7"}
    assert body["location"]["type"] == "GeoProperty" and body["location"]["value"]["type"] == "Point"
    assert body["name"] == {"type": "LanguageProperty", "languageMap": {"zh": "解放碑", "en": "Jiefangbei"}}
    assert body["category"] == {"type": "VocabProperty", "vocab": "urban"}
    assert body["raw"] == {"type": "JsonProperty", "json": {"a": [1, 2]}}
    assert body["readings"] == {"type": "ListProperty", "valueList": [1, 2, 3]}
    assert "createdAt" not in body
    kv = client.get(f"{E}/urn:ngsi-ld:AirQualityObserved:1?options=keyValues", headers=h).json()
    assert kv["pm25"] == 35.5 and kv["refDevice"] == "urn:ngsi-ld:Device:7" and kv["name"]["zh"] == "解放碑"
    concise = client.get(f"{E}/urn:ngsi-ld:AirQualityObserved:1?options=concise", headers=h).json()
    assert concise["pm25"]["value"] == 35.5 and "type" not in concise["pm25"]
    assert concise["refDevice"] == {"object": "urn:ngsi-ld:Device:7"}
    sys = client.get(f"{E}/urn:ngsi-ld:AirQualityObserved:1?options=sysAttrs", headers=h).json()
    assert sys["createdAt"].endswith("Z") and sys["pm25"]["modifiedAt"].endswith("Z")
    lang = client.get(f"{E}/urn:ngsi-ld:AirQualityObserved:1?lang=en", headers=h).json()
    assert lang["name"] == {"type": "Property", "value": "Jiefangbei", "lang": "en"}
    picked = client.get(f"{E}/urn:ngsi-ld:AirQualityObserved:1?pick=id,pm25", headers=h).json()
    assert set(picked) == {"id", "pm25"}
    omitted = client.get(f"{E}/urn:ngsi-ld:AirQualityObserved:1?omit=pm25,location", headers=h).json()
    assert "pm25" not in omitted and "location" not in omitted and "refDevice" in omitted
    ld = client.get(f"{E}/urn:ngsi-ld:AirQualityObserved:1", headers={**h, "Accept": "application/ld+json"})
    assert ld.headers["content-type"].startswith("application/ld+json") and ld.json()["@context"] == CORE
    assert "link" not in ld.headers
    geo = client.get(f"{E}/urn:ngsi-ld:AirQualityObserved:1", headers={**h, "Accept": "application/geo+json"})
    assert geo.json()["type"] == "Feature" and geo.json()["geometry"]["type"] == "Point"


def test_user_context_in_link_header_and_in_body(client: Any, world: Any) -> None:
    h = headers(world, "org_member_a")
    body = {"id": "urn:ngsi-ld:Sensor:x", "type": "Sensor", "temperature": {"type": "Property", "value": 20}}
    assert client.post(E, json=body, headers={**h, "Link": ld_link(USER_CTX)}).status_code == 201
    # stored under the user context's IRIs: with the core context alone the full IRIs come back
    plain = client.get(f"{E}/urn:ngsi-ld:Sensor:x", headers=h).json()
    assert plain["type"] == "https://example.org/ns#Sensor"
    assert plain["https://example.org/ns#temperature"]["value"] == 20
    with_ctx = client.get(f"{E}/urn:ngsi-ld:Sensor:x", headers={**h, "Link": ld_link(USER_CTX)})
    assert with_ctx.json()["temperature"]["value"] == 20 and USER_CTX in with_ctx.headers["link"]
    inline = {"@context": [{"temp2": "https://example.org/ns#temperature"}], "id": "urn:ngsi-ld:Sensor:y",
              "type": "https://example.org/ns#Sensor", "temp2": {"type": "Property", "value": 3}}
    assert client.post(E, json=inline, headers={**h, **LD_HEADERS}).status_code == 201
    y = client.get(f"{E}/urn:ngsi-ld:Sensor:y", headers={**h, "Link": ld_link(USER_CTX)}).json()
    assert y["temperature"]["value"] == 3 and y["type"] == "Sensor"


def test_media_type_and_context_rules(client: Any, world: Any) -> None:
    h = headers(world, "org_member_a")
    body = entity_body("urn:ngsi-ld:AirQualityObserved:m")
    resp = client.post(E, content=b"{}", headers={**h, "Content-Type": "text/plain"})
    assert resp.status_code == 415 and problem(resp)["type"].endswith("/UnsupportedMediaType")
    resp = client.post(E, json={**body, "@context": CORE}, headers=h)  # application/json with @context in body
    assert resp.status_code == 400 and problem(resp)["type"].endswith("/BadRequestData")
    resp = client.post(E, json=body, headers={**h, **LD_HEADERS})  # JSON-LD without @context
    assert resp.status_code == 400
    resp = client.post(E, json={**body, "@context": CORE}, headers={**h, **LD_HEADERS, "Link": ld_link(USER_CTX)})
    assert resp.status_code == 400  # JSON-LD with a context Link header
    resp = client.post(E, content=b"{not json", headers={**h, "Content-Type": "application/json"})
    assert resp.status_code == 400 and problem(resp)["type"].endswith("/InvalidRequest")
    assert client.post(E, json={**body, "@context": CORE}, headers={**h, **LD_HEADERS}).status_code == 201
    resp = client.get(f"{E}/urn:ngsi-ld:AirQualityObserved:m", headers={**h, "Accept": "text/html"})
    assert resp.status_code == 406 and problem(resp)["type"].endswith("/NotAcceptable")
    resp = client.get(f"{E}/urn:ngsi-ld:AirQualityObserved:m", headers={**h, "Accept": "text/html, */*;q=0.1"})
    assert resp.status_code == 200


def test_bad_input_is_400_with_problem_details(client: Any, world: Any) -> None:
    h = headers(world, "org_member_a")
    cases = [
        {"id": "not a uri", "type": "T"},
        {"id": "urn:x:1"},
        {"id": "urn:x:1", "type": "T", "p": {"type": "Property"}},
        {"id": "urn:x:1", "type": "T", "p": {"type": "Nonsense", "value": 1}},
        {"id": "urn:x:1", "type": "T", "r": {"type": "Relationship", "object": "no uri"}},
        {"id": "urn:x:1", "type": "T", "location": {"type": "GeoProperty", "value": {"type": "Point"}}},
        {"id": "urn:x:1", "type": "T", "location": {"type": "GeoProperty",
                                                    "value": {"type": "Point", "coordinates": [200, 10]}}},
        {"id": "urn:x:1", "type": "T", "location": {"type": "GeoProperty", "value": {
            "type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1]]]}}},
        {"id": "urn:x:1", "type": "T", "p": {"type": "Property", "value": 1, "observedAt": "yesterday"}},
        {"id": "urn:x:1", "type": "T", "bad name": 1},
        {"id": "urn:x:1", "type": "T", "p": [{"type": "Property", "value": 1}, {"type": "Property", "value": 2}]},
        [1, 2],
    ]
    for body in cases:
        resp = client.post(E, json=body, headers=h)
        assert resp.status_code == 400, (body, resp.text)
        p = problem(resp)
        assert p["type"].startswith("https://uri.etsi.org/ngsi-ld/errors/") and p["title"] and p["detail"]
    assert client.get(f"{E}/urn:x:1", headers=h).status_code == 404  # nothing half-written


def test_attribute_operations(client: Any, world: Any) -> None:
    h = headers(world, "org_member_a")
    eid = "urn:ngsi-ld:AirQualityObserved:2"
    assert client.post(E, json=entity_body(eid), headers=h).status_code == 201
    url = f"{E}/{eid}"
    # append: a new attribute and a second instance of pm25 with a datasetId
    resp = client.post(f"{url}/attrs", json={"no2": {"type": "Property", "value": 12},
                                             "pm25": {"type": "Property", "value": 30, "datasetId": "urn:ds:b"}},
                       headers=h)
    assert resp.status_code == 204, resp.text
    got = client.get(url, headers=h).json()
    assert got["no2"]["value"] == 12 and isinstance(got["pm25"], list) and len(got["pm25"]) == 2
    # noOverwrite: existing attributes are reported, not changed
    resp = client.post(f"{url}/attrs?options=noOverwrite", json={"no2": 99, "o3": 7}, headers=h)
    assert resp.status_code == 207 and resp.json()["notUpdated"][0]["attributeName"] == DEFAULT_VOCAB + "no2"
    assert client.get(url, headers=h).json()["no2"]["value"] == 12
    # update: only existing attributes
    resp = client.patch(f"{url}/attrs", json={"no2": {"type": "Property", "value": 13}, "zz": 1}, headers=h)
    assert resp.status_code == 207 and resp.json()["updated"] == [DEFAULT_VOCAB + "no2"]
    # partial attribute update keeps what it does not name
    resp = client.patch(f"{url}/attrs/pm25", json={"value": 40}, headers=h)
    assert resp.status_code == 204
    pm = {i.get("datasetId"): i for i in client.get(url, headers=h).json()["pm25"]}
    assert pm[None]["value"] == 40 and pm[None]["unitCode"] == "GQ" and pm["urn:ds:b"]["value"] == 30
    # replace an attribute
    assert client.put(f"{url}/attrs/no2", json={"type": "Property", "value": 1}, headers=h).status_code == 204
    assert client.patch(f"{url}/attrs/nothing", json={"value": 1}, headers=h).status_code == 404
    # delete one instance, then the attribute
    assert client.delete(f"{url}/attrs/pm25?datasetId=urn:ds:b", headers=h).status_code == 204
    assert not isinstance(client.get(url, headers=h).json()["pm25"], list)
    assert client.delete(f"{url}/attrs/pm25", headers=h).status_code == 204
    assert "pm25" not in client.get(url, headers=h).json()
    assert client.delete(f"{url}/attrs/pm25", headers=h).status_code == 404


def test_replace_merge_and_delete(client: Any, world: Any) -> None:
    h = headers(world, "org_member_a")
    eid = "urn:ngsi-ld:AirQualityObserved:3"
    url = f"{E}/{eid}"
    assert client.post(E, json=entity_body(eid), headers=h).status_code == 201
    created = client.get(f"{url}?options=sysAttrs", headers=h).json()["createdAt"]
    merge = {"pm25": {"value": 50}, "name": "urn:ngsi-ld:null", "extra": {"type": "Property", "value": "x"}}
    assert client.patch(url, json=merge, headers=h).status_code == 204
    got = client.get(url, headers=h).json()
    assert got["pm25"]["value"] == 50 and got["pm25"]["unitCode"] == "GQ" and "name" not in got
    assert got["extra"]["value"] == "x"
    resp = client.put(url, json={"type": "AirQualityObserved", "pm10": 3}, headers=h)
    assert resp.status_code == 204
    got = client.get(f"{url}?options=sysAttrs", headers=h).json()
    assert set(got) == {"id", "type", "pm10", "createdAt", "modifiedAt"} and got["createdAt"] == created
    assert client.put(url, json={"id": "urn:other:1", "type": "X"}, headers=h).status_code == 400
    assert client.delete(url, headers=h).status_code == 204
    assert client.get(url, headers=h).status_code == 404
    assert client.delete(url, headers=h).status_code == 404


def test_create_conflict_and_trailing_slash(client: Any, world: Any) -> None:
    h = headers(world, "org_member_a")
    body = entity_body("urn:ngsi-ld:AirQualityObserved:4")
    assert client.post(f"{E}/", json=body, headers=h).status_code == 201
    resp = client.post(E, json=body, headers=h)
    assert resp.status_code == 409 and problem(resp)["type"].endswith("/AlreadyExists")
    resp = client.get(f"{E}/?type=AirQualityObserved", headers=h, follow_redirects=False)
    assert resp.status_code == 200 and len(resp.json()) == 1
