"""Pydantic schemas of the programme cockpit: targets (input and read), their values and progress, reports."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, Field, field_validator, model_validator

from cityhub.apply.models import Method, NodeKind, ReportStatus
from cityhub.kit import labels
from cityhub.kit.schemas import IDSchema, InputModel, ReadModel, Timestamped

labels.register(NodeKind, {NodeKind.PROGRAMME: "Programme", NodeKind.LAYER: "Layer",
                           NodeKind.TARGET: "Programme target"})
labels.register(Method, {Method.COMPUTED: "Computed from the platform", Method.REPORTED: "Reported by the owner",
                         Method.NONE: "Group"})
labels.register(ReportStatus, {ReportStatus.SUBMITTED: "Awaiting review", ReportStatus.APPROVED: "Approved",
                               ReportStatus.REJECTED: "Rejected"})
labels.register("apply.rag", {"green": "On track", "amber": "At risk", "red": "Behind", "none": "No data"})
LAYERS = ("", "cloud", "connect", "data", "compute", "ops", "apply")
_CODE = r"^[a-z0-9][a-z0-9._-]{0,59}$"


def _http_url(v: str) -> str:
    if v and not v.lower().startswith(("http://", "https://")):
        raise ValueError("an http(s) link")
    return v


class TargetCreate(InputModel):
    """A node of the programme: a target names its numbers and how its progress is obtained."""

    code: str = Field(pattern=_CODE)
    parent_id: uuid.UUID | None = None
    kind: NodeKind = NodeKind.TARGET
    position: int = Field(0, ge=0, le=10_000)
    layer: str = Field("", max_length=20)
    title_zh: str = Field(min_length=1, max_length=300)
    title_en: str = Field("", max_length=300)
    year: int | None = Field(None, ge=2000, le=2100)
    unit: str = Field("", max_length=30)
    owner_org_id: uuid.UUID | None = None
    source_text: str = Field("", max_length=4000)
    baseline: float = Field(0.0, ge=-1e15, le=1e15, allow_inf_nan=False)
    target_value: float | None = Field(None, ge=-1e15, le=1e15, allow_inf_nan=False)
    start_date: date | None = None
    deadline: date | None = None
    method: Method = Method.REPORTED
    source_key: str = Field("", max_length=60)

    @field_validator("layer")
    @classmethod
    def _layer(cls, v: str) -> str:
        if v not in LAYERS:
            raise ValueError(f"one of {', '.join(x for x in LAYERS if x)}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> TargetCreate:
        if self.start_date and self.deadline and self.deadline <= self.start_date:
            raise ValueError("deadline: after the start date")
        return self


class TargetUpdate(InputModel):
    """Change a node (all optional)."""

    position: int | None = Field(None, ge=0, le=10_000)
    title_zh: str | None = Field(None, min_length=1, max_length=300)
    title_en: str | None = Field(None, max_length=300)
    year: int | None = Field(None, ge=2000, le=2100)
    unit: str | None = Field(None, max_length=30)
    owner_org_id: uuid.UUID | None = None
    source_text: str | None = Field(None, max_length=4000)
    baseline: float | None = Field(None, ge=-1e15, le=1e15, allow_inf_nan=False)
    target_value: float | None = Field(None, ge=-1e15, le=1e15, allow_inf_nan=False)
    start_date: date | None = None
    deadline: date | None = None
    method: Method | None = None
    source_key: str | None = Field(None, max_length=60)


class Target(Timestamped):
    """A node as stored."""

    code: str
    parent_id: uuid.UUID | None
    kind: NodeKind
    position: int
    layer: str
    title_zh: str
    title_en: str
    year: int | None
    unit: str
    owner_org_id: uuid.UUID | None
    source_text: str
    baseline: float
    target_value: float | None
    start_date: date | None
    deadline: date | None
    method: Method
    source_key: str
    current_value: float | None
    current_at: datetime | None


class Progress(BaseModel):
    """A target with where it stands: progress, schedule, forecast, status; a group with its children's."""

    target: Target
    owner_name: str = ""
    progress: float | None = None  # 0..1 of the way from baseline to target (may exceed 1)
    schedule: float | None = None  # 0..1 of the time from start to deadline
    forecast: float | None = None  # the trend's value at the deadline
    status: str = "none"  # green | amber | red | none
    children: list[Progress] = Field(default_factory=list)


class TargetValue(IDSchema):
    """One value in a target's history."""

    at: datetime
    value: float
    origin: str
    report_id: uuid.UUID | None


class ReportCreate(InputModel):
    """The owner's report of a reported target's value: evidence (a link) is required."""

    value: float = Field(ge=-1e15, le=1e15, allow_inf_nan=False)
    as_of: date | None = None
    note: str = Field("", max_length=4000)
    evidence_url: str = Field(min_length=8, max_length=500)

    _url = field_validator("evidence_url")(_http_url)


class ReportReview(InputModel):
    """The bureau's decision on a report."""

    approve: bool
    note: str = Field("", max_length=2000)


class Report(Timestamped):
    """A progress report."""

    target_id: uuid.UUID
    org_id: uuid.UUID
    reporter_id: uuid.UUID | None
    value: float
    as_of: date
    note: str
    evidence_url: str
    status: ReportStatus
    reviewer_id: uuid.UUID | None
    reviewed_at: datetime | None
    review_note: str


class SourceInfo(ReadModel):
    """A named progress source."""

    key: str
    layer: str
    title: str
    unit: str


class RefreshResult(BaseModel):
    """What a computed-progress run did."""

    computed: int
    recorded: int
    failed: list[str] = Field(default_factory=list)


class SeedResult(BaseModel):
    """What loading the seed did."""

    created: int
    existing: int
