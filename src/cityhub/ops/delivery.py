"""Delivery of the alarm-event outbox: MQTT (`cityhub/v1/alarms/{org}`, QoS 1) and signed webhooks with backoff.

Runs in the background worker, never inside an ingest transaction: the outbox rows were written atomically
with the alarm change, so an event is neither lost when the broker is down nor sent for a rolled-back alarm.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Protocol
from urllib.parse import urlparse

import httpx
from sqlalchemy.orm import Session

from cityhub.kit import clock
from cityhub.kit.settings import get_settings
from cityhub.ops import service

log = logging.getLogger("cityhub.ops.delivery")


class Publisher(Protocol):
    """Something that publishes an MQTT message and says whether the broker took it."""

    def publish(self, topic: str, payload: bytes) -> bool:
        """Publish with QoS 1; True once the broker acknowledged."""


class MqttPublisher:
    """A paho-mqtt 2.x client kept connected for the worker's life."""

    def __init__(self, url: str, client_id: str = "cityhub-ops-outbox") -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        parsed = urlparse(url)
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        if parsed.username:
            self.client.username_pw_set(parsed.username, parsed.password or "")
        self.client.connect(parsed.hostname or "127.0.0.1", parsed.port or 1883, keepalive=30)
        self.client.loop_start()

    def publish(self, topic: str, payload: bytes) -> bool:
        """Publish with QoS 1 and wait (bounded) for the broker's PUBACK."""
        info = self.client.publish(topic, payload, qos=1)
        info.wait_for_publish(timeout=5)
        return bool(info.is_published())

    def close(self) -> None:
        """Disconnect."""
        self.client.loop_stop()
        self.client.disconnect()


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
    """Try every due outbox message once; returns counts of delivered, retrying and failed."""
    out = {"delivered": 0, "retrying": 0, "failed": 0, "skipped": 0}
    for msg in service.outbox_due(session, limit):
        body = json.dumps(msg.payload, ensure_ascii=False, default=str).encode()
        if msg.channel == "mqtt":
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
    """A publisher for the configured broker, or None without one (logged)."""
    url = get_settings().mqtt_url
    if not url:
        log.info("no CITYHUB_MQTT_URL: alarm events are not published on MQTT")
        return None
    try:
        return MqttPublisher(url, client_id=f"cityhub-ops-{int(clock.now().timestamp())}")
    except OSError as exc:
        log.warning("MQTT broker %s unreachable (%s); events wait in the outbox", url, exc)
        return None
