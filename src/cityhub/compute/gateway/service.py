"""The gateway: `/hub/{component_code}/{version}/{path}` calls a component for a subscribed application.

It checks the key, the subscription and the quota, then calls the component — a built-in in this process, or its
upstream through a pooled async client — and meters the call.

Hot path, per call: an HMAC of the key, one dictionary lookup of the resolution (key, component, version →
application, subscription, target; cached in the push cache on PostgreSQL and cleared in every process when a
key, application, subscription or component changes), the quota (one Redis script, or a dictionary), the call,
one append to the metering buffer. No database round trip once a resolution is cached; on SQLite (no push cache)
each call reads it in the thread pool.

Errors are the platform's envelope `{"error": {"code", "message", "details"}}` with stable codes:
`invalid_key` 401, `no_subscription` / `subscription_expired` / `app_disabled` 403, `not_found` 404 (unknown
component, version or path), `quota_exceeded` 429 with Retry-After, `payload_too_large` 413, `upstream_error` 502,
`circuit_open` 503 with Retry-After, `upstream_timeout` 504.

Upstreams: only hosts on CITYHUB_COMPUTE_UPSTREAM_ALLOWED_HOSTS (checked when the version is registered and again
on every connection by kit.egress); one client (its own connection pool) per upstream, so a slow upstream holds
only its own connections; retries for idempotent methods; a circuit breaker per upstream. The consumer's identity
goes upstream in headers signed with HMAC-SHA256 (X-Cityhub-App, -Org, -Timestamp, -Signature over
timestamp, app, org, METHOD and /path joined by newlines).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import math
import time
import uuid
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityhub.compute.access.service import key_hash
from cityhub.compute.builtins import service as builtins
from cityhub.compute.gateway.breaker import Breaker
from cityhub.compute.gateway.quota import QuotaStore, store_from_settings, windows
from cityhub.compute.metering.service import CallRecord, Meter
from cityhub.compute.models import AppKey, Component, ComponentVersion, Subscription, SubscriptionStatus
from cityhub.compute.models import ConsumerApp as App
from cityhub.compute.registry.service import CALLABLE_STATUSES, GATEWAY_NS, upstream_hosts
from cityhub.kit import egress, pushcache
from cityhub.kit.db import Database
from cityhub.kit.settings import get_settings

log = logging.getLogger("cityhub.compute.gateway")
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRY_STATUSES = frozenset({502, 503, 504})
FORWARD_HEADERS = ("content-type", "accept", "accept-language", "x-request-id")
_JSON = "application/json"


class GatewayError(Exception):
    """A refusal in the gateway's envelope."""

    def __init__(self, status: int, code: str, message: str, *, retry_after: float | None = None,
                 details: Any = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details
        self.retry_after = None if retry_after is None else max(1, math.ceil(retry_after))

    def response(self) -> Response:
        """The JSON answer."""
        body = orjson.dumps({"error": {"code": self.code, "message": self.message, "details": self.details}})
        headers = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else None
        return Response(body, status_code=self.status, media_type=_JSON, headers=headers)


@dataclass(frozen=True, slots=True)
class Resolved:
    """What a (key, component, version) resolves to, or the refusal (cached as such)."""

    error: str | None = None
    component_id: uuid.UUID | None = None
    component_code: str = ""
    version_id: uuid.UUID | None = None
    kind: str = ""
    upstream_url: str = ""
    builtin: str = ""
    app_id: uuid.UUID | None = None
    org_id: uuid.UUID | None = None
    subscription_id: str = ""
    limits: tuple[int | None, int | None, int | None] = (None, None, None)
    expires_at: float | None = None  # epoch seconds


_KEY = select(AppKey.revoked_at, App.id, App.org_id, App.disabled).join(App, App.id == AppKey.app_id)
_TARGET = select(Component.id, Component.status, ComponentVersion.id, ComponentVersion.kind,
                 ComponentVersion.upstream_url, ComponentVersion.builtin, ComponentVersion.published_at
                 ).join(ComponentVersion, ComponentVersion.component_id == Component.id)
_SUB = select(Subscription.id, Subscription.quota_per_minute, Subscription.quota_per_day, Subscription.quota_per_month,
              Subscription.expires_at)


def resolve(session: Session, hashed: str, code: str, version: str) -> Resolved:
    """Read what a call resolves to (three indexed lookups)."""
    key = session.execute(_KEY.where(AppKey.key_hash == hashed)).first()
    if key is None or key[0] is not None:
        return Resolved(error="invalid_key")
    _revoked, app_id, org_id, disabled = key
    if disabled:
        return Resolved(error="app_disabled", app_id=app_id, org_id=org_id)
    target = session.execute(_TARGET.where(Component.code == code, ComponentVersion.version == version)).first()
    if target is None or target[1] not in CALLABLE_STATUSES or target[6] is None:
        return Resolved(error="not_found", app_id=app_id, org_id=org_id)
    comp_id, _status, version_id, kind, upstream_url, builtin, _published = target
    sub = session.execute(_SUB.where(Subscription.app_id == app_id, Subscription.version_id == version_id,
                                     Subscription.status == SubscriptionStatus.ACTIVE)).first()
    base = Resolved(component_id=comp_id, component_code=code, version_id=version_id, kind=kind,
                    upstream_url=upstream_url, builtin=builtin, app_id=app_id, org_id=org_id)
    if sub is None:
        return Resolved(**{**_fields(base), "error": "no_subscription"})
    sub_id, per_minute, per_day, per_month, expires_at = sub
    return Resolved(**{**_fields(base), "subscription_id": str(sub_id), "limits": (per_minute, per_day, per_month),
                       "expires_at": expires_at.timestamp() if expires_at else None})


def _fields(r: Resolved) -> dict[str, Any]:
    return {f: getattr(r, f) for f in Resolved.__dataclass_fields__}


_MESSAGES = {
    "invalid_key": (401, "Send a valid application key in the X-Api-Key header"),
    "app_disabled": (403, "The application is disabled"),
    "not_found": (404, "No such component or version"),
    "no_subscription": (403, "The application has no active subscription to this version"),
}


def _signing_key() -> bytes:
    return hmac.new(get_settings().secret_key.encode(), b"cityhub compute upstream identity", hashlib.sha256).digest()


def identity_headers(app_id: uuid.UUID, org_id: uuid.UUID, method: str, path: str, ts: int | None = None
                     ) -> dict[str, str]:
    """The consumer's identity for the upstream, signed so it cannot be forged by the caller."""
    ts = int(time.time()) if ts is None else ts
    msg = f"{ts}\n{app_id}\n{org_id}\n{method}\n{path}".encode()
    return {"X-Cityhub-App": str(app_id), "X-Cityhub-Org": str(org_id), "X-Cityhub-Timestamp": str(ts),
            "X-Cityhub-Signature": hmac.new(_signing_key(), msg, hashlib.sha256).hexdigest()}


class Gateway:
    """One per server process and database: quota store, metering buffer, breakers and upstream clients."""

    def __init__(self, db: Database | None, *, quota: QuotaStore | None = None, start_meter: bool | None = None,
                 session: Session | None = None) -> None:
        s = get_settings()
        if (db is None) == (session is None):
            raise ValueError("a gateway answers over a database or over one open session, not both")
        self.db = db
        self.settings = s
        self.quota = quota or store_from_settings()
        self._session = session
        scope = db.session_scope if db is not None else self._in_session
        self.meter = Meter(scope, flush_s=s.compute_meter_flush_s, batch=s.compute_meter_batch)
        if db is not None and (start_meter if start_meter is not None else s.compute_meter_flush_s > 0):
            self.meter.start()
        self.breakers: dict[str, Breaker] = {}
        self.clients: dict[str, httpx.AsyncClient] = {}
        self.transport: httpx.AsyncBaseTransport | None = None  # tests stand in for an upstream
        # no I/O: only to find this database's push cache (none in one session: its data is not committed yet)
        self._probe = db.sessionmaker() if db is not None else None

    @classmethod
    def in_session(cls, session: Session) -> Gateway:
        """A gateway answering inside one open transaction (the demo's simulated load, before it commits).

        Resolutions are read in `session` (no push cache: what they read is not committed yet), quotas are counted
        in this process, and `meter.flush()` writes the calls into `session`; no flusher thread runs.
        """
        from cityhub.compute.gateway.quota import MemoryQuota

        return cls(None, quota=MemoryQuota(), session=session)

    @contextmanager
    def _in_session(self) -> Iterator[Session]:
        assert self._session is not None
        with self._session.begin_nested():  # a failed flush leaves the caller's transaction usable
            yield self._session

    async def call(self, method: str, code: str, version: str, path: str = "", *, key: str = "",
                   query: str = "", body: bytes = b"") -> Response:
        """Answer one call made in this process, exactly as an HTTP call of /hub/{code}/{version}/{path} is."""
        from starlette.requests import Request as StarletteRequest

        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        headers = [(b"x-api-key", key.encode())] if key else []
        if body:
            headers.append((b"content-type", b"application/json"))
        scope = {"type": "http", "method": method.upper(), "path": f"/hub/{code}/{version}/{path}",
                 "raw_path": f"/hub/{code}/{version}/{path}".encode(), "query_string": query.encode(),
                 "headers": headers, "scheme": "http", "server": ("local", 0), "client": ("127.0.0.1", 0),
                 "root_path": "", "http_version": "1.1"}
        return await self.handle(StarletteRequest(scope, receive), code, version, path)

    # ---- resolution

    async def _resolve(self, raw_key: str, code: str, version: str) -> Resolved:
        hashed = key_hash(raw_key)
        if self._session is not None:
            return resolve(self._session, hashed, code, version)
        cache = pushcache.for_session(self._probe) if self._probe is not None else None
        ck = (hashed, code, version)
        if cache is not None:
            hit = cache.get(GATEWAY_NS, ck)
            if hit is not None:
                return hit  # type: ignore[no-any-return]  # a Resolved put below
            generation = cache.generation(GATEWAY_NS)
        res = await run_in_threadpool(self._load, hashed, code, version)
        if cache is not None:
            cache.put(GATEWAY_NS, ck, res, generation)
        return res

    def _load(self, hashed: str, code: str, version: str) -> Resolved:
        assert self.db is not None  # a gateway in one session resolves in it (above)
        session = self.db.sessionmaker()
        try:
            return resolve(session, hashed, code, version)
        finally:
            session.rollback()
            session.close()

    # ---- the call

    async def handle(self, request: Request, code: str, version: str, path: str) -> Response:
        """Answer one gateway call and meter it."""
        started = time.perf_counter()
        method = request.method
        res: Resolved | None = None
        bytes_in = 0
        try:
            raw_key = request.headers.get("x-api-key", "")
            if not raw_key:
                auth = request.headers.get("authorization", "")
                raw_key = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
            if not raw_key or len(raw_key) > 200:
                raise GatewayError(401, "invalid_key", _MESSAGES["invalid_key"][1])
            body = await request.body()
            bytes_in = len(body)
            if bytes_in > self.settings.compute_max_request_bytes:
                raise GatewayError(413, "payload_too_large",
                                   f"Request body over {self.settings.compute_max_request_bytes} bytes")
            res = await self._resolve(raw_key, code, version)
            if res.error is not None:
                status, message = _MESSAGES[res.error]
                raise GatewayError(status, res.error, message)
            if res.expires_at is not None and res.expires_at <= time.time():
                raise GatewayError(403, "subscription_expired", "The subscription has expired",
                                   details={"expired_at": datetime.fromtimestamp(res.expires_at, UTC).isoformat()})
            wins = windows(res.limits)
            if wins:
                retry = await self.quota.take(res.subscription_id, wins)
                if retry is not None:
                    raise GatewayError(429, "quota_exceeded", "The subscription's quota is used up",
                                       retry_after=retry)
            if res.kind == "builtin":
                response = self._builtin(res, request, path, body)
            else:
                response = await self._forward(res, request, path, body)
        except GatewayError as exc:
            response = exc.response()
        self._meter(res, method, response, started, bytes_in)
        return response

    def _meter(self, res: Resolved | None, method: str, response: Response, started: float, bytes_in: int) -> None:
        body = getattr(response, "body", b"")
        self.meter.record(CallRecord(
            at=datetime.now(UTC), component_id=res.component_id if res else None,
            version_id=res.version_id if res else None, app_id=res.app_id if res else None,
            org_id=res.org_id if res else None, method=method[:10], status=response.status_code,
            error_code=_error_code(response), latency_ms=(time.perf_counter() - started) * 1000.0,
            bytes_in=bytes_in, bytes_out=len(body) if isinstance(body, bytes | memoryview) else 0),
            res.component_code if res and res.component_id else None)

    def _builtin(self, res: Resolved, request: Request, path: str, body: bytes) -> Response:
        req = builtins.BuiltinRequest(method=request.method, path=path, query=dict(request.query_params), body=body)
        try:
            status, payload = builtins.run(res.builtin, req)
        except builtins.BuiltinError as exc:
            details = [{"field": exc.field, "message": exc.message}] if exc.field else None
            raise GatewayError(exc.status, exc.code, exc.message, details=details) from exc
        return Response(orjson.dumps(payload), status_code=status, media_type=_JSON)

    def _client(self, netloc: str) -> httpx.AsyncClient:
        client = self.clients.get(netloc)
        if client is None:
            client = self.clients[netloc] = egress.async_client_listed(
                upstream_hosts(), timeout=self.settings.compute_upstream_timeout_s, max_connections=50,
                transport=self.transport)
        return client

    async def _forward(self, res: Resolved, request: Request, path: str, body: bytes) -> Response:
        if any(seg in (".", "..") for seg in path.split("/")):
            raise GatewayError(404, "not_found", "No such path")
        base = res.upstream_url
        netloc = urlsplit(base).netloc
        breaker = self.breakers.get(netloc)
        if breaker is None:
            breaker = self.breakers[netloc] = Breaker(self.settings.compute_breaker_failures,
                                                      self.settings.compute_breaker_cooldown_s)
        wait = breaker.allow()
        if wait is not None:
            raise GatewayError(503, "circuit_open", "The component's upstream is failing; try again later",
                               retry_after=wait)
        url = f"{base}/{path}" if path else base
        query = request.url.query
        if query:
            url += "?" + query
        headers = {k: v for k in FORWARD_HEADERS if (v := request.headers.get(k))}
        assert res.app_id is not None and res.org_id is not None  # a resolved subscription has both
        headers.update(identity_headers(res.app_id, res.org_id, request.method, urlsplit(url).path))
        client = self._client(netloc)
        attempts = 1 + (self.settings.compute_upstream_retries if request.method in IDEMPOTENT else 0)
        limit = self.settings.compute_max_response_bytes
        failure: GatewayError | None = None
        for attempt in range(attempts):
            if attempt:
                await asyncio.sleep(0.05 * 2 ** (attempt - 1))
            try:
                async with client.stream(request.method, url, content=body, headers=headers) as upstream:
                    chunks, size = [], 0
                    async for chunk in upstream.aiter_bytes():  # decoded: no content-encoding to pass on
                        size += len(chunk)
                        if size > limit:
                            breaker.success()  # it answered; the answer is too large for us
                            raise GatewayError(502, "upstream_too_large", f"The upstream answered over {limit} bytes")
                        chunks.append(chunk)
                status = upstream.status_code
                if status in RETRY_STATUSES and attempt + 1 < attempts:
                    continue
                if status >= 500:
                    breaker.failure()
                    raise GatewayError(502, "upstream_error", "The component's upstream failed",
                                       details={"upstream_status": status})
                breaker.success()
                out = {k: v for k in ("content-type", "cache-control")
                       if (v := upstream.headers.get(k))}
                return Response(b"".join(chunks), status_code=status, headers=out)
            except httpx.TimeoutException:
                failure = GatewayError(504, "upstream_timeout", "The component's upstream did not answer in time")
            except httpx.TransportError as exc:
                log.info("upstream %s unreachable: %s", netloc, exc)
                failure = GatewayError(502, "upstream_unreachable", "The component's upstream cannot be reached")
        breaker.failure()
        assert failure is not None
        raise failure

    async def aclose(self) -> None:
        """Close the upstream clients and the quota store; write what the meter holds."""
        for client in self.clients.values():
            await client.aclose()
        self.clients.clear()
        close = getattr(self.quota, "close", None)
        if close is not None:
            await close()
        if self._session is not None:
            self.meter.stop()  # writes into the open session, in its own thread
        else:
            await run_in_threadpool(self.meter.stop)


def _error_code(response: Response) -> str:
    if response.status_code < 400 or response.media_type != _JSON:
        return ""
    body = getattr(response, "body", b"")
    if not body.startswith(b'{"error":{"code":"'):
        return ""
    end = body.find(b'"', 18)
    return body[18:end].decode()[:40] if end > 0 else ""


_gateways: weakref.WeakValueDictionary[int, Gateway] = weakref.WeakValueDictionary()


def gateway_for(request: Request) -> Gateway:
    """The process's gateway for the app's database (made at the first call)."""
    state = request.app.state
    gw: Gateway | None = getattr(state, "compute_gateway", None)
    if gw is None:
        gw = state.compute_gateway = Gateway(state.db)
        _gateways[id(gw)] = gw
    return gw


async def shutdown() -> None:
    """Close every gateway of this process (the app's shutdown)."""
    for gw in list(_gateways.values()):
        await gw.aclose()
