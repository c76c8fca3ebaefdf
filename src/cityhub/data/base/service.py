"""Base databases (自然人, 法人, 电子证照, 自然资源和空间地理 …) as data: feeds, golden records, conflicts.

The bureau names which catalog entries feed a base database, with the item holding the key (公民身份号码,
统一社会信用代码, licence number) and a priority. Merging streams every feed's table in key order (a k-way merge,
`heapq.merge`: no table is held in memory) and keeps one golden record per key with field-level provenance
(`merge.merge`); feeds that disagree on a field open a conflict listing the candidates, which the bureau resolves
by choosing one (kept while the candidates stay the same). A feed's successful sync re-merges its base database.
Golden records are read by the bureau and the feeding units; each lookup of a record is audited.
"""

from __future__ import annotations

import heapq
import uuid
from collections.abc import Iterator
from typing import Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from cityhub.core import service as core
from cityhub.core.service import Actor
from cityhub.data import policies
from cityhub.data.base import merge as m
from cityhub.data.catalog import service as catalog
from cityhub.data.datastore.stores import quote
from cityhub.data.models import BaseConflict, BaseFeed, BaseRecord, CatalogEntry, Resource
from cityhub.data.schemas import BaseConflictResolve, BaseFeedSet
from cityhub.data.vocabulary import BASE_DBS, THEMES
from cityhub.kit import clock, refs
from cityhub.kit.db import get_or_404, is_postgres
from cityhub.kit.errors import Forbidden, NotFound, ValidationFailed
from cityhub.kit.i18n import gettext as _

FLUSH_EVERY = 1000  # golden records written per flush while merging


def _table(session: Session, entry_id: uuid.UUID) -> Resource | None:
    return session.scalar(select(Resource).where(Resource.entry_id == entry_id, Resource.kind == "table")
                          .order_by(Resource.created_at))


def base_feed_set(session: Session, actor: Actor, data: BaseFeedSet) -> BaseFeed:
    """Make an entry a feed of a base database, or change its key item and priority (the bureau)."""
    policies.base_manage(actor)
    entry = refs.reference("entry_id", lambda: catalog.catalog_entry_get(session, actor, data.entry_id))
    if data.key_item not in {it["name_en"] for it in entry.items}:
        raise ValidationFailed(_("Not an information item of the entry"), field="key_item")
    feed = session.scalar(select(BaseFeed).where(BaseFeed.base_db == data.base_db, BaseFeed.entry_id == entry.id))
    before = {"key_item": feed.key_item, "priority": feed.priority} if feed is not None else None
    if feed is None:
        feed = BaseFeed(base_db=data.base_db, entry_id=entry.id, org_id=entry.provider_org_id)
        session.add(feed)
    feed.key_item, feed.priority = data.key_item, data.priority
    session.flush()
    core.audit_record(session, actor, "base_feed_set", target_type="base_feed", target_id=feed.id,
                      org_id=entry.provider_org_id, before=before,
                      after={"base_db": data.base_db, "entry": str(entry.id), "key_item": data.key_item,
                             "priority": data.priority})
    return feed


def _feed_rows(session: Session, idx: int, feed: BaseFeed, entry: CatalogEntry,
               res: Resource) -> Iterator[tuple[str, int, m.FeedRow]]:
    """A feed's rows in key order (byte order of the key's text, the order Python compares strings in)."""
    cols = [it["name_en"] for it in entry.items if it["name_en"] in (res.columns or [])]
    if feed.key_item not in cols:
        return
    key = f"CAST({quote(feed.key_item)} AS TEXT)" + (' COLLATE "C"' if is_postgres(session) else "")
    sql = (f"SELECT {key}, {', '.join(quote(c) for c in cols)} FROM {quote(res.table_name or '')} "
           f"WHERE {quote(feed.key_item)} IS NOT NULL ORDER BY 1")
    at = res.loaded_at.isoformat() if res.loaded_at else ""
    for row in session.execute(text(sql).execution_options(yield_per=2000)):
        k = m.render(row[0])
        if k:
            yield k, idx, m.FeedRow(str(feed.id), str(feed.org_id), feed.priority, at,
                                    dict(zip(cols, row[1:], strict=True)))


def _conflicts(session: Session, rec: BaseRecord, golden: m.Golden,
               known: dict[str, BaseConflict]) -> tuple[dict[str, str], dict[str, Any], int]:
    """A record's fields and provenance after its conflicts: a resolution stands while its candidates do."""
    fields, provenance = dict(golden.fields), dict(golden.provenance)
    open_n = 0
    for name, candidates in golden.conflicts.items():
        c = known.pop(name, None)
        values = sorted(x["value"] for x in candidates)
        if c is not None and c.status == "resolved" and c.chosen in values and \
                sorted(x["value"] for x in c.candidates) == values:
            fields[name] = c.chosen or ""
            provenance[name] = {"resolved_by": str(c.resolved_by),
                                "at": c.resolved_at.isoformat() if c.resolved_at else ""}
            continue
        if c is None:
            c = BaseConflict(record_id=rec.id, base_db=rec.base_db, field=name)
            session.add(c)
        c.candidates, c.status, c.chosen, c.resolved_by, c.resolved_at = candidates, "open", None, None, None
        open_n += 1
    for c in known.values():  # fields the feeds agree on again
        session.delete(c)
    return fields, provenance, open_n


