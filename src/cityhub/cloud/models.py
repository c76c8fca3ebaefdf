"""Tables of the cloud domain.

Providers, regions, pools, tenancies, catalog, requests, resources, jobs, metering, idle cases, information
systems, DR drills, ratio snapshots and reconciler findings.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cityhub.kit.db import Base, Timestamps, UUIDPk, status_type


class RequestStatus(StrEnum):
    """Life of a resource request."""

    SUBMITTED = "submitted"  # waits for the department head
    PENDING_BUREAU = "pending_bureau"  # over the cost threshold: waits for the bureau
    APPROVED = "approved"
    PROVISIONING = "provisioning"
    ACTIVE = "active"
    RESIZING = "resizing"
    RECLAIMING = "reclaiming"
    RECLAIMED = "reclaimed"
    REJECTED = "rejected"
    FAILED = "failed"


class ResourceStatus(StrEnum):
    """Life of a provisioned resource (a row exists before the provider is called: nothing goes untracked)."""

    PROVISIONING = "provisioning"
    ACTIVE = "active"
    STOPPED = "stopped"
    ERROR = "error"
    RECLAIMED = "reclaimed"


# A resource in one of these is still held: counted against the quota, billed, compared with the provider.
HOLDING = (ResourceStatus.PROVISIONING, ResourceStatus.ACTIVE, ResourceStatus.STOPPED, ResourceStatus.ERROR)


class JobStatus(StrEnum):
    """Life of a provisioning job."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class IdleStatus(StrEnum):
    """The idle rule's escalation ladder."""

    REMINDED = "reminded"
    ESCALATED = "escalated"
    REDUCTION_PROPOSED = "reduction_proposed"
    RESOLVED = "resolved"


class SystemStatus(StrEnum):
    """Migration status of an information system."""

    ASSESSING = "assessing"
    PLANNED = "planned"
    MIGRATING = "migrating"
    VERIFYING = "verifying"
    DONE = "done"



class ProviderAccount(UUIDPk, Timestamps, Base):
    """One account at one cloud provider (浪潮云, 华为云 …); credentials are Fernet-encrypted at rest."""

    __tablename__ = "cloud_provider_account"
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    credentials_enc: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(default=True)
    last_reconciled_at: Mapped[datetime | None] = mapped_column(default=None)


class Region(UUIDPk, Timestamps, Base):
    """A region of a provider account."""

    __tablename__ = "cloud_region"
    __table_args__ = (UniqueConstraint("account_id", "code"),)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cloud_provider_account.id"), index=True)
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(100))


class Pool(UUIDPk, Timestamps, Base):
    """A resource pool in a region with capacity and what is allocated from it."""

    __tablename__ = "cloud_pool"
    region_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cloud_region.id"), index=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    security_level: Mapped[int] = mapped_column(default=2)  # 等保 level the pool is accredited for (1–4)
    price_factor: Mapped[float] = mapped_column(default=1.0)
    vcpus_total: Mapped[int] = mapped_column(default=0)
    ram_mb_total: Mapped[int] = mapped_column(default=0)
    disk_gb_total: Mapped[int] = mapped_column(default=0)
    storage_gb_total: Mapped[int] = mapped_column(default=0)
    vcpus_used: Mapped[int] = mapped_column(default=0)
    ram_mb_used: Mapped[int] = mapped_column(default=0)
    disk_gb_used: Mapped[int] = mapped_column(default=0)
    storage_gb_used: Mapped[int] = mapped_column(default=0)


class Tenancy(UUIDPk, Timestamps, Base):
    """A department's one tenancy, with Nova-style quotas."""

    __tablename__ = "cloud_tenancy"
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_organization.id"), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    quota_instances: Mapped[int] = mapped_column(default=10)
    quota_vcpus: Mapped[int] = mapped_column(default=40)
    quota_ram_mb: Mapped[int] = mapped_column(default=81920)
    quota_disk_gb: Mapped[int] = mapped_column(default=2000)
    quota_buckets: Mapped[int] = mapped_column(default=5)
    quota_storage_gb: Mapped[int] = mapped_column(default=5000)


