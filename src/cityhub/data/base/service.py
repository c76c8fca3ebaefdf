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
import json
import uuid
from collections.abc import Iterator
from typing import Any

import shapely
from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from cityhub.core import service as core
from cityhub.core.service import Actor
from cityhub.data import policies
from cityhub.data.base import geo, postgis
from cityhub.data.base import merge as m
from cityhub.data.base.schemas import BaseConflictRead, BaseConflictResolve, BaseFeedSet, BaseRecordRead
from cityhub.data.catalog import service as catalog
from cityhub.data.datastore.reads import item_mask
from cityhub.data.datastore.stores import quote
from cityhub.data.models import BaseConflict, BaseFeed, BaseRecord, CatalogEntry, Grant, Resource
from cityhub.data.sharing.grants import log_access, usable_grant
from cityhub.data.vocabulary import BASE_DBS, MASK_RULES, THEMES
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


def _keep_geometry(rec: BaseRecord, fields: dict[str, str], provenance: dict[str, Any]) -> int:
    """Validate a geo golden record's geometry: kept with its bounding box, or dropped saying why (1 if dropped)."""
    value = fields.get(geo.GEOMETRY_ITEM)
    rec.geometry = rec.min_x = rec.min_y = rec.max_x = rec.max_y = None
    if value is None:
        return 0
    try:
        g = geo.parse(value)
    except geo.Invalid as e:
        del fields[geo.GEOMETRY_ITEM]
        provenance[geo.GEOMETRY_ITEM] = {**(provenance.get(geo.GEOMETRY_ITEM) or {}), "rejected": e.code,
                                         "detail": e.detail}
        return 1
    rec.geometry = g.geojson
    rec.min_x, rec.min_y, rec.max_x, rec.max_y = g.bbox
    return 0


def _derive(rec: BaseRecord, fields: dict[str, str], provenance: dict[str, Any]) -> int:
    """The columns a record derives from its fields: a geo record's geometry (1 if rejected), a licence's holder."""
    if rec.base_db == "license":
        rec.holder = _holder(fields)
    return _keep_geometry(rec, fields, provenance) if rec.base_db == "geo" else 0


HOLDER_ITEMS = {"uscc": "legal_person", "id_number": "population"}  # a licence's holder code → its base database


def _holder(fields: dict[str, str]) -> str | None:
    """A licence's holder: its 统一社会信用代码, else its holder's 公民身份号码."""
    return next((fields[n].strip()[:64] for n in HOLDER_ITEMS if (fields.get(n) or "").strip()), None)


def _links(session: Session, actor: Actor, rec: BaseRecord) -> list[dict[str, Any]]:
    """A licence's holder record, or a legal person's / person's licences: one query.

    Only what the reader may look up in the other base database (the bureau and that database's feeding units).
    """
    if rec.base_db == "license" and rec.holder:
        dbs = [db for n, db in HOLDER_ITEMS.items() if (rec.fields or {}).get(n, "").strip() == rec.holder]
        dbs = [db for db in dbs if policies.base_read(actor, _feed_orgs(session, db))]
        if not dbs:
            return []
        found = session.execute(select(BaseRecord.base_db, BaseRecord.key).where(
            BaseRecord.base_db.in_(dbs), BaseRecord.key == rec.holder)).all()
        return [{"base_db": db, "key": key, "role": "holder", "label": ""} for db, key in found]
    if rec.base_db in HOLDER_ITEMS.values() and policies.base_read(actor, _feed_orgs(session, "license")):
        masks = _Masks(session, actor, "license")
        out = []
        for lic in session.scalars(select(BaseRecord).where(BaseRecord.base_db == "license",
                                                            BaseRecord.holder == rec.key)
                                   .order_by(BaseRecord.key).limit(LINKS_LIMIT)):
            p = (lic.provenance or {}).get("license_type") or {}
            label = masks.value("license_type", (lic.fields or {}).get("license_type"), p.get("feed"), p.get("org"))
            out.append({"base_db": "license", "key": lic.key, "role": "licence", "label": label or ""})
        return out
    return []


