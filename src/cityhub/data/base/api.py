"""Base-database API under /api/v1/data/base: feeds, merging, golden-record lookup, conflicts (issue 20)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter

from cityhub.core.deps import CurrentActor
from cityhub.data import schemas, service
from cityhub.kit.web import DbSession, SessionRoute

router = APIRouter(prefix="/api/v1/data/base", tags=["data base databases"], route_class=SessionRoute)


@router.post("/feeds", response_model=schemas.BaseFeedRead, status_code=201)
def feed_set(session: DbSession, actor: CurrentActor, body: schemas.BaseFeedSet) -> Any:
    """Make an entry feed a base database, or change its key item and priority (the bureau)."""
    return service.base_feed_set(session, actor, body)


@router.get("/{base_db}", response_model=schemas.BaseSummary)
def summary(session: DbSession, actor: CurrentActor, base_db: schemas.BaseDbCode) -> Any:
    """Golden records, open conflicts, last merge and feeds of a base database."""
    return service.base_summary(session, actor, base_db)


@router.post("/{base_db}/merge")
def merge(session: DbSession, actor: CurrentActor, base_db: schemas.BaseDbCode) -> dict[str, int]:
    """Merge the base database's feeds now (their syncs do it after every successful run)."""
    return service.base_merge(session, actor, base_db)


@router.get("/{base_db}/records/{key}", response_model=schemas.BaseRecordRead)
def record(session: DbSession, actor: CurrentActor, base_db: schemas.BaseDbCode, key: str) -> Any:
    """One golden record by its key (the lookup is audited)."""
    return service.base_record_get(session, actor, base_db, key)


@router.get("/{base_db}/conflicts", response_model=list[schemas.BaseConflictRead])
def conflicts(session: DbSession, actor: CurrentActor, base_db: schemas.BaseDbCode) -> Any:
    """Open conflicts between the base database's feeds."""
    return service.base_conflicts(session, actor, base_db)


@router.post("/conflicts/{conflict_id}/resolve", response_model=schemas.BaseConflictRead)
def resolve(session: DbSession, actor: CurrentActor, conflict_id: uuid.UUID,
            body: schemas.BaseConflictResolve) -> Any:
    """Choose one candidate's value for the golden record (the bureau)."""
    return service.base_conflict_resolve(session, actor, conflict_id, body)