class CatalogItem(UUIDPk, Timestamps, Base):
    """An orderable item of the service catalog (云服务清单) with its monthly price."""

    __tablename__ = "cloud_catalog_item"
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))  # compute | storage | database
    size_id: Mapped[str] = mapped_column(String(40), default="")
    vcpus: Mapped[int] = mapped_column(default=0)
    ram_mb: Mapped[int] = mapped_column(default=0)
    disk_gb: Mapped[int] = mapped_column(default=0)
    storage_gb: Mapped[int] = mapped_column(default=0)
    monthly_price: Mapped[float] = mapped_column(default=0.0)
    active: Mapped[bool] = mapped_column(default=True)


class ResourceRequest(UUIDPk, Timestamps, Base):
    """A department's order from the catalog, through approval, placement and provisioning."""

    __tablename__ = "cloud_request"
    tenancy_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cloud_tenancy.id"), index=True)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_organization.id"), index=True)
    item_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cloud_catalog_item.id"))
    system_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cloud_system.id"), default=None)
    quantity: Mapped[int] = mapped_column(default=1)
    security_level: Mapped[int] = mapped_column(default=2)
    region_code: Mapped[str] = mapped_column(String(40), default="")
    strategy: Mapped[str] = mapped_column(String(10), default="spread")
    purpose: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[RequestStatus] = mapped_column(status_type(RequestStatus), default=RequestStatus.SUBMITTED,
                                                  index=True)
    monthly_cost: Mapped[float] = mapped_column(default=0.0)
    pool_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cloud_pool.id"), default=None)
    requested_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
    dept_approved_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
    bureau_approved_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
    note: Mapped[str] = mapped_column(String(500), default="")


class Resource(UUIDPk, Timestamps, Base):
    """A node or bucket cityhub manages at a provider."""

    __tablename__ = "cloud_resource"
    __table_args__ = (Index("ix_cloud_resource_account_external", "account_id", "external_id"),)
    request_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cloud_request.id"), index=True, default=None)
    tenancy_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cloud_tenancy.id"), index=True)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_organization.id"), index=True)
    pool_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cloud_pool.id"), index=True)
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cloud_provider_account.id"))
    kind: Mapped[str] = mapped_column(String(10))  # node | bucket
    name: Mapped[str] = mapped_column(String(80), unique=True)
    size_id: Mapped[str] = mapped_column(String(40), default="")
    external_id: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[ResourceStatus] = mapped_column(status_type(ResourceStatus), default=ResourceStatus.PROVISIONING)
    vcpus: Mapped[int] = mapped_column(default=0)
    ram_mb: Mapped[int] = mapped_column(default=0)
    disk_gb: Mapped[int] = mapped_column(default=0)
    storage_gb: Mapped[int] = mapped_column(default=0)
    monthly_price: Mapped[float] = mapped_column(default=0.0)
    active_since: Mapped[datetime | None] = mapped_column(default=None)
    reclaimed_at: Mapped[datetime | None] = mapped_column(default=None)
    last_backup: Mapped[str] = mapped_column(String(200), default="")


class Job(UUIDPk, Timestamps, Base):
    """A resumable, idempotent provider job (provision, resize, reclaim) with retries and backoff."""

    __tablename__ = "cloud_job"
    kind: Mapped[str] = mapped_column(String(20))
    request_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cloud_request.id"), index=True, default=None)
    resource_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cloud_resource.id"), default=None)
    key: Mapped[str] = mapped_column(String(120), unique=True)  # idempotency key
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[JobStatus] = mapped_column(status_type(JobStatus), default=JobStatus.PENDING, index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=5)
    next_run_at: Mapped[datetime] = mapped_column()
    last_error: Mapped[str] = mapped_column(String(500), default="")


class UsageDay(UUIDPk, Base):
    """A node's utilisation on one day (collected from the provider)."""

    __tablename__ = "cloud_usage_day"
    __table_args__ = (UniqueConstraint("resource_id", "day"),)
    resource_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cloud_resource.id"))
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_organization.id"), index=True)
    day: Mapped[date] = mapped_column(index=True)
    cpu_avg: Mapped[float] = mapped_column()
    cpu_peak: Mapped[float] = mapped_column()


