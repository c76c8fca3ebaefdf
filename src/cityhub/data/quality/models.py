"""Tables of quality: declarative checks of an entry's datastore table, their results, and quality tasks (整改任务).

Mapped on the data domain's metadata (`data.models` imports and re-exports them, so Alembic and the drift test see
them and callers keep one import).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cityhub.kit import clock
from cityhub.kit.db import Base, Timestamps, UUIDPk, status_type


class QualityTaskStatus(StrEnum):
    """Lifecycle of a quality task (整改任务): open → resolved by the department → closed when a run passes."""

    OPEN = "open"
    RESOLVED = "resolved"
    CLOSED = "closed"


class QualityCheck(UUIDPk, Timestamps, Base):
    """One declarative quality check of an entry's datastore table (not null, unique, code list, range, …)."""

    __tablename__ = "data_quality_check"

    entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("data_catalog_entry.id", ondelete="CASCADE"), index=True)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_organization.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    column: Mapped[str] = mapped_column(String(63), default="")  # "" for table checks (freshness, row count)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    last_score: Mapped[float | None]
    last_failed: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)
    last_message: Mapped[str] = mapped_column(Text, default="")
    last_run_at: Mapped[datetime | None]


class QualityResult(Base):
    """One evaluation of a check: rows checked and failed, the score (0-1), a few failing row ids."""

    __tablename__ = "data_quality_result"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    check_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("data_quality_check.id", ondelete="CASCADE"), index=True)
    entry_id: Mapped[uuid.UUID] = mapped_column(index=True)
    org_id: Mapped[uuid.UUID] = mapped_column(index=True)
    at: Mapped[datetime] = mapped_column(default=clock.now)
    checked: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)
    failed: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)
    score: Mapped[float] = mapped_column(default=1.0)
    sample: Mapped[list[Any]] = mapped_column(default=list)  # _id of the first failing rows
    message: Mapped[str] = mapped_column(Text, default="")


class QualityTask(UUIDPk, Timestamps, Base):
    """A quality task (整改任务) of the entry's provider: the failing checks of the latest run, with a deadline.

    At most one task per entry is not closed: `active_entry_id` holds the entry id until the task closes (NULL
    afterwards), and its unique constraint refuses a second active task on both backends.
    """

    __tablename__ = "data_quality_task"

    entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("data_catalog_entry.id", ondelete="CASCADE"), index=True)
    active_entry_id: Mapped[uuid.UUID | None] = mapped_column(unique=True, default=None)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_organization.id"), index=True)
    status: Mapped[QualityTaskStatus] = mapped_column(status_type(QualityTaskStatus),
                                                      default=QualityTaskStatus.OPEN, index=True)
    failures: Mapped[list[Any]] = mapped_column(default=list)  # [{"check_id", "kind", "column", "failed", ...}]
    failed_checks: Mapped[int] = mapped_column(Integer, default=0)
    failed_rows: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)
    opened_at: Mapped[datetime] = mapped_column(default=clock.now)
    deadline_at: Mapped[datetime]
    last_run_at: Mapped[datetime | None] = mapped_column(default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    resolved_by: Mapped[str] = mapped_column(String(100), default="")
    resolution_note: Mapped[str] = mapped_column(Text, default="")
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    reopened: Mapped[int] = mapped_column(Integer, default=0)
