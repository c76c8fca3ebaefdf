"""Tables of the operations center (一网统管): rules and their persisted state, alarms, incidents, indicators.

Devices and assets belong to connect; they are referenced here by id only (no foreign keys into another
domain's tables), with the names and places an alarm needs copied at raise time.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from cityhub.kit import clock
from cityhub.kit.db import Base, Timestamps, UUIDPk, status_type

BigId = BigInteger().with_variant(Integer, "sqlite")


class Severity(StrEnum):
    """ThingsBoard's five alarm severities, most severe first."""

    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"
    WARNING = "warning"
    INDETERMINATE = "indeterminate"


class RuleKind(StrEnum):
    """What a rule watches."""

    THRESHOLD = "threshold"  # a condition, optionally held for a duration or repeated N times in a row
    RATE = "rate"  # change per minute between consecutive points
    NO_DATA = "no_data"  # silent for T
    ANOMALY = "anomaly"  # rolling z-score against an EWMA mean/variance per series
    FORECAST = "forecast"  # the series' Holt forecast meets the condition within condition.horizon_s


class IncidentStatus(StrEnum):
    """Life of an incident."""

    NEW = "new"
    DISPATCHED = "dispatched"
    ACCEPTED = "accepted"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"
    REOPENED = "reopened"


class IncidentSource(StrEnum):
    """Where an incident came from."""

    ALARM = "alarm"
    OPERATOR = "operator"
    CITIZEN = "citizen"


class Rule(UUIDPk, Timestamps, Base):
    """A rule on telemetry, defined as data for a device profile, an asset (and everything below it) or one device."""

    __tablename__ = "ops_rule"

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_organization.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    profile_code: Mapped[str | None] = mapped_column(String(64), index=True)
    asset_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    device_id: Mapped[uuid.UUID | None] = mapped_column(index=True, default=None)  # one device only (issue 16)
    key: Mapped[str] = mapped_column(String(64))
    alarm_type: Mapped[str] = mapped_column(String(100))
    severity: Mapped[str] = mapped_column(String(20))
    # threshold/rate: {"op": ">", "value": 1.5}; anomaly: {"z": 3.0, "alpha": 0.05, "min_samples": 30};
    # forecast: {"op": ">", "value": 3.0, "horizon_s": 7200}
    condition: Mapped[dict[str, Any]] = mapped_column(default=dict)
    clear_condition: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    duration_s: Mapped[int] = mapped_column(Integer, default=0)
    repeat_count: Mapped[int] = mapped_column(Integer, default=1)
    no_data_s: Mapped[int] = mapped_column(Integer, default=0)
    auto_incident: Mapped[bool] = mapped_column(default=False)
    category: Mapped[str] = mapped_column(String(40), default="")
    enabled: Mapped[bool] = mapped_column(default=True)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    last_error_at: Mapped[datetime | None] = mapped_column(default=None)


class RuleVersion(Base):
    """One saved definition of a rule: version 1 at creation, a new number at every change of the definition.

    The rule row holds the current definition (what the engine compiles); versions are the history people read.
    """

    __tablename__ = "ops_rule_version"
    __table_args__ = (UniqueConstraint("rule_id", "number"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    rule_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ops_rule.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(default=clock.now)
    actor_name: Mapped[str] = mapped_column(String(100), default="")
    definition: Mapped[dict[str, Any]] = mapped_column(default=dict)  # name, severity, condition, timers, ...


class RuleState(Base):
    """Persisted state of one rule on one series (device): pending timers, counters, EWMA, the open alarm.

    The id is uuid5(rule id, device id) so every worker derives it without a lookup and can lock the rows a batch
    touches; `version` is a fresh random number on every write (equal versions mean the same row content).
    """

    __tablename__ = "ops_rule_state"
    __table_args__ = (Index("ix_ops_rule_state_due", "due_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    rule_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ops_rule.id", ondelete="CASCADE"), index=True)
    device_id: Mapped[uuid.UUID]
    active: Mapped[bool] = mapped_column(default=False)  # the rule's alarm on this series is open
    pending_since: Mapped[datetime | None] = mapped_column(default=None)
    count: Mapped[int] = mapped_column(Integer, default=0)
    last_ts: Mapped[datetime | None] = mapped_column(default=None)
    last_value: Mapped[float | None] = mapped_column(default=None)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)  # kind-specific: EWMA mean/var/n, context
    due_at: Mapped[datetime | None] = mapped_column(default=None)  # when the tick must look at it
    version: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)


