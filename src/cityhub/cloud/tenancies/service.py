"""Tenancies (one per department) and their quotas, resource requests through approval, placement and the queue.

A request is checked against the tenancy's quota when ordered; approval runs department head → (above the cost
threshold) the bureau → placement, which reserves pool capacity, writes the resource rows and queues the provision
job (`tenancies.jobs` runs it). Resize, reclaim and retry queue jobs the same way.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from cityhub.cloud import placement, policies
from cityhub.cloud.models import (
    HOLDING,
    CatalogItem,
    InfoSystem,
    Job,
    Pool,
    Region,
    RequestStatus,
    Resource,
    ResourceRequest,
    ResourceStatus,
    Tenancy,
)
from cityhub.cloud.schemas import Quota, RequestCreate, TenancyCreate
from cityhub.core import service as core
from cityhub.core.permissions import P, can, orgs_with
from cityhub.core.service import Actor
from cityhub.kit import clock
from cityhub.kit.db import get_or_404
from cityhub.kit.errors import Conflict, InvalidTransition, NotFound, ValidationFailed, check_transition, transition
from cityhub.kit.i18n import gettext as _
from cityhub.kit.pagination import PageParams, paginate
from cityhub.kit.settings import get_settings

REQUEST_FLOW: dict[RequestStatus, set[RequestStatus]] = {
    RequestStatus.SUBMITTED: {RequestStatus.PENDING_BUREAU, RequestStatus.APPROVED, RequestStatus.REJECTED},
    RequestStatus.PENDING_BUREAU: {RequestStatus.APPROVED, RequestStatus.REJECTED},
    RequestStatus.APPROVED: {RequestStatus.PROVISIONING},
    RequestStatus.PROVISIONING: {RequestStatus.ACTIVE, RequestStatus.FAILED},
    RequestStatus.ACTIVE: {RequestStatus.RESIZING, RequestStatus.RECLAIMING},
    RequestStatus.RESIZING: {RequestStatus.ACTIVE},
    RequestStatus.RECLAIMING: {RequestStatus.RECLAIMED},
    RequestStatus.FAILED: {RequestStatus.PROVISIONING},
}
REQUEST_STATUSES = [s.value for s in RequestStatus]
OPEN_REQUEST = (RequestStatus.SUBMITTED, RequestStatus.PENDING_BUREAU, RequestStatus.APPROVED,
                RequestStatus.PROVISIONING, RequestStatus.RESIZING, RequestStatus.RECLAIMING)
QUOTA_KEYS = ("instances", "vcpus", "ram_mb", "disk_gb", "buckets", "storage_gb")
_REQ_FIELDS = ("status", "pool_id", "item_id", "quantity", "monthly_cost", "note")


# ---------------------------------------------------------------- tenancies and quotas


def tenancy_quota(t: Tenancy) -> dict[str, int]:
    """A tenancy's quotas by key."""
    return {k: getattr(t, f"quota_{k}") for k in QUOTA_KEYS}


def tenancy_usage(session: Session, tenancy_id: uuid.UUID) -> dict[str, int]:
    """What a tenancy holds now (resources not yet reclaimed)."""
    row = session.execute(
        select(func.count().filter(Resource.kind == "node"), func.coalesce(func.sum(Resource.vcpus), 0),
               func.coalesce(func.sum(Resource.ram_mb), 0), func.coalesce(func.sum(Resource.disk_gb), 0),
               func.count().filter(Resource.kind == "bucket"), func.coalesce(func.sum(Resource.storage_gb), 0))
        .where(Resource.tenancy_id == tenancy_id, Resource.status.in_(HOLDING))).one()
    return dict(zip(QUOTA_KEYS, (int(v) for v in row), strict=True))


def tenancy_usages(session: Session, tenancy_ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, int]]:
    """What several tenancies hold now, in one grouped query (tenancies holding nothing are absent)."""
    if not tenancy_ids:
        return {}
    rows = session.execute(
        select(Resource.tenancy_id, func.count().filter(Resource.kind == "node"),
               func.coalesce(func.sum(Resource.vcpus), 0), func.coalesce(func.sum(Resource.ram_mb), 0),
               func.coalesce(func.sum(Resource.disk_gb), 0), func.count().filter(Resource.kind == "bucket"),
               func.coalesce(func.sum(Resource.storage_gb), 0))
        .where(Resource.tenancy_id.in_(tenancy_ids), Resource.status.in_(HOLDING)).group_by(Resource.tenancy_id))
    return {tid: dict(zip(QUOTA_KEYS, (int(v) for v in vals), strict=True)) for tid, *vals in rows.all()}


