"""Evaluation and register pages: the bureau computes, adjusts and freezes through the forms; a unit's staff see
the ranking and only their own scorecard; the CSV import shows each bad row and writes nothing; zh-CN and English."""

from __future__ import annotations

import io
import json
import re
from typing import Any

from fastapi.testclient import TestClient
from openpyxl import load_workbook

from cityhub.apply import service as apply
from cityhub.cloud import service as cloud
from cityhub.cloud.schemas import SystemCreate
from cityhub.core.actor import Actor
from cityhub.kit.pagination import PageParams
from tests.apply.test_pages import _csrf, _login
from tests.compute.helpers import bureau_setup

SYSTEM = Actor.system("test")
HEADER = "carrier,site_code,district,address,lon,lat,band,status,commissioned_on\n"


def _data(html: str) -> Any:
    m = re.search(r'id="page-data">(.*?)</script>', html, re.S)
    assert m, "no page data"
    return json.loads(m.group(1))


def test_the_bureau_runs_adjusts_and_freezes_and_units_see_their_own(client: TestClient, world: Any) -> None:
    bureau_setup(world)
    assert apply.evaluation.scheme_seed(world.session, SYSTEM) == 2
    cloud.system_create(world.session, SYSTEM, SystemCreate(org_id=world.orgs["dept_a"].id, name="甲一",
                                                            hosting="cloud", integrated=True))
    world.session.commit()
    _login(client, "t-admin")
    page = client.get("/apply/evaluation").text
    assert "市级部门年度评比" in page and "上云率" in page and 'data-testid="run-form"' in page
    dept = next(s for s in apply.evaluation.scheme_list(world.session, SYSTEM) if s.code == "dept-annual")
    r = client.post("/apply/evaluation/runs", data={"csrf_token": _csrf(page), "scheme_id": str(dept.id),
                                                     "year": "2026"}, follow_redirects=False)
    assert r.status_code == 303 and "/apply/evaluation/runs/" in r.headers["location"]
    run_url = r.headers["location"].split("?")[0]
    html = client.get(run_url).text
    chart = _data(html)
    assert chart["names"][-1] == "甲局"  # first rank, drawn on top
    assert 'data-testid="adjust-form"' in html and "report.xlsx" in html
    b = world.orgs["dept_b"].id
    r = client.post(f"{run_url}/adjust", data={"csrf_token": _csrf(html), "org_id": str(b), "bureau_score": "95",
                                               "adjustment": "", "reason": "考核材料齐全"}, follow_redirects=False)
    assert r.status_code == 303 and "msg=" in r.headers["location"]
    r = client.post(f"{run_url}/adjust", data={"csrf_token": _csrf(html), "org_id": str(b), "adjustment": "30",
                                               "reason": "太多"}, follow_redirects=True)
    assert "adjustment" in r.text  # refused, the field named in the message
    xlsx = client.get(f"{run_url}/report.xlsx")
    assert xlsx.status_code == 200
    assert load_workbook(io.BytesIO(xlsx.content)).active.cell(3, 2).value in ("甲局", "乙局")
    client.post(f"{run_url}/freeze", data={"csrf_token": _csrf(html)})
    html = client.get(run_url).text
    assert "已冻结" in html and 'data-testid="adjust-form"' not in html
    r = client.post(f"{run_url}/adjust", data={"csrf_token": _csrf(html), "org_id": str(b), "adjustment": "1",
                                               "reason": "冻结后"}, follow_redirects=True)
    assert "冻结" in r.text
    # a member of dept A: the ranking, a link to A's scorecard only, no bureau forms, no report
    client.cookies.clear()
    _login(client, "t-a-member")
    html = client.get(run_url).text
    a = world.orgs["dept_a"].id
    assert f"/units/{a}" in html and f"/units/{b}" not in html and "adjust-form" not in html
    assert client.get(f"{run_url}/report.xlsx").status_code == 403
    card = client.get(f"{run_url}/units/{a}").text
    radar = _data(card)
    assert 0 < len(radar["indicators"]) <= 8 and 'data-testid="breakdown"' in card and "上云率" in card
    assert client.get(f"{run_url}/units/{b}").status_code == 404
    assert "评比" in client.get("/apply/evaluation").text and "我的评分卡" in client.get("/apply/evaluation").text
    client.cookies.set("cityhub_lang", "en")
    assert "Annual evaluation" in client.get("/apply/evaluation").text
    assert "Indicators" in client.get(f"{run_url}/units/{a}").text


def test_station_import_shows_every_bad_row_and_writes_nothing(client: TestClient, world: Any) -> None:
    world.session.commit()
    _login(client, "t-admin")
    page = client.get("/apply/stations").text
    assert 'data-testid="density-map"' in page and 'data-testid="import-form"' in page
    bad = HEADER + "cmcc,S1,丙区,,,,n41,active,2026-01-01\nxyz,S2,丙区,,,,n41,planned,\ncmcc,S3,丙区,,,,n99,planned,\n"
    r = client.post("/apply/stations/import", data={"csrf_token": _csrf(page)},
                    files={"file": ("r.csv", bad.encode(), "text/csv")})
    assert r.status_code == 422 and 'data-testid="import-errors"' in r.text
    assert ">3<" in r.text and ">4<" in r.text and "carrier" in r.text and "band" in r.text
    assert apply.stations.station_list(world.session, SYSTEM, PageParams(limit=1))[1] == 0
    good = HEADER + "cmcc,S1,丙区,解放碑,,,n41,active,2026-01-01\nctcc,S2,t-district,,,,n78,building,\n"
    r = client.post("/apply/stations/import", data={"csrf_token": _csrf(page)},
                    files={"file": ("r.csv", good.encode(), "text/csv")}, follow_redirects=False)
    assert r.status_code == 303
    page = client.get("/apply/stations").text
    assert _data(page)["districts"] == [{"name": "丙区", "value": 1}]
    assert "中国移动" in page and "建设中" in page
    r = client.post("/apply/links", data={"csrf_token": _csrf(page), "name": "渝蓉直联", "kind": "direct_city",
                                          "endpoint_a": "重庆", "endpoint_b": "成都", "capacity_gbps": "100",
                                          "status": "active", "commissioned_on": "2026-02-01"},
                    follow_redirects=False)
    assert r.status_code == 303 and "msg=" in r.headers["location"]
    r = client.post("/apply/links", data={"csrf_token": _csrf(page), "name": "坏的", "kind": "direct_city",
                                          "endpoint_a": "重庆", "endpoint_b": "成都", "capacity_gbps": "很多"},
                    follow_redirects=True)
    assert "capacity_gbps" in r.text
    page = client.get("/apply/stations").text
    assert "渝蓉直联" in page and "省际直联" in page and "坏的" not in page
    client.cookies.clear()
    _login(client, "t-b-member")
    page = client.get("/apply/stations").text
    assert "import-form" not in page and "S1" in page
    r = client.post("/apply/stations/import", data={"csrf_token": _csrf(page)},
                    files={"file": ("r.csv", good.encode(), "text/csv")})
    assert r.status_code == 403
