"""The only way to cloud data: providers, pools, tenancies, quotas, requests, jobs, metering, idle rule, etc.

Also the system inventory and migration ratios, DR, scorecards and the reconciler.

Other domains call these functions with a session and an actor; nothing here commits.
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import json
import logging
import statistics
import uuid
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session

from cityhub.cloud import placement, plugins, policies
from cityhub.cloud.models import (
    CatalogItem,
    DrDrill,
    Finding,
    IdleCase,
    IdleStatus,
    InfoSystem,
    Job,
    JobStatus,
    Pool,
    ProviderAccount,
    RatioSnapshot,
    Region,
    RequestStatus,
    Resource,
    ResourceRequest,
    ResourceStatus,
    SystemStatus,
    Tenancy,
    UsageDay,
)
from cityhub.cloud.plugins import CloudProvider, ProviderError
from cityhub.cloud.reference import dr_level, level_for, target_for
from cityhub.cloud.schemas import (
    CatalogItemCreate,
    Chargeback,
    DrGap,
    DrillCreate,
    PoolCreate,
    PoolUpdate,
    ProviderAccountCreate,
    Quota,
    Ratios,
    RegionCreate,
    RequestCreate,
    Scorecard,
    SystemCreate,
    SystemUpdate,
    TenancyCreate,
)
from cityhub.core import service as core
from cityhub.core.permissions import P, can, orgs_with
from cityhub.core.service import Actor
from cityhub.kit import clock, egress
from cityhub.kit.db import is_postgres
from cityhub.kit.errors import (
    Conflict,
    InvalidTransition,
    NotFound,
    ServiceUnavailable,
    ValidationFailed,
    check_transition,
)
from cityhub.kit.i18n import gettext as _
from cityhub.kit.metrics import REGISTRY
from cityhub.kit.pagination import PageParams, paginate
from cityhub.kit.settings import get_settings

log = logging.getLogger("cityhub.cloud")

try:
    from prometheus_client import Counter

    JOBS_COUNTER = Counter("cityhub_cloud_jobs_total", "Cloud provider jobs run, by kind and outcome",
                           ["kind", "outcome"], registry=REGISTRY)
except ValueError:  # pragma: no cover - module re-imported in the same process
    JOBS_COUNTER = None  # type: ignore[assignment]

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
SYSTEM_FLOW: dict[SystemStatus, set[SystemStatus]] = {
    SystemStatus.ASSESSING: {SystemStatus.PLANNED},
    SystemStatus.PLANNED: {SystemStatus.MIGRATING, SystemStatus.ASSESSING},
    SystemStatus.MIGRATING: {SystemStatus.VERIFYING, SystemStatus.PLANNED},
    SystemStatus.VERIFYING: {SystemStatus.DONE, SystemStatus.MIGRATING},
    SystemStatus.DONE: set(),
}
IDLE_FLOW: dict[IdleStatus, set[IdleStatus]] = {
    IdleStatus.REMINDED: {IdleStatus.ESCALATED, IdleStatus.RESOLVED},
    IdleStatus.ESCALATED: {IdleStatus.REDUCTION_PROPOSED, IdleStatus.RESOLVED},
    IdleStatus.REDUCTION_PROPOSED: {IdleStatus.RESOLVED},
}
REQUEST_STATUSES = [s.value for s in RequestStatus]
SYSTEM_STATUSES = [s.value for s in SystemStatus]
OPEN_REQUEST = (RequestStatus.SUBMITTED, RequestStatus.PENDING_BUREAU, RequestStatus.APPROVED,
                RequestStatus.PROVISIONING, RequestStatus.RESIZING, RequestStatus.RECLAIMING)
HOLDING = (ResourceStatus.PROVISIONING, ResourceStatus.ACTIVE, ResourceStatus.STOPPED, ResourceStatus.ERROR)
QUOTA_KEYS = ("instances", "vcpus", "ram_mb", "disk_gb", "buckets", "storage_gb")
# Idle rule of the management rules: a node idles when its 30-day mean CPU is under IDLE_CPU_PERCENT; a tenancy
# is over-provisioned when idle capacity (by vCPU) exceeds ALLOWED_REDUNDANCY of its capacity.
IDLE_CPU_PERCENT = 10.0
ALLOWED_REDUNDANCY = 0.2
IDLE_WINDOW_DAYS = 30
ESCALATE_WORKING_DAYS = 5
JOB_BACKOFF_S = 30
JOB_LEASE_S = 600


# ---------------------------------------------------------------- helpers


def _fernet() -> Fernet:
    key = hashlib.sha256(b"cityhub-cloud-credentials:" + get_settings().secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt_credentials(creds: dict[str, str]) -> str:
    """Fernet token of the credentials (key derived from settings.secret_key)."""
    return _fernet().encrypt(json.dumps(creds).encode()).decode() if creds else ""


def _decrypt(token: str) -> dict[str, str]:
    if not token:
        return {}
    try:
        return json.loads(_fernet().decrypt(token.encode()))  # type: ignore[no-any-return]
    except InvalidToken as exc:
        raise ServiceUnavailable(_("Stored provider credentials cannot be decrypted (was the secret key changed?)"
                                   )) from exc


def _visible_filter(actor: Actor, column: Any) -> Any:
    if actor.is_platform_admin:
        return True
    return column.in_(orgs_with(actor, P.CLOUD_READ))


def _get(session: Session, model: type[Any], obj_id: uuid.UUID | None, label: str) -> Any:
    obj = session.get(model, obj_id) if obj_id is not None else None
    if obj is None:
        raise NotFound(_(f"{label} not found"), details={"id": str(obj_id)})
    return obj


def _fields(obj: Any, *names: str) -> dict[str, Any]:
    return core.snapshot(obj, names)


_ENDPOINT_KEYS = ("endpoint", "auth_url")  # account config values the adapters connect to


def _check_endpoints(config: dict[str, Any]) -> None:
    """Provider endpoints go through the egress rule: no internal address unless allow-listed (422 naming it).

    Libcloud makes its own connections, so they are not pinned like kit.egress.client's: the check runs when the
    account is registered and again every time an adapter is built for it.
    """
    for key in _ENDPOINT_KEYS:
        if config.get(key):
            egress.check_url(str(config[key]), field=f"config.{key}")


def provider_for(session: Session, account: ProviderAccount) -> CloudProvider:
    """The adapter of an account (credentials decrypted only here, in memory)."""
    config = {"name": account.name, **(account.config or {})}
    try:
        _check_endpoints(config)
    except egress.EgressDenied as exc:
        log.warning("provider account %s: endpoint refused by the egress rule: %s", account.name, exc.details)
        raise ServiceUnavailable(_("Provider is not usable: its endpoint may not be called")) from exc
    try:
        return plugins.build(account.kind, config, _decrypt(account.credentials_enc))
    except ProviderError as exc:  # the driver's words (host names, endpoints) go to the log, not to the caller
        log.warning("provider account %s is not usable: %s", account.name, exc)
        raise ServiceUnavailable(_("Provider is not usable; the reason is in the log")) from exc


# ---------------------------------------------------------------- providers, regions, pools, catalog


def provider_account_create(session: Session, actor: Actor, data: ProviderAccountCreate) -> ProviderAccount:
    """Register a provider account; credentials are encrypted before they touch the database."""
    policies.platform_manage(actor)
    if session.scalar(select(ProviderAccount.id).where(ProviderAccount.name == data.name)):
        raise Conflict(_("A provider account with this name exists"), details={"field": "name"})
    _check_endpoints(data.config)
    acc = ProviderAccount(name=data.name, kind=data.kind.value, config=data.config,
                          credentials_enc=encrypt_credentials(data.credentials))
    session.add(acc)
    session.flush()
    try:
        plugins.build(acc.kind, {"name": acc.name, **acc.config}, data.credentials)
    except ProviderError as exc:
        raise ValidationFailed(str(exc), field="config") from exc
    core.audit_record(session, actor, "provider_account_create", target_type="cloud_provider", target_id=acc.id,
                      after={"name": acc.name, "kind": acc.kind, "config": acc.config,
                             "credentials": sorted(data.credentials)})
    return acc


def provider_account_list(session: Session, actor: Actor) -> list[ProviderAccount]:
    """Every provider account."""
    policies.platform_read(actor)
    return list(session.scalars(select(ProviderAccount).order_by(ProviderAccount.name)))


def provider_account_get(session: Session, actor: Actor, account_id: uuid.UUID) -> ProviderAccount:
    """One account."""
    policies.platform_read(actor)
    return _get(session, ProviderAccount, account_id, "Provider account")  # type: ignore[no-any-return]


def region_create(session: Session, actor: Actor, data: RegionCreate) -> Region:
    """Add a region to an account."""
    policies.platform_manage(actor)
    if session.get(ProviderAccount, data.account_id) is None:
        raise ValidationFailed(_("Provider account not found"), field="account_id")
    if session.scalar(select(Region.id).where(Region.account_id == data.account_id, Region.code == data.code)):
        raise Conflict(_("This region exists"), details={"field": "code"})
    region = Region(**data.model_dump())
    session.add(region)
    session.flush()
    core.audit_record(session, actor, "region_create", target_type="cloud_region", target_id=region.id,
                      after=data.model_dump())
    return region


def region_list(session: Session, actor: Actor) -> list[Region]:
    """Every region."""
    policies.platform_read(actor)
    return list(session.scalars(select(Region).order_by(Region.code)))


def pool_create(session: Session, actor: Actor, data: PoolCreate) -> Pool:
    """Add a resource pool."""
    policies.platform_manage(actor)
    if session.get(Region, data.region_id) is None:
        raise ValidationFailed(_("Region not found"), field="region_id")
    if session.scalar(select(Pool.id).where(Pool.name == data.name)):
        raise Conflict(_("A pool with this name exists"), details={"field": "name"})
    pool = Pool(**data.model_dump())
    session.add(pool)
    session.flush()
    core.audit_record(session, actor, "pool_create", target_type="cloud_pool", target_id=pool.id,
                      after=data.model_dump())
    return pool


_POOL_FIELDS = ("security_level", "price_factor", "vcpus_total", "ram_mb_total", "disk_gb_total", "storage_gb_total")


def pool_update(session: Session, actor: Actor, pool_id: uuid.UUID, data: PoolUpdate) -> Pool:
    """Change a pool (capacity never below what is allocated)."""
    policies.platform_manage(actor)
    pool: Pool = _get(session, Pool, pool_id, "Pool")
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    for dim in ("vcpus", "ram_mb", "disk_gb", "storage_gb"):
        if f"{dim}_total" in changes and changes[f"{dim}_total"] < getattr(pool, f"{dim}_used"):
            raise Conflict(_("Capacity below what is allocated"), details={"field": f"{dim}_total"})
    before = _fields(pool, *_POOL_FIELDS)
    for k, v in changes.items():
        setattr(pool, k, v)
    session.flush()
    core.audit_record(session, actor, "pool_update", target_type="cloud_pool", target_id=pool.id, before=before,
                      after=_fields(pool, *_POOL_FIELDS))
    return pool


def pool_list(session: Session, actor: Actor) -> list[Pool]:
    """Every pool."""
    policies.platform_read(actor)
    return list(session.scalars(select(Pool).order_by(Pool.name)))


def catalog_item_create(session: Session, actor: Actor, data: CatalogItemCreate) -> CatalogItem:
    """Add an orderable item to the 云服务清单."""
    policies.platform_manage(actor)
    if session.scalar(select(CatalogItem.id).where(CatalogItem.code == data.code)):
        raise Conflict(_("A catalog item with this code exists"), details={"field": "code"})
    if data.kind == "compute" and (not data.vcpus or not data.size_id):
        raise ValidationFailed(_("A compute item needs vcpus and size_id"), field="vcpus")
    if data.kind == "storage" and not data.storage_gb:
        raise ValidationFailed(_("A storage item needs storage_gb"), field="storage_gb")
    item = CatalogItem(**data.model_dump())
    session.add(item)
    session.flush()
    core.audit_record(session, actor, "catalog_item_create", target_type="cloud_catalog_item", target_id=item.id,
                      after=data.model_dump())
    return item


def catalog_list(session: Session, actor: Actor) -> list[CatalogItem]:
    """The service catalog."""
    policies.platform_read(actor)
    return list(session.scalars(select(CatalogItem).where(CatalogItem.active).order_by(CatalogItem.code)))


# ---------------------------------------------------------------- tenancies and quotas


def _quota(t: Tenancy) -> dict[str, int]:
    return {k: getattr(t, f"quota_{k}") for k in QUOTA_KEYS}


def tenancy_usage(session: Session, tenancy_id: uuid.UUID) -> dict[str, int]:
    """What a tenancy holds now (resources not yet reclaimed)."""
    row = session.execute(
        select(func.count().filter(Resource.kind == "node"), func.coalesce(func.sum(Resource.vcpus), 0),
               func.coalesce(func.sum(Resource.ram_mb), 0), func.coalesce(func.sum(Resource.disk_gb), 0),
               func.count().filter(Resource.kind == "bucket"), func.coalesce(func.sum(Resource.storage_gb), 0))
        .where(Resource.tenancy_id == tenancy_id, Resource.status.in_(HOLDING))).one()
    return dict(zip(QUOTA_KEYS, (int(v) for v in row), strict=True))


def tenancy_create(session: Session, actor: Actor, data: TenancyCreate) -> Tenancy:
    """Open a department's tenancy (at most one per department: 409 on a second)."""
    policies.platform_manage(actor)
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
                      org_id=t.org_id, after={"name": t.name, **_quota(t)})
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
    return list(session.scalars(select(Tenancy).where(_visible_filter(actor, Tenancy.org_id))
                                .order_by(Tenancy.name)))