def tenancy_create(session: Session, actor: Actor, data: TenancyCreate) -> Tenancy:
    """Open a department's tenancy (at most one per department: 409 on a second)."""
    policies.tenancy_create(actor)
    if session.scalar(select(Tenancy.id).where(Tenancy.org_id == data.org_id)):
        raise Conflict(_("This department already has a tenancy (one per department)"),
                       details={"field": "org_id"})
    try:
        core.organization_get(session, actor, data.org_id)
    except NotFound as exc:
        raise ValidationFailed(_("Organisation not found"), field="org_id") from exc
    t = Tenancy(org_id=data.org_id, name=data.name)
    for k, v in data.quota.model_dump(exclude_none=True).items():
        setattr(t, f"quota_{k}", v)
    session.add(t)
    session.flush()
    core.audit_record(session, actor, "tenancy_create", target_type="cloud_tenancy", target_id=t.id,
                      org_id=t.org_id, after={"name": t.name, **tenancy_quota(t)})
    return t


def tenancy_get(session: Session, actor: Actor, tenancy_id: uuid.UUID) -> Tenancy:
    """One tenancy the actor may see."""
    t = session.get(Tenancy, tenancy_id)
    if t is None or not policies.org_visible(actor, t.org_id):
        raise NotFound(_("Tenancy not found"), details={"id": str(tenancy_id)})
    return t


def tenancy_for_org(session: Session, org_id: uuid.UUID) -> Tenancy | None:
    """A department's tenancy (for other domains and the demo)."""
    return session.scalar(select(Tenancy).where(Tenancy.org_id == org_id))


def tenancy_list(session: Session, actor: Actor) -> list[Tenancy]:
    """Tenancies the actor may see."""
    return list(session.scalars(select(Tenancy).where(policies.org_visible_filter(actor, Tenancy.org_id))
                                .order_by(Tenancy.name)))


def tenancy_quota_update(session: Session, actor: Actor, tenancy_id: uuid.UUID, data: Quota) -> Tenancy:
    """Change a tenancy's quotas."""
    t = tenancy_get(session, actor, tenancy_id)
    policies.tenancy_quota_update(actor)
    before = tenancy_quota(t)
    for k, v in data.model_dump(exclude_none=True).items():
        setattr(t, f"quota_{k}", v)
    session.flush()
    core.audit_record(session, actor, "tenancy_quota_update", target_type="cloud_tenancy", target_id=t.id,
                      org_id=t.org_id, before=before, after=tenancy_quota(t))  # keyed by quota name, as read
    return t


def _demand_of(item: CatalogItem, quantity: int) -> dict[str, int]:
    nodes = item.kind in ("compute", "database")
    return {"instances": quantity if nodes else 0, "vcpus": item.vcpus * quantity, "ram_mb": item.ram_mb * quantity,
            "disk_gb": item.disk_gb * quantity, "buckets": 0 if nodes else quantity,
            "storage_gb": item.storage_gb * quantity}


def _check_quota(session: Session, t: Tenancy, demand: dict[str, int], released: dict[str, int] | None = None
                 ) -> None:
    usage = tenancy_usage(session, t.id)
    # Requests approved but not provisioned yet hold no resource rows until approval: count the open ones too.
    pending = session.execute(
        select(ResourceRequest.item_id, ResourceRequest.quantity)
        .where(ResourceRequest.tenancy_id == t.id,
               ResourceRequest.status.in_((RequestStatus.SUBMITTED, RequestStatus.PENDING_BUREAU)))).all()
    for item_id, qty in pending:
        item = session.get(CatalogItem, item_id)
        if item is not None:
            for k, v in _demand_of(item, qty).items():
                usage[k] += v
    quota = tenancy_quota(t)
    for k in QUOTA_KEYS:
        after = usage[k] + demand.get(k, 0) - (released or {}).get(k, 0)
        if demand.get(k, 0) and after > quota[k]:
            raise Conflict(_("Quota exceeded: ") + k, code="quota_exceeded",
                           details={"quota": k, "limit": quota[k], "in_use": usage[k], "requested": demand[k]})


# ---------------------------------------------------------------- requests


def _head_id(session: Session, org_id: uuid.UUID) -> uuid.UUID | None:
    head = core.organization_head(session, org_id)
    return head.id if head is not None else None


def is_unit_head(session: Session, actor: Actor, org_id: uuid.UUID) -> bool:
    """Is the actor the unit's head (its 云长)? Heads see their unit's requests and scorecard."""
    head = _head_id(session, org_id)
    return head is not None and actor.user_id is not None and head == actor.user_id


