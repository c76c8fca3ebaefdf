"""Pydantic models of the cloud domain: inputs (extra fields forbidden) and read models."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, field_validator

from cityhub.cloud.models import IdleStatus as IdleStatus
from cityhub.cloud.models import JobStatus as JobStatus
from cityhub.cloud.models import RequestStatus as RequestStatus
from cityhub.cloud.models import ResourceStatus as ResourceStatus
from cityhub.cloud.models import SystemStatus as SystemStatus
from cityhub.kit import labels
from cityhub.kit.schemas import INT32_MAX, InputModel, ReadModel, Timestamped


class ProviderKind(StrEnum):
    """Provider adapters."""

    DUMMY = "dummy"
    EC2 = "ec2"
    OPENSTACK = "openstack"
    ALIYUN = "aliyun"


class Strategy(StrEnum):
    """Migration strategies (the 6 Rs)."""

    REHOST = "rehost"
    REPLATFORM = "replatform"
    REFACTOR = "refactor"
    REPURCHASE = "repurchase"
    RETIRE = "retire"
    RETAIN = "retain"


class Hosting(StrEnum):
    """Where a system runs."""

    OWN_ROOM = "own_room"
    CLOUD = "cloud"


class DrRole(StrEnum):
    """Topology roles of 两地三中心."""

    PRIMARY = "primary"
    SAME_CITY_BACKUP = "same_city_backup"
    SAME_CITY_ACTIVE = "same_city_active"
    REMOTE_DR = "remote_dr"


labels.register(RequestStatus, {
    RequestStatus.SUBMITTED: "Waiting for the department head", RequestStatus.PENDING_BUREAU: "Waiting for the bureau",
    RequestStatus.APPROVED: "Approved, queued", RequestStatus.PROVISIONING: "Being provisioned",
    RequestStatus.ACTIVE: "Delivered, in use", RequestStatus.RESIZING: "Being resized",
    RequestStatus.RECLAIMING: "Being reclaimed", RequestStatus.RECLAIMED: "Reclaimed",
    RequestStatus.REJECTED: "Request rejected", RequestStatus.FAILED: "Provisioning failed"})
labels.register(ResourceStatus, {
    ResourceStatus.PROVISIONING: "Being provisioned", ResourceStatus.ACTIVE: "Running",
    ResourceStatus.STOPPED: "Stopped", ResourceStatus.ERROR: "Faulty", ResourceStatus.RECLAIMED: "Reclaimed"})
labels.register(JobStatus, {JobStatus.PENDING: "Queued", JobStatus.RUNNING: "Running", JobStatus.DONE: "Finished",
                            JobStatus.FAILED: "Job failed"})
labels.register(IdleStatus, {
    IdleStatus.REMINDED: "Owner reminded", IdleStatus.ESCALATED: "Escalated to the bureau",
    IdleStatus.REDUCTION_PROPOSED: "Forced reduction proposed", IdleStatus.RESOLVED: "Idle warning lifted"})
labels.register(SystemStatus, {
    SystemStatus.ASSESSING: "Assessing", SystemStatus.PLANNED: "Migration planned",
    SystemStatus.MIGRATING: "Migrating", SystemStatus.VERIFYING: "Verifying", SystemStatus.DONE: "Migrated"})
labels.register(ProviderKind, {ProviderKind.DUMMY: "Local simulator", ProviderKind.EC2: "EC2-compatible",
                               ProviderKind.OPENSTACK: "OpenStack", ProviderKind.ALIYUN: "Alibaba Cloud ECS"})
labels.register(Strategy, {
    Strategy.REHOST: "Rehost", Strategy.REPLATFORM: "Replatform", Strategy.REFACTOR: "Refactor",
    Strategy.REPURCHASE: "Repurchase", Strategy.RETIRE: "Retire the system", Strategy.RETAIN: "Retain as is"})
labels.register(Hosting, {Hosting.OWN_ROOM: "Own machine room", Hosting.CLOUD: "Government cloud"})
labels.register(DrRole, {DrRole.PRIMARY: "Primary centre", DrRole.SAME_CITY_BACKUP: "Same-city backup",
                         DrRole.SAME_CITY_ACTIVE: "Same-city active-active", DrRole.REMOTE_DR: "Remote DR centre"})
ITEM_KIND = "cloud.item_kind"
labels.register(ITEM_KIND, {"compute": "Compute", "storage": "Storage", "database": "Database"})
PLACEMENT = "cloud.placement"
labels.register(PLACEMENT, {"spread": "Spread across pools", "pack": "Pack into few pools"})
QUOTA = "cloud.quota"
labels.register(QUOTA, {"instances": "Instances", "vcpus": "vCPUs", "ram_mb": "RAM", "disk_gb": "Disk",
                        "buckets": "Buckets", "storage_gb": "Object storage"})

_NAME = Field(min_length=1, max_length=100)


class ProviderAccountCreate(InputModel):
    """A new provider account; credentials are write-only."""

    name: str = _NAME
    kind: ProviderKind
    config: dict[str, Any] = Field(default_factory=dict)
    credentials: dict[str, str] = Field(default_factory=dict)


class ProviderAccount(Timestamped):
    """A provider account (credentials are never returned)."""

    name: str
    kind: str
    config: dict[str, Any]
    enabled: bool
    has_credentials: bool = False
    last_reconciled_at: datetime | None


class RegionCreate(InputModel):
    """A region of an account."""

    account_id: uuid.UUID
    code: str = Field(min_length=1, max_length=40)
    name: str = _NAME


class Region(Timestamped):
    """A region."""

    account_id: uuid.UUID
    code: str
    name: str


class PoolCreate(InputModel):
    """A resource pool with capacity."""

    region_id: uuid.UUID
    name: str = _NAME
    security_level: int = Field(2, ge=1, le=4)
    price_factor: float = Field(1.0, gt=0, le=100)
    vcpus_total: int = Field(0, ge=0, le=INT32_MAX)
    ram_mb_total: int = Field(0, ge=0, le=INT32_MAX)
    disk_gb_total: int = Field(0, ge=0, le=INT32_MAX)
    storage_gb_total: int = Field(0, ge=0, le=INT32_MAX)


class PoolUpdate(InputModel):
    """Capacity and attributes (all optional)."""

    security_level: int | None = Field(None, ge=1, le=4)
    price_factor: float | None = Field(None, gt=0, le=100)
    vcpus_total: int | None = Field(None, ge=0, le=INT32_MAX)
    ram_mb_total: int | None = Field(None, ge=0, le=INT32_MAX)
    disk_gb_total: int | None = Field(None, ge=0, le=INT32_MAX)
    storage_gb_total: int | None = Field(None, ge=0, le=INT32_MAX)


class Pool(Timestamped):
    """A pool with capacity and allocation."""

    region_id: uuid.UUID
    name: str
    security_level: int
    price_factor: float
    vcpus_total: int
    ram_mb_total: int
    disk_gb_total: int
    storage_gb_total: int
    vcpus_used: int
    ram_mb_used: int
    disk_gb_used: int
    storage_gb_used: int


class Quota(InputModel):
    """Nova-style quotas of a tenancy (all optional on update)."""

    instances: int | None = Field(None, ge=0, le=INT32_MAX)
    vcpus: int | None = Field(None, ge=0, le=INT32_MAX)
    ram_mb: int | None = Field(None, ge=0, le=INT32_MAX)
    disk_gb: int | None = Field(None, ge=0, le=INT32_MAX)
    buckets: int | None = Field(None, ge=0, le=INT32_MAX)
    storage_gb: int | None = Field(None, ge=0, le=INT32_MAX)


class TenancyCreate(InputModel):
    """A department's tenancy."""

    org_id: uuid.UUID
    name: str = _NAME
    quota: Quota = Field(default_factory=Quota)


