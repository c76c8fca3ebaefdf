"""Pydantic schemas of the programme cockpit: targets (input and read), their values and progress, reports."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field, field_validator, model_validator

from cityhub.apply.models import (
    EvalStatus,
    LinkKind,
    Method,
    NodeKind,
    OrgType,
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


# ---------------------------------------------------------------- annual evaluation (年度评比)

labels.register(OrgType, {OrgType.DEPARTMENT: "City departments", OrgType.DISTRICT: "Districts and counties"})
labels.register(EvalStatus, {EvalStatus.DRAFT: "Draft", EvalStatus.FROZEN: "Frozen"})


class IndicatorSpec(InputModel):
    """One indicator of a scheme: a key of the registry, its weight, and the value that earns full marks.

    None takes the indicator's own full marks (e.g. the unit's 上云率 target).
    """

    key: str = Field(min_length=1, max_length=60)
    weight: float = Field(gt=0, le=100)
    full_at: float | None = Field(None, gt=0, le=1_000_000)


class SchemeCreate(InputModel):
    """An evaluation scheme: which units it ranks and with which weighted indicators."""

    code: str = Field(pattern=_CODE)
    title_zh: str = Field(min_length=1, max_length=200)
    title_en: str = Field("", max_length=200)
    org_type: OrgType
    indicators: list[IndicatorSpec] = Field(min_length=1, max_length=30)


class SchemeUpdate(InputModel):
    """Change a scheme's titles or indicators (runs already computed keep the copy they were computed with)."""

    title_zh: str | None = Field(None, min_length=1, max_length=200)
    title_en: str | None = Field(None, max_length=200)
    indicators: list[IndicatorSpec] | None = Field(None, min_length=1, max_length=30)


class Scheme(Timestamped):
    """A scheme as stored."""

    code: str
    title_zh: str
    title_en: str
    org_type: OrgType
    indicators: list[dict[str, Any]]


class RunCreate(InputModel):
    """Compute (or recompute, while a draft) a scheme's run for a year."""

    scheme_id: uuid.UUID
    year: int = Field(ge=2000, le=2100)


class Run(Timestamped):
    """A yearly run."""

    scheme_id: uuid.UUID
    year: int
    status: EvalStatus
    indicators: list[dict[str, Any]]
    computed_at: datetime | None
    frozen_at: datetime | None


class Adjustment(InputModel):
    """The bureau's adjustment of one unit's result, and its scores of bureau-scored indicators, with a reason."""

    adjustment: float | None = Field(None, ge=-20, le=20)
    manual: dict[str, float] | None = None
    reason: str = Field(min_length=2, max_length=2000)

    @field_validator("manual")
    @classmethod
    def _scores(cls, v: dict[str, float] | None) -> dict[str, float] | None:
        if v is not None and any(not 0 <= x <= 100 for x in v.values()):
            raise ValueError("scores from 0 to 100")
        return v


class RankRow(BaseModel):
    """One unit's place in the ranking (everyone's ranking is visible to every member of staff)."""

    org_id: uuid.UUID
    org_name: str
    rank: int
    total: float
    adjusted: bool


class IndicatorResult(BaseModel):
    """One indicator of a unit's scorecard: the measured value, full marks, the score (0-100) and the weight."""

    key: str
    weight: float
    value: float | None
    full_at: float | None
    score: float | None  # None: not applicable to the unit (its weight goes to the others)


class ScoreCard(BaseModel):
    """A unit's scorecard in a run (the bureau, the unit's staff and its 云长 see it)."""

    run_id: uuid.UUID
    year: int
    status: EvalStatus
    org_id: uuid.UUID
    org_name: str
    head: str
    rank: int
    units: int
    computed: float
    adjustment: float
    adjustment_reason: str
    total: float
    breakdown: list[IndicatorResult]


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


class ScenarioTransition(InputModel):
    """Move a scenario to its next state (the transition table says who may)."""

    status: ScenarioStatus
    note: str = Field("", max_length=2000)


class Scenario(Timestamped):
    """A scenario as stored, with the ids of the components and catalog entries it uses."""

    name: str
    batch: ScenarioBatch
    year: int
    owner_org_id: uuid.UUID
    district_org_id: uuid.UUID | None
    summary: str
    status: ScenarioStatus
    component_ids: list[uuid.UUID] = Field(default_factory=list)
    entry_ids: list[uuid.UUID] = Field(default_factory=list)


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


