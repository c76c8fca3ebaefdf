"""Browser test: the 自然资源和空间地理 base database's page draws its golden records' points and areas over the
Chongqing outline in Debian chromium at 1366×768 and 1920×1080; a click on a place looks its record up."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from cityhub.core import service as core
from cityhub.core.schemas import OrganizationCreate, UserCreate
from cityhub.data.base import geo
from cityhub.data.models import BaseRecord
from cityhub.kit.db import Database
from cityhub.kit.migrate import upgrade
from tests.browser import live_app, need_chromium
from tests.conftest import PASSWORD
from tests.data.test_base_geo import JIEFANGBEI, PARK, WANZHOU, _square

pytestmark = pytest.mark.browser
SHOTS = os.environ.get("CITYHUB_SCREENSHOT_DIR")


@pytest.fixture(scope="module")
def geo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """uvicorn over a fresh SQLite database (migrated, so 0038 runs): a platform admin and four geo records."""
    path: Path = tmp_path_factory.mktemp("geo-browser") / "cityhub.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    db = Database(url)
    with db.session_scope() as s:
        system = core.Actor.system("test")
        city = core.organization_create(s, system, OrganizationCreate(name="重庆市", code="cq", kind="city"))
        core.user_create(s, system, UserCreate(username="geo-admin", password=PASSWORD, org_id=city.id,
                                               roles=["platform_admin"]))
        for key, name, text in (("P001", "解放碑", JIEFANGBEI), ("P002", "鹅岭公园", PARK),
                                ("P005", "万州", WANZHOU), ("P007", "中央公园", _square(106.62, 29.70, 0.03))):
            g = geo.parse(text)
            s.add(BaseRecord(base_db="geo", key=key, fields={"name": name, "geometry": text}, provenance={},
                             sources=1, geometry=g.geojson, min_x=g.bbox[0], min_y=g.bbox[1], max_x=g.bbox[2],
                             max_y=g.bbox[3]))
    with live_app(db) as base:
        yield base


def test_geo_page_draws_points_and_areas_and_a_click_looks_up(geo_server: str, tmp_path: Path) -> None:
    chromium = need_chromium()
    from playwright.sync_api import sync_playwright

    out = Path(SHOTS) if SHOTS else tmp_path
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"])
        for w, h in ((1366, 768), (1920, 1080)):
            page = browser.new_page(viewport={"width": w, "height": h})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{geo_server}/login?next=/data/base/geo")
            page.fill("input[name=username]", "geo-admin")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_selector("#base-geo-map canvas", timeout=10_000)
            kinds = page.evaluate("echarts.getInstanceByDom(document.getElementById('base-geo-map')).getOption()"
                                  ".series.map(s => s.type)")
            assert sorted(kinds) == ["custom", "scatter"], kinds
            assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
            page.screenshot(path=str(out / f"data-base-geo-{w}x{h}.png"), full_page=True)
            # a click on a point: the chart's handler looks the record up
            page.evaluate("echarts.getInstanceByDom(document.getElementById('base-geo-map'))"
                          ".trigger('click', {data: {key: 'P001'}})")
            page.wait_for_selector("[data-testid=base-record]", timeout=10_000)
            assert "解放碑" in page.inner_text("[data-testid=base-record]") and "key=P001" in page.url
            page.wait_for_selector("#base-geo-map canvas", timeout=10_000)
            page.goto(f"{geo_server}/data/base/geo?key=P002")  # a park: the map zooms to its area
            page.wait_for_selector("#base-geo-map canvas", timeout=10_000)
            zoom = page.evaluate("echarts.getInstanceByDom(document.getElementById('base-geo-map')).getOption()"
                                 ".geo[0].zoom")
            assert zoom > 20, zoom
            page.screenshot(path=str(out / f"data-base-geo-park-{w}x{h}.png"), full_page=True)
            assert not errors, errors
            page.close()
        browser.close()
