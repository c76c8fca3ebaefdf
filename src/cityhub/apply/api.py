"""Programme cockpit REST API under /api/v1/apply: the target tree, targets, their history, reports and review.

Routes return what the service returns; `response_model` validates and serialises it once.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from cityhub.apply import schemas
from cityhub.apply import service as apply
from cityhub.core.deps import CurrentActor
from cityhub.kit.web import DbSession, SessionRoute

router = APIRouter(prefix="/api/v1/apply", tags=["apply"], route_class=SessionRoute)


@router.get("/targets", response_model=list[schemas.Progress])
def targets(session: DbSession, actor: CurrentActor) -> Any:
    """The programme as a tree: every node with its progress, schedule, forecast and red/amber/green status."""
    return apply.target_tree(session, actor)


@router.post("/targets", response_model=schemas.Target, status_code=201)
def target_create(session: DbSession, actor: CurrentActor, body: schemas.TargetCreate) -> Any:
    """Add a node (the bureau)."""
    return apply.target_create(session, actor, body)


@router.get("/targets/{target_id}", response_model=schemas.Progress)
def target_get(session: DbSession, actor: CurrentActor, target_id: uuid.UUID) -> Any:
    """One target with its progress and status."""
    return apply.target_progress(session, actor, target_id)


@router.patch("/targets/{target_id}", response_model=schemas.Target)
def target_update(session: DbSession, actor: CurrentActor, target_id: uuid.UUID, body: schemas.TargetUpdate) -> Any:
    """Change a node (the bureau)."""
    return apply.target_update(session, actor, target_id, body)


@router.delete("/targets/{target_id}", status_code=204)
def target_delete(session: DbSession, actor: CurrentActor, target_id: uuid.UUID) -> Response:
    """Delete a node without children (the bureau)."""
    apply.target_delete(session, actor, target_id)
    return Response(status_code=204)


@router.get("/targets/{target_id}/history", response_model=list[schemas.TargetValue])
def target_history(session: DbSession, actor: CurrentActor, target_id: uuid.UUID) -> Any:
    """Every value the target had, oldest first."""
    return apply.target_history(session, actor, target_id)


@router.post("/targets/{target_id}/reports", response_model=schemas.Report, status_code=201)
def report_create(session: DbSession, actor: CurrentActor, target_id: uuid.UUID, body: schemas.ReportCreate) -> Any:
    """The owner reports a value with evidence (a link); it counts once the bureau approves it."""
    return apply.report_create(session, actor, target_id, body)


@router.get("/reports", response_model=list[schemas.Report])
def reports(session: DbSession, actor: CurrentActor, target_id: uuid.UUID | None = None,
            status: str | None = Query(None, pattern="^(submitted|approved|rejected)$")) -> Any:
    """Reports: the bureau's all, others' those of their units."""
    return apply.report_list(session, actor, target_id=target_id, status=status)


@router.get("/review-queue", response_model=list[schemas.Report])
def review_queue(session: DbSession, actor: CurrentActor) -> Any:
    """Reports awaiting the bureau."""
    return apply.report_queue(session, actor)


@router.get("/reports/{report_id}", response_model=schemas.Report)
def report_get(session: DbSession, actor: CurrentActor, report_id: uuid.UUID) -> Any:
    """One report."""
    return apply.report_get(session, actor, report_id)


@router.post("/reports/{report_id}/review", response_model=schemas.Report)
def report_review(session: DbSession, actor: CurrentActor, report_id: uuid.UUID, body: schemas.ReportReview) -> Any:
    """Approve or reject a report (someone at the bureau other than the reporter)."""
    return apply.report_review(session, actor, report_id, body.approve, body.note)


@router.post("/progress/refresh", response_model=schemas.RefreshResult)
def progress_refresh(session: DbSession, actor: CurrentActor) -> Any:
    """Compute every computed target from its progress source now (the bureau)."""
    return apply.progress_refresh(session, actor)


@router.get("/sources", response_model=list[schemas.SourceInfo])
def sources(actor: CurrentActor, layer: str | None = Query(None, max_length=20)) -> Any:
    """The named progress sources computed targets may use."""
    return [s for s in apply.sources() if layer is None or s["layer"] == layer]
