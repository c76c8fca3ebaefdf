"""Behaviour checked against the ETSI NGSI-LD API test suite: batch create, upsert, update, merge and delete
(ETSI TP 003_*, 004_*, 005_*, 006_*, 057_*). Our own bodies; each test names the test purposes it guards."""

from __future__ import annotations

from typing import Any

from tests.context.helpers import LD_HEADERS, E, headers, ld_link, problem
from tests.context.test_etsi_entities import CTX, ERR, NS, as_sent

OPS = "/ngsi-ld/v1/entityOperations"


def site(n: int, **attrs: Any) -> dict[str, Any]:
    return {"id": f"urn:ngsi-ld:Site:b{n}", "type": "Site", **attrs, "@context": [CTX]}


def query(client: Any, h: dict[str, str], *ids: str) -> list[dict[str, Any]]:
    resp = client.get(f"{E}?id={','.join(ids)}&type=Site",
                      headers={**h, "Link": ld_link(CTX), "Accept": "application/ld+json"})
    assert resp.status_code == 200, resp.text
    return sorted((as_sent(e) for e in resp.json()), key=lambda e: e["id"])


def test_batch_create(client: Any, world: Any) -> None:
    """ETSI TP 003_01, 003_02, 003_04, 003_05, 003_06, 003_08, 003_10: 201 with the ids, entities read back as
    sent; an existing id or a repeated one is a 207 error of that element; element @context rules per element."""
    h = headers(world, "org_member_a")
    attrs = {"label": {"type": "Property", "value": "Tower"},
             "level": {"type": "Property", "value": 4, "watchedBy": {"type": "Relationship", "object": "urn:x:s"}}}
    body = [site(1, **attrs), site(2, **attrs)]
    resp = client.post(f"{OPS}/create", json=body, headers={**h, **LD_HEADERS})
    assert resp.status_code == 201 and sorted(resp.json()) == ["urn:ngsi-ld:Site:b1", "urn:ngsi-ld:Site:b2"]
    assert query(client, h, "urn:ngsi-ld:Site:b1", "urn:ngsi-ld:Site:b2") == body
    resp = client.post(f"{OPS}/create", json=[site(3), site(4), site(1)], headers={**h, **LD_HEADERS})
    assert resp.status_code == 207 and sorted(resp.json()["success"]) == ["urn:ngsi-ld:Site:b3", "urn:ngsi-ld:Site:b4"]
    assert [e["entityId"] for e in resp.json()["errors"]] == ["urn:ngsi-ld:Site:b1"]
    resp = client.post(f"{OPS}/create", json=[site(5), site(6), site(5)], headers={**h, **LD_HEADERS})
    assert resp.status_code == 207 and sorted(resp.json()["success"]) == ["urn:ngsi-ld:Site:b5", "urn:ngsi-ld:Site:b6"]
    assert [e["entityId"] for e in resp.json()["errors"]] == ["urn:ngsi-ld:Site:b5"]
    plain = [{"id": "urn:ngsi-ld:Site:b7", "type": "Site", "full": {"type": "Property", "value": False}}]
    assert client.post(f"{OPS}/create", json=plain, headers={**h, "Link": ld_link(CTX)}).status_code == 201
    assert "full" in client.get(f"{E}/urn:ngsi-ld:Site:b7", headers={**h, "Link": ld_link(CTX)}).json()
    assert f"{NS}full" in client.get(f"{E}/urn:ngsi-ld:Site:b7", headers=h).json()
    plain[0]["id"] = "urn:ngsi-ld:Site:b8"
    assert client.post(f"{OPS}/create", json=plain, headers=h).status_code == 201
    assert "full" in client.get(f"{E}/urn:ngsi-ld:Site:b8", headers=h).json()
    for extra, element in (({}, site(9)), (LD_HEADERS, {"id": "urn:ngsi-ld:Site:b9", "type": "Site"})):
        resp = client.post(f"{OPS}/create", json=[element], headers={**h, **extra})
        assert resp.status_code == 207, resp.text
        assert problem_of(resp)["type"] == ERR + "BadRequestData"


def problem_of(resp: Any) -> dict[str, Any]:
    error: dict[str, Any] = resp.json()["errors"][0]["error"]
    assert error["title"]
    return error


def test_batch_bodies_refused_whole(client: Any, world: Any) -> None:
    """ETSI TP 003_03, 006_03: unreadable JSON is a 400 InvalidRequest, an empty array a 400 BadRequestData."""
    h = {**headers(world, "org_member_a"), **LD_HEADERS}
    for op in ("create", "upsert", "update", "merge", "delete"):
        broken = client.post(f"{OPS}/{op}", content=b'[{"id": "urn:x:1", ', headers=h)
        assert broken.status_code == 400 and problem(broken)["type"] == ERR + "InvalidRequest", (op, broken.text)
        empty = client.post(f"{OPS}/{op}", content=b"[]", headers=h)
        assert empty.status_code == 400 and problem(empty)["type"] == ERR + "BadRequestData", (op, empty.text)


