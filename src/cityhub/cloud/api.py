"""Cloud REST API under /api/v1/cloud.

Providers, pools, catalog, tenancies, requests, resources, jobs, metering, systems, ratios, DR, scorecards.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from cityhub.cloud import schemas, service
from cityhub.cloud.reference import DR_LEVELS
from cityhub.core.deps import CurrentActor
from cityhub.kit import i18n
from cityhub.kit.pagination import Page, PageParams, page_params, page_response
from cityhub.kit.web import DbSession, SessionRoute

router = APIRouter(prefix="/api/v1/cloud", tags=["cloud"], route_class=SessionRoute)
Paging = Annotated[PageParams, Depends(page_params)]


def _account(a: Any) -> schemas.ProviderAccount:
    out = schemas.ProviderAccount.model_validate(a)
    out.has_credentials = bool(a.credentials_enc)
    return out


def _tenancy(session: Any, t: Any) -> schemas.Tenancy:
    out = schemas.Tenancy.model_validate(t)
    out.quota = {k: getattr(t, f"quota_{k}") for k in service.QUOTA_KEYS}
    out.usage = service.tenancy_usage(session, t.id)
    return out


# ---- providers, regions, pools, catalog


@router.get("/providers", response_model=list[schemas.ProviderAccount])
def providers(session: DbSession, actor: CurrentActor) -> list[schemas.ProviderAccount]:
    """Provider accounts (credentials are never returned)."""
    return [_account(a) for a in service.provider_account_list(session, actor)]


@router.post("/providers", response_model=schemas.ProviderAccount, status_code=201)
def provider_create(session: DbSession, actor: CurrentActor, body: schemas.ProviderAccountCreate
                    ) -> schemas.ProviderAccount:
    """Register a provider account; credentials are encrypted at rest."""
    return _account(service.provider_account_create(session, actor, body))


@router.get("/providers/{account_id}", response_model=schemas.ProviderAccount)
def provider(session: DbSession, actor: CurrentActor, account_id: uuid.UUID) -> schemas.ProviderAccount:
    """One provider account."""
    return _account(service.provider_account_get(session, actor, account_id))


@router.post("/providers/{account_id}/reconcile", response_model=list[schemas.Finding])
def provider_reconcile(session: DbSession, actor: CurrentActor, account_id: uuid.UUID) -> Any:
    """Compare the provider's inventory with cityhub's; returns the findings (drift, orphan, missing)."""
    return service.reconcile(session, actor, account_id)


@router.get("/findings", response_model=list[schemas.Finding])
def findings(session: DbSession, actor: CurrentActor, account_id: uuid.UUID | None = None,
             open_only: bool = True) -> Any:
    """Reconciler findings."""
    return service.finding_list(session, actor, account_id, open_only)


@router.get("/regions", response_model=list[schemas.Region])
def regions(session: DbSession, actor: CurrentActor) -> Any:
    """Regions."""
    return service.region_list(session, actor)


@router.post("/regions", response_model=schemas.Region, status_code=201)
def region_create(session: DbSession, actor: CurrentActor, body: schemas.RegionCreate) -> Any:
    """Add a region."""
    return service.region_create(session, actor, body)


@router.get("/pools", response_model=list[schemas.Pool])
def pools(session: DbSession, actor: CurrentActor) -> Any:
    """Resource pools with capacity and allocation."""
    return service.pool_list(session, actor)


@router.post("/pools", response_model=schemas.Pool, status_code=201)
def pool_create(session: DbSession, actor: CurrentActor, body: schemas.PoolCreate) -> Any:
    """Add a pool."""
    return service.pool_create(session, actor, body)


@router.patch("/pools/{pool_id}", response_model=schemas.Pool)
def pool_update(session: DbSession, actor: CurrentActor, pool_id: uuid.UUID, body: schemas.PoolUpdate) -> Any:
    """Change a pool."""
    return service.pool_update(session, actor, pool_id, body)


@router.get("/catalog", response_model=list[schemas.CatalogItem])
def catalog(session: DbSession, actor: CurrentActor) -> Any:
    """The service catalog (云服务清单)."""
    return service.catalog_list(session, actor)


@router.post("/catalog", response_model=schemas.CatalogItem, status_code=201)
def catalog_create(session: DbSession, actor: CurrentActor, body: schemas.CatalogItemCreate) -> Any:
    """Add a catalog item."""
    return service.catalog_item_create(session, actor, body)


# ---- tenancies


@router.get("/tenancies", response_model=list[schemas.Tenancy])
def tenancies(session: DbSession, actor: CurrentActor) -> list[schemas.Tenancy]:
    """Tenancies the caller may see (a department sees its own)."""
    return [_tenancy(session, t) for t in service.tenancy_list(session, actor)]


@router.post("/tenancies", response_model=schemas.Tenancy, status_code=201)
def tenancy_create(session: DbSession, actor: CurrentActor, body: schemas.TenancyCreate) -> schemas.Tenancy:
    """Open a department's tenancy (409 when it has one)."""
    return _tenancy(session, service.tenancy_create(session, actor, body))


