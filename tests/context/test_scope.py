"""Entity scopes (clause 4.18) and scopeQ (4.19): `scope` stored, checked and rendered on every write path, and
scopeQ evaluated in SQL on GET /entities, the POST query and the temporal queries, with paging and counts exact."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from cityhub.context import scopeq
from cityhub.context.models import ContextEntityScope
from cityhub.context.problems import NgsiError
from tests.context.helpers import E, headers, problem

OPS = "/ngsi-ld/v1/entityOperations"
T = "/ngsi-ld/v1/temporal/entities"
SCOPES = {
    "urn:s:1": "/Madrid",
    "urn:s:2": "/Madrid/Gardens",
    "urn:s:3": ["/Madrid/Gardens/ParqueNorte", "/Spain/Public"],
    "urn:s:4": "/Madrid/Roads",
    "urn:s:5": "/Barcelona/Gardens",
    "urn:s:6": None,
}


def _body(eid: str, scope: Any, value: float = 1) -> dict[str, Any]:
    body: dict[str, Any] = {"id": eid, "type": "Park", "area": {"type": "Property", "value": value,
                                                                "observedAt": "2026-12-01T08:00:00Z"}}
    if scope is not None:
        body["scope"] = scope
    return body


def _world(client: Any, world: Any) -> dict[str, str]:
    h = headers(world, "org_member_a")
    for eid, scope in SCOPES.items():
        resp = client.post(E, json=_body(eid, scope), headers=h)
        assert resp.status_code == 201, resp.text
    return h


def _ids(resp: Any) -> list[str]:
    assert resp.status_code == 200, resp.text
    return [e["id"] for e in resp.json()]


CASES = [
    ("/Madrid", ["urn:s:1"]),
    ("/Madrid/#", ["urn:s:1", "urn:s:2", "urn:s:3", "urn:s:4"]),
    ("/Madrid/+", ["urn:s:2", "urn:s:4"]),
    ("/+/Gardens", ["urn:s:2", "urn:s:5"]),
    ("/+/Gardens/#", ["urn:s:2", "urn:s:3", "urn:s:5"]),
    ("/#", ["urn:s:1", "urn:s:2", "urn:s:3", "urn:s:4", "urn:s:5"]),
    ("/Madrid/Gardens/#;/Spain/Public", ["urn:s:3"]),
    ("/Madrid,/Barcelona/#", ["urn:s:1", "urn:s:5"]),
    ("(/Madrid/#;/Spain/#),/Barcelona/Gardens", ["urn:s:3", "urn:s:5"]),
    ("/Madrid/Roads,/Madrid/Gardens/#;/Spain/Public", ["urn:s:3", "urn:s:4"]),  # ; binds tighter than ,
    ("/Mad", []),
    ("/Madrid_", []),
]


def test_scope_is_stored_checked_and_rendered(client: Any, world: Any) -> None:
    h = _world(client, world)
    assert client.get(f"{E}/urn:s:2", headers=h).json()["scope"] == "/Madrid/Gardens"  # the fast GET
    full = client.get(f"{E}/urn:s:3", params={"options": "keyValues"}, headers=h).json()
    assert full["scope"] == ["/Madrid/Gardens/ParqueNorte", "/Spain/Public"] and full["area"] == 1
    assert "scope" not in client.get(f"{E}/urn:s:6", headers=h).json()
    for bad_scope in ("Madrid", "/Madrid/", "/a//b", "/a/+", "/a/#", "/a b", ["/a", 5], [], 7, "/a;b", "/a,b", "/"):
        resp = client.post(E, json=_body("urn:s:bad", bad_scope), headers=h)
        assert resp.status_code == 400 and "scope" in problem(resp)["detail"], (bad_scope, resp.text)
    assert client.get(f"{E}/urn:s:bad", headers=h).status_code == 404  # nothing half-written
    # replace: the body's scope, none when it has none
    assert client.put(f"{E}/urn:s:1", json={"type": "Park", "scope": ["/Lisbon"], "area": 2},
                      headers=h).status_code == 204
    assert client.get(f"{E}/urn:s:1", headers=h).json()["scope"] == "/Lisbon"
    assert client.put(f"{E}/urn:s:1", json={"type": "Park", "area": 2}, headers=h).status_code == 204
    assert "scope" not in client.get(f"{E}/urn:s:1", headers=h).json()
    # merge-patch: a scope given replaces the entity's; urn:ngsi-ld:null removes it
    assert client.patch(f"{E}/urn:s:2", json={"scope": "/Madrid/Parks"}, headers=h).status_code == 204
    assert client.get(f"{E}/urn:s:2", headers=h).json()["scope"] == "/Madrid/Parks"
    assert client.patch(f"{E}/urn:s:2", json={"scope": "urn:ngsi-ld:null"}, headers=h).status_code == 204
    assert "scope" not in client.get(f"{E}/urn:s:2", headers=h).json()
    assert client.patch(f"{E}/urn:s:2", json={"scope": "Madrid"}, headers=h).status_code == 400
    # append: added to the entity's scopes
    assert client.post(f"{E}/urn:s:4/attrs", json={"scope": ["/Madrid/Roads", "/City"], "x": 1},
                       headers=h).status_code == 204
    assert client.get(f"{E}/urn:s:4", headers=h).json()["scope"] == ["/Madrid/Roads", "/City"]
    assert _ids(client.get(E, params={"scopeQ": "/City"}, headers=h)) == ["urn:s:4"]
    assert _ids(client.get(E, params={"scopeQ": "/Lisbon,/Madrid/Parks,/Madrid/Gardens"}, headers=h)) == []
    # batch create and upsert (the bulk path) store scopes too
    batch = [_body("urn:s:b1", "/Batch/One"), _body("urn:s:b2", ["/Batch/Two", "/Batch/One"])]
    assert client.post(f"{OPS}/create", json=batch, headers=h).status_code == 201
    assert _ids(client.get(E, params={"scopeQ": "/Batch/One"}, headers=h)) == ["urn:s:b1", "urn:s:b2"]
    assert client.post(f"{OPS}/upsert", json=[_body("urn:s:b2", "/Batch/Three")], headers=h).status_code == 204
    assert _ids(client.get(E, params={"scopeQ": "/Batch/One"}, headers=h)) == ["urn:s:b1"]
    assert client.get(f"{E}/urn:s:b2", headers=h).json()["scope"] == "/Batch/Three"
    upsert_bad = client.post(f"{OPS}/upsert", json=[_body("urn:s:b3", "nope")], headers=h)
    assert upsert_bad.status_code == 207 and upsert_bad.json()["errors"][0]["entityId"] == "urn:s:b3"
    # deleting an entity deletes its scope rows
    assert client.delete(f"{E}/urn:s:b1", headers=h).status_code == 204
    world.session.expire_all()
    left = world.session.scalar(select(func.count()).select_from(ContextEntityScope).where(
        ContextEntityScope.scope == "/Batch/One"))
    assert left == 0


def test_scope_query_on_entities(client: Any, world: Any) -> None:
    h = _world(client, world)
    for expr, expected in CASES:
        assert _ids(client.get(E, params={"scopeQ": expr}, headers=h)) == expected, expr
        posted = client.post(f"{OPS}/query", json={"type": "Query", "scopeQ": expr}, headers=h)
        assert _ids(posted) == expected, expr
        with_type = client.get(E, params={"scopeQ": expr, "type": "Park", "count": "true"}, headers=h)
        assert _ids(with_type) == expected and with_type.headers["NGSILD-Results-Count"] == str(len(expected))
    # paging after the filter: each page and the count are those of the matching entities
    pages = [_ids(client.get(E, params={"scopeQ": "/Madrid/#", "limit": 1, "offset": i, "count": "true"},
                             headers=h)) for i in range(5)]
    assert pages == [["urn:s:1"], ["urn:s:2"], ["urn:s:3"], ["urn:s:4"], []]
    counted = client.get(E, params={"scopeQ": "/Madrid/#", "limit": 0, "count": "true"}, headers=h)
    assert counted.headers["NGSILD-Results-Count"] == "4" and counted.json() == []
    # with the other filters
    assert _ids(client.get(E, params={"scopeQ": "/Madrid/#", "q": "area==1", "idPattern": "[34]$"},
                           headers=h)) == ["urn:s:3", "urn:s:4"]
    # others see no private entity, whatever the scope
    assert _ids(client.get(E, params={"scopeQ": "/#"}, headers=headers(world, "org_member_b"))) == []


def test_scope_query_on_temporal_queries(client: Any, world: Any) -> None:
    h = _world(client, world)
    for expr, expected in CASES[:6]:
        got = client.get(T, params={"scopeQ": expr, "count": "true"}, headers=h)
        assert _ids(got) == expected and got.headers["NGSILD-Results-Count"] == str(len(expected)), expr
        posted = client.post("/ngsi-ld/v1/temporal/entityOperations/query",
                             json={"type": "Query", "scopeQ": expr, "temporalQ": {"lastN": 1}}, headers=h)
        assert _ids(posted) == expected, expr
    one = client.get(T, params={"scopeQ": "/Madrid/+", "limit": 1, "offset": 1}, headers=h).json()
    assert [e["id"] for e in one] == ["urn:s:4"] and one[0]["scope"] == "/Madrid/Roads"
    assert one[0]["area"][0]["value"] == 1
    assert client.get(f"{T}/urn:s:3", headers=h).json()["scope"] == ["/Madrid/Gardens/ParqueNorte", "/Spain/Public"]


@pytest.mark.parametrize("expr", ["Madrid", "/Madrid/#/Gardens", "(/Madrid", "/Madrid)", "/Madrid;;/Spain",
                                  "/Madrid,", ";/Madrid", "/Madrid /Spain", "/Mad#rid", "/a//b", "()", "/a|/b",
                                  "/" + "a" * 600])
def test_bad_scope_queries(client: Any, world: Any, expr: str) -> None:
    h = headers(world, "org_member_a")
    for resp in (client.get(E, params={"scopeQ": expr}, headers=h),
                 client.post(f"{OPS}/query", json={"type": "Query", "scopeQ": expr}, headers=h),
                 client.get(T, params={"scopeQ": expr}, headers=h)):
        assert resp.status_code == 400, (expr, resp.text)
        assert "scopeQ" in problem(resp)["detail"] or expr.startswith("/aaa"), (expr, resp.json())


def test_scopeq_in_python_agrees_with_the_cases() -> None:
    for expr, expected in CASES:
        tree = scopeq.parse(expr)
        hits = [eid for eid, s in SCOPES.items() if s is not None and scopeq.matches(
            tree, s if isinstance(s, list) else [s])]
        assert hits == expected, expr
    with pytest.raises(NgsiError):
        scopeq.parse("")
