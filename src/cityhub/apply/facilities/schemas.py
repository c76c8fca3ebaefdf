"""Schemas of the data-channel users and data-centre registers."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from pydantic import BaseModel, Field, field_validator, model_validator

from cityhub.apply.models import (
    StationStatus,
)
from cityhub.kit import labels
from cityhub.kit.idcodes import credit_code_ok
from cityhub.kit.schemas import InputModel, Timestamped

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
