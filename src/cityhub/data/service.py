"""The only way to data-domain state: catalog, versions, search, datastore, sharing, grants, objections, 三清单.

Issue 6 (the CKAN-compatible open-data portal) maps onto `catalog_search`, `catalog_entry_get/by_name/by_code`,
`datastore_query` and `resource_list`; every read path here applies visibility, grants and masking.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import logging
import re
import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import partial
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, and_, event, func, literal, or_, select, text, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from cityhub.core import service as core
from cityhub.core.service import Actor
from cityhub.data import cache, policies
from cityhub.data.models import (
    AccessLog,
    CatalogEntry,
    CatalogSearch,
    ChangeStatus,
    DataLoad,
    Demand,
    DemandStatus,
    EntryStatus,
    EntryVersion,
    Grant,
    Objection,
    ObjectionStatus,
    RequestEvent,
    RequestStatus,
    Resource,
    ShareRequest,
)
from cityhub.data.schemas import (
    BASE_DBS,
    CLASSIFICATIONS,
    CYCLE_DAYS,
    FACETS,
    GRADES,
    MASK_RULES,
    OPEN_TYPES,
    SHARE_TYPES,
    UPDATE_CYCLES,
    DemandAnswer,
    DemandAssign,
    DemandCreate,
    EntryCreate,
    EntryUpdate,
    ObjectionCreate,
    ResourceApiCreate,
    ShareRequestCreate,
)
from cityhub.data.schemas import Resource as ResourceSchema
from cityhub.kit import clock, egress, safejson
from cityhub.kit.db import is_postgres
from cityhub.kit.errors import (
    Conflict,
    Forbidden,
    InvalidTransition,
    NotFound,
    RateLimited,
    ServiceUnavailable,
    ValidationFailed,
    check_transition,
)
from cityhub.kit.i18n import gettext as _
from cityhub.kit.refs import reference
from cityhub.kit.settings import get_settings

log = logging.getLogger("cityhub.data")

COMPLIANCE_DAYS = 5
PROVIDER_DAYS = 10  # the issue: provider review within 10 working days
COORDINATION_DAYS = 10
OBJECTION_DAYS = 5
REMIND_WHEN_DAYS_LEFT = 2
MAX_REPORTED_ERRORS = 200

ENTRY_ALLOWED: dict[EntryStatus, set[EntryStatus]] = {
    EntryStatus.DRAFT: {EntryStatus.PENDING_REVIEW},
    EntryStatus.PENDING_REVIEW: {EntryStatus.PUBLISHED, EntryStatus.REJECTED},
    EntryStatus.REJECTED: {EntryStatus.PENDING_REVIEW},
    EntryStatus.PUBLISHED: {EntryStatus.OFFLINE},
    EntryStatus.OFFLINE: {EntryStatus.PENDING_REVIEW},
}

S = RequestStatus
REQUEST_ALLOWED: dict[RequestStatus, set[RequestStatus]] = {
    S.DRAFT: {S.SUBMITTED, S.WITHDRAWN},
    # Public portal applications for 有条件开放 data go straight to the provider (issue 6).
    S.SUBMITTED: {S.COMPLIANCE_REVIEW, S.PROVIDER_REVIEW, S.WITHDRAWN},
    S.COMPLIANCE_REVIEW: {S.PROVIDER_REVIEW, S.APPROVED, S.REJECTED, S.WITHDRAWN},
    # 核心 data goes back to the bureau for its final approval after the provider agreed.
    S.PROVIDER_REVIEW: {S.APPROVED, S.REJECTED, S.COMPLIANCE_REVIEW, S.WITHDRAWN},
    S.APPROVED: {S.PROVISIONING},
    S.PROVISIONING: {S.ACTIVE},
    S.ACTIVE: {S.EXPIRED, S.REVOKED},
    S.REJECTED: {S.COORDINATION, S.CLOSED},
    S.COORDINATION: {S.APPROVED, S.CLOSED},
}
STAGE_DAYS = {S.COMPLIANCE_REVIEW: COMPLIANCE_DAYS, S.PROVIDER_REVIEW: PROVIDER_DAYS,
              S.COORDINATION: COORDINATION_DAYS}
OPEN_REQUEST_STATES = (S.SUBMITTED, S.COMPLIANCE_REVIEW, S.PROVIDER_REVIEW, S.APPROVED, S.PROVISIONING,
                       S.COORDINATION)

OBJECTION_ALLOWED: dict[ObjectionStatus, set[ObjectionStatus]] = {
    ObjectionStatus.RAISED: {ObjectionStatus.HANDLING},
    ObjectionStatus.HANDLING: {ObjectionStatus.HANDLED},
    ObjectionStatus.HANDLED: {ObjectionStatus.EVALUATED},
}
DEMAND_ALLOWED: dict[DemandStatus, set[DemandStatus]] = {
    DemandStatus.FILED: {DemandStatus.ASSIGNED, DemandStatus.CLOSED},
    DemandStatus.ASSIGNED: {DemandStatus.ANSWERED, DemandStatus.ASSIGNED},
    DemandStatus.ANSWERED: {DemandStatus.CLOSED},
}

ENTRY_FIELDS = ("title", "abstract", "classification", "base_db", "theme", "tags", "format_category", "items",
                "share_type", "share_condition", "legal_basis", "share_mode", "open_type", "open_condition",
                "update_cycle", "security_grade", "source_system", "related_entry_ids")
FIELD_LABELS = {"title": "名称", "abstract": "摘要", "classification": "分类", "base_db": "基础库", "theme": "主题",
                "tags": "标签", "format_category": "格式分类", "items": "信息项", "share_type": "共享类型",
                "share_condition": "共享条件", "legal_basis": "共享依据", "share_mode": "共享方式",
                "open_type": "开放类型", "open_condition": "开放条件", "update_cycle": "更新周期",
                "security_grade": "安全级别", "source_system": "来源系统", "related_entry_ids": "关联资源"}

# ---------------------------------------------------------------- bureau


# ---------------------------------------------------------------- search text (jieba + pinyin)

_jieba_ready = False
_PUNCT = re.compile(r"^[\W_]+$", re.UNICODE)


def _jieba() -> Any:
    global _jieba_ready
    import jieba

    if not _jieba_ready:
        jieba.setLogLevel(logging.WARNING)
        jieba.initialize()
        _jieba_ready = True
    return jieba


def segment(textval: str) -> list[str]:
    """Search tokens of a text: jieba's search-mode segmentation, lower-cased, punctuation dropped."""
    out: list[str] = []
    seen: set[str] = set()
    for tok in _jieba().cut_for_search(textval.lower()):
        tok = tok.strip()
        if not tok or _PUNCT.match(tok) or tok in seen:
            continue
        seen.add(tok)
        out.append(tok)
    return out


def _pinyin_tokens(title: str) -> list[str]:
    from pypinyin import Style, lazy_pinyin

    full = [p for p in lazy_pinyin(title) if p.isascii() and p.isalnum()]
    initials = [p for p in lazy_pinyin(title, style=Style.FIRST_LETTER) if p.isascii() and p.isalnum()]
    out = []
    if full:
        out.append("".join(full).lower())
    if initials:
        out.append("".join(initials).lower())
    return out


def build_search_text(entry: CatalogEntry, provider_name: str) -> str:
    """Deterministic index text of an entry (recomputed in the same transaction as every change)."""
    items = " ".join(f"{i.get('name_cn', '')} {i.get('name_en', '')}" for i in entry.items or [])
    parts = [entry.title, entry.abstract, " ".join(entry.tags or []), items, entry.theme,
             BASE_DBS.get(entry.base_db, ""), CLASSIFICATIONS.get(entry.classification, ""), provider_name]
    tokens = segment(" ".join(parts))
    tags = [f"tag:{t.lower().replace(' ', '')}" for t in entry.tags or []]  # marked tokens: exact tag filters
    for extra in [*tags, *_pinyin_tokens(entry.title), entry.code.lower(), entry.name]:
        if extra not in tokens:
            tokens.append(extra)
    return " ".join(t.replace(" ", "") for t in tokens)


def tsvector_literal(search_text: str) -> str:
    """The tsvector input form of space-separated tokens (raw lexemes, no text-search parser)."""
    return " ".join("'" + t.replace("\\", "\\\\").replace("'", "''") + "'" for t in search_text.split(" ") if t)


def _index(session: Session, entry: CatalogEntry, provider_name: str) -> None:
    entry.search_text = build_search_text(entry, provider_name)


SEARCH_COLUMNS = ("status", "open_type", "provider_org_id", "classification", "base_db", "share_type",
                  "format_category", "update_cycle", "security_grade", "code")


def search_row_values(entry: CatalogEntry, postgres: bool) -> dict[str, Any]:
    """The narrow search row of an entry (also used by bulk loaders such as the benchmark)."""
    values = {c: getattr(entry, c) for c in SEARCH_COLUMNS}
    values["updated_at"] = clock.now()
    tokens = entry.search_text or ""
    values["search_text"] = "" if postgres else tokens
    values["search_vector"] = tsvector_literal(tokens) if postgres else None
    return values


@event.listens_for(Session, "before_flush")
def _sync_search(session: Session, _ctx: Any, _instances: Any) -> None:
    """Keep data_catalog_search in step with every new or changed entry, in the same flush."""
    changed = [o for o in (*session.new, *session.dirty) if isinstance(o, CatalogEntry)]
    if not changed:
        return
    postgres = is_postgres(session)
    with session.no_autoflush:
        for entry in changed:
            if entry.id is None:
                entry.id = uuid.uuid4()
            values = search_row_values(entry, postgres)
            row = session.get(CatalogSearch, entry.id)
            if row is None:
                session.add(CatalogSearch(entry_id=entry.id, **values))
            else:
                for k, v in values.items():
                    setattr(row, k, v)


@event.listens_for(Session, "before_flush")
def _mark_catalog_change(session: Session, _ctx: Any, _instances: Any) -> None:
    """Remember that this transaction changes what the open portal shows (entries, resources)."""
    if any(isinstance(o, CatalogEntry | Resource) for o in (*session.new, *session.dirty, *session.deleted)):
        session.info["portal_changed"] = True


@event.listens_for(Session, "after_commit")
def _invalidate_portal(session: Session) -> None:
    """After the commit (never before: a reader could cache the old rows under the new generation)."""
    if session.info.pop("portal_changed", False):
        cache.bump_generation()


def _reindex(session: Session, entry: CatalogEntry) -> None:
    org = core.organization_get(session, Actor.system(), entry.provider_org_id)
    _index(session, entry, org.name)


def reindex_all(session: Session) -> int:
    """Recompute every entry's search text (deterministic; for upgrades of the segmenter)."""
    n = 0
    names = {o.id: o.name for o in core.organization_all(session)}
    for entry in session.scalars(select(CatalogEntry)):
        _index(session, entry, names.get(entry.provider_org_id, ""))
        n += 1
    session.flush()
    return n


# ---------------------------------------------------------------- codes and slugs

_CLASS_DIGIT = {"base": 1, "theme": 2, "department": 3}
_BASE_SUB = {k: i + 1 for i, k in enumerate(BASE_DBS)}


def _code_prefix(session: Session, data: EntryCreate) -> str:
    """Resource code prefix: division 500000, 类 (1 base / 2 theme / 3 department), 项 (2 digits)."""
    cls = _CLASS_DIGIT[data.classification]
    if data.classification == "base":
        sub = _BASE_SUB.get(data.base_db, 0)
    elif data.classification == "theme":
        sub = int(hashlib.sha1(data.theme.encode()).hexdigest(), 16) % 99 + 1 if data.theme else 0
    else:
        org = core.organization_get(session, Actor.system(), data.provider_org_id)
        sub = int(hashlib.sha1(org.code.encode()).hexdigest(), 16) % 99 + 1
    return f"500000-{cls}{sub:02d}-"


def _next_code(session: Session, prefix: str) -> str:
    last = session.scalar(select(func.max(CatalogEntry.code)).where(CatalogEntry.code.startswith(prefix)))
    seq = int(last.rsplit("-", 1)[1]) + 1 if last else 1
    return f"{prefix}{seq:06d}"


def _slug(session: Session, title: str) -> str:
    from pypinyin import lazy_pinyin

    base = re.sub(r"[^a-z0-9]+", "-", "-".join(lazy_pinyin(title)).lower()).strip("-")[:80] or "entry"
    if len(base) < 2:
        base = f"entry-{base}"
    candidate, n = base, 1
    while session.scalar(select(CatalogEntry.id).where(CatalogEntry.name == candidate)) is not None:
        n += 1
        candidate = f"{base}-{n}"
    return candidate


# ---------------------------------------------------------------- catalog entries


def _check_semantics(values: dict[str, Any]) -> None:
    """Cross-field rules of the cataloguing guideline (applied to the merged entry)."""
    if values.get("classification") == "base" and not values.get("base_db"):
        raise ValidationFailed(_("A base-catalog entry names its base database"), field="base_db")
    if values.get("share_type") == "conditional" and not (values.get("share_condition") or "").strip():
        raise ValidationFailed(_("有条件共享 needs the sharing condition"), field="share_condition")
    if values.get("share_type") == "none" and not (values.get("legal_basis") or "").strip():
        raise ValidationFailed(_("不予共享 needs its legal basis"), field="legal_basis")
    if values.get("open_type") == "conditional" and not (values.get("open_condition") or "").strip():
        raise ValidationFailed(_("有条件开放 needs the opening condition"), field="open_condition")
    if values.get("security_grade") == "core" and values.get("open_type") != "none":
        raise ValidationFailed(_("核心 data cannot be opened to the public"), field="open_type")


def _items_json(items: Iterable[Any]) -> list[dict[str, Any]]:
    return [i.model_dump() if hasattr(i, "model_dump") else dict(i) for i in items]


def _entry_values(entry: CatalogEntry) -> dict[str, Any]:
    return {f: getattr(entry, f) for f in ENTRY_FIELDS}


