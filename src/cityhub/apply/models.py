"""Tables of the programme cockpit (用).

The target tree (programme → layer → target), every value a target has had (computed from the layers or reported
by its owner), and the owners' reports with their evidence and the bureau's review. Organisations belong to core
and are referenced by id with a foreign key, as every domain does.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Date, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cityhub.kit import clock
from cityhub.kit.db import Base, Timestamps, UUIDPk, status_type


class NodeKind(StrEnum):
    """A node of the target tree."""

    PROGRAMME = "programme"
    LAYER = "layer"
    TARGET = "target"


class Method(StrEnum):
    """How a target's progress is obtained."""

    COMPUTED = "computed"  # from the layers' façades, by a named progress source (apply/progress/service.py)
    REPORTED = "reported"  # by the owner, with evidence, reviewed by the bureau
    NONE = "none"  # a grouping node: no value of its own


class ReportStatus(StrEnum):
    """Life of a progress report: submitted, then approved (the value counts) or rejected."""

    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"


class Target(UUIDPk, Timestamps, Base):
    """One node of the programme: the programme itself, a layer, or a target with its numbers."""

    __tablename__ = "apply_target"

    code: Mapped[str] = mapped_column(String(60), unique=True)
    parent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("apply_target.id"), index=True, default=None)
    kind: Mapped[NodeKind] = mapped_column(status_type(NodeKind), default=NodeKind.TARGET)
    position: Mapped[int] = mapped_column(Integer, default=0)
    layer: Mapped[str] = mapped_column(String(20), default="")
    title_zh: Mapped[str] = mapped_column(String(300))
    title_en: Mapped[str] = mapped_column(String(300), default="")
    year: Mapped[int | None] = mapped_column(Integer, default=None)
    unit: Mapped[str] = mapped_column(String(30), default="")
    owner_org_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_organization.id"), index=True,
                                                           default=None)
    source_text: Mapped[str] = mapped_column(Text, default="")
    baseline: Mapped[float] = mapped_column(Float, default=0.0)
    target_value: Mapped[float | None] = mapped_column(Float, default=None)
    start_date: Mapped[date | None] = mapped_column(Date, default=None)
    deadline: Mapped[date | None] = mapped_column(Date, default=None)
    method: Mapped[Method] = mapped_column(status_type(Method), default=Method.REPORTED)
    source_key: Mapped[str] = mapped_column(String(60), default="")
    current_value: Mapped[float | None] = mapped_column(Float, default=None)
    current_at: Mapped[datetime | None] = mapped_column(default=None)


class TargetValue(UUIDPk, Base):
    """One value a target had: computed at `at`, or an approved report's value."""

    __tablename__ = "apply_target_value"
    __table_args__ = (Index("ix_apply_target_value_target_at", "target_id", "at"),)

    target_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("apply_target.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=clock.now)
    value: Mapped[float] = mapped_column(Float)
    origin: Mapped[str] = mapped_column(String(20))  # computed | reported | baseline
    report_id: Mapped[uuid.UUID | None] = mapped_column(default=None)


class ProgressReport(UUIDPk, Timestamps, Base):
    """The owner's report of a reported target's value, with its evidence, and the bureau's review."""

    __tablename__ = "apply_progress_report"

    target_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("apply_target.id", ondelete="CASCADE"), index=True)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_organization.id"), index=True)
    reporter_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    value: Mapped[float] = mapped_column(Float)
    as_of: Mapped[date] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text, default="")
    evidence_url: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[ReportStatus] = mapped_column(status_type(ReportStatus), default=ReportStatus.SUBMITTED,
                                                 index=True)
    reviewer_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    reviewed_at: Mapped[datetime | None] = mapped_column(default=None)
    review_note: Mapped[str] = mapped_column(Text, default="")


class ReportEvidence(UUIDPk, Base):
    """A file attached to a progress report as its evidence (with, or instead of, the link).

    The bytes live under var_dir/apply/report-evidence/<id>; the row keeps what was checked (type, size, digest).
    """

    __tablename__ = "apply_report_evidence"

    report_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("apply_progress_report.id", ondelete="CASCADE"),
                                                 index=True)
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
    uploaded_at: Mapped[datetime] = mapped_column(default=clock.now)


