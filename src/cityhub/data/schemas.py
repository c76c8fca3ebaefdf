"""Pydantic schemas of the data domain's catalog, sharing, objections, demands, KPIs and open-data portal.

Collection, quality checks and base databases keep theirs in their own packages; the vocabularies are in
`data.vocabulary`.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from cityhub.data.vocabulary import (
    MASK_RULES,
    BaseDb,
    Classification,
    DataType,
    FormatCategory,
    Grade,
    ObjectionKind,
    OpenType,
    ShareMode,
    ShareType,
    UpdateCycle,
)
from cityhub.kit.schemas import IDSchema, InputModel, ReadModel, Timestamped

_IDENT = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{1,118}$")


class InfoItem(InputModel):
    """One 信息项 of an entry."""

    name_cn: str = Field(min_length=1, max_length=100)
    name_en: str = Field(min_length=1, max_length=63, description="Column name: lower-case letters, digits, _.")
    data_type: DataType
    length: int = Field(0, ge=0, le=100_000, description="Maximum length for C; 0 = unlimited.")
    description: str = Field("", max_length=1000)
    security_level: Grade = "general"
    masking_rule: str = Field("", max_length=30)
    required: bool = False
    element: str = Field("", max_length=40, description="The data element (数据元) the item follows, e.g. DE00001.")

    @field_validator("name_en")
    @classmethod
    def _ident(cls, v: str) -> str:
        if not _IDENT.match(v) or v.startswith("_"):
            raise ValueError("use lower-case letters, digits and _ (start with a letter)")
        return v

    @field_validator("masking_rule")
    @classmethod
    def _rule(cls, v: str) -> str:
        if v and v not in MASK_RULES:
            raise ValueError(f"unknown masking rule; one of {sorted(MASK_RULES)}")
        return v


def _check_items(items: list[InfoItem] | None) -> None:
    if items is None:
        return
    seen: set[str] = set()
    for it in items:
        if it.name_en in seen:
            raise ValueError(f"information item name_en '{it.name_en}' is duplicated")
        seen.add(it.name_en)


class _EntryFields(InputModel):
    @model_validator(mode="after")
    def _rules(self) -> Any:
        _check_items(getattr(self, "items", None))
        return self


class EntryCreate(_EntryFields):
    """A new catalog entry (draft)."""

    title: str = Field(min_length=2, max_length=200)
    name: str | None = Field(None, description="URL-safe slug; generated from the title's pinyin when empty.")
    abstract: str = Field("", max_length=4000)
    provider_org_id: uuid.UUID
    classification: Classification
    base_db: BaseDb = ""
    theme: str = Field("", max_length=60)
    tags: list[str] = Field(default_factory=list, max_length=30)
    format_category: FormatCategory
    items: list[InfoItem] = Field(min_length=1, max_length=500)
    share_type: ShareType
    share_condition: str = Field("", max_length=2000)
    legal_basis: str = Field("", max_length=2000)
    share_mode: ShareMode = ""
    open_type: OpenType = "none"
    open_condition: str = Field("", max_length=2000)
    update_cycle: UpdateCycle
    security_grade: Grade = "general"
    source_system: str = Field("", max_length=200)
    related_entry_ids: list[uuid.UUID] = Field(default_factory=list, max_length=50)

    @field_validator("name")
    @classmethod
    def _slug(cls, v: str | None) -> str | None:
        if v is not None and not _SLUG.match(v):
            raise ValueError("use lower-case letters, digits, - and _ (2-120 characters)")
        return v


class EntryUpdate(_EntryFields):
    """Changes to an entry (all optional); on a published entry they wait for re-review."""

    title: str | None = Field(None, min_length=2, max_length=200)
    abstract: str | None = Field(None, max_length=4000)
    classification: Classification | None = None
    base_db: BaseDb | None = None
    theme: str | None = Field(None, max_length=60)
    tags: list[str] | None = Field(None, max_length=30)
    format_category: FormatCategory | None = None
    items: list[InfoItem] | None = Field(None, min_length=1, max_length=500)
    share_type: ShareType | None = None
    share_condition: str | None = Field(None, max_length=2000)
    legal_basis: str | None = Field(None, max_length=2000)
    share_mode: ShareMode | None = None
    open_type: OpenType | None = None
    open_condition: str | None = Field(None, max_length=2000)
    update_cycle: UpdateCycle | None = None
    security_grade: Grade | None = None
    source_system: str | None = Field(None, max_length=200)
    related_entry_ids: list[uuid.UUID] | None = Field(None, max_length=50)


class ReviewDecision(InputModel):
    """A reviewer's decision; a rejection needs a reason."""

    approve: bool
    note: str = Field("", max_length=2000)

    @model_validator(mode="after")
    def _reason(self) -> ReviewDecision:
        if not self.approve and not self.note.strip():
            raise ValueError("a rejection needs a reason (note)")
        return self


