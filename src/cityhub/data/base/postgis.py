"""The PostGIS path of the 自然资源和空间地理 base database: a `geom` column, its GiST index, the lookups' SQL.

Used only when the database has the `postgis` extension (an operator's `CREATE EXTENSION postgis`; the platform
never creates it) and `ensure` has run (migration `0039` when the extension was there already; `cityhub data
geo-index` when it came later). `ensure` adds `data_base_record.geom geometry(Geometry, 4326)`, its GiST index, a
trigger that fills it from the GeoJSON text on every insert and every update of `geometry` (one conversion,
`ST_GeomFromGeoJSON`, for writes and the backfill alike), and backfills the rows written before.

Decision 0014: the GeoJSON text and its bounding box stay the record (SQLite and PostgreSQL without PostGIS read
them); `geom` is derived from them. A lookup with the column asks PostGIS which rows can match — the GiST index,
then `ST_DWithin` on the geometry (a box) or on the same local flat projection `geo.distance_m` measures (a
point), both widened by a hair — and shapely decides on those rows as it does on the fallback's bounding-box
candidates, so both paths return the same records in the same order, bit for bit.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import TextClause

from cityhub.data.base import geo

TABLE = "data_base_record"
COLUMN = "geom"
INDEX = "ix_data_base_record_geom"
MISSING_INDEX = "ix_data_base_record_geom_missing"  # rows whose geom is not (yet) filled: normally none
FUNCTION = "data_base_record_geom_fill"
TRIGGER = "data_base_record_geom_fill"
# what Alembic's model comparison leaves alone (migrations/env.py): ours, and the extension's own table
OBJECTS = frozenset({COLUMN, INDEX, MISSING_INDEX, "spatial_ref_sys"})
# how far SQL widens the search beyond the exact answer: rounding of PostGIS's own arithmetic (~1e-9 m at 50 km)
# never drops a row shapely would keep; shapely then decides on the few extra rows
WIDEN_M = 1e-3
WIDEN_DEG = 1e-8

_FILL = f"""
CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.geometry IS NULL THEN
        NEW.{COLUMN} := NULL;
    ELSE
        BEGIN
            NEW.{COLUMN} := ST_SetSRID(ST_GeomFromGeoJSON(NEW.geometry), 4326);
        EXCEPTION WHEN OTHERS THEN
            -- the lookups still find the row through its bounding box (`stragglers`); never fail the write
            RAISE WARNING 'data_base_record %: geometry not converted by PostGIS: %', NEW.id, SQLERRM;
            NEW.{COLUMN} := NULL;
        END;
    END IF;
    RETURN NEW;
END $$
"""


def has_column(conn: Connection) -> bool:
    """Whether `data_base_record.geom` exists (it can only with the extension: dropping PostGIS drops it)."""
    if conn.dialect.name != "postgresql":
        return False
    return conn.scalar(text(
        "SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass(:t) AND attname = :c AND NOT attisdropped"),
        {"t": TABLE, "c": COLUMN}) is not None


def indexed(session: Session) -> bool:
    """Whether place lookups take the PostGIS path in this database."""
    return has_column(session.connection())


def ensure(conn: Connection) -> dict[str, Any]:
    """Add the geometry column, its indexes and its trigger when PostGIS is installed, and backfill; idempotent.

    Returns what it found and did: `postgis` (the extension is there), `added` (the column was created now),
    `backfilled` (rows filled now). Without the extension (or on SQLite) it changes nothing.
    """
    if conn.dialect.name != "postgresql" or conn.scalar(
            text("SELECT 1 FROM pg_extension WHERE extname = 'postgis'")) is None:
        return {"postgis": False, "added": False, "backfilled": 0}
    added = not has_column(conn)
    conn.execute(text(f"ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS {COLUMN} geometry(Geometry, 4326)"))
    conn.execute(text(f"CREATE INDEX IF NOT EXISTS {INDEX} ON {TABLE} USING gist ({COLUMN})"))
    conn.execute(text(f"CREATE INDEX IF NOT EXISTS {MISSING_INDEX} ON {TABLE} (base_db) "
                      f"WHERE {COLUMN} IS NULL AND geometry IS NOT NULL"))
    conn.execute(text(_FILL))
    conn.execute(text(f"DROP TRIGGER IF EXISTS {TRIGGER} ON {TABLE}"))
    conn.execute(text(f"CREATE TRIGGER {TRIGGER} BEFORE INSERT OR UPDATE OF geometry ON {TABLE} "
                      f"FOR EACH ROW EXECUTE FUNCTION {FUNCTION}()"))
    # the backfill goes through the trigger: the same conversion as every write
    backfilled = conn.execute(text(f"UPDATE {TABLE} SET geometry = geometry "
                                   f"WHERE geometry IS NOT NULL AND {COLUMN} IS NULL")).rowcount
    return {"postgis": True, "added": added, "backfilled": int(backfilled or 0)}


def drop(conn: Connection) -> None:
    """Remove what `ensure` added (the migration's downgrade)."""
    if not has_column(conn):
        return
    conn.execute(text(f"DROP TRIGGER IF EXISTS {TRIGGER} ON {TABLE}"))
    conn.execute(text(f"DROP FUNCTION IF EXISTS {FUNCTION}()"))
    conn.execute(text(f"DROP INDEX IF EXISTS {MISSING_INDEX}"))
    conn.execute(text(f"DROP INDEX IF EXISTS {INDEX}"))
    conn.execute(text(f"ALTER TABLE {TABLE} DROP COLUMN IF EXISTS {COLUMN}"))


def unfilled() -> TextClause:
    """Rows whose `geom` is not filled although they have a geometry (read through their bounding-box columns).

    The trigger could not convert the geometry, or a backfill is under way. Normally none (found through a partial
    index); the lookups read them as the fallback does, so no record is ever missed.
    """
    return text(f"{COLUMN} IS NULL")


def meets(box: tuple[float, float, float, float], bbox: tuple[float, float, float, float] | None,
          near: tuple[float, float, float] | None) -> TextClause:
    """The rows that can meet a lookup, by the GiST index and PostGIS's exact test widened by a hair.

    `geom && box` uses the index (`box` is the search box, or `geo.near_box` of the circle); then `ST_DWithin` on
    the geometry (a box lookup, widened by `WIDEN_DEG`) or on `geo.distance_m`'s local flat projection, computed
    from the same numbers (a point lookup, widened by `WIDEN_M`). Shapely then decides on these rows.
    """
    x0, y0, x1, y1 = box
    params: dict[str, float] = {"x0": x0, "y0": y0, "x1": x1, "y1": y1}
    if bbox is not None:
        exact = f"ST_DWithin({COLUMN}, ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326), :widen)"
        params["widen"] = WIDEN_DEG
    else:
        assert near is not None
        lon, lat, radius = near
        kx, ky = geo.local_scale(lat)  # x' = (x - lon)·kx, y' = (y - lat)·ky; the distance to (0, 0)
        params.update(dx=-lon, dy=-lat, kx=kx, ky=ky, r=radius + WIDEN_M)
        exact = (f"ST_DWithin(ST_Scale(ST_Translate({COLUMN}, :dx, :dy), :kx, :ky), "
                 "ST_SetSRID(ST_MakePoint(0, 0), 4326), :r)")
    return text(f"{COLUMN} && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326) AND {exact}").bindparams(**params)