# ---------------------------------------------------------------- data channel and data centres

labels.register("apply.channel_sector", {"finance": "Finance", "logistics": "Logistics", "health": "Health care",
                                         "manufacturing": "Manufacturing", "software": "Software and services",
                                         "games": "Games and media", "research": "Research", "other": "Other"})
labels.register("apply.dc_role", {"production": "Production centre", "local_backup": "Same-city backup",
                                  "remote_backup": "Remote backup"})


class ChannelUserCreate(InputModel):
    """A user of the international data channel; its credit code, when given, is checked (GB 32100-2015)."""

    name: str = Field(min_length=2, max_length=200)
    credit_code: str = Field("", max_length=18)
    sector: str = Field(min_length=1, max_length=30)
    district_org_id: uuid.UUID | None = None
    bandwidth_mbps: float = Field(gt=0, le=100_000)
    status: StationStatus = StationStatus.PLANNED
    commissioned_on: date | None = None

    @field_validator("credit_code", mode="before")
    @classmethod
    def _upper(cls, v: Any) -> Any:
        return v.strip().upper() if isinstance(v, str) else v

    @field_validator("credit_code")
    @classmethod
    def _uscc(cls, v: str) -> str:
        if v and not credit_code_ok(v):
            raise ValueError("not a valid unified social credit code (check character or alphabet)")
        return v

    @model_validator(mode="after")
    def _commissioned(self) -> ChannelUserCreate:
        if self.status == StationStatus.ACTIVE and self.commissioned_on is None:
            raise ValueError("commissioned_on: a user in service has a commissioning date")
        return self


class ChannelUser(Timestamped):
    """A channel user as stored."""

    name: str
    credit_code: str
    sector: str
    district_org_id: uuid.UUID | None
    bandwidth_mbps: float
    status: StationStatus
    commissioned_on: date | None


class DataCentreCreate(InputModel):
    """A data centre: class, operator, site, capacity, PUE, its 两地三中心 role and the cloud pools it hosts."""

    code: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")
    name: str = Field(min_length=2, max_length=120)
    operator: str = Field(min_length=1, max_length=120)
    tier: str = Field(min_length=1, max_length=4)
    role: str = Field(min_length=1, max_length=20)
    site: str = Field("", max_length=200)
    district_org_id: uuid.UUID | None = None
    liangjiang_park: bool = False
    racks: int = Field(0, ge=0, le=1_000_000)
    servers: int = Field(0, ge=0, le=10_000_000)
    pue: float | None = Field(None, ge=1.0, le=3.0)
    status: StationStatus = StationStatus.PLANNED
    commissioned_on: date | None = None
    pool_ids: list[uuid.UUID] = Field(default_factory=list, max_length=100)

    @model_validator(mode="after")
    def _commissioned(self) -> DataCentreCreate:
        if self.status == StationStatus.ACTIVE and self.commissioned_on is None:
            raise ValueError("commissioned_on: a data centre in service has a commissioning date")
        return self


class DataCentre(Timestamped):
    """A data centre as stored, with the cloud pools it hosts (id and name)."""

    code: str
    name: str
    operator: str
    tier: str
    role: str
    site: str
    district_org_id: uuid.UUID | None
    liangjiang_park: bool
    racks: int
    servers: int
    pue: float | None
    status: StationStatus
    commissioned_on: date | None
    pools: list[dict[str, Any]] = Field(default_factory=list)


class FacilityTotals(BaseModel):
    """What the two registers add up to (the figures their targets read)."""

    channel_users_active: int = 0
    channel_bandwidth_mbps: float = 0.0
    data_centres_active: int = 0
    servers_active: int = 0
    liangjiang_servers: int = 0
    racks_active: int = 0
    pue_mean: float | None = None

labels.register("apply.layer", {"cloud": "Cloud layer", "connect": "Connect layer", "data": "Data layer",
                                "compute": "Compute layer", "ops": "Operations layer", "apply": "Apply layer"})


class Evidence(ReadModel):
    """An evidence file of a unit's evaluation indicator (what was checked; the bytes are downloaded apart)."""

    id: uuid.UUID
    run_id: uuid.UUID
    org_id: uuid.UUID
    indicator_key: str
    filename: str
    content_type: str
    size: int
    sha256: str
    uploaded_at: datetime