# ---------------------------------------------------------------- annual evaluation (年度评比)


class OrgType(StrEnum):
    """Which units an evaluation scheme ranks: city departments, or districts and counties."""

    DEPARTMENT = "department"
    DISTRICT = "district"


class EvalStatus(StrEnum):
    """A run is computed (and recomputed, adjusted) while a draft; frozen, it never changes again."""

    DRAFT = "draft"
    FROZEN = "frozen"


class EvalScheme(UUIDPk, Timestamps, Base):
    """An evaluation scheme as data: the indicators (keys of `evaluation.INDICATORS`), their weights and full marks."""

    __tablename__ = "apply_eval_scheme"

    code: Mapped[str] = mapped_column(String(60), unique=True)
    title_zh: Mapped[str] = mapped_column(String(200))
    title_en: Mapped[str] = mapped_column(String(200), default="")
    org_type: Mapped[OrgType] = mapped_column(status_type(OrgType))
    indicators: Mapped[list[Any]] = mapped_column(default=list)  # [{"key", "weight", "full_at"}]


class EvalRun(UUIDPk, Timestamps, Base):
    """A scheme's run for one year, with a copy of the indicators it was computed with."""

    __tablename__ = "apply_eval_run"
    __table_args__ = (UniqueConstraint("scheme_id", "year", name="uq_apply_eval_run_scheme_year"),)

    scheme_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("apply_eval_scheme.id"), index=True)
    year: Mapped[int] = mapped_column(Integer)
    status: Mapped[EvalStatus] = mapped_column(status_type(EvalStatus), default=EvalStatus.DRAFT)
    indicators: Mapped[list[Any]] = mapped_column(default=list)
    computed_at: Mapped[datetime | None] = mapped_column(default=None)
    frozen_at: Mapped[datetime | None] = mapped_column(default=None)
    frozen_by: Mapped[uuid.UUID | None] = mapped_column(default=None)


class EvalScore(UUIDPk, Timestamps, Base):
    """One unit's result in a run: each indicator's value and score, the bureau's scores and adjustment, the rank."""

    __tablename__ = "apply_eval_score"
    __table_args__ = (UniqueConstraint("run_id", "org_id", name="uq_apply_eval_score_run_org"),)

    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("apply_eval_run.id", ondelete="CASCADE"), index=True)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_organization.id"), index=True)
    breakdown: Mapped[list[Any]] = mapped_column(default=list)  # [{"key", "weight", "value", "score"}]
    manual: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the bureau's scores of bureau-scored indicators
    computed: Mapped[float] = mapped_column(Float, default=0.0)
    adjustment: Mapped[float] = mapped_column(Float, default=0.0)
    adjustment_reason: Mapped[str] = mapped_column(Text, default="")
    total: Mapped[float] = mapped_column(Float, default=0.0)
    rank: Mapped[int] = mapped_column(Integer, default=0)


class EvalEvidence(UUIDPk, Base):
    """A file a unit (or the bureau) attaches as evidence for one indicator of its score in a run.

    The bytes live under var_dir/apply/evidence/<id>; the row keeps what was checked (type, size, digest).
    """

    __tablename__ = "apply_eval_evidence"
    __table_args__ = (Index("ix_apply_eval_evidence_run_org", "run_id", "org_id"),)

    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("apply_eval_run.id", ondelete="CASCADE"))
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_organization.id"))
    indicator_key: Mapped[str] = mapped_column(String(60))
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
    uploaded_at: Mapped[datetime] = mapped_column(default=clock.now)


# ---------------------------------------------------------------- 5G base stations (联)


class StationStatus(StrEnum):
    """A 5G base station's state in the register."""

    PLANNED = "planned"
    BUILDING = "building"
    ACTIVE = "active"  # commissioned and in service: counts towards the 5G target
    RETIRED = "retired"


