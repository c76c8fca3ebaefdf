"""The 自然资源和空间地理 base database carries geometry (issue 20): validated GeoJSON with a bounding box, place
lookups by box and by distance, the same on SQLite and PostgreSQL without PostGIS, permission-checked and audited
(with PostGIS: test_base_postgis.py)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from cityhub.core.models import AuditEntry
from cityhub.data import service
from cityhub.data.base import geo
from cityhub.data.base.schemas import BaseFeedSet
from cityhub.data.collection.schemas import JobCreate, SourceCreate
from cityhub.kit.errors import Forbidden, ValidationFailed
from tests.data.helpers import published_entry
from tests.data.test_collection import var  # noqa: F401  # var is a fixture

GEO_ITEMS: list[dict[str, Any]] = [
    {"name_cn": "地名代码", "name_en": "place_code", "data_type": "C", "length": 20, "required": True},
    {"name_cn": "名称", "name_en": "name", "data_type": "C", "length": 60, "required": True},
    {"name_cn": "几何", "name_en": "geometry", "data_type": "G"},
]
GEO_MAPPING = {"place_code": "dm", "name": "mc", "geometry": "jh"}


def _point(lon: float, lat: float) -> str:
    return json.dumps({"type": "Point", "coordinates": [lon, lat]})


def _square(lon: float, lat: float, d: float) -> str:
    return json.dumps({"type": "Polygon", "coordinates": [[[lon, lat], [lon + d, lat], [lon + d, lat + d],
                                                           [lon, lat + d], [lon, lat]]]})


JIEFANGBEI = _point(106.5779, 29.5577)  # 解放碑, 渝中区
PARK = _square(106.52, 29.54, 0.02)  # a park south-west of it, about 2.5 km away at its nearest corner
BOWTIE = json.dumps({"type": "Polygon", "coordinates": [[[106.0, 29.0], [106.1, 29.1], [106.1, 29.0], [106.0, 29.1],
                                                         [106.0, 29.0]]]})
WANZHOU = _point(108.4085, 30.8078)
PLACES = [(1, "P001", "解放碑", JIEFANGBEI), (2, "P002", "鹅岭公园", PARK), (3, "P003", "错误的面", BOWTIE),
          (4, "P004", "坏文本", "not json"), (5, "P005", "万州", WANZHOU), (6, "P006", "没有几何", None)]


def test_parse_keeps_valid_geojson_and_names_what_is_wrong() -> None:
    g = geo.parse(PARK)
    assert g.bbox == pytest.approx((106.52, 29.54, 106.54, 29.56))
    feature = geo.parse(json.dumps({"type": "Feature", "properties": {}, "geometry": json.loads(JIEFANGBEI)}))
    assert json.loads(feature.geojson) == json.loads(JIEFANGBEI)
    bad = {"not json": "not_json", '{"type": "Circle", "coordinates": [1, 2]}': "not_geojson", "[1, 2]": "not_geojson",
           '{"type": "Point", "coordinates": [1]}': "not_geojson", '{"type": "Polygon", "coordinates": []}': "empty",
           _point(200, 10): "out_of_range", _point(10, -95): "out_of_range", BOWTIE: "invalid"}
    for text, code in bad.items():
        with pytest.raises(geo.Invalid) as e:
            geo.parse(text)
        assert e.value.code == code, text
    assert "Self-intersection" in _reason(BOWTIE)
    assert geo.distance_m(geo.load(geo.parse(PARK).geojson), 106.53, 29.55) == 0  # inside
    assert 950 < geo.distance_m(geo.load(JIEFANGBEI), 106.5779, 29.5487) < 1050  # 0.009° of latitude ≈ 1 km


def _reason(text: str) -> str:
    try:
        geo.parse(text)
    except geo.Invalid as e:
        return e.detail
    return ""


def _geo_feed(world: Any, rows: list[tuple[Any, ...]] = PLACES) -> Any:
    """Unit A's place register (a SQLite table with a GeoJSON column) feeding the geo base database, synced."""
    from cityhub.data.collection import connectors
    from tests.data.helpers import bureau_setup

    bureau_setup(world)
    folder = connectors.sources_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "places.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE places (seq INTEGER, dm TEXT, mc TEXT, jh TEXT)")
    con.executemany("INSERT INTO places VALUES (?, ?, ?, ?)", rows)
    con.commit()
    con.close()
    a = world.actors["org_member_a"]
    entry = published_entry(world, title="地名地址", items=GEO_ITEMS, org="dept_a")
    source = service.sync_source_create(world.session, a, SourceCreate(
        org_id=world.orgs["dept_a"].id, name="places", kind="database", url=f"sqlite:///{path}"))
    job = service.sync_job_create(world.session, a, JobCreate(
        name="job-places", source_id=source.id, entry_id=entry.id, query="places", mapping=GEO_MAPPING,
        key=["place_code"]))
    service.base_feed_set(world.session, world.actors["bureau_member"], BaseFeedSet(
        base_db="geo", entry_id=entry.id, key_item="place_code", priority=1))
    assert service.sync_job_run(world.session, a, job.id).status == "succeeded"
    return entry


