"""Data standards API under /api/v1/data/standards: data elements, code lists, conformance reports (issue 20)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from cityhub.core.deps import CurrentActor, OptionalActor
from cityhub.data import service
from cityhub.data.standards.schemas import (
    CodeList,
    CodeListCreate,
    CodeListDetail,
    CodeValue,
    DataElement,
    DataElementCreate,
    DataElementUpdate,
    ElementUse,
    ImportReport,
    OrgConformance,
    ResourceConformance,
)
from cityhub.kit.errors import ValidationFailed
from cityhub.kit.i18n import gettext as _
from cityhub.kit.schemas import ReadModel
from cityhub.kit.web import DbSession, SessionRoute

router = APIRouter(prefix="/api/v1/data/standards", tags=["data standards"], route_class=SessionRoute)


class ElementPage(ReadModel):
    """A page of data elements and how many match."""

    items: list[DataElement]
    total: int


class ConformanceReport(ReadModel):
    """Conformance per department and per table resource."""

    departments: list[OrgConformance]
    resources: list[ResourceConformance]


async def _csv_body(request: Request) -> bytes:
    return await request.body()  # bounded by CITYHUB_MAX_BODY_BYTES in the middleware


CsvBody = Annotated[bytes, Depends(_csv_body)]
_CSV_DOC: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "text/csv": {"schema": {"type": "string", "format": "binary"}}}}}


@router.get("/elements", response_model=ElementPage)
def elements(session: DbSession, actor: OptionalActor, q: str = Query("", max_length=100),
             status: str = Query("", pattern="^(|draft|published|retired)$"), limit: int = Query(50, ge=1, le=500),
             offset: int = Query(0, ge=0, le=1_000_000)) -> Any:
    """Data elements, searched by identifier, names and definition (the public sees the published ones)."""
    items, total = service.data_element_list(session, actor, q, status, limit, offset)
    return {"items": items, "total": total}


@router.post("/elements", response_model=DataElement, status_code=201)
def element_create(session: DbSession, actor: CurrentActor, body: DataElementCreate) -> Any:
    """Draft a data element (the bureau)."""
    el = service.data_element_create(session, actor, body)
    return service.data_element_get(session, actor, el.identifier)


@router.get("/elements/{identifier}", response_model=DataElement)
def element_get(session: DbSession, actor: OptionalActor, identifier: str) -> Any:
    """One data element."""
    return service.data_element_get(session, actor, identifier)


@router.patch("/elements/{identifier}", response_model=DataElement)
def element_update(session: DbSession, actor: CurrentActor, identifier: str, body: DataElementUpdate) -> Any:
    """Change a draft data element (the bureau)."""
    service.data_element_update(session, actor, identifier, body)
    return service.data_element_get(session, actor, identifier)


@router.post("/elements/{identifier}/publish", response_model=DataElement)
def element_publish(session: DbSession, actor: CurrentActor, identifier: str) -> Any:
    """Publish a draft data element (the bureau)."""
    service.data_element_publish(session, actor, identifier)
    return service.data_element_get(session, actor, identifier)


@router.post("/elements/{identifier}/retire", response_model=DataElement)
def element_retire(session: DbSession, actor: CurrentActor, identifier: str) -> Any:
    """Retire a published data element (the bureau)."""
    service.data_element_retire(session, actor, identifier)
    return service.data_element_get(session, actor, identifier)


@router.get("/elements/{identifier}/uses", response_model=list[ElementUse])
def element_uses(session: DbSession, actor: OptionalActor, identifier: str) -> Any:
    """Catalog entries whose items follow the element (those the caller may see)."""
    return service.data_element_uses(session, actor, identifier)


@router.get("/code-lists", response_model=list[CodeList])
def code_lists(session: DbSession, actor: OptionalActor) -> Any:
    """Code lists (the public sees the published ones)."""
    return service.code_list_list(session, actor)


@router.post("/code-lists", response_model=CodeList, status_code=201)
def code_list_create(session: DbSession, actor: CurrentActor, body: CodeListCreate) -> Any:
    """Draft a code list (the bureau)."""
    cl = service.code_list_create(session, actor, body)
    return service.code_list_get(session, actor, cl.id)[0]


@router.get("/code-lists/{list_id}", response_model=CodeListDetail)
def code_list_get(session: DbSession, actor: OptionalActor, list_id: uuid.UUID) -> Any:
    """A code list with its codes."""
    head, values = service.code_list_get(session, actor, list_id)
    return CodeListDetail(**head.model_dump(), values=[CodeValue.model_validate(v) for v in values])


@router.post("/code-lists/{list_id}/values", response_model=ImportReport, openapi_extra=_CSV_DOC,
             responses={422: {"description": "The refused rows (nothing was written)"}})
def code_list_import(session: DbSession, actor: CurrentActor, list_id: uuid.UUID, body: CsvBody) -> Any:
    """Add or relabel codes from a CSV body (code, label_zh, label_en, parent_code): every row valid, or none."""
    report = service.code_list_import(session, actor, list_id, body)
    if report.errors:
        raise ValidationFailed(_("The file has invalid rows; nothing was imported"), details=[
            {"field": f"rows.{e.row}.{e.field}", "message": e.message} for e in report.errors])
    return report


@router.post("/code-lists/{list_id}/publish", response_model=CodeList)
def code_list_publish(session: DbSession, actor: CurrentActor, list_id: uuid.UUID) -> Any:
    """Publish a draft code list (the bureau)."""
    service.code_list_publish(session, actor, list_id)
    return service.code_list_get(session, actor, list_id)[0]


@router.post("/code-lists/{list_id}/retire", response_model=CodeList)
def code_list_retire(session: DbSession, actor: CurrentActor, list_id: uuid.UUID) -> Any:
    """Retire a published code list (the bureau)."""
    service.code_list_retire(session, actor, list_id)
    return service.code_list_get(session, actor, list_id)[0]


@router.get("/conformance", response_model=ConformanceReport)
def conformance(session: DbSession, actor: CurrentActor, org_id: uuid.UUID | None = None) -> Any:
    """Stored conformance per department and per table resource (the units the caller reads; the bureau: all).

    Each resource carries when it was counted (`checked_at`) and its `state`: current, stale, never (not yet
    counted) or none (no item follows a data element).
    """
    departments, resources = service.conformance_report(session, actor, org_id)
    return {"departments": departments, "resources": resources}


@router.get("/conformance/resources/{resource_id}", response_model=ResourceConformance)
def conformance_resource(session: DbSession, actor: CurrentActor, resource_id: uuid.UUID) -> Any:
    """One table resource's fields against their data elements, as last counted (`checked_at`, `state`)."""
    return service.conformance_resource(session, actor, resource_id)


@router.post("/conformance/resources/{resource_id}/recheck", response_model=ResourceConformance)
def conformance_recheck(session: DbSession, actor: CurrentActor, resource_id: uuid.UUID) -> Any:
    """Count the resource's conformance again now (the providing unit and the bureau).

    A table of more than 50,000 rows is left to the worker and answered as out of date (`state` stale).
    """
    return service.conformance_recheck(session, actor, resource_id)
