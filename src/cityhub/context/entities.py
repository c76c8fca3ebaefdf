"""NGSI-LD entities in and out: the normalised, concise and keyValues forms ↔ the stored document.

Input (ETSI GS CIM 009 v1.8, clause 4.5): an attribute is an object with `type` (Property, Relationship,
GeoProperty, LanguageProperty, VocabProperty, JsonProperty, ListProperty, ListRelationship) or, in the concise
form, without it (inferred from `value` / `object` / `languageMap` / …, a GeoJSON geometry, or a bare value);
an array of such objects is a multi-attribute whose instances differ by `datasetId`. Names are expanded through the
request's @context, values are kept as sent (JSON values are opaque, as in every broker), `observedAt` and the
system times are normalised to one ISO 8601 form with milliseconds, so they compare as strings in `q`.
Output is compacted through the caller's @context.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from shapely.geometry import shape

from cityhub.context import scopeq
from cityhub.context.jsonld import LdContext
from cityhub.context.models import NO_DATASET
from cityhub.context.problems import bad

NULL = "urn:ngsi-ld:null"  # the value that deletes an attribute in a merge-patch
ATTR_TYPES = ("Property", "Relationship", "GeoProperty", "LanguageProperty", "VocabProperty", "JsonProperty",
              "ListProperty", "ListRelationship")
# the member holding an attribute's value, per attribute type
VALUE_KEY = {"Property": "value", "GeoProperty": "value", "Relationship": "object", "LanguageProperty": "languageMap",
             "VocabProperty": "vocab", "JsonProperty": "json", "ListProperty": "valueList",
             "ListRelationship": "objectList"}
_INFER = [("object", "Relationship"), ("languageMap", "LanguageProperty"), ("vocab", "VocabProperty"),
          ("json", "JsonProperty"), ("valueList", "ListProperty"), ("objectList", "ListRelationship"),
          ("value", "Property")]
# core members of an attribute instance; anything else is a sub-attribute
INSTANCE_KEYS = frozenset({"type", "value", "object", "objectType", "languageMap", "vocab", "json", "valueList",
                           "objectList", "observedAt", "unitCode", "datasetId", "createdAt", "modifiedAt",
                           "deletedAt", "instanceId", "lang"})
SYSTEM_KEYS = frozenset({"createdAt", "modifiedAt", "deletedAt", "instanceId"})
ENTITY_KEYS = frozenset({"id", "type", "@context", "createdAt", "modifiedAt", "deletedAt", "scope"})
GEOMETRIES = frozenset({"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon"})
_URI_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s<>\"{}|\\^`]+$")
_NAME_FORBIDDEN = re.compile(r"[\s<>\"'=;()\[\]\\{}]")
MAX_NAME = 256


def now_text() -> str:
    """The present instant in the stored form."""
    from cityhub.kit import clock

    return time_text(clock.now())


def time_text(at: datetime) -> str:
    """The stored form of an instant: UTC, milliseconds, `Z` (fixed width, so strings sort as times)."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def parse_time(raw: Any, field: str) -> str:
    """An ISO 8601 date-time with a time zone (or Z), in the stored form; BadRequestData otherwise."""
    if not isinstance(raw, str):
        raise bad(f"{field} must be a DateTime string", field)
    stored = _stored_time(raw) if len(raw) <= 64 else None  # longer is no date-time (nor a key for the cache)
    if stored is None:
        raise bad(f"{field} is not an ISO 8601 DateTime: {raw[:60]}", field)
    return stored


@lru_cache(maxsize=4096)  # a batch's observations share a few instants: each parsed once
def _stored_time(raw: str) -> str | None:
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)  # NGSI-LD times are UTC; a bare time is read as UTC, as brokers do
    return time_text(at)


def check_uri(value: Any, field: str) -> str:
    """A URI (an entity id, a relationship's object, a dataset id)."""
    if not isinstance(value, str) or len(value) > 512 or not _URI_RE.match(value):
        shown = value[:80] if isinstance(value, str) else type(value).__name__
        raise bad(f"{field} must be a URI: {shown}", field)
    return value


def check_name(name: Any, field: str = "attribute") -> str:
    """An attribute or type name: a term, a compact IRI or an IRI, without the characters the spec forbids."""
    if (not isinstance(name, str) or not name or len(name) > MAX_NAME or _NAME_FORBIDDEN.search(name)
            or name.startswith("@")):  # a JSON-LD keyword is no name (ETSI TP 055_03_03)
        shown = name[:80] if isinstance(name, str) else type(name).__name__
        raise bad(f"Invalid {field} name: {shown!r}", field)
    return name


