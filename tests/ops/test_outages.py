"""The ops worker's alarm publisher through a Mosquitto restart: events raised while the broker is down wait in the
outbox without spending their attempts, and reach a subscriber once it is back, each once."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy import select

from cityhub.core import service as core
from cityhub.core.schemas import OrganizationCreate
from cityhub.kit import resilience
from cityhub.kit.db import Database
from cityhub.kit.migrate import upgrade
from cityhub.ops import cli as ops_cli
from cityhub.ops import service as ops
from cityhub.ops.alarms import delivery
from cityhub.ops.models import OutboxMessage
from tests.outages import Mosquitto, pg_scratch, wait_for


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        u = f"sqlite:///{tmp_path / 'ops.db'}"
        upgrade(u)
        yield u
    else:
        yield from pg_scratch("cityhub_outage_ops")


class Subscriber:
    """An alarm consumer on a persistent MQTT 5 session: what is published while it is cut off waits for it."""

    def __init__(self, port: int) -> None:
        self.got: list[dict[str, Any]] = []
        self.ready = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"alarm-sub-{uuid.uuid4().hex[:8]}",
                                  protocol=paho.MQTTv5)
        self.client.on_connect = self._on_connect
        self.client.on_message = lambda _c, _u, m: self.got.append(json.loads(m.payload))
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 600
        self.client.reconnect_delay_set(0.2, 1)  # type: ignore[arg-type]  # paho's stub says int; it sleeps floats
        self.client.connect("127.0.0.1", port, clean_start=False, properties=props)
        self.client.loop_start()
        assert self.ready.wait(10)

    def _on_connect(self, client: paho.Client, _u: object, _f: object, _rc: object, _p: object) -> None:
        client.subscribe("cityhub/v1/alarms/#", qos=1)
        self.ready.set()

    def ids(self) -> list[str]:
        return [m["alarm"]["id"] for m in self.got]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _raise(db: Database, org_id: uuid.UUID, kind: str) -> str:
    with db.session_scope() as s:
        alarm, _ = ops.alarm_raise(s, ops.ENGINE_ACTOR, originator_type="device", originator_id=uuid.uuid4(),
                                   alarm_type=kind, severity="major", details={}, org_id=org_id)
        return str(alarm.id)


def _mqtt_rows(db: Database) -> list[OutboxMessage]:
    with db.session_scope() as s:
        return list(s.scalars(select(OutboxMessage).where(OutboxMessage.channel == "mqtt")))


def test_alarm_events_survive_a_broker_restart_without_loss(url: str, tmp_path: Path,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "cityhub")
    db = Database(url)
    with db.session_scope() as s:
        org = core.organization_create(s, core.Actor.system("test"), OrganizationCreate(
            name="告警市", code=f"a-{uuid.uuid4().hex[:6]}", kind="city"))
        org_id = org.id
    broker = Mosquitto(tmp_path / "broker")
    broker.start()
    sub = Subscriber(broker.port)
    publisher = delivery.MqttPublisher(broker.url, client_id=f"ops-pub-{uuid.uuid4().hex[:8]}")
    assert publisher.ready()
    watch = resilience.Watch("ops-worker-test", backoff=lambda: resilience.Backoff(0.1, 0.5))
    stop = threading.Event()
    http = httpx.Client(timeout=2)
    loop = ops_cli.WorkerLoop(db, 0.2, None, publisher, http, watch)
    thread = threading.Thread(target=resilience.run_forever, args=(loop.step, watch, stop), daemon=True)
    thread.start()
    try:
        first = _raise(db, org_id, "漏水")
        wait_for(lambda: first in sub.ids(), 10, "the first event")

        broker.stop()
        wait_for(lambda: not publisher.ready(), 10, "the publisher to see the broker gone")
        during = [_raise(db, org_id, f"断线-{i}") for i in range(3)]
        wait_for(lambda: watch.state == "waiting_for_broker", 10, "the worker to report the broker down")
        time.sleep(2)  # ten passes: none of them may spend an attempt or give up on the waiting events
        waiting = [m for m in _mqtt_rows(db) if m.payload["alarm"]["id"] in during]
        assert len(waiting) == 3
        assert all(not m.delivered and not m.failed and m.attempts == 0 for m in waiting)
        assert thread.is_alive()

        broker.start()
        wait_for(lambda: set(during) <= set(sub.ids()), 40, "the events raised during the outage")
        wait_for(lambda: watch.state == "running", 10, "the worker to report the broker back")
        time.sleep(0.5)
        assert sorted(sub.ids()) == sorted([first, *during])  # each once, nothing lost
        assert all(m.delivered for m in _mqtt_rows(db))
        messages = [r.getMessage() for r in caplog.records]
        assert sum("waiting for broker" in m for m in messages) == 1
        assert sum("broker back" in m for m in messages) == 1
    finally:
        stop.set()
        thread.join(15)
        http.close()
        publisher.close()
        sub.close()
        broker.stop()
        db.engine.dispose()
    assert not thread.is_alive()