def test_batch_upsert_update_merge_delete(client: Any, world: Any) -> None:
    """ETSI TP 004_01, 004_03, 005_01, 006_01, 006_02, 057_02: upsert 201 with the new ids, 204 when all existed
    (replaced: scope and types too); update and merge 204; merge and delete 207 for an unknown id."""
    h = headers(world, "org_member_a")
    new = [site(11, label={"type": "Property", "value": "x"}), site(12, label={"type": "Property", "value": "y"})]
    resp = client.post(f"{OPS}/upsert", json=new, headers={**h, **LD_HEADERS})
    assert resp.status_code == 201 and sorted(resp.json()) == ["urn:ngsi-ld:Site:b11", "urn:ngsi-ld:Site:b12"]
    assert query(client, h, "urn:ngsi-ld:Site:b11", "urn:ngsi-ld:Site:b12") == new
    again = [{**site(11, full={"type": "Property", "value": True}), "scope": "/Nantes"},
             {**site(12), "type": ["Site", "Other"]}]
    resp = client.post(f"{OPS}/upsert?options=replace", json=again, headers={**h, **LD_HEADERS})
    assert resp.status_code == 204 and resp.text == ""
    assert query(client, h, "urn:ngsi-ld:Site:b11", "urn:ngsi-ld:Site:b12") == again
    resp = client.post(f"{OPS}/update", json=[site(11, level={"type": "Property", "value": 2}), site(12)],
                       headers={**h, **LD_HEADERS})
    assert resp.status_code == 204 and resp.text == ""
    assert client.get(f"{E}/urn:ngsi-ld:Site:b11", headers={**h, "Link": ld_link(CTX)}).json()["level"]["value"] == 2
    resp = client.post(f"{OPS}/merge", json=[site(11, tags={"type": "Property", "value": 1}), site(12), site(13)],
                       headers={**h, **LD_HEADERS})
    assert resp.status_code == 207, resp.text
    assert sorted(resp.json()["success"]) == ["urn:ngsi-ld:Site:b11", "urn:ngsi-ld:Site:b12"]
    assert [e["entityId"] for e in resp.json()["errors"]] == ["urn:ngsi-ld:Site:b13"]
    resp = client.post(f"{OPS}/delete", json=["urn:ngsi-ld:Site:b11", "urn:ngsi-ld:Site:b13"],
                       headers={**h, **LD_HEADERS})
    assert resp.status_code == 207 and resp.json()["success"] == ["urn:ngsi-ld:Site:b11"]
    assert [e["entityId"] for e in resp.json()["errors"]] == ["urn:ngsi-ld:Site:b13"]
    resp = client.post(f"{OPS}/delete", json=["urn:ngsi-ld:Site:b12"], headers={**h, **LD_HEADERS})
    assert resp.status_code == 204 and resp.text == ""
    assert query(client, h, "urn:ngsi-ld:Site:b11", "urn:ngsi-ld:Site:b12") == []


def test_batch_upsert_mixed(client: Any, world: Any) -> None:
    """ETSI TP 004_02, 004_04, 004_05, 004_06_02, 004_07, 004_08: new and existing entities (201 naming the new
    only; replace, or update with options=update); an element without type or with a JSON null value is that
    element's 207 error; one id twice is one entity (the last wins)."""
    h = {**headers(world, "org_member_a"), **LD_HEADERS}
    assert client.post(f"{OPS}/create", json=[site(21, label={"type": "Property", "value": "old"}), site(22)],
                       headers=h).status_code == 201
    level = {"type": "Property", "value": 7}
    resp = client.post(f"{OPS}/upsert", json=[site(23, level=level), site(21, level=level), site(22, level=level)],
                       headers=h)
    assert resp.status_code == 201 and resp.json() == ["urn:ngsi-ld:Site:b23"], resp.text
    got = query(client, headers(world, "org_member_a"), "urn:ngsi-ld:Site:b21", "urn:ngsi-ld:Site:b23")
    assert all(set(e) == {"id", "type", "level", "@context"} for e in got), got  # replaced: label gone
    resp = client.post(f"{OPS}/upsert?options=update", json=[site(24), site(21, label={"type": "Property",
                                                                                       "value": "new"})],
                       headers=h)
    assert resp.status_code == 201 and resp.json() == ["urn:ngsi-ld:Site:b24"], resp.text
    b21 = query(client, headers(world, "org_member_a"), "urn:ngsi-ld:Site:b21")[0]
    assert b21["label"]["value"] == "new" and b21["level"]["value"] == 7
    untyped = {k: v for k, v in site(25).items() if k != "type"}
    json_null = site(26, label={"type": "Property", "value": None})
    resp = client.post(f"{OPS}/upsert", json=[site(27), untyped, json_null], headers=h)
    assert resp.status_code == 207 and resp.json()["success"] == ["urn:ngsi-ld:Site:b27"], resp.text
    assert sorted(e["entityId"] for e in resp.json()["errors"]) == ["urn:ngsi-ld:Site:b25", "urn:ngsi-ld:Site:b26"]
    assert all(e["error"]["type"] == ERR + "BadRequestData" for e in resp.json()["errors"])
    resp = client.post(f"{OPS}/upsert", json=[site(28), site(29), site(28, level=level)], headers=h)
    assert resp.status_code == 201 and sorted(resp.json()) == ["urn:ngsi-ld:Site:b28", "urn:ngsi-ld:Site:b29"]
    assert query(client, headers(world, "org_member_a"), "urn:ngsi-ld:Site:b28")[0]["level"]["value"] == 7