def request_get(session: Session, actor: Actor, request_id: uuid.UUID) -> ResourceRequest:
    """One request the actor may see (the bureau sees every request: it approves them)."""
    req = session.get(ResourceRequest, request_id)
    if req is None or not (policies.org_visible(actor, req.org_id) or is_unit_head(session, actor, req.org_id)):
        raise NotFound(_("Request not found"), details={"id": str(request_id)})
    return req


def request_list(session: Session, actor: Actor, page: PageParams, *, status: str | None = None,
                 org_id: uuid.UUID | None = None) -> tuple[list[ResourceRequest], int]:
    """Requests the actor may see, newest first."""
    stmt = select(ResourceRequest).order_by(ResourceRequest.created_at.desc(), ResourceRequest.id)
    stmt = stmt.where(policies.org_visible_filter(actor, ResourceRequest.org_id))
    if status:
        stmt = stmt.where(ResourceRequest.status == status)
    if org_id:
        stmt = stmt.where(ResourceRequest.org_id == org_id)
    return paginate(session, stmt, page)


def approval_queue(session: Session, actor: Actor) -> list[ResourceRequest]:
    """Requests waiting for this actor: department heads' SUBMITTED ones, the bureau's PENDING_BUREAU ones."""
    conds = []
    if can(actor, P.CLOUD_REQUEST_APPROVE_BUREAU):
        conds.append(ResourceRequest.status == RequestStatus.PENDING_BUREAU)
    if actor.is_platform_admin:
        conds.append(ResourceRequest.status == RequestStatus.SUBMITTED)
    else:
        orgs = orgs_with(actor, P.CLOUD_REQUEST_APPROVE_UNIT)
        headed = [o.id for o in core.organization_all(session) if o.head_user_id and o.head_user_id == actor.user_id]
        conds.append(and_(ResourceRequest.status == RequestStatus.SUBMITTED,
                          ResourceRequest.org_id.in_(set(orgs) | set(headed))))
    return list(session.scalars(select(ResourceRequest).where(or_(*conds))
                                .order_by(ResourceRequest.created_at).limit(500)))


def request_create(session: Session, actor: Actor, tenancy_id: uuid.UUID, data: RequestCreate) -> ResourceRequest:
    """Order from the catalog for a tenancy; the quota is checked now (409 naming the exceeded quota)."""
    t = tenancy_get(session, actor, tenancy_id)
    policies.request_create(actor, t.org_id)
    item = session.get(CatalogItem, data.item_id)
    if item is None or not item.active:
        raise ValidationFailed(_("Catalog item not found"), field="item_id")
    if data.system_id is not None:
        system = session.get(InfoSystem, data.system_id)
        if system is None or system.org_id != t.org_id:
            raise ValidationFailed(_("System not found in this department"), field="system_id")
    _check_quota(session, t, _demand_of(item, data.quantity))
    req = ResourceRequest(tenancy_id=t.id, org_id=t.org_id, requested_by=actor.user_id,
                          monthly_cost=round(item.monthly_price * data.quantity, 2), **data.model_dump())
    session.add(req)
    session.flush()
    core.audit_record(session, actor, "request_create", target_type="cloud_request", target_id=req.id,
                      org_id=req.org_id, after=core.snapshot(req, _REQ_FIELDS))
    return req


def _approval_step(req: ResourceRequest, target: RequestStatus) -> bool:
    """Is the request at the bureau's step (else the department's)? 409 when it waits for no approval."""
    if req.status == RequestStatus.PENDING_BUREAU:
        return True
    if req.status != RequestStatus.SUBMITTED:
        raise InvalidTransition("request", req.status, target)
    return False


def request_approve(session: Session, actor: Actor, request_id: uuid.UUID, note: str = "") -> ResourceRequest:
    """Approve at the current step: department head, then the bureau above the threshold; then place and queue."""
    req = request_get(session, actor, request_id)
    bureau_step = _approval_step(req, RequestStatus.APPROVED)
    policies.request_approve(actor, req.org_id, _head_id(session, req.org_id), bureau_step=bureau_step)
    with core.audited(session, actor, "request_approve", req, _REQ_FIELDS, target_type="cloud_request",
                      org_id=req.org_id):
        if bureau_step:
            req.bureau_approved_by = actor.user_id
            target = RequestStatus.APPROVED
        else:
            req.dept_approved_by = actor.user_id
            over = req.monthly_cost > get_settings().cloud_approval_threshold
            target = RequestStatus.PENDING_BUREAU if over else RequestStatus.APPROVED
        transition(req, target, REQUEST_FLOW, "request")
        if note:
            req.note = note
        if target == RequestStatus.APPROVED:
            _place_and_queue(session, req)
    return req


