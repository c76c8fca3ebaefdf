"""Tables of the capability hub (算).

Components and their versions, consumer applications and keys, subscriptions with quotas, metered calls and their
hourly roll-ups.

Organisations belong to core and catalog entries to data; they are referenced by id (organisations with a foreign
key, as every domain does; catalog entries as a list of ids checked through the data service on write).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cityhub.kit import clock
from cityhub.kit.db import Base, JSONType, Timestamps, UUIDPk, status_type

BigId = BigInteger().with_variant(Integer, "sqlite")


class ScenarioKind(StrEnum):
    """What a scenario run simulates or decides."""

    DRAINAGE = "drainage"  # pipe-gallery water levels under a rainfall series
    TRAFFIC = "traffic"  # district-to-district travel times with road segments closed
    DISPATCH = "dispatch"  # open incidents assigned to response teams (OR-Tools)
    STAGING = "staging"  # where to stage pump crews before a forecast storm (OR-Tools p-median)


class ComponentStatus(StrEnum):
    """Life of a component: the owner drafts and submits, the bureau reviews, publishes, deprecates, retires."""

    DRAFT = "draft"
    IN_REVIEW = "in_review"
    PUBLISHED = "published"
    DEPRECATED = "deprecated"  # still callable by existing subscribers; no new subscriptions
    RETIRED = "retired"  # no longer callable


class Category(StrEnum):
    """The two families of the hub's catalogue (sub-categories are free data under each)."""

    COMMON = "common"  # 共性技术: OCR, geocoding, identity checks, e-signature, messaging, forecasting…
    BUSINESS = "business"  # 业务协同: e-licence verification, one-thing-one-go workflows…


class VersionKind(StrEnum):
    """How the gateway answers a call of the version."""

    BUILTIN = "builtin"  # a handler in this process (compute.builtins)
    UPSTREAM = "upstream"  # an HTTP endpoint on the upstream allow-list


class SubscriptionStatus(StrEnum):
    """Life of a subscription: requested, then approved (active) or rejected; revoked by either side."""

    PENDING = "pending"
    ACTIVE = "active"
    REJECTED = "rejected"
    REVOKED = "revoked"


class QuotaWindow(StrEnum):
    """How a subscription's quotas count: per calendar bucket, or over the last minute, 24 hours, 30 days."""

    FIXED = "fixed"
    SLIDING = "sliding"


class Component(UUIDPk, Timestamps, Base):
    """A reusable capability offered to every department through the gateway."""

    __tablename__ = "compute_component"

    code: Mapped[str] = mapped_column(String(64), unique=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200), default="")
    category: Mapped[str] = mapped_column(String(20), index=True)
    subcategory: Mapped[str] = mapped_column(String(100), default="")
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_organization.id"), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[Any]] = mapped_column(default=list)
    openapi: Mapped[dict[str, Any]] = mapped_column(default=dict)
    docs: Mapped[str] = mapped_column(Text, default="")
    sla: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {"availability": 99.9, "p95_ms": 200}
    catalog_entry_ids: Mapped[list[Any]] = mapped_column(default=list)  # data it reads (ids as strings)
    open_to_all: Mapped[bool] = mapped_column(Boolean, default=False)  # subscriptions approved at once
    price_per_call: Mapped[float] = mapped_column(Float, default=0.0)  # yuan, for chargeback
    status: Mapped[ComponentStatus] = mapped_column(status_type(ComponentStatus), default=ComponentStatus.DRAFT,
                                                    index=True)
    review_note: Mapped[str] = mapped_column(Text, default="")
    search_text: Mapped[str] = mapped_column(Text, default="")  # segmented names, tags, description


class ComponentVersion(UUIDPk, Base):
    """One immutable version of a component: its semver and what answers it (never changed after creation)."""

    __tablename__ = "compute_component_version"
    __table_args__ = (UniqueConstraint("component_id", "version"),)

    component_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("compute_component.id", ondelete="CASCADE"),
                                                    index=True)
    version: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(20))
    upstream_url: Mapped[str] = mapped_column(String(500), default="")
    builtin: Mapped[str] = mapped_column(String(64), default="")
    changelog: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    published_at: Mapped[datetime | None] = mapped_column(default=None)  # set by the bureau's review