def tenancy_quota_update(session: Session, actor: Actor, tenancy_id: uuid.UUID, data: Quota) -> Tenancy:
    """Change a tenancy's quotas."""
    t = tenancy_get(session, actor, tenancy_id)
    policies.platform_manage(actor)
    before = _quota(t)
    for k, v in data.model_dump(exclude_none=True).items():
        setattr(t, f"quota_{k}", v)
    session.flush()
    core.audit_record(session, actor, "tenancy_quota_update", target_type="cloud_tenancy", target_id=t.id,
                      org_id=t.org_id, before=before, after=_quota(t))
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
    quota = _quota(t)
    for k in QUOTA_KEYS:
        after = usage[k] + demand.get(k, 0) - (released or {}).get(k, 0)
        if demand.get(k, 0) and after > quota[k]:
            raise Conflict(_("Quota exceeded: ") + k, code="quota_exceeded",
                           details={"quota": k, "limit": quota[k], "in_use": usage[k], "requested": demand[k]})


# ---------------------------------------------------------------- requests


def _is_head(session: Session, actor: Actor, org_id: uuid.UUID) -> bool:
    head = core.organization_head(session, org_id)
    return head is not None and actor.user_id is not None and head.id == actor.user_id


def _request_visible(session: Session, actor: Actor, req: ResourceRequest) -> bool:
    return policies.org_visible(actor, req.org_id) or _is_head(session, actor, req.org_id)


def request_get(session: Session, actor: Actor, request_id: uuid.UUID) -> ResourceRequest:
    """One request the actor may see (the bureau sees every request: it approves them)."""
    req = session.get(ResourceRequest, request_id)
    if req is None or not _request_visible(session, actor, req):
        raise NotFound(_("Request not found"), details={"id": str(request_id)})
    return req