CITY = (105.0, 28.0, 110.5, 32.5)
YUZHONG = (106.50, 29.50, 106.60, 29.60)


def test_geo_golden_records_keep_valid_geometry_and_reject_the_rest(world: Any, var: Path) -> None:  # noqa: F811  # `var` is the fixture imported above
    _geo_feed(world)
    bureau = world.actors["bureau_member"]
    stats = service.base_merge(world.session, bureau, "geo")
    assert stats["records"] == 6 and stats["rejected"] == 2
    # the shared test databases never have the extension (tests/data/test_base_postgis.py makes its own): every test
    # here takes the bounding-box path
    assert not geo.has_postgis(world.session)
    park = service.base_record_get(world.session, bureau, "geo", "P002")
    assert park.geojson is not None and park.geojson["type"] == "Polygon"
    bowtie = service.base_record_get(world.session, bureau, "geo", "P003")
    assert "geometry" not in bowtie.fields and bowtie.geojson is None and bowtie.fields["name"] == "错误的面"
    assert bowtie.provenance["geometry"]["rejected"] == "invalid"
    assert "Self-intersection" in bowtie.provenance["geometry"]["detail"]
    assert service.base_record_get(world.session, bureau, "geo", "P004").provenance["geometry"]["rejected"] == \
        "not_json"
    nothing = service.base_record_get(world.session, bureau, "geo", "P006")
    assert nothing.geojson is None and "geometry" not in nothing.provenance


def test_place_lookups_by_box_and_by_distance(world: Any, var: Path) -> None:  # noqa: F811  # `var` is the fixture imported above
    _geo_feed(world)
    a = world.actors["org_member_a"]
    assert [r.key for r in service.base_geo_search(world.session, a, bbox=CITY)] == ["P001", "P002", "P005"]
    # the park's box meets Yuzhong's; the rejected bow-tie and the record without geometry are never found
    assert [r.key for r in service.base_geo_search(world.session, a, bbox=YUZHONG)] == ["P001", "P002"]
    assert service.base_geo_search(world.session, a, bbox=(106.53, 29.57, 106.57, 29.60)) == []  # between them
    near = service.base_geo_search(world.session, a, near=(106.5779, 29.5577, 5000))
    assert [r.key for r in near] == ["P001", "P002"]  # nearest first
    assert [r.key for r in service.base_geo_search(world.session, a, near=(106.5779, 29.5577, 2000))] == ["P001"]
    assert [r.key for r in service.base_geo_search(world.session, a, near=(106.53, 29.55, 10))] == ["P002"]  # inside
    assert len(service.base_geo_search(world.session, a, bbox=CITY, limit=1)) == 1
    one = service.base_geo_search(world.session, a, bbox=YUZHONG)[0]
    assert one.geojson == json.loads(JIEFANGBEI) and one.fields["name"] == "解放碑"
    assert world.session.query(AuditEntry).filter_by(action="base_geo_search").count() == 8
    for kwargs, field in (({"bbox": (107.0, 29.0, 106.0, 30.0)}, "max_lon"), ({"bbox": (106.0, 31.0, 107.0, 30.0)},
                                                                                 "max_lat"),
                          ({"near": (106.5, 29.5, 0)}, "radius_m"), ({"near": (106.5, 29.5, 60_000)}, "radius_m"),
                          ({"near": (190.0, 29.5, 10)}, "lon"), ({"near": (106.5, 91.0, 10)}, "lat"), ({}, "bbox")):
        with pytest.raises(ValidationFailed) as e:
            service.base_geo_search(world.session, a, **kwargs)
        assert e.value.details[0]["field"] == field


