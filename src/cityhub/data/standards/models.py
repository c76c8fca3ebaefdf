"""Tables of data standards: data elements (GB/T 19488 / 18391), code lists and their values.

Mapped on the data domain's metadata (`data.models` imports this module, so Alembic and the drift test see it).
"""

from __future__ import annotations

import uuid
from enum import StrEnum

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
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
