"""Schemas of the key-project register (数字经济重点项目) and its progress reports."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from cityhub.apply.models import ProjectStatus as ProjectStatus  # re-exported: api and pages import no models
from cityhub.kit import labels
from cityhub.kit.schemas import IDSchema, InputModel, Timestamped

labels.register(ProjectStatus, {ProjectStatus.PLANNED: "Planned",
                                ProjectStatus.UNDER_CONSTRUCTION: "Under construction",
                                ProjectStatus.COMPLETED: "Completed", ProjectStatus.SUSPENDED: "Suspended"})

MAX_WAN = 100_000_000.0  # 万元: a trillion yuan, far above any project




class KeyProjectCreate(InputModel):
    """A key project: its owner unit, where it is, who leads it, what it costs (万元) and when it should run."""

    name: str = Field(min_length=2, max_length=200)
    owner_org_id: uuid.UUID
    sector: str = Field(min_length=1, max_length=30)
    investment_total: float = Field(gt=0, le=MAX_WAN)
    park_id: uuid.UUID | None = None
    lead_enterprise_id: uuid.UUID | None = None
    district_org_id: uuid.UUID | None = None
    planned_start: date | None = None
    planned_finish: date | None = None
    description: str = Field("", max_length=4000)

    @field_validator("planned_finish")
    @classmethod
    def _after_start(cls, v: date | None, info: ValidationInfo) -> date | None:
        start = info.data.get("planned_start")
        if v is not None and start is not None and v < start:
            raise ValueError("the planned finish comes on or after the planned start")
        return v


class KeyProjectUpdate(InputModel):
    """Change a key project: only the fields given (a null clears an optional reference or date)."""

    name: str | None = Field(None, min_length=2, max_length=200)
    owner_org_id: uuid.UUID | None = None
    sector: str | None = Field(None, min_length=1, max_length=30)
    investment_total: float | None = Field(None, gt=0, le=MAX_WAN)
    park_id: uuid.UUID | None = None
    lead_enterprise_id: uuid.UUID | None = None
    district_org_id: uuid.UUID | None = None
    planned_start: date | None = None
    planned_finish: date | None = None
    description: str | None = Field(None, max_length=4000)


class KeyProjectTransition(InputModel):
    """Move a key project to another status, with a note for the audit log."""

    status: ProjectStatus
    note: str = Field("", max_length=500)


class KeyProjectReportCreate(InputModel):
    """A progress report: investment completed to date (cumulative, 万元) as of a day, and the milestone reached."""

    as_of: date
    investment_completed: float = Field(ge=0, le=MAX_WAN)
    milestone: str = Field("", max_length=2000)


class KeyProjectReport(IDSchema):
    """A progress report as stored."""

    project_id: uuid.UUID
    as_of: date
    investment_completed: float
    milestone: str
    reported_at: datetime
    reported_by: uuid.UUID | None


class KeyProject(Timestamped):
    """A key project as stored, with its share of the investment completed (None when nothing is planned)."""

    name: str
    owner_org_id: uuid.UUID
    sector: str
    investment_total: float
    investment_completed: float
    park_id: uuid.UUID | None
    lead_enterprise_id: uuid.UUID | None
    district_org_id: uuid.UUID | None
    planned_start: date | None
    planned_finish: date | None
    status: ProjectStatus
    description: str
    completion: float | None = None  # investment completed / total, 0..n (an overrun shows above 1)


class KeyProjectSummary(BaseModel):
    """The register in figures: projects per status, investment planned and completed (万元), per park."""

    total: int = 0
    by_status: dict[str, int] = Field(default_factory=dict)
    investment_total: float = 0.0
    investment_completed: float = 0.0
    by_park: list[dict[str, object]] = Field(default_factory=list)  # {park_id, name, projects, investment_*}