@router.get("/tenancies/{tenancy_id}", response_model=schemas.Tenancy)
def tenancy(session: DbSession, actor: CurrentActor, tenancy_id: uuid.UUID) -> schemas.Tenancy:
    """One tenancy with quota and usage."""
    return _tenancy(session, service.tenancy_get(session, actor, tenancy_id))


@router.patch("/tenancies/{tenancy_id}/quota", response_model=schemas.Tenancy)
def tenancy_quota(session: DbSession, actor: CurrentActor, tenancy_id: uuid.UUID, body: schemas.Quota
                  ) -> schemas.Tenancy:
    """Change quotas."""
    return _tenancy(session, service.tenancy_quota_update(session, actor, tenancy_id, body))


@router.post("/tenancies/{tenancy_id}/requests", response_model=schemas.ResourceRequest, status_code=201)
def request_create(session: DbSession, actor: CurrentActor, tenancy_id: uuid.UUID, body: schemas.RequestCreate) -> Any:
    """Order from the catalog (409 naming the exceeded quota)."""
    return service.request_create(session, actor, tenancy_id, body)


# ---- requests, resources, jobs


@router.get("/requests", response_model=Page[schemas.ResourceRequest])
def requests(session: DbSession, actor: CurrentActor, page: Paging,
             status: str | None = Query(None, max_length=20), org_id: uuid.UUID | None = None
             ) -> Response:
    """Requests the caller may see."""
    rows, total = service.request_list(session, actor, page, status=status, org_id=org_id)
    return page_response(schemas.ResourceRequest, rows, total, page)


@router.get("/approvals", response_model=list[schemas.ResourceRequest])
def approvals(session: DbSession, actor: CurrentActor) -> Any:
    """Requests waiting for the caller's approval."""
    return service.approval_queue(session, actor)


@router.get("/requests/{request_id}", response_model=schemas.ResourceRequest)
def request(session: DbSession, actor: CurrentActor, request_id: uuid.UUID) -> Any:
    """One request."""
    return service.request_get(session, actor, request_id)


@router.post("/requests/{request_id}/approve", response_model=schemas.ResourceRequest)
def request_approve(session: DbSession, actor: CurrentActor, request_id: uuid.UUID, body: schemas.Decision) -> Any:
    """Approve at the current step."""
    return service.request_approve(session, actor, request_id, body.note)


@router.post("/requests/{request_id}/reject", response_model=schemas.ResourceRequest)
def request_reject(session: DbSession, actor: CurrentActor, request_id: uuid.UUID, body: schemas.Decision) -> Any:
    """Reject at the current step."""
    return service.request_reject(session, actor, request_id, body.note)


@router.post("/requests/{request_id}/resize", response_model=schemas.ResourceRequest)
def request_resize(session: DbSession, actor: CurrentActor, request_id: uuid.UUID, body: schemas.Resize) -> Any:
    """Resize an active request to another catalog item."""
    return service.request_resize(session, actor, request_id, body.item_id)


@router.post("/requests/{request_id}/reclaim", response_model=schemas.ResourceRequest)
def request_reclaim(session: DbSession, actor: CurrentActor, request_id: uuid.UUID) -> Any:
    """Reclaim (final backup, access revoked, destroyed)."""
    return service.request_reclaim(session, actor, request_id)


@router.post("/requests/{request_id}/retry", response_model=schemas.ResourceRequest)
def request_retry(session: DbSession, actor: CurrentActor, request_id: uuid.UUID) -> Any:
    """Queue a failed provisioning again."""
    return service.request_retry(session, actor, request_id)


@router.get("/resources", response_model=Page[schemas.Resource])
def resources(session: DbSession, actor: CurrentActor, page: Paging, request_id: uuid.UUID | None = None,
              status: str | None = Query(None, max_length=20)) -> Response:
    """Managed nodes and buckets the caller may see."""
    rows, total = service.resource_list(session, actor, page, request_id=request_id, status=status)
    return page_response(schemas.Resource, rows, total, page)


@router.get("/jobs", response_model=Page[schemas.Job])
def jobs(session: DbSession, actor: CurrentActor, page: Paging, status: str | None = Query(None, max_length=20)
         ) -> Response:
    """Provider jobs (platform team)."""
    rows, total = service.job_list(session, actor, page, status)
    return page_response(schemas.Job, rows, total, page)


# ---- metering


