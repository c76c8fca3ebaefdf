"""Open-data portal HTTP surface: the CKAN Action API, datastore dumps, DCAT-AP 3 and Data Package documents.

Mounted by `data/api.py` (`extra_routers`), so every route is documented and walked by the authorisation matrix.
Anonymous callers are rate-limited per IP and their reads are cached until the next catalog change.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy.orm import Session

from cityhub.core import service as core
from cityhub.core.deps import session_actor
from cityhub.core.service import Actor
from cityhub.data import cache
from cityhub.data.portal import ckan, dcat, downloads
from cityhub.data.portal import service as portal
from cityhub.kit import context, safejson
from cityhub.kit.errors import CityhubError, Forbidden, RateLimited, Unauthorized, ValidationFailed
from cityhub.kit.i18n import gettext as _
from cityhub.kit.settings import get_settings
from cityhub.kit.web import DbSession, SessionRoute, allow_large_bodies, verify_csrf

router = APIRouter(tags=["open data (CKAN-compatible)"], route_class=SessionRoute)
allow_large_bodies("/api/3/action/resource_", "/api/action/resource_")
JSON_TYPE = "application/json;charset=utf-8"


def resolve_actor(request: Request, session: Session) -> Actor:
    """CKAN clients send the token bare in `Authorization` (or `X-CKAN-API-Key`); `Bearer` works too.

    A browser session counts for reads, and for writes only with the CSRF header.
    """
    raw = request.headers.get("authorization", "") or request.headers.get("x-ckan-api-key", "")
    if raw:
        scheme, _sep, value = raw.strip().partition(" ")
        token = value.strip() if scheme.lower() == "bearer" else raw.strip()
        return core.authenticate_token(session, token)
    actor = session_actor(request, session)
    if actor is not None:
        if request.method not in ("GET", "HEAD"):
            verify_csrf(request, request.headers.get("x-csrf-token"))
        return actor
    return Actor.anonymous()


def limit_anonymous(request: Request, actor: Actor) -> None:
    """Per-IP limit for callers without credentials (Redis-backed when configured)."""
    if actor.is_authenticated:
        return
    retry = cache.rate_limit_hit(context.client_ip() or "?", get_settings().portal_rate_limit)
    if retry:
        raise RateLimited(_("Too many requests from your address; slow down"), retry_after=retry)


def base_url(request: Request) -> str:
    """The site root as the client sees it (no trailing slash)."""
    return str(request.base_url).rstrip("/")


# ---------------------------------------------------------------- Action API


@dataclass
class _Parsed:
    params: dict[str, Any] = field(default_factory=dict)
    files: dict[str, tuple[str, IO[bytes], str]] = field(default_factory=dict)
    error: str = ""


async def _parse(request: Request) -> _Parsed:
    # GET: query parameters (repeated keys become lists); POST: a JSON object, or a form (multipart for uploads).
    if request.method == "GET":
        params: dict[str, Any] = {}
        for k in request.query_params:
            vals = request.query_params.getlist(k)
            params[k] = vals[0] if len(vals) == 1 else vals
        return _Parsed(params)
    ctype = request.headers.get("content-type", "")
    if ctype.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        try:
            form = await request.form()
        except Exception as exc:  # malformed multipart bodies raise several kinds
            return _Parsed(error=f"Bad request - form error: {type(exc).__name__}")
        out = _Parsed()
        for k, v in form.multi_items():
            if hasattr(v, "filename") and hasattr(v, "file"):
                out.files[k] = (str(v.filename or "upload"), v.file, str(getattr(v, "content_type", "") or ""))
            else:
                out.params[k] = v
        return out
    body = await request.body()
    if not body.strip():
        return _Parsed()
    try:  # depth- and size-limited: `[[[[…]]]]` is a 400 like any unreadable body, never a RecursionError
        value = safejson.loads(body, max_bytes=get_settings().max_body_bytes)
    except ValidationFailed as exc:
        detail = exc.details[0]["message"] if exc.details else exc.message
        return _Parsed(error=f"Bad request - JSON Error: {exc.message}: {detail}"[:200])
    if not isinstance(value, dict):
        return _Parsed(error="Bad request - JSON Error: the body must be a JSON object")
    return _Parsed(value)


def _envelope(request: Request, action: str, success: bool, payload: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"help": f"{base_url(request)}/api/3/action/help_show?name={action}", "success": success}
    out["result" if success else "error"] = payload
    return out


def _error(request: Request, action: str, err: ckan.CkanError) -> Response:
    headers = {"Retry-After": str(err.retry_after)} if err.retry_after else None
    return Response(json.dumps(_envelope(request, action, False, err.error), ensure_ascii=False, default=str),
                    status_code=err.status, media_type=JSON_TYPE, headers=headers)


_ACTION_DOC = {
    "description": "CKAN Action API: `{\"help\", \"success\", \"result\"}`, errors as CKAN `__type`s with 400/403/404/"
                   "409/429. Read actions: " + ", ".join(sorted(set(ckan.ACTIONS) - ckan.WRITE_ACTIONS)) +
                   ". Write actions (department API token): " + ", ".join(sorted(ckan.WRITE_ACTIONS)) + ".",
    "responses": {"400": {"description": "Unknown action or unreadable body"},
                  "403": {"description": "Authorization Error"}, "404": {"description": "Not Found Error"},
                  "409": {"description": "Validation Error naming the parameter"},
                  "429": {"description": "Rate limited (Retry-After)"}},
}
_POST_DOC = {**_ACTION_DOC, "requestBody": {"required": False, "content": {
    "application/json": {"schema": {"type": "object", "additionalProperties": True}}}}}
Action = Annotated[str, Path(max_length=100, description="Action name, e.g. package_search")]


def _action(request: Request, session: Session, action: str, parsed: _Parsed) -> Response:
    if parsed.error:
        return _error(request, action, ckan.CkanError(400, "Bad request", {"message": parsed.error}))
    try:
        actor = resolve_actor(request, session)
        limit_anonymous(request, actor)
    except CityhubError as exc:
        return _error(request, action, ckan.translate(exc if not isinstance(exc, Unauthorized) else
                                                      Forbidden(exc.message)))
    portal.record_api_call(session)
    key = ""
    ttl = get_settings().portal_cache_ttl_s
    cacheable = not actor.is_authenticated and action not in ckan.WRITE_ACTIONS and not parsed.files and ttl > 0
    if cacheable:
        # The generation is read before the database: an answer older than a publish lands under an old key.
        key = cache.cache_key(cache.generation(), "ckan", base_url(request), action,
                              json.dumps(parsed.params, sort_keys=True, default=str))
        hit = cache.cache_get(key)
        if hit is not None:
            return Response(hit, media_type=JSON_TYPE, headers={"X-Cache": "hit"})
    try:
        result = ckan.call(session, actor, action, parsed.params, base_url(request), parsed.files)
    except ckan.CkanError as err:
        return _error(request, action, err)
    body = json.dumps(_envelope(request, action, True, result), ensure_ascii=False, default=str).encode()
    if cacheable:
        cache.cache_set(key, body, ttl)
    return Response(body, media_type=JSON_TYPE, headers={"X-Cache": "miss"} if cacheable else None)


Parsed = Annotated[_Parsed, Depends(_parse)]


@router.get("/api/3/action/{action}", openapi_extra=_ACTION_DOC)
def action_get_v3(request: Request, session: DbSession, action: Action, parsed: Parsed) -> Response:
    """CKAN Action API (GET with query parameters)."""
    return _action(request, session, action, parsed)


@router.post("/api/3/action/{action}", openapi_extra=_POST_DOC)
def action_post_v3(request: Request, session: DbSession, action: Action, parsed: Parsed) -> Response:
    """CKAN Action API (POST with a JSON body, or multipart for uploads)."""
    return _action(request, session, action, parsed)


@router.get("/api/action/{action}", openapi_extra=_ACTION_DOC)
def action_get(request: Request, session: DbSession, action: Action, parsed: Parsed) -> Response:
    """CKAN Action API without the version segment (what ckanapi calls)."""
    return _action(request, session, action, parsed)


@router.post("/api/action/{action}", openapi_extra=_POST_DOC)
def action_post(request: Request, session: DbSession, action: Action, parsed: Parsed) -> Response:
    """CKAN Action API without the version segment (POST)."""
    return _action(request, session, action, parsed)


@router.get("/api/3")
def api_version() -> dict[str, int]:
    """The API version (CKAN answers 3)."""
    return {"version": 3}


# ---------------------------------------------------------------- cached anonymous documents


def _cached(request: Request, session: Session, kind: str, produce: Any, media_type: str) -> Response:
    """Serve a document: anonymous callers are limited and cached, everybody else computed fresh."""
    actor = resolve_actor(request, session)
    limit_anonymous(request, actor)
    ttl = get_settings().portal_cache_ttl_s
    key = ""
    if not actor.is_authenticated and ttl > 0:
        key = cache.cache_key(cache.generation(), kind, str(request.url))
        hit = cache.cache_get(key)
        if hit is not None:
            return Response(hit, media_type=media_type, headers={"X-Cache": "hit"})
    body: bytes = produce(actor)
    if key:
        cache.cache_set(key, body, ttl)
    return Response(body, media_type=media_type)


_RDF = {"ttl": ("turtle", "text/turtle;charset=utf-8"), "jsonld": ("json-ld", "application/ld+json"),
        "rdf": ("xml", "application/rdf+xml")}
Page = Annotated[int, Query(ge=1, le=100_000, description="Page of the catalog (dcat.PAGE_SIZE datasets each).")]


@router.get("/catalog.ttl", response_class=Response)
def catalog_ttl(request: Request, session: DbSession, page: Page = 1) -> Response:
    """The open catalog as DCAT-AP 3 Turtle (paged, hydra:PagedCollection links)."""
    return _cached(request, session, "dcat", lambda a: dcat.catalog(session, a, base_url(request), page, "turtle"),
                   _RDF["ttl"][1])


@router.get("/catalog.jsonld", response_class=Response)
def catalog_jsonld(request: Request, session: DbSession, page: Page = 1) -> Response:
    """The open catalog as DCAT-AP 3 JSON-LD (paged)."""
    return _cached(request, session, "dcat", lambda a: dcat.catalog(session, a, base_url(request), page, "json-ld"),
                   _RDF["jsonld"][1])


@router.get("/catalog.rdf", response_class=Response)
def catalog_rdf(request: Request, session: DbSession, page: Page = 1) -> Response:
    """The open catalog as DCAT-AP 3 RDF/XML (paged)."""
    return _cached(request, session, "dcat", lambda a: dcat.catalog(session, a, base_url(request), page, "xml"),
                   _RDF["rdf"][1])


DatasetName = Annotated[str, Path(max_length=200)]


def _dataset_rdf(request: Request, session: Session, name: str, ext: str) -> Response:
    fmt, media = _RDF[ext]
    return _cached(request, session, "dcat-ds",
                   lambda a: dcat.dataset_document(session, a, base_url(request), name, fmt), media)


@router.get("/dataset/{name}.ttl", response_class=Response)
def dataset_ttl(request: Request, session: DbSession, name: DatasetName) -> Response:
    """One open dataset as DCAT-AP 3 Turtle."""
    return _dataset_rdf(request, session, name, "ttl")


@router.get("/dataset/{name}.jsonld", response_class=Response)
def dataset_jsonld(request: Request, session: DbSession, name: DatasetName) -> Response:
    """One open dataset as DCAT-AP 3 JSON-LD."""
    return _dataset_rdf(request, session, name, "jsonld")


@router.get("/dataset/{name}.rdf", response_class=Response)
def dataset_rdf(request: Request, session: DbSession, name: DatasetName) -> Response:
    """One open dataset as DCAT-AP 3 RDF/XML."""
    return _dataset_rdf(request, session, name, "rdf")


@router.get("/dataset/{name}/datapackage.json", response_class=Response)
def datapackage(request: Request, session: DbSession, name: DatasetName) -> Response:
    """A Frictionless Data Package of the dataset, with a Table Schema from its information items."""
    return _cached(request, session, "datapackage",
                   lambda a: json.dumps(downloads.datapackage(session, a, base_url(request), name),
                                        ensure_ascii=False, indent=1).encode(), "application/json")


@router.get("/sitemap.xml", response_class=Response)
def sitemap(request: Request, session: DbSession) -> Response:
    """Every open dataset page (never private or 不予开放 ones)."""
    return _cached(request, session, "sitemap", lambda a: dcat.sitemap(session, base_url(request)),
                   "application/xml")


# ---------------------------------------------------------------- streamed downloads


@router.get("/datastore/dump/{resource_id}", response_class=StreamingResponse)
def datastore_dump(request: Request, session: DbSession, resource_id: uuid.UUID,
                   format: str = Query("csv", pattern="^(csv|json|xlsx|tsv)$"),
                   bom: bool = Query(False, description="Prefix CSV with a UTF-8 BOM (Excel).")) -> Response:
    """Stream a datastore table as CSV, TSV, JSON or XLSX (grades and masking as for datastore_search)."""
    actor = resolve_actor(request, session)
    limit_anonymous(request, actor)
    # Rows are read in keyset pages inside the generator, which runs after this handler returned: it gets its own
    # session and the caller's actor (checked here first, so a refusal is an ordinary error answer).
    _cols, _recs, _t, _next, entry, res = portal.rows(session, actor, resource_id, limit=1, include_total=False)
    portal.record_download(session, entry.id)
    db = request.app.state.db
    chunks: Iterator[bytes] = downloads.stream(db, actor, resource_id, format, bom)
    media = {"csv": "text/csv; charset=utf-8", "tsv": "text/tab-separated-values; charset=utf-8",
             "json": "application/json",
             "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}[format]
    filename = f"{entry.name}-{res.id.hex[:8]}.{format}"
    return StreamingResponse(chunks, media_type=media,
                             headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@router.get("/dataset/{name}/resource/{resource_id}/download/{filename}", response_class=Response)
def resource_download(request: Request, session: DbSession, name: DatasetName, resource_id: uuid.UUID,
                      filename: Annotated[str, Path(max_length=200)]) -> Response:
    """Download a file resource of an open dataset (无条件开放, or with the caller's grant)."""
    from fastapi.responses import FileResponse

    actor = resolve_actor(request, session)
    limit_anonymous(request, actor)
    res, path, entry = downloads.open_file(session, actor, name, resource_id)
    portal.record_download(session, entry.id)
    return FileResponse(path, media_type=res.media_type or "application/octet-stream", filename=res.file_name)
