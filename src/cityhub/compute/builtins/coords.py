"""Coordinate conversion between WGS-84, GCJ-02 and BD-09.

WGS-84 is GPS, GCJ-02 the national survey offset (AMap, Tencent, the published maps), BD-09 Baidu's: every Chinese
map provider uses one of them, so a department's points must be converted before
they are laid over another's.

WGS-84 → GCJ-02 is the published obfuscation polynomial on the Krasovsky ellipsoid; it has no closed inverse, so
GCJ-02 → WGS-84 iterates the forward function until the round trip is within 1e-9° (a millimetre). BD-09 is a
closed-form twist of GCJ-02 both ways. Outside China's bounding box there is no offset (as every implementation
does: the obfuscation applies inside China only).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from cityhub.compute.builtins.base import BuiltinError, BuiltinRequest, Handler, document, operation

SYSTEMS = ("wgs84", "gcj02", "bd09")
_A = 6378245.0  # Krasovsky 1940 semi-major axis
_EE = 0.00669342162296594323  # its first eccentricity squared
_XPI = math.pi * 3000.0 / 180.0
MAX_POINTS = 10_000


def out_of_china(lng: float, lat: float) -> bool:
    """Outside the bounding box where the offset applies."""
    return not (72.004 <= lng <= 137.8347 and 0.8293 <= lat <= 55.8271)


def _delta(lng: float, lat: float) -> tuple[float, float]:
    x, y = lng - 105.0, lat - 35.0
    dlat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
            + (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
            + (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
            + (160.0 * math.sin(y / 12.0 * math.pi) + 320 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0)
    dlng = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
            + (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
            + (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
            + (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0)
    rad = lat / 180.0 * math.pi
    magic = 1 - _EE * math.sin(rad) ** 2
    sqrt_magic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrt_magic) * math.pi)
    dlng = (dlng * 180.0) / (_A / sqrt_magic * math.cos(rad) * math.pi)
    return dlng, dlat


def wgs84_to_gcj02(lng: float, lat: float) -> tuple[float, float]:
    """GPS → national survey offset."""
    if out_of_china(lng, lat):
        return lng, lat
    dlng, dlat = _delta(lng, lat)
    return lng + dlng, lat + dlat


def gcj02_to_wgs84(lng: float, lat: float) -> tuple[float, float]:
    """Invert the offset by fixed-point iteration (converges in a handful of steps)."""
    if out_of_china(lng, lat):
        return lng, lat
    wlng, wlat = lng, lat
    for _ in range(30):
        glng, glat = wgs84_to_gcj02(wlng, wlat)
        dlng, dlat = glng - lng, glat - lat
        if abs(dlng) < 1e-9 and abs(dlat) < 1e-9:
            break
        wlng, wlat = wlng - dlng, wlat - dlat
    return wlng, wlat


def gcj02_to_bd09(lng: float, lat: float) -> tuple[float, float]:
    """National survey offset → Baidu."""
    z = math.sqrt(lng * lng + lat * lat) + 0.00002 * math.sin(lat * _XPI)
    theta = math.atan2(lat, lng) + 0.000003 * math.cos(lng * _XPI)
    return z * math.cos(theta) + 0.0065, z * math.sin(theta) + 0.006


def bd09_to_gcj02(lng: float, lat: float) -> tuple[float, float]:
    """Baidu → national survey offset."""
    x, y = lng - 0.0065, lat - 0.006
    z = math.sqrt(x * x + y * y) - 0.00002 * math.sin(y * _XPI)
    theta = math.atan2(y, x) - 0.000003 * math.cos(x * _XPI)
    return z * math.cos(theta), z * math.sin(theta)


def convert(lng: float, lat: float, source: str, target: str) -> tuple[float, float]:
    """Convert a point between any two of wgs84, gcj02, bd09 (through GCJ-02)."""
    if source == target:
        return lng, lat
    if source == "wgs84":
        g = wgs84_to_gcj02(lng, lat)
    elif source == "bd09":
        g = bd09_to_gcj02(lng, lat)
    else:
        g = (lng, lat)
    if target == "gcj02":
        return g
    return gcj02_to_wgs84(*g) if target == "wgs84" else gcj02_to_bd09(*g)


def system(req: BuiltinRequest, name: str, default: str | None = None) -> str:
    """A coordinate system parameter (422 naming it when unknown)."""
    value = (req.param(name, required=default is None) or default or "").lower().replace("-", "")
    if value not in SYSTEMS:
        raise BuiltinError(422, "validation_failed", f"'{name}' must be one of {', '.join(SYSTEMS)}", name)
    return value


def _point(req: BuiltinRequest) -> dict[str, Any]:
    source, target = system(req, "from"), system(req, "to")
    lng, lat = req.number("lng", -180, 180), req.number("lat", -90, 90)
    x, y = convert(lng, lat, source, target)
    return {"lng": round(x, 8), "lat": round(y, 8), "from": source, "to": target}


def _batch(req: BuiltinRequest) -> dict[str, Any]:
    body = req.json_body()
    source, target = system(req, "from"), system(req, "to")
    points = body.get("points")
    if not isinstance(points, list) or len(points) > MAX_POINTS:
        raise BuiltinError(422, "validation_failed", f"'points' must be a list of at most {MAX_POINTS} [lng, lat]",
                           "points")
    out = []
    for i, p in enumerate(points):
        if (not isinstance(p, list) or len(p) != 2 or not all(isinstance(v, int | float) for v in p)
                or not (-180 <= p[0] <= 180 and -90 <= p[1] <= 90)):
            raise BuiltinError(422, "validation_failed", f"points[{i}] must be [lng, lat] in degrees", f"points[{i}]")
        x, y = convert(float(p[0]), float(p[1]), source, target)
        out.append([round(x, 8), round(y, 8)])
    return {"from": source, "to": target, "points": out}


class CoordinateConversion:
    """WGS-84 / GCJ-02 / BD-09, one point (GET) or up to 10,000 (POST)."""

    name = "coord-convert"
    title = "Coordinate conversion WGS-84 / GCJ-02 / BD-09"

    def openapi(self) -> dict[str, Any]:
        """GET and POST /convert."""
        params = [("lng", "number", True), ("lat", "number", True), ("from", "string", True), ("to", "string", True)]
        return document(self.title, "坐标转换：WGS-84、GCJ-02、BD-09 之间互转", {"/convert": {
            "get": operation("Convert one point", params),
            "post": operation("Convert up to 10,000 points", [("from", "string", True), ("to", "string", True),
                                                              ("points", "array", True)], "post")}})

    def routes(self) -> Mapping[tuple[str, str], Handler]:
        """The routing table."""
        return {("GET", "convert"): _point, ("POST", "convert"): _batch}