def _type_iri(ctx: LdContext, name: Any) -> str:
    """An entity type's IRI; a name that expands to a JSON-LD keyword (`type`) is refused (ETSI TP 001_02_04)."""
    iri = ctx.expand(check_name(name, "type"))
    if iri.startswith("@"):
        raise bad(f"Invalid type name: {name!r} is a JSON-LD keyword", "type")
    return iri


def check_geometry(value: Any, field: str) -> tuple[float, float, float, float]:
    """A GeoJSON geometry with WGS 84 coordinates; returns its bounding box (min x, min y, max x, max y)."""
    if not isinstance(value, dict) or value.get("type") not in GEOMETRIES or "coordinates" not in value:
        raise bad(f"{field} must be a GeoJSON geometry (Point, LineString, Polygon or Multi-)", field)
    coords = value["coordinates"]
    if value["type"] == "Point" and isinstance(coords, list) and len(coords) in (2, 3) and all(
            isinstance(c, int | float) and not isinstance(c, bool) for c in coords):
        box = (float(coords[0]), float(coords[1]), float(coords[0]), float(coords[1]))  # shapely's bounds, sooner
    else:
        box = _shape_box(value, field)
    min_x, min_y, max_x, max_y = box
    if not all(math.isfinite(v) for v in box) or min_x < -180 or max_x > 180 or min_y < -90 or max_y > 90:
        raise bad(f"{field}: coordinates must be longitude, latitude within WGS 84 bounds", field)
    return box


def _shape_box(value: dict[str, Any], field: str) -> tuple[float, float, float, float]:
    try:
        geom = shape(value)
    except Exception as exc:  # shapely raises several kinds on malformed coordinates
        raise bad(f"{field} has malformed GeoJSON coordinates ({type(exc).__name__})", field) from None
    if geom.is_empty:
        raise bad(f"{field} has no coordinates", field)
    if value["type"] in ("Polygon", "MultiPolygon"):
        polys = [value["coordinates"]] if value["type"] == "Polygon" else value["coordinates"]
        for rings in polys:
            for ring in rings:
                if len(ring) < 4 or list(ring[0]) != list(ring[-1]):
                    raise bad(f"{field}: a polygon's rings must be closed, with at least 4 positions", field)
    min_x, min_y, max_x, max_y = geom.bounds
    return float(min_x), float(min_y), float(max_x), float(max_y)


# ---- input


@dataclass
class Entity:
    """An entity as the client sent it, normalised: id, expanded types, {attribute IRI: {dataset id: instance}}."""

    entity_id: str
    types: list[str]
    attrs: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    scope: list[str] | None = None  # None: not given ([]: removed by a merge-patch's urn:ngsi-ld:null)


def _infer_type(raw: dict[str, Any], name: str) -> str:
    if raw.get("type") in GEOMETRIES and "coordinates" in raw:
        return "GeoProperty"  # concise: a bare GeoJSON geometry
    for key, kind in _INFER:
        if key in raw:
            return kind
    raise bad(f"Attribute {name} has no type and no value, object, languageMap, vocab, json, valueList or "
              "objectList", name)


def instance(raw: Any, name: str, ctx: LdContext, now: str, *, patch: bool = False) -> dict[str, Any]:
    """One attribute instance in the stored form (names expanded, times normalised, value checked per type)."""
    if not isinstance(raw, dict) or (raw.get("type") in GEOMETRIES and "coordinates" in raw):
        raw = {"type": "GeoProperty", "value": raw} if isinstance(raw, dict) else {"type": "Property", "value": raw}
    kind = raw.get("type")
    if kind is None:
        kind = _infer_type(raw, name)
    if kind not in ATTR_TYPES:
        raise bad(f"Attribute {name} has an unknown type: {str(kind)[:60]}", name)
    out: dict[str, Any] = {"type": kind}
    key = VALUE_KEY[kind]
    if key not in raw:
        if not patch:
            raise bad(f"{kind} {name} needs '{key}'", name)
    else:
        out[key] = _value(kind, raw[key], name, ctx)
    if kind == "Relationship" and "objectType" in raw:
        types = raw["objectType"] if isinstance(raw["objectType"], list) else [raw["objectType"]]
        out["objectType"] = [ctx.expand(check_name(t, f"{name}.objectType")) for t in types]
    if "observedAt" in raw:
        out["observedAt"] = parse_time(raw["observedAt"], f"{name}.observedAt")
    if "unitCode" in raw:
        if not isinstance(raw["unitCode"], str) or not raw["unitCode"]:
            raise bad(f"{name}.unitCode must be a string", name)
        out["unitCode"] = raw["unitCode"]
    if "datasetId" in raw:
        out["datasetId"] = check_uri(raw["datasetId"], f"{name}.datasetId")
    if "lang" in raw and kind == "Property":
        out["lang"] = str(raw["lang"])[:35]
    for sub, sub_raw in raw.items():
        if sub in INSTANCE_KEYS:
            continue
        check_name(sub, f"{name} sub-attribute")
        out[ctx.expand(sub)] = instance(sub_raw, f"{name}.{sub}", ctx, now, patch=False)
    out["createdAt"] = now
    out["modifiedAt"] = now
    return out


