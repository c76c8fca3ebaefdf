"""Data REST API under /api/v1/data: catalog, search, resources, datastore rows, sharing, grants, 三清单, KPIs.

Routes return what the service returns; `response_model` validates and serialises it once.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import AsyncIterator
from typing import IO, Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse

from cityhub.core.deps import CurrentActor, OptionalActor
from cityhub.data import schemas, service, vocabulary
from cityhub.kit import safejson
from cityhub.kit.errors import ValidationFailed
from cityhub.kit.pagination import MAX_OFFSET, Page, PageParams, page_params, page_response
from cityhub.kit.web import DbSession, SessionRoute, allow_large_bodies

router = APIRouter(prefix="/api/v1/data", tags=["data"], route_class=SessionRoute)
Paging = Annotated[PageParams, Depends(page_params)]
UPLOAD_PREFIX = "/api/v1/data/uploads/"
allow_large_bodies(UPLOAD_PREFIX)



# ---- vocabularies


@router.get("/vocabularies")
def vocabularies() -> dict[str, Any]:
    """Codes and Chinese labels of every controlled field, and the masking rules."""
    v = vocabulary
    return {"classifications": v.CLASSIFICATIONS, "base_dbs": v.BASE_DBS, "formats": v.FORMATS,
            "share_types": v.SHARE_TYPES, "open_types": v.OPEN_TYPES, "share_modes": v.SHARE_MODES,
            "update_cycles": v.UPDATE_CYCLES, "grades": v.GRADES, "data_types": v.DATA_TYPES,
            "objection_kinds": v.OBJECTION_KINDS, "facets": list(v.FACETS),
            "masking_rules": {k: {"label": r.label, "head": r.head, "tail": r.tail} for k, r in v.MASK_RULES.items()}}


# ---- catalog


@router.get("/catalog", response_model=schemas.SearchResult)
def catalog_search(
    session: DbSession, actor: OptionalActor, page: Paging, q: str = Query("", max_length=200),
    provider_org_id: Annotated[list[str] | None, Query()] = None,
    classification: Annotated[list[str] | None, Query()] = None,
    base_db: Annotated[list[str] | None, Query()] = None, share_type: Annotated[list[str] | None, Query()] = None,
    open_type: Annotated[list[str] | None, Query()] = None,
    format_category: Annotated[list[str] | None, Query()] = None,
    update_cycle: Annotated[list[str] | None, Query()] = None,
    security_grade: Annotated[list[str] | None, Query()] = None,
    tags: Annotated[list[str] | None, Query()] = None, status: Annotated[list[str] | None, Query()] = None,
    facet: Annotated[list[str] | None, Query()] = None, sort: str = Query("", max_length=20),
) -> Any:
    """Search the catalog (Chinese segmentation, pinyin initials) with facet filters and counts."""
    filters = {"provider_org_id": provider_org_id, "classification": classification, "base_db": base_db,
               "share_type": share_type, "open_type": open_type, "format_category": format_category,
               "update_cycle": update_cycle, "security_grade": security_grade, "tags": tags, "status": status}
    rows, total, facets = service.catalog_search(session, actor, q, {k: v for k, v in filters.items() if v},
                                                 facet or [], sort, page.limit, page.offset)
    return {"items": rows, "total": total, "limit": page.limit, "offset": page.offset, "facets": facets}


@router.post("/catalog/entries", response_model=schemas.Entry, status_code=201)
def entry_create(session: DbSession, actor: CurrentActor, body: schemas.EntryCreate) -> Any:
    """Register a draft entry."""
    return service.catalog_entry_create(session, actor, body)


@router.get("/catalog/entries/{entry_id}", response_model=schemas.Entry)
def entry_get(session: DbSession, actor: OptionalActor, entry_id: uuid.UUID) -> Any:
    """One entry (counts a view)."""
    return service.catalog_entry_view(session, actor, entry_id)


@router.get("/catalog/by-name/{name}", response_model=schemas.Entry)
def entry_by_name(session: DbSession, actor: OptionalActor, name: str) -> Any:
    """One entry by its URL-safe name."""
    return service.catalog_entry_by_name(session, actor, name)


@router.get("/catalog/by-code/{code}", response_model=schemas.Entry)
def entry_by_code(session: DbSession, actor: OptionalActor, code: str) -> Any:
    """One entry by its resource code."""
    return service.catalog_entry_by_code(session, actor, code)


@router.patch("/catalog/entries/{entry_id}", response_model=schemas.Entry)
def entry_update(session: DbSession, actor: CurrentActor, entry_id: uuid.UUID,
                 body: schemas.EntryUpdate) -> Any:
    """Change an entry (published entries collect changes for re-review)."""
    return service.catalog_entry_update(session, actor, entry_id, body)


@router.post("/catalog/entries/{entry_id}/submit", response_model=schemas.Entry)
def entry_submit(session: DbSession, actor: CurrentActor, entry_id: uuid.UUID) -> Any:
    """Send an entry or its changes to review."""
    return service.catalog_entry_submit(session, actor, entry_id)


@router.post("/catalog/entries/{entry_id}/review", response_model=schemas.Entry)
def entry_review(session: DbSession, actor: CurrentActor, entry_id: uuid.UUID,
                 body: schemas.ReviewDecision) -> Any:
    """The bureau publishes or rejects."""
    return service.catalog_entry_review(session, actor, entry_id, body.approve, body.note)


@router.post("/catalog/entries/{entry_id}/share-upward", response_model=schemas.Entry)
def entry_share_upward(session: DbSession, actor: CurrentActor, entry_id: uuid.UUID,
                       body: schemas.ShareUpward) -> Any:
    """The district shares its entry with the city catalog (上报/共享至市级), or stops sharing it."""
    return service.catalog_entry_share_upward(session, actor, entry_id, body.shared)


@router.post("/catalog/entries/{entry_id}/offline", response_model=schemas.Entry)
def entry_offline(session: DbSession, actor: CurrentActor, entry_id: uuid.UUID,
                  body: schemas.Reason) -> Any:
    """Take an entry offline."""
    return service.catalog_entry_offline(session, actor, entry_id, body.reason)


@router.get("/catalog/entries/{entry_id}/versions", response_model=list[schemas.EntryVersion])
def entry_versions(session: DbSession, actor: OptionalActor, entry_id: uuid.UUID) -> Any:
    """Published versions with readable diffs."""
    return service.catalog_entry_versions(session, actor, entry_id)


@router.get("/catalog/entries/{entry_id}/stats")
def entry_stats(session: DbSession, actor: OptionalActor, entry_id: uuid.UUID) -> dict[str, int]:
    """Views, requests, grants, accesses."""
    return service.catalog_entry_stats(session, actor, entry_id)


@router.get("/catalog/entries/{entry_id}/resources", response_model=list[schemas.Resource])
def resources(session: DbSession, actor: OptionalActor, entry_id: uuid.UUID) -> list[schemas.Resource]:
    """Resources mounted on an entry (an API resource's upstream URL only for its provider and the bureau)."""
    return service.resource_list_view(session, actor, entry_id)


@router.post("/catalog/entries/{entry_id}/resources/api", response_model=schemas.Resource, status_code=201)
def resource_api_create(session: DbSession, actor: CurrentActor, entry_id: uuid.UUID,
                        body: schemas.ResourceApiCreate) -> Any:
    """Mount an upstream API (credentials encrypted, never returned)."""
    return service.resource_api_create(session, actor, entry_id, body)


async def _spooled_body(request: Request) -> AsyncIterator[IO[bytes]]:
    # Stream the raw body to a spooled temporary file (memory up to 1 MiB, then disk): uploads never sit in RAM.
    spool = tempfile.SpooledTemporaryFile(max_size=1 << 20)  # noqa: SIM115  # closed after the response
    try:
        async for chunk in request.stream():
            spool.write(chunk)
        spool.seek(0)
        yield spool
    finally:
        spool.close()


RawBody = Annotated[IO[bytes], Depends(_spooled_body)]
_RAW_DOC: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "text/csv": {"schema": {"type": "string", "format": "binary"}},
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {"schema": {"type": "string",
                                                                                      "format": "binary"}},
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}


