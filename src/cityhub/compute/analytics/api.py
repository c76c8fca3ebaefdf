"""Analytics REST routes added by issue 18's second part, under /api/v1/compute (mounted by `compute/api.py`).

Publishing a run's answer to the data catalog, and the decisions on a dispatch run's suggestions. Routes return
what the service returns; `response_model` validates and serialises it once.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter

from cityhub.compute import schemas
from cityhub.compute import service as compute
from cityhub.core.deps import CurrentActor
from cityhub.kit.web import DbSession, SessionRoute

router = APIRouter(prefix="/api/v1/compute", tags=["compute"], route_class=SessionRoute)


@router.post("/analyses/runs/{run_id}/publish", response_model=schemas.AnalysisRun, status_code=201)
def analysis_run_publish(session: DbSession, actor: CurrentActor, run_id: uuid.UUID,
                         body: schemas.AnalysisPublish | None = None) -> Any:
    """Publish a finished run's answer as a datastore table on a new draft catalog entry of the unit.

    Graded like the most sensitive table the run read; 409 while it runs, when it has no answer or once published.
    """
    return compute.analysis_run_publish(session, actor, run_id, body or schemas.AnalysisPublish())


@router.get("/scenarios/{run_id}/decisions", response_model=list[schemas.DispatchDecision])
def dispatch_decisions(session: DbSession, actor: CurrentActor, run_id: uuid.UUID) -> Any:
    """The decisions taken on a dispatch run's suggestions."""
    return compute.dispatch_decisions(session, actor, run_id)


@router.post("/scenarios/{run_id}/decisions", response_model=schemas.DispatchDecision, status_code=201)
def dispatch_decide(session: DbSession, actor: CurrentActor, run_id: uuid.UUID,
                    body: schemas.DispatchDecisionCreate) -> Any:
    """Accept a suggestion, or override it with another of the run's teams (or nobody) and a reason; audited."""
    return compute.dispatch_decide(session, actor, run_id, body)
