"""Browser test: the 大屏 renders non-empty charts in Debian chromium at 1920×1080 and 1366×768."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cityhub.core import service as core
from cityhub.core.schemas import OrganizationCreate, UserCreate
from cityhub.kit.db import Database
from cityhub.kit.migrate import upgrade
from cityhub.ops import service as ops
from cityhub.ops.schemas import IncidentCreate, IndicatorCreate
from tests.browser import live_app, need_chromium, wait_js
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser
SHOTS = os.environ.get("CITYHUB_SCREENSHOT_DIR")  # keep the PNGs to look at them


@pytest.fixture(scope="module")
def ops_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """uvicorn over a fresh SQLite database with an admin, a district, alarms, an incident and an indicator."""
    path: Path = tmp_path_factory.mktemp("ops-browser") / "cityhub.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    db = Database(url)
    with db.session_scope() as s:
        system = core.Actor.system("test")
        city = core.organization_create(s, system, OrganizationCreate(name="重庆市", code="cq", kind="city"))
        yz = core.organization_create(s, system, OrganizationCreate(
            name="渝中区", name_en="Yuzhong District", code="cq-yz", kind="district", parent_id=city.id,
            lon=106.569, lat=29.553))
        core.user_create(s, system, UserCreate(username="admin", password=PASSWORD, org_id=city.id,
                                               roles=["platform_admin"]))
        for i, sev in enumerate(("critical", "major", "minor", "warning")):
            ops.alarm_raise(s, system, originator_type="device", originator_id=uuid.uuid4(), alarm_type="应变超限",
                            severity=sev, details={}, org_id=city.id, district_id=yz.id, lon=106.55 + i / 50,
                            lat=29.55, name=f"应变计 {i}")
        ops.incident_create(s, system, IncidentCreate(title="管廊积水", org_id=city.id))
        ind = ops.indicator_create(s, system, IndicatorCreate(code="pm25", name="PM2.5", theme="environment",
                                                              unit="µg/m³", warning=75, critical=115, org_id=city.id))
        ops.indicator_value_record(s, system, ind.id, 48.0)
    with live_app(db) as url:
        yield url


def test_screen_renders_non_empty_charts_at_both_sizes(ops_server: str, tmp_path: Path) -> None:
    chromium = need_chromium()
    from playwright.sync_api import sync_playwright

    out = Path(SHOTS) if SHOTS else tmp_path
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"])
        for w, h in ((1920, 1080), (1366, 768)):
            page = browser.new_page(viewport={"width": w, "height": h})
            page.goto(f"{ops_server}/login?next=/ops/screen")
            page.fill("input[name=username]", "admin")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_selector("[data-testid=screen]")
            for chart in ("c-severity", "c-district", "c-gauges", "c-map", "c-funnel", "c-trend"):
                page.wait_for_selector(f"#{chart} canvas", timeout=10_000)
            wait_js(page, "document.getElementById('k-active').textContent === '4'", timeout=10_000)
            # the map drew the district outlines (the geojson was registered) and the alarm points
            wait_js(page, "echarts.getInstanceByDom(document.getElementById('c-map'))"
                                   ".getOption().series.length === 3", timeout=10_000)
            assert page.inner_text("#feed").count("应变超限") == 4
            sizes = page.evaluate("[...document.querySelectorAll('.panel')].map(p => p.getBoundingClientRect())"
                                  ".map(r => [r.width, r.height, r.bottom])")
            assert all(wd > 100 and ht > 60 and bottom <= h + 1 for wd, ht, bottom in sizes), sizes
            # a real funnel: stages reached, widest first (the one incident was opened, not yet dispatched)
            funnel = page.evaluate("echarts.getInstanceByDom(document.getElementById('c-funnel')).getOption()"
                                   ".series[0].data.map(d => d.value)")
            assert funnel == sorted(funnel, reverse=True) and funnel[0] == 1, funnel
            # bars keep room above them for their labels; the corner menu and the header fit the width
            top = page.evaluate("echarts.getInstanceByDom(document.getElementById('c-severity'))"
                                ".getModel().getComponent('yAxis').axis.scale.getExtent()[1]")
            assert top > 1
            assert page.evaluate("document.querySelector('header').scrollWidth <= innerWidth")
            assert page.locator("[data-testid=corner-menu] a[href='/']").count() == 1
            assert page.locator("[data-testid=corner-menu] [data-lang]").count() == 2
            # every latest-alarm line shown is whole, inside its panel
            assert page.evaluate("(() => { const f = document.getElementById('feed').getBoundingClientRect();"
                                 " return [...document.querySelectorAll('#feed li:not([hidden])')]"
                                 ".every(li => li.getBoundingClientRect().bottom <= f.bottom + 1); })()")
            page.screenshot(path=str(out / f"ops-screen-{w}x{h}.png"))
            page.close()
        browser.close()


def test_the_live_stream_reconnects_by_itself(ops_server: str) -> None:
    chromium = need_chromium()
    from playwright.sync_api import Route, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1366, "height": 768})

        def refuse(route: Route) -> None:
            route.fulfill(status=502, body="down")

        page.route("**/ops/screen/stream*", refuse)  # the stream's server is away: the screen says so, keeps trying
        page.goto(f"{ops_server}/login?next=/ops/screen")
        page.fill("input[name=username]", "admin")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("[data-testid=live][data-state=off]", timeout=15_000)
        assert "秒后重试" in page.inner_text("[data-testid=live]")
        page.unroute("**/ops/screen/stream*")  # back: live again without a reload
        page.wait_for_selector("[data-testid=live][data-state=live]", timeout=40_000)
        browser.close()


def test_the_report_map_fills_the_coordinates(ops_server: str) -> None:
    chromium = need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        page.goto(f"{ops_server}/ops/report")
        page.wait_for_selector("#map-picker canvas", timeout=10_000)
        page.wait_for_timeout(500)
        box = page.locator("#map-picker").bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        lon, lat = float(page.input_value("#lon")), float(page.input_value("#lat"))
        assert 105 < lon < 111 and 28 < lat < 33  # somewhere in Chongqing, without typing
        assert page.inner_text("[data-testid=picked]")
        browser.close()


def test_the_map_names_districts_in_english_on_english_pages(ops_server: str) -> None:
    """The outlines name districts in Chinese; on an English page cityhub.chongqing() renames them (issue 16)."""
    chromium = need_chromium()
    from playwright.sync_api import sync_playwright

    names = "() => window.echarts.getMap('chongqing').geoJSON.features.map((f) => f.properties.name)"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        for lang, mine, other in (("en", "Yuzhong District", "渝中区"), ("zh_CN", "渝中区", "Yuzhong District")):
            context = browser.new_context(viewport={"width": 1366, "height": 768})
            context.add_cookies([{"name": "cityhub_lang", "value": lang, "url": ops_server}])
            page = context.new_page()
            page.goto(f"{ops_server}/ops/report")
            page.wait_for_selector("#map-picker canvas", timeout=10_000)
            shown = page.evaluate(names)
            assert mine in shown and other not in shown, (lang, shown[:5])
            assert "江北区" in shown  # a district without an English name keeps its Chinese one
            context.close()
        browser.close()