class TelemetryQueue(Base):
    """Stored ingest batches waiting for the rule engine (evaluation mode `queue`, a transactional outbox).

    Ingest inserts one row per stored batch inside its own transaction (and NOTIFYs the channel
    `service.QUEUE_CHANNEL`, delivered at commit); `cityhub ops worker` claims rows with SKIP LOCKED, evaluates
    them, and deletes them in the same transaction: a batch is evaluated once, whichever process dies when.
    """

    __tablename__ = "ops_telemetry_queue"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    enqueued_at: Mapped[datetime] = mapped_column(default=clock.now)
    points: Mapped[bytes] = mapped_column(LargeBinary)  # orjson: [[device id, key, ts, value, text], …]


class EngineMeta(Base):
    """One row: a token that changes with every rule change, so each process knows when its rule cache is stale."""

    __tablename__ = "ops_engine_meta"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rules_token: Mapped[str] = mapped_column(String(40))
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)


class Alarm(UUIDPk, Base):
    """An alarm: severity, originator (device, asset or indicator), type, ack/clear flags, one open per kind."""

    __tablename__ = "ops_alarm"
    __table_args__ = (
        # One open (not cleared) alarm per (originator, type), enforced by the database on both backends.
        Index("uq_ops_alarm_open", "originator_id", "type", unique=True,
              postgresql_where=text("NOT cleared"), sqlite_where=text("cleared = 0")),
        Index("ix_ops_alarm_status", "cleared", "severity"),
    )

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_organization.id"), index=True)
    originator_type: Mapped[str] = mapped_column(String(20))  # device | asset | indicator
    originator_id: Mapped[uuid.UUID]
    originator_name: Mapped[str] = mapped_column(String(200), default="")
    type: Mapped[str] = mapped_column(String(100))
    severity: Mapped[str] = mapped_column(String(20))
    acknowledged: Mapped[bool] = mapped_column(default=False)
    cleared: Mapped[bool] = mapped_column(default=False)
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_user.id"), default=None)
    start_ts: Mapped[datetime] = mapped_column(default=clock.now, index=True)
    end_ts: Mapped[datetime] = mapped_column(default=clock.now)  # last (re-)trigger
    ack_ts: Mapped[datetime | None] = mapped_column(default=None)
    clear_ts: Mapped[datetime | None] = mapped_column(default=None)
    count: Mapped[int] = mapped_column(Integer, default=1)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    rule_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("ops_rule.id", ondelete="SET NULL"), index=True)
    district_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_organization.id"), index=True)
    lon: Mapped[float | None] = mapped_column(default=None)
    lat: Mapped[float | None] = mapped_column(default=None)
    incident_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("ops_incident.id"), index=True, default=None)


class AlarmScope(Base):
    """Propagation: an alarm is also counted at every ancestor asset of its originator and at its district."""

    __tablename__ = "ops_alarm_scope"

    alarm_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ops_alarm.id", ondelete="CASCADE"), primary_key=True)
    entity_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, index=True)
    entity_kind: Mapped[str] = mapped_column(String(20))  # asset | district


class RoutingRule(UUIDPk, Timestamps, Base):
    """Routing table: which department an incident goes to, by category, district and the asset's owner."""

    __tablename__ = "ops_routing_rule"

    priority: Mapped[int] = mapped_column(Integer, default=100)  # lower first
    category: Mapped[str] = mapped_column(String(40), default="")  # empty = any
    district_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_organization.id"), default=None)
    use_asset_owner: Mapped[bool] = mapped_column(default=False)  # route to whoever owns the originator
    target_org_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_organization.id"), default=None)
    note: Mapped[str] = mapped_column(String(200), default="")


class Incident(UUIDPk, Timestamps, Base):
    """An incident: opened from alarms, by an operator or from a citizen report; dispatched to a department."""

    __tablename__ = "ops_incident"

    number: Mapped[str] = mapped_column(String(30), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(40), default="")
    severity: Mapped[str] = mapped_column(String(20))
    status: Mapped[IncidentStatus] = mapped_column(
        status_type(IncidentStatus),
        default=IncidentStatus.NEW, index=True)
    source: Mapped[str] = mapped_column(String(20))
    org_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_organization.id"), index=True)
    district_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_organization.id"), default=None)
    originator_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    originator_org_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_organization.id"), default=None)
    lon: Mapped[float | None] = mapped_column(default=None)
    lat: Mapped[float | None] = mapped_column(default=None)
    created_by: Mapped[str] = mapped_column(String(100), default="")
    dispatched_at: Mapped[datetime | None] = mapped_column(default=None)
    accepted_at: Mapped[datetime | None] = mapped_column(default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    accept_due_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    resolve_due_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    sla_breached: Mapped[bool] = mapped_column(default=False)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    report_code: Mapped[str | None] = mapped_column(String(20), unique=True, default=None)
    team: Mapped[str] = mapped_column(String(100), default="")  # the field team it was given to (incident_assign)


class IncidentShare(Base):
    """An incident shared with another department (it then sees it too)."""

    __tablename__ = "ops_incident_share"

    incident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ops_incident.id", ondelete="CASCADE"),
                                                   primary_key=True)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_organization.id"), primary_key=True, index=True)