LINKS_LIMIT = 200  # licences listed on a holder's record


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
    if base_db == "geo":
        stats["rejected"] = 0

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
        rejected = _derive(rec, fields, provenance)
        if base_db == "geo":
            stats["rejected"] += rejected
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


class _Masks:
    """How one reader sees a base database's values.

    A value that came from a unit the reader cannot read is masked by its field's rule in that feed's entry
    (`datastore.reads.item_mask`: the masking rule, 核心 items fully). The bureau, which owns the base databases
    and resolves their conflicts by comparing the candidates, reads every value clear.
    """

    def __init__(self, session: Session, actor: Actor, base_db: str) -> None:
        self.clear_all = actor.is_system or policies.is_bureau(actor)
        self.own = {str(o) for o in policies.readable_orgs(actor)} if not self.clear_all else set()
        self.items: dict[str, dict[str, dict[str, Any]]] = {}
        if not self.clear_all:
            for feed, entry in session.execute(select(BaseFeed, CatalogEntry).join(
                    CatalogEntry, CatalogEntry.id == BaseFeed.entry_id).where(BaseFeed.base_db == base_db)):
                self.items[str(feed.id)] = {it["name_en"]: it for it in entry.items or []}

    def value(self, field: str, value: Any, feed: str | None, org: str | None) -> Any:
        """The value as this reader sees it (a field resolved by the bureau, feed unknown: masked if it may be)."""
        if self.clear_all or value is None or (org is not None and org in self.own):
            return value
        items = [self.items.get(feed or "", {}).get(field)] if feed else [f.get(field) for f in self.items.values()]
        rules = [item_mask(it) for it in items if it is not None]
        rule = next((r for r in rules if r), "")  # unknown feed: the strictest rule any feed gives the field
        if any(r == "full" for r in rules):
            rule = "full"
        return MASK_RULES[rule].apply(value) if rule in MASK_RULES else value


def _grants(session: Session, actor: Actor, base_db: str) -> dict[str, tuple[Grant, CatalogEntry]]:
    """The actor's usable grants on the base database's feeding entries (quota left), by feed id."""
    out = {}
    for feed, entry in session.execute(select(BaseFeed, CatalogEntry).join(
            CatalogEntry, CatalogEntry.id == BaseFeed.entry_id).where(BaseFeed.base_db == base_db)):
        grant = usable_grant(session, actor, entry.id)
        if grant is not None and catalog.is_published(entry) and not (grant.quota and grant.used >= grant.quota) \
                and (grant.valid_until is None or grant.valid_until > clock.now()):
            out[str(feed.id)] = (grant, entry)
    return out


def _granted_view(session: Session, actor: Actor, rec: BaseRecord,
                  grants: dict[str, tuple[Grant, CatalogEntry]], charge: bool = True) -> BaseRecordRead:
    """A grantee's golden record: only the fields its grants cover, masked as every grant read.

    A field is covered when a granted feed gave it and it is among that grant's items; it is masked by that
    entry's rule. Each grant used is charged one row and logged.
    """
    fields, provenance = {}, {}
    for name, value in (rec.fields or {}).items():
        p = (rec.provenance or {}).get(name) or {}
        feeds = [p["feed"]] if p.get("feed") else list(grants)  # resolved by the bureau: any granted feed's rule
        rules = []
        for fid in feeds:
            if fid in grants and name in grants[fid][0].items:
                item = next((it for it in grants[fid][1].items or [] if it["name_en"] == name), None)
                rules.append(item_mask(item) if item is not None else "full")
        if not rules:
            continue
        rule = "full" if "full" in rules else next((r for r in rules if r), "")
        fields[name] = MASK_RULES[rule].apply(value) if rule in MASK_RULES and value is not None else value
        provenance[name] = p
    if charge:
        for grant, entry in grants.values():
            log_access(session, actor, grant, entry, None, 1, "golden")
    return _with_geometry(rec, BaseRecordRead.model_validate(rec).model_copy(
        update={"fields": fields, "provenance": provenance}))