class ConsumerApp(UUIDPk, Timestamps, Base):
    """A department's system that calls components through the gateway, with its own keys."""

    __tablename__ = "compute_app"
    __table_args__ = (UniqueConstraint("org_id", "name"),)

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_organization.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)


class AppKey(UUIDPk, Base):
    """A key of an application: only its keyed hash is stored; the key is shown once, when it is made."""

    __tablename__ = "compute_app_key"

    app_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("compute_app.id", ondelete="CASCADE"), index=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)  # shown in lists, to tell keys apart
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)  # HMAC-SHA256 with the settings' secret
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class Subscription(UUIDPk, Timestamps, Base):
    """An application's right to call one version of a component, with its quotas and expiry."""

    __tablename__ = "compute_subscription"
    __table_args__ = (Index("ix_compute_subscription_app_version", "app_id", "version_id"),)

    app_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("compute_app.id", ondelete="CASCADE"), index=True)
    component_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("compute_component.id"), index=True)
    version_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("compute_component_version.id"))
    status: Mapped[SubscriptionStatus] = mapped_column(status_type(SubscriptionStatus),
                                                       default=SubscriptionStatus.PENDING, index=True)
    quota_per_minute: Mapped[int | None] = mapped_column(Integer, default=None)
    quota_per_day: Mapped[int | None] = mapped_column(Integer, default=None)
    quota_per_month: Mapped[int | None] = mapped_column(Integer, default=None)
    quota_window: Mapped[str] = mapped_column(String(10), default=QuotaWindow.FIXED, server_default="fixed")
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    purpose: Mapped[str] = mapped_column(Text, default="")
    requested_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
    decided_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    decision_note: Mapped[str] = mapped_column(Text, default="")


class Call(Base):
    """One metered gateway call (written in batches from the gateway's buffer, never on the hot path)."""

    __tablename__ = "compute_call"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(index=True)
    component_id: Mapped[uuid.UUID | None] = mapped_column(index=True)  # None: the call named no known component
    version_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    app_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    org_id: Mapped[uuid.UUID | None] = mapped_column(default=None)  # the consumer's unit
    method: Mapped[str] = mapped_column(String(10))
    status: Mapped[int] = mapped_column(Integer)
    error_code: Mapped[str] = mapped_column(String(40), default="")
    latency_ms: Mapped[float] = mapped_column(Float)
    bytes_in: Mapped[int] = mapped_column(Integer, default=0)
    bytes_out: Mapped[int] = mapped_column(Integer, default=0)


