"""Schemas of collection: sources, sync jobs, their runs, harvests (issue 20)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from cityhub.kit import labels
from cityhub.kit.schemas import IDSchema, InputModel, Timestamped

SOURCE_KINDS = ("database", "files", "http", "ckan", "dcat")
SYNC_MODES = ("full", "incremental")
labels.register("data.source_kind", {"database": "Database", "files": "File drop folder", "http": "HTTP JSON API",
                                           "ckan": "CKAN catalogue (harvested into the catalog)",
                                           "dcat": "DCAT catalogue (harvested into the catalog)"})
labels.register("data.sync_mode", {"full": "Full", "incremental": "Incremental"})
labels.register("data.run_status", {"running": "Running", "succeeded": "Succeeded", "failed": "Failed"})
labels.register("data.run_trigger", {"manual": "On demand", "schedule": "Scheduled", "cli": "Command line"})


class SourceCreate(InputModel):
    """A collection source; its `password` (database) or `headers` (API) are encrypted and never shown again.

    `url`: a SQLAlchemy URL (database), empty (files: a drop folder is made for it) or an http(s) URL (API).
    """

    org_id: uuid.UUID
    name: str = Field(min_length=1, max_length=120)
    kind: Literal["database", "files", "http", "ckan", "dcat"]
    url: str = Field("", max_length=500)
    password: str = Field("", max_length=500)
    headers: dict[str, str] = Field(default_factory=dict, max_length=20)
    options: dict[str, Any] = Field(default_factory=dict, max_length=20,
                                    description="files: {format: csv|xlsx|jsonl|parquet}; http: {records, "
                                                "page_param, size_param, page_size, first_page}; ckan: "
                                                "{page_size, fq, every_hours}; dcat: {every_hours}")


class Source(Timestamped):
    """A source as shown (never its credentials: only whether it has any)."""

    org_id: uuid.UUID
    name: str
    kind: str
    url: str
    options: dict[str, Any]
    has_credentials: bool = False
    drop_folder: str = ""


class JobCreate(InputModel):
    """A sync job: source rows → the entry's datastore table, upserted by `key` (target items)."""

    name: str = Field(min_length=1, max_length=120)
    source_id: uuid.UUID
    entry_id: uuid.UUID
    query: str = Field("", max_length=10_000, description="Database sources: a table name or one SELECT.")
    mapping: dict[str, str] = Field(min_length=1, max_length=500, description="target item -> source column")
    key: list[str] = Field(min_length=1, max_length=8)
    mode: Literal["full", "incremental"] = "full"
    cursor_column: str = Field("", max_length=63, description="Incremental: a monotonic or updated-at column.")
    schedule: str = Field("", max_length=100, description="A cron expression (UTC); empty: on demand only.")
    enabled: bool = True
    batch_size: int = Field(5000, ge=1, le=100_000)


class JobUpdate(InputModel):
    """Changeable parts of a sync job."""

    query: str | None = Field(None, max_length=10_000)
    mapping: dict[str, str] | None = Field(None, min_length=1, max_length=500)
    mode: Literal["full", "incremental"] | None = None
    cursor_column: str | None = Field(None, max_length=63)
    schedule: str | None = Field(None, max_length=100)
    enabled: bool | None = None
    batch_size: int | None = Field(None, ge=1, le=100_000)


class Job(Timestamped):
    """A sync job as shown."""

    org_id: uuid.UUID
    name: str
    source_id: uuid.UUID
    entry_id: uuid.UUID
    query: str
    mapping: dict[str, Any]
    key: list[Any]
    mode: str
    cursor_column: str
    watermark: dict[str, Any] | None
    schedule: str
    enabled: bool
    next_run_at: datetime | None
    batch_size: int
    failures: int
    last_status: str
    last_run_at: datetime | None


class Run(IDSchema):
    """One run of a sync job."""

    job_id: uuid.UUID
    trigger: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    duration_ms: int
    rows_read: int
    rows_inserted: int
    rows_updated: int
    rows_rejected: int
    rejects: list[Any]
    error: str
    watermark_from: dict[str, Any] | None
    watermark_to: dict[str, Any] | None


class HarvestRun(IDSchema):
    """One harvest of a CKAN source: datasets read and what became of them."""

    source_id: uuid.UUID
    trigger: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    duration_ms: int
    pages: int
    datasets_read: int
    created: int
    updated: int
    unchanged: int
    gone: int
    failed: int
    failures: list[Any]
    error: str
