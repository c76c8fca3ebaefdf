"""Catalog entries: registration, review, publication and offline; the visibility rule; the catalog's queries.

**The visibility rule is defined here and only here** (tests/data/test_visibility_rule.py fails when another module
restates it). An entry is *published* when its status is `published`; it is *open to the public* when it is
published and its open type is not 不予开放 (`none`); it is *open without conditions* (无条件开放) when published and
`unconditional`. `_published`, `_opened`, `_public` and `_unconditional` state each once and work on a row's values
and on SQL columns alike, so the Python predicates (`is_public(entry)`, `entry_visible(actor, entry)`) and the SQL
clauses (`public_clause()`, `visible_clause(actor)`) cannot drift apart. Who sees what:

- anonymous callers and citizens' portal accounts: entries open to the public;
- the bureau (and platform admins, who hold its permission): every entry;
- other government staff and auditors: published entries *in their reach*, entries open to the public, and any
  entry of a unit they read (`policies.readable_orgs`).

Reach is the catalog's tier (decision 0012): a city entry (`tier` "city") is in every insider's reach; a district's
entry (`tier` "district", `tier_org_id` its 区县) only in the reach of staff of units inside that district, until the
district shares it upward (`shared_upward`: 上报/共享至市级), when it is in the city catalog for everybody.

Every surface — the REST API, the pages, the CKAN Action API, DCAT, downloads, public SQL and search — reads
entries and their resources through the functions of this module (or `search.catalog_search`, which applies the
same clause); the portal modules hold no query of their own on entries or resources.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from cityhub.core import service as core
from cityhub.core.service import Actor
from cityhub.data import policies
from cityhub.data.catalog import index
from cityhub.data.catalog.tiers import actor_tiers, tier_of
from cityhub.data.catalog.versions import entry_values, jsonable, publish_version
from cityhub.data.models import CatalogEntry, CatalogSearch, ChangeStatus, EntryStatus, EntryVersion, Resource
from cityhub.data.schemas import EntryCreate, EntryUpdate
from cityhub.data.schemas import Resource as ResourceSchema
from cityhub.data.standards import refs as standards_refs
from cityhub.data.standards import stale as standards_stale
from cityhub.data.vocabulary import BASE_DBS
from cityhub.kit.errors import Conflict, InvalidTransition, NotFound, ValidationFailed, transition
from cityhub.kit.i18n import gettext as _
from cityhub.kit.refs import reference

ENTRY_ALLOWED: dict[EntryStatus, set[EntryStatus]] = {
    EntryStatus.DRAFT: {EntryStatus.PENDING_REVIEW},
    EntryStatus.PENDING_REVIEW: {EntryStatus.PUBLISHED, EntryStatus.REJECTED},
    EntryStatus.REJECTED: {EntryStatus.PENDING_REVIEW},
    EntryStatus.PUBLISHED: {EntryStatus.OFFLINE},
    EntryStatus.OFFLINE: {EntryStatus.PENDING_REVIEW},
}
Source = type[CatalogEntry] | type[CatalogSearch]  # both carry status, open_type and provider_org_id

# ---------------------------------------------------------------- the visibility rule (one definition)
# Each works on Python values (answering a bool) and on SQL columns (answering a clause): `==`, `!=`, `&`, `|`
# mean the same on both.


def _published(status: Any) -> Any:
    return status == EntryStatus.PUBLISHED


def _opened(open_type: Any) -> Any:
    return open_type != "none"  # 不予开放 is the one open type the public never sees


def _public(status: Any, open_type: Any) -> Any:
    return _published(status) & _opened(open_type)


def _unconditional(status: Any, open_type: Any) -> Any:
    return _published(status) & (open_type == "unconditional")


def _in_city_catalog(tier: Any, shared_upward: Any) -> Any:
    return (tier == "city") | shared_upward  # a city entry, or a district's shared upward


def _visible(actor: Actor, tiers: frozenset[uuid.UUID], row: tuple[Any, ...],
             member: Callable[[Any, frozenset[uuid.UUID]], Any], everything: Any) -> Any:
    status, open_type, provider_org_id, tier, tier_org_id, shared_upward = row
    if not policies.is_insider(actor):  # anonymous callers and portal accounts: the open catalog only
        return _public(status, open_type)
    if policies.is_bureau(actor):
        return everything
    reach = _in_city_catalog(tier, shared_upward)
    if tiers:  # the districts the actor works in: their own catalogs
        reach = reach | member(tier_org_id, tiers)
    seen = (_published(status) & reach) | _public(status, open_type)
    own = policies.readable_orgs(actor)
    return seen | member(provider_org_id, own) if own else seen


def _row(src: Any) -> tuple[Any, ...]:
    return (src.status, src.open_type, src.provider_org_id, src.tier, src.tier_org_id, src.shared_upward)


def is_published(entry: CatalogEntry) -> bool:
    """Is the entry published (in the catalog, whoever may see it)?"""
    return bool(_published(entry.status))


def opens_to_public(open_type: str) -> bool:
    """Does this open type let the public see a published entry (无条件开放 or 有条件开放)?"""
    return bool(_opened(open_type))


def is_public(entry: CatalogEntry) -> bool:
    """Is the entry open to the public (published, and not 不予开放)?"""
    return bool(_public(entry.status, entry.open_type))


def is_open_without_conditions(entry: CatalogEntry) -> bool:
    """May anybody read the entry's open items without applying (published, 无条件开放)?"""
    return bool(_unconditional(entry.status, entry.open_type))