class IncidentEvent(Base):
    """One line of an incident's timeline: creation, dispatch, transitions, comments, attachments, escalations."""

    __tablename__ = "ops_incident_event"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    incident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ops_incident.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=clock.now)
    actor_name: Mapped[str] = mapped_column(String(100), default="")
    kind: Mapped[str] = mapped_column(String(20))  # created | dispatched | transition | comment | attachment | ...
    from_status: Mapped[str] = mapped_column(String(20), default="")
    to_status: Mapped[str] = mapped_column(String(20), default="")
    text: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)


class IncidentAttachment(UUIDPk, Base):
    """A file attached to an incident (citizen photo, site report); bytes live under var_dir/ops/attachments."""

    __tablename__ = "ops_incident_attachment"

    incident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ops_incident.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by: Mapped[str] = mapped_column(String(100), default="")
    uploaded_at: Mapped[datetime] = mapped_column(default=clock.now)


class CitizenReport(UUIDPk, Base):
    """A citizen report as received (sanitised), and the incident it opened; ip_hash serves the rate limit."""

    __tablename__ = "ops_citizen_report"

    received_at: Mapped[datetime] = mapped_column(default=clock.now, index=True)
    ip_hash: Mapped[str] = mapped_column(String(64), index=True)
    category: Mapped[str] = mapped_column(String(40))
    description: Mapped[str] = mapped_column(Text)
    contact: Mapped[str] = mapped_column(String(100), default="")
    lon: Mapped[float | None] = mapped_column(default=None)
    lat: Mapped[float | None] = mapped_column(default=None)
    incident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ops_incident.id", ondelete="CASCADE"), index=True)


class Indicator(UUIDPk, Timestamps, Base):
    """A city indicator: definition, unit, source, frequency, target and early-warning bands."""

    __tablename__ = "ops_indicator"

    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200), default="")
    theme: Mapped[str] = mapped_column(String(20))  # economy | environment | construction | energy
    unit: Mapped[str] = mapped_column(String(20), default="")
    definition: Mapped[str] = mapped_column(Text, default="")
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_organization.id"), index=True)
    source: Mapped[str] = mapped_column(String(20))  # telemetry | datastore | manual
    source_config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    frequency_s: Mapped[int] = mapped_column(Integer, default=3600)
    target: Mapped[float | None] = mapped_column(default=None)
    direction: Mapped[str] = mapped_column(String(10), default="lower")  # lower | higher is better
    warning: Mapped[float | None] = mapped_column(default=None)  # early-warning band edge
    critical: Mapped[float | None] = mapped_column(default=None)
    last_value: Mapped[float | None] = mapped_column(default=None)
    last_ts: Mapped[datetime | None] = mapped_column(default=None)
    next_due_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    band: Mapped[str] = mapped_column(String(10), default="")  # "" | warning | critical


class IndicatorValue(Base):
    """One value of an indicator's time series."""

    __tablename__ = "ops_indicator_value"
    __table_args__ = (UniqueConstraint("indicator_id", "ts"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    indicator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ops_indicator.id", ondelete="CASCADE"))
    ts: Mapped[datetime]
    value: Mapped[float]
    source: Mapped[str] = mapped_column(String(20), default="")


class Webhook(UUIDPk, Timestamps, Base):
    """A webhook target for alarm events of an organisation's subtree; requests are HMAC-signed."""

    __tablename__ = "ops_webhook"

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_organization.id"), index=True)
    url: Mapped[str] = mapped_column(String(500))
    secret_enc: Mapped[str] = mapped_column(Text)
    min_severity: Mapped[str] = mapped_column(String(20), default=Severity.INDETERMINATE.value)
    enabled: Mapped[bool] = mapped_column(default=True)


class OutboxMessage(Base):
    """Transactional outbox: alarm events written in the raising transaction, delivered later by the worker."""

    __tablename__ = "ops_outbox"
    __table_args__ = (Index("ix_ops_outbox_due", "delivered", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(10))  # mqtt | webhook
    target: Mapped[str] = mapped_column(String(500))  # topic, or the webhook id
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=clock.now)
    delivered: Mapped[bool] = mapped_column(default=False)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)
    failed: Mapped[bool] = mapped_column(default=False)
    last_error: Mapped[str] = mapped_column(Text, default="")
