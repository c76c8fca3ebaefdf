"""Geometry of the 自然资源和空间地理 base database: validating GeoJSON, bounding boxes, distances.

A feed of the geo base database gives a record's geometry in its item named `geometry` (GeoJSON text in WGS 84
longitude/latitude, usually of data type 通用型 "G" or 备注型 "M", which the datastore keeps as text). The merge keeps
a golden record's geometry only when shapely reads it as a valid geometry inside the coordinate ranges; otherwise
the field is dropped from the record and its provenance says why (`Invalid.code`). Stored as compact GeoJSON text
plus its bounding box (`BaseRecord.geometry`, `min_x` … `max_y`), so a place lookup prefilters on the box in SQL on
SQLite and PostgreSQL alike and decides exactly with shapely. Where PostGIS is installed the candidates come from its
GiST index instead (`base/postgis.py`, decision 0014) and shapely still decides: the same answer either way.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import shapely
from shapely import ops
from shapely.geometry import Point, mapping, shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity
from sqlalchemy import text
from sqlalchemy.orm import Session

from cityhub.kit import safejson
from cityhub.kit.db import is_postgres
from cityhub.kit.errors import ValidationFailed

GEOMETRY_ITEM = "geometry"
KINDS = ("Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon")
MAX_RADIUS_M = 50_000
_M_PER_DEG_LAT = 110_574.0
_M_PER_DEG_LON = 111_320.0


class Invalid(ValueError):
    """A geometry the golden record cannot keep: `code` (not_json, not_geojson, empty, out_of_range, invalid)."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code, self.detail = code, detail


@dataclass(frozen=True)
class Geometry:
    """A validated geometry: compact GeoJSON text and its bounding box (min_x, min_y, max_x, max_y)."""

    geojson: str
    bbox: tuple[float, float, float, float]


def parse(value: str) -> Geometry:
    """The geometry a GeoJSON text holds (a bare geometry or a Feature), or `Invalid` saying why not."""
    try:
        obj = safejson.loads(value, field=GEOMETRY_ITEM)
    except ValidationFailed as e:
        raise Invalid("not_json", str((e.details or [{}])[0].get("message") or e)[:200]) from None
    if isinstance(obj, dict) and obj.get("type") == "Feature":
        obj = obj.get("geometry")
    if not isinstance(obj, dict) or obj.get("type") not in KINDS:
        raise Invalid("not_geojson", str(obj.get("type") if isinstance(obj, dict) else type(obj).__name__)[:60])
    try:
        geom = shape(obj)
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, shapely.errors.ShapelyError) as e:
        raise Invalid("not_geojson", str(e)[:200]) from None
    if geom.is_empty:
        raise Invalid("empty")
    min_x, min_y, max_x, max_y = geom.bounds
    if not all(math.isfinite(v) for v in geom.bounds) or min_x < -180 or max_x > 180 or min_y < -90 or max_y > 90:
        raise Invalid("out_of_range", f"{min_x:g},{min_y:g},{max_x:g},{max_y:g}")
    if not geom.is_valid:
        raise Invalid("invalid", explain_validity(geom)[:200])
    return Geometry(json.dumps(mapping(geom), separators=(",", ":")), (min_x, min_y, max_x, max_y))


def load(geojson: str) -> BaseGeometry:
    """A stored (validated) geometry as shapely's."""
    return shape(json.loads(geojson))


def near_box(lon: float, lat: float, radius_m: float) -> tuple[float, float, float, float]:
    """The bounding box of the circle of radius_m metres around (lon, lat): the SQL prefilter of `near`."""
    dy = radius_m / _M_PER_DEG_LAT
    dx = radius_m / (_M_PER_DEG_LON * max(math.cos(math.radians(min(abs(lat) + dy, 89.9))), 1e-6))
    return lon - dx, lat - dy, lon + dx, lat + dy


def local_scale(lat: float) -> tuple[float, float]:
    """Metres per degree of longitude and of latitude of `distance_m`'s flat projection around latitude `lat`."""
    return _M_PER_DEG_LON * math.cos(math.radians(lat)), _M_PER_DEG_LAT


def distance_m(geom: BaseGeometry, lon: float, lat: float) -> float:
    """Metres from (lon, lat) to the geometry's nearest point (0 inside it), on a local flat projection.

    Good to well under 1 % within the 50 km a lookup allows; no projection library needed.
    """
    kx, ky = local_scale(lat)

    def project(x: Any, y: Any, z: Any = None) -> tuple[Any, ...]:
        return (x - lon) * kx, (y - lat) * ky

    local = ops.transform(project, geom)
    return float(local.distance(Point(0, 0)))


def has_postgis(session: Session) -> bool:
    """Whether the PostGIS extension is installed in this PostgreSQL database (never on SQLite).

    The lookups use it once `postgis.ensure` has given the table its column (`postgis.indexed`); the results are the
    same either way.
    """
    if not is_postgres(session):
        return False
    return session.scalar(text("SELECT 1 FROM pg_extension WHERE extname = 'postgis'")) is not None
