"""FastAPI factory: middleware, error envelope, health/metrics, and every domain's api and pages routers."""

from __future__ import annotations

import importlib
import importlib.util
import logging
import re
import socket
import time
import uuid
from typing import Any
from urllib.parse import quote, urlparse

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import DataError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from cityhub import __version__
from cityhub.core.deps import PORTAL_ACCOUNT, portal_seal
from cityhub.kit import context, events, i18n, pushcache, safejson
from cityhub.kit.db import Database
from cityhub.kit.errors import CityhubError, PayloadTooLarge, RateLimited, ValidationFailed, public_envelope
from cityhub.kit.metrics import HTTP_LATENCY, HTTP_REQUESTS, REGISTRY, db_metrics
from cityhub.kit.security_headers import SecurityHeadersMiddleware
from cityhub.kit.settings import Settings, get_settings
from cityhub.kit.web import FAST_PATH_STACK, LARGE_BODY_PREFIXES, STATIC_DIR, redirect_with_message, render

log = logging.getLogger("cityhub")
access_log = logging.getLogger("cityhub.access")  # one line per request, unless CITYHUB_ACCESS_LOG=false

# Domains in navigation order; each may have `api.py` and `pages.py` exposing `router` (and `extra_routers`).
DOMAINS = ("core", "cloud", "connect", "context", "data", "compute", "ops", "apply", "web")
STATUS_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                405: "method_not_allowed", 409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type",
                422: "validation_failed", 429: "rate_limited"}


class RequestContextMiddleware:
    """Request id, client IP and locale for the request; metrics by route template."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Set the context, call the app, record metrics."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
        rid = _request_id(headers.get("x-request-id", ""))
        scope[REQUEST_ID_KEY] = rid  # for the last-resort 500 handler, which runs outside this middleware
        # The peer address, which ProxyHeadersMiddleware (outside this one) has replaced by the forwarded client
        # only when the peer is a configured proxy: the one client IP of audit rows, lockouts and rate limits.
        client = scope.get("client")
        ctx_token = context.set_current(context.RequestContext(
            request_id=rid, ip=str(client[0])[:64] if client else "",
            channel="api" if scope["path"].startswith("/api") else "web"))
        # zh-CN first: the language cookie (set by the header switch) decides, else the configured default.
        locale = _cookie(headers.get("cookie", ""), "cityhub_lang") or self.settings.default_locale
        loc_token = i18n.set_locale(locale)
        status = {"code": 500}
        started = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or ("static" if scope["path"].startswith("/static") else
                                                         "unmatched")
            elapsed = time.perf_counter() - started
            HTTP_REQUESTS.labels(scope["method"], template, str(status["code"])).inc()
            HTTP_LATENCY.labels(scope["method"], template).observe(elapsed)
            if self.settings.access_log:  # the path only: a query string may carry a token or personal data
                access_log.info("%s %s %d %.1fms rid=%s", scope["method"], scope["path"], status["code"],
                                elapsed * 1000, rid)
            i18n.reset_locale(loc_token)
            context.reset(ctx_token)


REQUEST_ID_KEY = "cityhub.request_id"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def _request_id(supplied: str) -> str:
    """The caller's X-Request-Id when it is a plain token (it lands in logs and audit rows), else a fresh one."""
    return supplied if _REQUEST_ID.fullmatch(supplied) else uuid.uuid4().hex


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        k, _, v = part.strip().partition("=")
        if k == name and v:
            return v
    return None


