"""The resource center's base and thematic databases: golden records per base database, coverage per theme."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from cityhub.core import service as core
from cityhub.core.deps import CurrentActor
from cityhub.core.permissions import P
from cityhub.data import service, vocabulary
from cityhub.data.base import geo
from cityhub.data.base.schemas import BaseRecordRead
from cityhub.kit import i18n
from cityhub.kit.errors import NotFound
from cityhub.kit.i18n import gettext as _
from cityhub.kit.web import DbSession, NavItem, SessionRoute, register_nav, render

router = APIRouter(prefix="/data/base", include_in_schema=False, route_class=SessionRoute)
register_nav(NavItem("data", "Base and thematic databases", "/data/base", order=47, permissions=(P.DATA_READ,)))


def _orgs(session: DbSession) -> dict[object, str]:
    return {k: v for k, v in core.organization_names(session).items()}


@router.get("")
def overview(request: Request, session: DbSession, actor: CurrentActor) -> Response:
    """The base databases (golden records, feeds, conflicts) and the thematic databases (entries, units, freshness)."""
    return render(request, "data/base.html", {"bases": service.base_overview(session, actor),
                                              "themes": service.theme_coverage(session, actor),
                                              "orgs": _orgs(session)})


@router.get("/{base_db}")
def base_db(request: Request, session: DbSession, actor: CurrentActor, base_db: str, key: str = "") -> Response:
    """One base database: its feeds with freshness, open conflicts, and a golden-record lookup by key."""
    if base_db not in vocabulary.BASE_DBS:
        raise NotFound(i18n.gettext("Base database not found"))
    summary = service.base_summary(session, actor, base_db)
    record, missing = None, False
    if key.strip():
        try:
            record = service.base_record_get(session, actor, base_db, key)
        except NotFound:
            missing = True
    feeds = {str(f["feed_id"]): f for f in summary["feeds"]}
    names: dict[str, str] = {}  # item → its Chinese name, from the feeds' entries (the most trusted first)
    for entry in sorted(service.catalog_entries_by_ids(session, [f["entry_id"] for f in summary["feeds"]]),
                        key=lambda e: [f["entry_id"] for f in summary["feeds"]].index(e.id)):
        for it in entry.items:
            names.setdefault(it["name_en"], it["name_cn"])
    places = _places(service.base_geo_search(session, actor, bbox=(-180, -90, 180, 90), limit=MAP_LIMIT)) \
        if base_db == "geo" else None
    if places is not None and record is not None and record.geojson:  # the map zooms to the record looked up
        places["focus"] = record.key
    return render(request, "data/base_db.html", {
        "summary": summary, "conflicts": service.base_conflicts(session, actor, base_db, 50), "record": record,
        "missing": missing, "key": key, "orgs": _orgs(session), "feeds": feeds, "names": names, "places": places,
        "geometry_item": geo.GEOMETRY_ITEM, "rejections": _rejections()})


MAP_LIMIT = 2000  # golden records drawn on the geo base database's map


def _rejections() -> dict[str, str]:
    """Why a feed's geometry was left out of a golden record, by `geo.Invalid.code`."""
    return {"not_json": _("not GeoJSON text"), "not_geojson": _("not a GeoJSON geometry"),
            "empty": _("an empty geometry"), "out_of_range": _("coordinates outside longitude and latitude"),
            "invalid": _("an invalid geometry (e.g. a self-intersecting polygon)")}


def _places(records: list[BaseRecordRead]) -> dict[str, Any]:
    """The map's points, lines and areas (outer rings) of the records the viewer sees the geometry of."""
    points: list[dict[str, Any]] = []
    shapes: list[dict[str, Any]] = []
    for r in records:
        g = r.geojson or {}
        name = str(r.fields.get("name") or r.key)
        kind, coords = g.get("type"), g.get("coordinates")
        if kind == "Point":
            points.append({"name": name, "key": r.key, "value": coords})
        elif kind == "MultiPoint":
            points.extend({"name": name, "key": r.key, "value": c} for c in coords or [])
        elif kind in ("LineString", "MultiLineString"):
            lines = [coords] if kind == "LineString" else coords
            shapes.append({"name": name, "key": r.key, "lines": lines, "rings": []})
        elif kind in ("Polygon", "MultiPolygon"):
            polys = [coords] if kind == "Polygon" else coords
            shapes.append({"name": name, "key": r.key, "rings": [p[0] for p in polys or [] if p], "lines": []})
    return {"points": points, "shapes": shapes}
