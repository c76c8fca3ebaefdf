"""Subscriptions: CRUD, matching (entities, watchedAttributes, q, geoQ, visibility, throttling) and delivery to a
real local HTTP receiver and to Mosquitto, with retries and the status members."""

from __future__ import annotations

import http.server
import json
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any, ClassVar

import httpx
import pytest
from sqlalchemy import func, select

from cityhub.context import notify
from cityhub.context.models import ContextNotification
from cityhub.context.schemas import GrantCreate
from cityhub.context.service import grant_create
from cityhub.kit import clock
from cityhub.kit.settings import get_settings
from tests.conftest import need_service
from tests.context.helpers import E, entity_body, headers, problem

SUBS = "/ngsi-ld/v1/subscriptions"
OPS = "/ngsi-ld/v1/entityOperations"


class _Receiver(http.server.BaseHTTPRequestHandler):
    statuses: ClassVar[list[int]] = []
    received: ClassVar[list[tuple[dict[str, str], dict[str, Any]]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        status = self.statuses.pop(0) if self.statuses else 204
        if status < 300:
            type(self).received.append(({k.lower(): v for k, v in self.headers.items()}, json.loads(body)))
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 (allow-listed) recording the notifications it accepts."""
    monkeypatch.setattr(get_settings(), "egress_allowed_hosts", "127.0.0.1")
    _Receiver.statuses, _Receiver.received = [], []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/notify"
    finally:
        server.shutdown()
        server.server_close()


def _sub(uri: str, **extra: Any) -> dict[str, Any]:
    return {"type": "Subscription", "entities": [{"type": "AirQualityObserved"}],
            "notification": {"endpoint": {"uri": uri}, **extra.pop("notification", {})}, **extra}


def _deliver(world: Any) -> dict[str, int]:
    world.session.expire_all()
    with httpx.Client(timeout=5) as http:
        out = notify.deliver(world.session, http)
    world.session.flush()
    return out


def _queued(world: Any) -> int:
    return int(world.session.scalar(select(func.count()).select_from(ContextNotification)) or 0)


def test_crud_and_status(client: Any, world: Any, receiver: str) -> None:
    h = headers(world, "org_member_a")
    resp = client.post(SUBS, json=_sub(receiver, id="urn:ngsi-ld:Subscription:s1", subscriptionName="air",
                                       q="pm25>30", notification={"format": "keyValues", "attributes": ["pm25"]}),
                       headers=h)
    assert resp.status_code == 201 and resp.headers["location"] == f"{SUBS}/urn:ngsi-ld:Subscription:s1"
    got = client.get(f"{SUBS}/urn:ngsi-ld:Subscription:s1", headers=h)
    assert got.status_code == 200 and "Link" in got.headers
    body = got.json()
    assert body["status"] == "active" and body["isActive"] is True and body["q"] == "pm25>30"
    assert body["notification"]["endpoint"] == {"uri": receiver, "accept": "application/json"}
    assert body["notification"]["timesSent"] == 0 and "status" not in body["notification"]
    assert client.post(SUBS, json=_sub(receiver, id="urn:ngsi-ld:Subscription:s1"), headers=h).status_code == 409
    assert client.post(SUBS, json=_sub(receiver), headers=h).status_code == 201  # a generated id
    listed = client.get(SUBS, params={"count": "true"}, headers=h)
    assert listed.headers["NGSILD-Results-Count"] == "2" and len(listed.json()) == 2
    for paging in ({"offset": "-1"}, {"offset": str(2**85)}, {"limit": "5000"}):  # 400s, never a 500
        assert client.get(SUBS, params=paging, headers=h).status_code == 400, paging
    resp = client.patch(f"{SUBS}/urn:ngsi-ld:Subscription:s1", json={"isActive": False, "q": "pm25>40"},
                        headers=h)
    assert resp.status_code == 204
    body = client.get(f"{SUBS}/urn:ngsi-ld:Subscription:s1", headers=h).json()
    assert body["status"] == "paused" and body["q"] == "pm25>40"
    resp = client.patch(f"{SUBS}/urn:ngsi-ld:Subscription:s1", json={"q": "pm25>>"}, headers=h)
    assert resp.status_code == 400
    past = client.patch(f"{SUBS}/urn:ngsi-ld:Subscription:s1",
                        json={"isActive": True, "expiresAt": "2020-01-01T00:00:00Z"}, headers=h)
    assert past.status_code == 204
    assert client.get(f"{SUBS}/urn:ngsi-ld:Subscription:s1", headers=h).json()["status"] == "expired"
    # other units neither see nor change it; anonymous callers are asked to log in
    assert client.get(f"{SUBS}/urn:ngsi-ld:Subscription:s1", headers=headers(world, "org_member_b")
                      ).status_code == 404
    assert client.get(f"{SUBS}/urn:ngsi-ld:Subscription:s1").status_code == 401
    assert client.get(f"{SUBS}/urn:ngsi-ld:Subscription:s1", headers=headers(world, "auditor")).status_code == 200
    assert client.post(SUBS, json=_sub(receiver), headers=headers(world, "auditor")).status_code == 403
    assert client.delete(f"{SUBS}/urn:ngsi-ld:Subscription:s1", headers=headers(world, "org_member_b")
                         ).status_code == 404
    assert client.delete(f"{SUBS}/urn:ngsi-ld:Subscription:s1", headers=h).status_code == 204
    assert client.get(f"{SUBS}/urn:ngsi-ld:Subscription:s1", headers=h).status_code == 404


@pytest.mark.parametrize(("change", "field"), [
    ({"type": "Sub"}, "type"),
    ({"notification": None}, "notification"),
    ({"entities": [{"id": "urn:x"}]}, "entities[0].type"),
    ({"entities": None}, "entities"),
    ({"q": "pm25>"}, "q"),
    ({"geoQ": {"georel": "near;maxDistance==10", "geometry": "Point", "coordinates": [999, 0]}}, "coordinates"),
    ({"notification": {"endpoint": {"uri": "http://10.1.2.3/x"}}}, "notification.endpoint.uri"),
    ({"notification": {"endpoint": {"uri": "https://example.com/x"}}}, "notification.endpoint.uri"),
    ({"notification": {"endpoint": {"uri": "mqtt://broker.example.com/t"}}}, "notification.endpoint.uri"),
    ({"notification": {"endpoint": {"uri": "ftp://127.0.0.1/x"}}}, "notification.endpoint.uri"),
    ({"notification": {"format": "xml"}}, "notification.format"),
    ({"throttling": -1}, "throttling"),
    ({"expiresAt": "soon"}, "expiresAt"),
    ({"unknown": 1}, "unknown"),
])
def test_bad_subscriptions_are_400(client: Any, world: Any, receiver: str, change: dict[str, Any],
                                   field: str) -> None:
    body = _sub(receiver)
    for key, value in change.items():
        if key == "notification" and isinstance(value, dict):
            body["notification"] = {**body["notification"], **value}
        elif value is None:
            body.pop(key)
        else:
            body[key] = value
    resp = client.post(SUBS, json=body, headers=headers(world, "org_member_a"))
    assert resp.status_code == 400, resp.text
    assert field.split(".")[0].split("[")[0] in problem(resp)["detail"] or field in problem(resp)["detail"]


def test_http_notifications_match_and_deliver(client: Any, world: Any, receiver: str) -> None:
    h = headers(world, "org_member_a")
    resp = client.post(SUBS, json=_sub(receiver, watchedAttributes=["pm25"], q="pm25>30", notification={
        "format": "keyValues", "attributes": ["pm25"],
        "endpoint": {"uri": receiver, "receiverInfo": [{"key": "X-Auth", "value": "k1"}]}}), headers=h)
    assert resp.status_code == 201
    sub_url = resp.headers["location"]
    client.post(E, json=entity_body("urn:ngsi-ld:AirQualityObserved:n1", pm25=35.5), headers=h)
    assert _queued(world) == 1
    client.post(E, json=entity_body("urn:ngsi-ld:AirQualityObserved:n2", pm25=10), headers=h)  # q: no
    client.post(E, json=entity_body("urn:ngsi-ld:Parking:p1", type_="Parking", pm25=99), headers=h)  # type: no
    client.patch(f"{E}/urn:ngsi-ld:AirQualityObserved:n1/attrs", json={"category": {"type": "VocabProperty",
                                                                                    "vocab": "rural"}}, headers=h)
    assert _queued(world) == 1  # a change of an unwatched attribute
    client.patch(f"{E}/urn:ngsi-ld:AirQualityObserved:n1/attrs/pm25", json={"value": 40}, headers=h)
    assert _queued(world) == 2
    assert _deliver(world) == {"delivered": 2, "retrying": 0, "failed": 0}
    first_headers, first = _Receiver.received[0]
    assert first_headers["x-auth"] == "k1" and first_headers["content-type"] == "application/json"
    assert "ngsi-ld-core-context" in first_headers["link"]
    assert first["type"] == "Notification" and first["subscriptionId"] == sub_url.rsplit("/", 1)[1]
    assert first["data"] == [{"id": "urn:ngsi-ld:AirQualityObserved:n1", "type": "AirQualityObserved",
                              "pm25": 35.5}]
    assert _Receiver.received[1][1]["data"][0]["pm25"] == 40
    status = client.get(sub_url, headers=h).json()["notification"]
    assert status["timesSent"] == 2 and status["status"] == "ok" and "lastSuccess" in status
    assert _deliver(world) == {"delivered": 0, "retrying": 0, "failed": 0}


def test_retry_with_backoff_then_failed(client: Any, world: Any, receiver: str) -> None:
    h = headers(world, "org_member_a")
    sub_url = client.post(SUBS, json=_sub(receiver, notification={"endpoint": {
        "uri": receiver, "accept": "application/ld+json"}}), headers=h).headers["location"]
    client.post(E, json=entity_body("urn:ngsi-ld:AirQualityObserved:r1"), headers=h)
    _Receiver.statuses = [503]
    assert _deliver(world) == {"delivered": 0, "retrying": 1, "failed": 0}
    status = client.get(sub_url, headers=h).json()["notification"]
    assert status["status"] == "failed" and "lastFailure" in status and status["timesSent"] == 1
    msg = world.session.scalar(select(ContextNotification))
    assert msg.attempts == 1 and msg.next_attempt_at > clock.now() and msg.last_error == "HTTP 503"
    assert _deliver(world)["retrying"] == 0  # backing off: not due yet
    clock.set_now(msg.next_attempt_at + timedelta(seconds=1))
    assert _deliver(world) == {"delivered": 1, "retrying": 0, "failed": 0}
    headers_, body = _Receiver.received[0]
    assert headers_["content-type"] == "application/ld+json" and "@context" in body
    assert body["data"][0]["pm25"]["value"] == 35.5  # normalized, the default format
    assert client.get(sub_url, headers=h).json()["notification"]["status"] == "ok"
    # an endpoint that never answers: after the last attempt the notification is given up
    client.patch(f"{E}/urn:ngsi-ld:AirQualityObserved:r1/attrs/pm25", json={"value": 1}, headers=h)
    for _ in range(notify.MAX_ATTEMPTS):
        _Receiver.statuses = [500]
        _deliver(world)
        world.session.expire_all()
        pending = world.session.scalar(select(ContextNotification).where(ContextNotification.delivered.is_(False)))
        clock.set_now(pending.next_attempt_at + timedelta(seconds=1))
    assert pending.failed and pending.attempts == notify.MAX_ATTEMPTS


def test_visibility_throttling_and_geo(client: Any, world: Any, receiver: str) -> None:
    hb = headers(world, "org_member_b")
    ha = headers(world, "org_member_a")
    client.post(SUBS, json=_sub(receiver, throttling=60), headers=hb)
    client.post(SUBS, json=_sub(receiver, geoQ={"georel": "near;maxDistance==1000", "geometry": "Point",
                                                "coordinates": [106.58, 29.56]}), headers=ha)
    client.post(E, json=entity_body("urn:ngsi-ld:AirQualityObserved:v1"), headers=ha)  # A's: only A's sub
    client.post(E, json=entity_body("urn:ngsi-ld:AirQualityObserved:far", lon=106.7), headers=ha)  # too far
    assert _queued(world) == 1
    grant_create(world.session, world.actors["org_admin_a"], GrantCreate(
        owner_org_id=world.orgs["dept_a"].id, grantee_org_id=world.orgs["dept_b"].id))
    client.patch(f"{E}/urn:ngsi-ld:AirQualityObserved:far/attrs/pm25", json={"value": 2}, headers=ha)
    assert _queued(world) == 2  # now B sees A's entities (A's geoQ still leaves the far one out)
    client.patch(f"{E}/urn:ngsi-ld:AirQualityObserved:far/attrs/pm25", json={"value": 3}, headers=ha)
    assert _queued(world) == 2  # B's subscription is throttled for a minute
    assert _deliver(world)["delivered"] == 2
    ids = sorted(b["data"][0]["id"] for _h, b in _Receiver.received)
    assert ids == ["urn:ngsi-ld:AirQualityObserved:far", "urn:ngsi-ld:AirQualityObserved:v1"]


def test_mqtt_notification_of_a_batch(client: Any, world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    need_service("mosquitto", "127.0.0.1", 1883)
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    monkeypatch.setattr(get_settings(), "egress_allowed_hosts", "127.0.0.1")
    topic = f"cityhub-test/ngsi/{uuid.uuid4().hex[:8]}"
    h = headers(world, "org_member_a")
    assert client.post(SUBS, json=_sub(f"mqtt://127.0.0.1:1883/{topic}", notification={"format": "concise"}),
                       headers=h).status_code == 201
    got: list[bytes] = []
    ready, arrived = threading.Event(), threading.Event()
    listener = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:8]}")

    def on_connect(c: mqtt.Client, _u: Any, _f: Any, _rc: Any, _p: Any) -> None:
        c.subscribe(topic, 1)
        ready.set()

    def on_message(_c: mqtt.Client, _u: Any, m: mqtt.MQTTMessage) -> None:
        got.append(bytes(m.payload))
        arrived.set()

    listener.on_connect, listener.on_message = on_connect, on_message
    listener.connect("127.0.0.1", 1883)
    listener.loop_start()
    try:
        assert ready.wait(5)
        batch = [entity_body(f"urn:ngsi-ld:AirQualityObserved:m{i}", pm25=i) for i in range(3)]
        assert client.post(f"{OPS}/upsert", json=batch, headers=h).status_code == 201
        assert _queued(world) == 1  # the bulk path: one notification for the batch
        assert _deliver(world)["delivered"] == 1
        assert arrived.wait(5)
    finally:
        listener.loop_stop()
        listener.disconnect()
    message = json.loads(got[0])
    assert message["metadata"]["Content-Type"] == "application/json"
    data = message["body"]["data"]
    assert [d["id"] for d in data] == [b["id"] for b in batch]
    assert data[1]["pm25"]["value"] == 1  # concise: no "type" members
    assert "type" not in data[1]["pm25"]


def test_show_changes_and_notification_trigger(client: Any, world: Any, receiver: str) -> None:
    """notification.showChanges adds the previous value; notificationTrigger picks the events notified (ETSI
    SubscriptionNotificationBehaviour: attributeCreated, attributeUpdated, attributeDeleted, entityCreated)."""
    h = headers(world, "org_member_a")
    aq = "urn:ngsi-ld:AirQualityObserved:sc1"
    assert client.post(SUBS, json=_sub(receiver, notification={"showChanges": True, "attributes": ["pm25",
                                                                                                  "refDevice"]}),
                       headers=h).status_code == 201
    assert client.post(SUBS, json=_sub(receiver, notificationTrigger=["attributeDeleted"]),
                       headers=h).status_code == 201
    assert client.post(SUBS, json=_sub(receiver, notificationTrigger=["entityCreated"]),
                       headers=h).status_code == 201
    client.post(E, json=entity_body(aq, pm25=35.5), headers=h)
    assert _queued(world) == 2  # showChanges (default triggers: attributeCreated) and entityCreated
    client.patch(f"{E}/{aq}/attrs/pm25", json={"value": 40}, headers=h)
    client.patch(f"{E}/{aq}/attrs/refDevice", json={"object": "urn:ngsi-ld:Device:8"}, headers=h)
    assert _queued(world) == 4  # attributeUpdated: only the default-trigger subscription
    assert client.delete(f"{E}/{aq}/attrs/category", headers=h).status_code == 204
    assert _queued(world) == 5  # attributeDeleted: its own subscription only
    assert _deliver(world)["delivered"] == 5
    bodies = [b for _h, b in _Receiver.received]
    changed = [b["data"][0] for b in bodies if "previousValue" in b["data"][0].get("pm25", {})]
    assert len(changed) == 1 and changed[0]["pm25"]["previousValue"] == 35.5 and changed[0]["pm25"]["value"] == 40
    assert "previousObject" not in changed[0]["refDevice"]  # projected, but not changed by this write
    moved = [b["data"][0] for b in bodies if "previousObject" in b["data"][0].get("refDevice", {})]
    assert moved[0]["refDevice"]["previousObject"] == "urn:ngsi-ld:Device:7"
    assert moved[0]["refDevice"]["object"] == "urn:ngsi-ld:Device:8"


@pytest.mark.parametrize(("trigger", "status"), [
    (["attributeRenamed"], 400), ([], 400), ("attributeCreated", 400)])
def test_bad_notification_triggers(client: Any, world: Any, receiver: str, trigger: Any, status: int) -> None:
    resp = client.post(SUBS, json=_sub(receiver, notificationTrigger=trigger), headers=headers(world, "org_member_a"))
    assert resp.status_code == status and "notificationTrigger" in problem(resp)["detail"]


def test_entity_deleted_notifications(client: Any, world: Any, receiver: str) -> None:
    """entityDeleted: a deletion (single, batch, temporal) notifies the subscriptions that ask for it and match the
    entity's last state (q, visibility), with the entity's id, type and deletedAt; other triggers stay silent."""
    h = headers(world, "org_member_a")
    ids = [f"urn:ngsi-ld:AirQualityObserved:del{i}" for i in range(4)]
    for i, eid in enumerate(ids):
        assert client.post(E, json=entity_body(eid, pm25=10.0 * i), headers=h).status_code == 201
    assert client.post(SUBS, json=_sub(receiver, notificationTrigger=["entityDeleted"], q="pm25>5"),
                       headers=h).status_code == 201
    assert client.post(SUBS, json=_sub(receiver), headers=h).status_code == 201  # default triggers
    # the other unit's subscription does not see unit A's entities
    assert client.post(SUBS, json=_sub(receiver, notificationTrigger=["entityDeleted"]),
                       headers=headers(world, "org_member_b")).status_code == 201
    assert client.delete(f"{E}/{ids[0]}", headers=h).status_code == 204  # pm25 0: q does not match
    assert _queued(world) == 0
    assert client.delete(f"{E}/{ids[1]}", headers=h).status_code == 204
    assert client.post(f"{OPS}/delete", json=[ids[2]], headers=h).status_code == 204
    assert client.delete(f"/ngsi-ld/v1/temporal/entities/{ids[3]}", headers=h).status_code == 204
    assert _queued(world) == 3
    assert _deliver(world)["delivered"] == 3
    data = [b["data"] for _h, b in _Receiver.received]
    assert [d[0]["id"] for d in data] == ids[1:]
    assert set(data[0][0]) == {"id", "type", "deletedAt"} and data[0][0]["type"] == "AirQualityObserved"
