"""Context broker pages (issue 19): types, entities on the district map, one entity's history, subscriptions.

The pages: entity types with their counts, a type's entities (those with a point over the Chongqing outlines),
one entity's attributes with the history of its numeric properties, and the caller's subscriptions' delivery.

What a page lists is what the context service lets the caller see (`type_counts`, `entity_query`, `entity_get`,
`subscription_list`: one visibility rule, the API's); an unknown or invisible entity is a 404 page.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from cityhub.context import bridge
from cityhub.context import service as context
from cityhub.context.jsonld import core as core_context
from cityhub.context.subscriptions import status as subscription_status
from cityhub.core import service as core
from cityhub.core.deps import CurrentActor
from cityhub.core.permissions import P
from cityhub.kit import labels
from cityhub.kit.i18n import get_locale, lazy
from cityhub.kit.i18n import gettext as _
from cityhub.kit.web import DbSession, NavItem, SessionRoute, register_nav, render

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
SUB_LABELS = {"active": lazy("Active"), "paused": lazy("Paused"), "expired": lazy("Expired")}
DELIVERY_LABELS = {"ok": lazy("Notified"), "failed": lazy("Failed"), "": lazy("Nothing sent yet")}


def _short(iri: str) -> str:
    return core_context().compact(iri)


def _type_name(name: str) -> str:
    """An entity type as people read it: devices and connect's asset kinds by their labels, others as named."""
    if name == bridge.DEVICE:
        return _("Device")
    kind = bridge.KIND_OF_TYPE.get(name)
    return labels.label(kind, "cityhub.connect.models.AssetKind") if kind and kind != "other" else name


def _value_text(value: Any) -> str:
    """A value as a reader sees it: numbers and text as they are, a point as its coordinates, no JSON."""
    if isinstance(value, dict):
        if value.get("type") == "Point" and isinstance(value.get("coordinates"), list):
            return "(" + ", ".join(f"{c:.5f}" if isinstance(c, float) else str(c) for c in value["coordinates"]) + ")"
        if isinstance(value.get("type"), str) and "coordinates" in value:
            return str(value["type"])
        return "; ".join(f"{k}: {_value_text(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_value_text(v) for v in value)
    if isinstance(value, bool):
        return "✓" if value else "✗"
    return "" if value is None else str(value)


def _instance_value(inst: dict[str, Any], lang: str) -> Any:
    for key in ("value", "object", "vocab", "json", "valueList", "objectList"):
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
    """A type's entities the caller sees (50 a page), and those with a point location on the district map."""
    ctx = core_context()
    rows, total = context.entity_query(session, actor, context.Query(type=type, limit=PER_PAGE, offset=offset,
                                                                     count=True), ctx, None)
    names = core.organization_names(session)
    items = [{"id": e.entity_id, "types": ", ".join(_type_name(_short(t)) for t in e.types),
              "modified": e.modified_at, "unit": names.get(e.org_id, ""), "point": _point(e)} for e in rows]
    points = [{"name": i["id"], "value": i["point"]} for i in items if i["point"] is not None]
    return render(request, "context/entities.html", {
        "type": type, "type_label": _type_name(type), "items": items, "total": total or 0, "offset": offset,
        "limit": PER_PAGE,
        "district_names": core.district_name_map(session),
        "page_data": {"points": points}})


@router.get("/entities/{entity_id:path}")
def entity_page(request: Request, session: DbSession, actor: CurrentActor, entity_id: str) -> Response:
    """One entity's attributes, and the history of its numeric properties as line charts."""
    e: Any = context.bridged_entity(session, actor, entity_id)
    if e is None:
        e = context.entity_get(session, actor, entity_id, None)  # 404 when unknown or not visible
    lang = "en" if get_locale().startswith("en") else "zh"
    attrs = []
    numeric: list[str] = []
    for iri, instances in sorted(e.attrs.items()):
        for ds, inst in instances.items():
            value = _instance_value(inst, lang)
            attrs.append({"name": _short(iri), "kind": KIND_LABELS.get(inst.get("type", ""), inst.get("type", "")),
                          "value": _value_text(value), "unit": inst.get("unitCode", ""),
                          "observed": _instant(inst.get("observedAt")), "dataset": "" if ds.startswith("@") else ds})
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
            if points:
                series.append({"name": _short(iri), "points": sorted(points)})
    return render(request, "context/entity.html", {
        "e": e, "types": ", ".join(_type_name(_short(t)) for t in e.types), "attrs": attrs,
        "unit": core.organization_names(session).get(e.org_id, ""), "page_data": {"series": series}})


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

