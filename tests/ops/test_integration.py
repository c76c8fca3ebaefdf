"""Ops on the real connect path: ingest triggers rules, previews read stored telemetry, no-data covers devices that
never reported; alarm events reach Mosquitto and a signed webhook (with retries)."""

from __future__ import annotations

import http.server
import json
import threading
import uuid
from datetime import timedelta
from typing import Any, ClassVar

import httpx
import pytest
from sqlalchemy import select

from cityhub.connect import service as connect
from cityhub.kit import clock
from cityhub.ops import service as ops
from cityhub.ops.alarms import delivery
from cityhub.ops.alarms import service as alarms
from cityhub.ops.models import OutboxMessage
from cityhub.ops.schemas import RuleCreate, WebhookCreate
from tests.conftest import need_service
from tests.connect.helpers import build_connect, message
from tests.ops.helpers import T0, open_alarms, rule


def _records(start: Any, values: list[float], key: str = "strain") -> list[dict[str, Any]]:
    return [{"ts": (start + timedelta(minutes=i)).isoformat(), "values": {key: v}} for i, v in enumerate(values)]


def test_the_ingest_path_triggers_rules(world: Any, session: Any) -> None:
    cw = build_connect(world)
    clock.set_now(T0 + timedelta(hours=1))
    rule(world, session, condition={"op": ">", "value": 500}, repeat_count=2)
    dev = cw["dev_a"].id
    res = connect.ingest_messages(session, [message(dev, _records(T0, [100, 600, 700]), clock.now())])
    assert res.stored == 3
    [alarm] = open_alarms(session, dev)
    assert alarm.originator_name == "主跨应变计 1" and alarm.district_id == world.orgs["district"].id
    # duplicates are not stored, so they are not evaluated again
    connect.ingest_messages(session, [message(dev, _records(T0, [100, 600, 700]), clock.now())])
    assert open_alarms(session, dev)[0].count == 1


def test_preview_counts_what_the_rule_would_have_done(world: Any, session: Any) -> None:
    cw = build_connect(world)
    clock.set_now(T0 + timedelta(hours=2))
    start = T0 + timedelta(minutes=5)
    values = [100.0, 600, 100, 650, 660, 100, 700, 100]  # crosses 500 three times
    connect.ingest_messages(session, [message(cw["dev_a"].id, _records(start, values), clock.now())])
    data = RuleCreate(name="预演", kind="threshold", profile_code="bridge-health", key="strain",
                      org_id=world.orgs["dept_a"].id, condition={"op": ">", "value": 500})
    p = ops.rule_preview(session, world.actors["operator"], data)
    assert (p.fired, p.cleared, p.points) == (3, 3, 8)
    assert p.firings[0].device_name == "主跨应变计 1"
    # dept B may not preview over dept A's devices (it sees none of them)
    data_b = data.model_copy(update={"org_id": world.orgs["dept_b"].id})
    assert ops.rule_preview(session, world.actors["org_member_b"], data_b).devices == 0


def test_no_data_covers_devices_that_never_reported(world: Any, session: Any) -> None:
    cw = build_connect(world)
    clock.set_now(T0)
    rule(world, session, kind="no_data", profile_code="air-noise", key="", no_data_s=300,
         org_id=world.orgs["dept_b"].id)
    ops.tick(session)  # seeds the deadline of every device of the profile
    clock.set_now(T0 + timedelta(minutes=6))
    assert ops.tick(session).raised == 1
    [alarm] = open_alarms(session, cw["dev_b"].id)
    assert alarm.originator_name == "广场微站"


class _Hook(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []
    fail_first = 1

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        if _Hook.fail_first > 0:
            _Hook.fail_first -= 1
            self.send_response(503)
        else:
            _Hook.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_alarm_events_reach_mqtt_and_a_signed_webhook_with_retry(world: Any, session: Any) -> None:
    need_service("Mosquitto", "127.0.0.1", 1883)
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    _Hook.fail_first, _Hook.received = 1, []
    server = http.server.HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    secret = "s3cret-" + "x" * 16
    ops.webhook_create(session, world.actors["org_admin_a"], WebhookCreate(
        url=f"http://127.0.0.1:{port}/alarms", secret=secret))
    got: list[bytes] = []
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:8]}")
    ready = threading.Event()
    arrived = threading.Event()

    def on_connect(c: mqtt.Client, _u: Any, _f: Any, _rc: Any, _p: Any) -> None:
        c.subscribe(f"cityhub/v1/alarms/{world.orgs['dept_a'].id}", 1)
        ready.set()

    def on_message(_c: mqtt.Client, _u: Any, m: mqtt.MQTTMessage) -> None:
        got.append(bytes(m.payload))
        arrived.set()

    sub.on_connect = on_connect
    sub.on_message = on_message
    sub.connect("127.0.0.1", 1883)
    sub.loop_start()
    try:
        assert ready.wait(5)
        alarm, _ = ops.alarm_raise(session, ops.ENGINE_ACTOR, originator_type="device", originator_id=uuid.uuid4(),
                                   alarm_type="漏水", severity="major", details={}, org_id=world.orgs["dept_a"].id)
        publisher = delivery.MqttPublisher("mqtt://127.0.0.1:1883", client_id=f"p-{uuid.uuid4().hex[:8]}")
        with httpx.Client(timeout=5) as http_client:
            first = delivery.deliver(session, publisher, http_client)
            assert first == {"delivered": 1, "retrying": 1, "failed": 0, "skipped": 0, "waiting": 0}  # webhook: 503
            assert arrived.wait(5) and json.loads(got[0])["alarm"]["id"] == str(alarm.id)
            hook_msg = session.scalar(select(OutboxMessage).where(OutboxMessage.channel == "webhook"))
            assert hook_msg.attempts == 1 and hook_msg.next_attempt_at > clock.now()
            assert delivery.deliver(session, publisher, http_client)["delivered"] == 0  # backing off
            clock.set_now(hook_msg.next_attempt_at + timedelta(seconds=1))
            assert delivery.deliver(session, publisher, http_client)["delivered"] == 1
        publisher.close()
    finally:
        sub.loop_stop()
        sub.disconnect()
        server.shutdown()
    headers, body = _Hook.received[0]
    t, v1 = (part.split("=", 1)[1] for part in headers["x-cityhub-signature"].split(","))
    assert v1 == alarms.webhook_signature(secret, t, body)
    assert json.loads(body)["event"] == "created"


@pytest.mark.parametrize("url", ["http://127.0.0.1:1/x", "https://hooks.example.gov.cn/x"])
def test_webhooks_to_hosts_dropped_from_the_allow_list_are_not_called(world: Any, session: Any, url: str,
                                                                       monkeypatch: Any) -> None:
    ops.webhook_create(session, world.actors["org_admin_a"], WebhookCreate(url=url, secret="y" * 20))
    ops.alarm_raise(session, ops.ENGINE_ACTOR, originator_type="device", originator_id=uuid.uuid4(),
                    alarm_type="t", severity="major", details={}, org_id=world.orgs["dept_a"].id)
    from cityhub.kit.settings import get_settings

    monkeypatch.setattr(get_settings(), "ops_webhook_allowed_hosts", "")
    with httpx.Client(timeout=2) as http_client:
        out = delivery.deliver(session, None, http_client)
    assert out["retrying"] == 1
    msg = session.scalar(select(OutboxMessage).where(OutboxMessage.channel == "webhook"))
    assert msg.last_error == "host no longer allowed"
