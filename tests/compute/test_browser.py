"""Browser test: the hub's catalogue and a component page in Debian chromium at 1366×768, the usage chart drawn."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from cityhub import demo
from cityhub.kit.db import Database
from cityhub.kit.migrate import upgrade
from tests.browser import live_app, need_chromium

pytestmark = pytest.mark.browser
SHOTS = os.environ.get("CITYHUB_SCREENSHOT_DIR")  # keep the PNGs to look at them
PASSWORD = "hub-browser-pass-1"


@pytest.fixture(scope="module")
def hub_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """uvicorn over a fresh SQLite database holding the demo city's units and its hub (with metered calls)."""
    path: Path = tmp_path_factory.mktemp("hub-browser") / "cityhub.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    db = Database(url)
    demo.build(db, PASSWORD, log=lambda _m: None, only=("core", "compute"))
    with live_app(db) as base:
        yield base
    db.engine.dispose()


def test_catalogue_and_component_page_at_1366(hub_server: str, tmp_path: Path) -> None:
    chromium = need_chromium()
    from playwright.sync_api import sync_playwright

    out = Path(SHOTS) if SHOTS else tmp_path
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        errors: list[str] = []
        # every resource the pages load answers (the browser's own favicon probe aside)
        page.on("response", lambda r: errors.append(f"{r.status} {r.url}")
                if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)
        page.goto(f"{hub_server}/login?next=/compute")
        page.fill("input[name=username]", "dsj-reviewer")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("[data-testid=card]")
        assert page.locator("[data-testid=card]").count() == 9
        assert "共性技术" in page.inner_text("main") and "业务协同" in page.inner_text("main")
        widths = page.evaluate("[...document.querySelectorAll('.hub-card')].map(c => c.getBoundingClientRect().right)")
        assert max(widths) <= 1366, widths  # no card runs off the screen
        page.screenshot(path=str(out / "compute-catalogue-1366x768.png"))
        page.click("text=坐标转换")
        page.wait_for_selector("#usage canvas", timeout=10_000)
        calls = page.evaluate("echarts.getInstanceByDom(document.getElementById('usage')).getOption()"
                              ".series[0].data.reduce((a, b) => a + b, 0)")
        assert calls > 0  # the demo's metered calls of the component
        assert page.locator("[data-testid=interface] tr").count() == 3  # header, GET and POST /convert
        page.screenshot(path=str(out / "compute-component-1366x768.png"))
        page.screenshot(path=str(out / "compute-component-1366-full.png"), full_page=True)
        page.goto(f"{hub_server}/compute/usage")
        page.wait_for_selector("#units canvas", timeout=10_000)
        page.screenshot(path=str(out / "compute-usage-1366x768.png"), full_page=True)
        assert not errors, errors
        browser.close()
