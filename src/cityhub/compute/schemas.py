"""Pydantic models of the capability hub: inputs (extra fields forbidden) and read models."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from cityhub.compute.models import (
    Category,
    ComponentStatus,
    JobStatus,
    QuotaWindow,
    ScenarioKind,
    SubscriptionStatus,
    VersionKind,
)
from cityhub.kit import labels
from cityhub.kit.schemas import INT32_MAX, IDSchema, InputModel, Timestamped

__all__ = ["Category", "ComponentStatus", "JobStatus", "QuotaWindow", "ScenarioKind", "SubscriptionStatus",
           "VersionKind"]

CODE_RE = re.compile(r"^[a-z][a-z0-9-]{1,62}[a-z0-9]$")
# Semantic Versioning 2.0.0 (semver.org), without build metadata: it would not order and cannot be in a URL path
SEMVER_RE = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)"
                       r"(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?$")
CATEGORY_LABELS = {Category.COMMON: "共性技术", Category.BUSINESS: "业务协同"}
# Sub-categories as data: the families; a component may name another (free text under its category)
SUBCATEGORIES: dict[str, tuple[str, ...]] = {
    Category.COMMON: ("地理空间", "身份核验", "文字识别", "电子签章", "消息通知", "视频分析", "预测分析", "测试工具"),
    Category.BUSINESS: ("电子证照", "一件事一次办", "联合审批", "数据核验"),
}
# the families' English names for English pages (a free-text sub-category shows as written)
SUBCATEGORIES_EN = {"地理空间": "Geospatial", "身份核验": "Identity checks", "文字识别": "Text recognition",
                    "电子签章": "Electronic seals", "消息通知": "Notifications", "视频分析": "Video analytics",
                    "预测分析": "Forecasting", "测试工具": "Testing tools", "电子证照": "Electronic licences",
                    "一件事一次办": "One-stop services", "联合审批": "Joint approval", "数据核验": "Data checks"}
_NAME = Field(min_length=1, max_length=200)
_QUOTA = Field(None, ge=1, le=INT32_MAX)


def semver_key(version: str) -> tuple[Any, ...]:
    """Order versions as semver does: numbers numerically, a pre-release before its release."""
    m = SEMVER_RE.match(version)
    if not m:
        return (0, 0, 0, 0, ())
    pre = m.group(4)
    pre_key = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split(".")) if pre else ()
    return (int(m.group(1)), int(m.group(2)), int(m.group(3)), 0 if pre else 1, pre_key)


# The labels the pages, the audit log and other domains show for compute's codes; pages use them through the jinja
# `label` filter (`code|label(vocabulary)`).
labels.register(ComponentStatus, {
    ComponentStatus.DRAFT: "Draft", ComponentStatus.IN_REVIEW: "In review",
    ComponentStatus.PUBLISHED: "Published in the hub", ComponentStatus.DEPRECATED: "Deprecated",
    ComponentStatus.RETIRED: "Retired"})
labels.register(SubscriptionStatus, {
    SubscriptionStatus.PENDING: "Awaiting approval", SubscriptionStatus.ACTIVE: "In force",
    SubscriptionStatus.REJECTED: "Refused", SubscriptionStatus.REVOKED: "Ended"})
labels.register(ScenarioKind, {ScenarioKind.DRAINAGE: "Rainstorm drainage what-if",
                              ScenarioKind.TRAFFIC: "Road closure", ScenarioKind.DISPATCH: "Dispatch optimisation",
                              ScenarioKind.STAGING: "Pre-positioning before a storm"})
labels.register(Category, {Category.COMMON: "Common technology", Category.BUSINESS: "Business collaboration"})
labels.register(VersionKind, {VersionKind.BUILTIN: "Built-in (in process)", VersionKind.UPSTREAM: "Upstream service"})
labels.register(QuotaWindow, {QuotaWindow.FIXED: "Fixed windows (calendar minute, day, month)",
                              QuotaWindow.SLIDING: "Sliding windows (last minute, 24 hours, 30 days)"})

class SLA(BaseModel):
    """What the owner promises."""

    availability: float | None = Field(None, ge=0, le=100, description="Percent of calls answered, e.g. 99.9")
    p95_ms: int | None = Field(None, ge=1, le=600_000, description="95th percentile latency in milliseconds")


class ComponentCreate(InputModel):
    """Register a component (a draft of the owner's unit)."""

    code: str = Field(min_length=3, max_length=64, description="URL name in the gateway: /hub/<code>/<version>/…")
    name_zh: str = _NAME
    name_en: str = Field("", max_length=200)
    category: Category
    subcategory: str = Field("", max_length=100)
    org_id: uuid.UUID
    description: str = Field("", max_length=20_000)
    tags: list[str] = Field(default_factory=list, max_length=20)
    openapi: dict[str, Any] = Field(default_factory=dict, description="OpenAPI 3 document of the interface")
    docs: str = Field("", max_length=50_000)
    sla: SLA = Field(default_factory=SLA)
    catalog_entry_ids: list[uuid.UUID] = Field(default_factory=list, max_length=50)
    open_to_all: bool = False
    price_per_call: float = Field(0.0, ge=0, le=1_000_000)

    @field_validator("code")
    @classmethod
    def _code(cls, v: str) -> str:
        if not CODE_RE.match(v):
            raise ValueError("lower-case letters, digits and '-', starting with a letter")
        return v

    @field_validator("tags")
    @classmethod
    def _tags(cls, v: list[str]) -> list[str]:
        out = list(dict.fromkeys(t.strip() for t in v if t.strip()))
        if any(len(t) > 50 for t in out):
            raise ValueError("a tag has at most 50 characters")
        return out


class ComponentUpdate(InputModel):
    """Change a draft component (fields left out are kept)."""

    name_zh: str | None = Field(None, min_length=1, max_length=200)
    name_en: str | None = Field(None, max_length=200)
    subcategory: str | None = Field(None, max_length=100)
    description: str | None = Field(None, max_length=20_000)
    tags: list[str] | None = Field(None, max_length=20)
    openapi: dict[str, Any] | None = None
    docs: str | None = Field(None, max_length=50_000)
    sla: SLA | None = None
    catalog_entry_ids: list[uuid.UUID] | None = Field(None, max_length=50)
    open_to_all: bool | None = None
    price_per_call: float | None = Field(None, ge=0, le=1_000_000)


class Review(InputModel):
    """The bureau's decision on a submitted component."""

    approve: bool
    note: str = Field("", max_length=2000)


class Component(Timestamped):
    """A component as the catalogue shows it."""

    code: str
    name_zh: str
    name_en: str
    category: Category
    subcategory: str
    org_id: uuid.UUID
    description: str
    tags: list[str]
    openapi: dict[str, Any]
    docs: str
    sla: dict[str, Any]
    catalog_entry_ids: list[str]
    open_to_all: bool
    price_per_call: float
    status: ComponentStatus
    review_note: str


class VersionCreate(InputModel):
    """Add an immutable version: an upstream endpoint or a built-in handler, never both."""

    version: str = Field(min_length=5, max_length=64)
    kind: VersionKind
    upstream_url: str = Field("", max_length=500)
    builtin: str = Field("", max_length=64)
    changelog: str = Field("", max_length=5000)

    @field_validator("version")
    @classmethod
    def _semver(cls, v: str) -> str:
        if not SEMVER_RE.match(v):
            raise ValueError("a semantic version MAJOR.MINOR.PATCH[-pre], e.g. 1.2.0")
        return v


class Version(IDSchema):
    """A version of a component."""

    component_id: uuid.UUID
    version: str
    kind: VersionKind
    upstream_url: str
    builtin: str
    changelog: str
    created_at: datetime
    published_at: datetime | None


class AppCreate(InputModel):
    """Register a department's consumer application."""

    org_id: uuid.UUID
    name: str = _NAME
    description: str = Field("", max_length=2000)


class App(Timestamped):
    """A consumer application."""

    org_id: uuid.UUID
    name: str
    description: str
    disabled: bool


class AppKey(IDSchema):
    """A key as lists show it (never the key itself)."""

    app_id: uuid.UUID
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


class AppKeyCreated(AppKey):
    """A key just made: `key` is shown this once and never stored."""

    key: str


class SubscriptionCreate(InputModel):
    """An application asks to call a version of a component, within quotas until an expiry."""

    app_id: uuid.UUID
    component_code: str = Field(min_length=3, max_length=64)
    version: str = Field(min_length=5, max_length=64)
    quota_per_minute: int | None = _QUOTA
    quota_per_day: int | None = _QUOTA
    quota_per_month: int | None = _QUOTA
    quota_window: QuotaWindow = QuotaWindow.FIXED
    expires_at: datetime | None = None
    purpose: str = Field("", max_length=2000)


class SubscriptionDecision(InputModel):
    """The owner's decision; the quotas may be lowered (or set) when approving."""

    approve: bool
    note: str = Field("", max_length=2000)
    quota_per_minute: int | None = _QUOTA
    quota_per_day: int | None = _QUOTA
    quota_per_month: int | None = _QUOTA
    quota_window: QuotaWindow | None = None


class Subscription(Timestamped):
    """A subscription."""

    app_id: uuid.UUID
    component_id: uuid.UUID
    version_id: uuid.UUID
    status: SubscriptionStatus
    quota_per_minute: int | None
    quota_per_day: int | None
    quota_per_month: int | None
    quota_window: QuotaWindow
    expires_at: datetime | None
    purpose: str
    decided_at: datetime | None
    decision_note: str


class UsageRow(BaseModel):
    """Calls of one component by one unit's application over a period (and what they cost)."""

    component_code: str
    app_id: uuid.UUID
    app_name: str
    org_id: uuid.UUID
    calls: int
    errors: int
    avg_latency_ms: float
    max_latency_ms: float
    bytes_in: int
    bytes_out: int
    cost: float


class UsagePoint(BaseModel):
    """Calls in one hour (a chart's point)."""

    hour: datetime
    calls: int
    errors: int


# ---- saved analyses (issue 18)

ChartKind = Literal["table", "line", "bar", "map", "heatmap"]
_CRON = Field("", max_length=100, description="A cron expression (UTC); empty: on demand only.")


class AnalysisCreate(InputModel):
    """Save an analysis: one read-only SQL statement over the views the runner may read, and its chart."""

    org_id: uuid.UUID | None = None  # the caller's home unit when omitted
    name: str = _NAME
    sql: str = Field(min_length=1, max_length=10_000)
    chart: ChartKind = "table"
    schedule: str = _CRON


class AnalysisUpdate(InputModel):
    """Change an analysis (the SQL is checked again)."""

    name: str | None = Field(None, min_length=1, max_length=200)
    sql: str | None = Field(None, min_length=1, max_length=10_000)
    chart: ChartKind | None = None
    schedule: str | None = Field(None, max_length=100, description="A cron expression (UTC); empty: none.")


class Analysis(Timestamped):
    """A saved analysis."""

    org_id: uuid.UUID
    name: str
    sql: str
    chart: str
    created_by: str
    schedule: str = ""
    schedule_by: str = ""
    next_run_at: datetime | None = None
    schedule_error: str = ""


class AnalysisRunStart(InputModel):
    """Run an analysis as a job, under a row limit and a time limit."""

    max_rows: int = Field(10_000, ge=1, le=100_000)
    timeout_s: float = Field(60.0, ge=1, le=600)


class AnalysisRun(IDSchema):
    """A run: running (with progress), succeeded (its first rows), failed, cancelled or timed out."""

    analysis_id: uuid.UUID
    status: str
    engine: str
    started_by: str
    started_at: datetime
    finished_at: datetime | None = None
    progress: float | None = None
    rows: int | None = None
    truncated: bool = False
    error: str | None = None
    trigger: str = "manual"
    grade: str = "general"
    published_entry_id: uuid.UUID | None = None
    published_resource_id: uuid.UUID | None = None
    columns: list[str] = Field(default_factory=list)
    records: list[list[Any]] = Field(default_factory=list)


class AnalysisPublish(InputModel):
    """Publish a finished run's answer as a datastore table on a new draft catalog entry of the analysis's unit."""

    title: str | None = Field(None, min_length=1, max_length=200)  # default: the analysis's name and the run's day
    abstract: str = Field("", max_length=2000)


# ---- batch jobs (the AI compute centre, issue 17)

labels.register(JobStatus, {
    JobStatus.QUEUED: "Queued", JobStatus.RUNNING: "Running", JobStatus.CANCELLING: "Stopping",
    JobStatus.SUCCEEDED: "Finished", JobStatus.FAILED: "Failed", JobStatus.CANCELLED: "Cancelled"})


class JobCreate(InputModel):
    """Run a version over a datastore table (one call per row) or a device's telemetry (one call).

    An upstream version runs as one of the unit's applications (`app_id`): its subscription, quota and metering.
    """

    org_id: uuid.UUID = Field(description="The unit the job runs for (and which owns its answer).")
    app_id: uuid.UUID | None = Field(None, description="An upstream version: the unit's application whose "
                                                       "subscription the calls use (required for upstreams only).")
    component_code: str = Field(min_length=1, max_length=64)
    version: str = Field(min_length=1, max_length=64)
    name: str = Field("", max_length=200)
    method: Literal["GET", "POST"] = "POST"
    path: str = Field(min_length=1, max_length=200, description="The operation, e.g. /resident-id.")
    source_kind: Literal["table", "telemetry"]
    resource_id: uuid.UUID | None = Field(None, description="A table job: the datastore table read row by row.")
    fields: dict[str, str] = Field(default_factory=dict, max_length=50,
                                   description="A table job: request parameter → the row's column.")
    params: dict[str, Any] = Field(default_factory=dict, max_length=50, description="Sent with every call.")
    device_id: uuid.UUID | None = Field(None, description="A telemetry job: the device.")
    metric: str = Field("", max_length=100, description="A telemetry job: the metric key.")
    start: datetime | None = Field(None, description="A telemetry job: from (inclusive).")
    end: datetime | None = Field(None, description="A telemetry job: to (exclusive).")

    @model_validator(mode="after")
    def _source(self) -> JobCreate:
        if self.source_kind == "table":
            if self.resource_id is None:
                raise ValueError("resource_id: required for a table job")
            if not self.fields:
                raise ValueError("fields: required for a table job (request parameter → column)")
            for name in ("device_id", "metric", "start", "end"):
                if getattr(self, name):  # refused, not ignored: a caller must not believe it was checked or used
                    raise ValueError(f"{name}: only for a telemetry job")
        else:
            if self.resource_id is not None or self.fields:
                raise ValueError(f"{'resource_id' if self.resource_id is not None else 'fields'}: only for a table job")
            for name in ("device_id", "metric", "start", "end"):
                if not getattr(self, name):
                    raise ValueError(f"{name}: required for a telemetry job")
            assert self.start is not None and self.end is not None
            if self.end <= self.start:
                raise ValueError("end: after start")
        return self


class Job(IDSchema):
    """A batch job and how far it got."""

    org_id: uuid.UUID
    component_id: uuid.UUID
    version_id: uuid.UUID
    name: str
    source_kind: str
    source: dict[str, Any]
    grade: str
    status: JobStatus
    rows_total: int
    rows_done: int
    rows_failed: int
    error: str
    submitted_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    result_entry_id: uuid.UUID | None
    result_resource_id: uuid.UUID | None
# ---- scenario runs (issue 18): simulation and decision support

_DISTRICT = Field(pattern=r"^\d{6}$")  # a GB/T 2260 code of one of the shipped district outlines


class DrainageInputs(InputModel):
    """Rainfall (mm/h, one value per hour) and how much stronger the scenario is than it (1.5: "+50 %")."""

    rain_mm_h: list[float] = Field(min_length=1, max_length=72)
    intensity: float = Field(1.5, ge=0.1, le=5, allow_inf_nan=False)
    district_code: str | None = Field(None, pattern=r"^\d{6}$")  # only that district's galleries
    threshold: float | None = Field(None, gt=0, le=5000, allow_inf_nan=False)  # mm; default: the rules' level
    history_days: int = Field(7, ge=1, le=30)

    @field_validator("rain_mm_h")
    @classmethod
    def _rain(cls, v: list[float]) -> list[float]:
        for r in v:
            if not (0 <= r <= 300) or r != r:
                raise ValueError("rainfall is between 0 and 300 mm/h")
        return v


class TrafficInputs(InputModel):
    """Road segments closed: pairs of neighbouring districts."""

    closures: list[list[str]] = Field(min_length=1, max_length=20)


class TeamInput(InputModel):
    """A response team: where it is based, how many incidents it takes, the incident categories it handles."""

    name: str = Field(min_length=1, max_length=100)
    district_code: str = _DISTRICT
    capacity: int = Field(ge=1, le=50)
    skills: list[str] = Field(default_factory=list, max_length=20)  # empty: every category
    org_id: uuid.UUID | None = None  # the department the team belongs to; none: the unit that runs the scenario
    # its shift, in whole hours of the local day (display time zone); none: always on. 22 → 6 runs overnight.
    shift_start: int | None = Field(None, ge=0, le=23)
    shift_end: int | None = Field(None, ge=1, le=24)

    @model_validator(mode="after")
    def _shift(self) -> TeamInput:
        if (self.shift_start is None) != (self.shift_end is None):
            raise ValueError("give both ends of the shift, or neither")
        if self.shift_start is not None and self.shift_start == self.shift_end:
            raise ValueError("a shift of no hours")
        return self


class DispatchInputs(InputModel):
    """Teams for the open incidents the runner sees (at most `incident_limit`), with roads optionally closed."""

    teams: list[TeamInput] = Field(min_length=1, max_length=50)
    closures: list[list[str]] = Field(default_factory=list, max_length=20)
    incident_limit: int = Field(100, ge=1, le=300)
    at: datetime | None = None  # when the teams set off (shifts are read at this time); none: now


class StagingInputs(DrainageInputs):
    """The storm of a drainage what-if, and how many pump crews to stage among which districts (none: every one)."""

    units: int = Field(3, ge=1, le=20)
    candidates: list[str] = Field(default_factory=list, max_length=60)


class ScenarioRunCreate(InputModel):
    """Run a scenario: its kind and the inputs of that kind (checked as a whole, 422 naming the field)."""

    org_id: uuid.UUID | None = None  # the caller's home unit when omitted
    name: str = _NAME
    kind: ScenarioKind
    inputs: dict[str, Any]
    seed: int = Field(0, ge=0, le=INT32_MAX)


class ScenarioRun(IDSchema):
    """A stored scenario run."""

    org_id: uuid.UUID
    kind: str
    name: str
    inputs: dict[str, Any]
    result: dict[str, Any]
    model_version: str
    seed: int
    duration_ms: int
    created_by: str
    created_at: datetime


class DispatchDecisionCreate(InputModel):
    """Accept a run's suggestion for an incident, or override it with another of the run's teams (or none)."""

    incident_id: uuid.UUID
    action: Literal["accept", "override"]
    team: str | None = Field(None, max_length=100)  # override: the team chosen instead ("" or None: nobody)
    reason: str = Field("", max_length=2000)  # required when overriding
    comment: bool = True  # overriding with nobody: also note it on the incident's timeline


class DispatchDecision(IDSchema):
    """A recorded decision on a dispatch suggestion."""

    run_id: uuid.UUID
    org_id: uuid.UUID
    incident_id: uuid.UUID
    action: str
    suggested_team: str
    team: str
    team_org_id: uuid.UUID | None = None
    reason: str
    decided_by: str
    decided_at: datetime