class Tenancy(Timestamped):
    """A tenancy with quotas and current usage."""

    org_id: uuid.UUID
    name: str
    quota: dict[str, int] = Field(default_factory=dict)
    usage: dict[str, int] = Field(default_factory=dict)


class CatalogItemCreate(InputModel):
    """An orderable catalog item."""

    code: str = Field(min_length=1, max_length=40, pattern=r"^[a-z0-9][a-z0-9._-]*$")
    name: str = _NAME
    kind: str = Field(pattern=r"^(compute|storage|database)$")
    size_id: str = Field("", max_length=40)
    vcpus: int = Field(0, ge=0, le=512)
    ram_mb: int = Field(0, ge=0, le=4 * 1024 * 1024)
    disk_gb: int = Field(0, ge=0, le=INT32_MAX)
    storage_gb: int = Field(0, ge=0, le=INT32_MAX)
    monthly_price: float = Field(0, ge=0, le=INT32_MAX)


class CatalogItem(Timestamped):
    """A catalog item."""

    code: str
    name: str
    kind: str
    size_id: str
    vcpus: int
    ram_mb: int
    disk_gb: int
    storage_gb: int
    monthly_price: float
    active: bool


class RequestCreate(InputModel):
    """An order from the catalog."""

    item_id: uuid.UUID
    quantity: int = Field(1, ge=1, le=100)
    system_id: uuid.UUID | None = None
    security_level: int = Field(2, ge=1, le=4)
    region_code: str = Field("", max_length=40)
    strategy: str = Field("spread", pattern=r"^(spread|pack)$")
    purpose: str = Field("", max_length=500)


class Decision(InputModel):
    """An approver's note."""

    note: str = Field("", max_length=500)


class Resize(InputModel):
    """Move an active request to another catalog item."""

    item_id: uuid.UUID


class ResourceRequest(Timestamped):
    """A request."""

    tenancy_id: uuid.UUID
    org_id: uuid.UUID
    item_id: uuid.UUID
    system_id: uuid.UUID | None
    quantity: int
    security_level: int
    region_code: str
    strategy: str
    purpose: str
    status: str
    monthly_cost: float
    pool_id: uuid.UUID | None
    note: str


