"""Pydantic schemas of the programme cockpit: targets (input and read), their values and progress, reports."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field, field_validator, model_validator

from cityhub.apply.models import (
    LinkKind,
    Method,
    NodeKind,
    ReportStatus,
    ScenarioBatch,
    ScenarioStatus,
    StationStatus,
)
from cityhub.kit import labels
from cityhub.kit.idcodes import credit_code_ok
from cityhub.kit.schemas import IDSchema, InputModel, ReadModel, Timestamped

labels.register(NodeKind, {NodeKind.PROGRAMME: "Programme", NodeKind.LAYER: "Layer",
                           NodeKind.TARGET: "Programme target"})
labels.register(Method, {Method.COMPUTED: "Computed from the platform", Method.REPORTED: "Reported by the owner",
                         Method.NONE: "Group"})
labels.register(ReportStatus, {ReportStatus.SUBMITTED: "Awaiting review", ReportStatus.APPROVED: "Approved",
                               ReportStatus.REJECTED: "Rejected"})
labels.register("apply.rag", {"green": "On track", "amber": "At risk", "red": "Behind", "none": "No data"})
LAYERS = ("", "cloud", "connect", "data", "compute", "ops", "apply")
CODE_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,59}$"


def _http_url(v: str) -> str:
    if v and not v.lower().startswith(("http://", "https://")):
        raise ValueError("an http(s) link")
    return v


class TargetCreate(InputModel):
    """A node of the programme: a target names its numbers and how its progress is obtained."""

    code: str = Field(pattern=CODE_PATTERN)
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
    """The owner's report of a reported target's value: evidence is required, a link here or a file with it."""

    value: float = Field(ge=-1e15, le=1e15, allow_inf_nan=False)
    as_of: date | None = None
    note: str = Field("", max_length=4000)
    evidence_url: str = Field("", max_length=500)

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


class ReportEvidence(ReadModel):
    """A file attached to a progress report (what was checked; the bytes are downloaded apart)."""

    id: uuid.UUID
    report_id: uuid.UUID
    filename: str
    content_type: str
    size: int
    sha256: str
    uploaded_at: datetime


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


# ---------------------------------------------------------------- 5G base stations

labels.register(StationStatus, {StationStatus.PLANNED: "Planned", StationStatus.BUILDING: "Under construction",
                                StationStatus.ACTIVE: "In service", StationStatus.RETIRED: "Retired"})


class StationCreate(InputModel):
    """A 5G base station in the register."""

    carrier: str = Field(min_length=1, max_length=20)
    site_code: str = Field(min_length=1, max_length=60)
    district_org_id: uuid.UUID
    address: str = Field("", max_length=300)
    lon: float | None = Field(None, ge=105.0, le=110.5)
    lat: float | None = Field(None, ge=28.0, le=32.5)
    band: str = Field(min_length=1, max_length=10)
    status: StationStatus = StationStatus.PLANNED
    commissioned_on: date | None = None

    @model_validator(mode="after")
    def _commissioned(self) -> StationCreate:
        if self.status == StationStatus.ACTIVE and self.commissioned_on is None:
            raise ValueError("commissioned_on: a station in service has a commissioning date")
        return self


class Station(Timestamped):
    """A base station as stored."""

    carrier: str
    site_code: str
    district_org_id: uuid.UUID
    address: str
    lon: float | None
    lat: float | None
    band: str
    status: StationStatus
    commissioned_on: date | None


class ImportResult(BaseModel):
    """A CSV import: how many rows were written, or every row's problems (and then nothing was written)."""

    created: int = 0
    updated: int = 0
    errors: list[dict[str, Any]] = Field(default_factory=list)


class DistrictDensity(BaseModel):
    """Base stations in service per district (the map), with the district's name as the map names it."""

    org_id: uuid.UUID
    name: str
    active: int
    total: int


# ---------------------------------------------------------------- backbone and interconnect links

labels.register(LinkKind, {LinkKind.BACKBONE_EGRESS: "Backbone egress", LinkKind.INTERCONNECT: "National interconnect",
                           LinkKind.DIRECT_CITY: "Provincial direct connection"})


class LinkCreate(InputModel):
    """A backbone or interconnect link."""

    name: str = Field(min_length=1, max_length=120)
    kind: LinkKind
    endpoint_a: str = Field(min_length=1, max_length=120)
    endpoint_b: str = Field(min_length=1, max_length=120)
    capacity_gbps: float = Field(gt=0, le=1_000_000)
    status: StationStatus = StationStatus.PLANNED
    commissioned_on: date | None = None

    @model_validator(mode="after")
    def _commissioned(self) -> LinkCreate:
        if self.status == StationStatus.ACTIVE and self.commissioned_on is None:
            raise ValueError("commissioned_on: a link in service has a commissioning date")
        return self


class Link(Timestamped):
    """A link as stored."""

    name: str
    kind: LinkKind
    endpoint_a: str
    endpoint_b: str
    capacity_gbps: float
    status: StationStatus
    commissioned_on: date | None


# ---------------------------------------------------------------- application scenarios

labels.register(ScenarioBatch, {ScenarioBatch.SMART_CITY: "Smart city", ScenarioBatch.LIVELIHOOD:
                                "Small entry, big livelihood", ScenarioBatch.G5: "5G",
                                ScenarioBatch.DATA_CHANNEL: "Data channel",
                                ScenarioBatch.FUTURE_COMMUNITY: "Future community"})