def request_list(session: Session, actor: Actor, page: PageParams, *, status: str | None = None,
                 org_id: uuid.UUID | None = None) -> tuple[list[ResourceRequest], int]:
    """Requests the actor may see, newest first."""
    stmt = select(ResourceRequest).order_by(ResourceRequest.created_at.desc(), ResourceRequest.id)
    stmt = stmt.where(_visible_filter(actor, ResourceRequest.org_id))
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


_REQ_FIELDS = ("status", "pool_id", "item_id", "quantity", "monthly_cost", "note")


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
                      org_id=req.org_id, after=_fields(req, *_REQ_FIELDS))
    return req


def request_approve(session: Session, actor: Actor, request_id: uuid.UUID, note: str = "") -> ResourceRequest:
    """Approve at the current step: department head, then the bureau above the threshold; then place and queue."""
    req = request_get(session, actor, request_id)
    before = _fields(req, *_REQ_FIELDS)
    if req.status == RequestStatus.SUBMITTED:
        head = core.organization_head(session, req.org_id)
        policies.request_approve_department(actor, req.org_id, head.id if head else None)
        req.dept_approved_by = actor.user_id
        over = req.monthly_cost > get_settings().cloud_approval_threshold
        target = RequestStatus.PENDING_BUREAU if over else RequestStatus.APPROVED
    elif req.status == RequestStatus.PENDING_BUREAU:
        policies.request_approve_bureau(actor)
        req.bureau_approved_by = actor.user_id
        target = RequestStatus.APPROVED
    else:
        raise InvalidTransition("request", req.status, RequestStatus.APPROVED)
    check_transition("request", REQUEST_FLOW, RequestStatus(req.status), target)
    req.status = target
    if note:
        req.note = note
    if target == RequestStatus.APPROVED:
        _place_and_queue(session, req)
    session.flush()
    core.audit_record(session, actor, "request_approve", target_type="cloud_request", target_id=req.id,
                      org_id=req.org_id, before=before, after=_fields(req, *_REQ_FIELDS))
    return req


def request_reject(session: Session, actor: Actor, request_id: uuid.UUID, note: str = "") -> ResourceRequest:
    """Reject at the current step (only whoever could approve it)."""
    req = request_get(session, actor, request_id)
    if req.status == RequestStatus.PENDING_BUREAU:
        policies.request_approve_bureau(actor)
    else:
        head = core.organization_head(session, req.org_id)
        policies.request_approve_department(actor, req.org_id, head.id if head else None)
    before = _fields(req, *_REQ_FIELDS)
    check_transition("request", REQUEST_FLOW, RequestStatus(req.status), RequestStatus.REJECTED)
    req.status = RequestStatus.REJECTED
    req.note = note
    session.flush()
    core.audit_record(session, actor, "request_reject", target_type="cloud_request", target_id=req.id,
                      org_id=req.org_id, before=before, after=_fields(req, *_REQ_FIELDS))
    return req


def _pool_states(session: Session, ids: Iterable[uuid.UUID] | None = None) -> list[tuple[Pool, placement.PoolState]]:
    stmt = select(Pool, Region.code).join(Region, Region.id == Pool.region_id).order_by(Pool.name)
    if ids is not None:
        stmt = stmt.where(Pool.id.in_(list(ids)))
    out = []
    for pool, code in session.execute(stmt).all():
        out.append((pool, placement.PoolState(
            pool.id, code, pool.security_level, pool.price_factor, pool.vcpus_total, pool.ram_mb_total,
            pool.disk_gb_total, pool.storage_gb_total, pool.vcpus_used, pool.ram_mb_used, pool.disk_gb_used,
            pool.storage_gb_used)))
    return out


def _demand(item: CatalogItem, qty: int, req: ResourceRequest) -> placement.Demand:
    return placement.Demand(vcpus=item.vcpus * qty, ram_mb=item.ram_mb * qty, disk_gb=item.disk_gb * qty,
                            storage_gb=item.storage_gb * qty, region=req.region_code,
                            security_level=req.security_level, strategy=req.strategy)


def _allocate(pool: Pool, d: placement.Demand, sign: int = 1) -> None:
    pool.vcpus_used += sign * d.vcpus
    pool.ram_mb_used += sign * d.ram_mb
    pool.disk_gb_used += sign * d.disk_gb
    pool.storage_gb_used += sign * d.storage_gb


def _place_and_queue(session: Session, req: ResourceRequest) -> None:
    item = session.get(CatalogItem, req.item_id)
    assert item is not None  # FK
    d = _demand(item, req.quantity, req)
    pools = _pool_states(session)
    chosen = placement.choose([s for _p, s in pools], d)
    if chosen is None:
        raise Conflict(_("No resource pool can take this request (capacity, region or security level)"),
                       code="no_capacity", details={"region": req.region_code,
                                                    "security_level": req.security_level})
    pool = next(p for p, s in pools if s is chosen)
    _allocate(pool, d)
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
    check_transition("request", REQUEST_FLOW, RequestStatus(req.status), RequestStatus.PROVISIONING)
    req.status = RequestStatus.PROVISIONING
    _job_enqueue(session, "provision", req.id, f"provision:{req.id}")


def _job_enqueue(session: Session, kind: str, request_id: uuid.UUID, key: str,
                 params: dict[str, Any] | None = None) -> Job:
    existing = session.scalar(select(Job).where(Job.key == key))
    if existing is not None:
        return existing
    job = Job(kind=kind, request_id=request_id, key=key, params=params or {}, next_run_at=clock.now())
    session.add(job)
    session.flush()
    return job


def request_resize(session: Session, actor: Actor, request_id: uuid.UUID, item_id: uuid.UUID) -> ResourceRequest:
    """Move an active compute request to another catalog size (quota and pool capacity are checked)."""
    req = request_get(session, actor, request_id)
    policies.request_change(actor, req.org_id)
    new = session.get(CatalogItem, item_id)
    old = session.get(CatalogItem, req.item_id)
    if new is None or old is None or new.kind != old.kind or new.kind == "storage":
        raise ValidationFailed(_("Pick another compute item of the same kind"), field="item_id")
    check_transition("request", REQUEST_FLOW, RequestStatus(req.status), RequestStatus.RESIZING)
    t = _get(session, Tenancy, req.tenancy_id, "Tenancy")
    _check_quota(session, t, _demand_of(new, req.quantity), released=_demand_of(old, req.quantity))
    pool = _get(session, Pool, req.pool_id, "Pool") if req.pool_id else None
    if pool is not None:
        delta = placement.Demand(vcpus=(new.vcpus - old.vcpus) * req.quantity,
                                 ram_mb=(new.ram_mb - old.ram_mb) * req.quantity,
                                 disk_gb=(new.disk_gb - old.disk_gb) * req.quantity)
        state = placement.PoolState(pool.id, "", 9, 1, pool.vcpus_total, pool.ram_mb_total, pool.disk_gb_total,
                                    pool.storage_gb_total, pool.vcpus_used, pool.ram_mb_used, pool.disk_gb_used,
                                    pool.storage_gb_used)
        if not placement.fits(state, delta):
            raise Conflict(_("The pool has no room for the larger size"), code="no_capacity")
        _allocate(pool, delta)
    before = _fields(req, *_REQ_FIELDS)
    req.status = RequestStatus.RESIZING
    req.monthly_cost = round(new.monthly_price * req.quantity, 2)
    _job_enqueue(session, "resize", req.id, f"resize:{req.id}:{new.id}:{clock.now().isoformat()}",
                 {"from": str(old.id), "to": str(new.id)})
    req.item_id = new.id
    session.flush()
    core.audit_record(session, actor, "request_resize", target_type="cloud_request", target_id=req.id,
                      org_id=req.org_id, before=before, after=_fields(req, *_REQ_FIELDS))
    return req


