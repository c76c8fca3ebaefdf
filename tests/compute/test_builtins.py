"""Built-in components on real data: published conversion pairs, the standards' own examples, the shipped outlines."""

from __future__ import annotations

import json
from datetime import date

import pytest

from cityhub.compute.builtins import coords, districts, geocode, idcheck
from cityhub.compute.builtins.base import BuiltinError, BuiltinRequest
from cityhub.compute.builtins.service import run

# WGS-84 → GCJ-02 pairs published with eviltransform (Shanghai, Shenzhen, Beijing): lng, lat, lng, lat
WGS_GCJ = [
    (121.5272106, 31.1774276, 121.531541859215, 31.17530398364597),
    (113.912316, 22.543847, 113.9171764808363, 22.540796131694766),
    (116.377817, 39.911954, 116.38404722455657, 39.91334545536069),
]


@pytest.mark.parametrize(("lng", "lat", "glng", "glat"), WGS_GCJ)
def test_wgs84_to_gcj02_matches_published_pairs_and_inverts(lng: float, lat: float, glng: float, glat: float
                                                            ) -> None:
    got = coords.convert(lng, lat, "wgs84", "gcj02")
    assert got == pytest.approx((glng, glat), abs=1e-9)
    back = coords.convert(glng, glat, "gcj02", "wgs84")
    assert back == pytest.approx((lng, lat), abs=1e-8)  # the iteration inverts to a millimetre


def test_bd09_round_trip_and_a_published_point() -> None:
    # Baidu's point and its GPS position published with eviltransform; the BD-09 formula approximates Baidu's
    # own conversion within about 15 m, so 2e-4° is the honest tolerance
    assert coords.convert(120.019809, 29.199786, "bd09", "wgs84") == pytest.approx(
        (120.00877901149691, 29.196131605295484), abs=2e-4)
    g = (106.5516, 29.5630)
    assert coords.bd09_to_gcj02(*coords.gcj02_to_bd09(*g)) == pytest.approx(g, abs=1e-6)
    assert coords.convert(2.35, 48.85, "wgs84", "gcj02") == (2.35, 48.85)  # Paris: no offset outside China


def test_resident_id_says_what_is_wrong() -> None:
    ok = idcheck.resident_id("11010519491231002X")  # GB 11643's own example
    assert ok["valid"] and ok["birth_date"] == "1949-12-31" and ok["sex"] == "female"
    assert ok["region"]["province"] == "北京市"
    bad = idcheck.resident_id("110105194912310021")
    assert not bad["valid"] and [e["code"] for e in bad["errors"]] == ["check_character"]
    assert bad["check_character"] == {"expected": "X", "given": "1"}
    feb30 = idcheck.resident_id("110105194902300020")
    assert "birth_date" in [e["code"] for e in feb30["errors"]]
    future = idcheck.resident_id(_with_check("11010520990101002"), today=date(2026, 1, 1))
    assert [e["code"] for e in future["errors"]] == ["birth_date"]
    nowhere = idcheck.resident_id(_with_check("99010519491231002"))
    assert [e["code"] for e in nowhere["errors"]] == ["region_unknown"]
    cq = idcheck.resident_id(_with_check("50010319900101123"))
    assert cq["valid"] and cq["region"]["county"] == "渝中区" and cq["sex"] == "male"
    old = idcheck.resident_id(_with_check("50029919900101123"))  # not a current district: a warning only
    assert old["valid"] and [w["code"] for w in old["warnings"]] == ["region_not_current"]
    first = idcheck.resident_id("110105491231002")
    assert first["valid"] and first["birth_date"] == "1949-12-31"
    assert [w["code"] for w in first["warnings"]] == ["first_generation"]
    assert [e["code"] for e in idcheck.resident_id("1234")["errors"]] == ["format"]


def _with_check(body17: str) -> str:
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return body17 + "10X98765432"[sum(int(c) * w for c, w in zip(body17, weights, strict=True)) % 11]