def merge_base(session: Session, base_db: str) -> dict[str, int]:
    """Recompute the golden records of a base database from its feeds; counts of what changed."""
    feeds = list(session.execute(select(BaseFeed, CatalogEntry).join(CatalogEntry, CatalogEntry.id == BaseFeed.entry_id)
                                 .where(BaseFeed.base_db == base_db).order_by(BaseFeed.priority)))
    streams = []
    for idx, (feed, entry) in enumerate(feeds):
        res = _table(session, entry.id)
        if res is not None and res.table_name:
            streams.append(_feed_rows(session, idx, feed, entry, res))
    key_items = {str(feed.id): feed.key_item for feed, _entry in feeds}
    existing = {r.key: r for r in session.scalars(select(BaseRecord).where(BaseRecord.base_db == base_db))}
    known: dict[uuid.UUID, dict[str, BaseConflict]] = {}
    for c in session.scalars(select(BaseConflict).where(BaseConflict.base_db == base_db)):
        known.setdefault(c.record_id, {})[c.field] = c
    stats = {"records": 0, "added": 0, "changed": 0, "removed": 0, "conflicts": 0}

    def merge_key(key: str, rows: list[m.FeedRow]) -> None:
        golden = m.merge(rows, key_items.get(rows[0].feed))
        rec = existing.pop(key, None)
        if rec is None:
            rec = BaseRecord(base_db=base_db, key=key)
            session.add(rec)
            session.flush()
            stats["added"] += 1
        elif rec.fields != golden.fields or rec.sources != len(rows):
            stats["changed"] += 1
        fields, provenance, open_n = _conflicts(session, rec, golden, known.pop(rec.id, {}))
        rec.fields, rec.provenance, rec.sources, rec.conflicts = fields, provenance, len(rows), open_n
        rec.merged_at = clock.now()
        stats["records"] += 1
        stats["conflicts"] += open_n
        if stats["records"] % FLUSH_EVERY == 0:
            session.flush()

    group: list[m.FeedRow] = []
    current: str | None = None
    for key, _idx, row in heapq.merge(*streams, key=lambda t: (t[0], t[1])):
        if key != current:
            if current is not None:
                merge_key(current, group)
            current, group = key, []
        group.append(row)
    if current is not None:
        merge_key(current, group)
    if existing:  # keys no feed holds any more
        session.execute(delete(BaseRecord).where(BaseRecord.id.in_([r.id for r in existing.values()])))
        stats["removed"] = len(existing)
    session.flush()
    return stats


def base_merge(session: Session, actor: Actor, base_db: str) -> dict[str, int]:
    """Merge a base database now (the bureau); its feeds' syncs do it after every successful run."""
    policies.base_manage(actor)
    stats = merge_base(session, base_db)
    core.audit_record(session, actor, "base_merge", target_type="base_record", target_id=None, after=stats,
                      extra={"base_db": base_db})
    return stats


def merge_after_sync(session: Session, entry_id: uuid.UUID) -> None:
    """Re-merge every base database the entry feeds (called after its successful sync)."""
    for base_db in session.scalars(select(BaseFeed.base_db).where(BaseFeed.entry_id == entry_id)):
        merge_base(session, base_db)


def _feed_orgs(session: Session, base_db: str) -> frozenset[uuid.UUID]:
    return frozenset(session.scalars(select(BaseFeed.org_id).where(BaseFeed.base_db == base_db)))


def base_summary(session: Session, actor: Actor, base_db: str) -> dict[str, Any]:
    """Counts, feeds (entry, unit, priority, rows, last load) and open conflicts of a base database."""
    if not policies.base_read(actor, _feed_orgs(session, base_db)):
        raise Forbidden(_("You are not allowed to do this"))
    feeds = []
    for feed, entry in session.execute(select(BaseFeed, CatalogEntry).join(CatalogEntry, CatalogEntry.id ==
                                                                           BaseFeed.entry_id)
                                       .where(BaseFeed.base_db == base_db).order_by(BaseFeed.priority)):
        res = _table(session, entry.id)
        feeds.append({"feed_id": feed.id, "entry_id": entry.id, "title": entry.title, "org_id": feed.org_id,
                      "key_item": feed.key_item, "priority": feed.priority,
                      "rows": res.row_count if res is not None else 0,
                      "loaded_at": res.loaded_at if res is not None else None})
    records = int(session.scalar(select(func.count()).select_from(BaseRecord)
                                 .where(BaseRecord.base_db == base_db)) or 0)
    conflicts = int(session.scalar(select(func.count()).select_from(BaseConflict)
                                   .where(BaseConflict.base_db == base_db, BaseConflict.status == "open")) or 0)
    merged = session.scalar(select(func.max(BaseRecord.merged_at)).where(BaseRecord.base_db == base_db))
    return {"base_db": base_db, "records": records, "open_conflicts": conflicts, "merged_at": merged,
            "feeds": feeds}


