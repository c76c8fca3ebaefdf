"""The NGSI-LD HTTP rules (ETSI GS CIM 009 v1.8 clause 6.3): media types, @context in Link or body, answers.

- Request bodies: `application/json` takes its @context from the `Link` header only (an `@context` member is a
  400), `application/ld+json` from the body only (a JSON-LD Link header is a 400, a body without `@context` too),
  `application/merge-patch+json` like JSON on PATCH; any other media type is a 415.
- Answers: `Accept` picks `application/json` (the @context in a Link header), `application/ld+json` (in the
  body) or, for retrieve and query, `application/geo+json`; nothing acceptable is a 406.
- Errors: ProblemDetails for every error of the broker's routes, cityhub's own included (`NgsiRoute`).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cityhub.context.jsonld import LdContext, context_for, link_context, link_header
from cityhub.context.problems import NgsiError, bad, from_cityhub, invalid, problem
from cityhub.kit import safejson
from cityhub.kit.errors import CityhubError, ValidationFailed
from cityhub.kit.settings import get_settings
from cityhub.kit.web import SessionRoute

JSON, LD, GEO, MERGE = "application/json", "application/ld+json", "application/geo+json", "application/merge-patch+json"


def _problem_response(err: NgsiError) -> Response:
    headers = {"WWW-Authenticate": "Bearer"} if err.status_code == 401 else None
    return Response(orjson.dumps(err.problem()), status_code=err.status_code, media_type=JSON, headers=headers)


SLASH = "\x00"  # a slash encoded inside one path segment, from `paths.ngsi_app` until the route has matched


# query parameters a route reads from the request itself rather than declaring them; `local` asks for this
# broker's own entities only, which is all it ever answers with
_QUERY_READ_DIRECTLY = frozenset({"aggrMethods", "aggrPeriodDuration", "local"})


def _query_names(dependant: Dependant) -> set[str]:
    """The query parameters a route declares, through its dependencies too."""
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


class NgsiRoute(SessionRoute):
    """cityhub's route class (commit in the endpoint's thread), answering every error as ProblemDetails."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The session route's handler, with NGSI-LD errors and encoded slashes back in the path parameters."""
        handler = super().get_route_handler()
        known = _query_names(self.dependant) | _QUERY_READ_DIRECTLY

        async def answered(request: Request) -> Response:
            response = await checked(request)
            tenant = request.headers.get("ngsild-tenant")
            if tenant and len(tenant) <= 256:
                response.headers["NGSILD-Tenant"] = tenant  # the tenant applied, echoed (clause 6.3.14)
            return response

        async def checked(request: Request) -> Response:
            unknown = sorted(set(request.query_params) - known)
            if unknown:  # clause 6.3.20 (ETSI TP 059_01)
                return _problem_response(invalid(f"Unknown query parameter: {', '.join(unknown)[:200]}"))
            params = request.scope.get("path_params") or {}
            if any(isinstance(v, str) and SLASH in v for v in params.values()):
                request.scope["path_params"] = {k: v.replace(SLASH, "/") if isinstance(v, str) else v
                                                for k, v in params.items()}
            try:
                return await handler(request)
            except CityhubError as exc:
                return _problem_response(from_cityhub(exc))
            except RequestValidationError as exc:
                first = exc.errors()[0] if exc.errors() else {}
                where = ".".join(str(p) for p in first.get("loc", ())[1:]) or "request"
                return _problem_response(bad(f"{where}: {first.get('msg', 'invalid')}", where))

        return answered


