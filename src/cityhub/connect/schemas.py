"""Connect types: the cross-domain references of `docs/contracts.md` (frozen dataclasses) and API models."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from pydantic import BaseModel, Field, field_validator, model_validator

from cityhub.connect.models import AssetKind, DeviceStatus, QuarantineReason, ValueType

__all__ = ["AssetKind", "DeviceStatus", "QuarantineReason", "ValueType"]
from cityhub.kit.schemas import InputModel, ReadModel, Timestamped

# ---------------------------------------------------------------- contract types (connect → ops)


TELEMETRY_STORED = "telemetry.stored"  # payload: list[SeriesPoint], published once per stored ingest batch
DEVICE_CHANGED = "device.changed"  # payload: DeviceChanged, published by device_create / device_update


@dataclass(frozen=True, slots=True)
class DeviceChanged:
    """A device created, or changed through connect's API (not its telemetry), in the changing transaction.

    `before` holds the changed fields' previous values (name, status, asset_id, serial, lon, lat): what a consumer
    needs to know what the device was, without a second read of connect's history.
    """

    device_id: uuid.UUID
    created: bool
    before: tuple[tuple[str, object], ...] = ()


class SeriesPoint(NamedTuple):
    """One stored measurement with the context consumers need without a lookup (rules, alarms, maps).

    A NamedTuple rather than a frozen dataclass: ingest builds one per stored point on the hot path, and a tuple is
    several times cheaper to construct than a frozen dataclass (whose __init__ sets each field through
    object.__setattr__). Immutable and attribute-accessed all the same.
    """

    device_id: uuid.UUID
    key: str  # metric key from the device profile, e.g. "strain"
    ts: datetime  # UTC-aware
    value: float | None  # numbers and booleans (1.0/0.0)
    text: str | None  # string metrics
    org_id: uuid.UUID  # owner organisation of the device
    profile_code: str  # device profile code, e.g. "bridge-health"
    asset_path: tuple[uuid.UUID, ...] = ()  # the device's asset, then its ancestors up to the root asset
    district_id: uuid.UUID | None = None  # organisation of the district/county the asset lies in
    lon: float | None = None
    lat: float | None = None


@dataclass(frozen=True, slots=True)
class DeviceRef:
    """What other layers need of a device, without touching connect's models."""

    device_id: uuid.UUID
    name: str
    org_id: uuid.UUID
    profile_code: str
    asset_id: uuid.UUID | None
    asset_path: tuple[uuid.UUID, ...]  # the device's asset, then its ancestors up to the root asset
    district_id: uuid.UUID | None
    lon: float | None
    lat: float | None
    status: str


@dataclass(frozen=True, slots=True)
class MetricRef:
    """One metric of a device profile, as other layers' pickers and sentences need it."""

    key: str
    name: str
    name_en: str
    unit: str


@dataclass(frozen=True, slots=True)
class ProfileRef:
    """A device profile and its numeric metrics (for the rule editor's pickers)."""

    code: str
    name: str
    name_en: str
    metrics: tuple[MetricRef, ...]


@dataclass(frozen=True, slots=True)
class AssetRef:
    """What other layers need of an asset."""

    asset_id: uuid.UUID
    name: str
    kind: str
    org_id: uuid.UUID
    parent_id: uuid.UUID | None
    path: tuple[uuid.UUID, ...]  # itself, then its ancestors
    district_id: uuid.UUID | None
    lon: float | None
    lat: float | None


