"""Datastore reads with masking on every path: the columns a reader gets in clear, and the one row query.

Every read (provider, bureau, grantee, the public) goes through `query_rows`.

Used by the datastore service and the sharing capability's grant reads; not on the domain's public surface.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from cityhub.data.datastore._parse import convert
from cityhub.data.datastore.stores import quote, sqlite_value
from cityhub.data.models import CatalogEntry, Resource
from cityhub.data.vocabulary import MASK_RULES
from cityhub.kit import clock
from cityhub.kit.db import is_postgres
from cityhub.kit.errors import Conflict, ValidationFailed
from cityhub.kit.i18n import gettext as _


def item_mask(item: dict[str, Any]) -> str:
    """The masking rule applied to an item for readers other than the provider ('' = clear)."""
    rule = str(item.get("masking_rule") or "")
    if not rule and item.get("security_level") == "core":
        return "full"  # 核心 items without an explicit rule are fully hidden
    return rule


def clear_columns(entry: CatalogEntry, readable: Iterable[str] | None, masked: bool) -> frozenset[str]:
    """The information items a reader receives in clear: the only columns filters, sort and `q` may name.

    `readable` are the items the reader receives at all (None: every item) and `masked` says whether masking
    rules apply to them. Every route of `query_rows` decides both for its actor: the provider reads everything
    unmasked, so everything is clear; the bureau and platform admins read every item masked, grantees their
    granted items masked, the public the open items (which carry no rule), so for them an item with a masking
    rule (or a 核心 item) is never clear. Comparing, searching or ordering a masked column would answer "is the
    hidden value X?" — an equality oracle that recovers it in a few calls — so nothing may.
    """
    names = {it["name_en"]: it for it in entry.items or []}
    wanted = names.keys() if readable is None else [n for n in readable if n in names]
    return frozenset(n for n in wanted if not (masked and item_mask(names[n])))


def open_items(entry: CatalogEntry) -> list[str]:
    """Information items the public may see of an open entry: no masking rule, not 核心 (never even masked)."""
    return [it["name_en"] for it in entry.items or [] if not item_mask(it) and it.get("security_level") != "core"]


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


def query_rows(session: Session, res: Resource, entry: CatalogEntry, items_allowed: list[str] | None,  # noqa: C901  # one branch per CKAN datastore_search parameter, building one statement
                masked: bool, filters: dict[str, Any] | None, q: str | dict[str, str] | None,
                fields: list[str] | None,
                sort: str | None, limit: int, offset: int, include_total: bool,
                after: int | None, with_id: bool = False,
                ) -> tuple[list[str], list[dict[str, Any]], int | None, int | None]:
    """Rows of a table resource: `items_allowed` (None: all) masked when `masked`; filters, q, sort checked."""
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
            params[f"f{i}_{j}"] = conv if pg else sqlite_value(by_name[k], conv)
            names.append(f":f{i}_{j}")
        where.append(f"{quote(k)} IN ({', '.join(names)})")
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
            where.append(f"{quote(k)} {op} :q{i}")
    elif q:
        # Free text searches the text columns the caller reads in clear (as a CKAN DataStore user expects).
        text_cols = [c for c in allowed if c in clear and by_name[c]["data_type"] in ("C", "M")]
        if not text_cols:
            raise ValidationFailed(_("No searchable text fields"), field="q")
        params["q"] = f"%{q}%"
        where.append("(" + " OR ".join(f"{quote(c)} {op} :q" for c in text_cols) + ")")
    order = '"_id"'
    if sort:
        name, _sp, direction = sort.partition(" ")
        if name not in allowed or direction.lower() not in ("", "asc", "desc"):
            raise ValidationFailed(_("Cannot sort on this field"), field="sort")
        if name not in clear:
            raise ValidationFailed(_("Cannot sort on {column}: it is masked for you", column=name), field="sort")
        order = f"{quote(name)} {direction.upper() or 'ASC'}, \"_id\""
    count_where = " AND ".join(where)
    if after is not None:
        if sort:
            raise ValidationFailed(_("'after' pages only in the natural order"), field="after")
        where.append('"_id" > :after')
        params["after"] = after
        offset = 0
    wsql = (" WHERE " + " AND ".join(where)) if where else ""
    sel = ", ".join(['"_id"', *(quote(c) for c in cols)])
    sql = f"SELECT {sel} FROM {quote(res.table_name)}{wsql} ORDER BY {order} LIMIT :lim OFFSET :off"
    rows = session.execute(text(sql), {**params, "lim": limit, "off": offset}).all()
    total = None
    if include_total:
        csql = f"SELECT count(*) FROM {quote(res.table_name)}" + (f" WHERE {count_where}" if count_where else "")
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