def request_reclaim(session: Session, actor: Actor, request_id: uuid.UUID) -> ResourceRequest:
    """Give the resources back: the job takes a final backup, revokes access (stops) and destroys them."""
    req = request_get(session, actor, request_id)
    policies.request_change(actor, req.org_id)
    before = _fields(req, *_REQ_FIELDS)
    check_transition("request", REQUEST_FLOW, RequestStatus(req.status), RequestStatus.RECLAIMING)
    req.status = RequestStatus.RECLAIMING
    _job_enqueue(session, "reclaim", req.id, f"reclaim:{req.id}")
    session.flush()
    core.audit_record(session, actor, "request_reclaim", target_type="cloud_request", target_id=req.id,
                      org_id=req.org_id, before=before, after=_fields(req, *_REQ_FIELDS))
    return req


def request_retry(session: Session, actor: Actor, request_id: uuid.UUID) -> ResourceRequest:
    """Queue a failed provisioning again (its resource rows are still tracked)."""
    req = request_get(session, actor, request_id)
    policies.request_change(actor, req.org_id)
    before = _fields(req, *_REQ_FIELDS)
    check_transition("request", REQUEST_FLOW, RequestStatus(req.status), RequestStatus.PROVISIONING)
    req.status = RequestStatus.PROVISIONING
    item = _get(session, CatalogItem, req.item_id, "Catalog item")
    pool = _get(session, Pool, req.pool_id, "Pool")
    _allocate(pool, _demand(item, req.quantity, req))
    for res in session.scalars(select(Resource).where(Resource.request_id == req.id,
                                                      Resource.status == ResourceStatus.ERROR)):
        res.status = ResourceStatus.PROVISIONING
    _job_enqueue(session, "provision", req.id, f"provision:{req.id}:{clock.now().isoformat()}")
    session.flush()
    core.audit_record(session, actor, "request_retry", target_type="cloud_request", target_id=req.id,
                      org_id=req.org_id, before=before, after=_fields(req, *_REQ_FIELDS))
    return req


def resource_list(session: Session, actor: Actor, page: PageParams, *, request_id: uuid.UUID | None = None,
                  status: str | None = None) -> tuple[list[Resource], int]:
    """Resources the actor may see."""
    stmt = select(Resource).where(_visible_filter(actor, Resource.org_id)).order_by(Resource.name)
    if request_id:
        stmt = stmt.where(Resource.request_id == request_id)
    if status:
        stmt = stmt.where(Resource.status == status)
    return paginate(session, stmt, page)


# ---------------------------------------------------------------- jobs


def job_list(session: Session, actor: Actor, page: PageParams, status: str | None = None) -> tuple[list[Job], int]:
    """Provider jobs (platform team)."""
    policies.provider_read_detail(actor)
    stmt = select(Job).order_by(Job.created_at.desc(), Job.id)
    if status:
        stmt = stmt.where(Job.status == status)
    return paginate(session, stmt, page)


def jobs_due(session: Session, limit: int = 100) -> list[uuid.UUID]:
    """Jobs to run now: pending and due, or running with an expired lease (a worker died: resume them)."""
    now = clock.now()
    stmt = (select(Job.id).where(or_(and_(Job.status == JobStatus.PENDING, Job.next_run_at <= now),
                                     and_(Job.status == JobStatus.RUNNING, Job.next_run_at <= now)))
            .order_by(Job.next_run_at).limit(limit))
    return list(session.scalars(stmt))


def job_execute(session: Session, actor: Actor, job_id: uuid.UUID) -> Job:
    """Run one job attempt; provider errors are recorded and retried with exponential backoff, never raised."""
    policies.platform_manage(actor)
    stmt = select(Job).where(Job.id == job_id)
    if is_postgres(session):
        # Several workers may poll the same queue: the row lock is held for the whole attempt and a locked job is
        # skipped, so an attempt never runs twice at once.
        stmt = stmt.with_for_update(skip_locked=True)
    job = session.scalar(stmt)
    if job is None:
        raise NotFound(_("Job not found or being run by another worker"), details={"id": str(job_id)})
    if job.status in (JobStatus.DONE, JobStatus.FAILED) or job.next_run_at > clock.now():
        return job  # idempotent: a finished job is not run twice; a job another worker rescheduled waits
    job.status = JobStatus.RUNNING
    job.attempts += 1
    job.next_run_at = clock.now() + timedelta(seconds=JOB_LEASE_S)
    session.flush()
    try:
        with session.begin_nested():
            _JOB_KINDS[job.kind](session, actor, job)
    except (ProviderError, ServiceUnavailable) as exc:
        message = str(exc)[:500]
        job.last_error = message
        if job.attempts >= job.max_attempts:
            job.status = JobStatus.FAILED
            _job_give_up(session, actor, job)
        else:
            job.status = JobStatus.PENDING
            job.next_run_at = clock.now() + timedelta(seconds=JOB_BACKOFF_S * 2 ** (job.attempts - 1))
        log.warning("cloud job %s (%s) attempt %d failed: %s", job.id, job.kind, job.attempts, message)
        _count(job.kind, "error")
        core.audit_record(session, actor, "job_attempt_fail", target_type="cloud_job", target_id=job.id,
                          extra={"kind": job.kind, "attempt": job.attempts, "error": message,
                                 "final": job.status == JobStatus.FAILED}, outcome="error")
    else:
        job.status = JobStatus.DONE
        job.last_error = ""
        _count(job.kind, "ok")
    session.flush()
    return job


def _count(kind: str, outcome: str) -> None:
    if JOBS_COUNTER is not None:
        JOBS_COUNTER.labels(kind, outcome).inc()


def jobs_run(session: Session, actor: Actor, limit: int = 100) -> dict[str, int]:
    """Run due jobs in this session (tests, demo, benchmark); the CLI worker commits per job instead."""
    out = {"run": 0, "done": 0, "retrying": 0, "failed": 0}
    for job_id in jobs_due(session, limit):
        try:
            job = job_execute(session, actor, job_id)
        except NotFound:
            continue
        out["run"] += 1
        out[{"done": "done", "pending": "retrying", "failed": "failed"}.get(job.status, "retrying")] += 1
    return out


def _provider_of(session: Session, account_id: uuid.UUID) -> CloudProvider:
    return provider_for(session, _get(session, ProviderAccount, account_id, "Provider account"))


def _image_for(account: ProviderAccount) -> str:
    return str((account.config or {}).get("image") or "img-kylin-v10")


def _run_provision(session: Session, actor: Actor, job: Job) -> None:
    req = _get(session, ResourceRequest, job.request_id, "Request")
    resources = list(session.scalars(select(Resource).where(Resource.request_id == req.id)
                                     .order_by(Resource.name)))
    providers: dict[uuid.UUID, CloudProvider] = {}
    for res in resources:
        if res.status != ResourceStatus.PROVISIONING:
            continue
        prov = providers.get(res.account_id) or _provider_of(session, res.account_id)
        providers[res.account_id] = prov
        account = _get(session, ProviderAccount, res.account_id, "Provider account")
        if res.kind == "node":
            # Idempotent: a node created by an attempt that died before recording it is adopted by its name.
            existing = next((n for n in prov.nodes() if n.name == res.name), None)
            node = existing if existing is not None else prov.node_create(res.name, res.size_id, _image_for(account))
            res.external_id = node.external_id
        else:
            if not any(b.name == res.name for b in prov.buckets()):
                prov.bucket_create(res.name)
            res.external_id = res.name
        res.status = ResourceStatus.ACTIVE
        res.active_since = clock.now()
        session.flush()
    check_transition("request", REQUEST_FLOW, RequestStatus(req.status), RequestStatus.ACTIVE)
    req.status = RequestStatus.ACTIVE
    core.audit_record(session, actor, "request_provisioned", target_type="cloud_request", target_id=req.id,
                      org_id=req.org_id, extra={"resources": [r.name for r in resources]})


