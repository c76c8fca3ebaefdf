"""Base-database API under /api/v1/data/base: feeds, merging, golden-record lookup, conflicts (issue 20)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query

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


@router.get("/geo/within", response_model=list[BaseRecordRead])
def geo_within(session: DbSession, actor: CurrentActor, min_lon: Annotated[float, Query(ge=-180, le=180)],
               min_lat: Annotated[float, Query(ge=-90, le=90)], max_lon: Annotated[float, Query(ge=-180, le=180)],
               max_lat: Annotated[float, Query(ge=-90, le=90)],
               limit: Annotated[int, Query(ge=1, le=2000)] = 500) -> Any:
    """Golden records of 自然资源和空间地理 whose geometry meets the box (the lookup is audited)."""
    return service.base_geo_search(session, actor, bbox=(min_lon, min_lat, max_lon, max_lat), limit=limit)


@router.get("/geo/near", response_model=list[BaseRecordRead])
def geo_near(session: DbSession, actor: CurrentActor, lon: Annotated[float, Query(ge=-180, le=180)],
             lat: Annotated[float, Query(ge=-90, le=90)], radius_m: Annotated[float, Query(gt=0, le=50_000)],
             limit: Annotated[int, Query(ge=1, le=2000)] = 500) -> Any:
    """Golden records of 自然资源和空间地理 within radius_m metres of a point, nearest first (audited)."""
    return service.base_geo_search(session, actor, near=(lon, lat, radius_m), limit=limit)


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
