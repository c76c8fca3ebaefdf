"""Security headers on every response: a Content-Security-Policy that runs no inline script, and no sniffing/framing.

Pages carry no inline script, event handler or `javascript:` URL (a test scans the templates): page code lives in
`/static`, page data in `<script type="application/json">` blocks, which browsers never execute. So even a value that
escaped escaping cannot run. Inline *styles* stay allowed: templates and ECharts' tooltips use `style=` attributes.

FastAPI's API docs (`/docs`, `/redoc`) are the one exception: they load Swagger UI / ReDoc from a CDN in the
visitor's browser and start it with an inline script. Those paths get their own policy that allows that CDN and
exactly the inline scripts the page carries (by hash, computed from the response), nothing else.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "connect-src 'self'",
    "frame-ancestors 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "object-src 'none'",
))

# The API docs pages: Swagger UI and ReDoc from jsDelivr, FastAPI's favicon, ReDoc's logo, web fonts and blob: workers.
DOCS_CDN = "https://cdn.jsdelivr.net"
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})


def docs_policy(script_hashes: Iterable[str]) -> str:
    """The policy of the API docs pages, allowing the inline scripts with these CSP hash sources."""
    return "; ".join((
        "default-src 'self'",
        " ".join(("script-src 'self'", DOCS_CDN, *sorted(set(script_hashes)))),
        f"style-src 'self' 'unsafe-inline' {DOCS_CDN} https://fonts.googleapis.com",
        "font-src 'self' https://fonts.gstatic.com",
        "img-src 'self' data: blob: https://fastapi.tiangolo.com https://cdn.redoc.ly",
        "worker-src 'self' blob:",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "object-src 'none'",
    ))


COMMON_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
)
_OWNED = {b"content-security-policy", *(k for k, _ in COMMON_HEADERS)}
_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc\s*=)[^>]*>(.*?)</script>", re.S | re.I)


def _script_hashes(body: bytes) -> list[str]:
    """CSP hash sources of the inline scripts of an HTML body."""
    return [f"'sha256-{base64.b64encode(hashlib.sha256(m).digest()).decode()}'" for m in _INLINE_SCRIPT.findall(body)]


def _with_headers(headers: Iterable[tuple[bytes, bytes]], csp: str) -> list[tuple[bytes, bytes]]:
    # ours replace any the app set, so no route can send a weaker policy next to this one
    kept = [(k, v) for k, v in headers if k.lower() not in _OWNED]
    return [*kept, (b"content-security-policy", csp.encode()), *COMMON_HEADERS]


class SecurityHeadersMiddleware:
    """Set the Content-Security-Policy, X-Content-Type-Options, X-Frame-Options and Referrer-Policy headers."""

    def __init__(self, app: ASGIApp, docs_paths: Iterable[str] = DOCS_PATHS) -> None:
        self.app = app
        self.docs_paths = frozenset(docs_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Add the headers to the response start (the docs pages: once their body is known)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] in self.docs_paths:
            await self._docs(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = _with_headers(message.get("headers", []), CONTENT_SECURITY_POLICY)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _docs(self, scope: Scope, receive: Receive, send: Send) -> None:
        # the docs pages are small and generated: hold the body to hash its inline scripts into the policy
        start: Message | None = None
        chunks: list[bytes] = []

        async def buffering_send(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = b"".join(chunks)
            start["headers"] = _with_headers(start.get("headers", []), docs_policy(_script_hashes(body)))
            await send(start)
            await send({"type": "http.response.body", "body": body, "more_body": False})

        await self.app(scope, receive, buffering_send)