def _job_give_up(session: Session, actor: Actor, job: Job) -> None:
    """After the last attempt: clean up at the provider, keep every row tracked (status error), free the pool."""
    req = session.get(ResourceRequest, job.request_id) if job.request_id else None
    if req is None or job.kind != "provision":
        if req is not None and req.status == RequestStatus.RESIZING:
            req.status = RequestStatus.ACTIVE  # resize failed: the old size keeps running
        return
    item = session.get(CatalogItem, req.item_id)
    for res in session.scalars(select(Resource).where(Resource.request_id == req.id,
                                                      Resource.status == ResourceStatus.PROVISIONING)):
        try:
            prov = _provider_of(session, res.account_id)
            for n in prov.nodes() if res.kind == "node" else []:
                if n.name == res.name:
                    prov.node_destroy(n.external_id)
        except (ProviderError, ServiceUnavailable) as exc:  # the reconciler will flag what remains
            log.warning("cleanup of %s failed: %s", res.name, exc)
        res.status = ResourceStatus.ERROR
    if req.pool_id and item is not None:
        pool = session.get(Pool, req.pool_id)
        if pool is not None:
            _allocate(pool, _demand(item, req.quantity, req), -1)
    req.status = RequestStatus.FAILED
    core.audit_record(session, actor, "request_fail", target_type="cloud_request", target_id=req.id,
                      org_id=req.org_id, extra={"error": job.last_error})


def _run_resize(session: Session, actor: Actor, job: Job) -> None:
    req = _get(session, ResourceRequest, job.request_id, "Request")
    new = _get(session, CatalogItem, uuid.UUID(job.params["to"]), "Catalog item")
    for res in session.scalars(select(Resource).where(Resource.request_id == req.id,
                                                      Resource.status == ResourceStatus.ACTIVE)):
        if res.size_id == new.size_id:
            continue  # already done by an earlier attempt
        prov = _provider_of(session, res.account_id)
        resize = getattr(prov, "node_resize", None)
        if resize is None:
            raise ProviderError(f"{prov.kind} cannot resize nodes")
        resize(res.external_id, new.size_id)
        res.size_id, res.vcpus, res.ram_mb, res.disk_gb = new.size_id, new.vcpus, new.ram_mb, new.disk_gb
        res.monthly_price = new.monthly_price
        session.flush()
    req.status = RequestStatus.ACTIVE


def _run_reclaim(session: Session, actor: Actor, job: Job) -> None:
    req = _get(session, ResourceRequest, job.request_id, "Request")
    item = session.get(CatalogItem, req.item_id)
    for res in session.scalars(select(Resource).where(Resource.request_id == req.id,
                                                      Resource.status.in_(HOLDING))):
        prov = _provider_of(session, res.account_id)
        if res.external_id:
            if res.kind == "node":
                if not res.last_backup:  # final backup first, then access revoked (stopped), then destroyed
                    res.last_backup = f"final-backup:{res.name}:{clock.now():%Y%m%dT%H%M}"
                    session.flush()
                if any(n.external_id == res.external_id for n in prov.nodes()):
                    prov.node_stop(res.external_id)
                    prov.node_destroy(res.external_id)
            else:
                prov.bucket_delete(res.name)
        res.status = ResourceStatus.RECLAIMED
        res.reclaimed_at = clock.now()
        session.flush()
    if req.pool_id and item is not None:
        pool = session.get(Pool, req.pool_id)
        if pool is not None:
            _allocate(pool, _demand(item, req.quantity, req), -1)
    req.status = RequestStatus.RECLAIMED
    core.audit_record(session, actor, "request_reclaimed", target_type="cloud_request", target_id=req.id,
                      org_id=req.org_id)


_JOB_KINDS = {"provision": _run_provision, "resize": _run_resize, "reclaim": _run_reclaim}


# ---------------------------------------------------------------- reconciler


def reconcile(session: Session, actor: Actor, account_id: uuid.UUID) -> list[Finding]:
    """Compare what the provider reports with what cityhub believes; replace the account's open findings."""
    policies.platform_manage(actor)
    account = _get(session, ProviderAccount, account_id, "Provider account")
    prov = provider_for(session, account)
    try:
        reported = {n.external_id: n for n in prov.nodes()}
    except ProviderError as exc:
        log.warning("provider account %s did not answer: %s", account.name, exc)
        raise ServiceUnavailable(_("The provider did not answer; the reason is in the log")) from exc
    ours = list(session.scalars(select(Resource).where(Resource.account_id == account.id, Resource.kind == "node",
                                                       Resource.status.in_(HOLDING))))
    known = {r.external_id for r in ours if r.external_id}
    now = clock.now()
    for f in session.scalars(select(Finding).where(Finding.account_id == account.id, Finding.open)):
        f.open = False
    found: list[Finding] = []
    for ext, node in reported.items():
        if ext not in known:
            found.append(Finding(account_id=account.id, kind="orphan", external_id=ext, found_at=now,
                                 detail=f"node {node.name} ({node.state}) is not known to cityhub"))
    for res in ours:
        if not res.external_id:
            continue
        rep = reported.get(res.external_id)
        if rep is None:
            found.append(Finding(account_id=account.id, resource_id=res.id, kind="missing",
                                 external_id=res.external_id, found_at=now,
                                 detail=f"{res.name} is {res.status} in cityhub but absent at the provider"))
        elif (res.status == ResourceStatus.ACTIVE) != (rep.state == "running"):
            found.append(Finding(account_id=account.id, resource_id=res.id, kind="drift",
                                 external_id=res.external_id, found_at=now,
                                 detail=f"{res.name}: cityhub {res.status}, provider {rep.state}"))
    session.add_all(found)
    account.last_reconciled_at = now
    session.flush()
    core.audit_record(session, actor, "provider_reconcile", target_type="cloud_provider", target_id=account.id,
                      extra={"findings": len(found)})
    return found


def finding_list(session: Session, actor: Actor, account_id: uuid.UUID | None = None,
                 open_only: bool = True) -> list[Finding]:
    """Reconciler findings."""
    policies.provider_read_detail(actor)
    stmt = select(Finding).order_by(Finding.found_at.desc(), Finding.kind).limit(1000)
    if account_id:
        stmt = stmt.where(Finding.account_id == account_id)
    if open_only:
        stmt = stmt.where(Finding.open)
    return list(session.scalars(stmt))


# ---------------------------------------------------------------- metering, chargeback, idle rule


def usage_collect(session: Session, actor: Actor, day: date) -> int:
    """Collect one day's utilisation of every active node (idempotent: a day is stored once per node)."""
    policies.platform_manage(actor)
    done = set(session.scalars(select(UsageDay.resource_id).where(UsageDay.day == day)))
    providers: dict[uuid.UUID, CloudProvider] = {}
    n = 0
    for res in session.scalars(select(Resource).where(Resource.kind == "node",
                                                      Resource.status == ResourceStatus.ACTIVE)):
        if res.id in done or (res.active_since and res.active_since.date() > day):
            continue
        prov = providers.get(res.account_id) or _provider_of(session, res.account_id)
        providers[res.account_id] = prov
        try:
            hourly = prov.utilisation(res.external_id, day)
        except ProviderError as exc:
            log.warning("utilisation of %s failed: %s", res.name, exc)
            continue
        if not hourly:
            continue
        session.add(UsageDay(resource_id=res.id, org_id=res.org_id, day=day,
                             cpu_avg=round(statistics.fmean(hourly), 2), cpu_peak=max(hourly)))
        n += 1
    session.flush()
    return n


def usage_series(session: Session, actor: Actor, org_id: uuid.UUID | None, days: int = 30
                 ) -> list[tuple[date, float]]:
    """Daily mean CPU % of a unit (or everything the actor sees)."""
    since = clock.now().date() - timedelta(days=days)
    stmt = (select(UsageDay.day, func.avg(UsageDay.cpu_avg)).where(UsageDay.day >= since)
            .where(_visible_filter(actor, UsageDay.org_id)).group_by(UsageDay.day).order_by(UsageDay.day))
    if org_id:
        stmt = stmt.where(UsageDay.org_id == org_id)
    return [(d, round(float(v), 2)) for d, v in session.execute(stmt).all()]


