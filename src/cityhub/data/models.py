"""Tables of the data domain: catalog entries and versions, mounted resources, 三清单, sharing, grants, objections.

Datastore tables of mounted table resources (`ds_<resource hex>`) are created at upload time by the service and
are deliberately not part of this metadata: their columns come from each entry's information items.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from cityhub.kit import clock, labels
from cityhub.kit.db import Base, Timestamps, UUIDPk, status_type
from cityhub.kit.settings import get_settings


class EntryStatus(StrEnum):
    """Lifecycle of a catalog entry."""

    DRAFT = "draft"
    PENDING_REVIEW = "pending_review"
    PUBLISHED = "published"
    REJECTED = "rejected"
    OFFLINE = "offline"


class ChangeStatus(StrEnum):
    """State of pending changes to a published entry (re-reviewed before they become a new version)."""

    NONE = ""
    DRAFT = "draft"
    PENDING_REVIEW = "pending_review"
    REJECTED = "rejected"


class RequestStatus(StrEnum):
    """Lifecycle of a sharing request."""

    DRAFT = "draft"
    SUBMITTED = "submitted"
    COMPLIANCE_REVIEW = "compliance_review"
    PROVIDER_REVIEW = "provider_review"
    APPROVED = "approved"
    PROVISIONING = "provisioning"
    ACTIVE = "active"
    REJECTED = "rejected"
    COORDINATION = "coordination"
    CLOSED = "closed"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"
    REVOKED = "revoked"


class ObjectionStatus(StrEnum):
    """Lifecycle of an objection."""

    RAISED = "raised"
    HANDLING = "handling"
    HANDLED = "handled"
    EVALUATED = "evaluated"


class DemandStatus(StrEnum):
    """Lifecycle of a data need on the 需求清单."""

    FILED = "filed"
    ASSIGNED = "assigned"
    ANSWERED = "answered"
    CLOSED = "closed"


labels.register(EntryStatus, {
    EntryStatus.DRAFT: "Draft", EntryStatus.PENDING_REVIEW: "Waiting for review", EntryStatus.PUBLISHED: "Published",
    EntryStatus.REJECTED: "Rejected", EntryStatus.OFFLINE: "Offline"})
labels.register(ChangeStatus, {
    ChangeStatus.NONE: "No changes", ChangeStatus.DRAFT: "Changes drafted",
    ChangeStatus.PENDING_REVIEW: "Changes waiting for review", ChangeStatus.REJECTED: "Changes rejected"})
labels.register(RequestStatus, {
    RequestStatus.DRAFT: "Draft", RequestStatus.SUBMITTED: "Submitted for review",
    RequestStatus.COMPLIANCE_REVIEW: "Bureau compliance review", RequestStatus.PROVIDER_REVIEW: "Provider review",
    RequestStatus.APPROVED: "Approved", RequestStatus.PROVISIONING: "Provisioning", RequestStatus.ACTIVE: "In effect",
    RequestStatus.REJECTED: "Rejected", RequestStatus.COORDINATION: "In coordination", RequestStatus.CLOSED: "Closed",
    RequestStatus.WITHDRAWN: "Withdrawn", RequestStatus.EXPIRED: "Expired",
    RequestStatus.REVOKED: "Revoked by the provider"})
labels.register(ObjectionStatus, {
    ObjectionStatus.RAISED: "Newly raised", ObjectionStatus.HANDLING: "Being handled",
    ObjectionStatus.HANDLED: "Handled", ObjectionStatus.EVALUATED: "Evaluated"})
labels.register(DemandStatus, {
    DemandStatus.FILED: "Filed", DemandStatus.ASSIGNED: "Assigned", DemandStatus.ANSWERED: "Answered",
    DemandStatus.CLOSED: "Closed"})
# Grants keep a plain string status.
labels.register("data.grant_status", {"active": "In effect", "expired": "Expired", "revoked": "Revoked by the provider",
                                      "exhausted": "Quota used up"})



class CatalogEntry(UUIDPk, Timestamps, Base):
    """One government data resource in the catalog (政务信息资源目录 entry)."""

    __tablename__ = "data_catalog_entry"

    code: Mapped[str] = mapped_column(String(60), unique=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)  # stable URL-safe slug
    title: Mapped[str] = mapped_column(String(200))
    abstract: Mapped[str] = mapped_column(Text, default="")
    provider_org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_organization.id"), index=True)
    classification: Mapped[str] = mapped_column(String(20), index=True)
    base_db: Mapped[str] = mapped_column(String(20), default="", index=True)
    theme: Mapped[str] = mapped_column(String(60), default="")
    tags: Mapped[list[Any]] = mapped_column(default=list)
    format_category: Mapped[str] = mapped_column(String(20))
    items: Mapped[list[Any]] = mapped_column(default=list)
    share_type: Mapped[str] = mapped_column(String(20), index=True)
    share_condition: Mapped[str] = mapped_column(Text, default="")
    legal_basis: Mapped[str] = mapped_column(Text, default="")
    share_mode: Mapped[str] = mapped_column(String(20), default="")
    open_type: Mapped[str] = mapped_column(String(20), index=True)
    open_condition: Mapped[str] = mapped_column(Text, default="")
    update_cycle: Mapped[str] = mapped_column(String(20))
    security_grade: Mapped[str] = mapped_column(String(20), index=True)
    source_system: Mapped[str] = mapped_column(String(200), default="")
    related_entry_ids: Mapped[list[Any]] = mapped_column(default=list)
    status: Mapped[EntryStatus] = mapped_column(status_type(EntryStatus), default=EntryStatus.DRAFT, index=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    change_status: Mapped[ChangeStatus] = mapped_column(status_type(ChangeStatus), default=ChangeStatus.NONE)
    pending_changes: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    review_note: Mapped[str] = mapped_column(Text, default="")
    published_at: Mapped[datetime | None]
    search_text: Mapped[str] = mapped_column(Text, default="")  # jieba-segmented + pinyin, same transaction
    views: Mapped[int] = mapped_column(Integer, default=0)
    requests_count: Mapped[int] = mapped_column(Integer, default=0)
    grants_count: Mapped[int] = mapped_column(Integer, default=0)
    accesses_count: Mapped[int] = mapped_column(Integer, default=0)
    # provenance of an entry harvested from a remote CKAN catalogue (collection/harvest.py); empty otherwise
    harvest_source_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("data_sync_source.id", ondelete="SET NULL"), index=True, default=None)
    harvest_remote_id: Mapped[str] = mapped_column(String(200), default="")
    harvest_remote_name: Mapped[str] = mapped_column(String(200), default="")
    harvest_remote_modified: Mapped[datetime | None] = mapped_column(default=None)
    harvested_at: Mapped[datetime | None] = mapped_column(default=None)
    harvest_gone: Mapped[bool] = mapped_column(default=False)  # no longer in the remote catalogue (kept, flagged)
    # the catalog tier (decision 0012): "city", or "district" with the district (区县) the provider belongs to,
    # derived from the provider at registration (units are never re-parented); a district entry reaches the city
    # catalog only when the district shares it upward (上报/共享至市级)
    tier: Mapped[str] = mapped_column(String(10), default="city")
    tier_org_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_organization.id"), index=True,
                                                          default=None)
    shared_upward: Mapped[bool] = mapped_column(default=False)


class CatalogSearch(Base):
    """The narrow search row of an entry, kept in step with it by a before-flush hook (same transaction).

    Facet columns plus the search tokens, so scans for search and facet counts read a few dozen bytes per entry.

    PostgreSQL: `search_vector` (tsvector of the jieba tokens, GIN) and an empty `search_text`;
    SQLite: `search_text` (LIKE fallback) and no vector.
    """

    __tablename__ = "data_catalog_search"
    __table_args__ = (
        # On SQLite a plain index over an always-empty column (kept so both backends share one schema).
        Index("ix_data_catalog_search_vector", "search_vector", postgresql_using="gin"),
    )

    entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("data_catalog_entry.id", ondelete="CASCADE"),
                                                primary_key=True)
    status: Mapped[str] = mapped_column(String(20))
    open_type: Mapped[str] = mapped_column(String(20))
    provider_org_id: Mapped[uuid.UUID]
    classification: Mapped[str] = mapped_column(String(20))
    base_db: Mapped[str] = mapped_column(String(20))
    share_type: Mapped[str] = mapped_column(String(20))
    format_category: Mapped[str] = mapped_column(String(20))
    update_cycle: Mapped[str] = mapped_column(String(20))
    security_grade: Mapped[str] = mapped_column(String(20))
    code: Mapped[str] = mapped_column(String(60))
    tier: Mapped[str] = mapped_column(String(10), default="city")
    tier_org_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    shared_upward: Mapped[bool] = mapped_column(default=False)
    publisher_org_id: Mapped[uuid.UUID | None] = mapped_column(default=None)  # the district, else the provider
    updated_at: Mapped[datetime]
    search_text: Mapped[str] = mapped_column(Text, default="")
    search_vector: Mapped[str | None] = mapped_column(Text().with_variant(TSVECTOR(), "postgresql"), default=None)


class EntryVersion(UUIDPk, Base):
    """A published version of an entry, with the readable diff from the previous one."""

    __tablename__ = "data_entry_version"
    __table_args__ = (UniqueConstraint("entry_id", "version"),)

    entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("data_catalog_entry.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    snapshot: Mapped[dict[str, Any]] = mapped_column(default=dict)
    diff: Mapped[list[Any]] = mapped_column(default=list)
    actor_name: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class Resource(UUIDPk, Timestamps, Base):
    """A resource mounted on an entry: a datastore table, a proxied API or a file."""

    __tablename__ = "data_resource"

    entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("data_catalog_entry.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # table | api | file
    title: Mapped[str] = mapped_column(String(200))
    table_name: Mapped[str | None] = mapped_column(String(63))
    columns: Mapped[list[Any]] = mapped_column(default=list)
    row_count: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)
    loaded_at: Mapped[datetime | None]
    upstream_url: Mapped[str] = mapped_column(String(500), default="")
    upstream_method: Mapped[str] = mapped_column(String(10), default="GET")
    credentials_enc: Mapped[str] = mapped_column(Text, default="")  # Fernet, key derived from secret_key
    file_name: Mapped[str] = mapped_column(String(200), default="")
    file_size: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)
    file_sha256: Mapped[str] = mapped_column(String(64), default="")
    media_type: Mapped[str] = mapped_column(String(100), default="")


class DataLoad(UUIDPk, Base):
    """One upload attempt of a table resource (accepted or refused), for the field pass-rate KPI."""

    __tablename__ = "data_load"

    entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("data_catalog_entry.id", ondelete="CASCADE"), index=True)
    resource_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("data_resource.id", ondelete="CASCADE"))
    provider_org_id: Mapped[uuid.UUID] = mapped_column(index=True)
    at: Mapped[datetime] = mapped_column(default=clock.now)
    encoding: Mapped[str] = mapped_column(String(20), default="")
    rows_total: Mapped[int] = mapped_column(Integer, default=0)
    rows_bad: Mapped[int] = mapped_column(Integer, default=0)
    accepted: Mapped[bool] = mapped_column(default=False)
    errors: Mapped[list[Any]] = mapped_column(default=list)


class ShareRequest(UUIDPk, Timestamps, Base):
    """A department's request to use another department's data."""

    __tablename__ = "data_share_request"

    entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("data_catalog_entry.id"), index=True)
    provider_org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_organization.id"), index=True)
    requester_org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_organization.id"), index=True)
    requester_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_user.id"))
    items: Mapped[list[Any]] = mapped_column(default=list)
    legal_basis: Mapped[str] = mapped_column(Text, default="")
    attachment_name: Mapped[str] = mapped_column(String(200), default="")
    purpose: Mapped[str] = mapped_column(Text, default="")
    scope: Mapped[str] = mapped_column(Text, default="")
    scenario: Mapped[str] = mapped_column(Text, default="")
    consuming_system: Mapped[str] = mapped_column(String(200), default="")
    valid_until: Mapped[datetime | None]
    quota: Mapped[int] = mapped_column(Integer, default=0)  # rows; 0 = unlimited
    status: Mapped[RequestStatus] = mapped_column(status_type(RequestStatus), default=RequestStatus.DRAFT,
                                                  index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    core_grade: Mapped[bool] = mapped_column(default=False)
    provider_approved_at: Mapped[datetime | None]
    stage_started_at: Mapped[datetime | None]
    deadline_at: Mapped[datetime | None]
    reminded_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]
    submitted_at: Mapped[datetime | None]
    tier_org_id: Mapped[uuid.UUID | None] = mapped_column(default=None)  # the reviewing district; None: the bureau


class RequestEvent(Base):
    """One transition of a sharing request (tracking page and reply-time KPI)."""

    __tablename__ = "data_request_event"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("data_share_request.id", ondelete="CASCADE"),
                                                  index=True)
    at: Mapped[datetime] = mapped_column(default=clock.now)
    actor_name: Mapped[str] = mapped_column(String(100), default="")
    from_status: Mapped[str] = mapped_column(String(20), default="")
    to_status: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(Text, default="")


class Grant(UUIDPk, Timestamps, Base):
    """An active permission of a consuming system to read an entry's granted items."""

    __tablename__ = "data_grant"

    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("data_share_request.id"), unique=True)
    entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("data_catalog_entry.id"), index=True)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_organization.id"), index=True)
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_user.id"))
    token_id: Mapped[uuid.UUID | None]
    items: Mapped[list[Any]] = mapped_column(default=list)
    quota: Mapped[int] = mapped_column(Integer, default=0)
    used: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)
    valid_until: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(20), default="active")


