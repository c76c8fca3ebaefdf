"""Conformance results stored per table resource: counted after writes, on demand and by the worker; read from there.

Counting scans a resource's table (`conformance.fields_report`), so it is not done when a report is read: the pages
and the API show the stored result with the time it was counted, and whether it is out of date (`stale`) or was
never counted. A result is counted again
- after every successful sync run, upload or datastore write of the resource (`after_write`): at once when the
  table holds at most `INLINE_MAX_ROWS` rows, otherwise marked stale for the worker, so a write to a large table
  (an incremental sync of a few rows, say) does not wait for a full scan; a resource whose items follow no data
  element costs nothing;
- when a data element, code list or the entry's items change (`standards.stale` marks it);
- on demand (`conformance_recheck`: the providing unit and the bureau);
- by `cityhub data conformance-refresh [--stale-only]`, which the sync worker also runs for stale ones.
Offending values are stored masked by the item's masking rule, whoever reads the report later. Who reads whose
report is `policies.conformance_read`, applied to every row here and to every unit of the per-unit totals.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, Text, case, cast, func, select
from sqlalchemy.orm import Session

from cityhub.core import service as core
from cityhub.core.service import Actor
from cityhub.data import policies
from cityhub.data.catalog import service as catalog
from cityhub.data.datastore.reads import item_mask
from cityhub.data.models import CatalogEntry, Resource
from cityhub.data.standards import conformance as conf
from cityhub.data.standards import stale
from cityhub.data.standards.models import CodeList, CodeListValue, ConformanceResult, DataElement
from cityhub.data.standards.schemas import FieldConformance, OrgConformance, ResourceConformance
from cityhub.data.vocabulary import MASK_RULES
from cityhub.kit import clock
from cityhub.kit.db import is_postgres
from cityhub.kit.errors import Forbidden, NotFound
from cityhub.kit.i18n import gettext as _

INLINE_MAX_ROWS = 50_000  # a write to a larger table leaves the count to the worker (marked stale)
log = logging.getLogger("cityhub.data.conformance")
_NAMES = ("element_name", "element_name_en")  # resolved when read, so the reader's language picks one


def _items(res: Resource, entry: CatalogEntry) -> list[dict[str, Any]]:
    return [it for it in entry.items or [] if it["name_en"] in (res.columns or [it["name_en"]])]


def follows_elements(res: Resource, entry: CatalogEntry) -> bool:
    """Does one of the resource's columns follow a data element (else there is nothing to count)?"""
    return any(it.get("element") for it in _items(res, entry))


def _stored_mask(item: dict[str, Any], value: str) -> str:
    rule = item_mask(item)
    return MASK_RULES[rule].apply(value) if rule else value


def _standards(session: Session, identifiers: set[str]) -> tuple[dict[str, conf.Element], dict[str, Any]]:
    """The elements to check against, and the versions they were at (element version, code list and its size)."""
    if not identifiers:
        return {}, {}
    sizes = dict(session.execute(select(CodeListValue.code_list_id, func.count()).group_by(
        CodeListValue.code_list_id)).tuples().all())
    rows = session.execute(select(DataElement, CodeList.identifier).outerjoin(
        CodeList, CodeList.id == DataElement.code_list_id).where(DataElement.identifier.in_(identifiers)))
    elements: dict[str, conf.Element] = {}
    versions: dict[str, Any] = {}
    for el, cl in rows:
        elements[el.identifier] = conf.Element(el.identifier, el.name_zh, el.data_type, el.format, cl or "")
        at: dict[str, str | int] = {"version": el.version, "status": str(el.status)}
        if cl and el.code_list_id is not None:
            at.update(code_list=cl, codes=int(sizes.get(el.code_list_id, 0)))
        versions[el.identifier] = at
    return elements, versions


def refresh(session: Session, res: Resource, entry: CatalogEntry) -> ConformanceResult:
    """Count the resource's conformance now (one scan of its table) and store it in place of the last result."""
    items = _items(res, entry)
    elements, versions = _standards(session, {str(it["element"]) for it in items if it.get("element")})
    started = time.monotonic()
    fields = conf.fields_report(session, res.table_name, items, elements, is_postgres(session), _stored_mask)
    row = session.get(ConformanceResult, res.id)
    if row is None:
        row = ConformanceResult(resource_id=res.id)
        session.add(row)
    checked, good = sum(f.checked for f in fields), sum(f.conforming for f in fields)
    row.checked_at, row.rows, row.fields_total = clock.now(), res.row_count, len(fields)
    row.fields_standardised = sum(1 for f in fields if f.standardised)
    row.checked, row.conforming, row.nonconforming = checked, good, checked - good
    row.fields = [f.model_dump(exclude=set(_NAMES)) for f in fields]
    row.standards, row.duration_ms = versions, int((time.monotonic() - started) * 1000)
    row.stale, row.stale_reason, row.stale_since = False, "", None
    session.flush()
    return row