def entry_visible(actor: Actor, entry: CatalogEntry, tiers: frozenset[uuid.UUID] = frozenset()) -> bool:
    """May the actor see this entry at all (else it is a 404, like an unknown id)? `tiers`: `actor_tiers`."""
    return bool(_visible(actor, tiers, _row(entry), lambda org, own: org in own, True))


def published_clause(src: Source = CatalogEntry) -> ColumnElement[bool]:
    """SQL: published entries."""
    clause: ColumnElement[bool] = _published(src.status)
    return clause


def opened_clause(src: Source = CatalogEntry, opened: bool = True) -> ColumnElement[bool]:
    """SQL: entries whose open type lets the public see them once published (`opened=False`: 不予开放 ones)."""
    clause: ColumnElement[bool] = _opened(src.open_type)
    return clause if opened else ~clause


def public_clause(src: Source = CatalogEntry) -> ColumnElement[bool]:
    """SQL: entries open to the public."""
    clause: ColumnElement[bool] = _public(src.status, src.open_type)
    return clause


def unconditional_clause(src: Source = CatalogEntry) -> ColumnElement[bool]:
    """SQL: entries anybody may read without applying."""
    clause: ColumnElement[bool] = _unconditional(src.status, src.open_type)
    return clause


def visible_clause(actor: Actor, src: Source = CatalogEntry,
                   tiers: frozenset[uuid.UUID] = frozenset()) -> ColumnElement[bool]:
    """SQL: the entries the actor may see (`entry_visible` as a WHERE clause). `tiers`: `actor_tiers`."""
    clause: ColumnElement[bool] = _visible(actor, tiers, _row(src), lambda col, own: col.in_(own), true())
    return clause


def public_entry_ids() -> Select[Any]:
    """SQL: the ids of the entries open to the public (to join other tables on, e.g. download counts)."""
    return select(CatalogEntry.id).where(public_clause())


# ---------------------------------------------------------------- codes, slugs, registration

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


def _check_semantics(values: dict[str, Any]) -> None:
    """Cross-field rules of the cataloguing guideline (applied to the merged entry)."""
    if values.get("classification") == "base" and not values.get("base_db"):
        raise ValidationFailed(_("A base-catalog entry names its base database"), field="base_db")
    if values.get("share_type") == "conditional" and not (values.get("share_condition") or "").strip():
        raise ValidationFailed(_("Sharing on conditions needs the sharing condition"), field="share_condition")
    if values.get("share_type") == "none" and not (values.get("legal_basis") or "").strip():
        raise ValidationFailed(_("Not sharing needs its legal basis"), field="legal_basis")
    if values.get("open_type") == "conditional" and not (values.get("open_condition") or "").strip():
        raise ValidationFailed(_("Opening on conditions needs the opening condition"), field="open_condition")
    if values.get("security_grade") == "core" and opens_to_public(values.get("open_type") or ""):
        raise ValidationFailed(_("Core data cannot be opened to the public"), field="open_type")


