"""Query entities: type expressions, ids, id patterns, attributes, `q`, geo-queries; `/types` and `/attributes`.

Everything but the exact geometry test is SQL: visibility and tenant (`store.scope`), types over the type rows,
`q` compiled by `qlang`, and for geo-queries a bounding-box prefilter on the GeoProperty boxes. The exact test is
shapely's, in metres on a local projection around the query geometry (equirectangular: exact enough at city scale,
and the same on every backend). Results are ordered by entity id.
"""

from __future__ import annotations

import math
import re
import uuid
from collections import Counter, defaultdict
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from typing import Any

from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import transform
from sqlalchemy import JSON, ColumnElement, Integer, Select, and_, exists, func, literal, or_, select, union_all
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from cityhub.context import bridge, qlang, scopeq
from cityhub.context import entities as ent
from cityhub.context.jsonld import LdContext
from cityhub.context.models import ContextEntity, ContextEntityType, ContextGeometry
from cityhub.context.problems import bad
from cityhub.context.store import scope
from cityhub.core.actor import Actor
from cityhub.kit import safejson
from cityhub.kit.errors import ValidationFailed
from cityhub.kit.pagination import MAX_OFFSET

E = ContextEntity
MAX_LIMIT = 1000
GEORELS = frozenset({"near", "within", "contains", "intersects", "overlaps", "disjoint", "equals"})
_M_PER_DEG_LAT = 110_574.0
_M_PER_DEG_LON = 111_320.0


# ---- type expressions: A,B | A|B (or), A;B (and), parentheses


def _type_tokens(text: str) -> list[str]:
    tokens = re.findall(r"[(),;|]|[^(),;|\s]+", text)
    if "".join(tokens) != re.sub(r"\s+", "", text):
        raise bad(f"Invalid type expression {text[:80]!r}", "type")
    return tokens


def type_tree(text: str, ctx: LdContext) -> Any:
    """A type expression as a tree: a type IRI, or ("or" | "and", [subtrees]).

    Recursive descent; `;` binds tighter than `,` and `|`.
    """
    tokens, pos = _type_tokens(text), 0

    def peek() -> str | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> str:
        nonlocal pos
        if pos >= len(tokens):
            raise bad(f"Type expression ends early: {text[:80]!r}", "type")
        pos += 1
        return tokens[pos - 1]

    def atom() -> Any:
        tok = take()
        if tok == "(":
            inner = disjunction()
            if take() != ")":
                raise bad(f"Unbalanced parentheses in type expression {text[:80]!r}", "type")
            return inner
        if tok in "),;|":
            raise bad(f"Unexpected {tok!r} in type expression {text[:80]!r}", "type")
        return ctx.expand(ent.check_name(tok, "type"))

    def conjunction() -> Any:
        parts = [atom()]
        while peek() == ";":
            take()
            parts.append(atom())
        return ("and", parts) if len(parts) > 1 else parts[0]

    def disjunction() -> Any:
        parts = [conjunction()]
        while peek() in (",", "|"):
            take()
            parts.append(conjunction())
        return ("or", parts) if len(parts) > 1 else parts[0]

    if not tokens:
        raise bad("Empty type expression", "type")
    out = disjunction()
    if pos != len(tokens):
        raise bad(f"Unexpected {tokens[pos]!r} in type expression {text[:80]!r}", "type")
    return out


def type_filter(text: str, ctx: LdContext) -> ColumnElement[bool]:
    """The SQL filter of a type expression over the type rows."""

    def walk(node: Any) -> ColumnElement[bool]:
        if isinstance(node, str):
            return exists().where(ContextEntityType.entity_pk == E.id, ContextEntityType.type == node)
        parts = [walk(p) for p in node[1]]
        return and_(*parts) if node[0] == "and" else or_(*parts)

    return walk(type_tree(text, ctx))


