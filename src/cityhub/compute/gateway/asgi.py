"""The gateway's HTTP face: a bare ASGI app for `/hub/{component_code}/{version}/{path}` ahead of the middleware.

The platform's middleware serves people and staff systems (sessions, CSRF, locale, templates, route matching over
hundreds of routes, the portal seal); none of it applies to a call keyed by an application key, and together it
cost several times the gateway's own work per call. `app.create_app` dispatches paths under `/hub/` here before
that stack (`fast_paths` of this domain's api module). What the stack gave that a gateway call needs is done here:
the body limit (CITYHUB_COMPUTE_MAX_REQUEST_BYTES, by Content-Length and while reading), `nosniff`, the request id
echoed when the caller sent a plain one, the error envelope, and a 500 envelope for an unexpected error. Access
logging is the metering (every call is a row of compute_call).
"""

from __future__ import annotations

import logging
import re

from starlette.types import Receive, Scope, Send

from cityhub.compute.gateway.service import FORWARD_HEADERS, Answer, GatewayError, gateway_for

log = logging.getLogger("cityhub.compute.gateway")
PREFIX = "/hub/"
_WANTED = frozenset({"x-api-key", "authorization", "content-length", *FORWARD_HEADERS})
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_NOSNIFF = (b"x-content-type-options", b"nosniff")


async def gateway_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer one call of `/hub/...` (scope["app"] is the platform's app, whose state holds the database)."""
    started = False
    try:
        headers: dict[str, str] = {}
        for k, v in scope["headers"]:
            name = k.decode("latin-1").lower()
            if name in _WANTED:
                headers[name] = v.decode("latin-1")
        parts = scope["path"][len(PREFIX):].split("/", 2)
        if len(parts) < 2 or not parts[0] or not parts[1]:
            answer = GatewayError(404, "not_found", "No such component or version").answer()
        else:
            gw = gateway_for(scope["app"])
            limit = gw.settings.compute_max_request_bytes
            body, too_large = await _body(receive, headers.get("content-length", ""), limit)
            query = scope.get("query_string", b"").decode("latin-1")
            answer = await gw.answer(scope["method"], parts[0], parts[1], parts[2] if len(parts) > 2 else "",
                                     headers, query, body, too_large=too_large)
        started = True
        await _send(send, answer, scope["method"] == "HEAD", headers.get("x-request-id", ""))
    except Exception:
        log.exception("gateway error on %s %s", scope.get("method"), scope.get("path"))
        if not started:
            await _send(send, GatewayError(500, "internal_error", "Internal error; it is in the log").answer(),
                        False, "")


async def _body(receive: Receive, length: str, limit: int) -> tuple[bytes, bool]:
    """The request body, or (b"", True) once it is over `limit` (by Content-Length, or while reading)."""
    if length.isdigit() and int(length) > limit:
        return b"", True
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away
            return b"".join(chunks), False
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                return b"", True
            chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks), False


async def _send(send: Send, answer: Answer, head: bool, request_id: str) -> None:
    raw = [(b"content-length", str(len(answer.body)).encode()), _NOSNIFF]
    if answer.media_type:
        raw.append((b"content-type", answer.media_type.encode("latin-1")))
    for k, v in answer.headers.items():
        raw.append((k.encode("latin-1"), v.encode("latin-1")))
    if request_id and _REQUEST_ID.fullmatch(request_id):
        raw.append((b"x-request-id", request_id.encode()))
    await send({"type": "http.response.start", "status": answer.status, "headers": raw})
    await send({"type": "http.response.body", "body": b"" if head else answer.body})
