"""The gateway: `/hub/{component_code}/{version}/{path}` calls a component for a subscribed application.

It checks the key, the subscription and the quota, then calls the component — a built-in in this process, or its
upstream through a pooled async client — and meters the call.

It is served by `gateway.asgi`, a bare ASGI app ahead of the platform's middleware (no session, CSRF, template
or routing work on the gateway's path). Hot path, per call: an HMAC of the key, one dictionary lookup of the
resolution (key, component, version → application, subscription, target; cached in the push cache on PostgreSQL
and cleared in every process when a key, application, subscription or component changes), the quota (the calls
of one event-loop turn decided by one Redis script run, or a dictionary), the call, one append to the metering
buffer. No database round trip once a resolution is cached; on SQLite (no push cache) each call reads it in the
thread pool.

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
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from cityhub.compute.access.service import key_hash
from cityhub.compute.builtins import service as builtins
from cityhub.compute.gateway.breaker import Breaker
from cityhub.compute.gateway.quota import FIXED, QuotaStore, store_from_settings, windows
from cityhub.compute.metering.service import CallRecord, Meter
from cityhub.compute.models import AppKey, Component, ComponentVersion, Subscription, SubscriptionStatus
from cityhub.compute.models import ConsumerApp as App
from cityhub.compute.registry.service import CALLABLE_STATUSES, GATEWAY_NS, upstream_hosts
from cityhub.kit import clock, egress, pushcache
from cityhub.kit.db import Database
from cityhub.kit.settings import get_settings

log = logging.getLogger("cityhub.compute.gateway")
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRY_STATUSES = frozenset({502, 503, 504})
FORWARD_HEADERS = ("content-type", "accept", "accept-language", "x-request-id")
_JSON = "application/json"
APP_RESOLVE_TTL_S = 5.0  # how long call_as_app trusts a resolution it read


@dataclass(slots=True)
class Answer:
    """What the gateway answers: status, body, its media type and any further headers."""

    status: int
    body: bytes
    media_type: str = _JSON
    headers: dict[str, str] = field(default_factory=dict)


class GatewayError(Exception):
    """A refusal in the gateway's envelope."""

    def __init__(self, status: int, code: str, message: str, *, retry_after: float | None = None,
                 details: Any = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details
        self.retry_after = None if retry_after is None else max(1, math.ceil(retry_after))

    def answer(self) -> Answer:
        """The JSON answer."""
        body = orjson.dumps({"error": {"code": self.code, "message": self.message, "details": self.details}})
        headers = {"retry-after": str(self.retry_after)} if self.retry_after is not None else {}
        return Answer(self.status, body, _JSON, headers)


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
    window: str = FIXED  # fixed or sliding quota windows
    expires_at: float | None = None  # epoch seconds


_KEY = select(AppKey.revoked_at, App.id, App.org_id, App.disabled).join(App, App.id == AppKey.app_id)
_TARGET = select(Component.id, Component.status, ComponentVersion.id, ComponentVersion.kind,
                 ComponentVersion.upstream_url, ComponentVersion.builtin, ComponentVersion.published_at
                 ).join(ComponentVersion, ComponentVersion.component_id == Component.id)
_SUB = select(Subscription.id, Subscription.quota_per_minute, Subscription.quota_per_day, Subscription.quota_per_month,
              Subscription.quota_window, Subscription.expires_at)


def resolve(session: Session, hashed: str, code: str, version: str) -> Resolved:
    """Read what a call resolves to (three indexed lookups)."""
    key = session.execute(_KEY.where(AppKey.key_hash == hashed)).first()
    if key is None or key[0] is not None:
        return Resolved(error="invalid_key")
    _revoked, app_id, org_id, disabled = key
    if disabled:
        return Resolved(error="app_disabled", app_id=app_id, org_id=org_id)
    return _resolve_target(session, app_id, org_id, code, version)


def resolve_app(session: Session, app_id: uuid.UUID, code: str, version: str) -> Resolved:
    """What a call made as an application resolves to, without its key (the unit's batch jobs)."""
    app = session.execute(select(App.org_id, App.disabled).where(App.id == app_id)).first()
    if app is None:
        return Resolved(error="invalid_key")
    if app[1]:
        return Resolved(error="app_disabled", app_id=app_id, org_id=app[0])
    return _resolve_target(session, app_id, app[0], code, version)


def _resolve_target(session: Session, app_id: uuid.UUID, org_id: uuid.UUID, code: str, version: str) -> Resolved:
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
    sub_id, per_minute, per_day, per_month, window, expires_at = sub
    return Resolved(**{**_fields(base), "subscription_id": str(sub_id), "limits": (per_minute, per_day, per_month),
                       "window": window or FIXED, "expires_at": expires_at.timestamp() if expires_at else None})


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
        self.pools: dict[str, egress.UpstreamPool] = {}  # the lean pooled client of each upstream origin
        self.clients: dict[str, httpx.AsyncClient] = {}  # httpx over `transport` only
        self.transport: httpx.AsyncBaseTransport | None = None  # tests stand in for an upstream (httpx.MockTransport)
        self._cache: pushcache.PushCache | None = None  # this database's push cache, found at the first call
        self._by_app: dict[tuple[uuid.UUID, str, str], tuple[float, Resolved]] = {}  # call_as_app's resolutions
        self._by_app_loading: dict[tuple[uuid.UUID, str, str], asyncio.Future[Resolved]] = {}

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
                   query: str = "", body: bytes = b"", headers: Mapping[str, str] | None = None) -> Answer:
        """Answer one call made in this process, exactly as an HTTP call of /hub/{code}/{version}/{path} is."""
        hdrs = {k.lower(): v for k, v in (headers or {}).items()}
        if key:
            hdrs["x-api-key"] = key
        if body and "content-type" not in hdrs:
            hdrs["content-type"] = _JSON
        return await self.answer(method.upper(), code, version, path, hdrs, query, body)

    # ---- resolution

    async def _resolve(self, raw_key: str, code: str, version: str) -> Resolved:
        hashed = key_hash(raw_key)
        if self._session is not None:
            return resolve(self._session, hashed, code, version)
        cache = self._cache
        if cache is None or not cache.listening:  # none in one session: its data is not committed yet
            cache = self._cache = pushcache.for_engine(self.db.engine) if self.db is not None else None
            if cache is not None and not cache.listening:
                cache = None
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

    async def answer(self, method: str, code: str, version: str, path: str, headers: Mapping[str, str],
                     query: str, body: bytes, *, too_large: bool = False) -> Answer:
        """Answer one gateway call and meter it.

        `headers` holds the request's headers by lower-case name (at least the key's and those passed upstream);
        `too_large` says the body was cut at the size limit (a 413, still metered).
        """
        started = time.perf_counter()
        res: Resolved | None = None
        try:
            raw_key = headers.get("x-api-key", "")
            if not raw_key:
                auth = headers.get("authorization", "")
                raw_key = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
            if not raw_key or len(raw_key) > 200:
                raise GatewayError(401, "invalid_key", _MESSAGES["invalid_key"][1])
            if too_large or len(body) > self.settings.compute_max_request_bytes:
                raise GatewayError(413, "payload_too_large",
                                   f"Request body over {self.settings.compute_max_request_bytes} bytes")
            res = await self._resolve(raw_key, code, version)
            answer = await self._serve(res, method, path, query, headers, body)
        except GatewayError as exc:
            answer = exc.answer()
            error_code = exc.code
        else:
            error_code = ""
        self._meter(res, method, answer, error_code, started, len(body))
        return answer

    async def call_as_app(self, app_id: uuid.UUID, method: str, code: str, version: str, path: str = "", *,
                          query: str = "", body: bytes = b"", headers: Mapping[str, str] | None = None) -> Answer:
        """Call a component as one of a unit's applications, without its key (the unit's batch jobs).

        The same subscription, expiry and quota checks and the same metering as a call over HTTP; the resolution
        is read again after `APP_RESOLVE_TTL_S`, so a subscription ended while a job runs stops its calls.
        """
        started = time.perf_counter()
        res: Resolved | None = None
        hdrs = {k.lower(): v for k, v in (headers or {}).items()}
        if body and "content-type" not in hdrs:
            hdrs["content-type"] = _JSON
        try:
            res = await self._resolve_app(app_id, code, version)
            answer = await self._serve(res, method.upper(), path, query, hdrs, body)
        except GatewayError as exc:
            answer = exc.answer()
            error_code = exc.code
        else:
            error_code = ""
        self._meter(res, method.upper(), answer, error_code, started, len(body))
        return answer

    async def _resolve_app(self, app_id: uuid.UUID, code: str, version: str) -> Resolved:
        """The application's resolution, read once per APP_RESOLVE_TTL_S (concurrent calls wait for one read)."""
        ck = (app_id, code, version)
        hit = self._by_app.get(ck)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        if self._session is not None:
            res = resolve_app(self._session, app_id, code, version)
        else:
            pending = self._by_app_loading.get(ck)
            if pending is not None:
                return await asyncio.shield(pending)
            pending = self._by_app_loading[ck] = asyncio.get_running_loop().create_future()
            try:
                res = await run_in_threadpool(self._load_app, app_id, code, version)
            except BaseException as exc:
                pending.set_exception(exc)
                pending.exception()  # retrieved: those waiting get it, nobody else needs to
                raise
            finally:
                self._by_app_loading.pop(ck, None)
            pending.set_result(res)
        self._by_app[ck] = (time.monotonic() + APP_RESOLVE_TTL_S, res)
        return res

    def _load_app(self, app_id: uuid.UUID, code: str, version: str) -> Resolved:
        assert self.db is not None
        session = self.db.sessionmaker()
        try:
            return resolve_app(session, app_id, code, version)
        finally:
            session.rollback()
            session.close()

    async def _serve(self, res: Resolved, method: str, path: str, query: str, headers: Mapping[str, str],
                     body: bytes) -> Answer:
        """A resolved call: its refusal, the expiry, the quota, then the component."""
        if res.error is not None:
            status, message = _MESSAGES[res.error]
            raise GatewayError(status, res.error, message)
        if res.expires_at is not None and res.expires_at <= time.time():
            raise GatewayError(403, "subscription_expired", "The subscription has expired",
                               details={"expired_at": datetime.fromtimestamp(res.expires_at, UTC).isoformat()})
        if res.limits != (None, None, None):
            try:
                retry = await self.quota.take(res.subscription_id, windows(res.limits, mode=res.window))
            except (OSError, ConnectionError, TimeoutError) as exc:  # the shared counters cannot be reached
                log.warning("quota store unreachable: %s", exc)
                raise GatewayError(503, "quota_unavailable", "The quota counters cannot be reached; try again",
                                   retry_after=1) from exc
            except Exception as exc:
                if type(exc).__module__.startswith("redis"):  # redis' own connection and timeout errors
                    log.warning("quota store failed: %s", exc)
                    raise GatewayError(503, "quota_unavailable",
                                       "The quota counters cannot be reached; try again", retry_after=1) from exc
                raise
            if retry is not None:
                raise GatewayError(429, "quota_exceeded", "The subscription's quota is used up", retry_after=retry)
        if res.kind == "builtin":
            return await self._builtin(res, method, path, query, body)
        return await self._forward(res, method, path, query, headers, body)

    def _meter(self, res: Resolved | None, method: str, answer: Answer, error_code: str, started: float,
               bytes_in: int) -> None:
        if res is None:
            comp = version_id = app_id = org_id = None
        else:
            comp, version_id, app_id, org_id = res.component_id, res.version_id, res.app_id, res.org_id
        self.meter.record(CallRecord(
            at=clock.now(), component_id=comp, version_id=version_id, app_id=app_id, org_id=org_id,
            method=method[:10], status=answer.status, error_code=error_code,
            latency_ms=(time.perf_counter() - started) * 1000.0, bytes_in=bytes_in, bytes_out=len(answer.body)),
            res.component_code if res is not None and comp is not None else None)

    async def _builtin(self, res: Resolved, method: str, path: str, query: str, body: bytes) -> Answer:
        reader = self._telemetry_reader(res) if builtins.reads_telemetry(res.builtin) else None
        req = builtins.BuiltinRequest(method=method, path=path, query=dict(parse_qsl(query)) if query else {},
                                      body=body, telemetry=reader)
        try:
            if builtins.is_blocking(res.builtin):  # a computation that takes a while: off the event loop
                status, payload = await run_in_threadpool(builtins.run, res.builtin, req)
            else:
                status, payload = builtins.run(res.builtin, req)
        except builtins.BuiltinError as exc:
            details = [{"field": exc.field, "message": exc.message}] if exc.field else None
            raise GatewayError(exc.status, exc.code, exc.message, details=details) from exc
        return Answer(status, orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY))

    def _telemetry_reader(self, res: Resolved) -> builtins.TelemetryReader:
        """Read a device's stored telemetry as the calling application's unit (its staff's read rights there).

        Called from the worker thread a blocking built-in runs in; its own short read-only session (or the demo
        gateway's transaction).
        """
        from cityhub.connect import service as connect
        from cityhub.core.actor import Actor

        assert res.org_id is not None
        actor = Actor.unit_staff(f"app:{res.app_id}", res.org_id)

        def read(device_id: uuid.UUID, metric: str, start: datetime, end: datetime,
                 limit: int) -> list[tuple[datetime, float]]:
            own = self._session is None
            session = self._session
            if session is None:
                assert self.db is not None  # a gateway has a database or an open session
                session = self.db.sessionmaker()
            try:
                rows = connect.telemetry_raw(session, actor, device_id, keys=[metric], start=start, end=end,
                                             limit=limit)
            finally:
                if own:
                    session.rollback()
                    session.close()
            return [(ts, float(v)) for _k, ts, v, _t in rows if v is not None]

        return read

    def _pool(self, netloc: str) -> egress.UpstreamPool:
        pool = self.pools.get(netloc)
        if pool is None:
            pool = self.pools[netloc] = egress.UpstreamPool(
                upstream_hosts(), timeout=self.settings.compute_upstream_timeout_s, max_connections=50)
        return pool

    async def _send(self, netloc: str, method: str, url: str, headers: dict[str, str], body: bytes,
                    limit: int) -> egress.Reply:
        """One upstream exchange: the lean pool of the upstream's origin, or httpx over `transport` (tests)."""
        if self.transport is None:
            return await self._pool(netloc).request(method, url, headers, body, limit=limit)
        client = self.clients.get(netloc)
        if client is None:
            client = self.clients[netloc] = egress.async_client_listed(
                upstream_hosts(), timeout=self.settings.compute_upstream_timeout_s, transport=self.transport)
        try:
            async with client.stream(method, url, content=body, headers=headers) as upstream:
                chunks, size = [], 0
                async for chunk in upstream.aiter_bytes():  # decoded: no content-encoding to pass on
                    size += len(chunk)
                    if size > limit:
                        raise egress.UpstreamTooLarge(f"answer over {limit} bytes")
                    chunks.append(chunk)
            return egress.Reply(upstream.status_code, dict(upstream.headers), b"".join(chunks))
        except httpx.TimeoutException as exc:
            raise egress.UpstreamTimeout(str(exc)) from exc
        except httpx.TransportError as exc:
            raise egress.UpstreamUnreachable(str(exc)) from exc

    async def _forward(self, res: Resolved, method: str, path: str, query: str, headers: Mapping[str, str],
                       body: bytes) -> Answer:
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
        if query:
            url += "?" + query
        out_headers = {k: v for k in FORWARD_HEADERS if (v := headers.get(k))}
        assert res.app_id is not None and res.org_id is not None  # a resolved subscription has both
        out_headers.update(identity_headers(res.app_id, res.org_id, method, urlsplit(url).path))
        attempts = 1 + (self.settings.compute_upstream_retries if method in IDEMPOTENT else 0)
        limit = self.settings.compute_max_response_bytes
        failure: GatewayError | None = None
        for attempt in range(attempts):
            if attempt:
                await asyncio.sleep(0.05 * 2 ** (attempt - 1))
            try:
                reply = await self._send(netloc, method, url, out_headers, body, limit)
            except egress.UpstreamTooLarge as exc:
                breaker.success()  # it answered; the answer is too large for us
                raise GatewayError(502, "upstream_too_large", f"The upstream answered over {limit} bytes") from exc
            except egress.UpstreamTimeout:
                failure = GatewayError(504, "upstream_timeout", "The component's upstream did not answer in time")
                continue
            except egress.UpstreamUnreachable as exc:
                log.info("upstream %s unreachable: %s", netloc, exc)
                failure = GatewayError(502, "upstream_unreachable", "The component's upstream cannot be reached")
                continue
            status = reply.status
            if status in RETRY_STATUSES and attempt + 1 < attempts:
                continue
            if status >= 500:
                breaker.failure()
                raise GatewayError(502, "upstream_error", "The component's upstream failed",
                                   details={"upstream_status": status})
            breaker.success()
            media = reply.headers.get("content-type", "")
            extra = {"cache-control": cc} if (cc := reply.headers.get("cache-control")) else {}
            return Answer(status, reply.body, media, extra)
        breaker.failure()
        assert failure is not None
        raise failure

    async def aclose(self) -> None:
        """Close the upstream clients and the quota store; write what the meter holds."""
        for client in self.clients.values():
            await client.aclose()
        self.clients.clear()
        for pool in self.pools.values():
            await pool.aclose()
        self.pools.clear()
        close = getattr(self.quota, "close", None)
        if close is not None:
            await close()
        if self._session is not None:
            self.meter.stop()  # writes into the open session, in its own thread
        else:
            await run_in_threadpool(self.meter.stop)


_gateways: weakref.WeakValueDictionary[int, Gateway] = weakref.WeakValueDictionary()


def gateway_for(app: Any) -> Gateway:
    """The process's gateway for the app's database (made at the first call; `app` is the ASGI app)."""
    state = app.state
    gw: Gateway | None = getattr(state, "compute_gateway", None)
    if gw is None:
        gw = state.compute_gateway = Gateway(state.db)
        _gateways[id(gw)] = gw
    return gw


async def shutdown() -> None:
    """Close every gateway of this process (the app's shutdown)."""
    for gw in list(_gateways.values()):
        await gw.aclose()