class BaseStation(UUIDPk, Timestamps, Base):
    """A 5G base station: its operator's site code, district, location, band, status and commissioning date."""

    __tablename__ = "apply_base_station"
    __table_args__ = (UniqueConstraint("carrier", "site_code", name="uq_apply_base_station_carrier_site"),)

    carrier: Mapped[str] = mapped_column(String(20))  # reference.CARRIERS
    site_code: Mapped[str] = mapped_column(String(60))
    district_org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_organization.id"), index=True)
    address: Mapped[str] = mapped_column(String(300), default="")
    lon: Mapped[float | None] = mapped_column(Float, default=None)
    lat: Mapped[float | None] = mapped_column(Float, default=None)
    band: Mapped[str] = mapped_column(String(10))  # reference.BANDS
    status: Mapped[StationStatus] = mapped_column(status_type(StationStatus), default=StationStatus.PLANNED,
                                                  index=True)
    commissioned_on: Mapped[date | None] = mapped_column(Date, default=None)


class LinkKind(StrEnum):
    """What a network link counts towards: backbone egress (Tbps), the national interconnect (G), a direct city."""

    BACKBONE_EGRESS = "backbone_egress"
    INTERCONNECT = "interconnect"
    DIRECT_CITY = "direct_city"


class NetworkLink(UUIDPk, Timestamps, Base):
    """A backbone or interconnect link: its endpoints, capacity, status and commissioning date."""

    __tablename__ = "apply_network_link"

    name: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[LinkKind] = mapped_column(status_type(LinkKind), index=True)
    endpoint_a: Mapped[str] = mapped_column(String(120))
    endpoint_b: Mapped[str] = mapped_column(String(120))
    capacity_gbps: Mapped[float] = mapped_column(Float)
    status: Mapped[StationStatus] = mapped_column(status_type(StationStatus), default=StationStatus.PLANNED)
    commissioned_on: Mapped[date | None] = mapped_column(Date, default=None)


# ---------------------------------------------------------------- application scenarios (应用场景)


class ScenarioBatch(StrEnum):
    """The plan's batches of application scenarios; each feeds the target of the same name."""

    SMART_CITY = "smart_city"  # 智慧城市
    LIVELIHOOD = "livelihood"  # 小切口大民生
    G5 = "5g"  # 5G
    DATA_CHANNEL = "data_channel"  # 中新数据通道
    FUTURE_COMMUNITY = "future_community"  # 未来社区


class ScenarioStatus(StrEnum):
    """A scenario's life (the transition table is FLOW in `apply/scenarios/service.py`).

    Declared by its unit (申报), accepted into building by the bureau (建设中), built by the unit (已建成),
    accepted as delivered by the bureau (已验收). Built and accepted scenarios count towards the batch's target.
    """

    DECLARED = "declared"
    BUILDING = "building"
    BUILT = "built"
    ACCEPTED = "accepted"


class Scenario(UUIDPk, Timestamps, Base):
    """An application scenario: its batch, year, owner unit, district and state in the programme."""

    __tablename__ = "apply_scenario"
    __table_args__ = (UniqueConstraint("batch", "name", name="uq_apply_scenario_batch_name"),)

    name: Mapped[str] = mapped_column(String(200))
    batch: Mapped[ScenarioBatch] = mapped_column(status_type(ScenarioBatch), index=True)
    year: Mapped[int] = mapped_column(Integer)
    owner_org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_organization.id"), index=True)
    district_org_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_organization.id"), default=None)
    summary: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[ScenarioStatus] = mapped_column(status_type(ScenarioStatus), default=ScenarioStatus.DECLARED,
                                                   index=True)
    proposed_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
    budget_planned: Mapped[float | None] = mapped_column(Float, default=None)  # 万元
    budget_spent: Mapped[float | None] = mapped_column(Float, default=None)  # 万元
    # the showcase picture (PNG/JPEG) the owner unit uploaded: bytes at var_dir/apply/scenario-pictures/<id>
    picture_type: Mapped[str] = mapped_column(String(20), default="")
    picture_sha256: Mapped[str] = mapped_column(String(64), default="")