@dataclass(frozen=True, slots=True)
class RawMessage:
    """One MQTT message or HTTP body as received."""

    topic: str  # cityhub/v1/devices/{device_id}/telemetry
    payload: bytes
    received_at: datetime  # UTC-aware
    redelivery: bool = False  # the broker sent it before (MQTT DUP flag): decision 0009


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What one ingest call did."""

    stored: int  # points stored
    duplicates: int  # points absorbed by the unique (device, key, ts) rule
    quarantined: int  # problems sent to quarantine: messages, records or values refused


# ---------------------------------------------------------------- API models


KEY_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
_LON = Field(None, ge=-180, le=180)
_LAT = Field(None, ge=-90, le=90)


class MetricSpec(InputModel):
    """One metric of a profile: key, names, unit, value type, valid range, expected reporting interval."""

    key: str = Field(pattern=KEY_PATTERN)
    name: str = Field(min_length=1, max_length=100)
    name_en: str = Field("", max_length=100)
    unit: str = Field("", max_length=20)
    type: ValueType = ValueType.NUMBER
    min: float | None = Field(None, ge=-1e15, le=1e15)
    max: float | None = Field(None, ge=-1e15, le=1e15)
    interval_s: int = Field(60, ge=1, le=86400 * 31)

    @model_validator(mode="after")
    def _range(self) -> MetricSpec:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min must not exceed max")
        return self


class DeviceProfileCreate(InputModel):
    """A new device profile."""

    code: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,59}$")
    name: str = Field(min_length=1, max_length=120)
    name_en: str = Field("", max_length=120)
    description: str = Field("", max_length=2000)
    metrics: list[MetricSpec] = Field(min_length=1, max_length=100)

    @field_validator("metrics")
    @classmethod
    def _unique_keys(cls, v: list[MetricSpec]) -> list[MetricSpec]:
        keys = [m.key for m in v]
        if len(keys) != len(set(keys)):
            raise ValueError("metric keys must be unique")
        return v


class DeviceProfile(Timestamped):
    """A device profile."""

    code: str
    name: str
    name_en: str
    description: str
    metrics: list[MetricSpec]


class AssetCreate(InputModel):
    """A new asset."""

    name: str = Field(min_length=1, max_length=200)
    kind: AssetKind
    org_id: uuid.UUID
    parent_id: uuid.UUID | None = None
    district_id: uuid.UUID | None = None
    lon: float | None = _LON
    lat: float | None = _LAT
    address: str = Field("", max_length=300)


class AssetUpdate(InputModel):
    """Changes to an asset (all optional)."""

    name: str | None = Field(None, min_length=1, max_length=200)
    district_id: uuid.UUID | None = None
    lon: float | None = _LON
    lat: float | None = _LAT
    address: str | None = Field(None, max_length=300)


class Asset(Timestamped):
    """An asset."""

    name: str
    kind: str
    org_id: uuid.UUID
    parent_id: uuid.UUID | None
    district_id: uuid.UUID | None
    lon: float | None
    lat: float | None
    address: str


class DeviceCreate(InputModel):
    """A new device (its token is returned once)."""

    name: str = Field(min_length=1, max_length=200)
    org_id: uuid.UUID
    profile_code: str = Field(min_length=1, max_length=60)
    asset_id: uuid.UUID | None = None
    serial: str = Field("", max_length=100)
    lon: float | None = _LON
    lat: float | None = _LAT


class DeviceUpdate(InputModel):
    """Changes to a device (all optional)."""

    name: str | None = Field(None, min_length=1, max_length=200)
    asset_id: uuid.UUID | None = None
    status: DeviceStatus | None = None
    serial: str | None = Field(None, max_length=100)
    lon: float | None = _LON
    lat: float | None = _LAT


class Device(Timestamped):
    """A device (credentials are never returned, except once in DeviceWithToken)."""

    name: str
    org_id: uuid.UUID
    asset_id: uuid.UUID | None
    profile_id: uuid.UUID
    profile_code: str = ""
    status: str
    serial: str
    lon: float | None
    lat: float | None
    token_rotated_at: datetime | None
    topic: str = ""


class DeviceWithToken(Device):
    """A device with its new token (shown once: at registration and rotation)."""

    token: str


class QuarantineItem(ReadModel):
    """A quarantined message or record."""

    id: uuid.UUID
    received_at: datetime
    topic: str
    device_id: uuid.UUID | None
    reason: str
    detail: str
    payload: str


class IngestResponse(BaseModel):
    """What an HTTP ingest call stored."""

    stored: int
    duplicates: int
    quarantined: int


class Point(BaseModel):
    """One raw point."""

    device_id: uuid.UUID
    key: str
    ts: datetime
    value: float | None
    text: str | None


class Bucket(BaseModel):
    """One time bucket of an aggregate."""

    key: str
    ts: datetime
    value: float | None

    @field_validator("value")
    @classmethod
    def _finite(cls, v: float | None) -> float | None:
        return None if v is not None and not math.isfinite(v) else v


class LatestValue(BaseModel):
    """The newest value of one metric."""

    key: str
    ts: datetime
    value: float | None
    text: str | None