def _items_json(session: Session, items: Iterable[Any]) -> list[dict[str, Any]]:
    out = [i.model_dump() if hasattr(i, "model_dump") else dict(i) for i in items]
    for it in out:
        if not it.get("element"):
            it.pop("element", None)  # an item following no data element keeps the shape it always had
    standards_refs.check_item_elements(session, out)
    return out


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
    values["items"] = _items_json(session, data.items)
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
    tier, tier_org_id = tier_of(session, data.provider_org_id)
    entry: CatalogEntry | None = None
    for _attempt in range(5):  # a concurrent creator may take the same sequence number: retry the next one
        code = _next_code(session, prefix)
        try:
            with session.begin_nested():
                entry = CatalogEntry(code=code, name=slug, provider_org_id=data.provider_org_id,
                                     status=EntryStatus.DRAFT, tier=tier, tier_org_id=tier_org_id, **values)
                session.add(entry)
                session.flush()
            break
        except IntegrityError:
            entry = None
    if entry is None:
        raise Conflict(_("Could not allocate a unique resource code; try again"))
    index.reindex_entry(session, entry)
    session.flush()
    core.audit_record(session, actor, "catalog_entry_create", target_type="catalog_entry", target_id=entry.id,
                      org_id=entry.provider_org_id, after={"code": entry.code, "title": entry.title,
                                                           "tier": entry.tier})
    return entry


# ---------------------------------------------------------------- reads of one entry


def _visible_entry(session: Session, actor: Actor, entry: CatalogEntry | None) -> CatalogEntry:
    if entry is None or not entry_visible(actor, entry, actor_tiers(session, actor) if entry.tier_org_id else
                                          frozenset()):
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
        changes["items"] = _items_json(session, data.items)
    if "related_entry_ids" in changes:
        changes["related_entry_ids"] = [str(x) for x in changes["related_entry_ids"] or []]
        _check_related(session, actor, changes["related_entry_ids"])
    if entry.status == EntryStatus.PENDING_REVIEW or entry.change_status == ChangeStatus.PENDING_REVIEW:
        raise InvalidTransition("catalog_entry", EntryStatus.PENDING_REVIEW, "edit")
    merged_base = {**entry_values(entry), **(entry.pending_changes or {})}
    merged = {**merged_base, **changes}
    _check_semantics(merged)
    before = jsonable(entry_values(entry))
    if entry.status in (EntryStatus.PUBLISHED, EntryStatus.OFFLINE) and entry.version > 0:
        entry.pending_changes = jsonable({**(entry.pending_changes or {}), **changes})
        entry.change_status = ChangeStatus.DRAFT
        session.flush()
        core.audit_record(session, actor, "catalog_entry_update", target_type="catalog_entry", target_id=entry.id,
                          org_id=entry.provider_org_id, extra={"pending_fields": sorted(changes)})
        return entry
    for k, v in changes.items():
        setattr(entry, k, v)
    index.reindex_entry(session, entry)
    session.flush()
    if "items" in changes:
        standards_stale.entry_items_changed(session, entry.id)
    core.audit_record(session, actor, "catalog_entry_update", target_type="catalog_entry", target_id=entry.id,
                      org_id=entry.provider_org_id, before=before, after=jsonable(entry_values(entry)))
    return entry


def catalog_entry_submit(session: Session, actor: Actor, entry_id: uuid.UUID) -> CatalogEntry:
    """Send a draft/rejected/offline entry, or a published entry's changes, to the bureau's review queue."""
    entry = catalog_entry_get(session, actor, entry_id)
    policies.catalog_entry_submit(actor, entry.provider_org_id)
    if is_published(entry):
        if entry.change_status not in (ChangeStatus.DRAFT, ChangeStatus.REJECTED) or not entry.pending_changes:
            raise InvalidTransition("catalog_entry changes", entry.change_status or "none",
                                    ChangeStatus.PENDING_REVIEW)
        entry.change_status = ChangeStatus.PENDING_REVIEW
    else:
        transition(entry, EntryStatus.PENDING_REVIEW, ENTRY_ALLOWED, "catalog_entry")
    session.flush()
    core.audit_record(session, actor, "catalog_entry_submit", target_type="catalog_entry", target_id=entry.id,
                      org_id=entry.provider_org_id, after={"status": entry.status,
                                                           "change_status": entry.change_status})
    return entry