def _month_bounds(month: str) -> tuple[datetime, datetime, int]:
    try:
        year, mon = (int(x) for x in month.split("-"))
        start = datetime(year, mon, 1, tzinfo=clock.now().tzinfo)
    except ValueError as exc:
        raise ValidationFailed(_("month must look like 2026-11"), field="month") from exc
    days = calendar.monthrange(year, mon)[1]
    return start, start + timedelta(days=days), days


def chargeback(session: Session, actor: Actor, month: str) -> list[Chargeback]:
    """Each visible department's bill for `month`: monthly prices prorated by the days each resource was held."""
    start, end, days = _month_bounds(month)
    stmt = (select(Resource).where(Resource.active_since.is_not(None), Resource.active_since < end,
                                   or_(Resource.reclaimed_at.is_(None), Resource.reclaimed_at >= start))
            .where(_visible_filter(actor, Resource.org_id)))
    bills: dict[uuid.UUID, list[float]] = {}
    for res in session.scalars(stmt):
        assert res.active_since is not None
        held_from = max(res.active_since, start)
        held_to = min(res.reclaimed_at or end, end)
        share = max(0.0, (held_to - held_from).total_seconds() / 86400) / days
        bills.setdefault(res.org_id, []).append(res.monthly_price * share)
    names = {o.id: o.name for o in core.organization_all(session)}
    return sorted((Chargeback(org_id=oid, org_name=names.get(oid, ""), month=month, resources=len(v),
                              amount=round(sum(v), 2)) for oid, v in bills.items()),
                  key=lambda c: -c.amount)


def _add_month(at: datetime) -> datetime:
    year, mon = (at.year + 1, 1) if at.month == 12 else (at.year, at.month + 1)
    return at.replace(year=year, month=mon, day=min(at.day, calendar.monthrange(year, mon)[1]))


def tenancy_idle(session: Session, tenancy_id: uuid.UUID) -> tuple[float, list[Resource]]:
    """Idle share of a tenancy's active vCPUs over the last 30 days, and the idle nodes."""
    since = clock.now().date() - timedelta(days=IDLE_WINDOW_DAYS)
    rows = session.execute(
        select(Resource, func.avg(UsageDay.cpu_avg))
        .join(UsageDay, UsageDay.resource_id == Resource.id, isouter=True)
        .where(Resource.tenancy_id == tenancy_id, Resource.kind == "node", Resource.status == ResourceStatus.ACTIVE,
               or_(UsageDay.day.is_(None), UsageDay.day >= since))
        .group_by(Resource.id)).all()
    total = sum(r.vcpus for r, _avg in rows)
    idle = [r for r, avg in rows if avg is not None and float(avg) < IDLE_CPU_PERCENT]
    return (sum(r.vcpus for r in idle) / total if total else 0.0), idle


def idle_check(session: Session, actor: Actor) -> dict[str, int]:
    """The idle rule of the management rules, idempotent per run.

    Remind → one month later escalate to the bureau → 5 working days later propose a forced reduction;
    resolved when the tenancy is back under the allowed redundancy.
    """
    policies.platform_manage(actor)
    now = clock.now()
    out = {"reminded": 0, "escalated": 0, "proposed": 0, "resolved": 0}
    for t in session.scalars(select(Tenancy)):
        ratio, idle = tenancy_idle(session, t.id)
        case = session.scalar(select(IdleCase).where(IdleCase.tenancy_id == t.id,
                                                     IdleCase.status != IdleStatus.RESOLVED))
        over = ratio > ALLOWED_REDUNDANCY
        if case is None:
            if over:
                case = IdleCase(tenancy_id=t.id, org_id=t.org_id, status=IdleStatus.REMINDED, idle_ratio=ratio,
                                reminded_at=now)
                session.add(case)
                session.flush()
                out["reminded"] += 1
                core.audit_record(session, actor, "idle_case_remind", target_type="cloud_idle_case",
                                  target_id=case.id, org_id=t.org_id, extra={"idle_ratio": round(ratio, 3)})
            continue
        case.idle_ratio = ratio
        status = IdleStatus(case.status)
        target: IdleStatus | None = None
        if not over:
            target = IdleStatus.RESOLVED
            case.resolved_at = now
        elif status == IdleStatus.REMINDED and now >= _add_month(case.reminded_at):
            target = IdleStatus.ESCALATED
            case.escalated_at = now
        elif status == IdleStatus.ESCALATED and case.escalated_at is not None and \
                now >= core.working_days_add(session, case.escalated_at, ESCALATE_WORKING_DAYS):
            target = IdleStatus.REDUCTION_PROPOSED
            case.proposed_at = now
            case.proposal = {"reclaim": [{"resource_id": str(r.id), "name": r.name, "vcpus": r.vcpus}
                                         for r in idle]}
        if target is None:
            continue
        check_transition("idle case", IDLE_FLOW, status, target)
        case.status = target
        out[{"resolved": "resolved", "escalated": "escalated", "reduction_proposed": "proposed"}[target]] += 1
        session.flush()
        verb = {"resolved": "resolve", "escalated": "escalate", "reduction_proposed": "propose"}[target]
        core.audit_record(session, actor, f"idle_case_{verb}",
                          target_type="cloud_idle_case", target_id=case.id, org_id=t.org_id,
                          extra={"idle_ratio": round(ratio, 3)})
    return out


def idle_case_list(session: Session, actor: Actor, open_only: bool = False) -> list[IdleCase]:
    """Idle cases the actor may see."""
    stmt = select(IdleCase).where(_visible_filter(actor, IdleCase.org_id)).order_by(IdleCase.reminded_at.desc())
    if open_only:
        stmt = stmt.where(IdleCase.status != IdleStatus.RESOLVED)
    return list(session.scalars(stmt))


# ---------------------------------------------------------------- information systems and migration


_SYS_FIELDS = ("name", "classified", "security_level", "hosting", "strategy", "readiness", "wave", "status",
               "integrated", "merged_into_id", "dr_required", "dr_actual", "dr_roles", "tenancy_id")


def system_get(session: Session, actor: Actor, system_id: uuid.UUID) -> InfoSystem:
    """One system the actor may see."""
    s = session.get(InfoSystem, system_id)
    if s is None or not policies.org_visible(actor, s.org_id):
        raise NotFound(_("System not found"), details={"id": str(system_id)})
    return s


def _system_query(actor: Actor, org_id: uuid.UUID | None, status: str | None, q: str | None) -> Select[Any]:
    stmt = select(InfoSystem).where(_visible_filter(actor, InfoSystem.org_id)).order_by(InfoSystem.wave,
                                                                                      InfoSystem.name)
    if org_id:
        stmt = stmt.where(InfoSystem.org_id == org_id)
    if status:
        stmt = stmt.where(InfoSystem.status == status)
    if q:
        stmt = stmt.where(InfoSystem.name.like(f"%{q}%"))
    return stmt


def system_list(session: Session, actor: Actor, page: PageParams, *, org_id: uuid.UUID | None = None,
                status: str | None = None, q: str | None = None) -> tuple[list[InfoSystem], int]:
    """Systems the actor may see."""
    return paginate(session, _system_query(actor, org_id, status, q), page)


def _check_merge(session: Session, s_org: uuid.UUID, merged_into: uuid.UUID | None, self_id: uuid.UUID | None
                 ) -> None:
    if merged_into is None:
        return
    target = session.get(InfoSystem, merged_into)
    if target is None or target.org_id != s_org or merged_into == self_id:
        raise ValidationFailed(_("merged_into_id must be another system of the same department"),
                               field="merged_into_id")