class UsageHourly(Base):
    """Calls per hour, component, version and application (the usage pages and chargeback read these)."""

    __tablename__ = "compute_usage_hourly"
    __table_args__ = (UniqueConstraint("hour", "component_id", "version_id", "app_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    hour: Mapped[datetime] = mapped_column(index=True)
    component_id: Mapped[uuid.UUID] = mapped_column(index=True)
    version_id: Mapped[uuid.UUID] = mapped_column()
    app_id: Mapped[uuid.UUID] = mapped_column()
    org_id: Mapped[uuid.UUID] = mapped_column(index=True)
    calls: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    latency_ms_sum: Mapped[float] = mapped_column(Float, default=0.0)
    latency_ms_max: Mapped[float] = mapped_column(Float, default=0.0)
    bytes_in: Mapped[int] = mapped_column(BigId, default=0)
    bytes_out: Mapped[int] = mapped_column(BigId, default=0)


class Analysis(UUIDPk, Timestamps, Base):
    """A saved analysis (issue 18): one read-only SQL statement of a unit's analyst, and how to chart its answer."""

    __tablename__ = "compute_analysis"
    __table_args__ = (UniqueConstraint("org_id", "name"),)

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_organization.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    sql: Mapped[str] = mapped_column(Text)
    chart: Mapped[str] = mapped_column(String(10), default="table")  # table | line | bar | map | heatmap
    created_by: Mapped[str] = mapped_column(String(100), default="")
    # a cron schedule (UTC; empty: on demand only), run with the rights of the user who set it
    schedule: Mapped[str] = mapped_column(String(100), default="")
    schedule_by: Mapped[str] = mapped_column(String(100), default="")
    next_run_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    schedule_error: Mapped[str] = mapped_column(Text, default="")  # the last scheduled start's refusal, shown


class AnalysisRun(UUIDPk, Base):
    """One run of an analysis as a job: started here; its answer and end state are files under the var folder."""

    __tablename__ = "compute_analysis_run"

    analysis_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("compute_analysis.id", ondelete="CASCADE"),
                                                   index=True)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_organization.id"), index=True)
    started_by: Mapped[str] = mapped_column(String(100), default="")
    engine: Mapped[str] = mapped_column(String(10))
    max_rows: Mapped[int] = mapped_column(Integer)
    timeout_s: Mapped[float] = mapped_column(Float)
    started_at: Mapped[datetime] = mapped_column(default=clock.now, index=True)
    trigger: Mapped[str] = mapped_column(String(10), default="manual")  # manual | schedule
    grade: Mapped[str] = mapped_column(String(10), default="general")  # the highest grade of what it read
    published_entry_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    published_resource_id: Mapped[uuid.UUID | None] = mapped_column(default=None)


class JobStatus(StrEnum):
    """Life of a batch job: queued, running (cancelling when asked to stop), then one end state."""

    QUEUED = "queued"
    RUNNING = "running"
    CANCELLING = "cancelling"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Job(UUIDPk, Timestamps, Base):
    """A component version run as a batch job over a datastore table or a device's telemetry (issue 17).

    Its input is read with the submitter's rights when it is submitted (a JSON-lines file under the var folder);
    a worker process runs it and writes the answer as a new datastore table on a draft catalog entry of the same unit.
    """

    __tablename__ = "compute_job"
    __table_args__ = (Index("ix_compute_job_org_status", "org_id", "status"),)

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_organization.id"), index=True)
    component_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("compute_component.id"), index=True)
    version_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("compute_component_version.id"))
    name: Mapped[str] = mapped_column(String(200))
    source_kind: Mapped[str] = mapped_column(String(10))  # table | telemetry
    source: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)  # what was read, for the page
    request: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)  # method, path, fields, params
    grade: Mapped[str] = mapped_column(String(10), default="general")
    status: Mapped[JobStatus] = mapped_column(status_type(JobStatus), default=JobStatus.QUEUED, index=True)
    rows_total: Mapped[int] = mapped_column(Integer, default=0)
    rows_done: Mapped[int] = mapped_column(Integer, default=0)
    rows_failed: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(Text, default="")
    submitted_by: Mapped[str] = mapped_column(String(100), default="")
    worker: Mapped[str] = mapped_column(String(100), default="")
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    result_entry_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    result_resource_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
class ScenarioRun(UUIDPk, Base):
    """One simulation or decision run (issue 18): its kind, inputs, model version, seed and stored result.

    kind: drainage | traffic | dispatch. The result is kept whole (JSON), so a run is read back as it was; running
    the same inputs again with the same model version and seed gives the same result.
    """

    __tablename__ = "compute_scenario_run"

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_organization.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200))
    inputs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    model_version: Mapped[str] = mapped_column(String(20))
    seed: Mapped[int] = mapped_column(Integer, default=0)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=clock.now, index=True)


class DispatchDecision(UUIDPk, Base):
    """An operator's answer to one suggestion of a dispatch run: accepted, or overridden by another team (or none).

    One per incident of a run (a second answer is a conflict); the suggestion is copied in, so the record stays
    readable whatever happens to the run.
    """

    __tablename__ = "compute_dispatch_decision"
    __table_args__ = (UniqueConstraint("run_id", "incident_id"),)

    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("compute_scenario_run.id", ondelete="CASCADE"), index=True)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_organization.id"), index=True)
    incident_id: Mapped[uuid.UUID] = mapped_column()
    action: Mapped[str] = mapped_column(String(10))  # accept | override
    suggested_team: Mapped[str] = mapped_column(String(100), default="")
    team: Mapped[str] = mapped_column(String(100), default="")  # the team chosen ("" : nobody)
    team_org_id: Mapped[uuid.UUID | None] = mapped_column(default=None)  # the department the incident went to
    reason: Mapped[str] = mapped_column(Text, default="")
    decided_by: Mapped[str] = mapped_column(String(100), default="")
    decided_at: Mapped[datetime] = mapped_column(default=clock.now)