class ShareUpward(InputModel):
    """Share a district's entry with the city catalog (true) or stop (false)."""

    shared: bool


class Reason(InputModel):
    """A free-text reason."""

    reason: str = Field("", max_length=2000)


class Entry(Timestamped):
    """A catalog entry as read."""

    code: str
    name: str
    title: str
    abstract: str
    provider_org_id: uuid.UUID
    classification: str
    base_db: str
    theme: str
    tags: list[str]
    format_category: str
    items: list[dict[str, Any]]
    share_type: str
    share_condition: str
    legal_basis: str
    share_mode: str
    open_type: str
    open_condition: str
    update_cycle: str
    security_grade: str
    source_system: str
    related_entry_ids: list[uuid.UUID]
    status: str
    version: int
    change_status: str
    pending_changes: dict[str, Any] | None
    review_note: str
    published_at: datetime | None
    harvest_source_id: uuid.UUID | None = None
    harvest_remote_id: str = ""
    harvest_remote_name: str = ""
    harvest_remote_modified: datetime | None = None
    harvested_at: datetime | None = None
    harvest_gone: bool = False
    tier: str = "city"  # "city" or "district" (decision 0012)
    tier_org_id: uuid.UUID | None = None  # the district (区县) of a district entry: the provider the city sees
    shared_upward: bool = False  # a district entry shared with the city catalog (上报/共享至市级)
    views: int
    requests_count: int
    grants_count: int
    accesses_count: int


class EntryVersion(IDSchema):
    """One published version with its diff."""

    entry_id: uuid.UUID
    version: int
    snapshot: dict[str, Any]
    diff: list[dict[str, Any]]
    actor_name: str
    created_at: datetime


class SearchResult(ReadModel):
    """One page of catalog search with facet counts."""

    items: list[Entry]
    total: int
    limit: int
    offset: int
    facets: dict[str, dict[str, int]]


class ResourceApiCreate(InputModel):
    """An upstream HTTP endpoint proxied to grantees; credentials are kept server-side, encrypted."""

    title: str = Field(min_length=1, max_length=200)
    upstream_url: str = Field(min_length=8, max_length=500, pattern=r"^https?://")
    upstream_method: Literal["GET", "POST"] = "GET"
    credentials: dict[str, str] = Field(default_factory=dict, description="Headers sent upstream, e.g. X-Api-Key.")


class Resource(Timestamped):
    """A mounted resource (credentials are never returned)."""

    entry_id: uuid.UUID
    kind: str
    title: str
    table_name: str | None
    columns: list[str]
    row_count: int
    loaded_at: datetime | None
    upstream_url: str
    upstream_method: str
    file_name: str
    file_size: int
    file_sha256: str
    media_type: str


class LoadReport(ReadModel):
    """Outcome of a table upload."""

    resource_id: uuid.UUID
    accepted: bool
    encoding: str
    rows_total: int
    rows_bad: int
    errors: list[dict[str, Any]]


class ShareRequestCreate(InputModel):
    """A sharing request (draft) for a subset of an entry's information items."""

    entry_id: uuid.UUID
    items: list[str] = Field(min_length=1, max_length=500)
    legal_basis: str = Field(min_length=2, max_length=2000)
    attachment_name: str = Field("", max_length=200)
    purpose: str = Field(min_length=2, max_length=2000)
    scope: str = Field("", max_length=2000)
    scenario: str = Field("", max_length=2000)
    consuming_system: str = Field(min_length=2, max_length=200)
    valid_until: datetime | None = None
    quota: int = Field(0, ge=0, le=1_000_000_000)

    @field_validator("valid_until")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        if v is not None and v.tzinfo is None:
            raise ValueError("valid_until needs a time zone")
        return v


class ShareRequest(Timestamped):
    """A sharing request as read."""

    entry_id: uuid.UUID
    provider_org_id: uuid.UUID
    requester_org_id: uuid.UUID
    requester_user_id: uuid.UUID | None
    items: list[str]
    legal_basis: str
    attachment_name: str
    purpose: str
    scope: str
    scenario: str
    consuming_system: str
    valid_until: datetime | None
    quota: int
    status: str
    reason: str
    core_grade: bool
    provider_approved_at: datetime | None
    deadline_at: datetime | None
    reminded_at: datetime | None
    escalated_at: datetime | None
    submitted_at: datetime | None
    tier_org_id: uuid.UUID | None = None  # the reviewing district of a district's resource; None: the bureau