class _TooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """Answer 413 to bodies over the limit, by Content-Length or while streaming (uploads get a larger limit)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse oversized bodies before and while they are read."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        large = any(path.startswith(p) for p in LARGE_BODY_PREFIXES)
        limit = self.settings.upload_max_bytes if large else self.settings.max_body_bytes
        ctype: bytes | None = None
        for k, v in scope.get("headers", []):
            if k == b"content-length" and v.isdigit() and int(v) > limit:
                await _send_error(send, PayloadTooLarge(f"Request body over {limit} bytes"))
                return
            if k == b"content-type":
                ctype = v
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        app_receive: Receive = limited_receive
        if not large and scope["method"] not in ("GET", "HEAD", "OPTIONS") and safejson.json_media(ctype):
            # A JSON body nested deeper than safejson allows is refused before anything parses it (FastAPI's
            # parser, like any recursive one, would raise RecursionError). Only bodies under the ordinary limit
            # are read ahead like this; upload paths stream, and what is JSON there is parsed by our code
            # (safejson) or by FastAPI behind kit.web.SessionRoute's same check.
            try:
                app_receive = await _depth_checked(limited_receive)
            except ValidationFailed as exc:
                await _send_error(send, exc)
                return
            except _TooLarge:
                await _send_error(send, PayloadTooLarge(f"Request body over {limit} bytes"))
                return
        try:
            await self.app(scope, app_receive, tracking_send)
        except _TooLarge:
            if not started:
                await _send_error(send, PayloadTooLarge(f"Request body over {limit} bytes"))


async def _depth_checked(receive: Receive) -> Receive:
    """Read the whole body and check its nesting (ValidationFailed); a receive that replays it, then goes live."""
    pending: list[Message] = []
    while True:
        message = await receive()
        pending.append(message)
        if message["type"] != "http.request" or not message.get("more_body", False):
            break
    body = b"".join(m.get("body", b"") for m in pending if m["type"] == "http.request")
    safejson.check_depth(body)
    pending.reverse()

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


async def _send_error(send: Send, err: CityhubError) -> None:
    import json

    body = json.dumps(err.envelope()).encode()
    await send({"type": "http.response.start", "status": err.status_code,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _wants_html(request: Request) -> bool:
    path = request.url.path
    if path.startswith("/api") or path.endswith((".json", ".csv", ".ttl", ".rdf", ".jsonld")):
        return False
    return "text/html" in request.headers.get("accept", "")


def _error_response(request: Request, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
                    ) -> Response:
    if _wants_html(request):
        if status == 401:
            return RedirectResponse(f"/login?next={quote(str(request.url.path))}", status_code=303)
        err = body.get("error", {})
        if status == 403 and err.get("code") == PORTAL_ACCOUNT:  # a citizen on an internal page: their portal
            return redirect_with_message("/portal", err.get("message"))
        return render(request, "error.html", {"status": status, "message": err.get("message", "")},
                      status_code=status)
    return JSONResponse(body, status_code=status, headers=headers)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(CityhubError)
    async def cityhub_error(request: Request, exc: CityhubError) -> Response:
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
        if exc.status_code == 401:
            headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
        if exc.status_code >= 500:  # the caller gets a generic message and the request id; the log gets the rest
            log.warning("%s on %s %s: %s %s (cause: %r)", exc.code, request.method, request.url.path, exc.message,
                        exc.details, exc.__cause__)
        return _error_response(request, exc.status_code, public_envelope(exc, context.current().request_id),
                               headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        details = []
        for e in exc.errors():
            loc = [str(p) for p in e.get("loc", ())]
            details.append({"field": ".".join(loc[1:] if loc and loc[0] in ("body", "query", "path", "header")
                                              else loc) or "body",
                            "in": loc[0] if loc else "body", "message": e.get("msg", ""), "type": e.get("type", "")})
        fields = ", ".join(d["field"] for d in details)
        body = {"error": {"code": "validation_failed", "message": f"Invalid input: {fields}", "details": details}}
        return _error_response(request, 422, body)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = STATUS_CODES.get(exc.status_code, "error")
        body = {"error": {"code": code, "message": str(exc.detail), "details": None}}
        return _error_response(request, exc.status_code, body, dict(exc.headers or {}))

    @app.exception_handler(IntegrityError)
    async def integrity_error(request: Request, exc: IntegrityError) -> Response:
        # A safety net: services check references and uniqueness first and name the field; this keeps a
        # constraint the check missed a clear 409 instead of a 500.
        log.warning("integrity error on %s %s: %s", request.method, request.url.path, exc.orig)
        body = {"error": {"code": "conflict", "message": "The change conflicts with existing data",
                          "details": {"constraint": str(exc.orig).splitlines()[0][:200]}}}
        return _error_response(request, 409, body)

    @app.exception_handler(DataError)
    async def data_error(request: Request, exc: DataError) -> Response:
        log.warning("data error on %s %s: %s", request.method, request.url.path, exc.orig)
        body = {"error": {"code": "validation_failed", "message": "A value is out of range for its field",
                          "details": {"reason": str(exc.orig).splitlines()[0][:200]}}}
        return _error_response(request, 422, body)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        # Starlette calls this from its outermost middleware, after RequestContextMiddleware has finished: the
        # request id comes from the scope, and the response header is set here.
        rid = str(request.scope.get(REQUEST_ID_KEY, ""))
        log.exception("unhandled error on %s %s (request id %s)", request.method, request.url.path, rid)
        body = {"error": {"code": "internal_error", "message": "Internal error; the request id is in the log",
                          "details": {"request_id": rid}}}
        return _error_response(request, 500, body, {"X-Request-Id": rid} if rid else None)


def _broker_reachable(url: str) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 1883), timeout=1):
            return True
    except OSError:
        return False


class FastPaths:
    """Paths a domain serves with its own bare ASGI app, ahead of the platform's middleware stack.

    For traffic that is not a person's or a staff system's (the compute gateway `/hub/`, keyed by application
    keys): no session, CSRF, locale, template or route matching applies to it, and that stack costs several
    times such a call's own work. The app answers everything itself, errors included, or hands the request on
    unread to the usual stack, which it finds in the scope under `kit.web.FAST_PATH_STACK` (the NGSI-LD
    single-entity GET serves only its plain form itself).
    """

    def __init__(self, app: ASGIApp, paths: list[tuple[str, ASGIApp]]) -> None:
        self.app = app
        self.paths = tuple(paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Dispatch by path prefix; everything else goes through the stack."""
        if scope["type"] == "http":
            path: str = scope["path"]
            for prefix, fast in self.paths:
                if path.startswith(prefix):
                    scope[FAST_PATH_STACK] = self.app  # a fast path may hand a request it does not serve to the stack
                    await fast(scope, receive, send)
                    return
        await self.app(scope, receive, send)