def catalog_entry_review(session: Session, actor: Actor, entry_id: uuid.UUID, approve: bool,
                         note: str = "") -> CatalogEntry:
    """The tier's reviewer approves (publishes a new version) or rejects an entry or its pending changes.

    The bureau reviews the city's entries, a district's data admin its district's.
    """
    entry = catalog_entry_get(session, actor, entry_id)
    policies.catalog_entry_review(actor, entry.tier_org_id)
    if not approve and not note.strip():
        raise ValidationFailed(_("A rejection needs a reason"), field="note")
    before_values = jsonable(entry_values(entry))
    if is_published(entry) and entry.change_status == ChangeStatus.PENDING_REVIEW:
        if approve:
            if "items" in (entry.pending_changes or {}):
                standards_stale.entry_items_changed(session, entry.id)
            for k, v in (entry.pending_changes or {}).items():
                setattr(entry, k, v)
            entry.pending_changes = None
            entry.change_status = ChangeStatus.NONE
            index.reindex_entry(session, entry)
            publish_version(session, actor, entry, before_values)
        else:
            entry.change_status = ChangeStatus.REJECTED
        action = "catalog_entry_publish" if approve else "catalog_entry_reject"
    else:
        target = EntryStatus.PUBLISHED if approve else EntryStatus.REJECTED
        transition(entry, target, ENTRY_ALLOWED, "catalog_entry")
        if approve:
            prev = session.scalar(select(EntryVersion.snapshot).where(EntryVersion.entry_id == entry.id)
                                  .order_by(EntryVersion.version.desc()).limit(1))
            publish_version(session, actor, entry, prev or {})
        action = "catalog_entry_publish" if approve else "catalog_entry_reject"
    entry.review_note = note
    session.flush()
    core.audit_record(session, actor, action, target_type="catalog_entry", target_id=entry.id,
                      org_id=entry.provider_org_id, extra={"version": entry.version, "note": note})
    return entry


def catalog_entry_share_upward(session: Session, actor: Actor, entry_id: uuid.UUID, shared: bool) -> CatalogEntry:
    """The district shares its entry upward to the city catalog (上报/共享至市级), or takes it back."""
    entry = catalog_entry_get(session, actor, entry_id)
    policies.catalog_entry_share_upward(actor, entry.tier_org_id)
    if entry.shared_upward == shared:
        raise Conflict(_("The entry is already shared with the city") if shared
                       else _("The entry is not shared with the city"))
    entry.shared_upward = shared
    session.flush()
    core.audit_record(session, actor, "catalog_entry_share_upward", target_type="catalog_entry", target_id=entry.id,
                      org_id=entry.provider_org_id, before={"shared_upward": not shared},
                      after={"shared_upward": shared})
    return entry


def catalog_entry_offline(session: Session, actor: Actor, entry_id: uuid.UUID, reason: str = "") -> CatalogEntry:
    """Take a published entry offline (it leaves search; grants stop at once)."""
    entry = catalog_entry_get(session, actor, entry_id)
    policies.catalog_entry_offline(actor, entry.provider_org_id)
    transition(entry, EntryStatus.OFFLINE, ENTRY_ALLOWED, "catalog_entry")
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


# ---------------------------------------------------------------- lists of entries


def catalog_entry_list_owned(session: Session, actor: Actor, status: str | None = None) -> list[CatalogEntry]:
    """Entries of the units the actor works for (any status), for the publish queue."""
    stmt = select(CatalogEntry).order_by(CatalogEntry.updated_at.desc())
    if not actor.is_platform_admin:
        stmt = stmt.where(CatalogEntry.provider_org_id.in_(policies.readable_orgs(actor)))
    if status:
        stmt = stmt.where(CatalogEntry.status == status)
    return list(session.scalars(stmt.limit(500)))


def catalog_entry_page_owned(session: Session, actor: Actor, status: str | None = None, limit: int = 20,
                             offset: int = 0) -> tuple[list[CatalogEntry], int]:
    """One page of the entries of the actor's units (any status) and their total, newest change first."""
    stmt = select(CatalogEntry, func.count().over()).order_by(CatalogEntry.updated_at.desc(), CatalogEntry.code)
    if not actor.is_platform_admin:
        stmt = stmt.where(CatalogEntry.provider_org_id.in_(policies.readable_orgs(actor)))
    if status:
        stmt = stmt.where(CatalogEntry.status == status)
    rows = session.execute(stmt.limit(limit).offset(offset)).all()
    return [r[0] for r in rows], int(rows[0][1]) if rows else 0


def catalog_review_queue(session: Session, actor: Actor) -> list[CatalogEntry]:
    """Entries (or changes) waiting for the actor's review.

    The city tier's for the bureau, a district's for its data admin (platform admins: every tier).
    """
    stmt = select(CatalogEntry).where(or_(CatalogEntry.status == EntryStatus.PENDING_REVIEW,
                                          CatalogEntry.change_status == ChangeStatus.PENDING_REVIEW))
    if not actor.is_platform_admin:
        districts = policies.tier_reviewer_orgs(actor)
        tiers = [CatalogEntry.tier_org_id.in_(districts)] if districts else []
        if policies.is_bureau(actor):
            tiers.append(CatalogEntry.tier_org_id.is_(None))
        if not tiers:
            return []
        stmt = stmt.where(or_(*tiers))
    return list(session.scalars(stmt.order_by(CatalogEntry.updated_at)))