@router.post("/uploads/{entry_id}/table", response_model=schemas.LoadReport, status_code=201,
             openapi_extra=_RAW_DOC,
             responses={422: {"description": "Refused upload with the per-row/column error report"}})
def upload_table(session: DbSession, actor: CurrentActor, entry_id: uuid.UUID, body: RawBody,
                 filename: str = Query("upload.csv", max_length=200), title: str = Query("", max_length=200),
                 resource_id: uuid.UUID | None = None) -> Any:
    """Upload a CSV (UTF-8 or GBK/GB18030) or XLSX as the raw body; all rows valid → atomic replace."""
    res, load = service.resource_table_upload(session, actor, entry_id, filename, body, title, resource_id)
    return upload_answer(res, load, entry_id)


def upload_answer(res: Any, load: Any, entry_id: uuid.UUID) -> Any:
    """201 with the load report, or 422 with the error report (committing the refused attempt for the KPI)."""
    report = schemas.LoadReport(resource_id=res.id if res else entry_id, accepted=load.accepted,
                                encoding=load.encoding, rows_total=load.rows_total, rows_bad=load.rows_bad,
                                errors=load.errors)
    if not load.accepted:
        return JSONResponse({"error": {"code": "validation_failed", "message": "The upload has invalid rows; "
                                       "nothing was loaded", "details": report.model_dump(mode="json")}},
                            status_code=422)
    return JSONResponse(report.model_dump(mode="json"), status_code=201)