def system_create(session: Session, actor: Actor, data: SystemCreate) -> InfoSystem:
    """Add a system to a department's inventory."""
    policies.system_write(actor, data.org_id)
    if not any(o.id == data.org_id for o in core.organization_all(session)):
        raise ValidationFailed(_("Organisation not found"), field="org_id")
    if session.get(InfoSystem, data.merged_into_id or uuid.uuid4()) is None and data.merged_into_id:
        raise ValidationFailed(_("merged_into_id not found"), field="merged_into_id")
    _check_merge(session, data.org_id, data.merged_into_id, None)
    values = data.model_dump()
    values["dr_roles"] = [r.value for r in data.dr_roles]
    values["hosting"] = data.hosting.value
    values["strategy"] = data.strategy.value
    s = InfoSystem(**values)
    t = tenancy_for_org(session, data.org_id)
    if s.hosting == "cloud" and t is not None:
        s.tenancy_id = t.id
    session.add(s)
    session.flush()
    core.audit_record(session, actor, "system_create", target_type="cloud_system", target_id=s.id, org_id=s.org_id,
                      after=_fields(s, *_SYS_FIELDS))
    return s


def system_update(session: Session, actor: Actor, system_id: uuid.UUID, data: SystemUpdate) -> InfoSystem:
    """Change a system's inventory, strategy or DR record."""
    s = system_get(session, actor, system_id)
    policies.system_write(actor, s.org_id)
    changes = data.model_dump(exclude_unset=True)
    if "merged_into_id" in changes:
        _check_merge(session, s.org_id, changes["merged_into_id"], s.id)
    for key in ("classified", "security_level", "hosting", "strategy", "readiness", "wave", "integrated",
                "dr_required", "dr_actual", "dr_roles", "name"):
        if key in changes and changes[key] is None:
            raise ValidationFailed(_("This field cannot be null"), field=key)
    before = _fields(s, *_SYS_FIELDS)
    for k, v in changes.items():
        if k == "dr_roles":
            v = [str(r) for r in v]
        elif k in ("hosting", "strategy"):
            v = str(v)
        setattr(s, k, v)
    if s.hosting == "cloud" and s.tenancy_id is None:
        t = tenancy_for_org(session, s.org_id)
        s.tenancy_id = t.id if t else None
    session.flush()
    core.audit_record(session, actor, "system_update", target_type="cloud_system", target_id=s.id, org_id=s.org_id,
                      before=before, after=_fields(s, *_SYS_FIELDS))
    return s


def system_transition(session: Session, actor: Actor, system_id: uuid.UUID, status: str) -> InfoSystem:
    """Move a system along assessing → planned → migrating → verifying → done (done on cloud sets hosting)."""
    s = system_get(session, actor, system_id)
    policies.system_write(actor, s.org_id)
    before = _fields(s, *_SYS_FIELDS)
    check_transition("system", SYSTEM_FLOW, SystemStatus(s.status), SystemStatus(status))
    s.status = status
    if status == SystemStatus.DONE and s.strategy not in ("retain", "retire"):
        s.hosting = "cloud"
        t = tenancy_for_org(session, s.org_id)
        s.tenancy_id = t.id if t else s.tenancy_id
    session.flush()
    core.audit_record(session, actor, "system_transition", target_type="cloud_system", target_id=s.id,
                      org_id=s.org_id, before=before, after=_fields(s, *_SYS_FIELDS))
    return s


def _ratio_rows(session: Session, org_ids: Iterable[uuid.UUID] | None) -> dict[uuid.UUID, tuple[int, int, int]]:
    stmt = (select(InfoSystem.org_id, func.count(),
                   func.count().filter(InfoSystem.hosting == "cloud"),
                   func.count().filter(or_(InfoSystem.integrated, InfoSystem.merged_into_id.is_not(None))))
            .where(InfoSystem.classified.is_(False)).group_by(InfoSystem.org_id))
    if org_ids is not None:
        stmt = stmt.where(InfoSystem.org_id.in_(list(org_ids)))
    return {oid: (int(n), int(c), int(i)) for oid, n, c, i in session.execute(stmt).all()}


def _ratios(org_id: uuid.UUID | None, name: str, n: int, c: int, i: int, year: int) -> Ratios:
    return Ratios(org_id=org_id, org_name=name, systems=n, on_cloud=c, integrated=i,
                  on_cloud_ratio=round(c / n, 4) if n else 0.0, integration_ratio=round(i / n, 4) if n else 0.0,
                  on_cloud_target=target_for("on_cloud", year), integration_target=target_for("integration", year))


def ratios(session: Session, actor: Actor, year: int | None = None) -> tuple[Ratios | None, list[Ratios]]:
    """上云率/整合率 per visible department (classified systems excluded) and, for the bureau, the whole city."""
    year = year or clock.now().year
    everything = policies.sees_every_unit(actor)
    rows = _ratio_rows(session, None if everything else orgs_with(actor, P.CLOUD_READ))
    names = {o.id: o.name for o in core.organization_all(session)}
    units = sorted((_ratios(oid, names.get(oid, ""), *v, year) for oid, v in rows.items()),
                   key=lambda r: (-r.on_cloud_ratio, r.org_name))
    city = None
    if everything:
        tot = [sum(v[k] for v in rows.values()) for k in range(3)]
        city = _ratios(None, _("City"), tot[0], tot[1], tot[2], year)
    return city, units


def ratio_snapshot_take(session: Session, actor: Actor, day: date | None = None) -> int:
    """Store today's ratios per department and for the city (idempotent: a day is replaced)."""
    policies.platform_manage(actor)
    day = day or clock.now().date()
    city, units = ratios(session, actor, day.year)
    for r in [*units, *([city] if city else [])]:
        snap = session.scalar(select(RatioSnapshot).where(
            RatioSnapshot.day == day,
            RatioSnapshot.org_id.is_(None) if r.org_id is None else RatioSnapshot.org_id == r.org_id))
        if snap is None:
            snap = RatioSnapshot(org_id=r.org_id, day=day)
            session.add(snap)
        snap.systems, snap.on_cloud, snap.integrated = r.systems, r.on_cloud, r.integrated
        snap.on_cloud_ratio, snap.integration_ratio = r.on_cloud_ratio, r.integration_ratio
    session.flush()
    core.audit_record(session, actor, "ratio_snapshot_take", target_type="cloud_ratio_snapshot",
                      target_id=day.isoformat(), extra={"units": len(units)})
    return len(units) + (1 if city else 0)


def ratio_history(session: Session, actor: Actor, org_id: uuid.UUID | None) -> list[RatioSnapshot]:
    """History of one unit's ratios (org_id None: the city, for those who see it)."""
    cond: Any
    if org_id is None:
        policies.ranking_read(actor)
        cond = RatioSnapshot.org_id.is_(None)
    else:
        if not policies.org_visible(actor, org_id):
            raise NotFound(_("Organisation not found"))
        cond = RatioSnapshot.org_id == org_id
    return list(session.scalars(select(RatioSnapshot).where(cond).order_by(RatioSnapshot.day).limit(3660)))


# ---------------------------------------------------------------- disaster recovery


def drill_record(session: Session, actor: Actor, system_id: uuid.UUID, data: DrillCreate) -> DrDrill:
    """Record a DR drill; a successful drill sets the system's actual level to what it demonstrated."""
    s = system_get(session, actor, system_id)
    policies.system_write(actor, s.org_id)
    achieved = level_for(data.rpo_minutes, data.rto_minutes) if data.success else 1
    drill = DrDrill(system_id=s.id, org_id=s.org_id, at=data.at or clock.now(), scenario=data.scenario,
                    success=data.success, rpo_minutes=data.rpo_minutes, rto_minutes=data.rto_minutes,
                    level_achieved=achieved)
    session.add(drill)
    before = {"dr_actual": s.dr_actual}
    if data.success:
        s.dr_actual = achieved
    session.flush()
    core.audit_record(session, actor, "drill_record", target_type="cloud_system", target_id=s.id, org_id=s.org_id,
                      before=before, after={"dr_actual": s.dr_actual},
                      extra={"rpo": data.rpo_minutes, "rto": data.rto_minutes, "success": data.success})
    return drill