def types_match(tree: Any, types: Collection[str]) -> bool:
    """Does an entity of these type IRIs meet the type expression `tree` (the Python twin of `type_filter`)?"""
    if isinstance(tree, str):
        return tree in types
    hits = (types_match(p, types) for p in tree[1])
    return all(hits) if tree[0] == "and" else any(hits)


# ---- geo-queries


@dataclass(frozen=True)
class GeoQuery:
    """A parsed geo-query: relation (with distances for `near`), the query geometry, the GeoProperty's IRI."""

    georel: str
    geometry: BaseGeometry
    box: tuple[float, float, float, float]
    prop: str
    max_distance: float | None = None
    min_distance: float | None = None


def geo_query(georel: str, geometry: str | None, coordinates: str | None, geoproperty: str | None,
              ctx: LdContext) -> GeoQuery:
    """Check and parse the geo-query parameters (BadRequestData naming the one that is wrong)."""
    rel, *mods = georel.split(";")
    if rel not in GEORELS:
        raise bad(f"Unknown georel {rel[:30]!r}", "georel")
    max_d = min_d = None
    for mod in mods:
        key, sep, raw = mod.partition("==")
        try:
            number = float(raw)
        except ValueError:
            number = -1.0
        if rel != "near" or not sep or key not in ("maxDistance", "minDistance") or number < 0 or not math.isfinite(
                number):
            raise bad(f"Invalid georel modifier {mod[:40]!r}", "georel")
        if key == "maxDistance":
            max_d = number
        else:
            min_d = number
    if rel == "near" and max_d is None and min_d is None:
        raise bad("georel near needs maxDistance or minDistance", "georel")
    if not geometry or not coordinates:
        raise bad("A geo-query needs geometry and coordinates", "geometry" if not geometry else "coordinates")
    try:
        coords = safejson.loads(coordinates, field="coordinates")
    except ValidationFailed:
        raise bad("coordinates must be a JSON array", "coordinates") from None
    value = {"type": geometry, "coordinates": coords}
    box = ent.check_geometry(value, "coordinates")
    prop = ctx.expand(ent.check_name(geoproperty or "location", "geoproperty"))
    return GeoQuery(rel, shape(value), box, prop, max_d, min_d)


def _geo_prefilter(g: GeoQuery) -> ColumnElement[bool]:
    G = ContextGeometry
    on = [G.entity_pk == E.id, G.attr == g.prop]
    min_x, min_y, max_x, max_y = g.box
    if g.georel == "near" and g.max_distance is not None:
        pad_lat = g.max_distance / _M_PER_DEG_LAT
        pad_lon = g.max_distance / (_M_PER_DEG_LON * max(math.cos(math.radians(max(abs(min_y), abs(max_y)))), 0.01))
        min_x, max_x, min_y, max_y = min_x - pad_lon, max_x + pad_lon, min_y - pad_lat, max_y + pad_lat
    if g.georel in ("within", "intersects", "overlaps", "equals") or (g.georel == "near" and g.max_distance
                                                                         is not None):
        on += [G.max_x >= min_x, G.min_x <= max_x, G.max_y >= min_y, G.min_y <= max_y]
    elif g.georel == "contains":
        on += [G.min_x <= min_x, G.max_x >= max_x, G.min_y <= min_y, G.max_y >= max_y]
    return exists().where(*on)


def _metres(g: BaseGeometry, lat0: float) -> BaseGeometry:
    k = math.cos(math.radians(lat0))

    def project(x: Any, y: Any, z: Any = None) -> tuple[Any, Any]:
        return x * _M_PER_DEG_LON * k, y * _M_PER_DEG_LAT

    return transform(project, g)


