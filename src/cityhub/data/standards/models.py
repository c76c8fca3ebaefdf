"""Tables of data standards: data elements (GB/T 19488 / 18391), code lists and their values.

Mapped on the data domain's metadata (`data.models` imports this module, so Alembic and the drift test see it).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cityhub.kit import labels
from cityhub.kit.db import Base, Timestamps, UUIDPk, status_type


class StandardStatus(StrEnum):
    """Life cycle of a data element or code list: drafted, published for use, retired (kept, not for new use)."""

    DRAFT = "draft"
    PUBLISHED = "published"
    RETIRED = "retired"


labels.register(StandardStatus, {StandardStatus.DRAFT: "Draft", StandardStatus.PUBLISHED: "Published",
                                 StandardStatus.RETIRED: "Withdrawn from use"})


class CodeList(UUIDPk, Timestamps, Base):
    """A code list (值域代码表), e.g. GB/T 2261.1 sex codes or GB/T 2260 administrative divisions."""

    __tablename__ = "data_code_list"

    identifier: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200), default="")
    source_standard: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[StandardStatus] = mapped_column(status_type(StandardStatus), default=StandardStatus.DRAFT,
                                                   index=True)
    owner_org_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_organization.id"), default=None)


class CodeListValue(UUIDPk, Base):
    """One code of a code list; `parent_code` makes hierarchies (GB/T 2260: province → 市辖区/县 → district)."""

    __tablename__ = "data_code_list_value"
    __table_args__ = (UniqueConstraint("code_list_id", "code"),)

    code_list_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("data_code_list.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(40))
    label_zh: Mapped[str] = mapped_column(String(200))
    label_en: Mapped[str] = mapped_column(String(200), default="")
    parent_code: Mapped[str] = mapped_column(String(40), default="")
    position: Mapped[int] = mapped_column(Integer, default=0)


class DataElement(UUIDPk, Timestamps, Base):
    """A data element (数据元): identifier, names, definition, type, representation format, value domain, unit."""

    __tablename__ = "data_element"

    identifier: Mapped[str] = mapped_column(String(40), unique=True)
    name_zh: Mapped[str] = mapped_column(String(100), index=True)
    name_en: Mapped[str] = mapped_column(String(200), default="")
    definition: Mapped[str] = mapped_column(Text, default="")
    data_type: Mapped[str] = mapped_column(String(10))  # string | integer | decimal | date | datetime | boolean
    format: Mapped[str] = mapped_column(String(40), default="")  # GB/T 18391 representation: an..18, n8, n..10,6
    code_list_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("data_code_list.id"), default=None,
                                                           index=True)
    unit: Mapped[str] = mapped_column(String(40), default="")
    version: Mapped[str] = mapped_column(String(20), default="1.0")
    status: Mapped[StandardStatus] = mapped_column(status_type(StandardStatus), default=StandardStatus.DRAFT,
                                                   index=True)
    owner_org_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_organization.id"), default=None)


class ConformanceResult(Base):
    """The stored conformance of one table resource: when it was checked, the totals, each field's counts.

    One row per resource, replaced by each check (after a sync or an upload, on demand, or by the worker for a
    stale one). `stale` is set when a data element or code list the resource follows changes, or when a write to a
    large table leaves the check to the worker. `fields` holds per item: item, element, checked, conforming, the
    counts per kind (type, format, code), whether the declared type fits, and a few offending values masked by the
    item's masking rule. `standards`: element identifier → the version (and code list) it was checked against.
    """

    __tablename__ = "data_conformance_result"

    resource_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("data_resource.id", ondelete="CASCADE"),
                                                   primary_key=True)
    checked_at: Mapped[datetime]
    rows: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)
    fields_total: Mapped[int] = mapped_column(Integer, default=0)
    fields_standardised: Mapped[int] = mapped_column(Integer, default=0)
    checked: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)
    conforming: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)
    nonconforming: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)
    fields: Mapped[list[Any]] = mapped_column(default=list)
    standards: Mapped[dict[str, Any]] = mapped_column(default=dict)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    stale: Mapped[bool] = mapped_column(default=False, index=True)
    stale_reason: Mapped[str] = mapped_column(String(20), default="")  # element | code_list | items | data
    stale_since: Mapped[datetime | None] = mapped_column(default=None)
