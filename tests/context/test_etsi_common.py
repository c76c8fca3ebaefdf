"""Behaviour checked against the ETSI NGSI-LD API test suite: common behaviours (ETSI TP 043 to 049, 059).

Our own bodies; each test names the test purposes it guards.
"""

from __future__ import annotations

from typing import Any

import pytest

from cityhub.kit.settings import get_settings
from tests.context.helpers import LD_HEADERS, E, headers, ld_link, problem
from tests.context.test_etsi_entities import CTX, ERR

V1 = "/ngsi-ld/v1"
SUBS = f"{V1}/subscriptions"
TEMPORAL = f"{V1}/temporal/entities"
GONE = "https://example.org/etsi/unreachable.jsonld"


@pytest.fixture
def subscription(client: Any, world: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(get_settings(), "egress_allowed_hosts", "127.0.0.1")
    body = {"id": "urn:ngsi-ld:Subscription:c1", "type": "Subscription", "entities": [{"type": "Site"}],
            "notification": {"endpoint": {"uri": "http://127.0.0.1:9/notify"}}}
    resp = client.post(SUBS, json=body, headers={**headers(world, "org_member_a"), "Link": ld_link(CTX)})
    assert resp.status_code == 201, resp.text
    return "urn:ngsi-ld:Subscription:c1"


def test_accept(client: Any, world: Any, subscription: str) -> None:
    """ETSI TP 045_01 to 045_04, 049_01, 049_02: */* is JSON with a Link header; equal weights follow the list
    json, ld+json, geo+json; q=0 refuses a type even beside */*; a weight that does not parse keeps the default;
    geo+json only on retrieve and query; nothing producible is a 406."""
    h = headers(world, "org_member_a")
    assert client.post(E, json={"id": "urn:ngsi-ld:Site:a1", "type": "Site"}, headers=h).status_code == 201
    entity = f"{E}/urn:ngsi-ld:Site:a1"
    for accept, media in (("*/*", "application/json"), ("application/ld+json, application/json", "application/json"),
                          ("application/geo+json, application/json", "application/json"),
                          ("application/json;q=0.1, application/ld+json;q=0.9", "application/ld+json"),
                          ("application/ld+json", "application/ld+json"),
                          ("application/json;q=0, */*", "application/ld+json"),
                          ("application/json;q=0, application/ld+json", "application/ld+json"),
                          ("*/*;q=0.9, application/ld+json;q=0.8", "application/json"),
                          ("application/ld+json;q=notanumber", "application/ld+json")):
        for url in (entity, f"{E}?type=Site"):
            resp = client.get(url, headers={**h, "Accept": accept})
            assert resp.status_code == 200 and resp.headers["content-type"].startswith(media), (accept, url)
    star = client.get(entity, headers={**h, "Accept": "*/*"})
    assert star.headers["link"]
    for accept, media in (("application/geo+json, application/json", "application/json"),
                          ("application/geo+json;q=0.9, application/ld+json;q=0.1", "application/ld+json"),
                          ("*/*", "application/json"), ("application/json;q=0, application/ld+json",
                                                        "application/ld+json")):
        resp = client.get(f"{SUBS}/{subscription}", headers={**h, "Accept": accept})
        assert resp.status_code == 200 and resp.headers["content-type"].startswith(media), accept
    for url in (entity, f"{SUBS}/{subscription}", f"{TEMPORAL}?type=Site&timerel=after&timeAt=2020-08-01T12:05:00Z"):
        assert client.get(url, headers={**h, "Accept": "application/xml"}).status_code == 406, url
    for url in (f"{SUBS}/{subscription}", f"{TEMPORAL}?type=Site&timerel=after&timeAt=2020-08-01T12:05:00Z"):
        resp = client.get(url, headers={**h, "Accept": "application/geo+json"})
        assert resp.status_code == 406 and problem(resp)["type"] == ERR + "NotAcceptable", url


def test_content_types(client: Any, world: Any, subscription: str) -> None:
    """ETSI TP 044_01, 044_02, 048_01: merge-patch+json on the PATCH of an attribute and of a subscription;
    application/xml is a 415 on every write."""
    h = {**headers(world, "org_member_a"), "Link": ld_link(CTX)}
    body = {"id": "urn:ngsi-ld:Site:m1", "type": "Site", "label": {"type": "Property", "value": "x"}}
    assert client.post(E, json=body, headers=h).status_code == 201
    merge = {**h, "Content-Type": "application/merge-patch+json"}
    assert client.patch(f"{E}/urn:ngsi-ld:Site:m1/attrs/label", json={"value": "y"}, headers=merge).status_code == 204
    assert client.patch(f"{SUBS}/{subscription}", json={"description": "d"}, headers=merge).status_code == 204
    xml = {**h, "Content-Type": "application/xml"}
    for method, url in (("PATCH", f"{E}/urn:ngsi-ld:Site:m1/attrs/label"), ("PATCH", f"{SUBS}/{subscription}"),
                        ("POST", E), ("POST", SUBS), ("POST", f"{V1}/entityOperations/create"), ("POST", TEMPORAL)):
        resp = client.request(method, url, content=b"{}", headers=xml)
        assert resp.status_code == 415 and problem(resp)["type"] == ERR + "UnsupportedMediaType", (method, url)


def test_unknown_query_parameters(client: Any, world: Any) -> None:
    """ETSI TP 059_01: a query parameter the operation does not define is a 400 InvalidRequest."""
    h = {**headers(world, "org_member_a"), **LD_HEADERS}
    body = b'{"id": "urn:ngsi-ld:Site:p1", "type": "Site", "@context": "' + CTX.encode() + b'"}'
    for method, url in (("POST", E), ("GET", f"{E}?type=Site"), ("POST", TEMPORAL), ("GET", f"{TEMPORAL}?type=Site"),
                        ("GET", f"{V1}/types"), ("POST", SUBS), ("GET", SUBS)):
        sep = "&" if "?" in url else "?"
        resp = client.request(method, f"{url}{sep}invalidParams=invalidValue",
                              content=body if method == "POST" else None, headers=h)
        assert resp.status_code == 400 and problem(resp)["type"] == ERR + "InvalidRequest", (method, url, resp.text)
    assert client.get(f"{E}?type=Site&local=true", headers=headers(world, "org_member_a")).status_code == 200


def test_unreachable_context(client: Any, world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """ETSI TP 043_01: a remote @context that cannot be fetched is a 503 LdContextNotAvailable (in a batch, each
    element's error)."""
    monkeypatch.setattr(get_settings(), "egress_allowed_hosts", "127.0.0.1")
    h = {**headers(world, "org_member_a"), **LD_HEADERS}
    entity = {"id": "urn:ngsi-ld:Site:u1", "type": "Site", "@context": [GONE]}
    sub = {"id": "urn:ngsi-ld:Subscription:u1", "type": "Subscription", "entities": [{"type": "Site"}],
           "notification": {"endpoint": {"uri": "http://127.0.0.1:9/notify"}}, "@context": [GONE]}
    for url, body in ((E, entity), (SUBS, sub), (TEMPORAL, entity)):
        resp = client.post(url, json=body, headers=h)
        assert resp.status_code == 503 and problem(resp)["type"] == ERR + "LdContextNotAvailable", (url, resp.text)
    batch = client.post(f"{V1}/entityOperations/create", json=[entity, {**entity, "id": "urn:ngsi-ld:Site:u2"}],
                        headers=h)
    assert batch.status_code == 207, batch.text
    assert [e["error"]["type"] for e in batch.json()["errors"]] == [ERR + "LdContextNotAvailable"] * 2


def test_tenant(client: Any, world: Any) -> None:
    """ETSI TP 414_01, 5510_01 (checked in part; tenants are organisations, docs/context.md): the tenant header
    is echoed on answers and errors; an unknown tenant is a 404 NonexistentTenant; no header is never one."""
    h = headers(world, "org_member_a")
    unit = world.orgs["dept_a"].code
    resp = client.post(E, json={"id": "urn:ngsi-ld:Site:t1", "type": "Site"}, headers={**h, "NGSILD-Tenant": unit})
    assert resp.status_code == 201 and resp.headers["NGSILD-Tenant"] == unit, resp.text
    got = client.get(f"{E}/urn:ngsi-ld:Site:t1", headers={**h, "NGSILD-Tenant": unit})
    assert got.status_code == 200 and got.headers["NGSILD-Tenant"] == unit
    unknown = client.get(f"{E}?type=Site", headers={**h, "NGSILD-Tenant": "tp5510-none"})
    assert unknown.status_code == 404 and problem(unknown)["type"] == ERR + "NonexistentTenant"
    assert unknown.headers["NGSILD-Tenant"] == "tp5510-none"
    assert client.get(f"{E}?type=Site", headers=h).status_code == 200
