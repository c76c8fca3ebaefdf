"""connect's devices and assets as NGSI-LD entities: read through from connect (latest values, telemetry history),
visible as in connect, read-only through NGSI-LD."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from cityhub.connect import service as connect
from cityhub.kit import clock
from tests.connect.helpers import build_connect, message
from tests.context.helpers import E, entity_body, headers, problem

T = "/ngsi-ld/v1/temporal/entities"


@pytest.fixture
def cw(world: Any) -> Any:
    return build_connect(world)


def _ingest(world: Any, device_id: Any, minutes_ago: int, **values: float) -> None:
    at = clock.now() - timedelta(minutes=minutes_ago)
    r = connect.ingest_messages(world.session, [message(device_id, {"ts": at.isoformat(), "values": values},
                                                        clock.now())])
    assert r.stored == len(values), r
    world.session.flush()


def test_device_entity_follows_connect(client: Any, world: Any, cw: Any) -> None:
    dev = cw["dev_a"]
    eid = f"urn:ngsi-ld:Device:{dev.id}"
    h = headers(world, "org_member_a")
    got = client.get(f"{E}/{eid}", headers=h)
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["type"] == "Device" and body["name"]["value"] == "主跨应变计 1"
    assert body["category"]["value"] == "bridge-health" and body["deviceState"]["value"] == "active"
    span_id = f"urn:ngsi-ld:BridgeSpan:{cw['span'].id}"
    assert body["controlledAsset"] == {"type": "Relationship", "object": span_id}
    assert "strain" not in body  # nothing measured yet
    _ingest(world, dev.id, 10, strain=120.5, temperature=21.0)
    _ingest(world, dev.id, 5, strain=130.0)
    body = client.get(f"{E}/{eid}", headers=h).json()
    assert body["strain"]["value"] == 130.0 and body["temperature"]["unitCode"] == "CEL"
    assert body["strain"]["observedAt"].endswith("Z") and body["strain"]["unitText"]["value"] == "με"
    kv = client.get(f"{E}/{eid}", params={"options": "keyValues", "attrs": "strain,temperature"}, headers=h).json()
    assert kv == {"id": eid, "type": "Device", "strain": 130.0, "temperature": 21.0}
    # the asset it controls, with its place in the asset tree; the bridge has a location
    span = client.get(f"{E}/{span_id}", headers=h).json()
    assert span["refParent"]["object"] == f"urn:ngsi-ld:Bridge:{cw['bridge'].id}"
    bridge = client.get(f"{E}/urn:ngsi-ld:Bridge:{cw['bridge'].id}", headers=h).json()
    assert bridge["location"]["value"] == {"type": "Point", "coordinates": [106.58, 29.56]}
    # the wrong type in the id is another entity: unknown
    assert client.get(f"{E}/urn:ngsi-ld:Building:{cw['bridge'].id}", headers=h).status_code == 404


def test_device_history_is_connect_telemetry(client: Any, world: Any, cw: Any) -> None:
    dev = cw["dev_a"]
    eid = f"urn:ngsi-ld:Device:{dev.id}"
    h = headers(world, "org_member_a")
    for i in range(5):
        _ingest(world, dev.id, 50 - i * 10, strain=100.0 + i, temperature=20.0 + i)
    got = client.get(f"{T}/{eid}", params={"attrs": "strain"}, headers=h)
    assert got.status_code == 200, got.text
    assert [i["value"] for i in got.json()["strain"]] == [100.0, 101.0, 102.0, 103.0, 104.0]
    assert "temperature" not in got.json()
    middle = (clock.now() - timedelta(minutes=35)).isoformat()  # between the 2nd and 3rd points
    after = client.get(f"{T}/{eid}", params={"attrs": "strain", "timerel": "after", "timeAt": middle},
                       headers=h).json()
    assert [i["value"] for i in after["strain"]] == [102.0, 103.0, 104.0]
    before = client.get(f"{T}/{eid}", params={"timerel": "before", "timeAt": middle, "lastN": 1}, headers=h).json()
    assert [i["value"] for i in before["strain"]] == [101.0] and [i["value"] for i in before["temperature"]] == [21.0]
    values = client.get(f"{T}/{eid}", params={"attrs": "temperature", "options": "temporalValues", "lastN": 2},
                        headers=h).json()
    assert [v[0] for v in values["temperature"]["values"]] == [23.0, 24.0]
    assert values["temperature"]["type"] == "Property"
    bad = client.get(f"{T}/{eid}", params={"timerel": "between", "timeAt": middle}, headers=h)
    assert bad.status_code == 400 and problem(bad)["type"].endswith("BadRequestData")


def test_visibility_as_in_connect(client: Any, world: Any, cw: Any) -> None:
    a = f"urn:ngsi-ld:Device:{cw['dev_a'].id}"
    b = f"urn:ngsi-ld:Device:{cw['dev_b'].id}"
    member_a = headers(world, "org_member_a")
    assert client.get(f"{E}/{a}", headers=member_a).status_code == 200
    assert client.get(f"{E}/{b}", headers=member_a).status_code == 404  # dept B's device: not seen
    assert client.get(f"{T}/{b}", headers=member_a).status_code == 404
    assert client.get(f"{E}/{b}", headers=headers(world, "org_member_b")).status_code == 200
    assert client.get(f"{E}/{a}").status_code == 404  # anonymous


def test_bridged_entities_are_read_only(client: Any, world: Any, cw: Any) -> None:
    a = f"urn:ngsi-ld:Device:{cw['dev_a'].id}"
    h = headers(world, "org_admin_a")
    patched = client.patch(f"{E}/{a}/attrs", json={"strain": {"type": "Property", "value": 1}}, headers=h)
    assert patched.status_code == 422 and problem(patched)["type"].endswith("OperationNotSupported")
    assert client.delete(f"{E}/{a}", headers=h).status_code == 422
    created = client.post(E, json=entity_body(a, type_="Device"), headers=h)
    assert created.status_code == 409 and problem(created)["type"].endswith("AlreadyExists")
    batch = client.post("/ngsi-ld/v1/entityOperations/upsert", json=[entity_body(a, type_="Device")], headers=h)
    assert batch.status_code == 207 and batch.json()["errors"][0]["entityId"] == a
    # an id of the same form naming no connect device is an ordinary entity
    free = "urn:ngsi-ld:Device:00000000-0000-4000-8000-000000000001"
    assert client.post(E, json=entity_body(free, type_="Device"), headers=h).status_code == 201
    assert client.get(f"{E}/{free}", headers=h).json()["id"] == free


def test_bridged_entities_in_queries(client: Any, world: Any, cw: Any) -> None:
    a = f"urn:ngsi-ld:Device:{cw['dev_a'].id}"
    b = f"urn:ngsi-ld:Device:{cw['dev_b'].id}"
    bridge_id = f"urn:ngsi-ld:Bridge:{cw['bridge'].id}"
    span_id = f"urn:ngsi-ld:BridgeSpan:{cw['span'].id}"
    plaza_id = f"urn:ngsi-ld:PublicSpace:{cw['plaza'].id}"
    h_a, h_b = headers(world, "org_member_a"), headers(world, "org_member_b")
    _ingest(world, cw["dev_a"].id, 5, strain=130.0, temperature=21.0)

    def ids(params: dict[str, Any], h: dict[str, str]) -> list[str]:
        got = client.get(E, params=params, headers=h)
        assert got.status_code == 200, got.text
        return [e["id"] for e in got.json()]

    # by type, each department its own devices only; anonymous none
    assert ids({"type": "Device"}, h_a) == [a]
    assert ids({"type": "Device"}, h_b) == [b]
    assert client.get(E, params={"type": "Device"}).json() == []
    # type expressions, the asset types, id lists and patterns
    assert ids({"type": "Bridge|BridgeSpan"}, h_a) == [bridge_id, span_id]
    assert ids({"type": "(Device;Bridge),BridgeSpan"}, h_a) == [span_id]
    assert ids({"type": "PublicSpace"}, h_a) == [] and ids({"type": "PublicSpace"}, h_b) == [plaza_id]
    assert ids({"id": f"{a},{b}"}, h_a) == [a]
    assert ids({"idPattern": "^urn:ngsi-ld:Bridge"}, h_a) == [bridge_id, span_id]
    # q over their properties (the latest values and the static ones), the same language as stored entities
    assert ids({"type": "Device", "q": "strain>100"}, h_a) == [a]
    assert ids({"type": "Device", "q": "strain>200"}, h_a) == []
    assert ids({"type": "Device", "q": "strain==120..140;deviceState==\"active\""}, h_a) == [a]
    assert ids({"q": "name==\"主跨\""}, h_a) == [span_id]
    assert ids({"type": "Device", "q": f"controlledAsset==\"{span_id}\""}, h_a) == [a]
    assert ids({"type": "Device", "q": "!strain"}, h_a) == []
    assert ids({"type": "Device", "attrs": "strain"}, h_a) == [a]
    kv = client.get(E, params={"type": "Device", "q": "strain>100", "options": "keyValues", "attrs": "strain"},
                    headers=h_a).json()
    assert kv == [{"id": a, "type": "Device", "strain": 130.0}]
    # geo-queries on their location (the device takes its asset's: the span has none, the bridge has one)
    near = {"georel": "near;maxDistance==500", "geometry": "Point", "coordinates": "[106.58,29.561]"}
    assert ids({"type": "Bridge", **near}, h_a) == [bridge_id]
    assert ids({**near}, h_a) == [bridge_id]
    far = {"georel": "near;maxDistance==50", "geometry": "Point", "coordinates": "[106.58,29.57]"}
    assert ids({"type": "Bridge", **far}, h_a) == []
    assert ids({"type": "PublicSpace", "georel": "within", "geometry": "Polygon",
                "coordinates": "[[[106.56,29.54],[106.58,29.54],[106.58,29.56],[106.56,29.56],[106.56,29.54]]]"},
               h_b) == [plaza_id]


def test_bridged_and_stored_share_paging_and_types(client: Any, world: Any, cw: Any) -> None:
    a = f"urn:ngsi-ld:Device:{cw['dev_a'].id}"
    h = headers(world, "org_admin_a")
    stored = ["urn:ngsi-ld:Device:0", "urn:ngsi-ld:Device:z"]  # before and after every uuid
    for eid in stored:
        assert client.post(E, json=entity_body(eid, type_="Device"), headers=h).status_code == 201
    everything = [stored[0], a, stored[1]]
    got = client.get(E, params={"type": "Device", "count": "true"}, headers=h)
    assert [e["id"] for e in got.json()] == everything and got.headers["NGSILD-Results-Count"] == "3"
    pages = [client.get(E, params={"type": "Device", "limit": 1, "offset": i, "count": "true"}, headers=h)
             for i in range(4)]
    assert [[e["id"] for e in p.json()] for p in pages] == [[x] for x in everything] + [[]]
    assert all(p.headers["NGSILD-Results-Count"] == "3" for p in pages)
    only_count = client.get(E, params={"type": "Device", "limit": 0, "count": "true"}, headers=h)
    assert only_count.json() == [] and only_count.headers["NGSILD-Results-Count"] == "3"
    # /types: the bridge's types beside the stored ones, with counts and attributes
    types = client.get("/ngsi-ld/v1/types", headers=h).json()["typeList"]
    assert {"Device", "Bridge", "BridgeSpan"} <= set(types) and "PublicSpace" not in types
    info = client.get("/ngsi-ld/v1/types/Device", headers=h).json()
    assert info["entityCount"] == 3
    assert {"name", "deviceState", "controlledAsset"} <= {d["attributeName"] for d in info["attributeDetails"]}
    assert "PublicSpace" in client.get("/ngsi-ld/v1/types", headers=headers(world, "org_member_b")).json()[
        "typeList"]
    assert client.get("/ngsi-ld/v1/types").json()["typeList"] == []
    # the temporal query selects the device too and answers from connect's telemetry
    _ingest(world, cw["dev_a"].id, 5, strain=130.0)
    temporal = client.get(T, params={"type": "Device", "attrs": "strain"}, headers=h).json()
    by_id = {e["id"]: e for e in temporal}
    assert set(by_id) == {a} and [i["value"] for i in by_id[a]["strain"]] == [130.0]  # only it has strain


def test_bridged_in_every_query_form(client: Any, world: Any, cw: Any) -> None:
    a = f"urn:ngsi-ld:Device:{cw['dev_a'].id}"
    b = f"urn:ngsi-ld:Device:{cw['dev_b'].id}"
    bridge_id = f"urn:ngsi-ld:Bridge:{cw['bridge'].id}"
    _ingest(world, cw["dev_a"].id, 5, strain=130.0)
    admin = headers(world, "platform_admin")
    # a platform admin sees every unit's devices; a tenant narrows them to its organisation's
    assert {e["id"] for e in client.get(E, params={"type": "Device"}, headers=admin).json()} == {a, b}
    in_a = client.get(E, params={"type": "Device"}, headers={**admin, "NGSILD-Tenant": "t-dept-a"}).json()
    assert [e["id"] for e in in_a] == [a]
    h = headers(world, "org_member_a")
    # POST /entityOperations/query answers as GET /entities
    body = {"type": "Query", "entities": [{"type": "Device"}], "q": "strain>100"}
    got = client.post("/ngsi-ld/v1/entityOperations/query", json=body, headers=h)
    assert got.status_code == 200 and [e["id"] for e in got.json()] == [a]
    geo_q = {"type": "Query", "entities": [{"type": "Bridge"}],
             "geoQ": {"georel": "near;maxDistance==500", "geometry": "Point", "coordinates": [106.58, 29.561]}}
    assert [e["id"] for e in client.post("/ngsi-ld/v1/entityOperations/query", json=geo_q,
                                         headers=h).json()] == [bridge_id]
    # the GeoJSON representation carries the bridged location
    geo = client.get(E, params={"type": "Bridge"}, headers={**h, "Accept": "application/geo+json"}).json()
    assert geo["features"][0]["geometry"] == {"type": "Point", "coordinates": [106.58, 29.56]}
    # /attributes counts the devices' measured and static attributes
    names = client.get("/ngsi-ld/v1/attributes", headers=h).json()["attributeList"]
    assert {"strain", "deviceState", "controlledAsset", "refParent"} <= set(names)
    strain = client.get("/ngsi-ld/v1/attributes/strain", headers=h).json()
    assert strain["attributeCount"] == 1 and strain["typeNames"] == ["Device"]
    # bad input in a query naming bridged types is still a 400, not a 500
    bad = client.get(E, params={"type": "Device", "q": "strain>>1"}, headers=h)
    assert bad.status_code == 400 and problem(bad)["type"].endswith("BadRequestData")
    bad = client.get(E, params={"type": "Device", "idPattern": "("}, headers=h)
    assert bad.status_code == 400