def _with_geometry(rec: BaseRecord, read: BaseRecordRead) -> BaseRecordRead:
    """The record's geometry as GeoJSON when the reader sees its geometry field clear (not masked, not left out)."""
    name = geo.GEOMETRY_ITEM
    if rec.geometry is None or name not in read.fields or read.fields[name] != (rec.fields or {}).get(name):
        return read
    return read.model_copy(update={"geojson": json.loads(rec.geometry)})


def _masked_view(rec: BaseRecord, masks: _Masks) -> BaseRecordRead:
    fields = {}
    for name, value in (rec.fields or {}).items():
        p = (rec.provenance or {}).get(name) or {}
        fields[name] = masks.value(name, value, p.get("feed"), p.get("org"))
    return _with_geometry(rec, BaseRecordRead.model_validate(rec).model_copy(update={"fields": fields}))


def base_record_get(session: Session, actor: Actor, base_db: str, key: str) -> BaseRecordRead:
    """One golden record by its key; the lookup is audited.

    The bureau reads it clear; a feeding unit the fields its own feeds gave clear and the others masked
    (`_Masks`); a unit holding a sharing grant on a feeding entry only the fields its grants cover, masked
    (`_granted_view`, charged to the grants and logged as their reads); anyone else is refused.
    """
    grants: dict[str, tuple[Grant, CatalogEntry]] = {}
    if not policies.base_read(actor, _feed_orgs(session, base_db)):
        grants = _grants(session, actor, base_db)
        if not grants:
            raise Forbidden(_("You are not allowed to do this"))
    rec = session.scalar(select(BaseRecord).where(BaseRecord.base_db == base_db, BaseRecord.key == key.strip()))
    if rec is None:
        raise NotFound(_("Golden record not found"))
    core.audit_record(session, actor, "base_record_read", target_type="base_record", target_id=rec.id,
                      extra={"base_db": base_db, **({"grants": sorted(str(g.id) for g, _e in grants.values())}
                                                    if grants else {})})
    if grants:
        return _granted_view(session, actor, rec, grants)
    return _masked_view(rec, _Masks(session, actor, base_db)).model_copy(
        update={"links": _links(session, actor, rec)})


def _search_box(bbox: tuple[float, float, float, float] | None,
                near: tuple[float, float, float] | None) -> tuple[float, float, float, float]:
    """The box a place lookup prefilters on, or 422 naming the bad parameter."""
    if (bbox is None) == (near is None):
        raise ValidationFailed(_("Give a box or a point and a radius"), field="bbox")
    if bbox is not None:
        x0, y0, x1, y1 = bbox
        if not (-180 <= x0 <= x1 <= 180):
            raise ValidationFailed(_("Longitudes must run from west to east within -180 and 180"), field="max_lon")
        if not (-90 <= y0 <= y1 <= 90):
            raise ValidationFailed(_("Latitudes must run from south to north within -90 and 90"), field="max_lat")
        return bbox
    assert near is not None
    lon, lat, radius = near
    if not (-180 <= lon <= 180):
        raise ValidationFailed(_("Longitude out of range"), field="lon")
    if not (-90 <= lat <= 90):
        raise ValidationFailed(_("Latitude out of range"), field="lat")
    if not (0 < radius <= geo.MAX_RADIUS_M):
        raise ValidationFailed(_("The radius must be above 0 and at most 50 km"), field="radius_m")
    return geo.near_box(lon, lat, radius)


def _geo_candidates(session: Session, box: tuple[float, float, float, float],
                    bbox: tuple[float, float, float, float] | None,
                    near: tuple[float, float, float] | None) -> list[BaseRecord]:
    """The geo records that can meet a lookup (shapely decides).

    Through PostGIS's GiST index when the `geom` column exists (decision 0014; `base/postgis.py`), else every record
    whose bounding box meets `box`.
    """
    geo_rows = select(BaseRecord).where(BaseRecord.base_db == "geo", BaseRecord.geometry.is_not(None))
    in_box = (BaseRecord.max_x >= box[0], BaseRecord.min_x <= box[2], BaseRecord.max_y >= box[1],
              BaseRecord.min_y <= box[3])
    if not postgis.indexed(session):
        return list(session.scalars(geo_rows.where(*in_box)))
    # `in_box` as well: the index's boxes are rounded outwards, so the fallback's own prefilter keeps both paths'
    # candidates within the same box to the last bit
    return [*session.scalars(geo_rows.where(postgis.meets(box, bbox, near), *in_box)),
            *session.scalars(geo_rows.where(postgis.unfilled(), *in_box))]