def _jsonable(v: Any) -> Any:
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, list):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    return v


def _check_related(session: Session, actor: Actor, ids: list[Any]) -> None:
    for rid in ids:  # entries the actor may see (another unit's draft is unknown to them)
        reference("related_entry_ids", partial(catalog_entry_get, session, actor, uuid.UUID(str(rid))),
                  _("Related entry not found"))


def catalog_entry_create(session: Session, actor: Actor, data: EntryCreate) -> CatalogEntry:
    """Register a draft entry for the provider; a unique resource code and slug are generated."""
    policies.catalog_entry_create(actor, data.provider_org_id)
    try:
        core.organization_get(session, Actor.system(), data.provider_org_id)
    except NotFound as exc:
        raise ValidationFailed(_("Provider organisation not found"), field="provider_org_id") from exc
    values = data.model_dump(exclude={"name", "provider_org_id"})
    values["items"] = _items_json(data.items)
    values["related_entry_ids"] = [str(x) for x in data.related_entry_ids]
    _check_semantics(values)
    _check_related(session, actor, data.related_entry_ids)
    if data.name is not None:
        if session.scalar(select(CatalogEntry.id).where(CatalogEntry.name == data.name)) is not None:
            raise Conflict(_("An entry with this name exists"), details={"field": "name", "value": data.name})
        slug = data.name
    else:
        slug = _slug(session, data.title)
    prefix = _code_prefix(session, data)
    entry: CatalogEntry | None = None
    for _attempt in range(5):  # a concurrent creator may take the same sequence number: retry the next one
        code = _next_code(session, prefix)
        try:
            with session.begin_nested():
                entry = CatalogEntry(code=code, name=slug, provider_org_id=data.provider_org_id,
                                     status=EntryStatus.DRAFT, **values)
                session.add(entry)
                session.flush()
            break
        except IntegrityError:
            entry = None
    if entry is None:
        raise Conflict(_("Could not allocate a unique resource code; try again"))
    _reindex(session, entry)
    session.flush()
    core.audit_record(session, actor, "catalog_entry_create", target_type="catalog_entry", target_id=entry.id,
                      org_id=entry.provider_org_id, after={"code": entry.code, "title": entry.title})
    return entry


def _visible_entry(session: Session, actor: Actor, entry: CatalogEntry | None) -> CatalogEntry:
    if entry is None or not policies.catalog_entry_read(actor, entry.status, entry.open_type,
                                                        entry.provider_org_id):
        raise NotFound(_("Catalog entry not found"))
    return entry


def catalog_entry_get(session: Session, actor: Actor, entry_id: uuid.UUID) -> CatalogEntry:
    """One entry the actor may see (others are 404)."""
    return _visible_entry(session, actor, session.get(CatalogEntry, entry_id))


def catalog_entry_by_name(session: Session, actor: Actor, name: str) -> CatalogEntry:
    """One entry by its URL-safe name (slug)."""
    return _visible_entry(session, actor, session.scalar(select(CatalogEntry).where(CatalogEntry.name == name)))


def catalog_entry_by_code(session: Session, actor: Actor, code: str) -> CatalogEntry:
    """One entry by its resource code."""
    return _visible_entry(session, actor, session.scalar(select(CatalogEntry).where(CatalogEntry.code == code)))


def catalog_entry_view(session: Session, actor: Actor, entry_id: uuid.UUID) -> CatalogEntry:
    """Read an entry and count the view."""
    entry = catalog_entry_get(session, actor, entry_id)
    session.execute(update(CatalogEntry).where(CatalogEntry.id == entry.id)
                    .values(views=CatalogEntry.views + 1).execution_options(synchronize_session=False))
    set_committed_value(entry, "views", entry.views + 1)
    return entry


def catalog_entry_update(session: Session, actor: Actor, entry_id: uuid.UUID, data: EntryUpdate) -> CatalogEntry:
    """Change an entry: drafts change at once; published entries collect changes for re-review."""
    entry = catalog_entry_get(session, actor, entry_id)
    policies.catalog_entry_update(actor, entry.provider_org_id)
    changes = data.model_dump(exclude_unset=True)
    if "items" in changes and data.items is not None:
        changes["items"] = _items_json(data.items)
    if "related_entry_ids" in changes:
        changes["related_entry_ids"] = [str(x) for x in changes["related_entry_ids"] or []]
        _check_related(session, actor, changes["related_entry_ids"])
    if entry.status == EntryStatus.PENDING_REVIEW or entry.change_status == ChangeStatus.PENDING_REVIEW:
        raise InvalidTransition("catalog_entry", EntryStatus.PENDING_REVIEW, "edit")
    merged_base = {**_entry_values(entry), **(entry.pending_changes or {})}
    merged = {**merged_base, **changes}
    _check_semantics(merged)
    before = _jsonable(_entry_values(entry))
    if entry.status in (EntryStatus.PUBLISHED, EntryStatus.OFFLINE) and entry.version > 0:
        entry.pending_changes = _jsonable({**(entry.pending_changes or {}), **changes})
        entry.change_status = ChangeStatus.DRAFT
        session.flush()
        core.audit_record(session, actor, "catalog_entry_update", target_type="catalog_entry", target_id=entry.id,
                          org_id=entry.provider_org_id, extra={"pending_fields": sorted(changes)})
        return entry
    for k, v in changes.items():
        setattr(entry, k, v)
    _reindex(session, entry)
    session.flush()
    core.audit_record(session, actor, "catalog_entry_update", target_type="catalog_entry", target_id=entry.id,
                      org_id=entry.provider_org_id, before=before, after=_jsonable(_entry_values(entry)))
    return entry


def catalog_entry_submit(session: Session, actor: Actor, entry_id: uuid.UUID) -> CatalogEntry:
    """Send a draft/rejected/offline entry, or a published entry's changes, to the bureau's review queue."""
    entry = catalog_entry_get(session, actor, entry_id)
    policies.catalog_entry_submit(actor, entry.provider_org_id)
    if entry.status == EntryStatus.PUBLISHED:
        if entry.change_status not in (ChangeStatus.DRAFT, ChangeStatus.REJECTED) or not entry.pending_changes:
            raise InvalidTransition("catalog_entry changes", entry.change_status or "none",
                                    ChangeStatus.PENDING_REVIEW)
        entry.change_status = ChangeStatus.PENDING_REVIEW
    else:
        check_transition("catalog_entry", ENTRY_ALLOWED, EntryStatus(entry.status), EntryStatus.PENDING_REVIEW)
        entry.status = EntryStatus.PENDING_REVIEW
    session.flush()
    core.audit_record(session, actor, "catalog_entry_submit", target_type="catalog_entry", target_id=entry.id,
                      org_id=entry.provider_org_id, after={"status": entry.status,
                                                           "change_status": entry.change_status})
    return entry


