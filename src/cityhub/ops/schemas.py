"""Pydantic models of the operations center: inputs (extra fields forbidden) and read models."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, model_validator

from cityhub.kit import labels
from cityhub.kit.schemas import INT32_MAX, IDSchema, InputModel, ReadModel, Timestamped
from cityhub.ops.models import IncidentSource, IncidentStatus, RuleKind, Severity

__all__ = ["IncidentSource", "IncidentStatus", "RuleKind", "Severity"]


class Theme(StrEnum):
    """Indicator themes."""

    ECONOMY = "economy"
    ENVIRONMENT = "environment"
    CONSTRUCTION = "construction"
    ENERGY = "energy"


class IndicatorSource(StrEnum):
    """Where an indicator's values come from."""

    TELEMETRY = "telemetry"  # an aggregate of a metric over the devices of a profile
    DATASTORE = "datastore"  # a number pushed by a datastore job (POST .../values with source=datastore)
    MANUAL = "manual"


labels.register(Theme, {Theme.ECONOMY: "Economy", Theme.ENVIRONMENT: "Environment",
                        Theme.CONSTRUCTION: "Construction", Theme.ENERGY: "Energy"})
labels.register(IndicatorSource, {IndicatorSource.TELEMETRY: "Telemetry aggregate",
                                  IndicatorSource.DATASTORE: "Data resource job",
                                  IndicatorSource.MANUAL: "Entered by hand"})


SEVERITIES = [s.value for s in Severity]
SEVERITY_RANK = {s.value: i for i, s in enumerate(Severity)}  # 0 = most severe
INCIDENT_STATUSES = [s.value for s in IncidentStatus]
CATEGORIES = ("bridge", "pipe_gallery", "traffic", "environment", "building", "road", "sanitation", "water",
              "public_safety", "other")


class AlarmStatus(StrEnum):
    """ThingsBoard's combined alarm status (derived from the cleared and acknowledged flags)."""

    ACTIVE_UNACK = "ACTIVE_UNACK"
    ACTIVE_ACK = "ACTIVE_ACK"
    CLEARED_UNACK = "CLEARED_UNACK"
    CLEARED_ACK = "CLEARED_ACK"


# ---- what people read instead of the codes (kit.labels; zh_CN in ops/locale/zh_CN.po)
labels.register(Severity, {Severity.CRITICAL: "Critical", Severity.MAJOR: "Major", Severity.MINOR: "Minor",
                           Severity.WARNING: "Warning", Severity.INDETERMINATE: "Indeterminate"})
labels.register(AlarmStatus, {AlarmStatus.ACTIVE_UNACK: "Active, not acknowledged",
                              AlarmStatus.ACTIVE_ACK: "Active, acknowledged",
                              AlarmStatus.CLEARED_UNACK: "Cleared, not acknowledged",
                              AlarmStatus.CLEARED_ACK: "Cleared and acknowledged"})
labels.register(RuleKind, {RuleKind.THRESHOLD: "Threshold", RuleKind.RATE: "Rate of change",
                           RuleKind.NO_DATA: "No data", RuleKind.ANOMALY: "Anomaly",
                           RuleKind.FORECAST: "Forecast warning"})
labels.register(IncidentStatus, {IncidentStatus.NEW: "New", IncidentStatus.DISPATCHED: "Dispatched",
                                 IncidentStatus.ACCEPTED: "Accepted", IncidentStatus.IN_PROGRESS: "In progress",
                                 IncidentStatus.RESOLVED: "Resolved", IncidentStatus.CLOSED: "Closed",
                                 IncidentStatus.REOPENED: "Reopened"})
labels.register(IncidentSource, {IncidentSource.ALARM: "From an alarm", IncidentSource.OPERATOR: "By an operator",
                                 IncidentSource.CITIZEN: "Citizen report"})
labels.register("ops.category", {"bridge": "Bridges", "pipe_gallery": "Utility tunnels", "traffic": "Traffic",
                                 "environment": "Environment", "building": "Buildings", "road": "Roads",
                                 "sanitation": "Sanitation", "water": "Water supply",
                                 "public_safety": "Public safety", "other": "Other"})
labels.register("ops.incident_event", {"created": "Created", "dispatched": "Dispatched",
                                       "alarm_linked": "Alarm linked", "transition": "Status changed",
                                       "comment": "Comment", "shared": "Shared", "attachment": "Attachment",
                                       "sla_escalated": "SLA escalated", "assigned": "Given to a team"})
labels.register("ops.operator", {">": "greater than", ">=": "at least", "<": "less than", "<=": "at most",
                                 "==": "equal to", "!=": "not equal to", "abs>": "magnitude greater than",
                                 "abs>=": "magnitude at least"})