def geo_match(g: GeoQuery, value: Any) -> bool:
    """The exact test of one GeoJSON geometry against the query."""
    try:
        geom = shape(value)
    except Exception:  # a stored geometry is checked on write; never fail a query on one
        return False
    if g.georel == "near":
        lat0 = g.geometry.centroid.y
        distance = _metres(geom, lat0).distance(_metres(g.geometry, lat0))
        return (g.max_distance is None or distance <= g.max_distance) and (
            g.min_distance is None or distance >= g.min_distance)
    test = {"within": geom.within, "contains": geom.contains, "intersects": geom.intersects,
            "overlaps": geom.overlaps, "disjoint": geom.disjoint, "equals": geom.equals}[g.georel]
    return bool(test(g.geometry))


# ---- the query


@dataclass
class Query:
    """The filters of a query, as the API parsed them (names still unexpanded)."""

    type: str | None = None
    ids: list[str] = field(default_factory=list)
    id_pattern: str | None = None
    attrs: list[str] = field(default_factory=list)
    q: str | None = None
    scope_q: str | None = None
    geo: GeoQuery | None = None
    limit: int = 20
    offset: int = 0
    count: bool = False

    @property
    def empty(self) -> bool:
        """No filter at all (the spec asks for at least one)."""
        return not (self.type or self.ids or self.id_pattern or self.attrs or self.q or self.scope_q or self.geo)


def _regexp(session: Session) -> None:
    """SQLite has no REGEXP function of its own: give this connection Python's (PostgreSQL uses `~`)."""
    dbapi = session.connection().connection.dbapi_connection
    if dbapi is not None and hasattr(dbapi, "create_function"):
        def regexp(pattern: str, text: Any) -> int:
            return int(isinstance(text, str) and re.search(pattern, text) is not None)

        dbapi.create_function("regexp", 2, regexp, deterministic=True)


def filters(session: Session, actor: Actor, query: Query, ctx: LdContext, tenant: uuid.UUID | None
            ) -> list[ColumnElement[bool]]:
    """Every SQL clause of a query."""
    dialect = session.get_bind().dialect.name
    clauses = scope(actor, tenant)
    if query.type:
        clauses.append(type_filter(query.type, ctx))
    if query.ids:
        clauses.append(E.entity_id.in_([ent.check_uri(i, "id") for i in query.ids]))
    if query.id_pattern:
        try:
            re.compile(query.id_pattern)
        except re.error as exc:
            raise bad(f"idPattern is not a regular expression: {exc}", "idPattern") from None
        if dialect == "postgresql":
            clauses.append(E.entity_id.op("~")(query.id_pattern))
        else:
            _regexp(session)
            clauses.append(func.regexp(query.id_pattern, E.entity_id) == 1)
    if query.attrs:
        j = qlang._Json(E.attrs, dialect)
        clauses.append(or_(*[j.kind((ctx.expand(ent.check_name(a)),)).is_not(None) for a in query.attrs]))
    if query.q:
        if dialect != "postgresql" and "~=" in query.q:
            _regexp(session)
        clauses.append(qlang.to_sql(qlang.parse(query.q, ctx), E.attrs, dialect, E.id))
    if query.scope_q is not None:
        tree = scopeq.parse(query.scope_q)
        if dialect != "postgresql" and scopeq.needs_regexp(tree):
            _regexp(session)
        clauses.append(scopeq.to_sql(tree, E.id, dialect))
    if query.geo is not None:
        clauses.append(_geo_prefilter(query.geo))
    return clauses


def _q_hits(session: Session, q: str, ctx: LdContext, docs: list[dict[str, Any]]) -> set[int]:
    """Which of these attribute documents meet `q` (their indexes).

    The same compiled SQL as for stored entities, run over the documents given as literal rows (one statement
    per 400), so the two can never answer differently.
    """
    dialect = session.get_bind().dialect.name
    if dialect != "postgresql" and "~=" in q:
        _regexp(session)
    tree = qlang.parse(q, ctx)
    json_type: Any = JSONB if dialect == "postgresql" else JSON
    hits: set[int] = set()
    for start in range(0, len(docs), 400):  # SQLite allows 500 SELECTs in one compound
        rows = union_all(*[select(literal(i, Integer).label("i"), literal(docs[i], json_type).label("d"))
                           for i in range(start, min(start + 400, len(docs)))]).subquery("bridged")
        hits.update(session.scalars(select(rows.c.i).where(qlang.to_sql(tree, rows.c.d, dialect))))
    return hits