class ScenarioKpi(UUIDPk, Base):
    """One indicator of a scenario: what it should reach (target) and what it has reached (actual)."""

    __tablename__ = "apply_scenario_kpi"
    __table_args__ = (UniqueConstraint("scenario_id", "name", name="uq_apply_scenario_kpi_scenario_name"),)

    scenario_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("apply_scenario.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(100))
    unit: Mapped[str] = mapped_column(String(30), default="")
    target: Mapped[float] = mapped_column(Float)
    actual: Mapped[float | None] = mapped_column(Float, default=None)


class ScenarioLinkKind(StrEnum):
    """What in the platform a scenario uses."""

    COMPONENT = "component"  # a capability component (算)
    CATALOG_ENTRY = "catalog_entry"  # a data catalog entry (数)
    DEVICE = "device"  # a connected device (联)
    CLOUD_RESOURCE = "cloud_resource"  # a cloud node or bucket (云)


class ScenarioLink(UUIDPk, Base):
    """A scenario's use of a component, catalog entry, device or cloud resource ("which scenarios use this?")."""

    __tablename__ = "apply_scenario_link"
    __table_args__ = (UniqueConstraint("scenario_id", "kind", "ref_id", name="uq_apply_scenario_link"),
                      Index("ix_apply_scenario_link_kind_ref", "kind", "ref_id"))

    scenario_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("apply_scenario.id", ondelete="CASCADE"))
    kind: Mapped[ScenarioLinkKind] = mapped_column(status_type(ScenarioLinkKind))
    ref_id: Mapped[uuid.UUID] = mapped_column()


# ---------------------------------------------------------------- digital economy (数字经济)


class DigitalPark(UUIDPk, Timestamps, Base):
    """A digital-economy park (两江数字经济产业园, 西永微电园…) and the district it lies in."""

    __tablename__ = "apply_digital_park"

    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    district_org_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_organization.id"), default=None)


class Enterprise(UUIDPk, Timestamps, Base):
    """A big-data / intelligence enterprise: its 统一社会信用代码, sector, park and size (counts towards 1,000)."""

    __tablename__ = "apply_enterprise"

    credit_code: Mapped[str] = mapped_column(String(18), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    sector: Mapped[str] = mapped_column(String(30), index=True)  # reference.SECTORS
    size: Mapped[str] = mapped_column(String(10))  # reference.SIZES
    park_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("apply_digital_park.id"), index=True, default=None)


class ProjectStatus(StrEnum):
    """A key project's life (the transition table is FLOW in `apply/projects/service.py`)."""

    PLANNED = "planned"  # 计划
    UNDER_CONSTRUCTION = "under_construction"  # 在建
    COMPLETED = "completed"  # 竣工
    SUSPENDED = "suspended"  # 暂停


class KeyProject(UUIDPk, Timestamps, Base):
    """A digital-economy key project (数字经济重点项目): where, who leads it, what it costs and how far it got.

    `investment_completed` is the figure of its latest progress report (万元, cumulative to date), kept here so lists
    and sums read one table.
    """

    __tablename__ = "apply_key_project"

    name: Mapped[str] = mapped_column(String(200), unique=True)
    park_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("apply_digital_park.id"), index=True, default=None)
    lead_enterprise_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("apply_enterprise.id"), index=True,
                                                                 default=None)
    district_org_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_organization.id"), index=True,
                                                              default=None)
    owner_org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_organization.id"), index=True)
    sector: Mapped[str] = mapped_column(String(30), index=True)  # reference.SECTORS
    investment_total: Mapped[float] = mapped_column(Float)  # 万元
    investment_completed: Mapped[float] = mapped_column(Float, default=0.0)  # 万元, cumulative to date
    planned_start: Mapped[date | None] = mapped_column(Date, default=None)
    planned_finish: Mapped[date | None] = mapped_column(Date, default=None)
    status: Mapped[ProjectStatus] = mapped_column(status_type(ProjectStatus), default=ProjectStatus.PLANNED,
                                                  index=True)
    description: Mapped[str] = mapped_column(Text, default="")