def base_record_get(session: Session, actor: Actor, base_db: str, key: str) -> BaseRecord:
    """One golden record by its key (the bureau and the feeding units); the lookup is audited."""
    if not policies.base_read(actor, _feed_orgs(session, base_db)):
        raise Forbidden(_("You are not allowed to do this"))
    rec = session.scalar(select(BaseRecord).where(BaseRecord.base_db == base_db, BaseRecord.key == key.strip()))
    if rec is None:
        raise NotFound(_("Golden record not found"))
    core.audit_record(session, actor, "base_record_read", target_type="base_record", target_id=rec.id,
                      extra={"base_db": base_db})
    return rec


def base_conflicts(session: Session, actor: Actor, base_db: str, limit: int = 100) -> list[BaseConflict]:
    """Open conflicts of a base database, for its owner to resolve."""
    if not policies.base_read(actor, _feed_orgs(session, base_db)):
        raise Forbidden(_("You are not allowed to do this"))
    return list(session.scalars(select(BaseConflict).where(BaseConflict.base_db == base_db,
                                                           BaseConflict.status == "open").limit(limit)))


def base_conflict_resolve(session: Session, actor: Actor, conflict_id: uuid.UUID,
                          data: BaseConflictResolve) -> BaseConflict:
    """The bureau picks one candidate's value; the golden record takes it until the candidates change."""
    policies.base_manage(actor)
    c = get_or_404(session, BaseConflict, conflict_id, "Conflict")
    if data.value not in {x["value"] for x in c.candidates}:
        raise ValidationFailed(_("Choose one of the candidate values"), field="value")
    rec = session.get(BaseRecord, c.record_id)
    assert rec is not None  # the conflict cascades with its record
    before = rec.fields.get(c.field)
    c.status, c.chosen, c.resolved_by, c.resolved_at = "resolved", data.value, actor.user_id, clock.now()
    rec.fields = {**rec.fields, c.field: data.value}
    rec.provenance = {**rec.provenance, c.field: {"resolved_by": str(actor.user_id), "at": c.resolved_at.isoformat()}}
    rec.conflicts = max(0, rec.conflicts - 1)
    session.flush()
    core.audit_record(session, actor, "base_conflict_resolve", target_type="base_conflict", target_id=c.id,
                      before={c.field: before}, after={c.field: data.value})
    return c


def base_overview(session: Session, actor: Actor) -> list[dict[str, Any]]:
    """Each base database: golden records, feeds, open conflicts, and catalog entries labelled with it."""
    if not actor.is_authenticated:
        raise Forbidden(_("You are not allowed to do this"))
    out = []
    for code in BASE_DBS:
        out.append({
            "base_db": code,
            "records": int(session.scalar(select(func.count()).select_from(BaseRecord)
                                          .where(BaseRecord.base_db == code)) or 0),
            "feeds": int(session.scalar(select(func.count()).select_from(BaseFeed)
                                        .where(BaseFeed.base_db == code)) or 0),
            "open_conflicts": int(session.scalar(select(func.count()).select_from(BaseConflict).where(
                BaseConflict.base_db == code, BaseConflict.status == "open")) or 0),
            "entries": int(session.scalar(select(func.count()).select_from(CatalogEntry).where(
                CatalogEntry.base_db == code, catalog.published_clause())) or 0)})
    return out


def theme_coverage(session: Session, actor: Actor) -> list[dict[str, Any]]:
    """The 22 thematic databases: published entries of each theme, the units contributing, the latest load."""
    if not actor.is_authenticated:
        raise Forbidden(_("You are not allowed to do this"))
    by: dict[str, dict[str, Any]] = {t: {"theme": t, "entries": 0, "orgs": set(), "loaded_at": None} for t in THEMES}
    rows = session.execute(
        select(CatalogEntry.theme, CatalogEntry.provider_org_id, func.count(func.distinct(CatalogEntry.id)),
               func.max(Resource.loaded_at))
        .outerjoin(Resource, Resource.entry_id == CatalogEntry.id)
        .where(catalog.published_clause(), CatalogEntry.theme.in_(list(THEMES)))
        .group_by(CatalogEntry.theme, CatalogEntry.provider_org_id))
    for theme, org, n, loaded in rows:
        t = by[theme]
        t["entries"] += int(n)
        t["orgs"].add(org)
        if loaded is not None and (t["loaded_at"] is None or loaded > t["loaded_at"]):
            t["loaded_at"] = loaded
    return [{**t, "orgs": sorted(t["orgs"], key=str)} for t in by.values()]
