"""Change subscriptions on connect's devices: a stored ingest batch queues one row in its transaction, and the
worker's pass notifies the subscriptions its devices match (selectors, watchedAttributes, q, visibility, grants),
one notification per subscription and pass."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from cityhub.connect import service as connect
from cityhub.context import devicewatch
from cityhub.context.models import ContextGrant, ContextTelemetryChange
from cityhub.kit import clock
from tests.connect.helpers import build_connect, message
from tests.context.helpers import headers
from tests.context.test_subscriptions import SUBS, _deliver, _queued, _Receiver, receiver

__all__ = ["receiver"]  # the fixture


@pytest.fixture
def cw(world: Any) -> Any:
    built = build_connect(world)
    devicewatch.run(world.session)  # creating the devices queued their creation: taken (no subscription yet)
    return built


def _ingest(world: Any, device_id: Any, **values: float) -> None:
    at = clock.now() - timedelta(seconds=1)
    r = connect.ingest_messages(world.session, [message(device_id, {"ts": at.isoformat(), "values": values},
                                                        clock.now())])
    assert r.stored == len(values), r
    world.session.flush()


def _waiting(world: Any) -> int:
    return int(world.session.scalar(select(func.count()).select_from(ContextTelemetryChange)) or 0)


def _pass(world: Any) -> int:
    world.session.expire_all()
    return devicewatch.run(world.session)


def _device_sub(receiver: str, **extra: Any) -> dict[str, Any]:
    return {"type": "Subscription", "entities": [{"type": "Device"}],
            "notification": {"endpoint": {"uri": receiver}, **extra.pop("notification", {})}, **extra}


def test_new_telemetry_notifies_device_subscriptions(client: Any, world: Any, cw: Any, receiver: str) -> None:
    ha, hb = headers(world, "org_member_a"), headers(world, "org_member_b")
    dev_a, dev_b = cw["dev_a"].id, cw["dev_b"].id
    eid_a, eid_b = f"urn:ngsi-ld:Device:{dev_a}", f"urn:ngsi-ld:Device:{dev_b}"
    _ingest(world, dev_a, strain=50.0)
    assert _waiting(world) == 1  # queued with the batch
    assert _pass(world) == 0 and _waiting(world) == 0  # no subscription: taken and dropped
    resp = client.post(SUBS, json=_device_sub(receiver, watchedAttributes=["strain"], q="strain>100",
                                              notification={"format": "keyValues", "attributes": ["strain"]}),
                       headers=ha)
    assert resp.status_code == 201, resp.text
    assert client.post(SUBS, json=_device_sub(receiver, notification={"format": "keyValues",
                                                                      "attributes": ["pm25"]}),
                       headers=hb).status_code == 201
    _ingest(world, dev_a, strain=90.0)
    assert _pass(world) == 0  # q does not hold
    _ingest(world, dev_a, strain=120.5, temperature=21.0)
    _ingest(world, dev_a, strain=130.0)  # two batches, one pass: one notification with the newest state
    assert _waiting(world) == 2
    assert _pass(world) == 1 and _waiting(world) == 0  # B's subscription does not see A's device
    _ingest(world, dev_a, temperature=22.0)
    assert _pass(world) == 0  # strain, the watched attribute, untouched
    _ingest(world, dev_b, pm25=35.0)
    assert _pass(world) == 1  # B's own device
    assert _queued(world) == 2
    assert _deliver(world) == {"delivered": 2, "retrying": 0, "failed": 0}
    data = sorted((b["data"] for _h, b in _Receiver.received), key=lambda d: d[0]["id"] == eid_b)
    assert data == [[{"id": eid_a, "type": "Device", "strain": 130.0}],
                    [{"id": eid_b, "type": "Device", "pm25": 35.0}]]
    # a public read grant of A's entities: B's subscription now sees A's device too
    world.session.add(ContextGrant(owner_org_id=world.orgs["dept_a"].id, grantee_org_id=None, entity_type=""))
    world.session.flush()
    _ingest(world, dev_a, strain=140.0)
    _ingest(world, dev_b, pm25=36.0)
    assert _pass(world) == 2  # A's (strain 140 > 100) and B's (both devices)
    assert _deliver(world)["delivered"] == 2
    last: list[list[dict[str, Any]]] = [b["data"] for _h, b in _Receiver.received[2:]]
    assert sorted(len(d) for d in last) == [1, 2]
    both = sorted(last[0] if len(last[0]) == 2 else last[1], key=lambda e: e["id"] != eid_a)  # A's first
    assert both == [{"id": eid_a, "type": "Device"}, {"id": eid_b, "type": "Device", "pm25": 36.0}]  # A's: no pm25


def test_paused_and_typed_subscriptions_are_not_notified(client: Any, world: Any, cw: Any, receiver: str) -> None:
    ha = headers(world, "org_member_a")
    assert client.post(SUBS, json=_device_sub(receiver, isActive=False), headers=ha).status_code == 201
    assert client.post(SUBS, json={"type": "Subscription", "entities": [{"type": "AirQualityObserved"}],
                                   "notification": {"endpoint": {"uri": receiver}}}, headers=ha).status_code == 201
    _ingest(world, cw["dev_a"].id, strain=200.0)
    assert _pass(world) == 0 and _waiting(world) == 0 and _queued(world) == 0