class RequestEvent(ReadModel):
    """One transition of a request."""

    at: datetime
    actor_name: str
    from_status: str
    to_status: str
    note: str


class Grant(Timestamped):
    """An active grant."""

    request_id: uuid.UUID
    entry_id: uuid.UUID
    org_id: uuid.UUID
    items: list[str]
    quota: int
    used: int
    valid_until: datetime | None
    status: str


class GrantActivated(ReadModel):
    """The grant and the consuming system's credential (shown once)."""

    grant: Grant
    token: str


class Rows(ReadModel):
    """A page of datastore rows (masked as the caller's rights require)."""

    fields: list[str]
    records: list[dict[str, Any]]
    total: int | None
    limit: int
    offset: int
    next_after: int | None = None


class ObjectionCreate(InputModel):
    """Raise an objection about an entry or a request."""

    kind: ObjectionKind
    entry_id: uuid.UUID | None = None
    request_id: uuid.UUID | None = None
    content: str = Field(min_length=2, max_length=4000)

    @model_validator(mode="after")
    def _target(self) -> ObjectionCreate:
        if self.entry_id is None and self.request_id is None:
            raise ValueError("give entry_id or request_id")
        return self


class ObjectionReply(InputModel):
    """The handler's reply."""

    reply: str = Field(min_length=2, max_length=4000)


class ObjectionEvaluate(InputModel):
    """The raiser's rating of the handling."""

    rating: int = Field(ge=1, le=5)
    evaluation: str = Field("", max_length=2000)


class Objection(Timestamped):
    """An objection as read."""

    kind: str
    entry_id: uuid.UUID
    request_id: uuid.UUID | None
    handler_org_id: uuid.UUID
    raiser_org_id: uuid.UUID
    content: str
    status: str
    deadline_at: datetime | None
    reply: str
    handled_at: datetime | None
    rating: int | None
    evaluation: str


class DemandCreate(InputModel):
    """A data need for the 需求清单."""

    title: str = Field(min_length=2, max_length=200)
    description: str = Field(min_length=2, max_length=4000)
    purpose: str = Field(min_length=2, max_length=2000)
    legal_basis: str = Field("", max_length=2000)


class DemandAssign(InputModel):
    """The bureau names the responsible department."""

    org_id: uuid.UUID
    working_days: int = Field(10, ge=1, le=60)


class DemandAnswer(InputModel):
    """The responsible department links an entry (existing or newly created)."""

    entry_id: uuid.UUID
    answer: str = Field("", max_length=2000)


class Demand(Timestamped):
    """A need as read."""

    requester_org_id: uuid.UUID
    title: str
    description: str
    purpose: str
    legal_basis: str
    status: str
    assigned_org_id: uuid.UUID | None
    deadline_at: datetime | None
    entry_id: uuid.UUID | None
    answer: str
    answered_at: datetime | None


class Kpi(ReadModel):
    """责任清单 KPIs of one department, computed from recorded events."""

    org_id: uuid.UUID
    org_name: str
    entries: int
    published: int
    coverage: float | None
    field_pass_rate: float | None
    on_time_update_rate: float | None
    request_reply_days: float | None
    objection_reply_days: float | None
    demands_assigned: int
    demands_on_time: int
    data_quality: float | None = None  # mean latest score of the unit's quality checks (issue 20)
    quality_tasks: int = 0  # quality tasks (整改任务) opened for the unit
    quality_tasks_open: int = 0  # not closed yet: failures still open
    quality_tasks_overdue: int = 0  # open past their deadline
    quality_task_timeliness: float | None = None  # share of due tasks resolved by their deadline
    score: float


# ---------------------------------------------------------------- open-data portal (issue 6)


class PublicUserRegister(InputModel):
    """A visitor registers for the open-data portal (no department)."""

    username: str = Field(pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_.\-]{1,63}$")
    display_name: str = Field("", max_length=100)
    email: str = Field(max_length=200, pattern=r"^[^@\s]+@[^@\s]+$")
    password: str = Field(min_length=8, max_length=200)


class OpenApplicationCreate(InputModel):
    """A public user's application for a 有条件开放 dataset."""

    entry_id: uuid.UUID
    purpose: str = Field(min_length=4, max_length=2000)
    scope: str = Field("", max_length=2000)
    scenario: str = Field("", max_length=2000)
