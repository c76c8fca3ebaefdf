"""Catalog search: full text (jieba tokens, pinyin, tags) with facet filters, extra terms and facet counts.

The catalog's search query lives here next to `service.py` (which holds the capability's other queries and the
visibility rule this module applies through `visible_clause`); `index.py` writes the rows it reads.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, String, and_, cast, func, literal, not_, or_, select, text, tuple_
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from cityhub.core.service import Actor
from cityhub.data.catalog import service as catalog
from cityhub.data.catalog.index import segment
from cityhub.data.catalog.tiers import actor_tiers
from cityhub.data.models import CatalogEntry, CatalogSearch, Resource
from cityhub.data.vocabulary import FACETS
from cityhub.kit.db import is_postgres
from cityhub.kit.errors import ValidationFailed
from cityhub.kit.i18n import gettext as _


@dataclass(frozen=True)
class Term:
    """One search condition beyond the facet filters, negated when `negate`.

    Fields: a facet of `vocabulary.FACETS` (any of `values`), `theme`, `name`, `id`, `code` (any of), `tags_any` (has
    one of the tags), `title_contains` (contains one of), `resource_kind` (has a resource of one of the kinds),
    `modified` / `created` (`values` = (from, to), either None), `private` (`values` = (True,) for 不予开放 entries,
    (False,) for the others), `nothing` (matches no entry), `any` (`values` are Terms, one of which holds).
    """

    field: str
    values: tuple[Any, ...] = ()
    negate: bool = False


def _entry_cond(clause: ColumnElement[bool]) -> ColumnElement[bool]:
    return CatalogSearch.entry_id.in_(select(CatalogEntry.id).where(clause))


def _tag_clause(session: Session, tag: str) -> ColumnElement[bool]:
    if is_postgres(session):
        return CatalogEntry.tags.op("@>")(cast(literal(json.dumps([tag], ensure_ascii=False), String), JSONB))
    return CatalogEntry.search_text.contains(f"tag:{tag.lower().replace(' ', '')}")


def _range(field: str, lo: Any, hi: Any) -> list[ColumnElement[bool]]:
    if field == "modified":
        return [*([CatalogSearch.updated_at >= lo] if lo else []), *([CatalogSearch.updated_at <= hi] if hi else [])]
    return [*([_entry_cond(CatalogEntry.created_at >= lo)] if lo else []),
            *([_entry_cond(CatalogEntry.created_at <= hi)] if hi else [])]


_NOTHING = CatalogSearch.entry_id.is_(None)
_BY_VALUES: dict[str, Any] = {
    "theme": lambda s, v: _entry_cond(CatalogEntry.theme.in_(v or ["\x01"])),
    "tags_any": lambda s, v: or_(*[_entry_cond(_tag_clause(s, t)) for t in v]),
    "name": lambda s, v: _entry_cond(CatalogEntry.name.in_(v)),
    "title_contains": lambda s, v: _entry_cond(or_(*[CatalogEntry.title.contains(t) for t in v])),
    "id": lambda s, v: CatalogSearch.entry_id.in_(v),
    "code": lambda s, v: CatalogSearch.code.in_(v),
    "resource_kind": lambda s, v: CatalogSearch.entry_id.in_(select(Resource.entry_id).where(Resource.kind.in_(v))),
    "nothing": lambda s, v: _NOTHING,
    "private": lambda s, v: catalog.opened_clause(CatalogSearch, opened=not v[0]),
}


def _term_clause(session: Session, term: Term) -> ColumnElement[bool] | None:
    """The SQL of one term (None: a range open at both ends, which filters nothing)."""
    f, v = term.field, list(term.values)
    cond: ColumnElement[bool]
    if f == "any":
        parts = [c for c in (_term_clause(session, t) for t in v) if c is not None]
        cond = or_(*parts) if parts else _NOTHING
    elif f in ("modified", "created"):
        bounds = _range(f, *v)
        if not bounds:
            return None
        cond = and_(*bounds)
    elif f in _BY_VALUES:
        cond = _BY_VALUES[f](session, v)
    elif f in FACETS or f == "publisher_org_id":
        cond = getattr(CatalogSearch, f).in_(v)
    else:
        raise ValidationFailed(_("Unknown filter"), field=f)
    return not_(cond) if term.negate else cond


def _tsquery(tokens: list[str]) -> str:
    return " & ".join("'" + t.replace("\\", "\\\\").replace("'", "''") + "':*" for t in tokens)


def catalog_search(  # noqa: C901  # one branch per filter, facet and sort option of the query builder
    session: Session, actor: Actor, q: str = "", filters: dict[str, list[str]] | None = None,
    facets: list[str] | None = None, sort: str = "", limit: int = 20, offset: int = 0,
    *, status: str | None = None, terms: Sequence[Term] = (), open_only: bool = False, facet_limit: int = 0,
) -> tuple[list[CatalogEntry], int, dict[str, dict[str, int]]]:
    """Search the catalog (Chinese segmented by jieba, pinyin initials too) with facet counts.

    `filters` maps a facet field (see vocabulary.FACETS, plus `tags` and `status`) to accepted values; `sort` is
    `relevance`, `title`, `updated`, `views` or `code`. Published entries by default; owners and the bureau
    see drafts when they filter on status. `terms` add conditions beyond the facet filters (the open-data
    portal's `fq` terms, see `Term`); `open_only` keeps entries whose open type lets the public see them, whoever
    asks (the portal shows the open catalog to insiders too); the `tags` facet counts tags of the matching entries;
    `facet_limit` keeps the largest counts of each facet (0 = all).
    """
    filters = {k: v for k, v in (filters or {}).items() if v}
    for k in filters:
        if k not in (*FACETS, "publisher_org_id", "tags", "status"):
            raise ValidationFailed(_("Unknown filter"), field=k)
    for f in facets or []:
        if f not in (*FACETS, "publisher_org_id", "tags", "theme"):
            raise ValidationFailed(_("Unknown facet"), field=f)
    want_tags = "tags" in (facets or [])
    want_theme = "theme" in (facets or [])
    facets = [f for f in facets or [] if f not in ("tags", "theme")]
    src = CatalogSearch  # the narrow row: search and facet scans read a few dozen bytes per entry
    postgres = is_postgres(session)
    conds: list[ColumnElement[bool]] = [catalog.visible_clause(actor, src, actor_tiers(session, actor))]
    if open_only:
        conds.append(catalog.opened_clause(src))
    conds += [c for c in (_term_clause(session, t) for t in terms) if c is not None]
    st = filters.pop("status", None) or ([status] if status else None)
    conds.append(src.status.in_(st) if st else catalog.published_clause(src))
    tag_tokens = [f"tag:{t.lower().replace(' ', '')}" for t in filters.pop("tags", [])]
    for k, vals in filters.items():
        if k in ("provider_org_id", "publisher_org_id"):  # the publisher: a district entry's district
            try:
                conds.append(getattr(src, k).in_([uuid.UUID(v) for v in vals]))
            except ValueError as exc:
                raise ValidationFailed(_("Not an organisation id"), field=k) from exc
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