labels.register(ScenarioStatus, {ScenarioStatus.DECLARED: "Declared", ScenarioStatus.BUILDING: "Under construction",
                                 ScenarioStatus.BUILT: "Built", ScenarioStatus.ACCEPTED: "Accepted as delivered"})


class ScenarioCreate(InputModel):
    """A unit's proposal of a scenario (it starts declared), with what in the platform it uses."""

    name: str = Field(min_length=1, max_length=200)
    batch: ScenarioBatch
    year: int = Field(ge=2015, le=2100)
    owner_org_id: uuid.UUID
    district_org_id: uuid.UUID | None = None
    summary: str = Field("", max_length=4000)
    component_ids: list[uuid.UUID] = Field(default_factory=list, max_length=50)
    entry_ids: list[uuid.UUID] = Field(default_factory=list, max_length=50)
    device_ids: list[uuid.UUID] = Field(default_factory=list, max_length=50)
    cloud_resource_ids: list[uuid.UUID] = Field(default_factory=list, max_length=50)


class ScenarioTransition(InputModel):
    """Move a scenario to its next state (the transition table says who may)."""

    status: ScenarioStatus
    note: str = Field("", max_length=2000)


class Scenario(Timestamped):
    """A scenario as stored, with the ids of the components, catalog entries, devices and cloud resources it uses."""

    name: str
    batch: ScenarioBatch
    year: int
    owner_org_id: uuid.UUID
    district_org_id: uuid.UUID | None
    summary: str
    status: ScenarioStatus
    component_ids: list[uuid.UUID] = Field(default_factory=list)
    entry_ids: list[uuid.UUID] = Field(default_factory=list)
    device_ids: list[uuid.UUID] = Field(default_factory=list)
    cloud_resource_ids: list[uuid.UUID] = Field(default_factory=list)
    picture: bool = False  # a showcase picture was uploaded
    budget_planned: float | None = None
    budget_spent: float | None = None


class KpiIn(InputModel):
    """One indicator of a scenario: its name, unit, target and (once measured) actual value."""

    name: str = Field(min_length=1, max_length=100)
    unit: str = Field("", max_length=30)
    target: float = Field(ge=-1e15, le=1e15, allow_inf_nan=False)
    actual: float | None = Field(None, ge=-1e15, le=1e15, allow_inf_nan=False)


class ScenarioKpisSet(InputModel):
    """A scenario's indicators, replacing those it had (names unique, at most 20)."""

    kpis: list[KpiIn] = Field(max_length=20)


class ScenarioLinksSet(InputModel):
    """What a scenario uses, replaced kind by kind: a list given replaces that kind's links, an omitted one stays."""

    component_ids: list[uuid.UUID] | None = Field(None, max_length=50)
    entry_ids: list[uuid.UUID] | None = Field(None, max_length=50)
    device_ids: list[uuid.UUID] | None = Field(None, max_length=50)
    cloud_resource_ids: list[uuid.UUID] | None = Field(None, max_length=50)


class ScenarioBudgetSet(InputModel):
    """A scenario's budget in 万元: planned and spent so far (neither negative)."""

    budget_planned: float | None = Field(None, ge=0, le=1e12, allow_inf_nan=False)
    budget_spent: float | None = Field(None, ge=0, le=1e12, allow_inf_nan=False)


class ScenarioKpi(ReadModel):
    """A stored indicator, with how far its actual value is towards the target (None: not measured)."""

    id: uuid.UUID
    position: int
    name: str
    unit: str
    target: float
    actual: float | None
    achieved: float | None = None


class BatchSummary(BaseModel):
    """One batch: scenarios per status and how many count towards its target (built or accepted)."""

    batch: ScenarioBatch
    by_status: dict[str, int]
    delivered: int


# ---------------------------------------------------------------- digital economy

labels.register("apply.sector", {"big_data": "Big data", "ai": "Artificial intelligence", "ic": "Integrated circuits",
                                 "software": "Software and information services", "iot": "Internet of things",
                                 "blockchain": "Blockchain", "smart_hardware": "Smart hardware",
                                 "digital_content": "Digital content"})
labels.register("apply.size", {"large": "Large enterprise", "medium": "Medium enterprise",
                               "small": "Small enterprise", "micro": "Micro enterprise"})


class ParkCreate(InputModel):
    """A digital-economy park."""

    code: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")
    name: str = Field(min_length=1, max_length=120)
    district_org_id: uuid.UUID | None = None


class Park(Timestamped):
    """A park as stored, with how many registered enterprises it hosts."""

    code: str
    name: str
    district_org_id: uuid.UUID | None
    enterprises: int = 0


class EnterpriseCreate(InputModel):
    """A big-data / intelligence enterprise: its 统一社会信用代码 is checked (GB 32100-2015 check character)."""

    credit_code: str = Field(min_length=18, max_length=18)
    name: str = Field(min_length=1, max_length=200)
    sector: str = Field(min_length=1, max_length=30)
    size: str = Field(min_length=1, max_length=10)
    park_id: uuid.UUID | None = None

    @field_validator("credit_code", mode="before")
    @classmethod
    def _upper(cls, v: Any) -> Any:
        return v.strip().upper() if isinstance(v, str) else v

    @field_validator("credit_code")
    @classmethod
    def _uscc(cls, v: str) -> str:
        if not credit_code_ok(v):
            raise ValueError("not a valid unified social credit code (check character or alphabet)")
        return v


class Enterprise(Timestamped):
    """An enterprise as stored."""

    credit_code: str
    name: str
    sector: str
    size: str
    park_id: uuid.UUID | None