def _media(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


def negotiate(request: Request, *, geo: bool = False) -> str:
    """The media type of the answer, from `Accept`; 406 NotAcceptable when none fits.

    Each representation takes the weight of the most specific range that matches it (RFC 9110 5.3.2: q=0 refuses
    it, a wildcard does not bring it back; a weight that does not parse keeps the default); equal weights go to
    the first of application/json, application/ld+json, application/geo+json (clause 6.3.4, ETSI TP 045).
    """
    header = request.headers.get("accept", "")
    if not header.strip():
        return JSON
    offered = [JSON, LD, *([GEO] if geo else [])]
    ranges: list[tuple[str, float]] = []
    for part in header.split(","):
        media, *params = [p.strip() for p in part.split(";")]
        q = 1.0
        for p in params:
            if p.startswith("q="):
                try:
                    q = min(max(float(p[2:]), 0.0), 1.0)
                except ValueError:
                    q = 1.0
                if q != q:  # NaN
                    q = 1.0
        ranges.append((media.lower(), q))
    best, best_q = None, 0.0
    for media in offered:
        q = _weight(media, ranges)
        if q > best_q:
            best, best_q = media, q
    if best is None:
        raise NgsiError("NotAcceptable", f"None of {header[:100]!r} can be produced; use {', '.join(offered)}")
    return best


def _weight(media: str, ranges: list[tuple[str, float]]) -> float:
    """The weight of `media` under the most specific matching range (0: not acceptable)."""
    for pattern in (media, media.split("/", 1)[0] + "/*", "*/*"):
        found = [q for m, q in ranges if m == pattern]
        if found:
            return max(found)
    return 0.0


@dataclass(frozen=True)
class Incoming:
    """A request's body, its @context (processed), the answer's media type and the tenant header."""

    body: Any
    ctx: LdContext
    ld: bool  # the body is JSON-LD (batch elements then carry their own @context)
    tenant: str | None


def request_context(request: Request) -> LdContext:
    """The @context of a request without a body: the Link header's, else the core context."""
    return context_for(link_context(request.headers.get("link")))


async def read_body(request: Request, *, patch: bool = False) -> Incoming:
    """Check the media type and @context rules and parse the body."""
    ctype = _media(request.headers.get("content-type", ""))
    allowed = (JSON, LD, MERGE) if patch else (JSON, LD)
    if ctype not in allowed:
        raise NgsiError("UnsupportedMediaType", f"Content-Type {ctype or '(none)'} is not supported; use "
                        + " or ".join(allowed))
    raw = await request.body()
    if not raw.strip():
        raise invalid("The request needs a JSON body")
    try:
        body = safejson.loads(raw, max_bytes=get_settings().max_body_bytes)
    except ValidationFailed as exc:
        detail = exc.details[0]["message"] if exc.details else exc.message
        raise invalid(f"Invalid JSON: {detail}") from None
    link = link_context(request.headers.get("link"))
    tenant = request.headers.get("ngsild-tenant")
    if ctype == LD:
        if link is not None:
            raise bad("A JSON-LD body carries its @context itself: no JSON-LD Link header", "Link")
        if isinstance(body, dict):
            if "@context" not in body:
                raise bad("An application/ld+json body needs an @context", "@context")
            return Incoming(body, context_for(body["@context"]), True, tenant)
        return Incoming(body, context_for(None), True, tenant)
    if isinstance(body, dict) and "@context" in body:
        raise bad("@context in the body of an application/json request (send it in a Link header, or use "
                  "application/ld+json)", "@context")
    return Incoming(body, context_for(link), False, tenant)


def answer(data: Any, media: str, ctx: LdContext, *, status: int = 200, headers: dict[str, str] | None = None
           ) -> Response:
    """An NGSI-LD answer in the negotiated form (the @context in the body for JSON-LD, else in a Link header)."""
    out_headers = dict(headers or {})
    if media == GEO and isinstance(data, dict):
        data = {**data, "@context": ctx.body_value}  # the Feature or FeatureCollection carries it (ETSI TP 018_05)
    elif media == LD:
        if isinstance(data, dict):
            data = {"@context": ctx.body_value, **data}
        elif isinstance(data, list):
            data = [{"@context": ctx.body_value, **d} if isinstance(d, dict) else d for d in data]
    else:
        pages = out_headers.get("Link")  # pagination links (`page_links`) go beside the @context's
        out_headers["Link"] = f"{link_header(ctx.link_url)}, {pages}" if pages else link_header(ctx.link_url)
    return Response(orjson.dumps(data), status_code=status, media_type=media, headers=out_headers)


def page_links(path: str, limit: int, offset: int, total: int, media: str) -> dict[str, str]:
    """The `Link` header of a page's neighbours, rel="prev" and rel="next" (clause 5.5.9; ETSI TP 031_02)."""
    links = []
    if offset > 0 and limit > 0:
        links.append(f'<{path}?limit={limit}&offset={max(offset - limit, 0)}>;rel="prev";type="{media}"')
    if limit > 0 and offset + limit < total:
        links.append(f'<{path}?limit={limit}&offset={offset + limit}>;rel="next";type="{media}"')
    return {"Link": ", ".join(links)} if links else {}


def one_statement_read(session: Session) -> None:
    """Run a read that is one SELECT without BEGIN and COMMIT around it (PostgreSQL autocommit).

    A lone SELECT is its own consistent snapshot, so the transaction only added two round trips (BEGIN before it,
    COMMIT after): most of a single-entity GET's database time. Only for a session that has not started and is
    bound to an engine (the app's own; a test's session joined to an outer transaction keeps it); the pool puts
    the connection's isolation level back when it is returned (`test_rows.py::test_one_statement_read`).
    """
    bind = session.get_bind()
    if isinstance(bind, Engine) and bind.dialect.name == "postgresql" and not session.in_transaction():
        session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


def no_content() -> Response:
    """204."""
    return Response(status_code=204)


def multi_status(body: dict[str, Any]) -> Response:
    """207 with a JSON body (batch and attribute results)."""
    return Response(orjson.dumps(body), status_code=207, media_type=JSON)


__all__ = ["GEO", "JSON", "LD", "Incoming", "NgsiRoute", "answer", "multi_status", "negotiate", "no_content",
           "one_statement_read", "problem", "read_body", "request_context"]