def base_geo_search(session: Session, actor: Actor, bbox: tuple[float, float, float, float] | None = None,
                    near: tuple[float, float, float] | None = None, limit: int = 500) -> list[BaseRecordRead]:
    """Golden records of the geo base database meeting a box or near a point, nearest first; one audited lookup.

    `bbox` = (min lon, min lat, max lon, max lat); `near` = (lon, lat, radius in metres).

    Read as `base_record_get` reads one record (the bureau clear, feeding units masked per source field, grantees
    the fields their grants cover — only when the geometry item is among them — charged one row per record
    returned and logged). SQL finds the candidates — PostGIS's GiST index and exact test when the `geom` column
    exists, else the bounding-box columns — and shapely decides, so SQLite, PostgreSQL and PostgreSQL with PostGIS
    give the same records in the same order.
    """
    box = _search_box(bbox, near)
    grants: dict[str, tuple[Grant, CatalogEntry]] = {}
    if not policies.base_read(actor, _feed_orgs(session, "geo")):
        grants = {f: (g, e) for f, (g, e) in _grants(session, actor, "geo").items() if geo.GEOMETRY_ITEM in g.items}
        if not grants:
            raise Forbidden(_("You are not allowed to do this"))
        left = [g.quota - g.used for g, _e in grants.values() if g.quota]
        limit = min([limit, *left])
    found: list[tuple[float, BaseRecord]] = []
    area = shapely.box(*bbox) if bbox is not None else None
    for rec in _geo_candidates(session, box, bbox, near):
        shape = geo.load(rec.geometry or "")
        if area is not None:
            if shape.intersects(area):
                found.append((0.0, rec))
        elif near is not None and (d := geo.distance_m(shape, near[0], near[1])) <= near[2]:
            found.append((d, rec))
    found.sort(key=lambda t: (t[0], t[1].key))  # by key within equal distances
    found = found[:limit]
    core.audit_record(session, actor, "base_geo_search", target_type="base_record", target_id=None,
                      extra={"base_db": "geo", "records": len(found),
                             **({"bbox": list(bbox)} if bbox is not None else {"near": list(near or ())}),
                             **({"grants": sorted(str(g.id) for g, _e in grants.values())} if grants else {})})
    if grants:
        for grant, entry in grants.values():
            if found:
                log_access(session, actor, grant, entry, None, len(found), "golden")
        return [_granted_view(session, actor, rec, grants, charge=False) for _d, rec in found]
    masks = _Masks(session, actor, "geo")
    return [_masked_view(rec, masks) for _d, rec in found]


def base_conflicts(session: Session, actor: Actor, base_db: str, limit: int = 100) -> list[BaseConflictRead]:
    """Open conflicts of a base database, for its owner to resolve (other units' candidates masked)."""
    if not policies.base_read(actor, _feed_orgs(session, base_db)):
        raise Forbidden(_("You are not allowed to do this"))
    masks = _Masks(session, actor, base_db)
    out = []
    for c in session.scalars(select(BaseConflict).where(BaseConflict.base_db == base_db,
                                                        BaseConflict.status == "open").limit(limit)):
        candidates = [{**x, "value": masks.value(c.field, x.get("value"), x.get("feed"), x.get("org"))}
                      for x in c.candidates]
        out.append(BaseConflictRead.model_validate(c).model_copy(update={"candidates": candidates}))
    return out


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
    fields = {**rec.fields, c.field: data.value}
    provenance = {**rec.provenance, c.field: {"resolved_by": str(actor.user_id), "at": c.resolved_at.isoformat()}}
    _derive(rec, fields, provenance)
    rec.fields, rec.provenance = fields, provenance
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