@router.get("/chargeback", response_model=list[schemas.Chargeback])
def chargeback(session: DbSession, actor: CurrentActor,
               month: str = Query(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM")) -> list[schemas.Chargeback]:
    """Monthly chargeback per department the caller may see."""
    return service.chargeback(session, actor, month)


@router.get("/idle-cases", response_model=list[schemas.IdleCase])
def idle_cases(session: DbSession, actor: CurrentActor, open_only: bool = False) -> Any:
    """Idle-rule cases the caller may see."""
    return service.idle_case_list(session, actor, open_only)


# ---- systems, ratios, DR, scorecards


@router.get("/systems", response_model=Page[schemas.InfoSystem])
def systems(session: DbSession, actor: CurrentActor, page: Paging, org_id: uuid.UUID | None = None,
            status: str | None = Query(None, max_length=20), q: str | None = Query(None, max_length=100)
            ) -> Response:
    """Information systems the caller may see."""
    rows, total = service.system_list(session, actor, page, org_id=org_id, status=status, q=q)
    return page_response(schemas.InfoSystem, rows, total, page)


@router.post("/systems", response_model=schemas.InfoSystem, status_code=201)
def system_create(session: DbSession, actor: CurrentActor, body: schemas.SystemCreate) -> Any:
    """Add a system to a department's inventory."""
    return service.system_create(session, actor, body)


@router.get("/systems/{system_id}", response_model=schemas.InfoSystem)
def system(session: DbSession, actor: CurrentActor, system_id: uuid.UUID) -> Any:
    """One system."""
    return service.system_get(session, actor, system_id)


@router.patch("/systems/{system_id}", response_model=schemas.InfoSystem)
def system_update(session: DbSession, actor: CurrentActor, system_id: uuid.UUID, body: schemas.SystemUpdate) -> Any:
    """Change a system."""
    return service.system_update(session, actor, system_id, body)


@router.post("/systems/{system_id}/transition", response_model=schemas.InfoSystem)
def system_transition(session: DbSession, actor: CurrentActor, system_id: uuid.UUID,
                      body: schemas.SystemTransition) -> Any:
    """Move the migration status."""
    return service.system_transition(session, actor, system_id, body.status)


@router.get("/systems/{system_id}/drills", response_model=list[schemas.Drill])
def drills(session: DbSession, actor: CurrentActor, system_id: uuid.UUID) -> Any:
    """DR drills of a system."""
    return service.drill_list(session, actor, system_id)


@router.post("/systems/{system_id}/drills", response_model=schemas.Drill, status_code=201)
def drill_create(session: DbSession, actor: CurrentActor, system_id: uuid.UUID, body: schemas.DrillCreate) -> Any:
    """Record a DR drill."""
    return service.drill_record(session, actor, system_id, body)


@router.get("/ratios")
def ratios(session: DbSession, actor: CurrentActor, year: int | None = Query(None, ge=2000, le=2100)
           ) -> dict[str, Any]:
    """上云率 and 整合率 per department (and the city, for the bureau) against the year's targets."""
    city, units = service.ratios(session, actor, year)
    return {"city": city.model_dump(mode="json") if city else None, "units": [u.model_dump(mode="json")
                                                                              for u in units]}


@router.get("/ratios/history", response_model=list[schemas.RatioPoint])
def ratio_history(session: DbSession, actor: CurrentActor, org_id: uuid.UUID | None = None) -> Any:
    """Snapshots of one unit's (or the city's) ratios."""
    return service.ratio_history(session, actor, org_id)


@router.post("/ratios/snapshot")
def ratio_snapshot(session: DbSession, actor: CurrentActor, day: date | None = None) -> dict[str, int]:
    """Store today's ratios (platform)."""
    return {"stored": service.ratio_snapshot_take(session, actor, day)}


@router.get("/dr/levels")
def dr_levels(actor: CurrentActor) -> list[dict[str, Any]]:
    """GB/T 20988 levels with RPO/RTO worded in the request's language."""
    return [lv.in_locale(i18n.get_locale()) for lv in DR_LEVELS]


@router.get("/dr/gaps", response_model=list[schemas.DrGap])
def dr_gaps(session: DbSession, actor: CurrentActor, org_id: uuid.UUID | None = None) -> list[schemas.DrGap]:
    """Systems below their required DR level."""
    return service.dr_gaps(session, actor, org_id)


@router.get("/scorecards/{org_id}", response_model=schemas.Scorecard)
def scorecard(session: DbSession, actor: CurrentActor, org_id: uuid.UUID) -> schemas.Scorecard:
    """The 云长 scorecard of one unit."""
    return service.scorecard(session, actor, org_id)


@router.get("/ranking", response_model=list[schemas.Scorecard])
def ranking(session: DbSession, actor: CurrentActor) -> list[schemas.Scorecard]:
    """Every unit ranked (the bureau's view)."""
    return service.ranking(session, actor)
