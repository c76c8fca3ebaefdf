"""Delivery of the notification outbox: HTTP(S) POSTs and MQTT publications, retried with exponential backoff.

Runs in `cityhub context worker`, never in a request: the notifications were queued in the transaction of the
change (`subscriptions.on_change`), so one is neither lost when an endpoint is down nor sent for a rolled-back
change. Each attempt updates the subscription's status (`timesSent`, `lastNotification`, `lastSuccess`,
`lastFailure`). The endpoint's host is checked against the egress allow-list again at delivery time, as for ops
webhooks; HTTP goes through `kit.egress`'s checked client.

- HTTP: `POST` to the URI; `accept` application/json puts the @context in a `Link` header, application/ld+json
  in the body; every `receiverInfo` pair is a header.
- MQTT (clause 7.3 of the binding): `mqtt://host[:port]/topic`, QoS 1, the message `{"metadata": {headers},
  "body": notification}`.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityhub.context import entities as ent
from cityhub.context import subscriptions
from cityhub.context.jsonld import context_for, link_header
from cityhub.context.models import ContextNotification, ContextSubscription
from cityhub.kit import clock, egress
from cityhub.kit.db import is_postgres

log = logging.getLogger("cityhub.context.notify")
MAX_ATTEMPTS = 6
BACKOFF_S = 5.0  # 5, 10, 20, 40, 80 s between the six attempts


def due(session: Session, limit: int = 200, now: datetime | None = None) -> list[ContextNotification]:
    """Undelivered notifications whose next attempt is due, oldest first (locked, skipping others', on PostgreSQL)."""
    now = now or clock.now()
    stmt = select(ContextNotification).where(
        ContextNotification.delivered.is_(False), ContextNotification.failed.is_(False),
        ContextNotification.next_attempt_at <= now).order_by(ContextNotification.id).limit(limit)
    if is_postgres(session):
        stmt = stmt.with_for_update(skip_locked=True)
    return list(session.scalars(stmt))


def _headers(endpoint: dict[str, Any], sub: ContextSubscription) -> dict[str, str]:
    accept = endpoint.get("accept", "application/json")
    out = {"Content-Type": accept}
    if accept != "application/ld+json":
        out["Link"] = link_header(context_for(sub.ld_context or None).link_url)
    for pair in endpoint.get("receiverInfo", []):
        out[pair["key"]] = pair["value"]
    return out


def _body(endpoint: dict[str, Any], sub: ContextSubscription, payload: dict[str, Any]) -> dict[str, Any]:
    if endpoint.get("accept") == "application/ld+json":
        return {"@context": context_for(sub.ld_context or None).body_value, **payload}
    return payload


def _http(uri: str, headers: dict[str, str], body: dict[str, Any], http: httpx.Client) -> tuple[bool, str]:
    try:
        egress.check_url(uri, listed_only=True)
    except egress.EgressDenied:
        return False, "host no longer allowed"
    try:
        resp = http.post(uri, content=orjson.dumps(body), headers=headers)
    except httpx.HTTPError as exc:
        return False, f"{type(exc).__name__}: {exc}"
    if 200 <= resp.status_code < 300:
        return True, ""
    return False, f"HTTP {resp.status_code}"


def _mqtt(uri: str, headers: dict[str, str], body: dict[str, Any]) -> tuple[bool, str]:
    import paho.mqtt.publish as publish

    parts = urlsplit(uri)
    host = (parts.hostname or "").lower()
    if host not in egress.allowed_hosts():
        return False, "host no longer allowed"
    auth = {"username": unquote(parts.username), "password": unquote(parts.password or "")} \
        if parts.username else None
    message = orjson.dumps({"metadata": headers, "body": body})
    try:
        publish.single(unquote(parts.path.lstrip("/")), message, qos=1, hostname=host,
                       port=parts.port or (8883 if parts.scheme == "mqtts" else 1883), auth=auth,  # type: ignore[arg-type]  # paho's AuthParameter is a TypedDict
                       tls={} if parts.scheme == "mqtts" else None, keepalive=10)  # type: ignore[arg-type]  # paho's TLSParameter likewise
    except Exception as exc:  # a broker failure must not stop the other deliveries
        return False, f"{type(exc).__name__}: {exc}"
    return True, ""


def _mark(session: Session, msg: ContextNotification, sub: ContextSubscription, ok: bool, error: str) -> None:
    now = clock.now()
    msg.attempts += 1
    sub.times_sent += 1
    sub.last_notification = now
    if ok:
        msg.delivered, msg.delivered_at, msg.last_error = True, now, ""
        sub.last_success = now
    else:
        msg.last_error = sub.last_error = error[:1000]
        sub.last_failure = now
        if msg.attempts >= MAX_ATTEMPTS:
            msg.failed = True
        else:
            msg.next_attempt_at = now + timedelta(seconds=BACKOFF_S * 2 ** (msg.attempts - 1))
    session.flush()


def deliver(session: Session, http: httpx.Client, limit: int = 200) -> dict[str, int]:
    """Try every due notification once; counts delivered, retrying and failed."""
    out = {"delivered": 0, "retrying": 0, "failed": 0}
    for msg in due(session, limit):
        sub = session.get(ContextSubscription, msg.subscription_pk)
        if sub is None:  # pragma: no cover - the row goes with its subscription (ON DELETE CASCADE)
            continue
        endpoint = sub.body.get("notification", {}).get("endpoint", {})
        uri = str(endpoint.get("uri", ""))
        payload = {**msg.payload, "notifiedAt": ent.now_text()}
        headers, body = _headers(endpoint, sub), _body(endpoint, sub, payload)
        if uri.startswith(("mqtt://", "mqtts://")):
            ok, err = _mqtt(uri, headers, body)
        else:
            ok, err = _http(uri, headers, body, http)
        if subscriptions.status(sub) == "expired" and not ok:
            err = f"{err} (subscription expired)"
        _mark(session, msg, sub, ok, err)
        out["delivered" if ok else "failed" if msg.failed else "retrying"] += 1
        if not ok:
            log.info("notification %s of %s not delivered: %s", msg.id, sub.sub_id, err)
    return out