def test_triangle_inside_the_box_of_a_search_but_outside_the_search(world: Any, var: Path) -> None:  # noqa: F811  # `var` is the fixture imported above
    """The bounding box only prefilters: a triangle whose box meets the search box but whose area does not is not
    found (the exact test is shapely's, the same on every database)."""
    triangle = json.dumps({"type": "Polygon", "coordinates": [[[106.0, 29.0], [106.2, 29.0], [106.0, 29.2],
                                                               [106.0, 29.0]]]})
    _geo_feed(world, [(1, "T1", "三角", triangle)])
    a = world.actors["org_member_a"]
    assert service.base_geo_search(world.session, a, bbox=(106.15, 29.15, 106.2, 29.2)) == []
    assert [r.key for r in service.base_geo_search(world.session, a, bbox=(106.05, 29.05, 106.2, 29.2))] == ["T1"]
    assert service.base_geo_search(world.session, a, near=(106.2, 29.2, 14_000)) == []  # 14.7 km from the hypotenuse
    assert [r.key for r in service.base_geo_search(world.session, a, near=(106.2, 29.2, 15_000))] == ["T1"]


def test_place_lookup_permissions(world: Any, var: Path) -> None:  # noqa: F811  # `var` is the fixture imported above
    """The feeding unit and the bureau look places up; another unit without a grant and anonymous callers are
    refused; a grantee whose grant covers the geometry item reads through it, charged per record returned."""
    from cityhub.core.actor import Actor
    from cityhub.data.models import AccessLog
    from tests.data.helpers import active_grant

    entry = _geo_feed(world)
    for who in ("org_member_a", "bureau_member", "platform_admin"):
        assert len(service.base_geo_search(world.session, world.actors[who], bbox=CITY)) == 3, who
    for actor in (world.actors["org_member_b"], world.actors["district_admin"], Actor.anonymous()):
        with pytest.raises(Forbidden):
            service.base_geo_search(world.session, actor, bbox=CITY)
    b = world.actors["org_member_b"]
    active_grant(world, entry, items=["place_code", "name"])
    with pytest.raises(Forbidden):  # a grant without the geometry item tells nothing of where
        service.base_geo_search(world.session, b, bbox=CITY)
    grant2, _t2, _r2 = active_grant(world, entry, items=["place_code", "name", "geometry"], quota=2)
    seen = service.base_geo_search(world.session, b, bbox=CITY)
    assert [r.key for r in seen] == ["P001", "P002"]  # two rows of quota left
    assert seen[0].geojson == json.loads(JIEFANGBEI) and set(seen[0].fields) == {"name", "geometry"}
    assert world.session.query(AccessLog).filter_by(grant_id=grant2.id, kind="golden").one().rows == 2
    with pytest.raises(Forbidden):  # the quota is used up
        service.base_geo_search(world.session, b, bbox=CITY)


def test_place_lookup_api_and_geo_page(client: Any, world: Any, var: Path) -> None:  # noqa: F811  # `var` is the fixture imported above
    from tests.web.test_pages import login

    _geo_feed(world)
    url = "/api/v1/data/base/geo/within"
    box = {"min_lon": 106.5, "min_lat": 29.5, "max_lon": 106.6, "max_lat": 29.6}
    r = client.get(url, params=box, headers=world.headers("org_member_a"))
    assert r.status_code == 200 and [x["key"] for x in r.json()] == ["P001", "P002"]
    assert r.json()[1]["geojson"]["type"] == "Polygon"
    assert client.get(url, params=box, headers=world.headers("org_member_b")).status_code == 403
    assert client.get(url, params=box).status_code in (401, 403)
    bad = client.get(url, params={**box, "max_lat": 95}, headers=world.headers("org_member_a"))
    assert bad.status_code == 422 and "max_lat" in bad.text
    swapped = client.get(url, params={**box, "min_lon": 107}, headers=world.headers("org_member_a"))
    assert swapped.status_code == 422 and "max_lon" in swapped.text
    near = client.get("/api/v1/data/base/geo/near", params={"lon": 106.5779, "lat": 29.5577, "radius_m": 5000},
                      headers=world.headers("platform_admin"))
    assert near.status_code == 200 and [x["key"] for x in near.json()] == ["P001", "P002"]
    assert client.get("/api/v1/data/base/geo/near", params={"lon": 106.5, "lat": 29.5, "radius_m": 0},
                      headers=world.headers("platform_admin")).status_code == 422
    login(client, "t-admin")
    page = client.get("/data/base/geo", params={"key": "P003"})
    assert page.status_code == 200 and 'id="base-geo-map"' in page.text and "错误的面" in page.text
    assert '"key": "P002"' in page.text or '"key":"P002"' in page.text  # the park on the map
    assert "自相交" in page.text or "Self-intersection" in page.text  # the rejected geometry says why
    record_table = page.text.split('data-testid="base-record"')[-1].split("</table>")[0]
    assert '"coordinates"' not in record_table  # no raw JSON in the record's table
    population = client.get("/data/base/population")
    assert population.status_code == 200 and "base-geo-map" not in population.text
