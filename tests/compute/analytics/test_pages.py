"""Saved-analysis pages: save through the form (a refused SQL is a flash message), run, see rows, chart data, CSV."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cityhub.kit.settings import get_settings
from tests.compute.analytics.helpers import synthetic_lake
from tests.conftest import PASSWORD

HTML = {"Accept": "text/html"}


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no CSRF token in the page"
    return m.group(1)


def _login(client: TestClient, username: str) -> None:
    r = client.post("/login", data={"username": username, "password": PASSWORD,
                                    "csrf_token": _csrf(client.get("/login").text)}, follow_redirects=False)
    assert r.status_code == 303


def test_save_run_and_chart_an_analysis_through_the_pages(client: TestClient, world: Any, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "var_dir", tmp_path)
    synthetic_lake(tmp_path / "lake")
    _login(client, "t-admin")
    page = client.get("/compute/analyses", headers=HTML)
    assert page.status_code == 200 and 'data-testid="no-analyses"' in page.text
    csrf = _csrf(page.text)
    org = str(world.orgs["dept_a"].id)
    bad = client.post("/compute/analyses", data={"csrf_token": csrf, "org_id": org, "name": "坏", "chart": "bar",
                                                 "sql": "DELETE FROM telemetry"}, follow_redirects=False)
    assert bad.status_code == 303 and "msg=" in bad.headers["location"]
    assert 'data-testid="no-analyses"' in client.get("/compute/analyses", headers=HTML).text  # nothing saved
    ok = client.post("/compute/analyses", data={
        "csrf_token": csrf, "org_id": org, "name": "每日点数", "chart": "bar",
        "sql": "SELECT day, count(*) AS points FROM telemetry GROUP BY day ORDER BY day"}, follow_redirects=False)
    assert ok.status_code == 303 and "/compute/analyses/" in ok.headers["location"]
    url = ok.headers["location"].split("?")[0]
    run = client.post(f"{url}/run", data={"csrf_token": csrf, "max_rows": "100", "timeout_s": "30"},
                      follow_redirects=False)
    assert run.status_code == 303 and "run=" in run.headers["location"]
    html = ""
    for _ in range(100):  # the run is a job: the page follows it
        html = client.get(run.headers["location"], headers=HTML).text
        if 'data-testid="result"' in html:
            break
    assert 'data-testid="chart"' in html and 'data-testid="csv"' in html
    data = json.loads(re.search(r'id="page-data">(.*?)</script>', html, re.S).group(1))  # type: ignore[union-attr]  # asserted just above
    assert data["chart"] == "bar" and data["columns"] == ["day", "points"]
    assert [r[1] for r in data["records"]] == [6 * 49, 6 * 49, 6 * 49]  # 6 devices × (24 + 24 + 1) a day
    csv_url = re.search(r'href="(/api/v1/compute/analyses/runs/[^"]+/csv)"', html).group(1)  # type: ignore[union-attr]  # the link is there
    assert client.get(csv_url).text.lstrip("\ufeff").splitlines()[0] == "day,points"


def test_other_units_staff_get_404_on_the_analysis_page(client: TestClient, world: Any) -> None:
    from cityhub.compute import service as compute
    from cityhub.compute.schemas import AnalysisCreate

    a = compute.analysis_create(world.session, world.actors["platform_admin"], AnalysisCreate(
        org_id=world.orgs["dept_a"].id, name="甲", sql="SELECT count(*) AS n FROM devices"))
    world.session.commit()
    _login(client, "t-b-member")
    assert client.get(f"/compute/analyses/{a.id}", headers=HTML).status_code == 404
    assert "甲" not in client.get("/compute/analyses", headers=HTML).text


def test_schedule_publish_and_map_chart_through_the_pages(client: TestClient, world: Any, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "var_dir", tmp_path)
    synthetic_lake(tmp_path / "lake")
    _login(client, "t-admin")
    csrf = _csrf(client.get("/compute/analyses", headers=HTML).text)
    ok = client.post("/compute/analyses", data={
        "csrf_token": csrf, "org_id": str(world.orgs["dept_a"].id), "name": "区县点数", "chart": "map",
        "sql": "SELECT '500103' AS district, count(*) AS points FROM telemetry"}, follow_redirects=False)
    url = ok.headers["location"].split("?")[0]
    bad = client.post(url, data={"csrf_token": csrf, "name": "区县点数", "chart": "map", "schedule": "每天",
                                 "sql": "SELECT '500103' AS district, count(*) AS points FROM telemetry"},
                      follow_redirects=False)
    assert bad.status_code == 303 and 'data-testid="schedule"' in client.get(url, headers=HTML).text
    assert "下次运行" not in client.get(url, headers=HTML).text  # refused: no schedule saved
    client.post(url, data={"csrf_token": csrf, "name": "区县点数", "chart": "map", "schedule": "0 6 * * *",
                           "sql": "SELECT '500103' AS district, count(*) AS points FROM telemetry"})
    assert "下次运行" in client.get(url, headers=HTML).text
    run = client.post(f"{url}/run", data={"csrf_token": csrf, "max_rows": "100", "timeout_s": "30"},
                      follow_redirects=False)
    html = ""
    for _ in range(100):
        html = client.get(run.headers["location"], headers=HTML).text
        if 'data-testid="result"' in html:
            break
    assert 'data-testid="publish-form"' in html and "重要数据" in html  # the lake is graded important
    data = json.loads(re.search(r'id="page-data">(.*?)</script>', html, re.S).group(1))  # type: ignore[union-attr]  # the run's page has its data
    assert data["chart"] == "map" and data["district_names"].get("500103") == "渝中区"
    run_id = re.search(r"run=([0-9a-f-]{36})", run.headers["location"]).group(1)  # type: ignore[union-attr]  # the run page names it
    pub = client.post(f"/compute/analyses/runs/{run_id}/publish", data={"csrf_token": csrf, "title": "区县点数结果"},
                      follow_redirects=False)
    assert pub.status_code == 303
    after = client.get(pub.headers["location"], headers=HTML).text
    assert 'data-testid="publish-form"' not in after and "已发布为数据资源" in after


def test_the_analyses_list_is_framed_and_paged(client: TestClient, world: Any) -> None:
    from cityhub.compute import service as compute
    from cityhub.compute.schemas import AnalysisCreate

    for i in range(53):
        compute.analysis_create(world.session, world.actors["platform_admin"], AnalysisCreate(
            org_id=world.orgs["dept_a"].id, name=f"分析{i:02d}", sql="SELECT count(*) AS n FROM telemetry"))
    _login(client, "t-admin")
    first = client.get("/compute/analyses", headers=HTML).text
    assert 'class="page-header"' in first and 'class="crumbs"' in first  # the common frame, with breadcrumbs
    table = first.split('data-testid="analyses"')[1].split("</table>")[0]
    assert table.count("分析") == 50 and 'class="pager"' in first
    second = client.get("/compute/analyses", params={"offset": 50}, headers=HTML).text
    assert second.split('data-testid="analyses"')[1].split("</table>")[0].count("分析") == 3
    assert 'class="page-header"' in client.get("/compute/scenarios", headers=HTML).text