labels.register("ops.band", {"warning": "Early warning", "critical": "Critical band"})
labels.register("ops.direction", {"lower": "Lower is better", "higher": "Higher is better"})
# units of the city indicators that are words rather than symbols
UNIT_WORDS = "ops.unit"
labels.register(UNIT_WORDS, {"亿千瓦时": "100 million kWh", "万立方米": "10,000 m³", "万吨": "10,000 t",
                             "万人次": "10,000 trips", "亿元": "100 million yuan", "辆": "vehicles", "人": "people"})
_NAME = Field(min_length=1, max_length=200)
_KEY = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
_FINITE = Field(allow_inf_nan=False, ge=-1e15, le=1e15)


class Condition(InputModel):
    """A comparison (threshold, rate) or the anomaly settings (z, alpha, min_samples)."""

    op: str = Field(">", max_length=5)
    value: float | None = Field(None, allow_inf_nan=False, ge=-1e15, le=1e15)
    z: float | None = Field(None, gt=0, le=100, allow_inf_nan=False)
    alpha: float | None = Field(None, gt=0, lt=1, allow_inf_nan=False)
    min_samples: int | None = Field(None, ge=2, le=100_000)
    horizon_s: int | None = Field(None, ge=60, le=7 * 86400)  # forecast rules: how far ahead the forecast looks


class ClearCondition(InputModel):
    """The separate clear condition (for anomaly rules: clear when |z| < value)."""

    op: str = Field("<", max_length=5)
    value: float = _FINITE


class RuleCreate(InputModel):
    """A rule as data.

    threshold: condition + duration_s or repeat_count; rate: change per minute; no_data: no_data_s;
    anomaly: condition.z/alpha/min_samples; forecast: condition op/value/horizon_s (the forecast meets the
    comparison within horizon_s seconds).
    """

    name: str = _NAME
    org_id: uuid.UUID | None = None  # owner; defaults to the caller's organisation
    kind: RuleKind
    profile_code: str | None = Field(None, min_length=1, max_length=64)
    asset_id: uuid.UUID | None = None
    device_id: uuid.UUID | None = None  # one device (its profile is the rule's); not with asset_id
    key: str = Field("", max_length=64, pattern=r"^[A-Za-z0-9_.\-]*$")
    alarm_type: str = Field("", max_length=100)
    severity: Severity = Severity.MAJOR
    condition: Condition | None = None
    clear_condition: ClearCondition | None = None
    duration_s: int = Field(0, ge=0, le=30 * 86400)
    repeat_count: int = Field(1, ge=1, le=10_000)
    no_data_s: int = Field(0, ge=0, le=30 * 86400)
    auto_incident: bool = False
    category: str = Field("", max_length=40)
    enabled: bool = True


class RuleUpdate(InputModel):
    """Change a rule (every field optional)."""

    name: str | None = Field(None, min_length=1, max_length=200)
    severity: Severity | None = None
    condition: Condition | None = None
    clear_condition: ClearCondition | None = None
    duration_s: int | None = Field(None, ge=0, le=30 * 86400)
    repeat_count: int | None = Field(None, ge=1, le=10_000)
    no_data_s: int | None = Field(None, ge=0, le=30 * 86400)
    auto_incident: bool | None = None
    category: str | None = Field(None, max_length=40)
    enabled: bool | None = None


class Rule(Timestamped):
    """A rule."""

    org_id: uuid.UUID
    name: str
    kind: str
    profile_code: str | None
    asset_id: uuid.UUID | None
    device_id: uuid.UUID | None = None
    key: str
    alarm_type: str
    severity: str
    condition: dict[str, Any]
    clear_condition: dict[str, Any] | None
    duration_s: int
    repeat_count: int
    no_data_s: int
    auto_incident: bool
    category: str
    enabled: bool
    errors: int
    last_error: str
    last_error_at: datetime | None


class PreviewFiring(BaseModel):
    """One alarm the rule would have raised in the preview window."""

    device_id: uuid.UUID
    device_name: str = ""
    raised_at: datetime
    cleared_at: datetime | None = None
    value: float | None = None


class RulePreview(BaseModel):
    """What a rule would have done over the last 24 h of stored data."""

    start: datetime
    end: datetime
    devices: int
    points: int
    fired: int
    cleared: int
    firings: list[PreviewFiring]


def unit_text(unit: str) -> str:
    """An indicator's unit as the reader reads it: words translated ('万立方米' → '10,000 m³'), symbols as they are."""
    return labels.label(unit, UNIT_WORDS) if unit in labels.vocabularies()[UNIT_WORDS] else unit


def alarm_status(cleared: bool, acknowledged: bool) -> str:
    """ThingsBoard's combined alarm status: ACTIVE_UNACK, ACTIVE_ACK, CLEARED_UNACK, CLEARED_ACK."""
    return AlarmStatus(f"{'CLEARED' if cleared else 'ACTIVE'}_{'ACK' if acknowledged else 'UNACK'}").value


