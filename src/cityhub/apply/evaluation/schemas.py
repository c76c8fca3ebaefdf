"""Schemas of the annual evaluation (年度评比): schemes, runs, scores, adjustments, evidence."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, field_validator

from cityhub.apply.models import (
    EvalStatus,
    OrgType,
)
from cityhub.apply.schemas import CODE_PATTERN
from cityhub.kit import labels
from cityhub.kit.schemas import InputModel, ReadModel, Timestamped

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

    code: str = Field(pattern=CODE_PATTERN)
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
