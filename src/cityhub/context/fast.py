"""The single-entity GET's fast path: `GET /ngsi-ld/v1/entities/{id}` in its plain form, ahead of the middleware.

A digital twin or a dashboard polls entities one by one; through the platform's stack (sessions, locale, route
matching over a few hundred routes, dependency solving) such a GET cost about 2 ms of server CPU, of which reading
and rendering the entity are a tenth. `app.FastPaths` hands paths under `/ngsi-ld/v1/entities/` here first, with the
usual stack in the scope; this app serves only the request it can answer exactly as the route would, and hands
everything else on unread:

- served here: `GET`, one path segment after `/entities/`, no query string, no `Link`, `NGSILD-Tenant` or
  cookie header, an `Accept` that is absent, `*/*`, `application/json` or `application/ld+json`, anonymous or an
  API token the identity cache already knows (`cached_token_actor`: no I/O), not a portal account, an id not of
  the connect bridge's form, and a visible entity;
- handed on: any other method, path, parameter or header, an unknown or uncached token (the stack authenticates
  it and fills the cache), and an entity that is not found or not visible (the stack answers the ProblemDetails
  404), so every error answer is the route's own.

What is answered is the route's answer: the same visibility rule (`store.visible`, in `store.entity_read`: one
statement per visibility, built once and kept), the same rendering (`entities.render`, normalized, core @context
in a `Link` header or in the body for JSON-LD), the security headers, the request id and the request metrics of
the stack.
Test: `tests/context/test_fast.py` compares both paths answer for answer.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import orjson
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from cityhub.context import bridge, store
from cityhub.context import entities as ent
from cityhub.context.deps import JSON, LD, SLASH, one_statement_read
from cityhub.context.jsonld import core, link_header
from cityhub.core import service as core_service
from cityhub.core.actor import Actor
from cityhub.kit.metrics import HTTP_LATENCY, HTTP_REQUESTS
from cityhub.kit.security_headers import COMMON_HEADERS, CONTENT_SECURITY_POLICY
from cityhub.kit.web import FAST_PATH_STACK

PREFIX = "/ngsi-ld/v1/entities/"
TEMPLATE = "/ngsi-ld/v1/entities/{entity_id}"  # the route's template, for the metrics
_ACCEPTED = {"": JSON, "*/*": JSON, "application/*": JSON, JSON: JSON, LD: LD}
_HANDED_ON = frozenset({b"link", b"ngsild-tenant", b"cookie"})
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_SECURITY = [(b"content-security-policy", CONTENT_SECURITY_POLICY.encode()), *COMMON_HEADERS]


def _plain(scope: Scope) -> tuple[str, str | None, str, str] | None:
    """(entity id, bearer token or None, media type, request id) of a request served here, else None."""
    if scope["method"] != "GET" or scope.get("query_string"):
        return None
    entity_id = scope["path"][len(PREFIX):].replace(SLASH, "/")
    if not entity_id or "/" in scope["path"][len(PREFIX):] or bridge.is_bridged_form(entity_id):
        return None
    token: str | None = None
    accept = ""
    rid = ""
    for k, v in scope["headers"]:
        if k in _HANDED_ON:
            return None
        if k == b"authorization":
            scheme, _sep, value = v.decode("latin-1").partition(" ")
            if scheme.lower() != "bearer" or not value.strip():
                return None
            token = value.strip()
        elif k == b"accept":
            accept = v.decode("latin-1").strip().lower()
        elif k == b"x-request-id":
            rid = v.decode("latin-1")
    media = _ACCEPTED.get(accept)
    if media is None:
        return None
    try:
        ent.check_uri(entity_id, "entityId")
    except Exception:  # the route answers the 400
        return None
    return entity_id, token, media, rid if _REQUEST_ID.fullmatch(rid) else uuid.uuid4().hex


def _read(session: Session, entity_id: str, token: str | None, media: str) -> bytes | None:
    """The rendered entity, or None when the stack must answer (unknown token, portal account, not found)."""
    actor = Actor.anonymous() if token is None else core_service.cached_token_actor(session, token)
    if actor is None or actor.is_portal_account:
        return None
    one_statement_read(session)
    row = store.entity_read(session, actor, entity_id)
    if row is None:
        return None
    ctx = core()
    data = ent.render(row.entity_id, row.types, row.attrs, row.created_at, row.modified_at, ent.View(ctx),
                      scope=row.scope)
    if media == LD:
        data = {"@context": ctx.body_value, **data}
    return orjson.dumps(data)


def _served(app: Any, entity_id: str, token: str | None, media: str) -> bytes | None:
    session: Session = app.state.db.sessionmaker()
    try:
        return _read(session, entity_id, token, media)
    finally:
        session.close()


async def entity_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer a plain single-entity GET, or hand the request to the usual stack."""
    stack: ASGIApp = scope[FAST_PATH_STACK]
    plain = _plain(scope)
    if plain is None:
        await stack(scope, receive, send)
        return
    started = time.perf_counter()
    entity_id, token, media, rid = plain
    body = await run_in_threadpool(_served, scope["app"], entity_id, token, media)
    if body is None:
        await stack(scope, receive, send)
        return
    headers = [(b"content-type", media.encode()), (b"content-length", str(len(body)).encode()),
               *([(b"link", link_header(core().link_url).encode())] if media == JSON else []),
               *_SECURITY, (b"x-request-id", rid.encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
    HTTP_REQUESTS.labels("GET", TEMPLATE, "200").inc()
    HTTP_LATENCY.labels("GET", TEMPLATE).observe(time.perf_counter() - started)