def _value(kind: str, value: Any, name: str, ctx: LdContext) -> Any:
    if value is None:
        raise bad(f"{name}: a value may not be null", name)
    if kind == "Relationship":
        if isinstance(value, list):
            return [check_uri(v, f"{name}.object") for v in value]
        return check_uri(value, f"{name}.object")
    if kind == "GeoProperty":
        check_geometry(value, name)
    elif kind == "LanguageProperty":
        if not isinstance(value, dict) or not value or not all(
                isinstance(k, str) and (isinstance(v, str) or (isinstance(v, list) and all(
                    isinstance(x, str) for x in v))) for k, v in value.items()):
            raise bad(f"{name}.languageMap must map language tags to strings", name)
    elif kind == "VocabProperty":
        vocab = value if isinstance(value, list) else [value]
        expanded = [ctx.expand(check_name(v, f"{name}.vocab")) for v in vocab]
        return expanded if isinstance(value, list) else expanded[0]
    elif kind == "ListProperty":
        if not isinstance(value, list):
            raise bad(f"{name}.valueList must be an array", name)
    elif kind == "ListRelationship":
        if not isinstance(value, list):
            raise bad(f"{name}.objectList must be an array", name)
        return [check_uri(v.get("object") if isinstance(v, dict) else v, f"{name}.objectList") for v in value]
    return value


def attribute(raw: Any, name: str, ctx: LdContext, now: str, *, patch: bool = False) -> dict[str, dict[str, Any]]:
    """Every instance of one attribute, keyed by dataset id (`@none` for the default); duplicates refused."""
    if isinstance(raw, list) and raw and all(isinstance(r, dict) and (
            "type" in r or "datasetId" in r or any(k in r for k, _t in _INFER)) for r in raw):
        items = raw
    else:
        items = [raw]
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        inst = instance(item, name, ctx, now, patch=patch)
        ds = inst.get("datasetId", NO_DATASET)
        if ds in out:
            raise bad(f"Attribute {name} has two instances with the same datasetId ({ds})", name)
        out[ds] = inst
    return out


def entity(body: Any, ctx: LdContext, now: str, *, need_id: bool = True, need_type: bool = True,
           patch: bool = False) -> Entity:
    """A client's entity, checked and normalised."""
    if not isinstance(body, dict):
        raise bad("An entity must be a JSON object", "body")
    entity_id = check_uri(body.get("id"), "id") if need_id or "id" in body else ""
    raw_types = body.get("type")
    if raw_types is None:
        if need_type:
            raise bad("An entity needs a type", "type")
        types: list[str] = []
    else:
        names = raw_types if isinstance(raw_types, list) else [raw_types]
        if not names:
            raise bad("An entity needs a type", "type")
        types = list(dict.fromkeys(_type_iri(ctx, t) for t in names))
    out = Entity(entity_id, types)
    if "scope" in body:
        out.scope = [] if patch and body["scope"] == NULL else scopeq.scopes(body["scope"])
    for name, raw in body.items():
        if name in ENTITY_KEYS:
            continue
        check_name(name)
        iri = ctx.expand(name)
        if iri in out.attrs:
            raise bad(f"Attribute {name} is given twice (under two names of one IRI)", name)
        out.attrs[iri] = attribute(raw, name, ctx, now, patch=patch)
    return out


def geometries(attrs: dict[str, dict[str, dict[str, Any]]]) -> list[tuple[str, str, tuple[float, float, float,
                                                                                          float]]]:
    """(attribute IRI, dataset id, bounding box) of every GeoProperty instance."""
    out = []
    for iri, instances in attrs.items():
        for ds, inst in instances.items():
            if inst.get("type") == "GeoProperty" and "value" in inst:
                out.append((iri, ds, check_geometry(inst["value"], iri)))
    return out


def numbers(attrs: dict[str, dict[str, dict[str, Any]]]) -> list[tuple[str, float]]:
    """(attribute IRI, value) of every default Property instance whose value is a JSON number (not a boolean)."""
    out = []
    for iri, instances in attrs.items():
        inst = instances.get(NO_DATASET)
        if inst is not None and inst.get("type") == "Property":
            value = inst.get("value")
            if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
                out.append((iri, float(value)))
    return out


# ---- output