class AccessLog(Base):
    """One read through a grant: who, which grant and resource, how many rows."""

    __tablename__ = "data_access_log"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    grant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("data_grant.id", ondelete="CASCADE"), index=True)
    resource_id: Mapped[uuid.UUID | None]
    at: Mapped[datetime] = mapped_column(default=clock.now)
    actor_name: Mapped[str] = mapped_column(String(100), default="")
    kind: Mapped[str] = mapped_column(String(10), default="rows")
    rows: Mapped[int] = mapped_column(Integer, default=0)


class Objection(UUIDPk, Timestamps, Base):
    """目录纠错 / 申请异议 / 使用异议, handled by the provider within a deadline."""

    __tablename__ = "data_objection"

    kind: Mapped[str] = mapped_column(String(20))
    entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("data_catalog_entry.id"), index=True)
    request_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("data_share_request.id"))
    handler_org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_organization.id"), index=True)
    raiser_org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_organization.id"), index=True)
    raiser_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_user.id"))
    content: Mapped[str] = mapped_column(Text)
    status: Mapped[ObjectionStatus] = mapped_column(status_type(ObjectionStatus), default=ObjectionStatus.RAISED,
                                                    index=True)
    deadline_at: Mapped[datetime | None]
    reply: Mapped[str] = mapped_column(Text, default="")
    handled_at: Mapped[datetime | None]
    rating: Mapped[int | None]
    evaluation: Mapped[str] = mapped_column(Text, default="")


