"""Browser test: the 全景 screen goes live over the pushed stream and shows a new reading without a reload."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cityhub.apply import service as apply
from cityhub.apply.schemas import EnterpriseCreate
from cityhub.core import service as core
from cityhub.core.schemas import OrganizationCreate, UserCreate
from cityhub.kit.db import Database
from cityhub.kit.idcodes import credit_code_check_char
from cityhub.kit.migrate import upgrade
from tests.browser import live_app, need_chromium
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser
SYSTEM = core.Actor.system("test")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Database]]:
    """uvicorn over a fresh SQLite database with an admin and the seed programme, its screen read once."""
    path: Path = tmp_path_factory.mktemp("panorama-browser") / "cityhub.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    db = Database(url)
    with db.session_scope() as s:
        city = core.organization_create(s, SYSTEM, OrganizationCreate(name="重庆市", code="cq", kind="city"))
        core.user_create(s, SYSTEM, UserCreate(username="admin", password=PASSWORD, org_id=city.id,
                                               roles=["platform_admin"]))
        apply.programme_seed(s, SYSTEM)
        apply.panorama_refresh(s)
    with live_app(db) as base:
        yield base, db


def test_the_screen_shows_each_new_reading_without_a_reload(server: tuple[str, Database]) -> None:
    chromium = need_chromium()
    from playwright.sync_api import expect, sync_playwright

    base, db = server
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        page: Any = browser.new_page(viewport={"width": 1366, "height": 768})
        page.goto(f"{base}/login?next=/apply/panorama")
        page.fill("input[name=username]", "admin")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("[data-testid=live][data-state=live]", timeout=15_000)
        assert page.inner_text("[data-k='apply.enterprises']") == "0"
        with db.session_scope() as s:  # a registration, then the worker's pass: the screen is pushed the reading
            code = "91500000MA5U0000A" + credit_code_check_char("91500000MA5U0000A")
            apply.economy.enterprise_create(s, SYSTEM, EnterpriseCreate(
                credit_code=code, name="重庆数联科技有限公司", sector="big_data", size="small"))
        with db.session_scope() as s:
            assert apply.panorama_due(s)
            apply.panorama_refresh(s)
        expect(page.locator("[data-k='apply.enterprises']").first).to_have_text("1", timeout=15_000)
        browser.close()