def test_batch_update_and_delete_variants(client: Any, world: Any) -> None:
    """ETSI TP 003_07, 003_09, 005_03, 005_04_02, 005_05, 006_04, 057_03_02: an element's own @context; a JSON-LD
    batch with a Link header 400; update of an unknown entity, or a JSON null value, that element's 207 error;
    update adds types; one id deleted twice: a success and an error."""
    plain = headers(world, "org_member_a")
    h = {**plain, **LD_HEADERS}
    assert client.post(f"{OPS}/create", json=[site(31, full={"type": "Property", "value": False}), site(32)],
                       headers=h).status_code == 201
    assert "full" in client.get(f"{E}/urn:ngsi-ld:Site:b31", headers={**plain, "Link": ld_link(CTX)}).json()
    assert f"{NS}full" in client.get(f"{E}/urn:ngsi-ld:Site:b31", headers=plain).json()
    linked = client.post(f"{OPS}/create", json=[site(33)], headers={**h, "Link": ld_link(CTX)})
    assert linked.status_code == 400 and problem(linked)["type"] == ERR + "BadRequestData"
    level = {"type": "Property", "value": 1}
    resp = client.post(f"{OPS}/update", json=[site(31, level=level), site(39, level=level)], headers=h)
    assert resp.status_code == 207 and resp.json()["success"] == ["urn:ngsi-ld:Site:b31"], resp.text
    assert [e["entityId"] for e in resp.json()["errors"]] == ["urn:ngsi-ld:Site:b39"]
    for op in ("update", "merge"):
        resp = client.post(f"{OPS}/{op}", json=[site(32, label={"type": "Property", "value": None})], headers=h)
        assert resp.status_code == 207 and resp.json()["errors"][0]["error"]["type"] == ERR + "BadRequestData", op
    resp = client.post(f"{OPS}/update", json=[{**site(32), "type": ["Site", "Vehicle"]}], headers=h)
    assert resp.status_code == 204, resp.text
    assert query(client, plain, "urn:ngsi-ld:Site:b32")[0]["type"] == ["Site", "Vehicle"]
    resp = client.post(f"{OPS}/delete", json=["urn:ngsi-ld:Site:b31", "urn:ngsi-ld:Site:b31"], headers=h)
    assert resp.status_code == 207 and resp.json()["success"] == ["urn:ngsi-ld:Site:b31"]
    assert [e["entityId"] for e in resp.json()["errors"]] == ["urn:ngsi-ld:Site:b31"]


def test_batch_merge_all_existing(client: Any, world: Any) -> None:
    """ETSI TP 057_01: a batch merge of existing entities 204; a partial instance keeps the members it omits."""
    plain = headers(world, "org_member_a")
    h = {**plain, **LD_HEADERS}
    level = {"type": "Property", "value": 4, "unitCode": "C62", "observedAt": "2020-09-09T16:40:00.000Z"}
    created = client.post(f"{OPS}/create", json=[site(41, level=level), site(42, level=level)], headers=h)
    assert created.status_code == 201
    change = {"type": "Property", "value": 1, "observedAt": "2024-01-01T00:00:00.000Z"}
    resp = client.post(f"{OPS}/merge", json=[site(41, level=change), site(42, level=change)], headers=h)
    assert resp.status_code == 204 and resp.text == "", resp.text
    for entity in query(client, plain, "urn:ngsi-ld:Site:b41", "urn:ngsi-ld:Site:b42"):
        assert entity["level"] == {**level, **change}, entity