def catalog_entries_by_ids(session: Session, ids: Iterable[uuid.UUID]) -> list[CatalogEntry]:
    """Entries by id, for labelling lists of requests the actor already may see (titles and codes only)."""
    wanted = list(set(ids))
    if not wanted:
        return []
    return list(session.scalars(select(CatalogEntry).where(CatalogEntry.id.in_(wanted))))


def published_entries_visible(session: Session, actor: Actor) -> list[CatalogEntry]:
    """Every published entry the actor may see, by resource code (the 目录清单)."""
    return list(session.scalars(select(CatalogEntry).where(visible_clause(actor, tiers=actor_tiers(session, actor)),
                                                           published_clause()).order_by(CatalogEntry.code)))


def published_count(session: Session) -> int:
    """How many entries are published."""
    return int(session.scalar(select(func.count()).select_from(CatalogEntry).where(published_clause())) or 0)


def entries_in_catalog(session: Session) -> list[CatalogEntry]:
    """Every entry past its draft (for the responsibility KPIs: what each unit registered and submitted)."""
    return list(session.scalars(select(CatalogEntry).where(CatalogEntry.status != EntryStatus.DRAFT)))


def theme_names(session: Session) -> list[str]:
    """The themes (主题库) entries name."""
    return list(session.scalars(select(CatalogEntry.theme).where(CatalogEntry.theme != "").distinct()))


# ---------------------------------------------------------------- resources mounted on entries


def resources_of(session: Session, entry_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[Resource]]:
    """Resources of entries the caller already sees, by entry id, oldest first."""
    out: dict[uuid.UUID, list[Resource]] = {i: [] for i in entry_ids}
    if out:
        for r in session.scalars(select(Resource).where(Resource.entry_id.in_(list(out)))
                                 .order_by(Resource.created_at)):
            out[r.entry_id].append(r)
    return out


def resource_list(session: Session, actor: Actor, entry_id: uuid.UUID) -> list[Resource]:
    """Resources mounted on an entry the actor may see."""
    entry = catalog_entry_get(session, actor, entry_id)
    return resources_of(session, [entry.id])[entry.id]


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


def entry_resource(session: Session, entry: CatalogEntry, resource_id: uuid.UUID | None,
                   kind: str | None = None) -> Resource:
    """A resource of an entry the caller already sees (404 when it belongs to another entry or is another kind)."""
    res = session.get(Resource, resource_id) if resource_id is not None else None
    if res is None or res.entry_id != entry.id or (kind is not None and res.kind != kind):
        raise NotFound(_("Resource not found"))
    return res


def public_resource_search(session: Session, *, names: Iterable[str] = (), kinds: Iterable[str] = (),
                           ids: Iterable[uuid.UUID] = (), descriptions: Iterable[str] = (), limit: int = 100,
                           offset: int = 0) -> tuple[list[tuple[Resource, CatalogEntry]], int]:
    """Resources of the open catalog: the page and the total.

    Each of `names` is in the resource's title, it is of every kind in `kinds` and has every id in `ids`, and each
    of `descriptions` is in its entry's abstract.
    """
    stmt = (select(Resource, CatalogEntry).join(CatalogEntry, CatalogEntry.id == Resource.entry_id)
            .where(public_clause()))
    for name in names:
        stmt = stmt.where(Resource.title.contains(name))
    for kind in kinds:
        stmt = stmt.where(Resource.kind == kind)
    for rid in ids:
        stmt = stmt.where(Resource.id == rid)
    for text in descriptions:
        stmt = stmt.where(CatalogEntry.abstract.contains(text))
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    found = session.execute(stmt.order_by(Resource.created_at, Resource.id).limit(limit).offset(offset)).all()
    return [(r, e) for r, e in found], int(total)


def open_table_resources(session: Session, resource_ids: Iterable[uuid.UUID]) -> list[tuple[Resource, CatalogEntry]]:
    """Of these resources, the loaded datastore tables of entries open without conditions (public SQL reads them)."""
    ids = list(resource_ids)
    if not ids:
        return []
    rows = session.execute(select(Resource, CatalogEntry).join(CatalogEntry, CatalogEntry.id == Resource.entry_id)
                           .where(Resource.id.in_(ids), Resource.kind == "table", Resource.table_name.is_not(None),
                                  unconditional_clause())).all()
    return [(r, e) for r, e in rows]