def after_write(session: Session, res: Resource | None, entry: CatalogEntry) -> None:
    """A sync run, upload or datastore write changed the resource's rows: count again (or leave it to the worker).

    The count runs in a savepoint: if it fails, the write stands and the result is left stale for the worker.
    """
    if res is None or res.kind != "table" or not res.table_name or not follows_elements(res, entry):
        return  # nothing follows a data element: nothing to count, no query at all
    if res.row_count <= INLINE_MAX_ROWS:
        try:
            with session.begin_nested():
                refresh(session, res, entry)
            return
        except Exception:  # a counting bug must not fail the sync or the upload that wrote the rows
            log.exception("conformance of resource %s after a write", res.id)
    stale.mark(session, [res.id], "data")


# ---------------------------------------------------------------- reading stored results


def _element_names(session: Session, identifiers: set[str]) -> dict[str, tuple[str, str]]:
    if not identifiers:
        return {}
    return {i: (zh, en) for i, zh, en in session.execute(select(
        DataElement.identifier, DataElement.name_zh, DataElement.name_en).where(
        DataElement.identifier.in_(identifiers))).tuples()}


def _rate(good: int, checked: int) -> float | None:
    return round(100 * good / checked, 1) if checked else None


def _read(res: Resource, entry: CatalogEntry, row: ConformanceResult | None,
          names: dict[str, tuple[str, str]]) -> ResourceConformance:
    if row is not None:
        fields = [FieldConformance(**f) for f in row.fields]
    else:  # never counted: the fields as the entry declares them, no counts
        fields = [FieldConformance(item=it["name_en"], item_name=it.get("name_cn", ""),
                                   element=str(it.get("element") or ""), standardised=bool(it.get("element")))
                  for it in _items(res, entry)]
    for f in fields:
        f.element_name, f.element_name_en = names.get(f.element, ("", "")) if f.standardised else ("", "")
    standardised = sum(1 for f in fields if f.standardised)
    if row is None:
        state = "never" if standardised else "none"
    else:
        state = "stale" if row.stale else ("current" if row.fields_standardised else "none")
    checked = row.checked if row is not None else 0
    good = row.conforming if row is not None else 0
    return ResourceConformance(
        resource_id=res.id, entry_id=entry.id, title=res.title or entry.title, org_id=entry.provider_org_id,
        rows=res.row_count, fields=fields, fields_total=len(fields), fields_standardised=standardised,
        checked=checked, conforming=good, nonconforming=checked - good, rate=_rate(good, checked), state=state,
        checked_at=row.checked_at if row is not None else None, stale_reason=row.stale_reason if row else "",
        standards=row.standards if row is not None else {})


def _readable(session: Session, actor: Actor, resource_id: uuid.UUID) -> tuple[Resource, CatalogEntry]:
    """A table resource whose report the actor reads (the catalog's visibility, then `conformance_read`)."""
    res, entry = catalog.resource_get(session, actor, resource_id)
    if res.kind != "table":
        raise NotFound(_("Resource not found"))
    if not policies.conformance_read(actor, entry.provider_org_id):
        raise Forbidden(_("Only the providing unit and the bureau read this report"))
    return res, entry


def _names_of(session: Session, rows: list[tuple[Resource, CatalogEntry, ConformanceResult | None]],
              ) -> dict[str, tuple[str, str]]:
    """The Chinese and English names of the elements the rows' items and stored fields name."""
    wanted = {str(it["element"]) for _r, e, _c in rows for it in e.items or [] if it.get("element")}
    wanted |= {str(f["element"]) for _r, _e, c in rows if c is not None for f in c.fields if f.get("element")}
    return _element_names(session, wanted)


def conformance_resource(session: Session, actor: Actor, resource_id: uuid.UUID) -> ResourceConformance:
    """One table resource's stored conformance (its unit's staff and auditors, the bureau)."""
    res, entry = _readable(session, actor, resource_id)
    row = session.get(ConformanceResult, res.id)
    return _read(res, entry, row, _names_of(session, [(res, entry, row)]))


def _tables(org_id: uuid.UUID | None) -> Any:
    stmt = (select(Resource, CatalogEntry, ConformanceResult).join(CatalogEntry, CatalogEntry.id == Resource.entry_id)
            .outerjoin(ConformanceResult, ConformanceResult.resource_id == Resource.id)
            .where(Resource.kind == "table", Resource.table_name.is_not(None)))
    return stmt.where(CatalogEntry.provider_org_id == org_id) if org_id is not None else stmt