def _diff(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """A readable diff: changed fields with labels; information items compared by name_en."""
    out: list[dict[str, Any]] = []
    for f in ENTRY_FIELDS:
        a, b = before.get(f), after.get(f)
        if a == b:
            continue
        if f == "items":
            old = {i["name_en"]: i for i in a or []}
            new = {i["name_en"]: i for i in b or []}
            for k in new.keys() - old.keys():
                out.append({"field": "items", "label": f"信息项 {new[k]['name_cn']}", "change": "added",
                            "before": None, "after": new[k]})
            for k in old.keys() - new.keys():
                out.append({"field": "items", "label": f"信息项 {old[k]['name_cn']}", "change": "removed",
                            "before": old[k], "after": None})
            for k in sorted(old.keys() & new.keys()):
                if old[k] != new[k]:
                    changed = {p: [old[k].get(p), new[k].get(p)] for p in new[k] if old[k].get(p) != new[k].get(p)}
                    out.append({"field": "items", "label": f"信息项 {new[k]['name_cn']}", "change": "changed",
                                "before": {p: v[0] for p, v in changed.items()},
                                "after": {p: v[1] for p, v in changed.items()}})
        else:
            out.append({"field": f, "label": FIELD_LABELS.get(f, f), "change": "changed", "before": a, "after": b})
    return out


def _publish_version(session: Session, actor: Actor, entry: CatalogEntry, before: dict[str, Any]) -> EntryVersion:
    snap = _jsonable(_entry_values(entry))
    entry.version += 1
    entry.published_at = clock.now()
    ver = EntryVersion(entry_id=entry.id, version=entry.version, snapshot=snap,
                       diff=_diff(before, snap) if before else [], actor_name=actor.username[:100])
    session.add(ver)
    return ver


def catalog_entry_review(session: Session, actor: Actor, entry_id: uuid.UUID, approve: bool,
                         note: str = "") -> CatalogEntry:
    """The bureau approves (publishes a new version) or rejects an entry or its pending changes."""
    entry = catalog_entry_get(session, actor, entry_id)
    policies.catalog_entry_review(actor)
    if not approve and not note.strip():
        raise ValidationFailed(_("A rejection needs a reason"), field="note")
    before_values = _jsonable(_entry_values(entry))
    if entry.status == EntryStatus.PUBLISHED and entry.change_status == ChangeStatus.PENDING_REVIEW:
        if approve:
            for k, v in (entry.pending_changes or {}).items():
                setattr(entry, k, v)
            entry.pending_changes = None
            entry.change_status = ChangeStatus.NONE
            _reindex(session, entry)
            _publish_version(session, actor, entry, before_values)
        else:
            entry.change_status = ChangeStatus.REJECTED
        action = "catalog_entry_publish" if approve else "catalog_entry_reject"
    else:
        target = EntryStatus.PUBLISHED if approve else EntryStatus.REJECTED
        check_transition("catalog_entry", ENTRY_ALLOWED, EntryStatus(entry.status), target)
        entry.status = target
        if approve:
            prev = session.scalar(select(EntryVersion.snapshot).where(EntryVersion.entry_id == entry.id)
                                  .order_by(EntryVersion.version.desc()).limit(1))
            _publish_version(session, actor, entry, prev or {})
        action = "catalog_entry_publish" if approve else "catalog_entry_reject"
    entry.review_note = note
    session.flush()
    core.audit_record(session, actor, action, target_type="catalog_entry", target_id=entry.id,
                      org_id=entry.provider_org_id, extra={"version": entry.version, "note": note})
    return entry


def catalog_entry_offline(session: Session, actor: Actor, entry_id: uuid.UUID, reason: str = "") -> CatalogEntry:
    """Take a published entry offline (it leaves search; grants stop at once)."""
    entry = catalog_entry_get(session, actor, entry_id)
    policies.catalog_entry_offline(actor, entry.provider_org_id)
    check_transition("catalog_entry", ENTRY_ALLOWED, EntryStatus(entry.status), EntryStatus.OFFLINE)
    entry.status = EntryStatus.OFFLINE
    session.flush()
    core.audit_record(session, actor, "catalog_entry_offline", target_type="catalog_entry", target_id=entry.id,
                      org_id=entry.provider_org_id, extra={"reason": reason})
    return entry


def catalog_entry_versions(session: Session, actor: Actor, entry_id: uuid.UUID) -> list[EntryVersion]:
    """Published versions of an entry, newest first."""
    entry = catalog_entry_get(session, actor, entry_id)
    return list(session.scalars(select(EntryVersion).where(EntryVersion.entry_id == entry.id)
                                .order_by(EntryVersion.version.desc())))


def catalog_entry_stats(session: Session, actor: Actor, entry_id: uuid.UUID) -> dict[str, int]:
    """Views, requests, grants and accesses of an entry."""
    e = catalog_entry_get(session, actor, entry_id)
    return {"views": e.views, "requests": e.requests_count, "grants": e.grants_count, "accesses": e.accesses_count}


# ---------------------------------------------------------------- search


def _visibility_clause(session: Session, actor: Actor, src: Any = CatalogEntry) -> ColumnElement[bool]:
    published: ColumnElement[bool] = src.status == EntryStatus.PUBLISHED
    other: ColumnElement[bool] = src.status != EntryStatus.PUBLISHED
    if not policies.is_insider(actor):  # anonymous callers and public portal users: the open catalog only
        return and_(published, src.open_type != "none")
    if actor.is_platform_admin or policies.is_bureau(actor):
        return or_(published, other)  # everything
    own = policies.readable_orgs(actor)
    clause: ColumnElement[bool] = or_(published, src.provider_org_id.in_(own)) if own else published
    return clause


def _tsquery(tokens: list[str]) -> str:
    return " & ".join("'" + t.replace("\\", "\\\\").replace("'", "''") + "':*" for t in tokens)


def catalog_search(
    session: Session, actor: Actor, q: str = "", filters: dict[str, list[str]] | None = None,
    facets: list[str] | None = None, sort: str = "", limit: int = 20, offset: int = 0,
    *, status: str | None = None, extra: Sequence[ColumnElement[bool]] = (), facet_limit: int = 0,
) -> tuple[list[CatalogEntry], int, dict[str, dict[str, int]]]:
    """Search the catalog (Chinese segmented by jieba, pinyin initials too) with facet counts.

    `filters` maps a facet field (see schemas.FACETS, plus `tags` and `status`) to accepted values; `sort` is
    `relevance`, `title`, `updated`, `views` or `code`. Published entries by default; owners and the bureau
    see drafts when they filter on status. `extra` adds conditions over `CatalogSearch`/`CatalogEntry` columns
    (the open-data portal's `fq` terms); the `tags` facet counts tags of the matching entries; `facet_limit`
    keeps the largest counts of each facet (0 = all).
    """
    filters = {k: v for k, v in (filters or {}).items() if v}
    for k in filters:
        if k not in (*FACETS, "tags", "status"):
            raise ValidationFailed(_("Unknown filter"), field=k)
    for f in facets or []:
        if f not in (*FACETS, "tags", "theme"):
            raise ValidationFailed(_("Unknown facet"), field=f)
    want_tags = "tags" in (facets or [])
    want_theme = "theme" in (facets or [])
    facets = [f for f in facets or [] if f not in ("tags", "theme")]
    src = CatalogSearch  # the narrow row: search and facet scans read a few dozen bytes per entry
    postgres = is_postgres(session)
    conds: list[ColumnElement[bool]] = [_visibility_clause(session, actor, src), *extra]
    st = filters.pop("status", None) or ([status] if status else [EntryStatus.PUBLISHED.value])
    conds.append(src.status.in_(st))
    tag_tokens = [f"tag:{t.lower().replace(' ', '')}" for t in filters.pop("tags", [])]
    for k, vals in filters.items():
        if k == "provider_org_id":
            try:
                conds.append(src.provider_org_id.in_([uuid.UUID(v) for v in vals]))
            except ValueError as exc:
                raise ValidationFailed(_("Not an organisation id"), field="provider_org_id") from exc
        else:
            conds.append(getattr(src, k).in_(vals))
    rank: Any = None
    tokens = segment(q)[:12] if q and q.strip() else []
    params: dict[str, Any] = {}
    if postgres:
        parts = []
        if tokens:
            parts.append(_tsquery(tokens))
        if tag_tokens:
            parts.append(" & ".join("'" + t.replace("\\", "\\\\").replace("'", "''") + "'" for t in tag_tokens))
        if parts:
            tsq = text("CAST(:tsq AS tsquery)")
            params["tsq"] = " & ".join(parts)
            conds.append(src.search_vector.op("@@")(tsq))
            rank = func.ts_rank(src.search_vector, tsq) if tokens else None
    else:
        for t in tokens:
            conds.append(src.search_text.contains(t))
        for t in tag_tokens:  # whole-token match for tags
            conds.append((literal(" ") + src.search_text + literal(" ")).contains(f" {t} "))
    where = and_(*conds)
    sort = sort or ("relevance" if tokens else "updated")
    ids_stmt: Select[Any] = select(src.entry_id).where(where)
    entry_sorts: dict[str, Any] = {"title": CatalogEntry.title, "title_desc": CatalogEntry.title.desc(),
                                   "views": CatalogEntry.views.desc(), "name": CatalogEntry.name,
                                   "name_desc": CatalogEntry.name.desc(), "created": CatalogEntry.created_at.desc(),
                                   "created_asc": CatalogEntry.created_at}
    if sort == "relevance" and rank is not None:
        ids_stmt = ids_stmt.order_by(rank.desc(), src.code)
    elif sort == "code":
        ids_stmt = ids_stmt.order_by(src.code)
    elif sort == "id":
        ids_stmt = ids_stmt.order_by(src.entry_id)
    elif sort in ("updated", "relevance"):
        ids_stmt = ids_stmt.order_by(src.updated_at.desc(), src.code)
    elif sort == "updated_asc":
        ids_stmt = ids_stmt.order_by(src.updated_at, src.code)
    elif sort in entry_sorts:
        ids_stmt = ids_stmt.join(CatalogEntry, CatalogEntry.id == src.entry_id).order_by(entry_sorts[sort], src.code)
    else:
        raise ValidationFailed(_("Unknown sort"), field="sort")
    ids = list(session.scalars(ids_stmt.limit(limit).offset(offset), params))
    by_id = {e.id: e for e in session.scalars(select(CatalogEntry).where(CatalogEntry.id.in_(ids)))} if ids else {}
    rows = [by_id[i] for i in ids if i in by_id]
    counts: dict[str, dict[str, int]] = {f: {} for f in facets or []}
    if facets and postgres:
        # One pass for the total and every facet: GROUPING SETS ((f1), (f2), …, ()).
        cols = [getattr(src, f) for f in facets]
        gsets = func.grouping_sets(*[tuple_(c) for c in cols], tuple_())
        gq = select(*cols, func.grouping(*cols), func.count()).where(where).group_by(gsets)
        full = (1 << len(cols)) - 1
        total = 0
        for r in session.execute(gq, params):
            mask, n = r[-2], int(r[-1])
            if mask == full:
                total = n
                continue
            i = len(cols) - (full ^ mask).bit_length()
            counts[facets[i]][str(r[i])] = n
        for f in counts:
            counts[f] = dict(sorted(counts[f].items(), key=lambda kv: -kv[1]))
    else:
        total = session.scalar(select(func.count()).select_from(src).where(where), params) or 0
        for f in facets or []:
            col = getattr(src, f)
            res = session.execute(select(col, func.count()).where(where).group_by(col)
                                  .order_by(func.count().desc()), params).all()
            counts[f] = {str(k): int(n) for k, n in res}
    if facet_limit:
        counts = {f: dict(list(c.items())[:facet_limit]) for f, c in counts.items()}
    if want_tags:
        counts["tags"] = _tag_counts(session, select(src.entry_id).where(where), params, facet_limit or 50)
    if want_theme:
        cnt = func.count().label("n")
        themes = session.execute(select(CatalogEntry.theme, cnt).where(
            CatalogEntry.id.in_(select(src.entry_id).where(where)), CatalogEntry.theme != "")
            .group_by(CatalogEntry.theme).order_by(cnt.desc(), CatalogEntry.theme).limit(facet_limit or 50), params)
        counts["theme"] = {str(k): int(c) for k, c in themes}
    return rows, int(total), counts


def _tag_counts(session: Session, ids: Select[Any], params: dict[str, Any], limit: int) -> dict[str, int]:
    """Tags of the entries `ids` selects, most frequent first (one grouped pass over the JSON arrays)."""
    if is_postgres(session):
        tag = func.jsonb_array_elements_text(CatalogEntry.tags).table_valued("value").alias("t")
    else:
        tag = func.json_each(CatalogEntry.tags).table_valued("value").alias("t")
    n = func.count().label("n")
    stmt = (select(tag.c.value, n).select_from(CatalogEntry).join(tag, literal(True))
            .where(CatalogEntry.id.in_(ids.subquery().select())).group_by(tag.c.value)
            .order_by(n.desc(), tag.c.value).limit(limit))
    return {str(v): int(c) for v, c in session.execute(stmt, params)}


def catalog_entry_list_owned(session: Session, actor: Actor, status: str | None = None) -> list[CatalogEntry]:
    """Entries of the units the actor works for (any status), for the publish queue."""
    own = policies.readable_orgs(actor)
    stmt = select(CatalogEntry).order_by(CatalogEntry.updated_at.desc())
    if not actor.is_platform_admin:
        stmt = stmt.where(CatalogEntry.provider_org_id.in_(own))
    if status:
        stmt = stmt.where(CatalogEntry.status == status)
    return list(session.scalars(stmt.limit(500)))


def catalog_review_queue(session: Session, actor: Actor) -> list[CatalogEntry]:
    """Entries (or changes) waiting for the bureau's review."""
    if not policies.is_bureau(actor):
        return []
    return list(session.scalars(select(CatalogEntry).where(or_(
        CatalogEntry.status == EntryStatus.PENDING_REVIEW,
        CatalogEntry.change_status == ChangeStatus.PENDING_REVIEW)).order_by(CatalogEntry.updated_at)))


# ---------------------------------------------------------------- mounted resources


def _entry_for_manage(session: Session, actor: Actor, entry_id: uuid.UUID) -> CatalogEntry:
    entry = catalog_entry_get(session, actor, entry_id)
    policies.resource_manage(actor, entry.provider_org_id)
    return entry


def resource_list(session: Session, actor: Actor, entry_id: uuid.UUID) -> list[Resource]:
    """Resources mounted on an entry the actor may see."""
    entry = catalog_entry_get(session, actor, entry_id)
    return list(session.scalars(select(Resource).where(Resource.entry_id == entry.id).order_by(Resource.created_at)))


def resource_upstream_visible(session: Session, actor: Actor, entry: CatalogEntry) -> bool:
    """Who sees an API resource's upstream URL (it may carry keys): the providing unit's staff and the bureau."""
    return actor.is_authenticated and (policies.is_staff(actor, entry.provider_org_id)
                                       or policies.is_bureau(actor))


def resource_list_view(session: Session, actor: Actor, entry_id: uuid.UUID) -> list[ResourceSchema]:
    """Resources of an entry as the actor may see them: upstream URLs only for the provider and the bureau.

    Everybody else gets an empty `upstream_url`; grantees call the upstream through cityhub's proxy
    (`/api/v1/data/grants/{id}/api`), which keeps the URL and its credentials server-side.
    """
    entry = catalog_entry_get(session, actor, entry_id)
    rows = [ResourceSchema.model_validate(r) for r in resource_list(session, actor, entry.id)]
    if resource_upstream_visible(session, actor, entry):
        return rows
    return [r.model_copy(update={"upstream_url": ""}) if r.upstream_url else r for r in rows]


def resource_get(session: Session, actor: Actor, resource_id: uuid.UUID) -> tuple[Resource, CatalogEntry]:
    """One resource and its entry (404 when the entry is not visible)."""
    res = session.get(Resource, resource_id)
    if res is None:
        raise NotFound(_("Resource not found"))
    return res, catalog_entry_get(session, actor, res.entry_id)


def _fernet() -> Any:
    from cryptography.fernet import Fernet

    key = hashlib.sha256(b"cityhub-data-credentials:" + get_settings().secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def resource_api_create(session: Session, actor: Actor, entry_id: uuid.UUID, data: ResourceApiCreate) -> Resource:
    """Mount an upstream HTTP API; its credentials are encrypted at rest and never returned."""
    entry = _entry_for_manage(session, actor, entry_id)
    egress.check_url(data.upstream_url, field="upstream_url")  # no proxy to internal addresses (checked again per call)
    enc = _fernet().encrypt(json.dumps(data.credentials).encode()).decode() if data.credentials else ""
    res = Resource(entry_id=entry.id, kind="api", title=data.title, upstream_url=data.upstream_url,
                   upstream_method=data.upstream_method, credentials_enc=enc)
    session.add(res)
    session.flush()
    core.audit_record(session, actor, "resource_create", target_type="resource", target_id=res.id,
                      org_id=entry.provider_org_id, after={"kind": "api", "url": data.upstream_url,
                                                           "credentials": sorted(data.credentials)})
    return res


def resource_credentials(res: Resource) -> dict[str, str]:
    """Decrypted upstream headers of an API resource (server-side only)."""
    if not res.credentials_enc:
        return {}
    return dict(json.loads(_fernet().decrypt(res.credentials_enc.encode())))


def _files_dir() -> Path:
    return get_settings().var_dir / "data" / "files"


def resource_file_upload(session: Session, actor: Actor, entry_id: uuid.UUID, title: str, filename: str,
                         media_type: str, stream: IO[bytes], resource_id: uuid.UUID | None = None) -> Resource:
    """Mount (or atomically replace) a file resource; the bytes are streamed to disk."""
    entry = _entry_for_manage(session, actor, entry_id)
    res = _existing_resource(session, entry, resource_id, "file")
    if res is None:
        res = Resource(entry_id=entry.id, kind="file", title=title or filename)
        session.add(res)
        session.flush()
    folder = _files_dir()
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f"{res.id.hex}.{uuid.uuid4().hex[:8]}.part"
    digest, size = hashlib.sha256(), 0
    with tmp.open("wb") as out:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
    if size == 0:
        tmp.unlink(missing_ok=True)
        raise ValidationFailed(_("The file is empty"), field="file")
    tmp.replace(folder / res.id.hex)  # atomic on one file system
    res.file_name, res.file_size, res.file_sha256 = filename[:200], size, digest.hexdigest()
    res.media_type = media_type[:100]
    res.loaded_at = clock.now()
    session.flush()
    core.audit_record(session, actor, "resource_upload", target_type="resource", target_id=res.id,
                      org_id=entry.provider_org_id, after={"kind": "file", "size": size, "sha256": res.file_sha256})
    return res


def resource_update(session: Session, actor: Actor, resource_id: uuid.UUID, title: str) -> Resource:
    """Rename a mounted resource (its rows or bytes change only by upload)."""
    res, entry = resource_get(session, actor, resource_id)
    policies.resource_manage(actor, entry.provider_org_id)
    title = title.strip()
    if not title or len(title) > 200:
        raise ValidationFailed(_("A title of 1-200 characters is needed"), field="name")
    before = {"title": res.title}
    res.title = title
    session.flush()
    core.audit_record(session, actor, "resource_update", target_type="resource", target_id=res.id,
                      org_id=entry.provider_org_id, before=before, after={"title": title})
    return res


def resource_delete(session: Session, actor: Actor, resource_id: uuid.UUID) -> None:
    """Unmount a resource: its datastore table or file goes with it (grants keep the entry, not the rows)."""
    res, entry = resource_get(session, actor, resource_id)
    policies.resource_manage(actor, entry.provider_org_id)
    before = {"kind": res.kind, "title": res.title, "table": res.table_name, "rows": res.row_count}
    if res.table_name:
        session.execute(text(f"DROP TABLE IF EXISTS {_q(res.table_name)}{_CASCADE(session)}"))
    session.delete(res)
    session.flush()
    if res.kind == "file":
        (_files_dir() / res.id.hex).unlink(missing_ok=True)  # after the flush: a failed delete keeps the file
    core.audit_record(session, actor, "resource_delete", target_type="resource", target_id=resource_id,
                      org_id=entry.provider_org_id, before=before)


def _existing_resource(session: Session, entry: CatalogEntry, resource_id: uuid.UUID | None,
                       kind: str) -> Resource | None:
    if resource_id is None:
        return None
    res = session.get(Resource, resource_id)
    if res is None or res.entry_id != entry.id:
        raise NotFound(_("Resource not found"))
    if res.kind != kind:
        raise Conflict(_("The resource is of another kind"), details={"kind": res.kind})
    return res


# ---------------------------------------------------------------- datastore: parse, validate, load

_TZ_LOCAL = "Asia/Shanghai"
_TRUE = {"1", "true", "t", "y", "yes", "是", "真"}
_FALSE = {"0", "false", "f", "n", "no", "否", "假"}


def _to_date(v: Any) -> date:
    if isinstance(v, datetime):
        return v.date()
    if isinstance(v, date):
        return v
    s = str(v).strip()
    for fmt in ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y.%m.%d", "%Y年%m月%d日"):
        try:
            return datetime.strptime(s, fmt).date()
        except ValueError:
            continue
    raise ValueError("not a date (YYYY-MM-DD)")


def _to_datetime(v: Any) -> datetime:
    if isinstance(v, datetime):
        dt = v
    else:
        s = str(v).strip().replace("/", "-")
        try:
            dt = datetime.fromisoformat(s)
        except ValueError as exc:
            raise ValueError("not a date-time (YYYY-MM-DD HH:MM:SS)") from exc
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=ZoneInfo(_TZ_LOCAL))
    return dt.astimezone(UTC)


def convert(item: dict[str, Any], raw: Any) -> Any:
    """One cell converted to the information item's data type; raises ValueError with a readable message."""
    if raw is None or (isinstance(raw, str) and raw.strip() == ""):
        if item.get("required"):
            raise ValueError("required")
        return None
    t = item["data_type"]
    if t in ("C", "M", "G"):
        s = raw if isinstance(raw, str) else (raw.isoformat() if isinstance(raw, date) else str(raw))
        if isinstance(raw, float) and raw.is_integer():
            s = str(int(raw))
        s = s.strip()
        if t == "C" and item.get("length") and len(s) > int(item["length"]):
            raise ValueError(f"longer than {item['length']} characters")
        return s
    if t in ("N", "Y"):
        try:
            d = Decimal(str(raw).strip().replace(",", "").replace("¥", ""))
        except InvalidOperation as exc:
            raise ValueError("not a number") from exc
        if not d.is_finite():
            raise ValueError("not a number")
        return d.quantize(Decimal("0.01")) if t == "Y" else d
    if t == "I":
        if isinstance(raw, float):
            if not raw.is_integer():
                raise ValueError("not an integer")
            return int(raw)
        try:
            return int(str(raw).strip())
        except ValueError as exc:
            raise ValueError("not an integer") from exc
    if t in ("B", "F"):
        try:
            return float(str(raw).strip())
        except ValueError as exc:
            raise ValueError("not a number") from exc
    if t == "D":
        return _to_date(raw)
    if t == "T":
        return _to_datetime(raw)
    if t == "L":
        if isinstance(raw, bool):
            return raw
        s = str(raw).strip().lower()
        if s in _TRUE:
            return True
        if s in _FALSE:
            return False
        raise ValueError("not a yes/no value")
    raise ValueError(f"unknown data type {t}")  # pragma: no cover - schema restricts data types


_PG_TYPES = {"C": "TEXT", "M": "TEXT", "G": "TEXT", "N": "NUMERIC", "Y": "NUMERIC(20,2)", "I": "BIGINT",
             "B": "DOUBLE PRECISION", "F": "DOUBLE PRECISION", "D": "DATE", "T": "TIMESTAMPTZ", "L": "BOOLEAN"}
_SQLITE_TYPES = {"C": "TEXT", "M": "TEXT", "G": "TEXT", "N": "TEXT", "Y": "TEXT", "I": "INTEGER", "B": "REAL",
                 "F": "REAL", "D": "TEXT", "T": "TEXT", "L": "INTEGER"}


def _CASCADE(session: Session) -> str:  # noqa: N802  # reads as SQL where it is used
    """A datastore table's open_data view (see openviews) goes with it; the next public query recreates it."""
    return " CASCADE" if is_postgres(session) else ""


def _q(ident: str) -> str:
    if not re.match(r"^[a-z_][a-z0-9_]{0,62}$", ident):
        raise ValueError(f"bad identifier {ident!r}")  # identifiers come from validated items only
    return f'"{ident}"'


def _sqlite_value(item: dict[str, Any], v: Any) -> Any:
    if v is None:
        return None
    t = item["data_type"]
    if t in ("N", "Y"):
        return str(v)
    if t == "D":
        return v.isoformat()
    if t == "T":
        return v.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
    if t == "L":
        return 1 if v else 0
    return v


def detect_encoding(sample: bytes) -> str:
    """UTF-8 (with or without BOM) or GB18030 (covers GBK/GB2312), via charset-normalizer; else an error."""
    if sample.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    cut = sample[: sample.rfind(b"\n") + 1] or sample  # do not split a multi-byte character at the end
    try:
        cut.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(cut).best()
    guess = (best.encoding if best else "").lower().replace("-", "_")
    if guess in ("gb2312", "gbk", "gb18030", "cp936", "hz") or not guess:
        pass
    try:
        cut.decode("gb18030")
        return "gb18030"
    except UnicodeDecodeError as exc:
        raise ValidationFailed(_("The file is neither UTF-8 nor GBK/GB18030 text"), field="file",
                               details=[{"field": "file", "message": f"detected {guess or 'unknown'}"}]) from exc


MAX_UPLOAD_COLUMNS = 1000  # an entry has far fewer information items; wider rows are cut, a wider header refused


def _too_many_rows(limit: int) -> ValidationFailed:
    return ValidationFailed(_("The file has more than {limit} rows", limit=limit), field="file")


def _check_unpacked_size(stream: IO[bytes]) -> None:
    """Refuse a workbook whose parts unpack to more than the configured total (a zip bomb), before reading it.

    The sizes are the ones the archive declares; zipfile never inflates a part past its declared size (it stops
    there and fails the CRC), so the sum bounds what openpyxl can be made to read.
    """
    import zipfile

    limit = get_settings().upload_max_unpacked_bytes
    try:
        with zipfile.ZipFile(stream) as archive:
            total = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ValidationFailed(_("Not a readable XLSX workbook"), field="file") from exc
    if total > limit:
        raise ValidationFailed(_("The workbook unpacks to more than {limit} bytes", limit=limit), field="file",
                               details=[{"field": "file", "message": f"{total} bytes uncompressed"}])


def _read_table(stream: IO[bytes], filename: str) -> tuple[str, list[str], Iterator[tuple[int, list[Any]]]]:
    """Encoding, header and a row iterator (row number, cells) of a CSV or XLSX upload."""
    stream.seek(0)
    head = stream.read(4)
    stream.seek(0)
    max_rows = get_settings().upload_max_rows
    if filename.lower().endswith((".xlsx", ".xlsm")) or head == b"PK\x03\x04":
        from openpyxl import load_workbook

        _check_unpacked_size(stream)
        stream.seek(0)
        try:
            wb = load_workbook(stream, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds on corrupt files
            raise ValidationFailed(_("Not a readable XLSX workbook"), field="file") from exc
        ws = wb.worksheets[0]
        # The <dimension> a file declares is not believed: "A1:XFD1048576" would pad every row to 16,384 cells.
        ws.reset_dimensions()
        rows = ws.iter_rows(values_only=True)
        header_row = next(rows, None)
        if header_row is None:
            raise ValidationFailed(_("The sheet is empty"), field="file")
        if len(header_row) > MAX_UPLOAD_COLUMNS:
            raise ValidationFailed(_("More than {limit} columns", limit=MAX_UPLOAD_COLUMNS), field="file")
        header = [str(c).strip() if c is not None else "" for c in header_row]

        def xl() -> Iterator[tuple[int, list[Any]]]:
            for n, r in enumerate(rows, start=2):
                if n > max_rows + 1:  # rows skipped as empty count too: each costs a step
                    raise _too_many_rows(max_rows)
                if r is None or all(c is None for c in r[:MAX_UPLOAD_COLUMNS]):
                    continue
                yield n, list(r[:MAX_UPLOAD_COLUMNS])
            wb.close()

        return "xlsx", header, xl()
    encoding = detect_encoding(stream.read(1 << 20))
    stream.seek(0)
    wrapper = io.TextIOWrapper(stream, encoding=encoding, newline="")
    reader = csv.reader(wrapper)
    try:
        header = [h.strip() for h in next(reader, [])]
    except UnicodeDecodeError as exc:
        raise ValidationFailed(_("The file is not valid text in the detected encoding"), field="file") from exc
    except csv.Error as exc:  # e.g. a field over csv.field_size_limit()
        raise ValidationFailed(_("The file is not readable CSV"), field="file",
                               details=[{"field": "file", "row": 1, "message": str(exc)[:200]}]) from exc
    if len(header) > MAX_UPLOAD_COLUMNS:
        wrapper.detach()
        raise ValidationFailed(_("More than {limit} columns", limit=MAX_UPLOAD_COLUMNS), field="file")
    if not header:
        wrapper.detach()
        raise ValidationFailed(_("The file is empty"), field="file")

    def rows_csv() -> Iterator[tuple[int, list[Any]]]:
        try:
            for n, r in enumerate(reader, start=1):
                if n > max_rows:
                    raise _too_many_rows(max_rows)
                if not any(c.strip() for c in r):
                    continue
                yield reader.line_num, r
        except UnicodeDecodeError as exc:
            raise ValidationFailed(_("The file is not valid text in the detected encoding"), field="file",
                                   details=[{"field": "file", "row": reader.line_num + 1,
                                             "message": f"bytes invalid as {encoding}"}]) from exc
        except csv.Error as exc:
            raise ValidationFailed(_("The file is not readable CSV"), field="file",
                                   details=[{"field": "file", "row": reader.line_num + 1,
                                             "message": str(exc)[:200]}]) from exc
        finally:
            wrapper.detach()

    return encoding, header, rows_csv()


def _map_header(header: list[str], items: list[dict[str, Any]]) -> tuple[list[int | None], list[dict[str, Any]]]:
    """Column index of each item in the file (by English or Chinese name) and header errors."""
    index: dict[str, int] = {}
    for i, h in enumerate(header):
        index.setdefault(h, i)
        index.setdefault(h.lower(), i)
    errors: list[dict[str, Any]] = []
    known = {it["name_en"] for it in items} | {it["name_cn"] for it in items}
    for h in header:
        if h and h not in known and h.lower() not in known:
            errors.append({"row": 1, "column": h, "message": "column is not an information item of the entry"})
    positions: list[int | None] = []
    for it in items:
        pos = index.get(it["name_en"], index.get(it["name_cn"]))
        if pos is None and it.get("required"):
            errors.append({"row": 1, "column": it["name_en"], "message": "required column missing"})
        positions.append(pos)
    return positions, errors


def _converted_rows(rows: Iterator[tuple[int, list[Any]]], items: list[dict[str, Any]],
                    positions: list[int | None], errors: list[dict[str, Any]] | None,
                    counter: dict[str, int]) -> Iterator[list[Any]]:
    for rownum, cells in rows:
        counter["total"] += 1
        out: list[Any] = []
        bad = False
        for it, pos in zip(items, positions, strict=True):
            raw = cells[pos] if pos is not None and pos < len(cells) else None
            try:
                out.append(convert(it, raw))
            except ValueError as exc:
                bad = True
                if errors is not None and len(errors) < MAX_REPORTED_ERRORS:
                    errors.append({"row": rownum, "column": it["name_en"], "value": str(raw)[:50],
                                   "message": str(exc)})
        if bad:
            counter["bad"] += 1
            continue
        yield out


def resource_table_upload(session: Session, actor: Actor, entry_id: uuid.UUID, filename: str, stream: IO[bytes],
                          title: str = "", resource_id: uuid.UUID | None = None) -> tuple[Resource | None, DataLoad]:
    """Validate a CSV/XLSX against the entry's information items and, only if every row is valid, load it.

    The load goes into a fresh staging table (COPY on PostgreSQL) and is swapped in within the caller's
    transaction, so readers see the old rows or the new rows, never a mix. A refused upload loads nothing and
    returns the per-row/column error report (the attempt itself is recorded for the field pass-rate KPI).
    """
    entry = _entry_for_manage(session, actor, entry_id)
    res = _existing_resource(session, entry, resource_id, "table")
    items = list(entry.items or [])
    encoding, header, rows = _read_table(stream, filename)
    positions, errors = _map_header(header, items)
    counter = {"total": 0, "bad": 0}
    for _row in _converted_rows(rows, items, positions, errors, counter):
        pass  # pass 1: validate only
    load = DataLoad(entry_id=entry.id, resource_id=res.id if res else None, provider_org_id=entry.provider_org_id,
                    encoding=encoding, rows_total=counter["total"], rows_bad=counter["bad"], errors=errors)
    if errors or counter["total"] == 0:
        if counter["total"] == 0 and not errors:
            errors.append({"row": 2, "column": "", "message": "no data rows"})
        load.accepted = False
        session.add(load)
        session.flush()
        core.audit_record(session, actor, "resource_upload", target_type="catalog_entry", target_id=entry.id,
                          org_id=entry.provider_org_id, outcome="refused",
                          extra={"rows": counter["total"], "bad_rows": counter["bad"], "encoding": encoding})
        return res, load
    if res is None:
        res = Resource(entry_id=entry.id, kind="table", title=title or entry.title)
        session.add(res)
        session.flush()
    load.resource_id = res.id
    table = f"ds_{res.id.hex}"
    staging = f"{table}_{uuid.uuid4().hex[:8]}"
    cols = [it["name_en"] for it in items]
    _create_table(session, staging, items)
    _, _, rows2 = _read_table(stream, filename)
    counter2 = {"total": 0, "bad": 0}
    n = _bulk_insert(session, staging, items, _converted_rows(rows2, items, positions, None, counter2))
    _carry_indexes(session, table, staging)
    session.execute(text(f"DROP TABLE IF EXISTS {_q(table)}{_CASCADE(session)}"))
    session.execute(text(f"ALTER TABLE {_q(staging)} RENAME TO {_q(table)}"))
    res.table_name, res.columns, res.row_count, res.loaded_at = table, cols, n, clock.now()
    load.accepted = True
    session.add(load)
    session.flush()
    core.audit_record(session, actor, "resource_upload", target_type="resource", target_id=res.id,
                      org_id=entry.provider_org_id, after={"rows": n, "encoding": encoding, "columns": cols})
    return res, load


def _index_name(table: str, column: str) -> str:
    return "ix_" + hashlib.sha1(f"{table}.{column}".encode()).hexdigest()[:20]


def _indexed_columns(session: Session, table: str) -> list[str]:
    """Columns of a datastore table that carry a single-column index made by `datastore_index`."""
    if is_postgres(session):
        rows = session.execute(text("SELECT a.attname FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid "
                                    "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = i.indkey[0] "
                                    "WHERE t.relname = :t AND NOT i.indisprimary"), {"t": table})
        return [str(r[0]) for r in rows]
    rows = session.execute(text("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = :t "
                                "AND sql IS NOT NULL"), {"t": table})
    out = []
    for (name,) in rows:
        for col in session.execute(text(f"PRAGMA index_info({_q(str(name))})")):
            if int(col[0]) == 0:  # the filtered column; the second is _id
                out.append(str(col[2]))
    return out


def _carry_indexes(session: Session, old: str, new: str) -> None:
    """A re-upload keeps the provider's indexes: rebuild them on the staging table before the swap."""
    for col in _indexed_columns(session, old):
        if re.match(r"^[a-z_][a-z0-9_]{0,62}$", col):
            session.execute(text(f'CREATE INDEX {_q(_index_name(new, col))} ON {_q(new)} ({_q(col)}, "_id")'))


def datastore_index(session: Session, actor: Actor, resource_id: uuid.UUID, columns: list[str]) -> list[str]:
    """Index datastore columns that readers filter on (CKAN's datastore `indexes`); kept across re-uploads."""
    res, entry = resource_get(session, actor, resource_id)
    policies.resource_manage(actor, entry.provider_org_id)
    if res.kind != "table" or not res.table_name:
        raise Conflict(_("This resource has no datastore table"), details={"kind": res.kind})
    existing = set(_indexed_columns(session, res.table_name))
    made = []
    for col in columns:
        if col not in res.columns:
            raise ValidationFailed(_("Unknown column"), field=f"columns.{col}")
        if col not in existing:
            # (column, _id): filtered pages come out in keyset order and counts can be index-only scans
            session.execute(text(f"CREATE INDEX {_q(_index_name(res.table_name, col))} "
                                 f'ON {_q(res.table_name)} ({_q(col)}, "_id")'))
            made.append(col)
    session.flush()
    core.audit_record(session, actor, "resource_index", target_type="resource", target_id=res.id,
                      org_id=entry.provider_org_id, after={"columns": sorted(existing | set(made))})
    return sorted(existing | set(made))


def _create_table(session: Session, name: str, items: list[dict[str, Any]]) -> None:
    pg = is_postgres(session)
    types = _PG_TYPES if pg else _SQLITE_TYPES
    cols = ", ".join(f"{_q(it['name_en'])} {types[it['data_type']]}" for it in items)
    session.execute(text(f'CREATE TABLE {_q(name)} ("_id" BIGINT PRIMARY KEY, {cols})'))


def _bulk_insert(session: Session, table: str, items: list[dict[str, Any]], rows: Iterable[list[Any]]) -> int:
    cols = ["_id", *(it["name_en"] for it in items)]
    n = 0
    if is_postgres(session):
        raw = session.connection().connection.driver_connection
        with raw.cursor() as cur, cur.copy(  # type: ignore[union-attr]  # psycopg 3 connection
                f"COPY {_q(table)} ({', '.join(_q(c) for c in cols)}) FROM STDIN") as cp:
            for r in rows:
                n += 1
                cp.write_row([n, *r])
        return n
    sql = text(f"INSERT INTO {_q(table)} ({', '.join(_q(c) for c in cols)}) "
               f"VALUES ({', '.join(':p' + str(i) for i in range(len(cols)))})")
    batch: list[dict[str, Any]] = []
    for r in rows:
        n += 1
        batch.append({f"p{i}": v for i, v in enumerate([n, *(_sqlite_value(it, x) for it, x in zip(items, r,
                                                                                              strict=True))])})
        if len(batch) >= 2000:
            session.execute(sql, batch)
            batch = []
    if batch:
        session.execute(sql, batch)
    return n


def datastore_bulk_load(session: Session, actor: Actor, entry_id: uuid.UUID, rows: Iterable[list[Any]],
                        title: str = "") -> Resource:
    """Load already-typed rows (demo, benchmark) through the same staging-and-swap path, validated per cell."""
    entry = _entry_for_manage(session, actor, entry_id)
    items = list(entry.items or [])
    res = session.scalar(select(Resource).where(Resource.entry_id == entry.id, Resource.kind == "table"))
    if res is None:
        res = Resource(entry_id=entry.id, kind="table", title=title or entry.title)
        session.add(res)
        session.flush()
    table = f"ds_{res.id.hex}"
    staging = f"{table}_{uuid.uuid4().hex[:8]}"
    _create_table(session, staging, items)

    def checked() -> Iterator[list[Any]]:
        for i, r in enumerate(rows, start=1):
            try:
                yield [convert(it, v) for it, v in zip(items, r, strict=True)]
            except ValueError as exc:
                raise ValidationFailed(f"row {i}: {exc}", field="rows") from exc

    n = _bulk_insert(session, staging, items, checked())
    _carry_indexes(session, table, staging)
    session.execute(text(f"DROP TABLE IF EXISTS {_q(table)}{_CASCADE(session)}"))
    session.execute(text(f"ALTER TABLE {_q(staging)} RENAME TO {_q(table)}"))
    res.table_name, res.columns, res.row_count, res.loaded_at = table, [i["name_en"] for i in items], n, clock.now()
    session.add(DataLoad(entry_id=entry.id, resource_id=res.id, provider_org_id=entry.provider_org_id, encoding="rows",
                         rows_total=n, rows_bad=0, accepted=True))
    session.flush()
    core.audit_record(session, actor, "resource_upload", target_type="resource", target_id=res.id,
                      org_id=entry.provider_org_id, after={"rows": n})
    return res


def load_errors_csv(load: DataLoad) -> str:
    """The error report of a refused upload as CSV text."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["row", "column", "value", "message"])
    for e in load.errors:
        w.writerow([e.get("row"), e.get("column"), e.get("value", ""), e.get("message")])
    return buf.getvalue()


# ---------------------------------------------------------------- datastore reads (masking on every path)


def item_mask(item: dict[str, Any]) -> str:
    """The masking rule applied to an item for readers other than the provider ('' = clear)."""
    rule = str(item.get("masking_rule") or "")
    if not rule and item.get("security_level") == "core":
        return "full"  # 核心 items without an explicit rule are fully hidden
    return rule


def clear_columns(entry: CatalogEntry, readable: Iterable[str] | None, masked: bool) -> frozenset[str]:
    """The information items a reader receives in clear: the only columns filters, sort and `q` may name.

    `readable` are the items the reader receives at all (None: every item) and `masked` says whether masking
    rules apply to them. Every route of `_query_rows` decides both for its actor: the provider reads everything
    unmasked, so everything is clear; the bureau and platform admins read every item masked, grantees their
    granted items masked, the public the open items (which carry no rule), so for them an item with a masking
    rule (or a 核心 item) is never clear. Comparing, searching or ordering a masked column would answer "is the
    hidden value X?" — an equality oracle that recovers it in a few calls — so nothing may.
    """
    names = {it["name_en"]: it for it in entry.items or []}
    wanted = names.keys() if readable is None else [n for n in readable if n in names]
    return frozenset(n for n in wanted if not (masked and item_mask(names[n])))


def _out_value(v: Any) -> Any:
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, datetime):
        return clock.as_utc(v).isoformat()
    if isinstance(v, date):
        return v.isoformat()
    return v


def _read_value(item: dict[str, Any], v: Any, pg: bool) -> Any:
    if v is None or pg:
        return _out_value(v)
    t = item["data_type"]
    if t == "L":
        return bool(v)
    return v


def _query_rows(session: Session, res: Resource, entry: CatalogEntry, items_allowed: list[str] | None,
                masked: bool, filters: dict[str, Any] | None, q: str | dict[str, str] | None,
                fields: list[str] | None,
                sort: str | None, limit: int, offset: int, include_total: bool,
                after: int | None, with_id: bool = False,
                ) -> tuple[list[str], list[dict[str, Any]], int | None, int | None]:
    if res.kind != "table" or not res.table_name:
        raise Conflict(_("This resource has no datastore table"), details={"kind": res.kind})
    by_name = {it["name_en"]: it for it in entry.items or []}
    allowed = [c for c in res.columns if (items_allowed is None or c in items_allowed) and c in by_name]
    # Filters, sort and q compare values: only columns the caller reads in clear (never a masked one).
    clear = clear_columns(entry, allowed, masked)
    if fields:
        for f in fields:
            if f not in allowed:
                raise ValidationFailed(_("Field not available to you"), field=f"fields.{f}")
        cols = [c for c in fields]
    else:
        cols = allowed
    if limit < 1 or limit > 1000:
        raise ValidationFailed(_("limit must be 1-1000"), field="limit")
    pg = is_postgres(session)
    where: list[str] = []
    params: dict[str, Any] = {}
    for i, (k, v) in enumerate((filters or {}).items()):
        if k not in allowed:
            raise ValidationFailed(_("Cannot filter on this field"), field=f"filters.{k}")
        if k not in clear:
            raise ValidationFailed(_("Cannot filter on {column}: it is masked for you", column=k),
                                   field=f"filters.{k}")
        values = v if isinstance(v, list) else [v]
        names = []
        for j, val in enumerate(values):
            try:
                conv = convert({**by_name[k], "required": False, "length": 0}, val)
            except ValueError as exc:
                raise ValidationFailed(str(exc), field=f"filters.{k}") from exc
            params[f"f{i}_{j}"] = conv if pg else _sqlite_value(by_name[k], conv)
            names.append(f":f{i}_{j}")
        where.append(f"{_q(k)} IN ({', '.join(names)})")
    op = "ILIKE" if pg else "LIKE"
    if isinstance(q, dict):
        # CKAN's q as {column: text}: each named column is searched, so each must be one read in clear.
        for i, (k, term) in enumerate(q.items()):
            if k not in allowed:
                raise ValidationFailed(_("Field not available to you"), field="q")
            if k not in clear:
                raise ValidationFailed(_("Cannot search {column}: it is masked for you", column=k), field="q")
            if by_name[k]["data_type"] not in ("C", "M"):
                raise ValidationFailed(_("Cannot search {column}: not a text field", column=k), field="q")
            params[f"q{i}"] = f"%{term}%"
            where.append(f"{_q(k)} {op} :q{i}")
    elif q:
        # Free text searches the text columns the caller reads in clear (as a CKAN DataStore user expects).
        text_cols = [c for c in allowed if c in clear and by_name[c]["data_type"] in ("C", "M")]
        if not text_cols:
            raise ValidationFailed(_("No searchable text fields"), field="q")
        params["q"] = f"%{q}%"
        where.append("(" + " OR ".join(f"{_q(c)} {op} :q" for c in text_cols) + ")")
    order = '"_id"'
    if sort:
        name, _sp, direction = sort.partition(" ")
        if name not in allowed or direction.lower() not in ("", "asc", "desc"):
            raise ValidationFailed(_("Cannot sort on this field"), field="sort")
        if name not in clear:
            raise ValidationFailed(_("Cannot sort on {column}: it is masked for you", column=name), field="sort")
        order = f"{_q(name)} {direction.upper() or 'ASC'}, \"_id\""
    count_where = " AND ".join(where)
    if after is not None:
        if sort:
            raise ValidationFailed(_("'after' pages only in the natural order"), field="after")
        where.append('"_id" > :after')
        params["after"] = after
        offset = 0
    wsql = (" WHERE " + " AND ".join(where)) if where else ""
    sel = ", ".join(['"_id"', *(_q(c) for c in cols)])
    sql = f"SELECT {sel} FROM {_q(res.table_name)}{wsql} ORDER BY {order} LIMIT :lim OFFSET :off"
    rows = session.execute(text(sql), {**params, "lim": limit, "off": offset}).all()
    total = None
    if include_total:
        csql = f"SELECT count(*) FROM {_q(res.table_name)}" + (f" WHERE {count_where}" if count_where else "")
        total = int(session.execute(text(csql), {k: v for k, v in params.items() if k != "after"}).scalar() or 0)
    rules = {c: (MASK_RULES.get(item_mask(by_name[c])) if masked else None) for c in cols}
    records = []
    for r in rows:
        rec: dict[str, Any] = {"_id": int(r[0])} if with_id else {}
        for c, v in zip(cols, r[1:], strict=True):
            val = _read_value(by_name[c], v, pg)
            rule = rules[c]
            rec[c] = rule.apply(val) if rule is not None and val is not None else val
        records.append(rec)
    next_after = int(rows[-1][0]) if rows and len(rows) == limit and not sort else None
    return cols, records, total, next_after


def datastore_query(
    session: Session, actor: Actor, resource_id: uuid.UUID, filters: dict[str, Any] | None = None,
    q: str | dict[str, str] | None = None, fields: list[str] | None = None, sort: str | None = None,
    limit: int = 100, offset: int = 0, include_total: bool = True, after: int | None = None, *, with_id: bool = False,
) -> tuple[list[str], list[dict[str, Any]], int | None, int | None]:
    """Rows of a table resource for a reader outside the grant path.

    The provider sees clear values; the bureau and platform admins see every item masked; a unit holding an
    active grant on the entry sees its granted items masked; anybody else is refused.
    Returns (fields, records, total, next_after).
    """
    res, entry = resource_get(session, actor, resource_id)
    if policies.datastore_read_full(actor, entry.provider_org_id):
        return _query_rows(session, res, entry, None, False, filters, q, fields, sort, limit, offset,
                           include_total, after, with_id)
    if actor.is_platform_admin or policies.is_bureau(actor):
        return _query_rows(session, res, entry, None, True, filters, q, fields, sort, limit, offset,
                           include_total, after, with_id)
    grant = session.scalar(select(Grant).where(Grant.entry_id == entry.id, Grant.status == "active",
                                               Grant.org_id.in_(policies.staff_orgs(actor) or {uuid.uuid4()})))
    if grant is None:
        raise Forbidden(_("Request access to this entry first"), code="no_grant")
    return grant_rows(session, actor, grant.id, filters, q, fields, sort, limit, offset, include_total, after,
                      resource_id=res.id, with_id=with_id)


def open_items(entry: CatalogEntry) -> list[str]:
    """Information items the public may see of an open entry: no masking rule, not 核心 (never even masked)."""
    return [it["name_en"] for it in entry.items or [] if not item_mask(it) and it.get("security_level") != "core"]


def datastore_query_open(
    session: Session, resource: Resource, entry: CatalogEntry, filters: dict[str, Any] | None = None,
    q: str | dict[str, str] | None = None, fields: list[str] | None = None, sort: str | None = None,
    limit: int = 100, offset: int = 0, include_total: bool = True, after: int | None = None, with_id: bool = False,
) -> tuple[list[str], list[dict[str, Any]], int | None, int | None]:
    """Rows of a 无条件开放 entry for anybody: only its open items (the caller has checked the entry is open)."""
    if entry.status != EntryStatus.PUBLISHED or entry.open_type != "unconditional" or resource.entry_id != entry.id:
        raise Forbidden(_("This data is not open without conditions"), code="not_open")
    return _query_rows(session, resource, entry, open_items(entry), True, filters, q, fields, sort, limit, offset,
                       include_total, after, with_id)


# ---------------------------------------------------------------- sharing requests


def _request_visible(session: Session, actor: Actor, req_id: uuid.UUID) -> ShareRequest:
    req = session.get(ShareRequest, req_id)
    if req is None or not policies.share_request_read(actor, req.requester_org_id, req.provider_org_id):
        raise NotFound(_("Sharing request not found"))
    return req


def share_request_get(session: Session, actor: Actor, req_id: uuid.UUID) -> ShareRequest:
    """One request the actor may see."""
    return _request_visible(session, actor, req_id)


def _move(session: Session, actor: Actor, req: ShareRequest, target: RequestStatus, note: str = "") -> None:
    current = RequestStatus(req.status)
    check_transition("share_request", REQUEST_ALLOWED, current, target)
    now = clock.now()
    req.status = target
    req.stage_started_at = now
    req.reminded_at = None
    req.escalated_at = None
    days = STAGE_DAYS.get(target)
    req.deadline_at = core.working_days_add(session, now, days) if days else None
    if note:
        req.reason = note
    session.add(RequestEvent(request_id=req.id, at=now, actor_name=actor.username[:100], from_status=current,
                             to_status=target, note=note))
    session.flush()
    core.audit_record(session, actor, f"share_request_{target.value}", target_type="share_request",
                      target_id=req.id, org_id=req.requester_org_id, before={"status": current.value},
                      after={"status": target.value}, extra={"note": note} if note else None)


def share_request_create(session: Session, actor: Actor, data: ShareRequestCreate) -> ShareRequest:
    """Draft a request for a subset of a published entry's items (不予共享 entries cannot be requested)."""
    policies.share_request_create(actor, actor.org_id)
    try:
        entry = catalog_entry_get(session, actor, data.entry_id)
    except NotFound as exc:
        raise ValidationFailed(_("Catalog entry not found"), field="entry_id") from exc
    if entry.status != EntryStatus.PUBLISHED:
        raise ValidationFailed(_("Only published entries can be requested"), field="entry_id")
    if entry.share_type == "none":
        raise ValidationFailed(_("不予共享: this entry cannot be requested"), field="entry_id")
    names = {i["name_en"] for i in entry.items}
    unknown = [i for i in data.items if i not in names]
    if unknown:
        raise ValidationFailed(_("Unknown information items"), field="items",
                               details=[{"field": "items", "message": f"unknown: {', '.join(unknown)}"}])
    if data.valid_until is not None and data.valid_until <= clock.now():
        raise ValidationFailed(_("valid_until is in the past"), field="valid_until")
    assert actor.org_id is not None  # checked by the policy
    req = ShareRequest(entry_id=entry.id, provider_org_id=entry.provider_org_id, requester_org_id=actor.org_id,
                       requester_user_id=actor.user_id, core_grade=entry.security_grade == "core",
                       status=RequestStatus.DRAFT, **data.model_dump(exclude={"entry_id", "items"}),
                       items=list(dict.fromkeys(data.items)))
    session.add(req)
    session.flush()
    session.add(RequestEvent(request_id=req.id, actor_name=actor.username[:100], to_status=RequestStatus.DRAFT))
    core.audit_record(session, actor, "share_request_create", target_type="share_request", target_id=req.id,
                      org_id=req.requester_org_id, after={"entry": entry.code, "items": req.items})
    return req


def share_request_submit(session: Session, actor: Actor, req_id: uuid.UUID) -> ShareRequest:
    """Submit a draft: it goes straight into the bureau's compliance review."""
    req = _request_visible(session, actor, req_id)
    policies.share_request_submit(actor, req.requester_org_id)
    entry = session.get(CatalogEntry, req.entry_id)
    if entry is None or entry.status != EntryStatus.PUBLISHED or entry.share_type == "none":
        raise Conflict(_("The entry can no longer be requested"))
    _move(session, actor, req, S.SUBMITTED)
    req.submitted_at = clock.now()
    entry.requests_count += 1
    _move(session, actor, req, S.COMPLIANCE_REVIEW)
    return req


def share_request_withdraw(session: Session, actor: Actor, req_id: uuid.UUID, reason: str = "") -> ShareRequest:
    """The requester withdraws a request that is not decided yet."""
    req = _request_visible(session, actor, req_id)
    policies.share_request_submit(actor, req.requester_org_id)
    _move(session, actor, req, S.WITHDRAWN, reason)
    return req


def share_request_compliance_review(session: Session, actor: Actor, req_id: uuid.UUID, approve: bool,
                                    note: str = "") -> ShareRequest:
    """The bureau's compliance review (and, for 核心 data, its final approval after the provider's)."""
    req = _request_visible(session, actor, req_id)
    policies.share_request_compliance_review(actor)
    if req.status != S.COMPLIANCE_REVIEW:
        raise InvalidTransition("share_request", req.status, S.APPROVED if approve else S.REJECTED)
    if not approve:
        if not note.strip():
            raise ValidationFailed(_("A rejection needs a reason"), field="note")
        _move(session, actor, req, S.REJECTED, note)
        return req
    entry = session.get(CatalogEntry, req.entry_id)
    assert entry is not None
    if req.provider_approved_at is not None:
        policies.share_request_core_approve(actor)
        _move(session, actor, req, S.APPROVED, note or "bureau final approval (核心)")
    elif entry.share_type == "unconditional" and not req.core_grade:
        _move(session, actor, req, S.APPROVED, note or "无条件共享: provider review skipped")
    else:
        _move(session, actor, req, S.PROVIDER_REVIEW, note)
    return req


def share_request_provider_review(session: Session, actor: Actor, req_id: uuid.UUID, approve: bool,
                                  note: str = "") -> ShareRequest:
    """The provider approves or rejects (a reason is required); 核心 data then returns to the bureau."""
    req = _request_visible(session, actor, req_id)
    policies.share_request_provider_review(actor, req.provider_org_id)
    if req.status != S.PROVIDER_REVIEW:
        raise InvalidTransition("share_request", req.status, S.APPROVED if approve else S.REJECTED)
    if not approve:
        if not note.strip():
            raise ValidationFailed(_("A rejection needs a reason"), field="note")
        _move(session, actor, req, S.REJECTED, note)
        return req
    req.provider_approved_at = clock.now()
    _move(session, actor, req, S.COMPLIANCE_REVIEW if req.core_grade else S.APPROVED, note)
    return req


def share_request_coordinate(session: Session, actor: Actor, req_id: uuid.UUID, reason: str) -> ShareRequest:
    """The requester contests a rejection: the bureau arbitrates."""
    req = _request_visible(session, actor, req_id)
    policies.share_request_submit(actor, req.requester_org_id)
    if not reason.strip():
        raise ValidationFailed(_("Say why the rejection should be reconsidered"), field="reason")
    _move(session, actor, req, S.COORDINATION, reason)
    return req


def share_request_close(session: Session, actor: Actor, req_id: uuid.UUID, reason: str = "") -> ShareRequest:
    """The requester accepts a rejection."""
    req = _request_visible(session, actor, req_id)
    policies.share_request_submit(actor, req.requester_org_id)
    if req.status != S.REJECTED:
        raise InvalidTransition("share_request", req.status, S.CLOSED)
    _move(session, actor, req, S.CLOSED, reason)
    return req


def share_request_arbitrate(session: Session, actor: Actor, req_id: uuid.UUID, approve: bool,
                            note: str = "") -> ShareRequest:
    """The bureau decides a coordination: approved or closed."""
    req = _request_visible(session, actor, req_id)
    policies.share_request_compliance_review(actor)
    if req.status != S.COORDINATION:
        raise InvalidTransition("share_request", req.status, S.APPROVED if approve else S.CLOSED)
    if not note.strip():
        raise ValidationFailed(_("An arbitration needs a note"), field="note")
    _move(session, actor, req, S.APPROVED if approve else S.CLOSED, note)
    return req


def share_request_activate(session: Session, actor: Actor, req_id: uuid.UUID) -> tuple[Grant, str]:
    """Provision an approved request: a grant and a consuming-system token scoped to it (shown once)."""
    from cityhub.core.schemas import ApiTokenCreate

    req = _request_visible(session, actor, req_id)
    policies.share_request_submit(actor, req.requester_org_id)
    _move(session, actor, req, S.PROVISIONING)
    user_id = req.requester_user_id or actor.user_id
    if user_id is None:
        raise ValidationFailed(_("The request has no requesting user"), field="requester_user_id")
    grant = Grant(request_id=req.id, entry_id=req.entry_id, org_id=req.requester_org_id, user_id=user_id,
                  items=list(req.items), quota=req.quota, valid_until=req.valid_until, status="active")
    session.add(grant)
    session.flush()
    token, raw = core.api_token_create(session, Actor.system("data"), user_id, ApiTokenCreate(
        name=f"grant {req.consuming_system}"[:100], scopes=[f"data:grant:{grant.id}"], expires_at=req.valid_until))
    grant.token_id = token.id
    entry = session.get(CatalogEntry, req.entry_id)
    if entry is not None:
        entry.grants_count += 1
    _move(session, actor, req, S.ACTIVE)
    core.audit_record(session, actor, "grant_create", target_type="grant", target_id=grant.id,
                      org_id=req.requester_org_id, after={"items": grant.items, "quota": grant.quota,
                                                          "token_prefix": token.prefix})
    return grant, raw


def _end_grant(session: Session, req: ShareRequest, status: str) -> None:
    grant = session.scalar(select(Grant).where(Grant.request_id == req.id))
    if grant is None:
        return
    grant.status = status
    if grant.token_id is not None:
        core.api_token_revoke(session, Actor.system("data"), grant.token_id)


def share_request_revoke(session: Session, actor: Actor, req_id: uuid.UUID, reason: str) -> ShareRequest:
    """The provider or the bureau revokes an active grant (its token stops at once)."""
    req = _request_visible(session, actor, req_id)
    policies.share_request_revoke(actor, req.provider_org_id)
    if not reason.strip():
        raise ValidationFailed(_("A revocation needs a reason"), field="reason")
    _move(session, actor, req, S.REVOKED, reason)
    _end_grant(session, req, "revoked")
    return req


def share_request_list(session: Session, actor: Actor, *, box: str = "mine", status: str | None = None,
                       limit: int = 50, offset: int = 0) -> tuple[list[ShareRequest], int]:
    """Requests by box.

    `mine` (my units' requests), `provider` (requests for my units' data), `compliance` (bureau queue),
    `all` (everything visible).
    """
    stmt = select(ShareRequest).order_by(ShareRequest.updated_at.desc())
    staff = policies.staff_orgs(actor)
    readers = policies.readable_orgs(actor)
    is_bureau = policies.is_bureau(actor)
    if box == "mine":
        stmt = stmt.where(ShareRequest.requester_org_id.in_(staff if not actor.is_platform_admin else readers))
    elif box == "provider":
        stmt = stmt.where(ShareRequest.provider_org_id.in_(staff), ShareRequest.status == S.PROVIDER_REVIEW)
    elif box == "compliance":
        if not is_bureau:
            return [], 0
        stmt = stmt.where(ShareRequest.status.in_([S.COMPLIANCE_REVIEW, S.COORDINATION]))
    elif box == "all":
        if not (is_bureau or actor.is_platform_admin):
            stmt = stmt.where(or_(ShareRequest.requester_org_id.in_(readers),
                                  ShareRequest.provider_org_id.in_(readers)))
    else:
        raise ValidationFailed(_("Unknown box"), field="box")
    if status:
        stmt = stmt.where(ShareRequest.status == status)
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    return list(session.scalars(stmt.limit(limit).offset(offset))), int(total)


def share_request_events(session: Session, actor: Actor, req_id: uuid.UUID) -> list[RequestEvent]:
    """The tracking history of a request."""
    req = _request_visible(session, actor, req_id)
    return list(session.scalars(select(RequestEvent).where(RequestEvent.request_id == req.id)
                                .order_by(RequestEvent.id)))


# ---------------------------------------------------------------- grants


def _grant_for_use(session: Session, actor: Actor, grant_id: uuid.UUID) -> tuple[Grant, CatalogEntry]:
    grant = session.get(Grant, grant_id)
    if grant is None or not policies.grant_use(actor, grant.org_id, grant.id, grant.user_id):
        raise NotFound(_("Grant not found"))
    if grant.status != "active":
        raise Forbidden(_("This grant is no longer active"), code="grant_inactive")
    if grant.valid_until is not None and grant.valid_until <= clock.now():
        raise Forbidden(_("This grant has expired"), code="grant_expired")
    entry = session.get(CatalogEntry, grant.entry_id)
    if entry is None or entry.status != EntryStatus.PUBLISHED:
        raise Forbidden(_("The entry is offline"), code="entry_offline")
    return grant, entry


def grant_get(session: Session, actor: Actor, grant_id: uuid.UUID) -> Grant:
    """A grant the actor's unit holds (or that the provider/bureau oversees)."""
    grant = session.get(Grant, grant_id)
    if grant is None:
        raise NotFound(_("Grant not found"))
    req = session.get(ShareRequest, grant.request_id)
    if not (policies.grant_use(actor, grant.org_id, grant.id, grant.user_id) or (
            req is not None and policies.share_request_read(actor, req.requester_org_id, req.provider_org_id))):
        raise NotFound(_("Grant not found"))
    return grant


def _log_access(session: Session, actor: Actor, grant: Grant, entry: CatalogEntry, resource_id: uuid.UUID | None,
                rows: int, kind: str) -> None:
    session.add(AccessLog(grant_id=grant.id, resource_id=resource_id, actor_name=actor.username[:100], kind=kind,
                          rows=rows))
    session.execute(update(Grant).where(Grant.id == grant.id).values(used=Grant.used + rows)
                    .execution_options(synchronize_session=False))
    session.execute(update(CatalogEntry).where(CatalogEntry.id == entry.id)
                    .values(accesses_count=CatalogEntry.accesses_count + 1)
                    .execution_options(synchronize_session=False))
    # Counters are incremented in SQL (concurrent readers never lose counts); mirror them without dirtying.
    set_committed_value(grant, "used", grant.used + rows)
    set_committed_value(entry, "accesses_count", entry.accesses_count + 1)
    session.flush()


def grant_rows(
    session: Session, actor: Actor, grant_id: uuid.UUID, filters: dict[str, Any] | None = None,
    q: str | dict[str, str] | None = None, fields: list[str] | None = None, sort: str | None = None,
    limit: int = 100, offset: int = 0, include_total: bool = True, after: int | None = None,
    resource_id: uuid.UUID | None = None, *, with_id: bool = False,
) -> tuple[list[str], list[dict[str, Any]], int | None, int | None]:
    """Granted rows: only granted items, masked, counted against the quota and logged."""
    grant, entry = _grant_for_use(session, actor, grant_id)
    if grant.quota and grant.used >= grant.quota:
        raise RateLimited(_("The grant's quota is used up"), retry_after=86400)
    stmt = select(Resource).where(Resource.entry_id == entry.id, Resource.kind == "table")
    if resource_id is not None:
        stmt = stmt.where(Resource.id == resource_id)
    res = session.scalar(stmt.order_by(Resource.created_at))
    if res is None:
        raise NotFound(_("The entry has no table resource"))
    if grant.quota:
        limit = max(1, min(limit, grant.quota - grant.used))
    out = _query_rows(session, res, entry, list(grant.items), True, filters, q, fields, sort, limit, offset,
                      include_total, after, with_id)
    _log_access(session, actor, grant, entry, res.id, len(out[1]), "rows")
    return out


def grant_api_call(session: Session, actor: Actor, grant_id: uuid.UUID, params: dict[str, str],
                   transport: Any = None) -> dict[str, Any]:
    """Call the entry's upstream API for a grantee.

    Credentials stay server-side; the answer keeps only granted fields of its records, masked.
    """
    import httpx

    grant, entry = _grant_for_use(session, actor, grant_id)
    if grant.quota and grant.used >= grant.quota:
        raise RateLimited(_("The grant's quota is used up"), retry_after=86400)
    res = session.scalar(select(Resource).where(Resource.entry_id == entry.id, Resource.kind == "api"))
    if res is None:
        raise NotFound(_("The entry has no API resource"))
    try:
        egress.check_url(res.upstream_url, field="upstream_url")
        with egress.client(timeout=10, follow_redirects=True, transport=transport or HTTP_TRANSPORT) as client, \
                client.stream(res.upstream_method, res.upstream_url, params=params,
                              headers=resource_credentials(res)) as resp:
            resp.raise_for_status()
            raw = bytearray()
            for chunk in resp.iter_bytes():
                raw += chunk
                if len(raw) > UPSTREAM_MAX_BYTES:
                    raise ValueError(f"upstream answer over {UPSTREAM_MAX_BYTES} bytes")
        body = safejson.loads(bytes(raw), max_bytes=UPSTREAM_MAX_BYTES, field="upstream")
    except (httpx.HTTPError, ValueError, ValidationFailed) as exc:  # EgressDenied is a ValidationFailed
        log.warning("upstream API of resource %s failed: %s: %s", res.id, type(exc).__name__, exc)
        raise ServiceUnavailable(_("The upstream API failed"), details={"error": type(exc).__name__}) from exc
    records = body if isinstance(body, list) else body.get("records", body.get("data", [])) \
        if isinstance(body, dict) else []
    by_name = {it["name_en"]: it for it in entry.items}
    out = []
    for rec in records if isinstance(records, list) else []:
        if not isinstance(rec, dict):
            continue
        row = {}
        for k in grant.items:
            if k in rec:
                rule = MASK_RULES.get(item_mask(by_name[k]))
                row[k] = rule.apply(rec[k]) if rule and rec[k] is not None else rec[k]
        out.append(row)
    _log_access(session, actor, grant, entry, res.id, len(out), "api")
    return {"records": out, "count": len(out)}


HTTP_TRANSPORT: Any = None  # tests put an httpx.MockTransport here (the upstream is an outside system)
UPSTREAM_MAX_BYTES = 16 * 1024 * 1024  # an upstream API answer is read at most this far


def resource_file_open(session: Session, actor: Actor, resource_id: uuid.UUID) -> tuple[Resource, Path]:
    """A file resource for the provider, the bureau, or a unit with an active grant (logged)."""
    res, entry = resource_get(session, actor, resource_id)
    if not (policies.is_staff(actor, entry.provider_org_id) or policies.is_bureau(actor)):
        grant = session.scalar(select(Grant).where(Grant.entry_id == entry.id, Grant.status == "active",
                                                   Grant.org_id.in_(policies.staff_orgs(actor) or
                                                                    {uuid.uuid4()})))
        if grant is None:
            raise Forbidden(_("Request access to this entry first"), code="no_grant")
        grant, entry = _grant_for_use(session, actor, grant.id)
        if res.kind == "file":
            _log_access(session, actor, grant, entry, res.id, 0, "file")
    if res.kind != "file":
        raise Conflict(_("Not a file resource"))
    path = _files_dir() / res.id.hex
    if not path.exists():
        raise NotFound(_("The file is missing on disk"))
    return res, path


def access_log(session: Session, actor: Actor, grant_id: uuid.UUID, limit: int = 100) -> list[AccessLog]:
    """Recent reads through a grant."""
    grant = grant_get(session, actor, grant_id)
    return list(session.scalars(select(AccessLog).where(AccessLog.grant_id == grant.id)
                                .order_by(AccessLog.id.desc()).limit(limit)))


# ---------------------------------------------------------------- deadlines (sla-check)


def sla_check(session: Session, actor: Actor | None = None) -> dict[str, int]:
    """Remind, escalate to the bureau, expire grants, mark overdue objections and needs (idempotent)."""
    actor = actor or Actor.system("data-sla")
    now = clock.now()
    counts = {"reminded": 0, "escalated": 0, "expired": 0, "objections_overdue": 0, "demands_overdue": 0}
    stages = [S.COMPLIANCE_REVIEW, S.PROVIDER_REVIEW, S.COORDINATION]
    for req in session.scalars(select(ShareRequest).where(ShareRequest.status.in_(stages),
                                                          ShareRequest.deadline_at.is_not(None))):
        assert req.deadline_at is not None
        if now > req.deadline_at:
            if req.escalated_at is None:
                req.escalated_at = now
                counts["escalated"] += 1
                core.audit_record(session, actor, "share_request_escalate", target_type="share_request",
                                  target_id=req.id, org_id=core.bureau_id(session),
                                  extra={"status": req.status, "deadline": req.deadline_at})
        elif req.reminded_at is None and core.working_days_between(session, now, req.deadline_at) \
                <= REMIND_WHEN_DAYS_LEFT:
            req.reminded_at = now
            counts["reminded"] += 1
            core.audit_record(session, actor, "share_request_remind", target_type="share_request",
                              target_id=req.id, org_id=req.provider_org_id if req.status == S.PROVIDER_REVIEW
                              else core.bureau_id(session), extra={"deadline": req.deadline_at})
    for req in session.scalars(select(ShareRequest).where(ShareRequest.status == S.ACTIVE,
                                                          ShareRequest.valid_until.is_not(None),
                                                          ShareRequest.valid_until <= now)):
        _move(session, actor, req, S.EXPIRED, "validity period ended")
        _end_grant(session, req, "expired")
        counts["expired"] += 1
    for _obj in session.scalars(select(Objection).where(
            Objection.status.in_([ObjectionStatus.RAISED, ObjectionStatus.HANDLING]),
            Objection.deadline_at < now)):
        counts["objections_overdue"] += 1
    for _dem in session.scalars(select(Demand).where(Demand.status == DemandStatus.ASSIGNED,
                                                    Demand.deadline_at < now)):
        counts["demands_overdue"] += 1
    session.flush()
    return counts


# ---------------------------------------------------------------- objections


def objection_raise(session: Session, actor: Actor, data: ObjectionCreate) -> Objection:
    """Raise an objection; the provider of the entry handles it within OBJECTION_DAYS working days."""
    policies.objection_raise(actor)
    assert actor.org_id is not None
    req = None
    if data.request_id is not None:
        try:
            req = _request_visible(session, actor, data.request_id)
        except NotFound as exc:
            raise ValidationFailed(_("Sharing request not found"), field="request_id") from exc
    entry_id = data.entry_id or (req.entry_id if req else None)
    try:
        entry = catalog_entry_get(session, actor, entry_id)  # type: ignore[arg-type]  # one of both is set
    except NotFound as exc:
        raise ValidationFailed(_("Catalog entry not found"), field="entry_id") from exc
    if data.kind in ("request_objection", "usage_objection") and req is None:
        raise ValidationFailed(_("This kind of objection names the sharing request"), field="request_id")
    now = clock.now()
    obj = Objection(kind=data.kind, entry_id=entry.id, request_id=req.id if req else None,
                    handler_org_id=entry.provider_org_id, raiser_org_id=actor.org_id, raiser_user_id=actor.user_id,
                    content=data.content, status=ObjectionStatus.RAISED,
                    deadline_at=core.working_days_add(session, now, OBJECTION_DAYS))
    session.add(obj)
    session.flush()
    core.audit_record(session, actor, "objection_raise", target_type="objection", target_id=obj.id,
                      org_id=obj.handler_org_id, after={"kind": obj.kind, "entry": entry.code})
    return obj


def _objection_visible(session: Session, actor: Actor, obj_id: uuid.UUID) -> Objection:
    obj = session.get(Objection, obj_id)
    if obj is None or not (policies.can_read_org(actor, obj.handler_org_id) or
                           policies.can_read_org(actor, obj.raiser_org_id) or
                           policies.is_bureau(actor)):
        raise NotFound(_("Objection not found"))
    return obj


def _objection_move(session: Session, actor: Actor, obj: Objection, target: ObjectionStatus,
                    extra: dict[str, Any] | None = None) -> None:
    current = ObjectionStatus(obj.status)
    check_transition("objection", OBJECTION_ALLOWED, current, target)
    obj.status = target
    session.flush()
    core.audit_record(session, actor, f"objection_{'handle' if target != 'evaluated' else 'evaluate'}",
                      target_type="objection", target_id=obj.id, org_id=obj.handler_org_id,
                      before={"status": current.value}, after={"status": target.value}, extra=extra)


def objection_accept(session: Session, actor: Actor, obj_id: uuid.UUID) -> Objection:
    """The handler starts handling."""
    obj = _objection_visible(session, actor, obj_id)
    policies.objection_handle(actor, obj.handler_org_id)
    _objection_move(session, actor, obj, ObjectionStatus.HANDLING)
    return obj


def objection_reply(session: Session, actor: Actor, obj_id: uuid.UUID, reply: str) -> Objection:
    """The handler answers (handled)."""
    obj = _objection_visible(session, actor, obj_id)
    policies.objection_handle(actor, obj.handler_org_id)
    if obj.status == ObjectionStatus.RAISED:
        _objection_move(session, actor, obj, ObjectionStatus.HANDLING)
    _objection_move(session, actor, obj, ObjectionStatus.HANDLED, {"reply": reply[:200]})
    obj.reply = reply
    obj.handled_at = clock.now()
    session.flush()
    return obj


def objection_evaluate(session: Session, actor: Actor, obj_id: uuid.UUID, rating: int,
                       evaluation: str = "") -> Objection:
    """The raiser rates the handling (1-5)."""
    obj = _objection_visible(session, actor, obj_id)
    policies.objection_evaluate(actor, obj.raiser_org_id)
    _objection_move(session, actor, obj, ObjectionStatus.EVALUATED, {"rating": rating})
    obj.rating, obj.evaluation = rating, evaluation
    session.flush()
    return obj


def objection_list(session: Session, actor: Actor, limit: int = 100, offset: int = 0) -> tuple[list[Objection], int]:
    """Objections raised by or addressed to the actor's units (everything for the bureau)."""
    stmt = select(Objection).order_by(Objection.created_at.desc())
    if not (actor.is_platform_admin or policies.is_bureau(actor)):
        readers = policies.readable_orgs(actor)
        stmt = stmt.where(or_(Objection.handler_org_id.in_(readers), Objection.raiser_org_id.in_(readers)))
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    return list(session.scalars(stmt.limit(limit).offset(offset))), int(total)


# ---------------------------------------------------------------- 需求清单 (demands)


def demand_create(session: Session, actor: Actor, data: DemandCreate) -> Demand:
    """File a data need for the actor's unit."""
    policies.demand_create(actor)
    assert actor.org_id is not None
    dem = Demand(requester_org_id=actor.org_id, status=DemandStatus.FILED, **data.model_dump())
    session.add(dem)
    session.flush()
    core.audit_record(session, actor, "demand_create", target_type="demand", target_id=dem.id,
                      org_id=dem.requester_org_id, after={"title": dem.title})
    return dem


def _demand_visible(session: Session, actor: Actor, dem_id: uuid.UUID) -> Demand:
    dem = session.get(Demand, dem_id)
    if dem is None:
        raise NotFound(_("Need not found"))
    policies.data_read(actor)
    return dem  # the 需求清单 is visible to every logged-in unit (it is the shared to-do list of the city)


def demand_get(session: Session, actor: Actor, dem_id: uuid.UUID) -> Demand:
    """One need."""
    return _demand_visible(session, actor, dem_id)


def demand_assign(session: Session, actor: Actor, dem_id: uuid.UUID, data: DemandAssign) -> Demand:
    """The bureau names the responsible department and the answer deadline (working days)."""
    dem = _demand_visible(session, actor, dem_id)
    policies.demand_assign(actor)
    try:
        core.organization_get(session, Actor.system(), data.org_id)
    except NotFound as exc:
        raise ValidationFailed(_("Organisation not found"), field="org_id") from exc
    check_transition("demand", DEMAND_ALLOWED, DemandStatus(dem.status), DemandStatus.ASSIGNED)
    before = {"status": dem.status, "assigned_org_id": dem.assigned_org_id}
    dem.status = DemandStatus.ASSIGNED
    dem.assigned_org_id = data.org_id
    dem.deadline_at = core.working_days_add(session, clock.now(), data.working_days)
    session.flush()
    core.audit_record(session, actor, "demand_assign", target_type="demand", target_id=dem.id,
                      org_id=data.org_id, before=before, after={"status": dem.status, "assigned_org_id": data.org_id,
                                                                 "deadline": dem.deadline_at})
    return dem


def demand_answer(session: Session, actor: Actor, dem_id: uuid.UUID, data: DemandAnswer) -> Demand:
    """The responsible department answers by linking one of its entries (existing or newly created)."""
    dem = _demand_visible(session, actor, dem_id)
    policies.demand_answer(actor, dem.assigned_org_id)
    entry = session.get(CatalogEntry, data.entry_id)
    if entry is None or entry.provider_org_id != dem.assigned_org_id:
        raise ValidationFailed(_("Link an entry of the assigned unit"), field="entry_id")
    check_transition("demand", DEMAND_ALLOWED, DemandStatus(dem.status), DemandStatus.ANSWERED)
    dem.status = DemandStatus.ANSWERED
    dem.entry_id, dem.answer, dem.answered_at = entry.id, data.answer, clock.now()
    session.flush()
    core.audit_record(session, actor, "demand_answer", target_type="demand", target_id=dem.id,
                      org_id=dem.assigned_org_id, after={"entry": entry.code, "on_time": dem.deadline_at is None
                                                         or dem.answered_at <= dem.deadline_at})
    return dem


def demand_list(session: Session, actor: Actor, status: str | None = None, limit: int = 200,
                offset: int = 0) -> tuple[list[Demand], int]:
    """The 需求清单."""
    policies.data_read(actor)
    stmt = select(Demand).order_by(Demand.created_at.desc())
    if status:
        stmt = stmt.where(Demand.status == status)
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    return list(session.scalars(stmt.limit(limit).offset(offset))), int(total)


# ---------------------------------------------------------------- 责任清单 KPIs


def _avg(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 2) if values else None


def kpis(session: Session, actor: Actor, org_id: uuid.UUID | None = None) -> list[dict[str, Any]]:
    """责任清单 KPIs per providing department, computed from recorded events (loads, requests, objections)."""
    policies.data_read(actor)
    now = clock.now()
    orgs = {o.id: o for o in core.organization_all(session)}
    entries = list(session.scalars(select(CatalogEntry).where(CatalogEntry.status != EntryStatus.DRAFT)))
    responsible: dict[uuid.UUID, list[CatalogEntry]] = {}
    for e in entries:
        responsible.setdefault(e.provider_org_id, []).append(e)
    demands = list(session.scalars(select(Demand).where(Demand.assigned_org_id.is_not(None))))
    for d in demands:
        responsible.setdefault(d.assigned_org_id, [])  # type: ignore[arg-type]  # filtered not None
    loaded = {r.entry_id: r.loaded_at for r in session.scalars(select(Resource).where(Resource.loaded_at.is_not(None)))}
    loads = session.execute(select(DataLoad.provider_org_id, func.sum(DataLoad.rows_total), func.sum(DataLoad.rows_bad))
                            .group_by(DataLoad.provider_org_id)).all()
    pass_rate = {o: (1 - (bad or 0) / tot) if tot else None for o, tot, bad in loads}
    reply: dict[uuid.UUID, list[float]] = {}
    ev = session.execute(select(ShareRequest.provider_org_id, ShareRequest.id, RequestEvent.at, RequestEvent.to_status,
                                RequestEvent.from_status)
                         .join(RequestEvent, RequestEvent.request_id == ShareRequest.id)
                         .order_by(RequestEvent.id)).all()
    started: dict[uuid.UUID, datetime] = {}
    for prov, rid, at, to_s, from_s in ev:
        if to_s == S.PROVIDER_REVIEW:
            started[rid] = at
        elif from_s == S.PROVIDER_REVIEW and rid in started:
            reply.setdefault(prov, []).append(core.working_days_between(session, started.pop(rid), at))
    obj_reply: dict[uuid.UUID, list[float]] = {}
    for o in session.scalars(select(Objection).where(Objection.handled_at.is_not(None))):
        assert o.handled_at is not None
        obj_reply.setdefault(o.handler_org_id, []).append(core.working_days_between(session, o.created_at,
                                                                                    o.handled_at))
    out: list[dict[str, Any]] = []
    for oid, ents in responsible.items():
        if org_id is not None and oid != org_id:
            continue
        published = [e for e in ents if e.status == EntryStatus.PUBLISHED]
        with_table = [e for e in ents if e.format_category in ("database", "sheet")]
        covered = [e for e in with_table if e.id in loaded]
        cyc = [e for e in covered if CYCLE_DAYS.get(e.update_cycle)]
        on_time = [e for e in cyc if loaded[e.id] is not None and
                   now - loaded[e.id] <= timedelta(days=CYCLE_DAYS[e.update_cycle] or 0)]  # type: ignore[operator]
        dem = [d for d in demands if d.assigned_org_id == oid]
        dem_on_time = [d for d in dem if d.answered_at is not None and d.deadline_at is not None
                       and d.answered_at <= d.deadline_at]
        coverage = len(covered) / len(with_table) if with_table else None
        otr = len(on_time) / len(cyc) if cyc else None
        rdays = _avg(reply.get(oid, []))
        odays = _avg(obj_reply.get(oid, []))
        parts = [v for v in (coverage, pass_rate.get(oid), otr,
                             None if rdays is None else max(0.0, 1 - rdays / PROVIDER_DAYS),
                             None if odays is None else max(0.0, 1 - odays / OBJECTION_DAYS),
                             len(dem_on_time) / len(dem) if dem else None) if v is not None]
        out.append({"org_id": oid, "org_name": orgs[oid].name if oid in orgs else str(oid), "entries": len(ents),
                    "published": len(published), "coverage": None if coverage is None else round(coverage, 4),
                    "field_pass_rate": None if pass_rate.get(oid) is None else round(pass_rate[oid] or 0, 4),
                    "on_time_update_rate": None if otr is None else round(otr, 4),
                    "request_reply_days": rdays, "objection_reply_days": odays,
                    "demands_assigned": len(dem), "demands_on_time": len(dem_on_time),
                    "score": round(100 * sum(parts) / len(parts), 1) if parts else 0.0})
    out.sort(key=lambda r: (-r["score"], r["org_name"]))
    return out


# ---------------------------------------------------------------- 三清单 exports (CSV and XLSX)


def catalog_list_rows(session: Session, actor: Actor) -> tuple[list[str], list[list[Any]]]:
    """目录清单: every published entry the actor may see (metadata only, no row data)."""
    policies.data_read(actor)
    orgs = {o.id: o.name for o in core.organization_all(session)}
    header = ["资源代码", "资源名称", "提供单位", "分类", "基础库", "主题", "格式分类", "信息项", "共享类型",
              "共享条件", "开放类型", "更新周期", "安全级别", "版本", "发布时间"]
    rows = []
    stmt = select(CatalogEntry).where(_visibility_clause(session, actor),
                                      CatalogEntry.status == EntryStatus.PUBLISHED).order_by(CatalogEntry.code)
    for e in session.scalars(stmt):
        rows.append([e.code, e.title, orgs.get(e.provider_org_id, ""), CLASSIFICATIONS.get(e.classification, ""),
                     BASE_DBS.get(e.base_db, ""), e.theme, e.format_category,
                     "、".join(i["name_cn"] for i in e.items), SHARE_TYPES.get(e.share_type, ""), e.share_condition,
                     OPEN_TYPES.get(e.open_type, ""), UPDATE_CYCLES.get(e.update_cycle, ""),
                     GRADES.get(e.security_grade, ""), e.version,
                     e.published_at.isoformat() if e.published_at else ""])
    return header, rows


def demand_list_rows(session: Session, actor: Actor) -> tuple[list[str], list[list[Any]]]:
    """需求清单 export rows."""
    orgs = {o.id: o.name for o in core.organization_all(session)}
    items, _total = demand_list(session, actor, limit=100_000)
    header = ["需求", "需求单位", "用途", "依据", "状态", "责任单位", "答复期限", "答复时间", "关联资源"]
    codes = {e.id: e.code for e in session.scalars(select(CatalogEntry).where(
        CatalogEntry.id.in_([d.entry_id for d in items if d.entry_id])))}
    rows = [[d.title, orgs.get(d.requester_org_id, ""), d.purpose, d.legal_basis, d.status,
             orgs.get(d.assigned_org_id, "") if d.assigned_org_id else "",
             d.deadline_at.isoformat() if d.deadline_at else "", d.answered_at.isoformat() if d.answered_at else "",
             codes.get(d.entry_id, "") if d.entry_id else ""] for d in items]
    return header, rows


def responsibility_list_rows(session: Session, actor: Actor) -> tuple[list[str], list[list[Any]]]:
    """责任清单 export rows (one per department, with its KPIs)."""
    header = ["单位", "资源数", "已发布", "归集率", "信息项合格率", "按时更新率", "申请答复(工作日)",
              "异议答复(工作日)", "承担需求", "按时答复需求", "得分"]
    rows = [[k["org_name"], k["entries"], k["published"], k["coverage"], k["field_pass_rate"],
             k["on_time_update_rate"], k["request_reply_days"], k["objection_reply_days"], k["demands_assigned"],
             k["demands_on_time"], k["score"]] for k in kpis(session, actor)]
    return header, rows


def to_csv(header: list[str], rows: list[list[Any]]) -> bytes:
    """CSV bytes with a UTF-8 BOM (Excel opens Chinese text correctly)."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(rows)
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def to_xlsx(title: str, header: list[str], rows: list[list[Any]]) -> bytes:
    """An XLSX workbook of one sheet."""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title[:31])
    ws.append(header)
    for r in rows:
        ws.append([str(v) if isinstance(v, uuid.UUID) else v for v in r])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def grant_rows_csv(session: Session, actor: Actor, grant_id: uuid.UUID, filters: dict[str, Any] | None = None,
                   max_rows: int = 100_000) -> bytes:
    """Granted rows as CSV: the same masking, quota and access logging as the JSON path."""
    fields: list[str] = []
    out: list[list[Any]] = []
    after: int | None = 0
    while after is not None and len(out) < max_rows:
        fields, recs, _t, after = grant_rows(session, actor, grant_id, filters, None, None, None,
                                             min(1000, max_rows - len(out)), 0, False, after)
        out.extend([[r.get(f) for f in fields] for r in recs])
    return to_csv(fields, out)


def data_counts(session: Session) -> dict[str, int]:
    """Headline counts for dashboards."""
    return {
        "entries_published": session.scalar(select(func.count()).select_from(CatalogEntry)
                                            .where(CatalogEntry.status == EntryStatus.PUBLISHED)) or 0,
        "requests_open": session.scalar(select(func.count()).select_from(ShareRequest)
                                        .where(ShareRequest.status.in_(OPEN_REQUEST_STATES))) or 0,
        "grants_active": session.scalar(select(func.count()).select_from(Grant)
                                        .where(Grant.status == "active")) or 0,
    }


def catalog_entries_by_ids(session: Session, ids: Iterable[uuid.UUID]) -> list[CatalogEntry]:
    """Entries by id, for labelling lists of requests the actor already may see (titles and codes only)."""
    wanted = list(set(ids))
    if not wanted:
        return []
    return list(session.scalars(select(CatalogEntry).where(CatalogEntry.id.in_(wanted))))


def grants_for_requests(session: Session, actor: Actor, request_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Grant]:
    """Grants of requests the actor already sees, by request id (for the tracking page)."""
    wanted = list(set(request_ids))
    if not wanted:
        return {}
    return {g.request_id: g for g in session.scalars(select(Grant).where(Grant.request_id.in_(wanted)))}
