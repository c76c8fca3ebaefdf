"""The open catalog's queries (the portal, CKAN, DCAT, the sitemap): entries open to the public, whoever asks.

Each reads through `public_clause`, the one definition of "open to the public" in `catalog.service`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityhub.data.catalog.service import public_clause
from cityhub.data.models import CatalogEntry, CatalogSearch, Resource
from cityhub.kit.errors import NotFound
from cityhub.kit.i18n import gettext as _


def public_entry_names(session: Session, limit: int, offset: int) -> list[str]:
    """Names of the entries open to the public, alphabetically."""
    return list(session.scalars(select(CatalogEntry.name).where(public_clause()).order_by(CatalogEntry.name)
                                .limit(limit).offset(offset)))


def public_entries_page(session: Session, limit: int, offset: int) -> tuple[list[CatalogEntry], int]:
    """One page of the entries open to the public, by resource code, and how many there are."""
    total = session.scalar(select(func.count()).select_from(CatalogSearch).where(public_clause(CatalogSearch)))
    entries = session.scalars(select(CatalogEntry).join(CatalogSearch, CatalogSearch.entry_id == CatalogEntry.id)
                              .where(public_clause(CatalogSearch)).order_by(CatalogSearch.code)
                              .limit(limit).offset(offset))
    return list(entries), int(total or 0)


def public_entry_by_name(session: Session, name: str) -> CatalogEntry:
    """An entry open to the public by name, whoever asks (404 otherwise)."""
    entry = session.scalar(select(CatalogEntry).where(CatalogEntry.name == name, public_clause()))
    if entry is None:
        raise NotFound(_("Dataset not found"))
    return entry


def public_entry_stamps(session: Session, limit: int) -> list[tuple[str, datetime]]:
    """(name, last change) of the entries open to the public, alphabetically (the sitemap)."""
    rows = session.execute(select(CatalogEntry.name, CatalogSearch.updated_at)
                           .join(CatalogSearch, CatalogSearch.entry_id == CatalogEntry.id)
                           .where(public_clause(CatalogSearch)).order_by(CatalogEntry.name).limit(limit))
    return [(str(n), u) for n, u in rows]


def public_counts(session: Session) -> dict[str, Any]:
    """Counts of the open catalog: entries by provider, by theme and by open type; resources; table rows."""
    pub = public_clause()
    n = func.count()
    publisher = func.coalesce(CatalogEntry.tier_org_id, CatalogEntry.provider_org_id)  # tiers.publisher_org_id
    return {
        "by_org": [(o, int(c)) for o, c in session.execute(
            select(publisher, n).where(pub).group_by(publisher).order_by(n.desc()))],
        "by_theme": [(str(t), int(c)) for t, c in session.execute(
            select(CatalogEntry.theme, n).where(pub).group_by(CatalogEntry.theme).order_by(n.desc()))],
        "by_theme_or_base": [(str(t), str(b), int(c)) for t, b, c in session.execute(
            select(CatalogEntry.theme, CatalogEntry.base_db, n).where(pub)
            .group_by(CatalogEntry.theme, CatalogEntry.base_db))],
        "by_org_open": [(o, str(k), int(c)) for o, k, c in session.execute(
            select(publisher, CatalogEntry.open_type, n).where(pub).group_by(publisher, CatalogEntry.open_type))],
        "by_open": {str(k): int(c) for k, c in session.execute(
            select(CatalogEntry.open_type, n).where(pub).group_by(CatalogEntry.open_type))},
        "resources": int(session.scalar(select(n).select_from(Resource).join(
            CatalogEntry, CatalogEntry.id == Resource.entry_id).where(pub)) or 0),
        "rows": int(session.scalar(select(func.coalesce(func.sum(Resource.row_count), 0)).join(
            CatalogEntry, CatalogEntry.id == Resource.entry_id).where(pub, Resource.kind == "table")) or 0),
    }
