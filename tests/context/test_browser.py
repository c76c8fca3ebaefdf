"""Browser test: the entity browser in Debian chromium at 1366×768 and 1920×1080 — points and polygons drawn on the
district map, attribute names in words, the owner's forms; no console error, no horizontal scrollbar."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from cityhub.context import service as context
from cityhub.context.jsonld import core as core_context
from cityhub.core import service as core
from cityhub.core.schemas import OrganizationCreate, UserCreate
from cityhub.kit.db import Database
from cityhub.kit.migrate import upgrade
from tests.browser import live_app, need_chromium
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser
SHOTS = os.environ.get("CITYHUB_SCREENSHOT_DIR")  # keep the PNGs to look at them
AREA = "urn:ngsi-ld:AirQualityObserved:jiefangbei-area"
SENSOR = "urn:ngsi-ld:AirQualityObserved:jiefangbei"


@pytest.fixture(scope="module")
def context_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """uvicorn over a fresh SQLite database: a department's member, a sensor with history and a polygon area."""
    path: Path = tmp_path_factory.mktemp("context-browser") / "cityhub.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    db = Database(url)
    with db.session_scope() as s:
        system = core.Actor.system("test")
        city = core.organization_create(s, system, OrganizationCreate(name="重庆市", code="cq", kind="city"))
        env = core.organization_create(s, system, OrganizationCreate(
            name="生态环境局", name_en="Ecology and Environment Bureau", code="cq-env", kind="department",
            parent_id=city.id))
        user = core.user_create(s, system, UserCreate(username="env-staff", password=PASSWORD, org_id=env.id,
                                                      roles=["org_member"]))
        s.flush()
        member = core.actor_for_user(s, user)
        ring = [[106.570, 29.552], [106.586, 29.552], [106.586, 29.564], [106.570, 29.564], [106.570, 29.552]]
        context.entity_create(s, member, {
            "id": SENSOR, "type": "AirQualityObserved",
            "name": {"type": "Property", "value": "解放碑监测点"},
            "pm25": {"type": "Property", "value": 35.5, "unitCode": "GQ", "observedAt": "2026-12-01T08:00:00Z"},
            "temperature": {"type": "Property", "value": 12.5, "unitCode": "CEL",
                            "observedAt": "2026-12-01T08:00:00Z"},
            "relativeHumidity": {"type": "Property", "value": 71, "unitCode": "P1"},
            "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [106.578, 29.558]}}},
            core_context(), None)
        for hour, v in enumerate((38.0, 42.5, 40.0, 33.0), start=9):
            context.attr_patch(s, member, SENSOR, "pm25", {"value": v, "observedAt": f"2026-12-01T{hour:02d}:00:00Z"},
                               core_context(), None)
        context.entity_create(s, member, {
            "id": AREA, "type": "AirQualityObserved", "name": {"type": "Property", "value": "解放碑步行街"},
            "airQualityIndex": {"type": "Property", "value": 62},
            "location": {"type": "GeoProperty", "value": {"type": "Polygon", "coordinates": [ring]}}},
            core_context(), None)
    with live_app(db) as base:
        yield base


def test_entity_browser_draws_points_and_polygons_at_both_sizes(context_server: str, tmp_path: Path) -> None:
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
            page.goto(f"{context_server}/login?next=/context/entities?type=AirQualityObserved")
            page.fill("input[name=username]", "env-staff")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_selector("#entity-map canvas", timeout=10_000)
            kinds = page.evaluate("echarts.getInstanceByDom(document.getElementById('entity-map')).getOption()"
                                  ".series.map(s => s.type)")
            assert sorted(kinds) == ["custom", "scatter"], kinds  # the polygon as an area, the point as a dot
            assert page.locator("[data-testid=entity-create]").is_visible()
            assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
            page.screenshot(path=str(out / f"context-entities-{w}x{h}.png"), full_page=True)
            page.goto(f"{context_server}/context/entities/{SENSOR}")
            page.wait_for_selector("#history-chart canvas", timeout=10_000)
            page.wait_for_selector("#entity-map canvas", timeout=10_000)
            table = page.inner_text("[data-testid=attributes]")
            assert "PM2.5" in table and "温度" in table and "相对湿度" in table and "°C" in table, table
            assert "https://" not in table and "CEL" not in table
            assert page.locator("[data-testid=attr-patch]").is_visible()
            assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
            page.screenshot(path=str(out / f"context-entity-{w}x{h}.png"), full_page=True)
            page.goto(f"{context_server}/context/entities/{AREA}")
            page.wait_for_selector("#entity-map canvas", timeout=10_000)
            page.screenshot(path=str(out / f"context-area-{w}x{h}.png"), full_page=True)
            assert not errors, errors
            page.close()
        browser.close()
