"""The PostGIS path of the 自然资源和空间地理 base database (decision 0014): the `geom` column exists only where an
operator created the extension, is filled on every write and backfilled, and the lookups through its GiST index
give exactly the fallback's answers (same records, same order) — boundary cases included.

The PostGIS tests run in a scratch database of their own (the extension is created there by the admin role, as an
operator would; never in the shared test database). They skip when the postgis package is not installed, and fail
under CITYHUB_REQUIRE_SERVICES=1, where `make test` (its `postgis` target) installs it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import shapely
import typer
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from cityhub.core.models import AuditEntry
from cityhub.data import service
from cityhub.data.base import geo, postgis
from cityhub.data.models import BaseRecord
from cityhub.kit import clock
from cityhub.kit.db import make_engine
from cityhub.kit.migrate import upgrade
from cityhub.kit.settings import get_settings
from tests.conftest import REQUIRE_SERVICES, World, build_world, drop_pg_database, pg_database
from tests.data.test_base_geo import _geo_feed, _point, _square
from tests.data.test_collection import var  # noqa: F401  # var is a fixture

POSTGIS_CONTROL = Path("/usr/share/postgresql/15/extension/postgis.control")


def _line(*points: tuple[float, float]) -> str:
    return json.dumps({"type": "LineString", "coordinates": [list(p) for p in points]})


def _ring(x0: float, y0: float, x1: float, y1: float) -> list[list[float]]:
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]


BOX = (106.50, 29.50, 106.60, 29.60)
CENTRE = (106.55, 29.55)
R = 3000.0
DLAT = R / 110_574.0  # degrees of latitude of R metres on geo.distance_m's projection
# (key, name, GeoJSON): points, lines and polygons around BOX and around CENTRE, with the boundary cases
SHAPES: list[tuple[str, str, str]] = [
    ("B01", "inside", _point(106.55, 29.55)),
    ("B02", "on the east edge", _point(106.60, 29.57)),
    ("B03", "on the south-west corner", _point(106.50, 29.50)),
    ("B04", "just outside the north edge", _point(106.55, 29.6000001)),
    ("B05", "a line across, no vertex inside", _line((106.45, 29.52), (106.65, 29.52))),
    ("B06", "a line ending on the west edge", _line((106.40, 29.58), (106.50, 29.58))),
    ("B07", "a line whose box meets, not itself", _line((106.63, 29.58), (106.58, 29.63))),
    ("B08", "a square sharing the north edge", _square(106.52, 29.60, 0.02)),
    ("B09", "a square around the whole box", _square(106.40, 29.40, 0.3)),
    ("B10", "the box in a hole", json.dumps({"type": "Polygon", "coordinates": [
        _ring(106.40, 29.40, 106.70, 29.70), _ring(106.45, 29.45, 106.65, 29.65)]})),
    ("B11", "a triangle whose box meets", json.dumps({"type": "Polygon", "coordinates": [
        [[106.59, 29.62], [106.70, 29.62], [106.70, 29.51], [106.59, 29.62]]]})),
    ("B12", "two points, one inside", json.dumps({"type": "MultiPoint", "coordinates": [[107.0, 30.0],
                                                                                        [106.51, 29.51]]})),
    ("B13", "far away", _point(108.4085, 30.8078)),
    ("D01", "R metres north, less a centimetre", _point(CENTRE[0], CENTRE[1] + DLAT - 0.01 / 110_574.0)),
    ("D02", "R metres north, and half a millimetre", _point(CENTRE[0], CENTRE[1] + DLAT + 0.0005 / 110_574.0)),
    ("D03", "R metres north", _point(CENTRE[0], CENTRE[1] + DLAT)),
    ("D04", "east, 1 km", _point(CENTRE[0] + 0.01, CENTRE[1])),
    ("D05", "west, 1 km", _point(CENTRE[0] - 0.01, CENTRE[1])),
    ("D06", "a line passing 2 km south", _line((106.50, CENTRE[1] - 2000 / 110_574.0),
                                              (106.60, CENTRE[1] - 2000 / 110_574.0))),
    ("D07", "a ring around the centre, its hole 1 km wide", json.dumps({"type": "Polygon", "coordinates": [
        _ring(106.53, 29.53, 106.57, 29.57), _ring(106.545, 29.545, 106.555, 29.555)]})),
    ("D08", "the same place as D04 (a tie)", _point(CENTRE[0] + 0.01, CENTRE[1])),
]
LOOKUPS: list[dict[str, Any]] = [
    {"bbox": BOX}, {"bbox": (106.60, 29.57, 106.62, 29.58)}, {"bbox": (106.44, 29.46, 106.64, 29.64)},
    {"bbox": (106.0, 29.0, 106.50, 29.50)}, {"bbox": (106.55, 29.6000001, 106.56, 29.61)},
    {"bbox": (100.0, 20.0, 110.0, 35.0)}, {"bbox": (106.62, 29.60, 106.63, 29.61)},
    {"near": (*CENTRE, R)}, {"near": (*CENTRE, 1000.0)}, {"near": (*CENTRE, 950.0)}, {"near": (*CENTRE, 2100.0)},
    {"near": (106.60, 29.57, 10.0)}, {"near": (106.53, 29.55, 1.0)}, {"near": (106.55, 29.55, 50_000.0)},
    {"near": (106.70, 29.61, 500.0)},
]


def need_postgis() -> None:
    """Skip (fail under CITYHUB_REQUIRE_SERVICES=1) when the postgis package is not installed."""
    if not POSTGIS_CONTROL.exists():
        if REQUIRE_SERVICES:
            pytest.fail("the postgis package is missing (make postgis installs it) and CITYHUB_REQUIRE_SERVICES=1")
        pytest.skip("the postgis package (postgresql-15-postgis-3) is not installed")


def _create_extension(url: str) -> None:
    """What an operator does: `CREATE EXTENSION postgis` as a superuser, in this database only."""
    admin = create_engine(make_url(get_settings().test_postgres_url).set(database=make_url(url).database),
                          isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
    admin.dispose()


@pytest.fixture(scope="module")
def postgis_url() -> Iterator[str]:
    """A scratch database with the extension, migrated afterwards (migration 0039 adds the column)."""
    need_postgis()
    url = pg_database("cityhub_postgis")
    try:
        _create_extension(url)
        upgrade(url)
        yield url
    finally:
        drop_pg_database(str(make_url(url).database))


@pytest.fixture
def pg_world(postgis_url: str) -> Iterator[World]:
    """The small city in the PostGIS database, inside a transaction rolled back after the test."""
    engine = make_engine(postgis_url)
    conn = engine.connect()
    outer = conn.begin()
    session: Session = sessionmaker(bind=conn, expire_on_commit=False, join_transaction_mode="create_savepoint")()
    try:
        yield build_world(session)
    finally:
        clock.set_now(None)
        session.close()
        outer.rollback()
        conn.close()
        engine.dispose()


def _feed(world: World) -> None:
    _geo_feed(world, [(i, key, name, gj) for i, (key, name, gj) in enumerate(SHAPES, 1)])
    stats = service.base_merge(world.session, world.actors["bureau_member"], "geo")
    assert stats["records"] == len(SHAPES) and stats["rejected"] == 0


def _geom_matches(session: Session) -> dict[str, bool]:
    """Per record: whether its `geom` is exactly the geometry of its GeoJSON text (shapely's WKB)."""
    rows = session.execute(text("SELECT key, geometry, ST_AsBinary(geom), ST_SRID(geom) FROM data_base_record "
                                "WHERE base_db = 'geo'")).all()
    return {key: gj is not None and wkb is not None and srid == 4326
            and shapely.from_wkb(bytes(wkb)).equals_exact(geo.load(gj), 0) for key, gj, wkb, srid in rows}


def test_migration_adds_the_column_and_every_write_fills_it(pg_world: World, var: Path) -> None:  # noqa: F811  # `var` is the fixture imported above
    s = pg_world.session
    assert postgis.indexed(s) and geo.has_postgis(s)
    indexes = {i["name"] for i in inspect(s.connection()).get_indexes("data_base_record")}
    assert {postgis.INDEX, postgis.MISSING_INDEX} <= indexes
    _feed(pg_world)
    assert all(_geom_matches(s).values())
    park = s.query(BaseRecord).filter_by(base_db="geo", key="B09").one()
    park.geometry = geo.parse(_point(106.7, 29.7)).geojson  # what a merge writes when a feed's geometry changes
    s.flush()
    assert _geom_matches(s)["B09"]
    park.geometry = None
    s.flush()
    assert s.scalar(text("SELECT geom FROM data_base_record WHERE id = :i"), {"i": park.id}) is None
    assert postgis.ensure(s.connection()) == {"postgis": True, "added": False, "backfilled": 0}  # idempotent


def _geo_index(session: Session, monkeypatch: pytest.MonkeyPatch) -> Any:
    """`cityhub data geo-index` on the test's session."""
    from cityhub.data import cli
    from tests.data.test_collection import _SameSession

    monkeypatch.setattr(cli, "_db", lambda: _SameSession(session))
    app = typer.Typer()
    cli.register(app)
    return CliRunner().invoke(app, ["data", "geo-index"])


def test_backfill_when_the_extension_came_after_the_records(pg_world: World, var: Path,  # noqa: F811  # `var` is the fixture imported above
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    s = pg_world.session
    postgis.drop(s.connection())  # as if the records had been written before the extension
    assert not postgis.indexed(s)
    _feed(pg_world)
    out = _geo_index(s, monkeypatch)
    assert out.exit_code == 0 and f"geo index added: {len(SHAPES)} records backfilled" in out.output, out.output
    assert postgis.indexed(s) and all(_geom_matches(s).values())
    out = _geo_index(s, monkeypatch)
    assert out.exit_code == 0 and "geo index present: 0 records backfilled" in out.output, out.output


def _answers(world: World, who: str = "org_member_a") -> list[list[tuple[str, Any]]]:
    out = []
    for lookup in LOOKUPS:
        found = service.base_geo_search(world.session, world.actors[who], **lookup)
        out.append([(r.key, r.geojson) for r in found])
    return out


def test_postgis_and_fallback_lookups_give_the_same_answers(pg_world: World, var: Path,  # noqa: F811  # `var` is the fixture imported above
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    s = pg_world.session
    _feed(pg_world)
    used: list[str] = []
    meets = postgis.meets

    def spy(*args: Any) -> Any:
        used.append("postgis")
        return meets(*args)

    monkeypatch.setattr(postgis, "meets", spy)
    with_postgis = {who: _answers(pg_world, who) for who in ("org_member_a", "bureau_member")}
    assert len(used) == 2 * len(LOOKUPS)  # every lookup went through the GiST index
    monkeypatch.setattr(postgis, "indexed", lambda session: False)
    fallback = {who: _answers(pg_world, who) for who in ("org_member_a", "bureau_member")}
    assert len(used) == 2 * len(LOOKUPS)
    assert with_postgis == fallback
    keys = [[k for k, _g in found] for found in fallback["org_member_a"]]
    # edges and corners meet; the box in a hole, and the line and triangle whose boxes meet the box's, do not
    assert keys[0] == ["B01", "B02", "B03", "B05", "B06", "B08", "B09", "B12", "D01", "D02", "D03", "D04", "D05",
                       "D06", "D07", "D08"]
    assert "B10" in keys[2] and keys[3] == ["B03", "B09", "B10"] and keys[4] == ["B04", "B09"]
    assert keys[7][:3] == ["B01", "B09", "D07"]  # inside (0 m) by key, then the ring's hole edge (~480 m)
    assert set(keys[7][3:6]) == {"D04", "D05", "D08"} and keys[7].index("D04") < keys[7].index("D08")  # ties: by key
    assert "D01" in keys[7] and "D02" not in keys[7]  # half a millimetre beyond R: not found either way
    assert set(keys[8]) == {"B01", "B09", "D04", "D05", "D07", "D08"} and keys[9] == ["B01", "B09", "D07"]
    assert keys[10][-1] == "D06" and keys[11] == ["B02", "B09"] and keys[12] == ["B09", "D07"]  # on a boundary
    assert "B13" not in keys[13] and keys[14] == ["B09", "B10", "B11"]
    assert s.query(AuditEntry).filter_by(action="base_geo_search").count() == 4 * len(LOOKUPS)
    for lookup, found in zip(LOOKUPS, keys, strict=True):  # PostGIS's own answer is exact but for the hairline
        bbox, near = lookup.get("bbox"), lookup.get("near")
        box = bbox or geo.near_box(*(near or ()))
        sql = set(s.scalars(select(BaseRecord.key).where(BaseRecord.base_db == "geo", postgis.meets(box, bbox, near))))
        assert sql - set(found) == ({"D02"} if near and near[2] == R else set()), lookup
        assert set(found) <= sql


def test_a_record_postgis_could_not_fill_is_still_found(pg_world: World, var: Path,  # noqa: F811  # `var` is the fixture imported above
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A row whose `geom` is empty (a failed conversion, a backfill under way) is read through its bounding box."""
    s = pg_world.session
    _feed(pg_world)
    s.execute(text("UPDATE data_base_record SET geom = NULL WHERE base_db = 'geo' AND key IN ('B02', 'D04')"))
    with_postgis = _answers(pg_world)
    monkeypatch.setattr(postgis, "indexed", lambda session: False)
    assert with_postgis == _answers(pg_world)
    assert "B02" in [k for k, _g in with_postgis[0]] and "D04" in [k for k, _g in with_postgis[7]]


def test_the_lookup_uses_the_gist_index(pg_world: World, var: Path) -> None:  # noqa: F811  # `var` is the fixture imported above
    s = pg_world.session
    _feed(pg_world)
    s.execute(text("SET LOCAL enable_seqscan = off"))
    for clause in (postgis.meets(BOX, BOX, None), postgis.meets(geo.near_box(*CENTRE, R), None, (*CENTRE, R))):
        sql = str(clause.compile(s.get_bind(), compile_kwargs={"literal_binds": True}))
        plan = "\n".join(s.scalars(text(f"EXPLAIN SELECT id FROM data_base_record WHERE {sql}")))
        assert postgis.INDEX in plan, plan


def test_without_the_extension_nothing_changes(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """The shared test databases (SQLite, PostgreSQL without the extension): no column, the fallback path."""
    s = world.session
    assert postgis.ensure(s.connection()) == {"postgis": False, "added": False, "backfilled": 0}
    assert not postgis.indexed(s)
    assert "geom" not in {c["name"] for c in inspect(s.connection()).get_columns("data_base_record")}
    out = _geo_index(s, monkeypatch)
    assert out.exit_code == 1 and "CREATE EXTENSION postgis" in out.output, out.output
    assert postgis.ensure(s.connection()) == {"postgis": False, "added": False, "backfilled": 0}


@pytest.mark.filterwarnings("ignore:Did not recognize type 'geometry'")  # SQLAlchemy has no PostGIS types
def test_models_match_migrations_with_postgis_but_for_its_own_objects(postgis_url: str) -> None:
    """Autogenerate leaves the PostGIS column and indexes alone (migrations/env.py's `include_object`)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from cityhub.kit.models_registry import load_all_models

    def include(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
        return not (reflected and compare_to is None and name in postgis.OBJECTS)

    engine = make_engine(postgis_url)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True, "include_object": include})
        assert compare_metadata(ctx, load_all_models()) == []
        assert postgis.has_column(conn)
    engine.dispose()


def test_the_migration_goes_down_and_up(postgis_url: str) -> None:
    from alembic import command

    from cityhub.kit.migrate import alembic_config

    engine = make_engine(postgis_url)
    try:
        command.downgrade(alembic_config(postgis_url), "0038")
        with engine.connect() as conn:
            assert not postgis.has_column(conn)
            assert conn.scalar(text("SELECT count(*) FROM pg_proc WHERE proname = :f"), {"f": postgis.FUNCTION}) == 0
    finally:
        upgrade(postgis_url)
    with engine.connect() as conn:
        assert postgis.has_column(conn)
    engine.dispose()
