"""Data pages: search with facets, entry page with masked preview, request form, queues, 三清单 boards."""

from __future__ import annotations

import re

from tests.data.helpers import load_people, published_entry
from tests.web.test_pages import _csrf, login


def test_public_search_hides_closed_entries(client, world) -> None:
    published_entry(world)
    r = client.get("/data", params={"q": "人口"})
    assert r.status_code == 200 and 'data-testid="total"' in r.text and "人口基础信息" not in r.text


def test_entry_page_preview_is_masked_and_request_form_submits(client, world) -> None:
    entry = published_entry(world)
    load_people(world, entry)
    login(client, "t-b-member")
    page = client.get(f"/data/entries/{entry.id}")
    assert page.status_code == 200 and 'data-testid="request-form"' in page.text
    assert "18012341999" not in page.text  # B has no grant: no rows, and never clear values
    r = client.post(f"/data/entries/{entry.id}/request", data={
        "csrf_token": _csrf(page.text), "items": ["name", "phone"], "legal_basis": "依据", "purpose": "核验",
        "consuming_system": "核验系统", "quota": "0"}, follow_redirects=False)
    assert r.status_code == 303 and "msg=" in r.headers["location"]
    mine = client.get("/data/requests?box=mine")
    assert "合规审核中" in mine.text


def test_queues_and_lists_render(client, world) -> None:
    entry = published_entry(world)
    load_people(world, entry)
    login(client, "t-admin")
    for path in ("/data/publish", "/data/review", "/data/requests?box=compliance", "/data/lists",
                 f"/data/entries/{entry.id}"):
        r = client.get(path)
        assert r.status_code == 200, path
    page = client.get(f"/data/entries/{entry.id}").text
    assert re.search(r"5001\*{10}1234", page)  # the platform admin sees masked rows
    assert 'id="kpi-chart"' in client.get("/data/lists").text
