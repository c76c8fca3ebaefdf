"""Schemas of data standards: data elements, code lists, their values, and the conformance report (issue 20)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Literal

from pydantic import Field, field_validator

from cityhub.kit import labels
from cityhub.kit.schemas import InputModel, ReadModel

# a stored conformance result: up to date, out of date (a standard or the items changed, or a large write waits for
# the worker), never checked; "none": the resource follows no data element (nothing to check)
ConformanceState = Literal["current", "stale", "never", "none"]
labels.register("data.conformance_state", {"current": "Up to date", "stale": "Out of date", "never": "Never checked",
                                           "none": "No standardised items"})
labels.register("data.conformance_stale", {"element": "a data element changed", "code_list": "a code list changed",
                                           "items": "the information items changed",
                                           "data": "the rows changed; the worker rechecks large tables",
                                           "requested": "a recheck was requested"})
ElementType = Literal["string", "integer", "decimal", "date", "datetime", "boolean"]
ELEMENT_TYPES = ("string", "integer", "decimal", "date", "datetime", "boolean")
labels.register("data.element_type", {"string": "Text", "integer": "Integer", "decimal": "Numeric",
                                      "date": "Date", "datetime": "Date and time", "boolean": "Yes/no"})

# GB/T 18391 representation: a (letters), n (digits), an (letters and digits), ans (any character); a fixed
# length ("n8"), a maximum ("an..18"), a range ("n3..5"); digits may name decimals after a comma ("n..10,6").
FORMAT = re.compile(r"^(a|n|an|ans)(\d{1,4})?(?:\.\.(\d{1,4}))?(?:,(\d{1,2}))?$")
DATE_FORMATS = ("YYYY-MM-DD", "YYYYMMDD", "YYYY-MM-DDThh:mm:ss", "YYYYMMDDhhmmss")
IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{1,39}$")
LIST_IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _./:-]{0,39}$")


def format_ok(value: str) -> bool:
    """Is `value` a representation format cityhub can check (empty: no format)?"""
    if not value or value in DATE_FORMATS:
        return True
    m = FORMAT.match(value)
    if m is None:
        return False
    kind, first, upto, decimals = m.groups()
    if first is None and upto is None:
        return False
    if decimals is not None and kind != "n":
        return False
    return not (first is not None and upto is not None and int(first) > int(upto))


class CodeListCreate(InputModel):
    """A new code list (draft)."""

    identifier: str = Field(min_length=1, max_length=40, description="e.g. GB/T 2261.1")
    name: str = Field(min_length=1, max_length=200)
    name_en: str = Field("", max_length=200)
    source_standard: str = Field("", max_length=200)
    description: str = Field("", max_length=2000)

    @field_validator("identifier")
    @classmethod
    def _ident(cls, v: str) -> str:
        v = v.strip()
        if not LIST_IDENTIFIER.match(v):
            raise ValueError("use letters, digits, space and . / _ - : (up to 40)")
        return v


class CodeValueIn(InputModel):
    """One code of a code list."""

    code: str = Field(min_length=1, max_length=40)
    label_zh: str = Field(min_length=1, max_length=200)
    label_en: str = Field("", max_length=200)
    parent_code: str = Field("", max_length=40)


class DataElementCreate(InputModel):
    """A new data element (draft)."""

    identifier: str = Field(min_length=2, max_length=40, description="e.g. DE00001")
    name_zh: str = Field(min_length=1, max_length=100)
    name_en: str = Field("", max_length=200)
    definition: str = Field("", max_length=4000)
    data_type: ElementType
    format: str = Field("", max_length=40, description="GB/T 18391 representation, e.g. an..18, n8, n..10,6")
    code_list_id: uuid.UUID | None = None
    unit: str = Field("", max_length=40)
    version: str = Field("1.0", min_length=1, max_length=20)

    @field_validator("identifier")
    @classmethod
    def _ident(cls, v: str) -> str:
        if not IDENTIFIER.match(v):
            raise ValueError("use letters, digits and . _ - (start with a letter)")
        return v

    @field_validator("format")
    @classmethod
    def _format(cls, v: str) -> str:
        v = v.strip()
        if not format_ok(v):
            raise ValueError("not a representation format such as an..18, n8, n..10,6 or YYYY-MM-DD")
        return v


class DataElementUpdate(InputModel):
    """Changes to a draft data element (all optional)."""

    name_zh: str | None = Field(None, min_length=1, max_length=100)
    name_en: str | None = Field(None, max_length=200)
    definition: str | None = Field(None, max_length=4000)
    data_type: ElementType | None = None
    format: str | None = Field(None, max_length=40)
    code_list_id: uuid.UUID | None = None
    unit: str | None = Field(None, max_length=40)
    version: str | None = Field(None, min_length=1, max_length=20)

    @field_validator("format")
    @classmethod
    def _format(cls, v: str | None) -> str | None:
        if v is not None and not format_ok(v.strip()):
            raise ValueError("not a representation format such as an..18, n8, n..10,6 or YYYY-MM-DD")
        return v.strip() if v is not None else None


class CodeValue(ReadModel):
    """A code of a code list."""

    code: str
    label_zh: str
    label_en: str
    parent_code: str


class CodeList(ReadModel):
    """A code list with how many codes it holds."""

    id: uuid.UUID
    identifier: str
    name: str
    name_en: str
    source_standard: str
    description: str
    status: str
    owner_org_id: uuid.UUID | None
    values_count: int = 0
    updated_at: datetime


class CodeListDetail(CodeList):
    """A code list with its codes (in order)."""

    values: list[CodeValue]


class DataElement(ReadModel):
    """A data element."""

    id: uuid.UUID
    identifier: str
    name_zh: str
    name_en: str
    definition: str
    data_type: str
    format: str
    code_list_id: uuid.UUID | None
    code_list_identifier: str = ""
    unit: str
    version: str
    status: str
    owner_org_id: uuid.UUID | None
    updated_at: datetime


class ElementUse(ReadModel):
    """A catalog entry item referring to a data element."""

    entry_id: uuid.UUID
    title: str
    org_id: uuid.UUID
    item: str
    item_name: str


class CodeImportError(ReadModel):
    """One refused row of a code-list import (1 = the first data row)."""

    row: int
    field: str
    message: str


class ImportReport(ReadModel):
    """The outcome of a code-list import: codes added and changed, or the rows refused (then nothing is written)."""

    added: int = 0
    updated: int = 0
    errors: list[CodeImportError] = Field(default_factory=list)


class FieldConformance(ReadModel):
    """One field (information item) of a resource against its data element."""

    item: str
    item_name: str
    element: str = ""
    element_name: str = ""  # the element's Chinese name
    element_name_en: str = ""  # its English name ("" when it has none)
    standardised: bool
    type_ok: bool = True
    checked: int = 0
    conforming: int = 0
    nonconforming: int = 0
    bad_type: int = 0
    bad_format: int = 0
    bad_code: int = 0
    samples: list[str] = Field(default_factory=list)


class ResourceConformance(ReadModel):
    """A table resource's conformance: per field, and in total."""

    resource_id: uuid.UUID
    entry_id: uuid.UUID
    title: str
    org_id: uuid.UUID
    rows: int
    fields: list[FieldConformance]
    fields_total: int
    fields_standardised: int
    checked: int
    conforming: int
    nonconforming: int
    rate: float | None  # conforming share of checked values, in percent
    state: ConformanceState = "never"
    checked_at: datetime | None = None  # when the stored result was counted (None: never checked)
    stale_reason: str = ""  # element | code_list | items | data | requested (when `state` is "stale")
    standards: dict[str, dict[str, str | int]] = Field(default_factory=dict)  # element → version it was checked at


class OrgConformance(ReadModel):
    """A department's totals over its table resources."""

    org_id: uuid.UUID
    resources: int
    fields_total: int
    fields_standardised: int
    checked: int
    conforming: int
    nonconforming: int
    rate: float | None
    stale: int = 0  # resources whose stored result is out of date
    unchecked: int = 0  # resources following data elements that were never checked
    last_checked_at: datetime | None = None
