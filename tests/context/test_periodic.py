"""Periodic subscriptions (timeInterval): one notification per due interval with the current state, through the
same outbox and delivery as change notifications; refusals naming the member; inactive/expired never fire;
another unit's private entities are never included."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from cityhub.context import periodic
from cityhub.context.models import ContextNotification
from cityhub.kit import clock
from tests.context.helpers import E, entity_body, headers, problem
from tests.context.test_subscriptions import SUBS, _deliver, _queued, _Receiver, _sub, receiver

__all__ = ["receiver"]  # the fixture


def _pass(world: Any) -> int:
    world.session.expire_all()
    return periodic.run_due(world.session)


def test_periodic_notifies_current_state_each_interval(client: Any, world: Any, receiver: str) -> None:
    ha, hb = headers(world, "org_member_a"), headers(world, "org_member_b")
    client.post(E, json=entity_body("urn:ngsi-ld:AirQualityObserved:p1", pm25=20), headers=ha)
    client.post(E, json=entity_body("urn:ngsi-ld:AirQualityObserved:pb", pm25=50), headers=hb)  # B's, private
    resp = client.post(SUBS, json=_sub(receiver, timeInterval=60, notification={"format": "keyValues",
                                                                                "attributes": ["pm25"]}), headers=ha)
    assert resp.status_code == 201, resp.text
    sub_url = resp.headers["location"]
    assert client.get(sub_url, headers=ha).json()["timeInterval"] == 60
    start = clock.now()
    assert _pass(world) == 1  # due at creation: the current state
    assert _pass(world) == 0  # not due again yet
    client.patch(f"{E}/urn:ngsi-ld:AirQualityObserved:p1/attrs/pm25", json={"value": 33}, headers=ha)
    assert _queued(world) == 1  # a change does not notify a periodic subscription
    clock.set_now(start + timedelta(seconds=59))
    assert _pass(world) == 0
    clock.set_now(start + timedelta(seconds=61))
    assert _pass(world) == 1
    assert _pass(world) == 0
    assert _deliver(world) == {"delivered": 2, "retrying": 0, "failed": 0}
    data = [b["data"] for _h, b in _Receiver.received]
    assert data == [[{"id": "urn:ngsi-ld:AirQualityObserved:p1", "type": "AirQualityObserved", "pm25": 20}],
                    [{"id": "urn:ngsi-ld:AirQualityObserved:p1", "type": "AirQualityObserved", "pm25": 33}]]
    status = client.get(sub_url, headers=ha).json()["notification"]
    assert status["timesSent"] == 2 and status["status"] == "ok" and "lastSuccess" in status
    # paused, then expired: neither fires
    assert client.patch(sub_url, json={"isActive": False}, headers=ha).status_code == 204
    clock.set_now(start + timedelta(seconds=200))
    assert _pass(world) == 0
    client.patch(sub_url, json={"isActive": True, "expiresAt": (clock.now() - timedelta(seconds=1)).isoformat()
                                .replace("+00:00", "Z")}, headers=ha)
    clock.set_now(start + timedelta(seconds=400))
    assert _pass(world) == 0
    assert world.session.scalar(select(ContextNotification).where(
        ContextNotification.delivered.is_(False))) is None


@pytest.mark.parametrize(("change", "field"), [
    ({"timeInterval": 0}, "timeInterval"),
    ({"timeInterval": -5}, "timeInterval"),
    ({"timeInterval": "60"}, "timeInterval"),
    ({"timeInterval": True}, "timeInterval"),
    ({"timeInterval": 60, "watchedAttributes": ["pm25"]}, "watchedAttributes"),
    ({"timeInterval": 60, "throttling": 5}, "throttling"),
])
def test_bad_periodic_subscriptions_are_400(client: Any, world: Any, receiver: str, change: dict[str, Any],
                                            field: str) -> None:
    resp = client.post(SUBS, json=_sub(receiver, **change), headers=headers(world, "org_member_a"))
    assert resp.status_code == 400, resp.text
    assert field in problem(resp)["detail"]
