"""Browser test: Debian chromium via Playwright logs in, switches language and sees the shell with a chart."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cityhub.core import service as core
from cityhub.core.schemas import OrganizationCreate, UserCreate
from cityhub.kit.db import Database
from cityhub.kit.migrate import upgrade
from tests.browser import live_app, need_chromium
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real uvicorn server on a free port over a fresh SQLite database with one admin."""
    path: Path = tmp_path_factory.mktemp("browser") / "cityhub.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    db = Database(url)
    with db.session_scope() as session:
        system = core.Actor.system("test")
        city = core.organization_create(session, system, OrganizationCreate(name="重庆市", code="cq", kind="city"))
        core.user_create(session, system, UserCreate(username="admin", password=PASSWORD, org_id=city.id,
                                                     roles=["platform_admin"]))
    with live_app(db) as url:
        yield url


def test_login_switch_language_and_see_shell(live_server: str, tmp_path: Path) -> None:
    chromium = need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.goto(f"{live_server}/")
        assert page.url.endswith("/login")
        assert "登录" in page.content()
        page.fill("input[name=username]", "admin")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("[data-testid=count-organizations]")
        assert page.inner_text("[data-testid=who]") == "admin"
        assert "总览" in page.inner_text("main h1")
        # the ECharts pie rendered into a canvas
        page.wait_for_selector("#org-kinds canvas", timeout=10_000)
        page.click("a[data-lang=en]")
        page.wait_for_selector("text=Organisations by kind")
        assert page.inner_text("main h1") == "City overview"
        nav = page.inner_text("aside.sidebar")
        assert "Administration" in nav and "Audit log" in nav
        page.screenshot(path=str(tmp_path / "home-en.png"), full_page=True)
        page.click("a[href='/admin/organizations']")
        page.wait_for_selector("[data-testid=org-table]")
        assert "重庆市" in page.inner_text("[data-testid=org-table]")
        browser.close()


def _until(page: Any, script: str, ok: Callable[[Any], bool], limit_ms: int = 5000) -> None:
    """Poll `script` until `ok` holds (wait_for_function evaluates a string, which the page's CSP forbids)."""
    for _ in range(limit_ms // 50):
        if ok(page.evaluate(script)):
            return
        page.wait_for_timeout(50)
    raise AssertionError(f"never true: {script} -> {page.evaluate(script)}")


def test_the_top_bar_puts_what_does_not_fit_into_more(live_server: str) -> None:
    """At 1366 px every section of the platform admin's bar is on the bar; narrower, the last ones go into "More"
    (更多) rather than scrolling or clipping, and come back when the window widens."""
    chromium = need_chromium()
    from playwright.sync_api import sync_playwright

    in_menu = "[...document.querySelectorAll('nav.layers .nav-more-menu a')].map(a => a.textContent)"
    clipped = """(() => { const n = document.querySelector('nav.layers'); const r = n.getBoundingClientRect().right;
      return [...n.children].filter(c => !c.hidden && c.getBoundingClientRect().right > r + 1).length; })()"""
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        page.goto(f"{live_server}/login")
        page.fill("input[name=username]", "admin")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("[data-testid=count-organizations]")
        for lang in ("zh_CN", "en"):
            page.goto(f"{live_server}/lang/{lang}?next=/admin/users")
            assert page.evaluate(in_menu) == [] and page.is_hidden("[data-testid=nav-more]"), lang
            assert page.evaluate(clipped) == 0, lang
        page.set_viewport_size({"width": 1000, "height": 700})
        _until(page, in_menu, lambda names: bool(names))
        assert page.evaluate(clipped) == 0
        moved = page.evaluate(in_menu)
        assert moved[-1] == "Administration" and page.is_visible("[data-testid=nav-more]")
        page.click("[data-testid=nav-more] > summary")
        page.click(".nav-more-menu a:has-text('Administration')")
        page.wait_for_load_state("load")
        assert "/admin/" in page.url
        page.set_viewport_size({"width": 1366, "height": 768})
        _until(page, in_menu, lambda names: names == [])
        browser.close()