def request_reject(session: Session, actor: Actor, request_id: uuid.UUID, note: str = "") -> ResourceRequest:
    """Reject at the current step (only whoever could approve it)."""
    req = request_get(session, actor, request_id)
    bureau_step = req.status == RequestStatus.PENDING_BUREAU
    policies.request_reject(actor, req.org_id, _head_id(session, req.org_id), bureau_step=bureau_step)
    with core.audited(session, actor, "request_reject", req, _REQ_FIELDS, target_type="cloud_request",
                      org_id=req.org_id):
        transition(req, RequestStatus.REJECTED, REQUEST_FLOW, "request")
        req.note = note
    return req


def request_resize(session: Session, actor: Actor, request_id: uuid.UUID, item_id: uuid.UUID) -> ResourceRequest:
    """Move an active compute request to another catalog size (quota and pool capacity are checked)."""
    req = request_get(session, actor, request_id)
    policies.request_resize(actor, req.org_id)
    new = session.get(CatalogItem, item_id)
    old = session.get(CatalogItem, req.item_id)
    if new is None or old is None or new.kind != old.kind or new.kind == "storage":
        raise ValidationFailed(_("Pick another compute item of the same kind"), field="item_id")
    check_transition("request", REQUEST_FLOW, RequestStatus(req.status), RequestStatus.RESIZING)  # 409 first
    t = get_or_404(session, Tenancy, req.tenancy_id, "Tenancy")
    _check_quota(session, t, _demand_of(new, req.quantity), released=_demand_of(old, req.quantity))
    pool = get_or_404(session, Pool, req.pool_id, "Pool") if req.pool_id else None
    delta = placement.Demand(vcpus=(new.vcpus - old.vcpus) * req.quantity,
                             ram_mb=(new.ram_mb - old.ram_mb) * req.quantity,
                             disk_gb=(new.disk_gb - old.disk_gb) * req.quantity)
    if pool is not None and not placement.fits(_pool_state(pool, "", 9, 1), delta):
        raise Conflict(_("The pool has no room for the larger size"), code="no_capacity")
    with core.audited(session, actor, "request_resize", req, _REQ_FIELDS, target_type="cloud_request",
                      org_id=req.org_id):
        if pool is not None:
            allocate(pool, delta)
        transition(req, RequestStatus.RESIZING, REQUEST_FLOW, "request")
        req.monthly_cost = round(new.monthly_price * req.quantity, 2)
        job_enqueue(session, "resize", req.id, f"resize:{req.id}:{new.id}:{clock.now().isoformat()}",
                    {"from": str(old.id), "to": str(new.id)})
        req.item_id = new.id
    return req


def request_reclaim(session: Session, actor: Actor, request_id: uuid.UUID) -> ResourceRequest:
    """Give the resources back: the job takes a final backup, revokes access (stops) and destroys them."""
    req = request_get(session, actor, request_id)
    policies.request_reclaim(actor, req.org_id)
    with core.audited(session, actor, "request_reclaim", req, _REQ_FIELDS, target_type="cloud_request",
                      org_id=req.org_id):
        transition(req, RequestStatus.RECLAIMING, REQUEST_FLOW, "request")
        job_enqueue(session, "reclaim", req.id, f"reclaim:{req.id}")
    return req


def request_retry(session: Session, actor: Actor, request_id: uuid.UUID) -> ResourceRequest:
    """Queue a failed provisioning again (its resource rows are still tracked)."""
    req = request_get(session, actor, request_id)
    policies.request_retry(actor, req.org_id)
    with core.audited(session, actor, "request_retry", req, _REQ_FIELDS, target_type="cloud_request",
                      org_id=req.org_id):
        transition(req, RequestStatus.PROVISIONING, REQUEST_FLOW, "request")
        item = get_or_404(session, CatalogItem, req.item_id, "Catalog item")
        pool = get_or_404(session, Pool, req.pool_id, "Pool")
        allocate(pool, demand(item, req.quantity, req))
        for res in session.scalars(select(Resource).where(Resource.request_id == req.id,
                                                          Resource.status == ResourceStatus.ERROR)):
            res.status = ResourceStatus.PROVISIONING
        job_enqueue(session, "provision", req.id, f"provision:{req.id}:{clock.now().isoformat()}")
    return req