@dataclass(frozen=True)
class View:
    """How a caller wants entities: format, system attributes, projection and language."""

    ctx: LdContext
    fmt: str = "normalized"  # normalized | keyValues | concise
    sys_attrs: bool = False
    attrs: frozenset[str] | None = None  # attribute IRIs to keep (attrs / pick); None: all
    omit: frozenset[str] = frozenset()  # attribute IRIs, or "id" / "type", to leave out
    pick_id: bool = True
    pick_type: bool = True
    lang: str | None = None
    datasets: frozenset[str] | None = None  # the instances to keep, by datasetId ("@none": the default); None: all


def _pick_lang(value: dict[str, Any], lang: str) -> tuple[str, Any]:
    if lang in value:
        return lang, value[lang]
    if lang != "*":
        base = lang.split("-")[0]
        for tag, text in value.items():
            if tag.split("-")[0] == base:
                return tag, text
    if "@none" in value:
        return "@none", value["@none"]
    tag = next(iter(value))
    return tag, value[tag]


def _shown_value(inst: dict[str, Any], view: View) -> tuple[str, str, Any, str | None]:
    """Attribute type, member, value and language tag as the caller sees them.

    Vocab values compacted, one language picked (the LanguageProperty then reads as a Property), a
    ListRelationship's objects as objects.
    """
    kind = inst.get("type", "Property")
    key = VALUE_KEY.get(kind, "value")
    value = inst.get(key)
    if kind == "VocabProperty" and value is not None:
        value = [view.ctx.compact(v) for v in value] if isinstance(value, list) else view.ctx.compact(value)
    lang_tag = None
    if kind == "LanguageProperty" and view.lang and isinstance(value, dict) and value:
        lang_tag, value = _pick_lang(value, view.lang)
        kind, key = "Property", "value"
    if kind == "ListRelationship" and isinstance(value, list) and view.fmt != "keyValues":
        value = [{"object": v} for v in value]
    return kind, key, value, lang_tag


def render_instance(inst: dict[str, Any], view: View) -> Any:
    """One instance in the caller's form."""
    ctx = view.ctx
    kind, key, value, lang_tag = _shown_value(inst, view)
    if view.fmt == "keyValues":
        return value
    out: dict[str, Any] = {} if view.fmt == "concise" else {"type": kind}
    out[key] = value
    if lang_tag is not None and lang_tag != "@none":
        out["lang"] = lang_tag
    if "objectType" in inst:
        ot = [ctx.compact(t) for t in inst["objectType"]]
        out["objectType"] = ot[0] if len(ot) == 1 else ot
    # instanceId: only the temporal representation's instances carry one (timeline.stored adds it)
    metas = ("observedAt", "unitCode", "datasetId", "instanceId",
             *(("createdAt", "modifiedAt") if view.sys_attrs else ()))
    out.update({m: inst[m] for m in metas if m in inst})
    for sub, sub_inst in inst.items():
        if sub not in INSTANCE_KEYS and isinstance(sub_inst, dict):
            out[ctx.compact(sub)] = render_instance(sub_inst, view)
    # concise: an attribute with nothing but its value is a bare geometry or a bare scalar (an object or array
    # stays under "value", which a reader could not tell from an attribute otherwise)
    bare = kind == "GeoProperty" or (kind == "Property" and not isinstance(value, dict | list))
    return value if view.fmt == "concise" and list(out) == [key] and bare else out


def render(entity_id: str, types: list[str], attrs: dict[str, Any], created: datetime, modified: datetime,
           view: View, *, scope: list[str] | None = None) -> dict[str, Any]:
    """A stored entity in the caller's form (without @context; the API adds it for JSON-LD)."""
    ctx = view.ctx
    out: dict[str, Any] = {}
    if view.pick_id and "id" not in view.omit:
        out["id"] = entity_id
    if view.pick_type and "type" not in view.omit:
        names = [ctx.compact(t) for t in types]
        out["type"] = names[0] if len(names) == 1 else names
    shown_scope = scopeq.shown(scope)
    if shown_scope is not None:  # an entity member like its type: shown whatever the projection
        out["scope"] = shown_scope
    for iri, instances in attrs.items():
        if (view.attrs is not None and iri not in view.attrs) or iri in view.omit:
            continue
        if view.datasets is not None:  # the datasetId filter (clause 4.5.5, ETSI TP 019_12)
            instances = {ds: i for ds, i in instances.items() if ds in view.datasets}
            if not instances:
                continue
        items = list(instances.values())
        if view.fmt == "keyValues":
            chosen = instances.get(NO_DATASET) or items[0]
            out[ctx.compact(iri)] = render_instance(chosen, view)
            continue
        rendered = [render_instance(i, view) for i in items]
        out[ctx.compact(iri)] = rendered[0] if len(rendered) == 1 else rendered
    if view.sys_attrs and view.fmt != "keyValues":
        out["createdAt"], out["modifiedAt"] = time_text(created), time_text(modified)
    return out
