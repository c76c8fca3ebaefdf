"""Security headers: every page (and every other response) carries the CSP without inline script, nosniff, DENY."""

from __future__ import annotations

import base64
import hashlib
import importlib
import importlib.util
import re
import uuid
from typing import Any

from fastapi.routing import APIRoute
from starlette.applications import Starlette
from starlette.responses import HTMLResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from cityhub.app import DOMAINS
from cityhub.kit.security_headers import CONTENT_SECURITY_POLICY, SecurityHeadersMiddleware
from tests.web.test_pages import login

EXPECTED = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "strict-origin-when-cross-origin",
}


def _directives(csp: str) -> dict[str, list[str]]:
    return {d.split()[0]: d.split()[1:] for d in (p.strip() for p in csp.split(";")) if d}


def test_the_policy_forbids_inline_script_and_framing() -> None:
    d = _directives(CONTENT_SECURITY_POLICY)
    assert d["script-src"] == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval', no host
    assert d["object-src"] == ["'none'"] and d["frame-ancestors"] == ["'none'"] and d["base-uri"] == ["'self'"]
    assert d["default-src"] == ["'self'"] and d["form-action"] == ["'self'"] and d["connect-src"] == ["'self'"]


def _page_paths() -> list[str]:
    """Every GET route of every domain's pages router; path parameters get an id nobody has."""
    paths: list[str] = []
    for domain in DOMAINS:
        name = f"cityhub.{domain}.pages"
        if importlib.util.find_spec(f"cityhub.{domain}") is None or importlib.util.find_spec(name) is None:
            continue
        module = importlib.import_module(name)
        for router in [getattr(module, "router", None), *getattr(module, "extra_routers", [])]:
            for route in getattr(router, "routes", []):
                gets = isinstance(route, APIRoute) and "GET" in (route.methods or ())
                if gets and not route.path.endswith("/stream"):
                    paths.append(re.sub(r"\{[^}]+\}", str(uuid.uuid4()), route.path))
    return paths


def _assert_headers(r: Any, what: str) -> None:
    for k, v in EXPECTED.items():
        assert r.headers.get(k) == v, (what, r.status_code, k, r.headers.get(k))
    assert len(r.headers.get_list("content-security-policy")) == 1, what


def test_every_page_carries_the_headers(client: Any, world: Any) -> None:
    paths = _page_paths()
    assert len(paths) > 25 and "/ops/screen" in paths and "/portal" in paths  # the walk found the pages
    html = {"accept": "text/html"}
    anonymous = {p: client.get(p, headers=html, follow_redirects=False) for p in paths}
    login(client, "t-admin")
    pages = 0
    for p in paths:
        for r in (anonymous[p], client.get(p, headers=html, follow_redirects=False)):
            _assert_headers(r, p)
            pages += r.headers.get("content-type", "").startswith("text/html")
    assert pages > 30  # most of them rendered HTML (unknown ids render the error page, also with the headers)


def test_other_responses_carry_the_headers_too(client: Any, world: Any) -> None:
    html = {"accept": "text/html"}
    for r, what in ((client.get("/static/cityhub.js"), "static"), (client.get("/nowhere", headers=html), "404 page"),
                    (client.get("/api/v1/nowhere"), "404 json"), (client.get("/healthz"), "api"),
                    (client.post("/login", data={}, headers=html), "refused form")):
        _assert_headers(r, what)


def _script_hash(script: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"


def test_api_docs_allow_exactly_their_own_inline_script(client: Any) -> None:
    r = client.get("/docs")
    assert r.status_code == 200
    scripts = re.findall(r"<script>(.*?)</script>", r.text, re.S)
    assert scripts  # Swagger UI is started by an inline script
    d = _directives(r.headers["content-security-policy"])
    assert d["script-src"] == ["'self'", "https://cdn.jsdelivr.net", *sorted(_script_hash(s) for s in scripts)]
    assert "'unsafe-inline'" not in d["script-src"] and d["frame-ancestors"] == ["'none'"]
    assert r.headers["x-frame-options"] == "DENY" and r.headers["x-content-type-options"] == "nosniff"
    assert int(r.headers["content-length"]) == len(r.content)
    redoc = _directives(client.get("/redoc").headers["content-security-policy"])
    assert redoc["script-src"] == ["'self'", "https://cdn.jsdelivr.net"]  # ReDoc has no inline script


def _toy_app() -> Starlette:
    async def weak(request: Any) -> PlainTextResponse:
        return PlainTextResponse("x", headers={"Content-Security-Policy": "script-src *", "X-Frame-Options": "ALLOW"})

    async def docs(request: Any) -> StreamingResponse:
        async def body() -> Any:
            yield b"<html><script>alert("
            yield b"1)</script><script src='/a.js'></script></html>"
        return StreamingResponse(body(), media_type="text/html")

    async def page(request: Any) -> HTMLResponse:
        return HTMLResponse("<p>ok</p>")

    app = Starlette(routes=[Route("/weak", weak), Route("/docs", docs), Route("/page", page)])
    app.add_middleware(SecurityHeadersMiddleware)
    return app


def test_a_route_cannot_send_a_weaker_policy() -> None:
    with TestClient(_toy_app()) as c:
        r = c.get("/weak")
        assert r.headers.get_list("content-security-policy") == [CONTENT_SECURITY_POLICY]
        assert r.headers.get_list("x-frame-options") == ["DENY"]
        assert c.get("/page").headers["content-security-policy"] == CONTENT_SECURITY_POLICY


def test_docs_policy_hashes_a_streamed_body_whole() -> None:
    with TestClient(_toy_app()) as c:
        r = c.get("/docs")
        assert r.text == "<html><script>alert(1)</script><script src='/a.js'></script></html>"
        assert _directives(r.headers["content-security-policy"])["script-src"] == [
            "'self'", "https://cdn.jsdelivr.net", _script_hash("alert(1)")]
