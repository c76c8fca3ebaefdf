"""Browser test: Debian chromium via Playwright logs in, switches language and sees the shell with a chart."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cityhub.app import create_app
from cityhub.core import service as core
from cityhub.core.schemas import OrganizationCreate, UserCreate
from cityhub.kit.db import Database
from cityhub.kit.migrate import upgrade
from cityhub.kit.settings import get_settings
from tests.conftest import PASSWORD, REQUIRE_SERVICES

pytestmark = pytest.mark.browser
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real uvicorn server on a free port over a fresh SQLite database with one admin."""
    import uvicorn

    path: Path = tmp_path_factory.mktemp("browser") / "cityhub.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    db = Database(url)
    with db.session_scope() as session:
        system = core.Actor.system("test")
        city = core.organization_create(session, system, OrganizationCreate(name="重庆市", code="cq", kind="city"))
        core.user_create(session, system, UserCreate(username="admin", password=PASSWORD, org_id=city.id,
                                                     roles=["platform_admin"]))  # type: ignore[list-item]
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(get_settings(), db), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_login_switch_language_and_see_shell(live_server: str, tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        if REQUIRE_SERVICES:
            pytest.fail("Debian chromium is missing (make browser installs it)")
        pytest.skip("Debian chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
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
        assert page.inner_text("main h1") == "Overview"
        nav = page.inner_text("aside.sidebar")
        assert "Administration" in nav and "Audit log" in nav
        page.screenshot(path=str(tmp_path / "home-en.png"), full_page=True)
        page.click("a[href='/admin/organizations']")
        page.wait_for_selector("[data-testid=org-table]")
        assert "重庆市" in page.inner_text("[data-testid=org-table]")
        browser.close()
