"""Behaviour checked against the ETSI NGSI-LD API test suite: subscription create, retrieve and delete (ETSI TP
028_02, 028_03, 030_02, 032_02, 032_03). Our own bodies; each test names the test purposes it guards."""

from __future__ import annotations

import re
from typing import Any

import pytest

from cityhub.kit.settings import get_settings
from tests.context.helpers import LD_HEADERS, headers, problem
from tests.context.test_etsi_entities import CTX, ERR

SUBS = "/ngsi-ld/v1/subscriptions"


def sub(**extra: Any) -> dict[str, Any]:
    return {"type": "Subscription", "entities": [{"type": "Site"}],
            "notification": {"endpoint": {"uri": "http://127.0.0.1:9/notify", "accept": "application/json"}},
            "@context": [CTX], **extra}


def test_subscription_lifecycle(client: Any, world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """ETSI TP 030_02, 032_02, 032_03 (a create as their setup): 201 with Location, 404 ResourceNotFound for
    unknown ids, delete 204 with an empty body, then 404."""
    monkeypatch.setattr(get_settings(), "egress_allowed_hosts", "127.0.0.1")
    h = {**headers(world, "org_member_a"), **LD_HEADERS}
    resp = client.post(SUBS, json=sub(id="urn:ngsi-ld:Subscription:e1"), headers=h)
    assert resp.status_code == 201 and "urn:ngsi-ld:Subscription:e1" in resp.headers["location"], resp.text
    plain = headers(world, "org_member_a")
    assert client.get(f"{SUBS}/urn:ngsi-ld:Subscription:e1", headers=plain).status_code == 200
    for method in ("GET", "DELETE"):
        resp = client.request(method, f"{SUBS}/urn:ngsi-ld:Subscription:unknown", headers=plain)
        assert resp.status_code == 404 and problem(resp)["type"] == ERR + "ResourceNotFound", method
    resp = client.delete(f"{SUBS}/urn:ngsi-ld:Subscription:e1", headers=plain)
    assert resp.status_code == 204 and resp.text == ""
    assert client.get(f"{SUBS}/urn:ngsi-ld:Subscription:e1", headers=plain).status_code == 404


def test_invalid_subscriptions(client: Any, world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """ETSI TP 028_02, 028_03: unreadable JSON 400 InvalidRequest; an empty object, an id that is not a URI or an
    empty id 400 BadRequestData."""
    monkeypatch.setattr(get_settings(), "egress_allowed_hosts", "127.0.0.1")
    h = {**headers(world, "org_member_a"), **LD_HEADERS}
    broken = client.post(SUBS, content=b'{"type": "Subscription", ', headers=h)
    assert broken.status_code == 400 and problem(broken)["type"] == ERR + "InvalidRequest"
    for body in ({"@context": [CTX]}, sub(id="invalidId"), sub(id="")):
        resp = client.post(SUBS, json=body, headers=h)
        assert resp.status_code == 400 and problem(resp)["type"] == ERR + "BadRequestData", (body, resp.text)


def test_update_errors(client: Any, world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """ETSI TP 029_02 (update of an unknown subscription: 404 ResourceNotFound), 029_03 (a fragment whose members
    break their types: 400 BadRequestData; the TP's own fragment is not in the mirror, ours breaks two members)."""
    monkeypatch.setattr(get_settings(), "egress_allowed_hosts", "127.0.0.1")
    h = {**headers(world, "org_member_a"), "Content-Type": "application/json"}
    change = {"type": "Subscription",
              "notification": {"format": "keyValues",
                               "endpoint": {"uri": "http://127.0.0.1:9/second", "accept": "application/json"}}}
    unknown = client.patch(f"{SUBS}/urn:ngsi-ld:Subscription:unknown", json=change, headers=h)
    assert unknown.status_code == 404 and problem(unknown)["type"] == ERR + "ResourceNotFound", unknown.text
    assert problem(unknown)["title"]
    resp = client.post(SUBS, json=sub(id="urn:ngsi-ld:Subscription:u1"), headers={**h, **LD_HEADERS})
    assert resp.status_code == 201, resp.text
    for fragment in ({"expiresAt": "not a time"}, {"notification": "not an object"}, {"throttling": "often"}):
        bad = client.patch(f"{SUBS}/urn:ngsi-ld:Subscription:u1", json=fragment, headers=h)
        assert bad.status_code == 400 and problem(bad)["type"] == ERR + "BadRequestData", (fragment, bad.text)
    ok = client.patch(f"{SUBS}/urn:ngsi-ld:Subscription:u1", json=change, headers=h)
    assert ok.status_code == 204 and ok.text == "", ok.text


def test_query_pages_with_links(client: Any, world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """ETSI TP 031_02_01-03: three subscriptions; limit=1&offset=1 has a prev and a next Link, the last page a
    prev only, limit=15 all three and neither."""
    monkeypatch.setattr(get_settings(), "egress_allowed_hosts", "127.0.0.1")
    h = {**headers(world, "org_member_a"), **LD_HEADERS}
    for n in (1, 2, 3):
        resp = client.post(SUBS, json=sub(id=f"urn:ngsi-ld:Subscription:q{n}"), headers=h)
        assert resp.status_code == 201, resp.text
    plain = {**headers(world, "org_member_a"), "Accept": "application/ld+json"}

    def links(resp: Any) -> dict[str, str]:
        out = {}
        for part in resp.headers.get_list("link"):
            for one in part.split(","):
                m = re.search(r'<([^>]*)>\s*;\s*rel="?(prev|next)"?', one)
                if m:
                    out[m.group(2)] = m.group(1)
        return out

    for limit, offset, count, prev, nxt in ((1, 1, 1, "limit=1&offset=0", "limit=1&offset=2"),
                                            (1, 2, 1, "limit=1&offset=1", None), (15, 0, 3, None, None)):
        resp = client.get(SUBS, params={"limit": limit, "offset": offset}, headers=plain)
        assert resp.status_code == 200 and len(resp.json()) == count, resp.text
        got = links(resp)
        assert ("prev" in got) == bool(prev) and ("next" in got) == bool(nxt), (limit, offset, got)
        if prev:
            assert got["prev"].startswith(SUBS) and prev in got["prev"], got
        if nxt:
            assert got["next"].startswith(SUBS) and nxt in got["next"], got


def test_create_variants(client: Any, world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """ETSI TP 028_04 (an id the broker knows: 409 AlreadyExists), 028_05 (throttling with timeInterval, a
    negative throttling: 400 BadRequestData), 028_07_01 (a jsonldContext that is no URI: 400 BadRequestData)."""
    monkeypatch.setattr(get_settings(), "egress_allowed_hosts", "127.0.0.1")
    h = {**headers(world, "org_member_a"), **LD_HEADERS}
    first = client.post(SUBS, json=sub(id="urn:ngsi-ld:Subscription:c1"), headers=h)
    assert first.status_code == 201, first.text
    again = client.post(SUBS, json=sub(id="urn:ngsi-ld:Subscription:c1"), headers=h)
    assert again.status_code == 409 and problem(again)["type"] == ERR + "AlreadyExists", again.text
    assert problem(again)["title"]
    for extra in ({"throttling": 5, "timeInterval": 10}, {"throttling": -1}, {"jsonldContext": "not a uri"}):
        resp = client.post(SUBS, json=sub(**extra), headers=h)
        assert resp.status_code == 400 and problem(resp)["type"] == ERR + "BadRequestData", (extra, resp.text)


def test_no_id_or_an_invalid_id(client: Any, world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """ETSI TP 029_01 (update), 032_01 (delete; a GET as well): no id in the path 405, an id that is not a URI
    400 BadRequestData; 031_01: the list holds every subscription created."""
    monkeypatch.setattr(get_settings(), "egress_allowed_hosts", "127.0.0.1")
    plain = headers(world, "org_member_a")
    h = {**plain, "Content-Type": "application/json"}
    change = {"type": "Subscription", "notification": {"format": "keyValues"}}
    assert client.patch(f"{SUBS}/", json=change, headers=h).status_code == 405
    assert client.delete(f"{SUBS}/", headers=plain).status_code == 405
    for method in ("PATCH", "DELETE", "GET"):
        resp = client.request(method, f"{SUBS}/InvalidUri", json=change if method == "PATCH" else None,
                              headers=h if method == "PATCH" else plain)
        assert resp.status_code == 400 and problem(resp)["type"] == ERR + "BadRequestData", (method, resp.text)
        assert problem(resp)["title"]
    ids = [f"urn:ngsi-ld:Subscription:l{n}" for n in (1, 2, 3)]
    for i, sid in enumerate(ids):
        extra: dict[str, Any] = {"isActive": False} if i == 2 else {"watchedAttributes": ["level"]} if i else {}
        assert client.post(SUBS, json=sub(id=sid, **extra), headers={**plain, **LD_HEADERS}).status_code == 201
    listed = client.get(SUBS, headers=plain)
    assert listed.status_code == 200 and sorted(s["id"] for s in listed.json()) == ids, listed.text
