"""Collection API under /api/v1/data: sources, sync jobs, running a job, its runs (issue 20).

Routes return what the service returns; `response_model` validates and serialises it once.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Query, Response

from cityhub.core.deps import CurrentActor
from cityhub.data import service
from cityhub.data.collection.schemas import HarvestRun, Job, JobCreate, JobUpdate, Run, Source, SourceCreate
from cityhub.data.quality.schemas import QualityCheck, QualityCheckCreate, QualityTask, QualityTaskResolve
from cityhub.kit.pagination import MAX_OFFSET
from cityhub.kit.web import DbSession, SessionRoute

router = APIRouter(prefix="/api/v1/data", tags=["data collection"], route_class=SessionRoute)


@router.get("/sources", response_model=list[Source])
def source_list(session: DbSession, actor: CurrentActor) -> Any:
    """Sources the caller may see (their unit's; the bureau and auditors see every unit's) — never credentials."""
    return service.sync_source_list(session, actor)


@router.post("/sources", response_model=Source, status_code=201)
def source_create(session: DbSession, actor: CurrentActor, body: SourceCreate) -> Any:
    """Register a source of the caller's unit; its password or headers are encrypted and never shown again."""
    return service.sync_source_create(session, actor, body)


@router.get("/sources/{source_id}", response_model=Source)
def source_get(session: DbSession, actor: CurrentActor, source_id: uuid.UUID) -> Any:
    """One source."""
    return service.sync_source_get(session, actor, source_id)


@router.delete("/sources/{source_id}", status_code=204)
def source_delete(session: DbSession, actor: CurrentActor, source_id: uuid.UUID) -> Response:
    """Remove a source and its jobs (rows already loaded stay)."""
    service.sync_source_delete(session, actor, source_id)
    return Response(status_code=204)


@router.post("/sources/{source_id}/harvest", response_model=HarvestRun)
def source_harvest(session: DbSession, actor: CurrentActor, source_id: uuid.UUID) -> Any:
    """Harvest a CKAN source into the unit's catalog now (a failed remote is a run with status failed)."""
    return service.sync_source_harvest(session, actor, source_id)


@router.get("/sources/{source_id}/harvest-runs", response_model=list[HarvestRun])
def source_harvest_runs(session: DbSession, actor: CurrentActor, source_id: uuid.UUID,
                        limit: int = Query(50, ge=1, le=500)) -> Any:
    """The CKAN source's latest harvest runs, newest first."""
    return service.sync_source_harvest_runs(session, actor, source_id, limit)


@router.get("/sync-jobs", response_model=list[Job])
def job_list(session: DbSession, actor: CurrentActor) -> Any:
    """Sync jobs the caller may see."""
    return service.sync_job_list(session, actor)


@router.post("/sync-jobs", response_model=Job, status_code=201)
def job_create(session: DbSession, actor: CurrentActor, body: JobCreate) -> Any:
    """Define a sync job from one of the unit's sources into one of its catalog entries."""
    return service.sync_job_create(session, actor, body)


@router.get("/sync-jobs/{job_id}", response_model=Job)
def job_get(session: DbSession, actor: CurrentActor, job_id: uuid.UUID) -> Any:
    """One sync job."""
    return service.sync_job_get(session, actor, job_id)


@router.patch("/sync-jobs/{job_id}", response_model=Job)
def job_update(session: DbSession, actor: CurrentActor, job_id: uuid.UUID, body: JobUpdate) -> Any:
    """Change a job's mapping, mode, schedule, or switch it on or off."""
    return service.sync_job_update(session, actor, job_id, body)


@router.delete("/sync-jobs/{job_id}", status_code=204)
def job_delete(session: DbSession, actor: CurrentActor, job_id: uuid.UUID) -> Response:
    """Remove a job and its runs."""
    service.sync_job_delete(session, actor, job_id)
    return Response(status_code=204)


@router.post("/sync-jobs/{job_id}/run", response_model=Run)
def job_run(session: DbSession, actor: CurrentActor, job_id: uuid.UUID) -> Any:
    """Run a job now and return its run (a failed source is a run with status failed, not an error)."""
    return service.sync_job_run(session, actor, job_id)


@router.get("/sync-jobs/{job_id}/runs", response_model=list[Run])
def job_runs(session: DbSession, actor: CurrentActor, job_id: uuid.UUID,
             limit: int = Query(50, ge=1, le=500)) -> Any:
    """The job's latest runs, newest first."""
    return service.sync_runs(session, actor, job_id, limit)


# ---- quality checks


@router.get("/quality/checks", response_model=list[QualityCheck])
def quality_checks(session: DbSession, actor: CurrentActor, entry_id: uuid.UUID) -> Any:
    """An entry's quality checks and their latest outcome."""
    return service.quality_checks(session, actor, entry_id)


@router.post("/quality/checks", response_model=QualityCheck, status_code=201)
def quality_check_create(session: DbSession, actor: CurrentActor, body: QualityCheckCreate) -> Any:
    """Declare a check on one of the unit's entries (run after every sync)."""
    return service.quality_check_create(session, actor, body)


@router.delete("/quality/checks/{check_id}", status_code=204)
def quality_check_delete(session: DbSession, actor: CurrentActor, check_id: uuid.UUID) -> Response:
    """Remove a check."""
    service.quality_check_delete(session, actor, check_id)
    return Response(status_code=204)


@router.post("/quality/entries/{entry_id}/run", response_model=list[QualityCheck])
def quality_run(session: DbSession, actor: CurrentActor, entry_id: uuid.UUID) -> Any:
    """Run an entry's checks now."""
    return service.quality_run(session, actor, entry_id)


@router.get("/quality/scores")
def quality_scores(session: DbSession, actor: CurrentActor) -> dict[str, Any]:
    """Scores (0-100) per unit and per entry, lowest first."""
    units, entries = service.quality_scores(session, actor)
    return {"units": [u.model_dump(mode="json") for u in units],
            "entries": [e.model_dump(mode="json") for e in entries]}


# ---- quality tasks (整改任务)


def _task(task: Any, overdue: bool) -> QualityTask:
    return QualityTask.model_validate(task).model_copy(update={"overdue": overdue})


@router.get("/quality/tasks")
def quality_task_list(session: DbSession, actor: CurrentActor, status: str | None = Query(None, max_length=20),
                      org_id: uuid.UUID | None = None, overdue: bool = False,
                      limit: int = Query(50, ge=1, le=500),
                      offset: int = Query(0, ge=0, le=MAX_OFFSET)) -> dict[str, Any]:
    """Quality tasks the caller may see (their units'; the bureau: every unit's), overdue first."""
    rows, total = service.quality_task_list(session, actor, service.TaskFilter(status, org_id, overdue), limit,
                                            offset)
    return {"items": [_task(t, late).model_dump(mode="json") | {"entry_title": title} for t, title, late in rows],
            "total": total}


@router.get("/quality/tasks/{task_id}", response_model=QualityTask)
def quality_task_get(session: DbSession, actor: CurrentActor, task_id: uuid.UUID) -> Any:
    """One quality task."""
    task = service.quality_task_get(session, actor, task_id)
    return _task(task, service.is_overdue(task))


@router.post("/quality/tasks/{task_id}/resolve", response_model=QualityTask)
def quality_task_resolve(session: DbSession, actor: CurrentActor, task_id: uuid.UUID,
                         body: QualityTaskResolve) -> Any:
    """The responsible unit reports the task resolved; the next quality run verifies (closes) or reopens it."""
    task = service.quality_task_resolve(session, actor, task_id, body.note)
    return _task(task, service.is_overdue(task))
