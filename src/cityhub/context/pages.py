"""Context broker pages (issue 19): types, entities on the district map, one entity's history, subscriptions.

The pages: entity types with their counts, a type's entities (points and areas over the Chongqing outlines), one
entity's attributes in words (`words.py`) with the history of its numeric properties, and the caller's
subscriptions' delivery. Two forms for a unit's staff — create an entity, change a property's value — call the
API's own actions (`entity_create`, `attr_patch`): the same checks, permission, audit row and notifications.

What a page lists is what the context service lets the caller see (`type_counts`, `entity_query`, `entity_get`,
`subscription_list`: one visibility rule, the API's); an unknown or invisible entity is a 404 page.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from cityhub.connect import service as connect
from cityhub.context import bridge, policies, words
from cityhub.context import service as context
from cityhub.context.jsonld import core as core_context
from cityhub.context.subscriptions import status as subscription_status
from cityhub.core import service as core
from cityhub.core.deps import CurrentActor
from cityhub.core.permissions import P, can
from cityhub.kit import labels
from cityhub.kit.errors import ValidationFailed
from cityhub.kit.i18n import get_locale, lazy
from cityhub.kit.i18n import gettext as _
from cityhub.kit.web import DbSession, NavItem, SessionRoute, form_action, register_nav, render

router = APIRouter(prefix="/context", include_in_schema=False, route_class=SessionRoute)
register_nav(NavItem("connect", "Context entities", "/context", order=30, permissions=(P.CONTEXT_READ,)))
register_nav(NavItem("connect", "Context subscriptions", "/context/subscriptions", order=31,
                     permissions=(P.CONTEXT_SUBSCRIBE,)))
PER_PAGE = 50  # entities a page
SUBS_PER_PAGE = 50
HISTORY_N = 200  # newest instances charted per numeric property
KIND_LABELS = {"Property": lazy("Property"), "GeoProperty": lazy("Location"), "Relationship": lazy("Relationship"),
               "LanguageProperty": lazy("Text in several languages"), "VocabProperty": lazy("Vocabulary term"),
               "JsonProperty": lazy("Structured value"), "ListProperty": lazy("List"),
               "ListRelationship": lazy("List of relationships")}
GEOMETRY_LABELS = {"Polygon": lazy("An area (polygon)"), "MultiPolygon": lazy("Several areas (polygons)"),
                   "LineString": lazy("A line"), "MultiLineString": lazy("Several lines"),
                   "MultiPoint": lazy("Several points"), "Geometry": lazy("Geometry")}
SUB_LABELS = {"active": lazy("Active"), "paused": lazy("Paused"), "expired": lazy("Expired")}
DELIVERY_LABELS = {"ok": lazy("Notified"), "failed": lazy("Failed"), "": lazy("Nothing sent yet")}


def _short(iri: str) -> str:
    return core_context().compact(iri)


def _type_name(name: str) -> str:
    """An entity type as people read it: devices and connect's asset kinds by their labels, others as named."""
    if name == bridge.DEVICE:
        return _("Device")
    kind = bridge.KIND_OF_TYPE.get(name)
    if kind and kind != "other":
        return labels.label(kind, "cityhub.connect.models.AssetKind")
    return words.type_label(name)


