"""Reverse geocoding to Chongqing's districts and counties: point in polygon over the shipped outlines."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cityhub.compute.builtins import coords, districts
from cityhub.compute.builtins.base import BuiltinError, BuiltinRequest, Handler, document, operation

MAX_POINTS = 1000
NEAR_DEG = 0.005  # about 500 m: a point this close outside every outline is given its nearest district as `near`


def locate(lng: float, lat: float, crs: str) -> dict[str, Any]:
    """The district of a point given in `crs` (converted to the outlines' GCJ-02 first)."""
    try:
        index = districts.load()
    except districts.OutlinesMissing as exc:
        raise BuiltinError(503, "outlines_missing", str(exc)) from exc
    glng, glat = coords.convert(lng, lat, crs, "gcj02")
    d = index.locate(glng, glat)
    out: dict[str, Any] = {"lng": lng, "lat": lat, "crs": crs, "gcj02": [round(glng, 8), round(glat, 8)],
                           "inside": d is not None,
                           "district": {"code": d.code, "name": d.name} if d else None}
    if d is None:
        near = index.nearest(glng, glat)
        if near is not None and near[1] <= NEAR_DEG:
            out["near"] = {"code": near[0].code, "name": near[0].name, "distance_deg": round(near[1], 6)}
    return out


def _one(req: BuiltinRequest) -> dict[str, Any]:
    crs = coords.system(req, "crs", "wgs84")
    return locate(req.number("lng", -180, 180), req.number("lat", -90, 90), crs)


def _batch(req: BuiltinRequest) -> dict[str, Any]:
    body = req.json_body()
    crs = coords.system(req, "crs", "wgs84")
    points = body.get("points")
    if not isinstance(points, list) or len(points) > MAX_POINTS:
        raise BuiltinError(422, "validation_failed", f"'points' must be a list of at most {MAX_POINTS} [lng, lat]",
                           "points")
    out = []
    for i, p in enumerate(points):
        if (not isinstance(p, list) or len(p) != 2 or not all(isinstance(v, int | float) for v in p)
                or not (-180 <= p[0] <= 180 and -90 <= p[1] <= 90)):
            raise BuiltinError(422, "validation_failed", f"points[{i}] must be [lng, lat] in degrees", f"points[{i}]")
        out.append(locate(float(p[0]), float(p[1]), crs))
    return {"crs": crs, "results": out}


def _list(_req: BuiltinRequest) -> dict[str, Any]:
    try:
        index = districts.load()
    except districts.OutlinesMissing as exc:
        raise BuiltinError(503, "outlines_missing", str(exc)) from exc
    return {"districts": [{"code": d.code, "name": d.name} for d in sorted(index.districts, key=lambda d: d.code)]}


class ReverseGeocoder:
    """Which Chongqing district or county a point lies in."""

    name = "reverse-geocode"
    title = "Reverse geocoding to Chongqing districts"

    def openapi(self) -> dict[str, Any]:
        """/district (GET one point, POST up to 1,000) and /districts."""
        return document(self.title, "逆地理编码：坐标所在的重庆市区县（内置区县边界，点在多边形内判断）", {
            "/district": {"get": operation("District of one point", [("lng", "number", True), ("lat", "number", True),
                                                                    ("crs", "string", False)]),
                          "post": operation("Districts of up to 1,000 points", [("points", "array", True),
                                                                                ("crs", "string", False)], "post")},
            "/districts": {"get": operation("Every district and county", [])}})

    def routes(self) -> Mapping[tuple[str, str], Handler]:
        """The routing table."""
        return {("GET", "district"): _one, ("POST", "district"): _batch, ("GET", "districts"): _list}