class KeyProjectReport(UUIDPk, Base):
    """A periodic progress report of a key project: investment completed to date as of a day, and the milestone."""

    __tablename__ = "apply_key_project_report"
    __table_args__ = (UniqueConstraint("project_id", "as_of", name="uq_apply_key_project_report_as_of"),)

    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("apply_key_project.id", ondelete="CASCADE"), index=True)
    as_of: Mapped[date] = mapped_column(Date)
    investment_completed: Mapped[float] = mapped_column(Float)  # 万元, cumulative to `as_of`
    milestone: Mapped[str] = mapped_column(Text, default="")
    reported_at: Mapped[datetime] = mapped_column(default=clock.now)
    reported_by: Mapped[uuid.UUID | None] = mapped_column(default=None)


# ---------------------------------------------------------------- data channel and data centres (联, 云)


class ChannelUser(UUIDPk, Timestamps, Base):
    """A user of the 中新（重庆）international data channel: the organisation, its circuit's bandwidth and status.

    Users in service feed two targets: their count (50 new users) and the sum of their bandwidth (+1,000 M).
    """

    __tablename__ = "apply_channel_user"

    name: Mapped[str] = mapped_column(String(200), unique=True)
    credit_code: Mapped[str] = mapped_column(String(18), default="")  # checked when given (GB 32100)
    sector: Mapped[str] = mapped_column(String(30))  # reference.CHANNEL_SECTORS
    district_org_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_organization.id"), default=None)
    bandwidth_mbps: Mapped[float] = mapped_column(Float)
    status: Mapped[StationStatus] = mapped_column(status_type(StationStatus), default=StationStatus.PLANNED,
                                                  index=True)
    commissioned_on: Mapped[date | None] = mapped_column(Date, default=None)


class DataCentre(UUIDPk, Timestamps, Base):
    """A data centre: tier, operator, site, racks and servers, PUE, its role in 两地三中心, the cloud pools it hosts.

    Servers of data centres in service at the 两江 cloud park feed the 300,000-server target.
    """

    __tablename__ = "apply_data_centre"

    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    operator: Mapped[str] = mapped_column(String(120))
    tier: Mapped[str] = mapped_column(String(4))  # reference.DC_TIERS (GB 50174 A / B / C)
    role: Mapped[str] = mapped_column(String(20))  # reference.DC_ROLES (两地三中心)
    site: Mapped[str] = mapped_column(String(200), default="")
    district_org_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_organization.id"), default=None)
    liangjiang_park: Mapped[bool] = mapped_column(default=False)  # in the 两江国际云计算产业园
    racks: Mapped[int] = mapped_column(Integer, default=0)
    servers: Mapped[int] = mapped_column(Integer, default=0)
    pue: Mapped[float | None] = mapped_column(Float, default=None)
    status: Mapped[StationStatus] = mapped_column(status_type(StationStatus), default=StationStatus.PLANNED)
    commissioned_on: Mapped[date | None] = mapped_column(Date, default=None)


class DataCentrePool(UUIDPk, Base):
    """A cloud pool (云) hosted in a data centre; a pool is hosted in one data centre."""

    __tablename__ = "apply_data_centre_pool"

    data_centre_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("apply_data_centre.id", ondelete="CASCADE"),
                                                      index=True)
    pool_id: Mapped[uuid.UUID] = mapped_column(unique=True)  # cloud_pool.id, checked through the cloud façade


# ---------------------------------------------------------------- the 全景 screen's figures, kept computed


class PanoramaSnapshot(Base):
    """The 全景 screen's figures as last computed (one row per view; `city` is the only one).

    The worker (`cityhub apply panorama-worker`) rewrites it every few seconds and whenever a write asks for it
    (`requested_at` later than the start of the last reading); a request only reads it.
    """

    __tablename__ = "apply_panorama_snapshot"

    key: Mapped[str] = mapped_column(String(20), primary_key=True)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    computed_at: Mapped[datetime] = mapped_column(default=clock.now)  # when the reading started
    requested_at: Mapped[datetime | None] = mapped_column(default=None)
    version: Mapped[int] = mapped_column(Integer, default=0)