class Alarm(IDSchema):
    """An alarm; `status` is derived from the cleared and acknowledged flags."""

    org_id: uuid.UUID
    originator_type: str
    originator_id: uuid.UUID
    originator_name: str
    type: str
    severity: str
    status: str = ""
    acknowledged: bool
    cleared: bool
    assignee_id: uuid.UUID | None
    start_ts: datetime
    end_ts: datetime
    ack_ts: datetime | None
    clear_ts: datetime | None
    count: int
    details: dict[str, Any]
    rule_id: uuid.UUID | None
    district_id: uuid.UUID | None
    lon: float | None
    lat: float | None
    incident_id: uuid.UUID | None

    @model_validator(mode="after")
    def _combined_status(self) -> Alarm:
        self.status = alarm_status(self.cleared, self.acknowledged)
        return self


class AlarmCreate(InputModel):
    """An alarm raised by hand (an operator, or another system through the API)."""

    originator_type: str = Field("device", pattern="^(device|asset)$")
    originator_id: uuid.UUID
    type: str = Field(min_length=1, max_length=100)
    severity: Severity = Severity.MAJOR
    details: dict[str, Any] = Field(default_factory=dict, max_length=50)


class AlarmAssign(InputModel):
    """Assign an alarm to a user (or unassign with null)."""

    assignee_id: uuid.UUID | None


class AlarmStats(BaseModel):
    """Active alarms by severity and by district."""

    by_severity: dict[str, int]
    by_district: dict[str, int]
    total_active: int
    unacknowledged: int


class IncidentCreate(InputModel):
    """An incident opened by an operator (optionally from alarms)."""

    title: str = _NAME
    description: str = Field("", max_length=5000)
    category: str = Field("other", max_length=40)
    severity: Severity = Severity.MAJOR
    alarm_ids: list[uuid.UUID] = Field(default_factory=list, max_length=100)
    org_id: uuid.UUID | None = None  # dispatch straight to this department (else the routing table decides)
    district_id: uuid.UUID | None = None
    lon: float | None = Field(None, ge=-180, le=180, allow_inf_nan=False)
    lat: float | None = Field(None, ge=-90, le=90, allow_inf_nan=False)


class IncidentTransition(InputModel):
    """Move an incident to another status (dispatch may name the department)."""

    status: IncidentStatus
    note: str = Field("", max_length=2000)
    org_id: uuid.UUID | None = None


class IncidentAssign(InputModel):
    """Give an open incident to a field team (of another department: a dispatch there, the center's)."""

    team: str = Field(min_length=1, max_length=100)
    org_id: uuid.UUID | None = None  # the team's department; none: the incident's own
    note: str = Field("", max_length=2000)


class IncidentShareCreate(InputModel):
    """Share an incident with another department."""

    org_id: uuid.UUID


class CommentCreate(InputModel):
    """A comment on an incident."""

    text: str = Field(min_length=1, max_length=5000)


class Incident(Timestamped):
    """An incident."""

    number: str
    title: str
    description: str
    category: str
    severity: str
    status: str
    source: str
    org_id: uuid.UUID | None
    district_id: uuid.UUID | None
    originator_id: uuid.UUID | None
    lon: float | None
    lat: float | None
    created_by: str
    dispatched_at: datetime | None
    accepted_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    accept_due_at: datetime | None
    resolve_due_at: datetime | None
    sla_breached: bool
    escalation_level: int
    team: str = ""


class IncidentEvent(ReadModel):
    """One line of the timeline."""

    id: int
    at: datetime
    actor_name: str
    kind: str
    from_status: str
    to_status: str
    text: str
    data: dict[str, Any]


class Attachment(IDSchema):
    """An attachment's metadata."""

    incident_id: uuid.UUID
    filename: str
    content_type: str
    size: int
    sha256: str
    uploaded_by: str
    uploaded_at: datetime


class IncidentDetail(Incident):
    """An incident with its timeline, attachments and alarms."""

    events: list[IncidentEvent] = Field(default_factory=list)
    attachments: list[Attachment] = Field(default_factory=list)
    alarms: list[Alarm] = Field(default_factory=list)
    shared_with: list[uuid.UUID] = Field(default_factory=list)


class CitizenReportCreate(InputModel):
    """A citizen report (anonymous): what, where, optionally a photo (base64, JPEG/PNG/WebP)."""

    category: str = Field(min_length=1, max_length=40)
    description: str = Field(min_length=5, max_length=2000)
    lon: float | None = Field(None, ge=-180, le=180, allow_inf_nan=False)
    lat: float | None = Field(None, ge=-90, le=90, allow_inf_nan=False)
    contact: str = Field("", max_length=100)
    photo_base64: str | None = Field(None, max_length=7_000_000)


