"""Tables of the connect domain: device profiles, assets, devices, the telemetry store, latest values, quarantine.

The telemetry table is narrow (device, key, ts, value, text) and written in bulk by the ingest path, never through
the ORM. On PostgreSQL it is range-partitioned by month on `ts` (partitions live in the `connect_partitions`
schema, created ahead by the migration and on demand by ingest) with a BRIN index on time.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Float, ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cityhub.kit import clock, labels
from cityhub.kit.db import Base, Timestamps, UUIDPk, status_type

PARTITION_SCHEMA = "connect_partitions"


class DeviceStatus(StrEnum):
    """Life of a device."""

    ACTIVE = "active"
    DISABLED = "disabled"
    DECOMMISSIONED = "decommissioned"


class AssetKind(StrEnum):
    """What an asset is (a bridge and its spans, a pipe gallery and its sections …)."""

    BRIDGE = "bridge"
    SPAN = "span"
    BUILDING = "building"
    PIPE_GALLERY = "pipe_gallery"
    GALLERY_SECTION = "gallery_section"
    TRAFFIC = "traffic"
    PUBLIC_SPACE = "public_space"
    OTHER = "other"


class ValueType(StrEnum):
    """Value type of a metric."""

    NUMBER = "number"
    BOOLEAN = "boolean"
    STRING = "string"


class QuarantineReason(StrEnum):
    """Why something could not be stored."""

    BAD_TOPIC = "bad_topic"
    BAD_JSON = "bad_json"
    BAD_FORMAT = "bad_format"
    UNKNOWN_DEVICE = "unknown_device"
    DEVICE_DISABLED = "device_disabled"
    UNKNOWN_KEY = "unknown_key"
    WRONG_TYPE = "wrong_type"
    OUT_OF_RANGE = "out_of_range"
    BAD_TIMESTAMP = "bad_timestamp"
    FUTURE_TIMESTAMP = "future_timestamp"
    MISSING_TIMESTAMP = "missing_timestamp"  # several records of one list without `ts` (decision 0009)
    CONFLICTING_VALUES = "conflicting_values"  # one message gives a key two different values at the same time
    TRUNCATED = "truncated"  # notice: a message had more problems than the quarantine keeps per message
    UNPROCESSABLE = "unprocessable"  # the batch failed for a reason no check names (isolated, then quarantined)


# What people read for each code (kit.labels; English message ids, zh_CN in locale/zh_CN.po).
labels.register(DeviceStatus, {DeviceStatus.ACTIVE: "In service", DeviceStatus.DISABLED: "Disabled",
                               DeviceStatus.DECOMMISSIONED: "Decommissioned"})
labels.register(AssetKind, {
    AssetKind.BRIDGE: "Bridge", AssetKind.SPAN: "Bridge span", AssetKind.BUILDING: "Building",
    AssetKind.PIPE_GALLERY: "Utility tunnel", AssetKind.GALLERY_SECTION: "Utility tunnel section",
    AssetKind.TRAFFIC: "Traffic facility", AssetKind.PUBLIC_SPACE: "Public space", AssetKind.OTHER: "Other"})
labels.register(ValueType, {ValueType.NUMBER: "Numeric value", ValueType.BOOLEAN: "True/false",
                            ValueType.STRING: "Text"})
labels.register(QuarantineReason, {
    QuarantineReason.BAD_TOPIC: "Bad topic", QuarantineReason.BAD_JSON: "Invalid JSON",
    QuarantineReason.BAD_FORMAT: "Bad message format", QuarantineReason.UNKNOWN_DEVICE: "Unknown device",
    QuarantineReason.DEVICE_DISABLED: "Device disabled", QuarantineReason.UNKNOWN_KEY: "Unknown metric",
    QuarantineReason.WRONG_TYPE: "Wrong value type", QuarantineReason.OUT_OF_RANGE: "Out of valid range",
    QuarantineReason.BAD_TIMESTAMP: "Invalid timestamp", QuarantineReason.FUTURE_TIMESTAMP: "Timestamp in the future",
    QuarantineReason.MISSING_TIMESTAMP: "Missing timestamp",
    QuarantineReason.CONFLICTING_VALUES: "Conflicting values at one time",
    QuarantineReason.TRUNCATED: "Truncated: too many problems",
    QuarantineReason.UNPROCESSABLE: "Could not be processed"})


class DeviceProfile(UUIDPk, Timestamps, Base):
    """A kind of device and its metrics, described as data (key, names, unit, type, range, interval)."""

    __tablename__ = "connect_device_profile"
    code: Mapped[str] = mapped_column(String(60), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    name_en: Mapped[str] = mapped_column(String(120), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    metrics: Mapped[list[Any]] = mapped_column(default=list)


class Asset(UUIDPk, Timestamps, Base):
    """A physical thing sensors sit on; assets form a tree (bridge → spans, pipe gallery → sections)."""

    __tablename__ = "connect_asset"
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(30), index=True)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_organization.id"), index=True)
    parent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("connect_asset.id"), index=True, default=None)
    district_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_organization.id"), index=True,
                                                          default=None)
    lon: Mapped[float | None] = mapped_column(default=None)
    lat: Mapped[float | None] = mapped_column(default=None)
    address: Mapped[str] = mapped_column(String(300), default="")


class Device(UUIDPk, Timestamps, Base):
    """A sensor or gateway with its own credential (only hashes are stored)."""

    __tablename__ = "connect_device"
    name: Mapped[str] = mapped_column(String(200))
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_organization.id"), index=True)
    asset_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("connect_asset.id"), index=True, default=None)
    profile_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("connect_device_profile.id"), index=True)
    status: Mapped[DeviceStatus] = mapped_column(status_type(DeviceStatus), default=DeviceStatus.ACTIVE, index=True)
    serial: Mapped[str] = mapped_column(String(100), default="")
    lon: Mapped[float | None] = mapped_column(default=None)
    lat: Mapped[float | None] = mapped_column(default=None)
    token_hash: Mapped[str] = mapped_column(String(64), default="", index=True)
    broker_hash: Mapped[str] = mapped_column(String(200), default="")  # mosquitto $7$ PBKDF2-SHA512 of the token
    token_rotated_at: Mapped[datetime | None] = mapped_column(default=None)


class Telemetry(Base):
    """One stored point; (device, key, ts) is unique, which absorbs redelivered messages."""

    __tablename__ = "connect_telemetry"
    __table_args__ = (
        # BRIN on PostgreSQL (rows arrive in time order, so block ranges summarise well); a B-tree on SQLite.
        Index("ix_connect_telemetry_ts", "ts", postgresql_using="brin"),
    )
    device_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    ts: Mapped[datetime] = mapped_column(primary_key=True)
    value: Mapped[float | None] = mapped_column(Float, default=None)
    text: Mapped[str | None] = mapped_column(Text, default=None)


class Latest(Base):
    """The newest point per device and key, upserted by every batch (dashboards read this)."""

    __tablename__ = "connect_latest"
    device_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    ts: Mapped[datetime]
    value: Mapped[float | None] = mapped_column(Float, default=None)
    text: Mapped[str | None] = mapped_column(Text, default=None)


class Quarantine(UUIDPk, Base):
    """Something that could not be stored, with why (dead-letter queue)."""

    __tablename__ = "connect_quarantine"
    received_at: Mapped[datetime] = mapped_column(default=clock.now, index=True)
    topic: Mapped[str] = mapped_column(String(300), default="")
    device_id: Mapped[uuid.UUID | None] = mapped_column(index=True, default=None)
    reason: Mapped[str] = mapped_column(String(30), index=True)
    detail: Mapped[str] = mapped_column(String(500), default="")
    payload: Mapped[str] = mapped_column(Text, default="")  # truncated raw payload


class QuarantineCount(Base):
    """Running count per reason (read by the server's /metrics without scanning the quarantine)."""

    __tablename__ = "connect_quarantine_count"
    reason: Mapped[str] = mapped_column(String(30), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class IngestKey(Base):
    """The time a payload without `ts` was given, per (device, payload digest) (decision 0009).

    Written in the ingest batch's own transaction, so it survives exactly what the points survive: a copy of the
    payload received again (a redelivery, a retried HTTP request) within the window takes the same time, and its
    points are duplicates the primary key absorbs. Rows older than the redelivery window are pruned.
    """

    __tablename__ = "connect_ingest_key"
    device_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    digest: Mapped[bytes] = mapped_column(LargeBinary(16), primary_key=True)  # BLAKE2b-128 of the payload bytes
    ts: Mapped[datetime] = mapped_column(index=True)
