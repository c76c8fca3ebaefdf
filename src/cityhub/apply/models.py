"""Tables of the programme cockpit (用).

The target tree (programme → layer → target), every value a target has had (computed from the layers or reported
by its owner), and the owners' reports with their evidence and the bureau's review. Organisations belong to core
and are referenced by id with a foreign key, as every domain does.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Date, Float, ForeignKey, Index, Integer, String, Text
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