class Demand(UUIDPk, Timestamps, Base):
    """A data need on the 需求清单: filed by a department, assigned by the bureau, answered by the holder."""

    __tablename__ = "data_demand"

    requester_org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_organization.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    purpose: Mapped[str] = mapped_column(Text, default="")
    legal_basis: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[DemandStatus] = mapped_column(status_type(DemandStatus), default=DemandStatus.FILED, index=True)
    assigned_org_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_organization.id"), index=True)
    deadline_at: Mapped[datetime | None]
    entry_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("data_catalog_entry.id"))
    answer: Mapped[str] = mapped_column(Text, default="")
    answered_at: Mapped[datetime | None]


class PortalDownload(Base):
    """Open-portal downloads of an entry's data per day (datastore dumps, Data Package files), for the charts."""

    __tablename__ = "data_portal_download"

    entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("data_catalog_entry.id", ondelete="CASCADE"),
                                                primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    downloads: Mapped[int] = mapped_column(Integer, default=0)


class PortalApiCall(Base):
    """Calls of the open portal's Action API per day (Asia/Shanghai), for the portal's usage chart."""

    __tablename__ = "data_portal_api_call"

    day: Mapped[date] = mapped_column(primary_key=True)
    calls: Mapped[int] = mapped_column(Integer, default=0)


