"""The NGSI-LD routes' shared parameters: tenant, names, options, the caller's view, and Query bodies.

`api.py` (entities, batch operations, types, subscriptions) and `temporal_api.py` (the temporal API) read their
parameters through these, so a GET with query parameters and a POST with a Query body (`/entityOperations/query`,
`/temporal/entityOperations/query`) select exactly the same entities.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from fastapi import Request

from cityhub.context import entities as ent
from cityhub.context import service as context
from cityhub.context.jsonld import LdContext
from cityhub.context.problems import NgsiError, bad


def tenant(session: Any, request: Request) -> uuid.UUID | None:
    """The organisation the `NGSILD-Tenant` header names (None without one)."""
    return context.tenant_org(session, request.headers.get("ngsild-tenant"))


def names(raw: str | None, param: str) -> list[str]:
    """A comma-separated list of attribute or type names (400 naming `param` when one is invalid)."""
    if raw is None:
        return []
    found = [n.strip() for n in raw.split(",") if n.strip()]
    if not found:
        raise bad(f"{param} is empty", param)
    return [ent.check_name(n, param) for n in found]


def options(raw: str | None) -> set[str]:
    """The words of `options`."""
    return {o.strip() for o in (raw or "").split(",") if o.strip()}


def view(ctx: LdContext, opts: str | None, fmt: str | None, attrs: str | None, pick: str | None,
         omit: str | None, lang: str | None) -> ent.View:
    """How the caller wants entities: format, sysAttrs, projection (attrs / pick / omit) and language."""
    words = options(opts)
    form = "normalized"
    if "keyValues" in words or "simplified" in words or fmt in ("keyValues", "simplified"):
        form = "keyValues"
    elif "concise" in words or fmt == "concise":
        form = "concise"
    if fmt not in (None, "", "normalized", "keyValues", "simplified", "concise"):
        raise bad(f"Unknown format {fmt[:30]!r}", "format")
    if pick is not None and omit is not None:
        raise bad("pick and omit cannot be used together", "pick")
    keep: frozenset[str] | None = None
    pick_id = pick_type = True
    if pick is not None:
        picked = names(pick, "pick")
        pick_id, pick_type = "id" in picked, "type" in picked
        keep = frozenset(ctx.expand(n) for n in picked if n not in ("id", "type"))
    if attrs is not None:
        wanted = frozenset(ctx.expand(n) for n in names(attrs, "attrs"))
        keep = wanted if keep is None else keep & wanted
    dropped = frozenset(n if n in ("id", "type") else ctx.expand(n) for n in names(omit, "omit"))
    return ent.View(ctx, form, "sysAttrs" in words, keep, dropped, pick_id, pick_type, lang or None)


def rendered(row: Any, how: ent.View) -> dict[str, Any]:
    """A stored or bridged entity in the caller's form."""
    return ent.render(row.entity_id, row.types, row.attrs, row.created_at, row.modified_at, how,
                      scope=getattr(row, "scope", None))


def feature(data: dict[str, Any], row: Any, how: ent.View, geoproperty: str | None) -> dict[str, Any]:
    """An entity as a GeoJSON Feature (its geoproperty, else `location`, as the geometry)."""
    iri = how.ctx.expand(geoproperty or "location")
    inst = next(iter(row.attrs.get(iri, {}).values()), None)
    props = {k: v for k, v in data.items() if k != "id"}
    return {"id": row.entity_id, "type": "Feature",
            "geometry": inst.get("value") if isinstance(inst, dict) else None, "properties": props}


def dataset_ids(raw: str) -> list[str]:
    """The `datasetId` parameter: comma-separated URIs, `@none` naming the default instance."""
    found = [d.strip() for d in raw.split(",") if d.strip()]
    if not found:
        raise bad("datasetId is empty", "datasetId")
    return [d if d == "@none" else ent.check_uri(d, "datasetId") for d in found]


def ids(raw: str | None) -> list[str]:
    """The `id` parameter's comma-separated ids."""
    return [i.strip() for i in raw.split(",") if i.strip()] if raw else []


def selectors(raw: Any) -> tuple[str | None, list[str], str | None]:
    """A Query's `entities` as one type expression, ids and idPattern (the combinations that map exactly)."""
    if raw is None:
        return None, [], None
    if not isinstance(raw, list) or not raw or not all(isinstance(s, dict) for s in raw):
        raise bad("entities is a non-empty array of {type, id, idPattern}", "entities")
    types = [s.get("type") for s in raw]
    if not all(isinstance(t, str) and t for t in types):
        raise bad("Each element of entities needs a type", "entities")
    found = [s["id"] for s in raw if "id" in s]
    patterns = [s["idPattern"] for s in raw if "idPattern" in s]
    if patterns and (len(raw) > 1 or found):
        raise NgsiError("OperationNotSupported", "idPattern is supported in a single entities element only")
    if found and len(found) != len(raw):
        raise NgsiError("OperationNotSupported", "Either every entities element names an id, or none does")
    if not all(isinstance(i, str) for i in found) or not all(isinstance(p, str) for p in patterns):
        raise bad("id and idPattern are strings", "entities")
    return "|".join(dict.fromkeys(str(t) for t in types)), found, patterns[0] if patterns else None


def query_body(data: Any, ctx: LdContext, limit: int, offset: int, count: bool) -> tuple[context.Query, list[str]]:
    """A Query object (type Query: entities, attrs, q, geoQ, scopeQ) as the query GET /entities takes; its attrs.

    `temporalQ` and `lang` are the caller's to read (the temporal query uses the first, both use the second).
    """
    if not isinstance(data, dict) or data.get("type") != "Query":
        raise bad("The body is a Query object (type Query)", "type")
    type_expr, found, pattern = selectors(data.get("entities"))
    attrs = data.get("attrs")
    if attrs is not None and (not isinstance(attrs, list) or not all(isinstance(a, str) for a in attrs)):
        raise bad("attrs is an array of attribute names", "attrs")
    q = data.get("q")
    if q is not None and not isinstance(q, str):
        raise bad("q is a string", "q")
    scope_q = data.get("scopeQ")
    if scope_q is not None and not isinstance(scope_q, str):
        raise bad("scopeQ is a string", "scopeQ")
    checked = [ent.check_name(a, "attrs") for a in attrs or []]
    query = context.Query(type=type_expr, ids=found, id_pattern=pattern, attrs=checked, q=q, scope_q=scope_q,
                          limit=limit, offset=offset, count=count)
    geo = data.get("geoQ")
    if geo is not None:
        if not isinstance(geo, dict):
            raise bad("geoQ must be an object", "geoQ")
        coords = geo.get("coordinates")
        query.geo = context.geo_query(str(geo.get("georel", "")), geo.get("geometry"),
                                      coords if isinstance(coords, str) else orjson.dumps(coords).decode(),
                                      geo.get("geoproperty"), ctx)
    return query, checked


def lang_of(data: dict[str, Any], lang: str | None) -> str | None:
    """The `lang` parameter, else the Query body's `lang`."""
    raw = data.get("lang")
    if lang is None and raw is not None:
        if not isinstance(raw, str) or len(raw) > 35:
            raise bad("lang is a language tag", "lang")
        return raw
    return lang
