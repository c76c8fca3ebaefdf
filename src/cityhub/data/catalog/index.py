"""The catalog's search index: jieba + pinyin tokens of every entry, the narrow search row, portal invalidation.

Internal to the catalog capability (not on the domain's public surface): `catalog.search` reads what this module
writes. The session hooks below keep `data_catalog_search` in step with every entry in the same flush, and bump
the open portal's cache generation after a commit that changed an entry or a resource.
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from cityhub.core import service as core
from cityhub.core.service import Actor
from cityhub.data import cache
from cityhub.data.models import CatalogEntry, CatalogSearch, Resource
from cityhub.data.vocabulary import BASE_DBS, CLASSIFICATIONS
from cityhub.kit import clock
from cityhub.kit.db import is_postgres

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
                  "format_category", "update_cycle", "security_grade", "code", "tier_org_id")


def search_row_values(entry: CatalogEntry, postgres: bool) -> dict[str, Any]:
    """The narrow search row of an entry (also used by bulk loaders such as the benchmark)."""
    values = {c: getattr(entry, c) for c in SEARCH_COLUMNS}
    values["tier"] = entry.tier or "city"  # None on an entry built without it, before its insert's default
    values["shared_upward"] = bool(entry.shared_upward)
    values["publisher_org_id"] = entry.tier_org_id or entry.provider_org_id  # tiers.publisher_org_id
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


def reindex_entry(session: Session, entry: CatalogEntry) -> None:
    """Recompute one entry's search text (its provider's name is part of it)."""
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
