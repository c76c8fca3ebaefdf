"""Change subscriptions on connect's devices, for changes made through connect's actions (not telemetry): a device
created, renamed, its status, position or asset changed. connect publishes `device.changed` in the changing
transaction; context queues one row (the same queue as telemetry) and the worker's pass matches it."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from cityhub.connect import service as connect
from cityhub.connect.schemas import DeviceCreate, DeviceUpdate
from cityhub.context import devicewatch
from cityhub.context.models import ContextTelemetryChange
from cityhub.kit.errors import CityhubError
from tests.connect.helpers import build_connect
from tests.context.helpers import headers
from tests.context.test_subscriptions import SUBS, _deliver, _Receiver, receiver

__all__ = ["receiver"]  # the fixture


@pytest.fixture
def cw(world: Any) -> Any:
    return build_connect(world)


def _waiting(world: Any) -> int:
    return int(world.session.scalar(select(func.count()).select_from(ContextTelemetryChange)) or 0)


def _pass(world: Any) -> int:
    world.session.expire_all()
    return devicewatch.run(world.session)


def _drain(world: Any) -> None:
    """Take what setting up the world queued (build_connect creates devices)."""
    _pass(world)
    _deliver(world)
    _Receiver.received.clear()


def _update(world: Any, who: str, device_id: Any, **changes: Any) -> None:
    connect.device_update(world.session, world.actors[who], device_id, DeviceUpdate(**changes))
    world.session.flush()


def _sub(client: Any, world: Any, receiver: str, who: str = "org_member_a", **extra: Any) -> None:
    body = {"type": "Subscription", "entities": [{"type": "Device"}],
            "notification": {"endpoint": {"uri": receiver}, **extra.pop("notification", {})}, **extra}
    resp = client.post(SUBS, json=body, headers=headers(world, who))
    assert resp.status_code == 201, resp.text


def _received(world: Any) -> list[dict[str, Any]]:
    assert _deliver(world)["failed"] == 0
    data = [e for _h, b in _Receiver.received for e in b["data"]]
    _Receiver.received.clear()
    return data


def test_connect_changes_notify_with_previous_values(client: Any, world: Any, cw: Any, receiver: str) -> None:
    dev = cw["dev_a"]
    eid = f"urn:ngsi-ld:Device:{dev.id}"
    _drain(world)
    _sub(client, world, receiver, notification={"showChanges": True})
    _sub(client, world, receiver, who="org_member_b")  # B does not see A's device
    _update(world, "org_admin_a", dev.id, name="主跨应变计 一号")
    assert _waiting(world) == 1  # one row, queued with the change
    assert _pass(world) == 1 and _waiting(world) == 0
    [got] = _received(world)
    assert got["id"] == eid and got["name"]["value"] == "主跨应变计 一号"
    assert got["name"]["previousValue"] == "主跨应变计 1"
    assert "previousValue" not in got["deviceState"]  # untouched
    # status, then position: each its own attribute, with its previous value
    _update(world, "org_admin_a", dev.id, status="disabled")
    _update(world, "org_admin_a", dev.id, lon=106.6, lat=29.57)
    assert _pass(world) == 1  # two changes in one pass: one notification, the newest state
    [got] = _received(world)
    assert got["deviceState"] == {"type": "Property", "value": "disabled", "previousValue": "active"}
    assert got["location"]["value"] == {"type": "Point", "coordinates": [106.6, 29.57]}
    # before its own position the device stood at its asset's (the span has none: it had no location)
    assert "previousValue" not in got["location"]
    # the same status again changes nothing: nothing queued
    _update(world, "org_admin_a", dev.id, status="disabled")
    assert _waiting(world) == 0


def test_watched_attributes_and_triggers(client: Any, world: Any, cw: Any, receiver: str) -> None:
    dev = cw["dev_a"]
    _drain(world)
    _sub(client, world, receiver, watchedAttributes=["controlledAsset"],
         notificationTrigger=["attributeUpdated", "attributeDeleted"],
         notification={"attributes": ["controlledAsset"], "showChanges": True})
    _update(world, "org_admin_a", dev.id, name="改名")
    assert _pass(world) == 0  # not the watched attribute
    _update(world, "org_admin_a", dev.id, asset_id=cw["bridge"].id)  # linked to another asset
    assert _pass(world) == 1
    [got] = _received(world)
    assert got["controlledAsset"]["object"] == f"urn:ngsi-ld:Bridge:{cw['bridge'].id}"
    assert got["controlledAsset"]["previousObject"] == f"urn:ngsi-ld:BridgeSpan:{cw['span'].id}"
    _update(world, "org_admin_a", dev.id, asset_id=None)  # unlinked: attributeDeleted
    assert _pass(world) == 1
    [got] = _received(world)
    assert "controlledAsset" not in got
    _update(world, "org_admin_a", dev.id, serial="SN-1")  # not an attribute of the entity: nothing notified
    assert _waiting(world) == 1 and _pass(world) == 0 and _waiting(world) == 0


def test_device_created_is_entity_created(client: Any, world: Any, cw: Any, receiver: str) -> None:
    _drain(world)
    _sub(client, world, receiver, notificationTrigger=["entityCreated"], notification={"format": "keyValues"})
    _update(world, "org_admin_a", cw["dev_a"].id, name="不算创建")
    new, _token = connect.device_create(world.session, world.actors["org_admin_a"], DeviceCreate(
        name="新应变计", org_id=world.orgs["dept_a"].id, profile_code="bridge-health", asset_id=cw["span"].id))
    world.session.flush()
    assert _pass(world) == 1
    [got] = _received(world)
    assert got["id"] == f"urn:ngsi-ld:Device:{new.id}" and got["name"] == "新应变计"


def test_refused_changes_queue_nothing(client: Any, world: Any, cw: Any, receiver: str) -> None:
    _drain(world)
    _sub(client, world, receiver)
    for who in ("org_member_b", "district_admin", "auditor"):  # others: refused before anything changed
        with pytest.raises(CityhubError):
            _update(world, who, cw["dev_a"].id, name="别人的")
    assert _waiting(world) == 0
    _update(world, "org_admin_a", cw["dev_a"].id, status="decommissioned")
    assert _waiting(world) == 1 and _pass(world) == 1
    with pytest.raises(CityhubError):  # decommissioned is final: an illegal transition changes nothing
        _update(world, "org_admin_a", cw["dev_a"].id, status="active")
    assert _waiting(world) == 0