@router.post("/uploads/{entry_id}/file", response_model=schemas.Resource, status_code=201, openapi_extra=_RAW_DOC)
def upload_file(session: DbSession, actor: CurrentActor, entry_id: uuid.UUID, body: RawBody, request: Request,
                filename: str = Query("file", max_length=200), title: str = Query("", max_length=200),
                resource_id: uuid.UUID | None = None) -> Any:
    """Mount or replace a file resource (the raw body is streamed to disk)."""
    media = request.headers.get("content-type", "application/octet-stream")
    return service.resource_file_upload(session, actor, entry_id, title, filename, media, body, resource_id)


def _filters(raw: str | None) -> dict[str, Any]:
    if not raw:
        return {}
    value = safejson.loads(raw, field="filters")  # size- and depth-limited: a 422 naming the field
    if not isinstance(value, dict):
        raise ValidationFailed("filters must be a JSON object", field="filters")
    return value


def _fields(raw: str | None) -> list[str] | None:
    return [f.strip() for f in raw.split(",") if f.strip()] if raw else None


@router.get("/resources/{resource_id}/rows", response_model=schemas.Rows)
def resource_rows(
    session: DbSession, actor: CurrentActor, resource_id: uuid.UUID,
    filters: str | None = Query(None, max_length=2000, description='JSON, e.g. {"gender": "男"}'),
    q: str | None = Query(None, max_length=100), fields: str | None = Query(None, max_length=2000),
    sort: str | None = Query(None, max_length=80), limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=MAX_OFFSET), include_total: bool = True, after: int | None = Query(None, ge=0),
) -> schemas.Rows:
    """Datastore rows: clear for the provider, masked for the bureau, granted items masked for grantees."""
    cols, recs, total, nxt = service.datastore_query(session, actor, resource_id, _filters(filters), q,
                                                     _fields(fields), sort, limit, offset, include_total, after)
    return schemas.Rows(fields=cols, records=recs, total=total, limit=limit, offset=offset, next_after=nxt)