class SyncSource(UUIDPk, Timestamps, Base):
    """A department system data is collected from: a database (SQLAlchemy URL), a file drop folder or an HTTP API.

    The URL is stored without its password; the password (databases) or headers (APIs) are Fernet-encrypted in
    `credentials_enc` and never returned.
    """

    __tablename__ = "data_sync_source"
    __table_args__ = (UniqueConstraint("org_id", "name"),)

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_organization.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(10))  # database | files | http | ckan
    url: Mapped[str] = mapped_column(String(500), default="")
    credentials_enc: Mapped[str] = mapped_column(Text, default="")
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)

    @property
    def has_credentials(self) -> bool:
        """Whether a password or headers are stored (they are never shown)."""
        return bool(self.credentials_enc)

    @property
    def drop_folder(self) -> str:
        """The folder a file source reads ("" for other kinds)."""
        return str(drop_folder(self.id)) if self.kind == "files" else ""


def drop_folder(source_id: uuid.UUID) -> Path:
    """Where a file-drop source's department puts its files (one folder per source, under the var dir)."""
    return get_settings().var_dir / "data" / "drop" / source_id.hex


class SyncJob(UUIDPk, Timestamps, Base):
    """Copies a source's rows into a catalog entry's datastore table: column mapping, key, mode, schedule."""

    __tablename__ = "data_sync_job"
    __table_args__ = (UniqueConstraint("org_id", "name"),)

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_organization.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    source_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("data_sync_source.id", ondelete="CASCADE"), index=True)
    entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("data_catalog_entry.id", ondelete="CASCADE"), index=True)
    query: Mapped[str] = mapped_column(Text, default="")  # a table name or a SELECT (databases)
    mapping: Mapped[dict[str, Any]] = mapped_column(default=dict)  # target item -> source column
    key: Mapped[list[Any]] = mapped_column(default=list)  # target items identifying a row
    mode: Mapped[str] = mapped_column(String(12), default="full")  # full | incremental
    cursor_column: Mapped[str] = mapped_column(String(63), default="")  # source column, monotonic or updated-at
    watermark: Mapped[dict[str, Any] | None] = mapped_column(default=None)  # {"type", "value"} of the last run
    schedule: Mapped[str] = mapped_column(String(100), default="")  # cron expression; "" = on demand only
    enabled: Mapped[bool] = mapped_column(default=True)
    next_run_at: Mapped[datetime | None] = mapped_column(index=True)
    batch_size: Mapped[int] = mapped_column(Integer, default=5000)
    failures: Mapped[int] = mapped_column(Integer, default=0)  # consecutive failed runs (backoff)
    last_status: Mapped[str] = mapped_column(String(12), default="")
    last_run_at: Mapped[datetime | None]


