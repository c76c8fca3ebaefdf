"""Schemas of the base databases: feeds, golden records, conflicts."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from cityhub.kit.schemas import InputModel, ReadModel

BaseDbCode = Literal["population", "legal_person", "geo", "credit", "license"]


class BaseFeedSet(InputModel):
    """An entry feeding a base database: the item holding the key and the feed's trust (1 = most trusted)."""

    base_db: BaseDbCode
    entry_id: uuid.UUID
    key_item: str = Field(min_length=1, max_length=60)
    priority: int = Field(10, ge=1, le=99)


class BaseConflictResolve(InputModel):
    """The owner's choice among a conflict's candidate values."""

    value: str = Field(max_length=2000)


class BaseFeedRead(ReadModel):
    """A feed of a base database."""

    id: uuid.UUID
    base_db: str
    entry_id: uuid.UUID
    org_id: uuid.UUID
    key_item: str
    priority: int


class BaseFeedInfo(ReadModel):
    """A feed as the base database's page lists it: its entry, unit, rows and last load (freshness)."""

    feed_id: uuid.UUID
    entry_id: uuid.UUID
    title: str
    org_id: uuid.UUID
    key_item: str
    priority: int
    rows: int | None
    loaded_at: datetime | None


class BaseSummary(ReadModel):
    """A base database: golden records, open conflicts, last merge, feeds."""

    base_db: str
    records: int
    open_conflicts: int
    merged_at: datetime | None
    feeds: list[BaseFeedInfo]


class BaseRecordRead(ReadModel):
    """A golden record: merged fields and where each came from."""

    id: uuid.UUID
    base_db: str
    key: str
    fields: dict[str, Any]
    provenance: dict[str, Any]
    sources: int
    conflicts: int
    merged_at: datetime
    geojson: dict[str, Any] | None = None  # the geo base database's geometry, when the reader sees it clear
    # 电子证照 ↔ 法人 / 自然人: a licence's holder, a holder's licences — {"base_db", "key", "role", "label"}, only
    # those the reader may look up
    links: list[dict[str, Any]] = Field(default_factory=list)


class BaseConflictRead(ReadModel):
    """Feeds disagreeing on a field of a golden record."""

    id: uuid.UUID
    record_id: uuid.UUID
    base_db: str
    field: str
    candidates: list[dict[str, Any]]
    status: str
    chosen: str | None