class IdleCase(UUIDPk, Timestamps, Base):
    """One run of the idle rule for a tenancy: reminded → escalated → reduction proposed (or resolved)."""

    __tablename__ = "cloud_idle_case"
    tenancy_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cloud_tenancy.id"), index=True)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_organization.id"), index=True)
    status: Mapped[IdleStatus] = mapped_column(status_type(IdleStatus), default=IdleStatus.REMINDED)
    idle_ratio: Mapped[float] = mapped_column(default=0.0)
    reminded_at: Mapped[datetime] = mapped_column()
    escalated_at: Mapped[datetime | None] = mapped_column(default=None)
    proposed_at: Mapped[datetime | None] = mapped_column(default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    proposal: Mapped[dict[str, Any]] = mapped_column(default=dict)


class InfoSystem(UUIDPk, Timestamps, Base):
    """A government information system: inventory, migration and DR."""

    __tablename__ = "cloud_system"
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_organization.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    classified: Mapped[bool] = mapped_column(default=False)  # 涉密: excluded from the ratios
    security_level: Mapped[int] = mapped_column(default=2)
    hosting: Mapped[str] = mapped_column(String(20), default="own_room")  # own_room | cloud
    tenancy_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cloud_tenancy.id"), default=None)
    strategy: Mapped[str] = mapped_column(String(20), default="rehost")
    readiness: Mapped[int] = mapped_column(default=0)  # 0–100 assessment score
    wave: Mapped[int] = mapped_column(default=1)
    status: Mapped[SystemStatus] = mapped_column(status_type(SystemStatus), default=SystemStatus.ASSESSING, index=True)
    integrated: Mapped[bool] = mapped_column(default=False)  # joined the department's unified platform
    merged_into_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cloud_system.id"), default=None)
    dr_required: Mapped[int] = mapped_column(default=1)  # GB/T 20988 level 1–6
    dr_actual: Mapped[int] = mapped_column(default=1)
    dr_roles: Mapped[list[Any]] = mapped_column(default=list)  # primary, same_city_backup, …


class DrDrill(UUIDPk, Base):
    """A disaster-recovery drill of one system."""

    __tablename__ = "cloud_dr_drill"
    system_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cloud_system.id"), index=True)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_organization.id"), index=True)
    at: Mapped[datetime] = mapped_column()
    scenario: Mapped[str] = mapped_column(String(200), default="")
    success: Mapped[bool] = mapped_column(default=True)
    rpo_minutes: Mapped[int] = mapped_column(default=0)
    rto_minutes: Mapped[int] = mapped_column(default=0)
    level_achieved: Mapped[int] = mapped_column(default=1)


class RatioSnapshot(UUIDPk, Base):
    """上云率/整合率 of one unit (or the city, org_id null) on one day."""

    __tablename__ = "cloud_ratio_snapshot"
    __table_args__ = (UniqueConstraint("org_id", "day"),)
    org_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_organization.id"), default=None)
    day: Mapped[date] = mapped_column(index=True)
    systems: Mapped[int] = mapped_column(default=0)
    on_cloud: Mapped[int] = mapped_column(default=0)
    integrated: Mapped[int] = mapped_column(default=0)
    on_cloud_ratio: Mapped[float] = mapped_column(default=0.0)
    integration_ratio: Mapped[float] = mapped_column(default=0.0)


class Finding(UUIDPk, Base):
    """A reconciler finding: drift (state/size differs), orphan (at the provider only) or missing (ours only)."""

    __tablename__ = "cloud_finding"
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cloud_provider_account.id"), index=True)
    resource_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cloud_resource.id"), default=None)
    kind: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str] = mapped_column(String(100), default="")
    detail: Mapped[str] = mapped_column(String(300), default="")
    found_at: Mapped[datetime] = mapped_column()
    open: Mapped[bool] = mapped_column(default=True)
