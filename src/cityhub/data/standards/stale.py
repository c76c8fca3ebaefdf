"""Stored conformance results marked out of date when what they were counted against changes.

A data element or code list changing (its draft edited, published, retired; a list's codes imported), or an entry's
information items changing, marks the stored result of every table resource that follows it stale; the worker
(`cityhub data conformance-refresh --stale-only`, also run by the sync worker) counts them again. A resource never
checked has no row: it is found by the worker as never checked. Only tables are touched here (no scan).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import Text, cast, or_, select, update
from sqlalchemy.orm import Session

from cityhub.data.models import CatalogEntry, Resource
from cityhub.data.standards.models import ConformanceResult, DataElement
from cityhub.kit import clock


def mark(session: Session, resource_ids: Iterable[uuid.UUID], reason: str) -> int:
    """Mark the stored results of these resources stale (a result already stale keeps its first reason)."""
    ids = list(resource_ids)
    if not ids:
        return 0
    res = session.execute(update(ConformanceResult)
                          .where(ConformanceResult.resource_id.in_(ids), ConformanceResult.stale.is_(False))
                          .values(stale=True, stale_reason=reason, stale_since=clock.now()))
    return int(res.rowcount)  # type: ignore[attr-defined]  # CursorResult


def resources_following(session: Session, identifiers: set[str]) -> list[uuid.UUID]:
    """The table resources whose entry has an item following one of these data elements."""
    if not identifiers:
        return []
    text_items = cast(CatalogEntry.items, Text)
    stmt = (select(Resource.id, CatalogEntry.items).join(CatalogEntry, CatalogEntry.id == Resource.entry_id)
            .where(Resource.kind == "table", or_(*(text_items.contains(i) for i in sorted(identifiers)))))
    return [rid for rid, items in session.execute(stmt)
            if any(it.get("element") in identifiers for it in items or [])]


def elements_changed(session: Session, identifiers: set[str], reason: str = "element") -> int:
    """A data element changed: the results of the resources following it are stale."""
    return mark(session, resources_following(session, identifiers), reason)


def code_list_changed(session: Session, list_id: uuid.UUID) -> int:
    """A code list changed: the results of the resources following an element that uses it are stale."""
    idents = set(session.scalars(select(DataElement.identifier).where(DataElement.code_list_id == list_id)))
    return elements_changed(session, idents, "code_list")


def entry_items_changed(session: Session, entry_id: uuid.UUID) -> int:
    """An entry's information items changed: its table resources' results are stale."""
    ids = session.scalars(select(Resource.id).where(Resource.entry_id == entry_id, Resource.kind == "table"))
    return mark(session, ids, "items")