def _departments(session: Session, actor: Actor, org_id: uuid.UUID | None) -> list[OrgConformance]:
    """Totals per unit summed in SQL over the stored results; units the actor may not read are left out."""
    c = ConformanceResult
    follows = cast(CatalogEntry.items, Text).contains('"element"')  # an item without an element has no such key
    stmt = (select(CatalogEntry.provider_org_id, func.count(Resource.id),
                   func.coalesce(func.sum(c.fields_total), 0), func.coalesce(func.sum(c.fields_standardised), 0),
                   func.coalesce(func.sum(c.checked), 0), func.coalesce(func.sum(c.conforming), 0),
                   func.coalesce(func.sum(cast(c.stale, Integer)), 0),
                   func.sum(case((c.resource_id.is_(None) & follows, 1), else_=0)), func.max(c.checked_at))
            .select_from(Resource).join(CatalogEntry, CatalogEntry.id == Resource.entry_id)
            .outerjoin(c, c.resource_id == Resource.id)
            .where(Resource.kind == "table", Resource.table_name.is_not(None))
            .group_by(CatalogEntry.provider_org_id))
    if org_id is not None:
        stmt = stmt.where(CatalogEntry.provider_org_id == org_id)
    out = []
    for org, n, total, std, checked, good, stale_n, never, last in session.execute(stmt).tuples():
        if not policies.conformance_read(actor, org):
            continue
        out.append(OrgConformance(org_id=org, resources=n, fields_total=int(total), fields_standardised=int(std),
                                  checked=int(checked), conforming=int(good), nonconforming=int(checked - good),
                                  rate=_rate(int(good), int(checked)), stale=int(stale_n), unchecked=int(never or 0),
                                  last_checked_at=last))
    return sorted(out, key=lambda o: (o.rate is None, o.rate or 0))


def conformance_report(session: Session, actor: Actor,
                       org_id: uuid.UUID | None = None) -> tuple[list[OrgConformance], list[ResourceConformance]]:
    """The stored results of every table resource the caller may report on (optionally one unit's), per unit."""
    policies.data_read(actor)
    rows = [(r, e, c) for r, e, c in session.execute(_tables(org_id).order_by(CatalogEntry.title, Resource.created_at))
            .tuples() if policies.conformance_read(actor, e.provider_org_id)]
    names = _names_of(session, rows)
    return _departments(session, actor, org_id), [_read(r, e, c, names) for r, e, c in rows]


# ---------------------------------------------------------------- counting again


def conformance_recheck(session: Session, actor: Actor, resource_id: uuid.UUID) -> ResourceConformance:
    """Count a resource's conformance now (the providing unit and the bureau); a large table goes to the worker."""
    res, entry = _readable(session, actor, resource_id)
    policies.conformance_recheck(actor, entry.provider_org_id)
    queued = res.row_count > INLINE_MAX_ROWS and follows_elements(res, entry)
    if queued:
        stale.mark(session, [res.id], "requested")
    else:
        refresh(session, res, entry)
    row = session.get(ConformanceResult, res.id)
    core.audit_record(session, actor, "conformance_recheck", target_type="resource", target_id=res.id,
                      org_id=entry.provider_org_id, outcome="queued" if queued else "ok",
                      extra={"checked": row.checked if row else 0, "nonconforming": row.nonconforming if row else 0})
    return _read(res, entry, row, _names_of(session, [(res, entry, row)]))


def conformance_due(session: Session, stale_only: bool = True, limit: int | None = None) -> list[uuid.UUID]:
    """Table resources to count: stale and never-counted ones that follow elements (stale_only), or all of them."""
    stmt = _tables(None).order_by(ConformanceResult.stale_since.is_(None), ConformanceResult.stale_since,
                                  Resource.created_at)
    if stale_only:
        follows = cast(CatalogEntry.items, Text).contains('"element"')
        stmt = stmt.where(ConformanceResult.stale.is_(True) | (ConformanceResult.resource_id.is_(None) & follows))
    out = []
    for r, e, c in session.execute(stmt).tuples():
        if c is not None or not stale_only or follows_elements(r, e):
            out.append(r.id)
            if limit is not None and len(out) >= limit:
                break
    return out


def conformance_refresh_one(session: Session, resource_id: uuid.UUID) -> datetime | None:
    """Count one resource again (the worker and the CLI; the system's own job, so no caller's rights apply)."""
    res = session.get(Resource, resource_id)
    entry = session.get(CatalogEntry, res.entry_id) if res is not None else None
    if res is None or entry is None or res.kind != "table" or not res.table_name:
        return None
    return refresh(session, res, entry).checked_at