def _value_text(value: Any) -> str:
    """A value as a reader sees it: numbers and text as they are, a point as its coordinates, no JSON."""
    if isinstance(value, dict):
        if value.get("type") == "Point" and isinstance(value.get("coordinates"), list):
            return "(" + ", ".join(f"{c:.5f}" if isinstance(c, float) else str(c) for c in value["coordinates"]) + ")"
        if isinstance(value.get("type"), str) and "coordinates" in value:
            return _(GEOMETRY_LABELS.get(value["type"], "Geometry"))
        return "; ".join(f"{k}: {_value_text(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_value_text(v) for v in value)
    if isinstance(value, bool):
        return "✓" if value else "✗"
    return "" if value is None else str(value)


def _instance_value(inst: dict[str, Any], lang: str) -> Any:
    if "vocab" in inst:  # a vocabulary term is stored expanded: shown as its term
        vocab = inst["vocab"]
        return [_short(v) for v in vocab] if isinstance(vocab, list) else _short(vocab) if isinstance(vocab, str) \
            else vocab
    for key in ("value", "object", "json", "valueList", "objectList"):
        if key in inst:
            return inst[key]
    if "languageMap" in inst:
        m = inst["languageMap"]
        return m.get(lang) or m.get("zh") or next(iter(m.values()), "") if isinstance(m, dict) else m
    return None


def _instant(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _metrics(session: Session) -> dict[str, words.Metric]:
    """The device metrics of connect's profiles by key, named in both languages (devices' telemetry attributes)."""
    out: dict[str, words.Metric] = {}
    for p in connect.profile_refs(session):
        for m in p.metrics:
            out.setdefault(m.key, words.Metric(m.name, m.name_en, m.unit))
    return out


def _english() -> bool:
    return get_locale().startswith("en")


def _unit(inst: dict[str, Any]) -> str:
    """An instance's unit as a symbol: its unitCode, else its unitText sub-property (connect's own units)."""
    if isinstance(inst.get("unitCode"), str):
        return words.unit_symbol(inst["unitCode"])
    text = inst.get(core_context().expand("unitText"))
    return str(text.get("value", "")) if isinstance(text, dict) else ""


def _shapes(e: Any) -> list[list[list[float]]]:
    """The outer rings of the entity's Polygon and MultiPolygon GeoProperties ([[lon, lat], …] each)."""
    rings: list[list[list[float]]] = []
    for instances in e.attrs.values():
        for inst in instances.values():
            v = inst.get("value") if isinstance(inst, dict) and inst.get("type") == "GeoProperty" else None
            if not isinstance(v, dict):
                continue
            polygons = [v.get("coordinates")] if v.get("type") == "Polygon" else \
                v.get("coordinates") if v.get("type") == "MultiPolygon" else []
            for polygon in polygons if isinstance(polygons, list) else []:
                ring = polygon[0] if isinstance(polygon, list) and polygon else None
                if isinstance(ring, list) and all(isinstance(c, list) and len(c) >= 2 for c in ring):
                    rings.append([[float(c[0]), float(c[1])] for c in ring])
    return rings


def _typed(raw: str) -> Any:
    """A value typed in a form: a number when it reads as one, else the text."""
    text = raw.strip()
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() and "." not in text and "e" not in text.lower() else number


def _point(e: Any) -> list[float] | None:
    """The entity's first point location as [lon, lat]; None without one."""
    for instances in e.attrs.values():
        for inst in instances.values():
            v = inst.get("value") if isinstance(inst, dict) and inst.get("type") == "GeoProperty" else None
            if isinstance(v, dict) and v.get("type") == "Point":
                c = v.get("coordinates")
                if isinstance(c, list) and len(c) >= 2 and all(isinstance(x, int | float) for x in c[:2]):
                    return [float(c[0]), float(c[1])]
    return None


@router.get("")
def types_page(request: Request, session: DbSession, actor: CurrentActor) -> Response:
    """The entity types of the entities the caller sees, with their counts."""
    counts = context.type_counts(session, actor, None)
    rows = [{"name": _short(iri), "label": _type_name(_short(iri)), "count": n} for iri, n in counts.items()]
    return render(request, "context/types.html", {"rows": rows, "total": sum(counts.values())})


@router.get("/entities")
def entities_page(request: Request, session: DbSession, actor: CurrentActor,
                  type: str = Query(..., min_length=1, max_length=200),
                  offset: int = Query(0, ge=0, le=1_000_000)) -> Response:
    """A type's entities the caller sees (50 a page) with their points and areas on the district map.

    The caller's unit's staff also get a form to create one.
    """
    ctx = core_context()
    rows, total = context.entity_query(session, actor, context.Query(type=type, limit=PER_PAGE, offset=offset,
                                                                     count=True), ctx, None)
    names = core.organization_names(session)
    items = [{"id": e.entity_id, "types": ", ".join(_type_name(_short(t)) for t in e.types),
              "modified": e.modified_at, "unit": names.get(e.org_id, ""), "point": _point(e),
              "shapes": _shapes(e)} for e in rows]
    points = [{"name": i["id"], "value": i["point"]} for i in items if i["point"] is not None]
    shapes = [{"name": i["id"], "rings": i["shapes"]} for i in items if i["shapes"]]
    metrics = _metrics(session)
    return render(request, "context/entities.html", {
        "type": type, "type_label": _type_name(type), "items": items, "total": total or 0, "offset": offset,
        "limit": PER_PAGE, "can_create": can(actor, P.CONTEXT_WRITE),
        "attribute_choices": sorted({(words.attribute_label(k, metrics, _english()), k)
                                     for k in ("temperature", "pm25", "no2", "relativeHumidity", "occupancy",
                                               "availableSpotNumber", "waterLevel", "intensity", "status")}),
        "district_names": core.district_name_map(session),
        "page_data": {"points": points, "shapes": shapes}})


Text = Annotated[str, Form(max_length=200)]


@router.post("/entities")
def entity_create_form(request: Request, session: DbSession, actor: CurrentActor,
                       csrf_token: Annotated[str, Form(max_length=200)] = "", type: Text = "",
                       entity_id: Annotated[str, Form(max_length=500)] = "", name: Text = "", attr: Text = "",
                       value: Text = "", lon: Annotated[str, Form(max_length=30)] = "",
                       lat: Annotated[str, Form(max_length=30)] = "") -> Response:
    """Create an entity in the caller's unit from the form: a name, one attribute and an optional point.

    The API's action (`entity_create`): its checks, its permission, its audit row and its notifications.
    """
    keep = {"entity_id": entity_id, "name": name, "attr": attr, "value": value, "lon": lon, "lat": lat}
    back = f"/context/entities?type={quote(type)}"
    with form_action(request, session, csrf_token, _("Entity created"), keep=keep) as done:
        body: dict[str, Any] = {"id": entity_id.strip(), "type": type.strip()}
        if name.strip():
            body["name"] = {"type": "Property", "value": name.strip()}
        if attr.strip() and value.strip():
            body[attr.strip()] = {"type": "Property", "value": _typed(value)}
        if lon.strip() or lat.strip():
            x, y = _typed(lon), _typed(lat)
            if not isinstance(x, int | float) or not isinstance(y, int | float):
                raise ValidationFailed(_("Longitude and latitude are numbers"), field="lon")
            body["location"] = {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [x, y]}}
        context.entity_create(session, actor, body, core_context(), None)
    if not done.ok:
        return done.redirect(back)
    return done.redirect(f"/context/entities/{quote(entity_id.strip(), safe=':')}")


@router.post("/entities/{entity_id:path}/attrs/delete")  # before `/delete`: the id is a path and would take it
def attr_delete_form(request: Request, session: DbSession, actor: CurrentActor, entity_id: str,
                     csrf_token: Annotated[str, Form(max_length=200)] = "", attr: Text = "") -> Response:
    """Remove one attribute from the form: the API's `DELETE /entities/{id}/attrs/{attr}` action."""
    with form_action(request, session, csrf_token, _("Attribute removed"), keep={"attr": attr}) as done:
        if not attr.strip():
            raise ValidationFailed(_("Choose an attribute"), field="attr")
        context.attr_delete(session, actor, entity_id, attr.strip(), core_context(), None)
    return done.redirect(f"/context/entities/{quote(entity_id, safe=':')}")


@router.post("/entities/{entity_id:path}/delete")
def entity_delete_form(request: Request, session: DbSession, actor: CurrentActor, entity_id: str,
                       csrf_token: Annotated[str, Form(max_length=200)] = "") -> Response:
    """Delete the entity from the form: the API's `DELETE /entities/{id}` action; back to its type's list."""
    e = context.entity_get(session, actor, entity_id, None)  # 404 when unknown or not visible
    with form_action(request, session, csrf_token, _("Entity deleted")) as done:
        context.entity_delete(session, actor, entity_id, None)
    if not done.ok:
        return done.redirect(f"/context/entities/{quote(entity_id, safe=':')}")
    return done.redirect(f"/context/entities?type={quote(_short(e.types[0]) if e.types else '')}")


@router.post("/entities/{entity_id:path}/attrs")
def attr_patch_form(request: Request, session: DbSession, actor: CurrentActor, entity_id: str,
                    csrf_token: Annotated[str, Form(max_length=200)] = "", attr: Text = "",
                    value: Annotated[str, Form(max_length=2000)] = "") -> Response:
    """Change one attribute's value from the form: the API's `PATCH /entities/{id}/attrs/{attr}` action."""
    with form_action(request, session, csrf_token, _("Attribute changed"), keep={"attr": attr, "value": value}) \
            as done:
        if not attr.strip():
            raise ValidationFailed(_("Choose an attribute"), field="attr")
        context.attr_patch(session, actor, entity_id, attr.strip(), {"value": _typed(value)}, core_context(),
                           None)
    return done.redirect(f"/context/entities/{quote(entity_id, safe=':')}")


@router.get("/entities/{entity_id:path}")
def entity_page(request: Request, session: DbSession, actor: CurrentActor, entity_id: str) -> Response:
    """One entity's attributes in words and the history of its numeric properties.

    Its unit's staff also get a form to change a property's value (not on connect's read-only devices and assets).
    """
    e: Any = context.bridged_entity(session, actor, entity_id)
    bridged = e is not None
    if e is None:
        e = context.entity_get(session, actor, entity_id, None)  # 404 when unknown or not visible
    lang = "en" if _english() else "zh"
    metrics = _metrics(session)
    attrs = []
    numeric: list[str] = []
    editable: dict[str, str] = {}
    removable: dict[str, str] = {}
    for iri, instances in sorted(e.attrs.items()):
        short = _short(iri)
        label = words.attribute_label(short, metrics, _english())
        for ds, inst in instances.items():
            value = _instance_value(inst, lang)
            unit = _unit(inst) or (metrics[words.term_of(short)].unit if bridged and words.term_of(short) in metrics
                                   else "")
            attrs.append({"name": label, "term": short,
                          "kind": KIND_LABELS.get(inst.get("type", ""), inst.get("type", "")),
                          "value": _value_text(value), "unit": unit,
                          "observed": _instant(inst.get("observedAt")), "dataset": "" if ds.startswith("@") else ds})
            if ds.startswith("@"):
                removable[short] = label
            if inst.get("type") == "Property" and ds.startswith("@"):
                editable[short] = label
            if inst.get("type") == "Property" and isinstance(value, int | float) and not isinstance(value, bool) \
                    and iri not in numeric:
                numeric.append(iri)
    series: list[dict[str, Any]] = []
    if numeric:
        ctx = core_context()
        history = context.temporal_entity(
            session, actor, entity_id, None,
            context.TemporalQuery(last_n=HISTORY_N, attrs=[ctx.compact(i) for i in numeric]),
            _view(ctx), True)
        for iri in numeric:
            member = history.get(ctx.compact(iri)) or history.get(iri)
            values = member.get("values", []) if isinstance(member, dict) else []
            points = [[t, v] for v, t in (pair[:2] for pair in values if isinstance(pair, list) and len(pair) >= 2)
                      if isinstance(v, int | float) and isinstance(t, str)]
            if len(points) > 1:  # a history, not a single value (the table shows that)
                series.append({"name": words.attribute_label(_short(iri), metrics, _english()),
                               "points": sorted(points)})
    can_patch = not bridged and policies.writes(actor, e.org_id)
    return render(request, "context/entity.html", {
        "e": e, "types": ", ".join(_type_name(_short(t)) for t in e.types), "attrs": attrs,
        "editable": sorted(editable.items(), key=lambda kv: kv[1]) if can_patch else [], "bridged": bridged,
        "removable": sorted(removable.items(), key=lambda kv: kv[1]) if can_patch else [], "can_delete": can_patch,
        "unit": core.organization_names(session).get(e.org_id, ""),
        "district_names": core.district_name_map(session),
        "page_data": {"series": series, "shapes": [{"name": e.entity_id, "rings": r} for r in [_shapes(e)] if r],
                      "points": [{"name": e.entity_id, "value": p} for p in [_point(e)] if p is not None]}})


def _view(ctx: Any) -> Any:
    from cityhub.context import entities as ent

    return ent.View(ctx)


@router.get("/subscriptions")
def subscriptions_page(request: Request, session: DbSession, actor: CurrentActor,
                       offset: int = Query(0, ge=0, le=1_000_000)) -> Response:
    """The caller's units' subscriptions: active or not, how delivery went, and where notifications go."""
    rows, total = context.subscription_list(session, actor, None, SUBS_PER_PAGE, offset)
    names = core.organization_names(session)
    items = []
    for s in rows:
        body = context.subscription_render(s)
        note = body.get("notification", {})
        endpoint = note.get("endpoint", {}) if isinstance(note, dict) else {}
        uri = endpoint.get("uri", "") if isinstance(endpoint, dict) else ""
        items.append({"id": s.sub_id, "name": body.get("subscriptionName", ""), "unit": names.get(s.org_id, ""),
                      "state": SUB_LABELS.get(subscription_status(s), ""),
                      "delivery": note.get("status", "") if isinstance(note, dict) else "",
                      "sent": s.times_sent, "last_success": s.last_success, "last_failure": s.last_failure,
                      "host": urlsplit(uri).hostname or "" if isinstance(uri, str) else ""})
    return render(request, "context/subscriptions.html", {
        "items": items, "total": total, "offset": offset, "limit": SUBS_PER_PAGE, "deliveries": DELIVERY_LABELS})

