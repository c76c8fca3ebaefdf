"""The single-entity GET's fast path (`context/fast.py`) answers exactly as the route, and hands on the rest."""

from __future__ import annotations

from typing import Any

import pytest

from cityhub.context import service as context
from cityhub.context import store
from cityhub.context.schemas import GrantCreate
from cityhub.core import service as core_service
from tests.context.helpers import CORE, USER_CTX, E, entity_body, headers, ld_link, problem

AIR = "urn:ngsi-ld:AirQualityObserved:fast1"
KEPT = ("content-type", "link", "content-security-policy", "x-content-type-options", "x-frame-options",
        "referrer-policy")


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ids the fast path read itself (the route reads through `store.entity_get`, not `entity_read`)."""
    seen: list[str] = []
    real = store.entity_read

    def spy(session: Any, actor: Any, entity_id: str) -> Any:
        row = real(session, actor, entity_id)
        if row is not None:
            seen.append(entity_id)
        return row

    monkeypatch.setattr(store, "entity_read", spy)  # fast.py calls store.entity_read
    # the identity cache (PostgreSQL's push cache, off in tests) knows every token: its hit is the token's actor
    monkeypatch.setattr(core_service, "cached_token_actor", _known)
    return seen


def _known(session: Any, raw: str) -> Any:
    try:
        return core_service.authenticate_token(session, raw)
    except Exception:
        return None  # a cache holds only valid tokens


def _same(a: Any, b: Any) -> None:
    assert (a.status_code, a.json()) == (b.status_code, b.json())
    assert {k: a.headers.get(k) for k in KEPT} == {k: b.headers.get(k) for k in KEPT}
    assert a.headers.get("x-request-id") and b.headers.get("x-request-id")


def test_plain_gets_answer_as_the_route(client: Any, world: Any, served: list[str]) -> None:
    h = headers(world, "org_member_a")
    assert client.post(E, json=entity_body(AIR), headers=h).status_code == 201
    first = client.get(f"{E}/{AIR}", headers=h)
    served.clear()
    routed = client.get(f"{E}/{AIR}", params={"format": "normalized"}, headers=h)  # a parameter: the route
    assert served == []
    second = client.get(f"{E}/{AIR}", headers=h)
    _same(routed, second)
    _same(first, second)
    assert second.json()["pm25"]["value"] == 35.5 and second.headers["content-type"] == "application/json"
    assert CORE in second.headers["link"]
    ld = client.get(f"{E}/{AIR}", headers={**h, "Accept": "application/ld+json"})
    assert ld.status_code == 200 and ld.json()["@context"] and "link" not in ld.headers
    # the fast path served the token's later plain GETs whenever the identity cache (PostgreSQL) knew it
    assert served == [AIR, AIR]  # the plain GET and the JSON-LD one; the one with a parameter went to the route
    # a caller's own request id comes back; a change is seen at once (nothing is cached but the statement)
    again = client.get(f"{E}/{AIR}", headers={**h, "X-Request-Id": "abc-1"})
    assert again.headers["x-request-id"] == "abc-1"
    assert client.patch(f"{E}/{AIR}", json={"pm25": 40}, headers=h).status_code == 204
    assert client.get(f"{E}/{AIR}", headers=h).json()["pm25"]["value"] == 40


def test_everything_else_is_the_routes_answer(client: Any, world: Any, served: list[str]) -> None:
    h, b = headers(world, "org_member_a"), headers(world, "org_member_b")
    assert client.post(E, json=entity_body(AIR), headers=h).status_code == 201
    client.get(f"{E}/{AIR}", headers=h)
    client.get(f"{E}/{AIR}", headers=b)
    served.clear()
    # not visible, unknown, not a URI: the route's ProblemDetails
    hidden = client.get(f"{E}/{AIR}", headers=b)
    assert hidden.status_code == 404 and problem(hidden)["type"].endswith("ResourceNotFound")
    assert client.get(f"{E}/urn:ngsi-ld:X:none", headers=h).status_code == 404
    assert client.get(f"{E}/not-a-uri", headers=h).status_code == 400
    anon = client.get(f"{E}/{AIR}")
    assert anon.status_code == 404
    # parameters, negotiation and headers the fast path does not serve
    kv = client.get(f"{E}/{AIR}", params={"options": "keyValues"}, headers=h)
    assert kv.status_code == 200 and kv.json()["pm25"] == 35.5
    assert client.get(f"{E}/{AIR}", headers={**h, "Accept": "text/html"}).status_code == 406
    geo = client.get(f"{E}/{AIR}", headers={**h, "Accept": "application/geo+json"})
    assert geo.status_code == 200 and geo.json()["type"] == "Feature"
    linked = client.get(f"{E}/{AIR}", headers={**h, "Link": ld_link(USER_CTX)})
    assert linked.status_code == 200 and USER_CTX in linked.headers["link"]
    assert client.get(f"{E}/{AIR}", headers={**h, "NGSILD-Tenant": "nope"}).status_code == 404
    assert client.get(f"{E}/{AIR}", headers={"Authorization": "Bearer chub_x_y"}).status_code == 401
    assert served == []
    # a public grant: anonymous callers read it (and then through the fast path too)
    context.grant_create(world.session, world.actors["org_admin_a"], GrantCreate(
        owner_org_id=world.orgs["dept_a"].id, grantee_org_id=None))
    world.session.flush()
    public = client.get(f"{E}/{AIR}")
    assert public.status_code == 200 and public.json()["id"] == AIR and served == [AIR]
