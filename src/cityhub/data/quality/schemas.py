"""Schemas of quality checks and scores (issue 20)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from cityhub.kit import labels
from cityhub.kit.schemas import InputModel, ReadModel, Timestamped

QUALITY_KINDS = ("not_null", "unique", "in_list", "range", "regex", "id_card", "credit_code", "freshness",
                 "row_count_change")
labels.register("data.quality_kind", {
    "not_null": "Not empty", "unique": "Unique", "in_list": "In code list", "range": "In range",
    "regex": "Matches pattern", "id_card": "Citizen ID number (GB 11643)",
    "credit_code": "Unified social credit code (GB 32100)", "freshness": "Fresh",
    "row_count_change": "Row count change"})


class QualityCheckCreate(InputModel):
    """A check on an entry's table; its `params` depend on the kind.

    in_list {values}, range {min, max}, regex {pattern}, freshness {max_age_hours}, row_count_change
    {max_change_pct}; the others take none.
    """

    entry_id: uuid.UUID
    kind: Literal["not_null", "unique", "in_list", "range", "regex", "id_card", "credit_code", "freshness",
                  "row_count_change"]
    column: str = Field("", max_length=63)
    params: dict[str, Any] = Field(default_factory=dict, max_length=5)


class QualityCheck(Timestamped):
    """A check with its latest outcome."""

    entry_id: uuid.UUID
    org_id: uuid.UUID
    kind: str
    column: str
    params: dict[str, Any]
    last_score: float | None
    last_failed: int
    last_message: str
    last_run_at: datetime | None


class QualityScore(ReadModel):
    """A score (0-100) of an entry or a department: the mean of its checks' latest scores."""

    org_id: uuid.UUID
    entry_id: uuid.UUID | None = None
    title: str = ""
    checks: int
    failing: int
    score: float | None


class QualityTask(Timestamped):
    """A quality task (整改任务) of a unit: the failing checks of its entry's latest run and the deadline."""

    entry_id: uuid.UUID
    org_id: uuid.UUID
    status: str
    failures: list[dict[str, Any]]
    failed_checks: int
    failed_rows: int
    opened_at: datetime
    deadline_at: datetime
    last_run_at: datetime | None
    resolved_at: datetime | None
    resolved_by: str
    resolution_note: str
    closed_at: datetime | None
    reopened: int
    overdue: bool = False


class QualityTaskResolve(InputModel):
    """The department's account of what it fixed (the next run verifies it)."""

    note: str = Field(..., min_length=1, max_length=2000)