class SyncRun(UUIDPk, Base):
    """One run of a sync job: its counts, rejected rows with reasons, duration, error."""

    __tablename__ = "data_sync_run"

    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("data_sync_job.id", ondelete="CASCADE"), index=True)
    trigger: Mapped[str] = mapped_column(String(12), default="manual")  # manual | schedule | cli
    status: Mapped[str] = mapped_column(String(12), default="running")  # running | succeeded | failed
    started_at: Mapped[datetime] = mapped_column(default=clock.now)
    finished_at: Mapped[datetime | None]
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    rows_read: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)
    rows_inserted: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)
    rows_updated: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)
    rows_rejected: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)
    rejects: Mapped[list[Any]] = mapped_column(default=list)  # first rejects: {"row", "column", "value", "message"}
    error: Mapped[str] = mapped_column(Text, default="")
    watermark_from: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    watermark_to: Mapped[dict[str, Any] | None] = mapped_column(default=None)


class HarvestRun(UUIDPk, Base):
    """One harvest of a CKAN source: datasets read, entries created, updated, unchanged, flagged gone, failed."""

    __tablename__ = "data_harvest_run"

    source_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("data_sync_source.id", ondelete="CASCADE"), index=True)
    trigger: Mapped[str] = mapped_column(String(12), default="manual")
    status: Mapped[str] = mapped_column(String(12), default="running")  # running | succeeded | failed
    started_at: Mapped[datetime] = mapped_column(default=clock.now)
    finished_at: Mapped[datetime | None]
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    pages: Mapped[int] = mapped_column(Integer, default=0)
    datasets_read: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    gone: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[list[Any]] = mapped_column(default=list)  # first 200: {"remote", "message"}
    error: Mapped[str] = mapped_column(Text, default="")