@router.get("/resources/{resource_id}/file", response_class=FileResponse)
def resource_file(session: DbSession, actor: CurrentActor, resource_id: uuid.UUID) -> FileResponse:
    """Download a file resource (provider, bureau, or a grantee; logged)."""
    res, path = service.resource_file_open(session, actor, resource_id)
    return FileResponse(path, media_type=res.media_type or "application/octet-stream", filename=res.file_name)


# ---- sharing requests



@router.get("/requests", response_model=Page[schemas.ShareRequest])
def requests(session: DbSession, actor: CurrentActor, page: Paging,
             box: str = Query("mine", pattern="^(mine|provider|compliance|all)$"),
             status: str | None = Query(None, max_length=20)) -> Response:
    """Requests by box: mine, provider (review queue), compliance (bureau queue), all."""
    rows, total = service.share_request_list(session, actor, box=box, status=status, limit=page.limit,
                                             offset=page.offset)
    return page_response(schemas.ShareRequest, rows, total, page)


@router.post("/requests", response_model=schemas.ShareRequest, status_code=201)
def request_create(session: DbSession, actor: CurrentActor, body: schemas.ShareRequestCreate) -> Any:
    """Draft a sharing request."""
    return service.share_request_create(session, actor, body)


@router.get("/requests/{request_id}", response_model=schemas.ShareRequest)
def request_get(session: DbSession, actor: CurrentActor, request_id: uuid.UUID) -> Any:
    """One request."""
    return service.share_request_get(session, actor, request_id)


@router.get("/requests/{request_id}/events", response_model=list[schemas.RequestEvent])
def request_events(session: DbSession, actor: CurrentActor, request_id: uuid.UUID) -> Any:
    """The request's tracking history."""
    return service.share_request_events(session, actor, request_id)


@router.post("/requests/{request_id}/submit", response_model=schemas.ShareRequest)
def request_submit(session: DbSession, actor: CurrentActor, request_id: uuid.UUID) -> Any:
    """Submit (enters the bureau's compliance review)."""
    return service.share_request_submit(session, actor, request_id)


@router.post("/requests/{request_id}/withdraw", response_model=schemas.ShareRequest)
def request_withdraw(session: DbSession, actor: CurrentActor, request_id: uuid.UUID,
                     body: schemas.Reason) -> Any:
    """Withdraw."""
    return service.share_request_withdraw(session, actor, request_id, body.reason)


@router.post("/requests/{request_id}/compliance-review", response_model=schemas.ShareRequest)
def request_compliance(session: DbSession, actor: CurrentActor, request_id: uuid.UUID,
                       body: schemas.ReviewDecision) -> Any:
    """The bureau's compliance review (final approval for 核心 data)."""
    return service.share_request_compliance_review(session, actor, request_id, body.approve, body.note)


@router.post("/requests/{request_id}/provider-review", response_model=schemas.ShareRequest)
def request_provider(session: DbSession, actor: CurrentActor, request_id: uuid.UUID,
                     body: schemas.ReviewDecision) -> Any:
    """The provider's review."""
    return service.share_request_provider_review(session, actor, request_id, body.approve, body.note)


@router.post("/requests/{request_id}/coordinate", response_model=schemas.ShareRequest)
def request_coordinate(session: DbSession, actor: CurrentActor, request_id: uuid.UUID,
                       body: schemas.Reason) -> Any:
    """Contest a rejection (bureau arbitration)."""
    return service.share_request_coordinate(session, actor, request_id, body.reason)


@router.post("/requests/{request_id}/close", response_model=schemas.ShareRequest)
def request_close(session: DbSession, actor: CurrentActor, request_id: uuid.UUID,
                  body: schemas.Reason) -> Any:
    """Accept a rejection."""
    return service.share_request_close(session, actor, request_id, body.reason)