def bridged_matches(session: Session, actor: Actor, query: Query, ctx: LdContext, tenant: uuid.UUID | None
                    ) -> list[bridge.BridgedEntity]:
    """The connect devices and assets (the bridge's read-through entities) a query selects, ordered by id."""
    if query.scope_q is not None:  # connect's devices and assets have no scope
        return []
    names = set(bridge.type_names())
    if query.type:
        tree = type_tree(query.type, ctx)
        names = {n for n in names if types_match(tree, [bridge.type_iri(n)])}
    ids = None
    if query.ids:
        ids = {ent.check_uri(i, "id") for i in query.ids}
        named = {parsed[0] for parsed in map(bridge.parse_id, ids) if parsed is not None}
        names &= named
    if query.id_pattern:
        try:
            pattern = re.compile(query.id_pattern)
        except re.error as exc:
            raise bad(f"idPattern is not a regular expression: {exc}", "idPattern") from None
    if not names:
        return []
    found = bridge.visible_entities(session, actor, tenant, names, ids)
    if query.id_pattern:
        found = [e for e in found if pattern.search(e.entity_id)]
    if query.attrs:
        wanted = [ctx.expand(ent.check_name(a)) for a in query.attrs]
        found = [e for e in found if any(a in e.attrs for a in wanted)]
    if query.geo is not None:
        geo = query.geo
        found = [e for e in found if any(geo_match(geo, inst.get("value"))
                                         for inst in e.attrs.get(geo.prop, {}).values())]
    if query.q and found:
        hits = _q_hits(session, query.q, ctx, [e.attrs for e in found])
        found = [e for i, e in enumerate(found) if i in hits]
    return found


def entity_query(session: Session, actor: Actor, query: Query, ctx: LdContext, tenant: uuid.UUID | None, *,
                 bridged: bool = True) -> tuple[list[Any], int | None]:
    """A page of matching entities and, when asked, how many match in all.

    The page mixes the broker's stored entities (`ContextEntity`) with connect's devices and assets
    (`bridge.BridgedEntity`, unless `bridged` is False), one order by entity id across both.
    """
    if not 0 <= query.limit <= MAX_LIMIT:
        raise bad(f"limit must be between 0 and {MAX_LIMIT}", "limit")
    if not 0 <= query.offset <= MAX_OFFSET:  # deeper is a search problem; also keeps OFFSET inside BIGINT
        raise bad(f"offset must be between 0 and {MAX_OFFSET}", "offset")
    clauses = filters(session, actor, query, ctx, tenant)
    extra = bridged_matches(session, actor, query, ctx, tenant) if bridged else []
    if query.geo is not None:
        geo = query.geo
        order = E.entity_id.collate("C") if extra and session.get_bind().dialect.name == "postgresql" \
            else E.entity_id
        keyed = [(eid, pk) for pk, eid, value in session.execute(select(E.id, E.entity_id, E.attrs[geo.prop])
                                                                 .where(*clauses).order_by(order))
                 if isinstance(value, dict) and any(geo_match(geo, inst.get("value")) for inst in value.values()
                                                    if isinstance(inst, dict))]
        total = len(keyed) + len(extra) if query.count else None
        return _merged_page(session, keyed, extra, query), total
    if extra:
        # stored ids up to the page's end in code-point order (Python's, and "C" on PostgreSQL), merged with the
        # bridged ones: the page is the same slice of one ordering whatever the database's collation
        order = E.entity_id.collate("C") if session.get_bind().dialect.name == "postgresql" else E.entity_id
        keyed = [(eid, pk) for eid, pk in session.execute(select(E.entity_id, E.id).where(*clauses).order_by(order)
                                                          .limit(query.offset + query.limit))]
        total = None
        if query.count:
            total = int(session.scalar(select(func.count()).select_from(E).where(*clauses)) or 0) + len(extra)
        return _merged_page(session, keyed, extra, query), total
    stmt: Select[Any] = select(E).where(*clauses).order_by(E.entity_id)
    rows = list(session.scalars(stmt.limit(query.limit).offset(query.offset))) if query.limit else []
    count = session.scalar(select(func.count()).select_from(E).where(*clauses)) if query.count else None
    return rows, count