class Resource(Timestamped):
    """A managed node or bucket."""

    request_id: uuid.UUID | None
    tenancy_id: uuid.UUID
    org_id: uuid.UUID
    pool_id: uuid.UUID
    kind: str
    name: str
    external_id: str
    status: str
    vcpus: int
    ram_mb: int
    disk_gb: int
    storage_gb: int
    monthly_price: float


class Job(Timestamped):
    """A provider job."""

    kind: str
    request_id: uuid.UUID | None
    resource_id: uuid.UUID | None
    status: str
    attempts: int
    max_attempts: int
    next_run_at: datetime
    last_error: str


class SystemCreate(InputModel):
    """An information system of a department."""

    org_id: uuid.UUID
    name: str = Field(min_length=1, max_length=200)
    classified: bool = False
    security_level: int = Field(2, ge=1, le=4)
    hosting: Hosting = Hosting.OWN_ROOM
    strategy: Strategy = Strategy.REHOST
    readiness: int = Field(0, ge=0, le=100)
    wave: int = Field(1, ge=1, le=20)
    integrated: bool = False
    merged_into_id: uuid.UUID | None = None
    dr_required: int = Field(1, ge=1, le=6)
    dr_actual: int = Field(1, ge=1, le=6)
    dr_roles: list[DrRole] = Field(default_factory=lambda: [DrRole.PRIMARY])

    @field_validator("dr_roles")
    @classmethod
    def _unique_roles(cls, v: list[DrRole]) -> list[DrRole]:
        if len(set(v)) != len(v):
            raise ValueError("roles repeat")
        return v


class SystemUpdate(InputModel):
    """Changes to a system (status moves through /transition)."""

    name: str | None = Field(None, min_length=1, max_length=200)
    classified: bool | None = None
    security_level: int | None = Field(None, ge=1, le=4)
    hosting: Hosting | None = None
    strategy: Strategy | None = None
    readiness: int | None = Field(None, ge=0, le=100)
    wave: int | None = Field(None, ge=1, le=20)
    integrated: bool | None = None
    merged_into_id: uuid.UUID | None = None
    dr_required: int | None = Field(None, ge=1, le=6)
    dr_actual: int | None = Field(None, ge=1, le=6)
    dr_roles: list[DrRole] | None = None


class SystemTransition(InputModel):
    """Move a system's migration status."""

    status: str = Field(pattern=r"^(assessing|planned|migrating|verifying|done)$")


class InfoSystem(Timestamped):
    """A system."""

    org_id: uuid.UUID
    name: str
    classified: bool
    security_level: int
    hosting: str
    tenancy_id: uuid.UUID | None
    strategy: str
    readiness: int
    wave: int
    status: str
    integrated: bool
    merged_into_id: uuid.UUID | None
    dr_required: int
    dr_actual: int
    dr_roles: list[str]


class DrillCreate(InputModel):
    """A DR drill result."""

    scenario: str = Field("", max_length=200)
    success: bool = True
    rpo_minutes: int = Field(ge=0, le=100000)
    rto_minutes: int = Field(ge=0, le=100000)
    at: datetime | None = None


class Drill(ReadModel):
    """A drill record."""

    id: uuid.UUID
    system_id: uuid.UUID
    at: datetime
    scenario: str
    success: bool
    rpo_minutes: int
    rto_minutes: int
    level_achieved: int


class Ratios(BaseModel):
    """上云率 and 整合率 of a unit (or the city) against the year's targets."""

    org_id: uuid.UUID | None
    org_name: str
    systems: int
    on_cloud: int
    integrated: int
    on_cloud_ratio: float
    integration_ratio: float
    on_cloud_target: float
    integration_target: float
    level: str = "city"  # the targets' level: 市级 city departments or 区县 districts (cloud/reference.py)


class RatioPoint(ReadModel):
    """A history point."""

    org_id: uuid.UUID | None
    day: date
    systems: int
    on_cloud_ratio: float
    integration_ratio: float


class IdleCase(Timestamped):
    """An idle-rule case."""

    tenancy_id: uuid.UUID
    org_id: uuid.UUID
    status: str
    idle_ratio: float
    reminded_at: datetime
    escalated_at: datetime | None
    proposed_at: datetime | None
    resolved_at: datetime | None
    proposal: dict[str, Any]


class Finding(ReadModel):
    """A reconciler finding."""

    id: uuid.UUID
    account_id: uuid.UUID
    resource_id: uuid.UUID | None
    kind: str
    external_id: str
    detail: str
    found_at: datetime
    open: bool


class Chargeback(BaseModel):
    """One department's bill for a month."""

    org_id: uuid.UUID
    org_name: str
    month: str
    resources: int
    amount: float


class DrGap(BaseModel):
    """A system below its required DR level."""

    system_id: uuid.UUID
    org_id: uuid.UUID
    name: str
    required: int
    actual: int
    roles: list[str]


class Scorecard(BaseModel):
    """The 云长 scorecard of one unit."""

    org_id: uuid.UUID
    org_name: str
    head: str
    ratios: Ratios
    utilisation: float | None
    quota_usage: dict[str, float]
    idle_status: str | None
    idle_ratio: float | None
    dr_gaps: int
    open_requests: int
    monthly_cost: float
    score: float
    rank: int | None = None
