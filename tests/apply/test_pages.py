"""Programme cockpit pages: the tree with status badges and progress bars, a target with its trend data, the
owner's report form (POST → redirect with a message), the bureau member's review queue; zh-CN and English."""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi.testclient import TestClient

from cityhub.apply import service as apply
from cityhub.core.actor import Actor
from tests.compute.helpers import bureau_setup
from tests.conftest import PASSWORD

SYSTEM = Actor.system("test")


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no CSRF token in the page"
    return m.group(1)


def _login(client: TestClient, username: str, password: str = PASSWORD) -> None:
    r = client.post("/login", data={"username": username, "password": password,
                                    "csrf_token": _csrf(client.get("/login").text)}, follow_redirects=False)
    assert r.status_code == 303, (username, r.status_code)


def _seeded(world: Any) -> Any:
    bureau_setup(world)
    apply.programme_seed(world.session, SYSTEM)
    apply.progress_refresh(world.session, SYSTEM)
    return apply.target_by_code(world.session, SYSTEM, "connect.intl_bandwidth")  # reported, the bureau's here


def test_tree_and_target_pages(client: TestClient, world: Any) -> None:
    t = _seeded(world)
    assert client.get("/apply", follow_redirects=False).status_code in (303, 401)
    _login(client, "t-b-member")
    html = client.get("/apply").text
    assert 'data-testid="target-tree"' in html and "新建5G基站" in html and "整合接入信息系统" in html
    assert "建设目标" in html  # the nav entry, in Chinese
    page = client.get(f"/apply/targets/{t.id}").text
    data = json.loads(re.search(r'id="page-data">(.*?)</script>', page, re.S).group(1))  # type: ignore[union-attr]  # the block is there
    assert data["target"] == 1_000 and data["history"][0][1] == 0  # the plan's baseline opens the history
    assert 'data-testid="report-form"' not in page  # unit B does not own it
    client.cookies.set("cityhub_lang", "en")
    assert "International data channel bandwidth added" in client.get("/apply").text
    assert client.get("/apply/review").status_code == 403


def test_a_computed_target_names_its_source_in_words(client: TestClient, world: Any) -> None:
    _seeded(world)
    t = apply.target_by_code(world.session, SYSTEM, "cloud.systems_integrated")
    _login(client, "t-b-member")
    page = client.get(f"/apply/targets/{t.id}").text
    assert "已整合信息系统数" in page and "cloud.systems_integrated" not in page.split('id="page-data"')[0]


def test_report_then_review_through_the_forms(client: TestClient, world: Any) -> None:
    t = _seeded(world)
    _login(client, "t-admin")  # the platform admin reports for the bureau's target
    page = client.get(f"/apply/targets/{t.id}").text
    assert 'data-testid="report-form"' in page
    r = client.post(f"/apply/targets/{t.id}/reports", data={
        "csrf_token": _csrf(page), "value": "4", "evidence_url": "https://example.gov.cn/a.pdf", "note": "第一批"},
        follow_redirects=True)
    assert r.status_code == 200 and "第一批" in r.text
    bad = client.post(f"/apply/targets/{t.id}/reports", data={
        "csrf_token": _csrf(page), "value": "5", "evidence_url": "ftp://x"}, follow_redirects=True)
    assert bad.status_code == 200 and bad.text.count("https://example.gov.cn/a.pdf") == 1  # nothing written
    client.cookies.clear()
    _login(client, "t-bureau-member", "correct-horse-42")
    queue = client.get("/apply/review").text
    assert "第一批" in queue
    rid = re.search(r'/apply/reports/([0-9a-f-]+)/review', queue).group(1)  # type: ignore[union-attr]  # one report waits
    done = client.post(f"/apply/reports/{rid}/review", data={"csrf_token": _csrf(queue), "approve": "1"},
                       follow_redirects=True)
    assert done.status_code == 200 and "第一批" not in done.text
    world.session.expire_all()  # the request changed the row through its own session
    assert apply.target_get(world.session, SYSTEM, t.id).current_value == 4