class BaseFeed(UUIDPk, Timestamps, Base):
    """A catalog entry feeding a base database (自然人, 法人, 电子证照 …): its key item and how far it is trusted.

    Priority 1 is the most trusted source (the registering authority); a field's golden value comes from the most
    trusted feed that has one, the newest load breaking a tie.
    """

    __tablename__ = "data_base_feed"
    __table_args__ = (UniqueConstraint("base_db", "entry_id"),)

    base_db: Mapped[str] = mapped_column(String(20), index=True)
    entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("data_catalog_entry.id", ondelete="CASCADE"), index=True)
    org_id: Mapped[uuid.UUID] = mapped_column(index=True)  # the entry's provider, kept for scoping
    key_item: Mapped[str] = mapped_column(String(60))
    priority: Mapped[int] = mapped_column(Integer, default=10)


class BaseRecord(UUIDPk, Base):
    """The golden record of one key (身份号码, 统一社会信用代码, licence number) in a base database.

    `fields`: item → merged value (as text, the datastore's rendering); `provenance`: item → {"feed", "entry",
    "org", "at"} of the feed the value came from; `conflicts`: fields on which the feeds disagree (open ones).
    """

    __tablename__ = "data_base_record"
    __table_args__ = (UniqueConstraint("base_db", "key"),
                      Index("ix_data_base_record_bbox", "base_db", "min_x", "min_y"),
                      Index("ix_data_base_record_holder", "base_db", "holder"))

    base_db: Mapped[str] = mapped_column(String(20))
    key: Mapped[str] = mapped_column(String(64))
    fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    provenance: Mapped[dict[str, Any]] = mapped_column(default=dict)
    sources: Mapped[int] = mapped_column(Integer, default=0)  # feeds holding the key
    conflicts: Mapped[int] = mapped_column(Integer, default=0)
    merged_at: Mapped[datetime] = mapped_column(default=clock.now)
    # 自然资源和空间地理: the validated geometry (GeoJSON, WGS 84) and its bounding box, the prefilter of place
    # lookups on any database (`base.geo`); None for records without one.
    geometry: Mapped[str | None] = mapped_column(Text, nullable=True)
    min_x: Mapped[float | None] = mapped_column(nullable=True)
    min_y: Mapped[float | None] = mapped_column(nullable=True)
    max_x: Mapped[float | None] = mapped_column(nullable=True)
    max_y: Mapped[float | None] = mapped_column(nullable=True)
    # 电子证照: the holder's code (统一社会信用代码 or 公民身份号码), linking a licence to its holder's golden record
    holder: Mapped[str | None] = mapped_column(String(64), nullable=True)


class BaseConflict(UUIDPk, Base):
    """Feeds disagree on a field of a golden record: the candidates, for the base database's owner to resolve.

    Resolving picks one candidate's value; the record keeps it (provenance "resolved") until the feeds change.
    """

    __tablename__ = "data_base_conflict"
    __table_args__ = (UniqueConstraint("record_id", "field"),)

    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("data_base_record.id", ondelete="CASCADE"), index=True)
    base_db: Mapped[str] = mapped_column(String(20), index=True)
    field: Mapped[str] = mapped_column(String(60))
    candidates: Mapped[list[Any]] = mapped_column(default=list)  # [{"feed", "org", "priority", "value", "at"}]
    status: Mapped[str] = mapped_column(String(12), default="open")  # open | resolved
    chosen: Mapped[str | None] = mapped_column(Text, nullable=True)
    resolved_by: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(nullable=True)



# Data standards and quality keep their tables in their capability packages; imported here so the domain's metadata
# is whole.
import cityhub.data.quality.models  # noqa: E402  # registers quality's tables after the domain's own
import cityhub.data.standards.models  # noqa: E402, F401  # registers the standards' tables after the domain's own