def drill_list(session: Session, actor: Actor, system_id: uuid.UUID) -> list[DrDrill]:
    """Drills of a system."""
    s = system_get(session, actor, system_id)
    return list(session.scalars(select(DrDrill).where(DrDrill.system_id == s.id).order_by(DrDrill.at.desc())))


def dr_gaps(session: Session, actor: Actor, org_id: uuid.UUID | None = None) -> list[DrGap]:
    """Systems below their required GB/T 20988 level."""
    stmt = (select(InfoSystem).where(_visible_filter(actor, InfoSystem.org_id),
                                     InfoSystem.dr_actual < InfoSystem.dr_required)
            .order_by((InfoSystem.dr_required - InfoSystem.dr_actual).desc(), InfoSystem.name).limit(2000))
    if org_id:
        stmt = stmt.where(InfoSystem.org_id == org_id)
    return [DrGap(system_id=s.id, org_id=s.org_id, name=s.name, required=s.dr_required, actual=s.dr_actual,
                  roles=list(s.dr_roles or [])) for s in session.scalars(stmt)]


def dr_matrix(session: Session, actor: Actor) -> list[list[int]]:
    """Counts of visible systems by [required-1][actual-1] level."""
    m = [[0] * 6 for _ in range(6)]
    stmt = (select(InfoSystem.dr_required, InfoSystem.dr_actual, func.count())
            .where(_visible_filter(actor, InfoSystem.org_id))
            .group_by(InfoSystem.dr_required, InfoSystem.dr_actual))
    for req, act, n in session.execute(stmt).all():
        m[dr_level(req).level - 1][dr_level(act).level - 1] = int(n)
    return m


# ---------------------------------------------------------------- 云长 scorecards


def _scorecard(session: Session, org_id: uuid.UUID, name: str, head: str, r: Ratios) -> Scorecard:
    since = clock.now().date() - timedelta(days=IDLE_WINDOW_DAYS)
    util = session.scalar(select(func.avg(UsageDay.cpu_avg)).where(UsageDay.org_id == org_id,
                                                                   UsageDay.day >= since))
    t = tenancy_for_org(session, org_id)
    quota_usage: dict[str, float] = {}
    if t is not None:
        usage = tenancy_usage(session, t.id)
        quota = _quota(t)
        quota_usage = {k: round(usage[k] / quota[k], 3) if quota[k] else 0.0 for k in QUOTA_KEYS}
    case = session.scalar(select(IdleCase).where(IdleCase.org_id == org_id, IdleCase.status != IdleStatus.RESOLVED))
    gaps = session.scalar(select(func.count()).where(InfoSystem.org_id == org_id,
                                                     InfoSystem.dr_actual < InfoSystem.dr_required)) or 0
    open_req = session.scalar(select(func.count()).where(ResourceRequest.org_id == org_id,
                                                         ResourceRequest.status.in_(OPEN_REQUEST))) or 0
    cost = session.scalar(select(func.coalesce(func.sum(Resource.monthly_price), 0))
                          .where(Resource.org_id == org_id, Resource.status == ResourceStatus.ACTIVE)) or 0
    all_systems = session.scalar(select(func.count()).where(InfoSystem.org_id == org_id)) or 0
    # Score out of 100: ratios against targets weigh most, then DR coverage, then no open idle case.
    score = (40 * min(1.0, r.on_cloud_ratio / r.on_cloud_target if r.on_cloud_target else 1.0)
             + 30 * min(1.0, r.integration_ratio / r.integration_target if r.integration_target else 1.0)
             + 20 * (1 - gaps / all_systems if all_systems else 1.0)
             + 10 * (0.0 if case is not None else 1.0))
    return Scorecard(org_id=org_id, org_name=name, head=head, ratios=r,
                     utilisation=round(float(util), 2) if util is not None else None, quota_usage=quota_usage,
                     idle_status=case.status if case else None, idle_ratio=round(case.idle_ratio, 3) if case else None,
                     dr_gaps=int(gaps), open_requests=int(open_req), monthly_cost=round(float(cost), 2),
                     score=round(score, 1))


def scorecard(session: Session, actor: Actor, org_id: uuid.UUID) -> Scorecard:
    """The 云长 scorecard of one unit (its staff and the bureau see it)."""
    if not (policies.org_visible(actor, org_id) or _is_head(session, actor, org_id)):
        raise NotFound(_("Organisation not found"), details={"id": str(org_id)})
    org = core.organization_get(session, actor, org_id)
    head = core.organization_head(session, org_id)
    n, c, i = _ratio_rows(session, [org_id]).get(org_id, (0, 0, 0))
    return _scorecard(session, org_id, org.name, head.display_name if head else "",
                      _ratios(org_id, org.name, n, c, i, clock.now().year))


def ranking(session: Session, actor: Actor) -> list[Scorecard]:
    """Every unit with systems or a tenancy, ranked by score (the bureau's view)."""
    policies.ranking_read(actor)
    rows = _ratio_rows(session, None)
    orgs = {o.id: o for o in core.organization_all(session)}
    ids = set(rows) | set(session.scalars(select(Tenancy.org_id)))
    heads = {o.id: core.organization_head(session, o.id) for o in orgs.values() if o.id in ids}
    year = clock.now().year
    cards = [_scorecard(session, oid, orgs[oid].name, (heads.get(oid).display_name if heads.get(oid) else ""),  # type: ignore[union-attr]
                        _ratios(oid, orgs[oid].name, *rows.get(oid, (0, 0, 0)), year))
             for oid in ids if oid in orgs]
    cards.sort(key=lambda c: (-c.score, c.org_name))
    for i, card in enumerate(cards, 1):
        card.rank = i
    return cards


def my_units(session: Session, actor: Actor) -> list[tuple[uuid.UUID, str]]:
    """Units whose scorecard the actor sees as their own (headed or administered)."""
    orgs = core.organization_all(session)
    mine = set(actor.staff_orgs) | {o.id for o in orgs
                                                                           if o.head_user_id == actor.user_id}
    return [(o.id, o.name) for o in orgs if o.id in mine and (
        o.id in _ratio_rows(session, [o.id]) or tenancy_for_org(session, o.id) is not None)]


# ---------------------------------------------------------------- counts for dashboards


def overview(session: Session, actor: Actor) -> dict[str, Any]:
    """Headline numbers for the cloud home page."""
    policies.platform_read(actor)
    pools = pool_list(session, actor)
    return {
        "providers": session.scalar(select(func.count()).select_from(ProviderAccount)) or 0,
        "pools": len(pools),
        "vcpus_total": sum(p.vcpus_total for p in pools),
        "vcpus_used": sum(p.vcpus_used for p in pools),
        "tenancies": session.scalar(select(func.count()).select_from(Tenancy)) or 0,
        "nodes": session.scalar(select(func.count()).where(Resource.kind == "node",
                                                           Resource.status == ResourceStatus.ACTIVE)) or 0,
    }


def pools_by_provider(session: Session, actor: Actor) -> list[dict[str, Any]]:
    """Capacity and allocation per provider account (for charts)."""
    policies.platform_read(actor)
    stmt = (select(ProviderAccount.name, func.sum(Pool.vcpus_total), func.sum(Pool.vcpus_used),
                   func.sum(Pool.ram_mb_total), func.sum(Pool.ram_mb_used))
            .join(Region, Region.account_id == ProviderAccount.id).join(Pool, Pool.region_id == Region.id)
            .group_by(ProviderAccount.name).order_by(ProviderAccount.name))
    return [{"provider": n, "vcpus_total": int(a or 0), "vcpus_used": int(b or 0), "ram_mb_total": int(c or 0),
             "ram_mb_used": int(d or 0)} for n, a, b, c, d in session.execute(stmt).all()]


def pool_ids_sorted(session: Session) -> Sequence[uuid.UUID]:
    """Pool ids in name order (benchmark helper)."""
    return list(session.scalars(select(Pool.id).order_by(Pool.name)))