@router.post("/requests/{request_id}/arbitrate", response_model=schemas.ShareRequest)
def request_arbitrate(session: DbSession, actor: CurrentActor, request_id: uuid.UUID,
                      body: schemas.ReviewDecision) -> Any:
    """The bureau decides a coordination."""
    return service.share_request_arbitrate(session, actor, request_id, body.approve, body.note)


@router.post("/requests/{request_id}/activate", response_model=schemas.GrantActivated)
def request_activate(session: DbSession, actor: CurrentActor, request_id: uuid.UUID) -> Any:
    """Provision an approved request: the grant and its consuming-system token (shown once)."""
    grant, token = service.share_request_activate(session, actor, request_id)
    return {"grant": grant, "token": token}


@router.post("/requests/{request_id}/revoke", response_model=schemas.ShareRequest)
def request_revoke(session: DbSession, actor: CurrentActor, request_id: uuid.UUID,
                   body: schemas.Reason) -> Any:
    """Revoke an active grant."""
    return service.share_request_revoke(session, actor, request_id, body.reason)


# ---- grants


@router.get("/grants/{grant_id}", response_model=schemas.Grant)
def grant_get(session: DbSession, actor: CurrentActor, grant_id: uuid.UUID) -> Any:
    """One grant."""
    return service.grant_get(session, actor, grant_id)


@router.get("/grants/{grant_id}/rows", response_model=schemas.Rows)
def grant_rows(
    session: DbSession, actor: CurrentActor, grant_id: uuid.UUID,
    filters: str | None = Query(None, max_length=2000), q: str | None = Query(None, max_length=100),
    fields: str | None = Query(None, max_length=2000), sort: str | None = Query(None, max_length=80),
    limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0, le=MAX_OFFSET), include_total: bool = True,
    after: int | None = Query(None, ge=0),
) -> schemas.Rows:
    """Granted rows: only the granted items, masked; logged and counted against the quota."""
    cols, recs, total, nxt = service.grant_rows(session, actor, grant_id, _filters(filters), q, _fields(fields),
                                                sort, limit, offset, include_total, after)
    return schemas.Rows(fields=cols, records=recs, total=total, limit=limit, offset=offset, next_after=nxt)