def resource_list(session: Session, actor: Actor, page: PageParams, *, request_id: uuid.UUID | None = None,
                  status: str | None = None) -> tuple[list[Resource], int]:
    """Resources the actor may see."""
    stmt = select(Resource).where(policies.org_visible_filter(actor, Resource.org_id)).order_by(Resource.name)
    if request_id:
        stmt = stmt.where(Resource.request_id == request_id)
    if status:
        stmt = stmt.where(Resource.status == status)
    return paginate(session, stmt, page)


def resource_get(session: Session, actor: Actor, resource_id: uuid.UUID) -> Resource:
    """One resource the actor may see (404 otherwise, never a hint that it exists)."""
    res = session.get(Resource, resource_id)
    if res is None or not policies.org_visible(actor, res.org_id):
        raise NotFound(_("Resource not found"), details={"id": str(resource_id)})
    return res


# ---------------------------------------------------------------- placement and the job queue


def _pool_state(pool: Pool, region_code: str, security_level: int, price_factor: float) -> placement.PoolState:
    return placement.PoolState(
        pool.id, region_code, security_level, price_factor, pool.vcpus_total, pool.ram_mb_total,
        pool.disk_gb_total, pool.storage_gb_total, pool.vcpus_used, pool.ram_mb_used, pool.disk_gb_used,
        pool.storage_gb_used)


def _pool_states(session: Session, ids: Iterable[uuid.UUID] | None = None) -> list[tuple[Pool, placement.PoolState]]:
    stmt = select(Pool, Region.code).join(Region, Region.id == Pool.region_id).order_by(Pool.name)
    if ids is not None:
        stmt = stmt.where(Pool.id.in_(list(ids)))
    return [(pool, _pool_state(pool, code, pool.security_level, pool.price_factor))
            for pool, code in session.execute(stmt).all()]


def demand(item: CatalogItem, qty: int, req: ResourceRequest) -> placement.Demand:
    """What `qty` of a catalog item asks of a pool, with the request's region, security level and strategy."""
    return placement.Demand(vcpus=item.vcpus * qty, ram_mb=item.ram_mb * qty, disk_gb=item.disk_gb * qty,
                            storage_gb=item.storage_gb * qty, region=req.region_code,
                            security_level=req.security_level, strategy=req.strategy)


def allocate(pool: Pool, d: placement.Demand, sign: int = 1) -> None:
    """Reserve (sign 1) or release (sign -1) a demand's capacity in a pool."""
    pool.vcpus_used += sign * d.vcpus
    pool.ram_mb_used += sign * d.ram_mb
    pool.disk_gb_used += sign * d.disk_gb
    pool.storage_gb_used += sign * d.storage_gb


def _place_and_queue(session: Session, req: ResourceRequest) -> None:
    item = session.get(CatalogItem, req.item_id)
    assert item is not None  # FK
    d = demand(item, req.quantity, req)
    pools = _pool_states(session)
    chosen = placement.choose([s for _p, s in pools], d)
    if chosen is None:
        raise Conflict(_("No resource pool can take this request (capacity, region or security level)"),
                       code="no_capacity", details={"region": req.region_code,
                                                    "security_level": req.security_level})
    pool = next(p for p, s in pools if s is chosen)
    allocate(pool, d)
    req.pool_id = pool.id
    region = session.get(Region, pool.region_id)
    assert region is not None  # FK
    kind = "bucket" if item.kind == "storage" else "node"
    # The resource rows exist before any provider call: a failed provisioning never leaves an untracked resource.
    for i in range(req.quantity):
        session.add(Resource(request_id=req.id, tenancy_id=req.tenancy_id, org_id=req.org_id, pool_id=pool.id,
                             account_id=region.account_id, kind=kind, name=f"chub-{req.id.hex[:12]}-{i}",
                             size_id=item.size_id, vcpus=item.vcpus, ram_mb=item.ram_mb, disk_gb=item.disk_gb,
                             storage_gb=item.storage_gb, monthly_price=item.monthly_price))
    transition(req, RequestStatus.PROVISIONING, REQUEST_FLOW, "request")
    job_enqueue(session, "provision", req.id, f"provision:{req.id}")


def job_enqueue(session: Session, kind: str, request_id: uuid.UUID, key: str,
                params: dict[str, Any] | None = None) -> Job:
    """Queue a provider job once per idempotency key (a second call returns the first job)."""
    existing = session.scalar(select(Job).where(Job.key == key))
    if existing is not None:
        return existing
    job = Job(kind=kind, request_id=request_id, key=key, params=params or {}, next_run_at=clock.now())
    session.add(job)
    session.flush()
    return job