def test_credit_code_says_what_is_wrong() -> None:
    ok = idcheck.credit_code("91350100M000100Y43")  # the example GB 32100 publishes
    assert ok["valid"] and ok["authority"] == "工商" and ok["organisation_code"] == "M000100Y-4"
    bad = idcheck.credit_code("91350100M000100Y44")
    assert [e["code"] for e in bad["errors"]] == ["check_character"]
    assert bad["check_character"] == {"expected": "3", "given": "4"}
    assert [e["code"] for e in idcheck.credit_code("91350100M000100I43")["errors"]] == ["format"]  # no I in it
    org = idcheck.credit_code("91350100M000100Z43".replace("Z", "Y").replace("Y4", "Y5"))
    assert "organisation_code" in [e["code"] for e in org["errors"]]
    assert idcheck.credit_code("Z1350100M000100Y43")["errors"][0]["code"] == "format"


def test_the_shipped_outlines_decode_to_chongqing() -> None:
    index = districts.load()
    assert len(index.districts) == 38
    names = {d.name for d in index.districts}
    assert {"渝中区", "万州区", "渝北区", "城口县", "酉阳土家族苗族自治县"} <= names
    # each district's own label point (`cp` in the file) lies in its decoded outline
    raw = json.loads(next(p for p in districts.CANDIDATES if p.exists()).read_text(encoding="utf-8"))
    labelled = [f for f in raw["features"] if "cp" in f["properties"]]  # 开州区 (renamed in 2016) has none
    inside = sum(1 for f in labelled if (d := index.locate(*f["properties"]["cp"])) and d.code == f["id"])
    assert len(labelled) == inside == 37


def test_reverse_geocoding_known_places() -> None:
    jiefangbei = geocode.locate(106.5770, 29.5574, "wgs84")  # 解放碑, GPS
    assert jiefangbei["district"] == {"code": "500103", "name": "渝中区"}
    airport = geocode.locate(106.6417, 29.7192, "gcj02")  # 江北国际机场
    assert airport["district"]["name"] == "渝北区"
    chengdu = geocode.locate(104.0657, 30.6595, "wgs84")
    assert chengdu["inside"] is False and chengdu["district"] is None


def test_dispatch_and_bad_input() -> None:
    status, body = run("coord-convert", BuiltinRequest("GET", "convert", {"lng": "121.5272106", "lat": "31.1774276",
                                                                          "from": "wgs84", "to": "gcj02"}))
    assert status == 200 and body["lng"] == pytest.approx(121.53154186)
    _s, batch = run("coord-convert", BuiltinRequest("POST", "convert", {}, json.dumps(
        {"from": "wgs84", "to": "bd09", "points": [[121.5272106, 31.1774276]]}).encode()))
    assert len(batch["points"]) == 1
    cases = [
        (BuiltinRequest("GET", "convert", {"lng": "200", "lat": "1", "from": "wgs84", "to": "gcj02"}), 422, "lng"),
        (BuiltinRequest("GET", "convert", {"lng": "1", "lat": "1", "from": "utm", "to": "gcj02"}), 422, "from"),
        (BuiltinRequest("GET", "convert", {"lng": "nan", "lat": "1", "from": "wgs84", "to": "gcj02"}), 422, "lng"),
        (BuiltinRequest("POST", "convert", {"from": "wgs84", "to": "gcj02"}, b'{"points": [[1]]}'), 422,
         "points[0]"),
        (BuiltinRequest("POST", "convert", {}, b"[1"), 422, "body"),
        (BuiltinRequest("GET", "nothing"), 404, None),
        (BuiltinRequest("DELETE", "convert"), 405, None),
    ]
    for req, status, field in cases:
        with pytest.raises(BuiltinError) as exc:
            run("coord-convert", req)
        assert (exc.value.status, exc.value.field) == (status, field), req
    _s, rid = run("id-check", BuiltinRequest("POST", "resident-id", {}, b'{"number": "11010519491231002X"}'))
    assert rid["valid"]