class ReportReceipt(BaseModel):
    """What the citizen gets back: a tracking code."""

    code: str
    status: str
    received_at: datetime


class RoutingRuleCreate(InputModel):
    """One line of the routing table."""

    priority: int = Field(100, ge=0, le=INT32_MAX)
    category: str = Field("", max_length=40)
    district_id: uuid.UUID | None = None
    use_asset_owner: bool = False
    target_org_id: uuid.UUID | None = None
    note: str = Field("", max_length=200)


class RoutingRule(Timestamped):
    """One line of the routing table."""

    priority: int
    category: str
    district_id: uuid.UUID | None
    use_asset_owner: bool
    target_org_id: uuid.UUID | None
    note: str


class Bands(InputModel):
    """Target and early-warning band edges."""

    target: float | None = Field(None, allow_inf_nan=False)
    warning: float | None = Field(None, allow_inf_nan=False)
    critical: float | None = Field(None, allow_inf_nan=False)


class IndicatorCreate(InputModel):
    """A city indicator definition."""

    code: str = _KEY
    name: str = _NAME
    name_en: str = Field("", max_length=200)
    theme: Theme
    unit: str = Field("", max_length=20)
    definition: str = Field("", max_length=2000)
    org_id: uuid.UUID | None = None
    source: IndicatorSource = IndicatorSource.MANUAL
    # telemetry: {"profile_code": "air-noise", "key": "pm25", "agg": "avg", "window_s": 3600}
    source_config: dict[str, Any] = Field(default_factory=dict, max_length=20)
    frequency_s: int = Field(3600, ge=60, le=366 * 86400)
    target: float | None = Field(None, allow_inf_nan=False, ge=-1e15, le=1e15)
    direction: str = Field("lower", pattern="^(lower|higher)$")
    warning: float | None = Field(None, allow_inf_nan=False, ge=-1e15, le=1e15)
    critical: float | None = Field(None, allow_inf_nan=False, ge=-1e15, le=1e15)


class IndicatorUpdate(InputModel):
    """Change an indicator's definition (every field optional)."""

    name: str | None = Field(None, min_length=1, max_length=200)
    definition: str | None = Field(None, max_length=2000)
    frequency_s: int | None = Field(None, ge=60, le=366 * 86400)
    target: float | None = Field(None, allow_inf_nan=False, ge=-1e15, le=1e15)
    warning: float | None = Field(None, allow_inf_nan=False, ge=-1e15, le=1e15)
    critical: float | None = Field(None, allow_inf_nan=False, ge=-1e15, le=1e15)


class Indicator(Timestamped):
    """A city indicator with its latest value and band."""

    code: str
    name: str
    name_en: str
    theme: str
    unit: str
    definition: str
    org_id: uuid.UUID
    source: str
    source_config: dict[str, Any]
    frequency_s: int
    target: float | None
    direction: str
    warning: float | None
    critical: float | None
    last_value: float | None
    last_ts: datetime | None
    band: str


class IndicatorValueCreate(InputModel):
    """A value of an indicator (manual entry, or pushed by a datastore job)."""

    value: float = _FINITE
    ts: datetime | None = None


class IndicatorValue(ReadModel):
    """One point of an indicator's series."""

    ts: datetime
    value: float
    source: str


class WebhookCreate(InputModel):
    """A webhook target for alarm events (https, on a configured host)."""

    org_id: uuid.UUID | None = None
    url: str = Field(min_length=8, max_length=500)
    secret: str = Field(min_length=16, max_length=200)
    min_severity: Severity = Severity.INDETERMINATE


class Webhook(Timestamped):
    """A webhook target (the secret is never returned)."""

    org_id: uuid.UUID
    url: str
    min_severity: str
    enabled: bool


class OutboxStats(BaseModel):
    """Delivery state of the outbox."""

    pending: int
    delivered: int
    failed: int


class DashboardSnapshot(BaseModel):
    """Everything the 大屏 shows, in one payload (also the SSE event body)."""

    at: datetime
    district_id: uuid.UUID | None
    alarms: AlarmStats
    alarm_points: list[dict[str, Any]]
    devices: list[dict[str, Any]]
    recent_alarms: list[dict[str, Any]]
    funnel: dict[str, int]
    sla_breaches: int
    open_incidents: int
    indicators: list[dict[str, Any]]
    sparklines: list[dict[str, Any]]
    districts: list[dict[str, Any]]
    forecasts: list[dict[str, Any]] = []  # the most urgent forecast series, path and band as % of the threshold
    forecast_errors: int = 0  # forecast series whose model could not be fitted
