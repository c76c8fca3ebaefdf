"""Behaviour checked against the ETSI NGSI-LD API test suite: subscription create, retrieve and delete (ETSI TP
028_02, 028_03, 030_02, 032_02, 032_03). Our own bodies; each test names the test purposes it guards."""

from __future__ import annotations

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