@router.get("/grants/{grant_id}/rows.csv")
def grant_rows_csv(session: DbSession, actor: CurrentActor, grant_id: uuid.UUID,
                   filters: str | None = Query(None, max_length=2000),
                   limit: int = Query(100_000, ge=1, le=100_000)) -> Response:
    """Granted rows as CSV (same masking and logging; the rows in the file are what the quota is charged)."""
    body = service.grant_rows_csv(session, actor, grant_id, _filters(filters), limit)
    return Response(body, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="grant-{grant_id}.csv"'})


@router.get("/grants/{grant_id}/api")
def grant_api(session: DbSession, actor: CurrentActor, grant_id: uuid.UUID,
              q: str | None = Query(None, max_length=200)) -> dict[str, Any]:
    """Proxy the entry's upstream API for the grantee (granted fields only, masked)."""
    return service.grant_api_call(session, actor, grant_id, {"q": q} if q else {})


@router.get("/grants/{grant_id}/access-log")
def grant_access_log(session: DbSession, actor: CurrentActor, grant_id: uuid.UUID) -> list[dict[str, Any]]:
    """Recent reads through the grant."""
    return [{"at": a.at, "actor": a.actor_name, "kind": a.kind, "rows": a.rows, "resource_id": a.resource_id}
            for a in service.access_log(session, actor, grant_id)]


# ---- objections


@router.get("/objections", response_model=Page[schemas.Objection])
def objections(session: DbSession, actor: CurrentActor, page: Paging) -> Response:
    """Objections raised by or addressed to my units."""
    rows, total = service.objection_list(session, actor, page.limit, page.offset)
    return page_response(schemas.Objection, rows, total, page)


@router.post("/objections", response_model=schemas.Objection, status_code=201)
def objection_raise(session: DbSession, actor: CurrentActor, body: schemas.ObjectionCreate) -> Any:
    """Raise an objection."""
    return service.objection_raise(session, actor, body)


@router.post("/objections/{objection_id}/accept", response_model=schemas.Objection)
def objection_accept(session: DbSession, actor: CurrentActor, objection_id: uuid.UUID) -> Any:
    """Start handling."""
    return service.objection_accept(session, actor, objection_id)


@router.post("/objections/{objection_id}/reply", response_model=schemas.Objection)
def objection_reply(session: DbSession, actor: CurrentActor, objection_id: uuid.UUID,
                    body: schemas.ObjectionReply) -> Any:
    """Answer (handled)."""
    return service.objection_reply(session, actor, objection_id, body.reply)


@router.post("/objections/{objection_id}/evaluate", response_model=schemas.Objection)
def objection_evaluate(session: DbSession, actor: CurrentActor, objection_id: uuid.UUID,
                       body: schemas.ObjectionEvaluate) -> Any:
    """Rate the handling."""
    return service.objection_evaluate(session, actor, objection_id, body.rating, body.evaluation)


# ---- 三清单


@router.get("/demands", response_model=Page[schemas.Demand])
def demands(session: DbSession, actor: CurrentActor, page: Paging,
            status: str | None = Query(None, max_length=20)) -> Response:
    """需求清单."""
    rows, total = service.demand_list(session, actor, status, page.limit, page.offset)
    return page_response(schemas.Demand, rows, total, page)


@router.post("/demands", response_model=schemas.Demand, status_code=201)
def demand_create(session: DbSession, actor: CurrentActor, body: schemas.DemandCreate) -> Any:
    """File a need."""
    return service.demand_create(session, actor, body)


@router.get("/demands/{demand_id}", response_model=schemas.Demand)
def demand_get(session: DbSession, actor: CurrentActor, demand_id: uuid.UUID) -> Any:
    """One need."""
    return service.demand_get(session, actor, demand_id)


@router.post("/demands/{demand_id}/assign", response_model=schemas.Demand)
def demand_assign(session: DbSession, actor: CurrentActor, demand_id: uuid.UUID,
                  body: schemas.DemandAssign) -> Any:
    """The bureau assigns the responsible department."""
    return service.demand_assign(session, actor, demand_id, body)


@router.post("/demands/{demand_id}/answer", response_model=schemas.Demand)
def demand_answer(session: DbSession, actor: CurrentActor, demand_id: uuid.UUID,
                  body: schemas.DemandAnswer) -> Any:
    """The responsible department links an entry."""
    return service.demand_answer(session, actor, demand_id, body)


@router.get("/kpis", response_model=list[schemas.Kpi])
def kpis(session: DbSession, actor: CurrentActor, org_id: uuid.UUID | None = None) -> Any:
    """责任清单 KPIs per department."""
    return service.kpis(session, actor, org_id)


@router.get("/lists/{which}")
def list_export(session: DbSession, actor: CurrentActor, which: str,
                format: str = Query("csv", pattern="^(csv|xlsx)$")) -> Response:
    """Export one of the 三清单 as CSV or XLSX."""
    body, media = service.list_export(session, actor, which, format)
    return Response(body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{which}.{format}"'})


# ---- open-data portal (issue 6): CKAN Action API, datastore dumps, DCAT-AP 3, Data Package

from cityhub.data.base.api import router as _base_router  # noqa: E402  # mounted with this module's router
from cityhub.data.collection.api import router as _collection_router  # noqa: E402  # mounted with this module's router
from cityhub.data.portal.ckan_api import router as _portal_router  # noqa: E402  # mounted with this module's router
from cityhub.data.standards.api import router as _standards_router  # noqa: E402  # mounted with this module's router

extra_routers = [_portal_router, _collection_router, _base_router, _standards_router]