def _merged_page(session: Session, keyed: list[tuple[str, uuid.UUID]], extra: list[bridge.BridgedEntity],
                 query: Query) -> list[Any]:
    """The page [offset, offset + limit) of stored (id, pk) pairs and bridged entities, ordered by entity id."""
    merged: list[tuple[str, uuid.UUID | bridge.BridgedEntity]] = [*keyed, *((e.entity_id, e) for e in extra)]
    merged.sort(key=lambda pair: pair[0])
    page = [item for _, item in merged[query.offset:query.offset + query.limit]]
    pks = [p for p in page if isinstance(p, uuid.UUID)]
    rows = {r.id: r for r in session.scalars(select(E).where(E.id.in_(pks)))} if pks else {}
    return [rows[p] if isinstance(p, uuid.UUID) else p for p in page]


# ---- /types and /attributes


def _visible_docs(session: Session, actor: Actor, tenant: uuid.UUID | None) -> Iterator[tuple[list[str], Any]]:
    """(types, attributes) of every entity the caller sees: the stored ones, then connect's devices and assets."""
    yield from session.execute(select(E.types, E.attrs).where(*scope(actor, tenant)).execution_options(
        yield_per=1000)).tuples()
    for e in _all_bridged(session, actor, tenant):
        yield e.types, e.attrs


def type_counts(session: Session, actor: Actor, tenant: uuid.UUID | None) -> dict[str, int]:
    """Entity types (IRIs) of visible entities with their entity counts."""
    T = ContextEntityType
    rows = session.execute(select(T.type, func.count()).join(E, E.id == T.entity_pk)
                           .where(*scope(actor, tenant)).group_by(T.type).order_by(T.type))
    out = Counter({t: int(n) for t, n in rows})
    for e in _all_bridged(session, actor, tenant):
        out.update(e.types)
    return dict(sorted(out.items()))


def _all_bridged(session: Session, actor: Actor, tenant: uuid.UUID | None) -> list[bridge.BridgedEntity]:
    return bridge.visible_entities(session, actor, tenant, set(bridge.type_names()))


def type_details(session: Session, actor: Actor, tenant: uuid.UUID | None) -> dict[str, dict[str, Any]]:
    """Per type IRI: entity count, and per attribute IRI its attribute types."""
    out: dict[str, dict[str, Any]] = {}
    for types, attrs in _visible_docs(session, actor, tenant):
        for t in types:
            info = out.setdefault(t, {"count": 0, "attrs": defaultdict(set)})
            info["count"] += 1
            for iri, instances in attrs.items():
                info["attrs"][iri].update(i.get("type", "Property") for i in instances.values())
    return dict(sorted(out.items()))


def attribute_details(session: Session, actor: Actor, tenant: uuid.UUID | None) -> dict[str, dict[str, Any]]:
    """Per attribute IRI: how many entities have it, its attribute types and the entity types that use it."""
    counts: Counter[str] = Counter()
    kinds: dict[str, set[str]] = defaultdict(set)
    used_by: dict[str, set[str]] = defaultdict(set)
    for types, attrs in _visible_docs(session, actor, tenant):
        for iri, instances in attrs.items():
            counts[iri] += 1
            kinds[iri].update(i.get("type", "Property") for i in instances.values())
            used_by[iri].update(types)
    return {iri: {"count": counts[iri], "types": sorted(kinds[iri]), "typeNames": sorted(used_by[iri])}
            for iri in sorted(counts)}
