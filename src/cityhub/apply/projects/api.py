"""Key-project routes under /api/v1/apply/key-projects (mounted with the cockpit's router, `apply/api.py`).

Every member of staff reads the register; the owner unit's staff and the bureau write (`apply.projects`).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from cityhub.apply import schemas
from cityhub.apply import service as apply
from cityhub.apply.projects import schemas as ps
from cityhub.apply.projects.schemas import ProjectStatus
from cityhub.core.deps import CurrentActor
from cityhub.kit.pagination import Page, PageParams, page_params, page_response
from cityhub.kit.web import DbSession, SessionRoute, allow_large_bodies

router = APIRouter(prefix="/api/v1/apply/key-projects", tags=["apply"], route_class=SessionRoute)
Paging = Annotated[PageParams, Depends(page_params)]
K = "/{project_id}"
allow_large_bodies(f"{router.prefix}/import")


@router.get("", response_model=Page[ps.KeyProject])
def key_projects(session: DbSession, actor: CurrentActor, page: Paging, park_id: uuid.UUID | None = None,
                 status: ProjectStatus | None = None, district_org_id: uuid.UUID | None = None,
                 owner_org_id: uuid.UUID | None = None, sector: str | None = Query(None, max_length=30)) -> Any:
    """The key-project register, filtered by park, status, district, owner unit or sector."""
    items, total = apply.projects.key_project_list(session, actor, page, park_id=park_id, status=status,
                                                   district_org_id=district_org_id, owner_org_id=owner_org_id,
                                                   sector=sector)
    return page_response(ps.KeyProject, items, total, page)


@router.post("", response_model=ps.KeyProject, status_code=201)
def key_project_create(session: DbSession, actor: CurrentActor, body: ps.KeyProjectCreate) -> Any:
    """Register a key project of one's unit (the unit's staff, or the bureau for any unit); it starts planned."""
    return apply.projects.key_project_create(session, actor, body)


@router.get("/summary", response_model=ps.KeyProjectSummary)
def key_project_summary(session: DbSession, actor: CurrentActor, park_id: uuid.UUID | None = None) -> Any:
    """Projects per status, investment planned and completed (万元), per park."""
    return apply.projects.key_project_summary(session, actor, park_id)


@router.post("/import", response_model=schemas.ImportResult,
             openapi_extra={"requestBody": {"required": True, "content": {
                 "text/csv": {"schema": {"type": "string", "format": "binary"}}}}},
             responses={422: {"description": "Every row's problems (row, field, message); nothing was written"}})
async def key_project_import(request: Request, session: DbSession, actor: CurrentActor,
                             filename: str = Query("key-projects.csv", min_length=1, max_length=150)) -> Any:
    """Import the register (raw CSV or XLSX body): every row valid, or nothing written (the bureau)."""
    return apply.projects.key_project_import(session, actor, filename, await request.body())


@router.get(K, response_model=ps.KeyProject)
def key_project_get(session: DbSession, actor: CurrentActor, project_id: uuid.UUID) -> Any:
    """One key project."""
    return apply.projects.key_project_get(session, actor, project_id)


@router.patch(K, response_model=ps.KeyProject)
def key_project_update(session: DbSession, actor: CurrentActor, project_id: uuid.UUID,
                       body: ps.KeyProjectUpdate) -> Any:
    """Change a key project (its owner unit or the bureau; a completed project is final)."""
    return apply.projects.key_project_update(session, actor, project_id, body)


@router.delete(K, status_code=204)
def key_project_delete(session: DbSession, actor: CurrentActor, project_id: uuid.UUID) -> Response:
    """Delete a key project still planned (its owner unit or the bureau)."""
    apply.projects.key_project_delete(session, actor, project_id)
    return Response(status_code=204)


@router.post(f"{K}/transition", response_model=ps.KeyProject)
def key_project_transition(session: DbSession, actor: CurrentActor, project_id: uuid.UUID,
                           body: ps.KeyProjectTransition) -> Any:
    """Start, suspend, resume or complete a key project (its owner unit or the bureau)."""
    return apply.projects.key_project_transition(session, actor, project_id, body.status, body.note)


@router.get(f"{K}/reports", response_model=list[ps.KeyProjectReport])
def key_project_reports(session: DbSession, actor: CurrentActor, project_id: uuid.UUID) -> Any:
    """A key project's progress reports, oldest first."""
    return apply.projects.key_project_reports(session, actor, project_id)


@router.post(f"{K}/reports", response_model=ps.KeyProjectReport, status_code=201)
def key_project_report(session: DbSession, actor: CurrentActor, project_id: uuid.UUID,
                       body: ps.KeyProjectReportCreate) -> Any:
    """Report investment completed to date and the milestone reached (its owner unit or the bureau)."""
    return apply.projects.key_project_report(session, actor, project_id, body)
