"""Batch operations: 201 / 204 / 207, each entity all or nothing, the others standing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from cityhub.context.models import ContextEntity, ContextEntityType
from tests.context.helpers import CORE, LD_HEADERS, E, entity_body, headers

OPS = "/ngsi-ld/v1/entityOperations"


def test_create_all_then_partly(client: Any, world: Any) -> None:
    h = headers(world, "org_member_a")
    bodies = [entity_body(f"urn:ngsi-ld:AirQualityObserved:b{i}", pm25=i) for i in range(3)]
    resp = client.post(f"{OPS}/create", json=bodies, headers=h)
    assert resp.status_code == 201 and resp.json() == [b["id"] for b in bodies]
    again = [entity_body("urn:ngsi-ld:AirQualityObserved:b0"), entity_body("urn:ngsi-ld:AirQualityObserved:b9"),
             {"id": "urn:ngsi-ld:AirQualityObserved:bad", "type": "AirQualityObserved",
              "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [999, 0]}}}]
    resp = client.post(f"{OPS}/create", json=again, headers=h)
    assert resp.status_code == 207
    out = resp.json()
    assert out["success"] == ["urn:ngsi-ld:AirQualityObserved:b9"]
    errors = {e["entityId"]: e["error"] for e in out["errors"]}
    assert errors["urn:ngsi-ld:AirQualityObserved:b0"]["type"].endswith("/AlreadyExists")
    assert errors["urn:ngsi-ld:AirQualityObserved:bad"]["type"].endswith("/BadRequestData")
    # nothing of the refused entity was written, neither the row nor its side rows
    assert client.get(f"{E}/urn:ngsi-ld:AirQualityObserved:bad", headers=h).status_code == 404
    s = world.session
    assert s.scalar(select(func.count()).select_from(ContextEntity)) == 4
    assert s.scalar(select(func.count()).select_from(ContextEntityType)) == 4


def test_upsert_replace_and_update(client: Any, world: Any) -> None:
    h = headers(world, "org_member_a")
    first = [entity_body("urn:ngsi-ld:AirQualityObserved:u1", pm25=1)]
    resp = client.post(f"{OPS}/upsert", json=first, headers=h)
    assert resp.status_code == 201 and resp.json() == ["urn:ngsi-ld:AirQualityObserved:u1"]
    # replace (the default): attributes not sent are gone
    resp = client.post(f"{OPS}/upsert", json=[{"id": "urn:ngsi-ld:AirQualityObserved:u1",
                                                "type": "AirQualityObserved", "pm25": 2}], headers=h)
    assert resp.status_code == 204
    got = client.get(f"{E}/urn:ngsi-ld:AirQualityObserved:u1", headers=h).json()
    assert got["pm25"]["value"] == 2 and "refDevice" not in got
    # update: attributes not sent stay
    resp = client.post(f"{OPS}/upsert?options=update", json=[
        {"id": "urn:ngsi-ld:AirQualityObserved:u1", "type": "AirQualityObserved", "no2": 3},
        {"id": "urn:ngsi-ld:AirQualityObserved:u2", "type": "AirQualityObserved", "no2": 4}], headers=h)
    assert resp.status_code == 201 and resp.json() == ["urn:ngsi-ld:AirQualityObserved:u2"]
    got = client.get(f"{E}/urn:ngsi-ld:AirQualityObserved:u1", headers=h).json()
    assert got["pm25"]["value"] == 2 and got["no2"]["value"] == 3
    resp = client.post(f"{OPS}/upsert?options=update,replace", json=first, headers=h)
    assert resp.status_code == 400


def test_update_and_delete(client: Any, world: Any) -> None:
    h = headers(world, "org_member_a")
    client.post(f"{OPS}/create", json=[entity_body("urn:ngsi-ld:AirQualityObserved:d1")], headers=h)
    resp = client.post(f"{OPS}/update", json=[{"id": "urn:ngsi-ld:AirQualityObserved:d1", "pm25": 9},
                                              {"id": "urn:ngsi-ld:AirQualityObserved:none", "pm25": 9}], headers=h)
    assert resp.status_code == 207
    assert resp.json()["errors"][0]["error"]["type"].endswith("/ResourceNotFound")
    resp = client.post(f"{OPS}/update?options=noOverwrite", json=[
        {"id": "urn:ngsi-ld:AirQualityObserved:d1", "pm25": 100, "o3": 1}], headers=h)
    assert resp.status_code == 204
    got = client.get(f"{E}/urn:ngsi-ld:AirQualityObserved:d1", headers=h).json()
    assert got["pm25"]["value"] == 9 and got["o3"]["value"] == 1
    resp = client.post(f"{OPS}/delete", json=["urn:ngsi-ld:AirQualityObserved:d1"], headers=h)
    assert resp.status_code == 204
    resp = client.post(f"{OPS}/delete", json=["urn:ngsi-ld:AirQualityObserved:d1", 5], headers=h)
    assert resp.status_code == 207 and len(resp.json()["errors"]) == 2


def test_batch_bodies_and_contexts(client: Any, world: Any) -> None:
    h = headers(world, "org_member_a")
    for body in ({"id": "urn:x:1"}, [], [entity_body(f"urn:x:{i}") for i in range(1001)]):
        assert client.post(f"{OPS}/create", json=body, headers=h).status_code == 400
    ld = [{**entity_body("urn:ngsi-ld:AirQualityObserved:ld1"), "@context": CORE}]
    assert client.post(f"{OPS}/create", json=ld, headers={**h, **LD_HEADERS}).status_code == 201
    no_ctx = [entity_body("urn:ngsi-ld:AirQualityObserved:ld2")]
    resp = client.post(f"{OPS}/create", json=no_ctx, headers={**h, **LD_HEADERS})
    assert resp.status_code == 207  # a JSON-LD element without @context is that element's error
    with_ctx = [{**entity_body("urn:ngsi-ld:AirQualityObserved:ld3"), "@context": CORE}]
    assert client.post(f"{OPS}/create", json=with_ctx, headers=h).status_code == 207


def test_batch_needs_a_writer(client: Any, world: Any) -> None:
    body = [entity_body("urn:ngsi-ld:AirQualityObserved:w1")]
    assert client.post(f"{OPS}/create", json=body).status_code == 401
    resp = client.post(f"{OPS}/create", json=body, headers=headers(world, "auditor"))
    assert resp.status_code == 403 and resp.json()["type"].endswith("/Forbidden")


def test_bulk_path_edge_cases(client: Any, world: Any) -> None:
    from cityhub.core.models import AuditEntry

    a, b = headers(world, "org_member_a"), headers(world, "org_member_b")
    assert client.post(E, json={"id": "urn:b:1", "type": "T", "p": 1}, headers=b).status_code == 201
    twice = [{"id": "urn:a:1", "type": "T", "p": 1}, {"id": "urn:a:1", "type": "T", "p": 2}]
    resp = client.post(f"{OPS}/create", json=twice, headers=a)
    assert resp.status_code == 207 and resp.json()["success"] == ["urn:a:1"]
    assert resp.json()["errors"][0]["error"]["type"].endswith("/AlreadyExists")
    # upsert: the later element of one id wins; another unit's entity is not found (not replaced)
    resp = client.post(f"{OPS}/upsert", json=[*twice, {"id": "urn:b:1", "type": "T", "p": 9},
                                              {"id": "urn:a:2", "type": "T", "p": 3}], headers=a)
    assert resp.status_code == 207
    assert resp.json()["success"] == ["urn:a:1", "urn:a:2"]
    assert resp.json()["errors"][0]["entityId"] == "urn:b:1"
    assert resp.json()["errors"][0]["error"]["type"].endswith("/ResourceNotFound")
    assert client.get(f"{E}/urn:a:1", headers=a).json()["p"]["value"] == 2
    assert client.get(f"{E}/urn:b:1", headers=b).json()["p"]["value"] == 1
    # one audit row for the batch, naming every entity
    row = world.session.scalars(select(AuditEntry).where(AuditEntry.action == "context_entity_batch_upsert")).one()
    assert row.summary["after"] == {"created": ["urn:a:2"], "replaced": ["urn:a:1"]}
    assert row.org_id == world.orgs["dept_a"].id


def test_merge_and_query(client: Any, world: Any) -> None:
    h = headers(world, "org_member_a")
    bodies = [entity_body(f"urn:ngsi-ld:AirQualityObserved:mq{i}", pm25=10 * i) for i in range(3)]
    bodies.append(entity_body("urn:ngsi-ld:Parking:mq9", type_="Parking", pm25=99))
    assert client.post(f"{OPS}/create", json=bodies, headers=h).status_code == 201
    merge = [{"id": "urn:ngsi-ld:AirQualityObserved:mq0", "pm25": {"value": 5}, "refDevice": "urn:ngsi-ld:null"},
             {"id": "urn:ngsi-ld:AirQualityObserved:nope", "pm25": 1}]
    resp = client.post(f"{OPS}/merge", json=merge, headers=h)
    assert resp.status_code == 207
    assert resp.json()["success"] == ["urn:ngsi-ld:AirQualityObserved:mq0"]
    assert resp.json()["errors"][0]["error"]["type"].endswith("/ResourceNotFound")
    got = client.get(f"{E}/urn:ngsi-ld:AirQualityObserved:mq0", headers=h).json()
    assert got["pm25"]["value"] == 5 and got["pm25"]["unitCode"] == "GQ" and "refDevice" not in got
    assert client.post(f"{OPS}/merge", json=merge[:1], headers=h).status_code == 204

    def ids(body: dict[str, Any], **params: Any) -> list[str]:
        resp = client.post(f"{OPS}/query", json=body, params=params, headers=h)
        assert resp.status_code == 200, resp.text
        return [e["id"] for e in resp.json()]

    both = {"type": "Query", "entities": [{"type": "AirQualityObserved"}, {"type": "Parking"}]}
    assert len(ids(both)) == 4
    assert ids({**both, "q": "pm25>=10"}) == ["urn:ngsi-ld:AirQualityObserved:mq1",
                                               "urn:ngsi-ld:AirQualityObserved:mq2", "urn:ngsi-ld:Parking:mq9"]
    assert ids({"type": "Query", "entities": [{"type": "AirQualityObserved", "idPattern": ".*mq[12]$"}]}) == [
        "urn:ngsi-ld:AirQualityObserved:mq1", "urn:ngsi-ld:AirQualityObserved:mq2"]
    assert ids({"type": "Query", "geoQ": {"georel": "near;maxDistance==100", "geometry": "Point",
                                          "coordinates": [106.58, 29.56]}}, limit=2) == [
        "urn:ngsi-ld:AirQualityObserved:mq0", "urn:ngsi-ld:AirQualityObserved:mq1"]
    resp = client.post(f"{OPS}/query", json={**both, "attrs": ["pm25"]}, params={"options": "keyValues",
                                                                                "count": "true"}, headers=h)
    assert resp.headers["NGSILD-Results-Count"] == "4"
    assert resp.json()[0] == {"id": "urn:ngsi-ld:AirQualityObserved:mq0", "type": "AirQualityObserved", "pm25": 5}
    for bad_body in ({"type": "Q"}, {"type": "Query"}, {"type": "Query", "q": "pm25>"},
                     {"type": "Query", "entities": [{"id": "urn:x"}]}):
        assert client.post(f"{OPS}/query", json=bad_body, headers=h).status_code == 400, bad_body


def test_delete_leaves_no_side_rows(client: Any, world: Any) -> None:
    """Side rows and history carry no foreign key (migration 0031): deleting an entity, one by one, in a batch or
    through the temporal API, removes its type rows, GeoProperty boxes, numbers and history with it."""
    from cityhub.context.models import ContextAttributeInstance, ContextGeometry, ContextNumber

    h = headers(world, "org_member_a")
    ids = [f"urn:ngsi-ld:AirQualityObserved:gone{i}" for i in range(4)]
    assert client.post(f"{OPS}/upsert", json=[entity_body(i) for i in ids], headers=h).status_code == 201
    assert client.post(f"{OPS}/upsert", json=[entity_body(ids[0], pm25=1.0)], headers=h).status_code == 204
    tables = (ContextEntityType, ContextGeometry, ContextNumber, ContextAttributeInstance)
    pks = {r.entity_id: r.id for r in world.session.execute(select(ContextEntity.entity_id, ContextEntity.id).where(
        ContextEntity.entity_id.in_(ids)))}

    def rows(entity_id: str) -> list[int]:
        return [world.session.scalar(select(func.count()).select_from(t).where(t.entity_pk == pks[entity_id]))
                for t in tables]

    assert all(n > 0 for i in ids for n in rows(i)), [rows(i) for i in ids]
    assert client.delete(f"{E}/{ids[0]}", headers=h).status_code == 204
    assert client.post(f"{OPS}/delete", json=ids[1:3], headers=h).status_code == 204
    assert client.delete(f"/ngsi-ld/v1/temporal/entities/{ids[3]}", headers=h).status_code == 204
    assert [rows(i) for i in ids] == [[0, 0, 0, 0]] * 4
