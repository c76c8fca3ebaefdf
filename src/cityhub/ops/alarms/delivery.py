"""Delivery of the alarm-event outbox: MQTT (`cityhub/v1/alarms/{org}`, QoS 1) and signed webhooks with backoff.

Runs in the background worker, never inside an ingest transaction: the outbox rows were written atomically
with the alarm change, so an event is neither lost when the broker is down nor sent for a rolled-back alarm.

Broker outages of any length: the publisher reconnects by itself and resumes its MQTT 5 session, and while it is
not connected the MQTT messages are left due in the outbox untouched (no attempt counted, so a long outage never
exhausts their retries); they go out once the broker is back.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from typing import Any, Protocol
from urllib.parse import urlparse

import httpx
from sqlalchemy.orm import Session

from cityhub.kit.settings import get_settings
from cityhub.ops.alarms import service

log = logging.getLogger("cityhub.ops.delivery")


class Publisher(Protocol):
    """Something that publishes an MQTT message and says whether the broker took it."""

    def ready(self) -> bool:
        """Connected to the broker now (else nothing is attempted: the messages wait in the outbox)."""

    def publish(self, topic: str, payload: bytes) -> bool:
        """Publish with QoS 1; True once the broker acknowledged."""


SESSION_EXPIRY_S = 3600  # the broker keeps the publisher's session (in-flight QoS 1 state) this long after a drop


class MqttPublisher:
    """A paho-mqtt 2.x MQTT 5 client kept connected for the worker's life; reconnects by itself (1 s to 30 s).

    The session is persistent (clean start off, an expiry), so a QoS 1 message in flight when the connection drops
    is completed on the resumed session instead of being lost or published twice.
    """

    def __init__(self, url: str, client_id: str = "cityhub-ops-outbox", connect_wait: float = 5.0) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        parsed = urlparse(url)
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        if parsed.username:
            self.client.username_pw_set(parsed.username, parsed.password or "")
        self.client.reconnect_delay_set(1, 30)
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = SESSION_EXPIRY_S
        # asynchronous: a broker that is down now is retried by paho's network thread, never raised here
        self.client.connect_async(parsed.hostname or "127.0.0.1", parsed.port or 1883, keepalive=30,
                                  clean_start=False, properties=props)
        self.client.loop_start()
        ends = time.monotonic() + connect_wait
        while not self.client.is_connected() and time.monotonic() < ends:
            time.sleep(0.02)

    def ready(self) -> bool:
        """Connected to the broker now."""
        return bool(self.client.is_connected())

    def publish(self, topic: str, payload: bytes) -> bool:
        """Publish with QoS 1 and wait (bounded) for the broker's PUBACK."""
        info = self.client.publish(topic, payload, qos=1)
        info.wait_for_publish(timeout=5)
        return bool(info.is_published())

    def close(self) -> None:
        """Disconnect (ending the session: what it had in flight is still undelivered in the outbox)."""
        self.client.disconnect()
        self.client.loop_stop()


def _webhook(session: Session, msg: Any, body: bytes, http: httpx.Client) -> tuple[bool, str]:
    hook = service.webhook_get_for_delivery(session, msg.target)
    if hook is None or not hook.enabled:
        return False, "webhook removed or disabled"
    if not service.webhook_host_allowed(hook.url):
        return False, "host no longer allowed"  # the allow-list is checked again at delivery time
    ts = str(int(time.time()))
    sig = service.webhook_signature(service.webhook_secret(hook), ts, body)
    try:
        resp = http.post(hook.url, content=body, headers={
            "content-type": "application/json", "x-cityhub-event": str(msg.payload.get("event", "")),
            "x-cityhub-signature": f"t={ts},v1={sig}", "x-cityhub-delivery": str(msg.id)})
    except httpx.HTTPError as exc:
        return False, f"{type(exc).__name__}: {exc}"
    if 200 <= resp.status_code < 300:
        return True, ""
    return False, f"HTTP {resp.status_code}"


def deliver(session: Session, publisher: Publisher | None, http: httpx.Client, limit: int = 200) -> dict[str, int]:
    """Try every due outbox message once; counts delivered, retrying, failed, skipped and waiting (for the broker)."""
    out = {"delivered": 0, "retrying": 0, "failed": 0, "skipped": 0, "waiting": 0}
    broker_up = publisher is not None and publisher.ready()
    for msg in service.outbox_due(session, limit):
        body = json.dumps(msg.payload, ensure_ascii=False, default=str).encode()
        if msg.channel == "mqtt":
            if publisher is not None and not broker_up:
                out["waiting"] += 1  # the broker is down: not an attempt, the message stays due
                continue
            if publisher is None:
                # No broker configured (embedded mode): nothing to deliver to; mark it so it does not pile up.
                service.outbox_mark(session, msg, True)
                out["skipped"] += 1
                continue
            try:
                ok, err = publisher.publish(msg.target, body), "broker did not acknowledge"
            except Exception as exc:  # a broker failure must not stop the other deliveries
                ok, err = False, f"{type(exc).__name__}: {exc}"
        else:
            ok, err = _webhook(session, msg, body, http)
        service.outbox_mark(session, msg, ok, "" if ok else err)
        out["delivered" if ok else "failed" if msg.failed else "retrying"] += 1
    return out


def mqtt_publisher() -> MqttPublisher | None:
    """A publisher for the configured broker (connecting in the background), or None without one (logged)."""
    url = get_settings().mqtt_url
    if not url:
        log.info("no CITYHUB_MQTT_URL: alarm events are not published on MQTT")
        return None
    # unique per process: two ops workers with one client id would take the broker connection from each other
    publisher = MqttPublisher(url, client_id=f"cityhub-ops-{socket.gethostname()}-{os.getpid()}"[:64])
    if not publisher.ready():
        log.warning("MQTT broker %s unreachable for now; events wait in the outbox", url)
    return publisher