class CityhubApp(FastAPI):
    """FastAPI with the domains' fast paths (`fast_paths` in a domain's api module) in front of the middleware."""

    fast_paths: list[tuple[str, ASGIApp]]

    def build_middleware_stack(self) -> ASGIApp:
        """The usual stack, behind the fast paths."""
        stack = super().build_middleware_stack()
        paths = getattr(self, "fast_paths", [])
        return FastPaths(stack, paths) if paths else stack


def _mount_domains(app: CityhubApp) -> None:
    app.fast_paths = []
    for domain in DOMAINS:
        for part in ("api", "pages"):
            name = f"cityhub.{domain}.{part}"
            if importlib.util.find_spec(f"cityhub.{domain}") is None or importlib.util.find_spec(name) is None:
                continue
            module = importlib.import_module(name)
            app.fast_paths += getattr(module, "fast_paths", [])
            for router in [getattr(module, "router", None), *getattr(module, "extra_routers", [])]:
                if router is not None:
                    app.include_router(router, include_in_schema=part == "api")


def create_app(settings: Settings | None = None, db: Database | None = None) -> FastAPI:
    """Build the ASGI app; tests pass their own Database bound to a rolled-back transaction."""
    settings = settings or get_settings()
    app = CityhubApp(title="cityhub 城市智能中枢", version=__version__,
                  description="One platform over a city's cloud, sensing network, data, compute and programme.",
                  # portal accounts stay in the portal's area, whatever a route's own dependencies (core.deps)
                  dependencies=[Depends(portal_seal)])
    app.state.settings = settings
    app.state.db = db or Database.from_settings(settings)
    if db is None and settings.push_cache:
        # only for the database the app opens itself: a Database handed in (tests) may be a rolled-back
        # transaction, whose invalidations never commit
        pushcache.start(app.state.db.engine)

    @app.get("/healthz", tags=["ops"], include_in_schema=True)
    def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok", "version": __version__}

    @app.get("/readyz", tags=["ops"])
    def readyz(request: Request) -> JSONResponse:
        """The database (and the broker, when configured) is reachable."""
        checks: dict[str, str] = {}
        try:
            with request.app.state.db.engine.connect().execution_options(sqlite_deferred=True) as conn:
                conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:  # readiness reports any failure instead of raising
            checks["database"] = f"error: {type(exc).__name__}"
        if settings.mqtt_url:
            checks["mqtt"] = "ok" if _broker_reachable(settings.mqtt_url) else "unreachable"
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)

    @app.get("/metrics", tags=["ops"], response_class=PlainTextResponse)
    def metrics(request: Request) -> Response:
        """Prometheus metrics (process counters, and those the domains read from the database)."""
        db = request.app.state.db
        body = generate_latest(REGISTRY) + db_metrics(id(db), db.session_scope)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    @app.get("/_bare", include_in_schema=False)
    def bare() -> dict[str, bool]:
        """A route with no auth and no database: the baseline of `benchmarks/api.py`."""
        return {"ok": True}

    _mount_domains(app)
    events.load_subscribers()  # consumers of domain events (e.g. the rule engine on stored telemetry)
    _install_error_handlers(app)
    STATIC_DIR.mkdir(parents=True, exist_ok=True)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(SessionMiddleware, secret_key=settings.secret_key, session_cookie="cityhub_session",
                       max_age=settings.session_max_age_s, same_site="lax", https_only=settings.cookie_secure)
    app.add_middleware(BodyLimitMiddleware, settings=settings)
    app.add_middleware(RequestContextMiddleware, settings=settings)
    proxies = [p.strip() for p in settings.trusted_proxies.split(",") if p.strip()]
    if proxies:  # X-Forwarded-For (rightmost address not a proxy) and -Proto, believed from these peers only
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=proxies)
    app.add_middleware(SecurityHeadersMiddleware)  # outermost: every response, errors included
    return app


def create_served_app() -> FastAPI:
    """The app of `cityhub serve`: `create_app`, then the start-up heap out of the cyclic collector's sight.

    A request that allocates many containers (a batch of 1,000 entities is ~60,000 dicts and lists) triggers
    collections, and each full one walked everything the process built at start-up (every domain's modules,
    routes, SQLAlchemy's mappers), which was a quarter of a batch upsert's server CPU (docs/context.md). As in
    connect's ingest workers (`freeze_startup_heap`): mappers configured, one collection, then `gc.freeze`;
    reference counting still frees frozen objects. Not in `create_app`: tests build many apps in one process.
    """
    import gc

    from sqlalchemy.orm import configure_mappers

    app = create_app()
    configure_mappers()
    gc.collect()
    gc.freeze()
    return app
