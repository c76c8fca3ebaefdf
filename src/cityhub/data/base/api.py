"""Base-database API under /api/v1/data/base: feeds, merging, golden-record lookup, conflicts (issue 20)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter

from cityhub.core.deps import CurrentActor
from cityhub.data import service
from cityhub.data.base.schemas import (
    BaseConflictRead,
    BaseConflictResolve,
    BaseDbCode,
    BaseFeedRead,
    BaseFeedSet,
    BaseRecordRead,
    BaseSummary,
)
from cityhub.kit.web import DbSession, SessionRoute

router = APIRouter(prefix="/api/v1/data/base", tags=["data base databases"], route_class=SessionRoute)


@router.post("/feeds", response_model=BaseFeedRead, status_code=201)
def feed_set(session: DbSession, actor: CurrentActor, body: BaseFeedSet) -> Any:
    """Make an entry feed a base database, or change its key item and priority (the bureau)."""
    return service.base_feed_set(session, actor, body)


@router.get("/{base_db}", response_model=BaseSummary)
def summary(session: DbSession, actor: CurrentActor, base_db: BaseDbCode) -> Any:
    """Golden records, open conflicts, last merge and feeds of a base database."""
    return service.base_summary(session, actor, base_db)


@router.post("/{base_db}/merge")
def merge(session: DbSession, actor: CurrentActor, base_db: BaseDbCode) -> dict[str, int]:
    """Merge the base database's feeds now (their syncs do it after every successful run)."""
    return service.base_merge(session, actor, base_db)


@router.get("/{base_db}/records/{key}", response_model=BaseRecordRead)
def record(session: DbSession, actor: CurrentActor, base_db: BaseDbCode, key: str) -> Any:
    """One golden record by its key (the lookup is audited)."""
    return service.base_record_get(session, actor, base_db, key)


@router.get("/{base_db}/conflicts", response_model=list[BaseConflictRead])
def conflicts(session: DbSession, actor: CurrentActor, base_db: BaseDbCode) -> Any:
    """Open conflicts between the base database's feeds."""
    return service.base_conflicts(session, actor, base_db)


@router.post("/conflicts/{conflict_id}/resolve", response_model=BaseConflictRead)
def resolve(session: DbSession, actor: CurrentActor, conflict_id: uuid.UUID,
            body: BaseConflictResolve) -> Any:
    """Choose one candidate's value for the golden record (the bureau)."""
    return service.base_conflict_resolve(session, actor, conflict_id, body)
