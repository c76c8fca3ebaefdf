"""The component registration page (issue 17): a department registers a component through the registry service —
a draft with its interface (an uploaded OpenAPI document, validated) and its first version with the endpoint — and
sends it to the bureau's review; a bad document or a taken code comes back as the flash message, nothing stored."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cityhub.compute import service as compute
from cityhub.kit.pagination import PageParams
from cityhub.kit.settings import get_settings
from tests.compute.helpers import bureau_setup
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


def _form(world: Any, csrf: str, **over: str) -> dict[str, str]:
    form = {"csrf_token": csrf, "org_id": str(world.orgs["dept_a"].id), "code": "licence-verify",
            "name_zh": "电子证照核验", "name_en": "E-licence verification", "category": "business",
            "subcategory": "电子证照", "description": "核验电子证照真伪", "tags": "证照，核验, licence",
            "availability": "99.5", "p95_ms": "300", "price_per_call": "0.02", "version": "1.0.0",
            "upstream_url": "http://api.dept.example/licence", "submit": "1"}
    form.update(over)
    return form


def _doc(openapi: Any) -> dict[str, Any]:
    return {"openapi": ("licence.json", json.dumps(openapi).encode(), "application/json")}


def test_a_department_registers_a_component_for_review(client: TestClient, world: Any,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    bureau_setup(world)
    monkeypatch.setattr(get_settings(), "compute_upstream_allowed_hosts", "api.dept.example")
    _login(client, "t-a-member")
    assert 'href="/compute/components/new"' in client.get("/compute", headers=HTML).text
    page = client.get("/compute/components/new", headers=HTML)
    assert page.status_code == 200 and 'data-testid="register-form"' in page.text
    openapi = compute.builtin_openapi("coord-convert")
    r = client.post("/compute/components", data=_form(world, _csrf(page.text)), files=_doc(openapi),
                    headers=HTML, follow_redirects=True)
    assert r.status_code == 200 and str(r.url).split("?")[0].endswith("/compute/components/licence-verify")
    assert "电子证照核验" in r.text and 'data-status="in_review"' in r.text
    c = compute.component_by_code(world.session, world.actors["org_member_a"], "licence-verify")
    assert c.tags == ["证照", "核验", "licence"] and c.sla["availability"] == 99.5 and c.price_per_call == 0.02
    versions = compute.component_versions(world.session, world.actors["org_member_a"], c.id)
    assert [(v.version, v.kind, v.upstream_url) for v in versions] == [
        ("1.0.0", "upstream", "http://api.dept.example/licence")]
    review = client.get("/compute/review", headers=HTML)  # the member cannot review; the bureau's queue has it
    assert review.status_code == 403


def test_bad_input_is_the_flash_message_and_nothing_is_stored(client: TestClient, world: Any,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    bureau_setup(world)
    monkeypatch.setattr(get_settings(), "compute_upstream_allowed_hosts", "api.dept.example")
    _login(client, "t-a-member")
    csrf = _csrf(client.get("/compute/components/new", headers=HTML).text)
    cases = [
        (_form(world, csrf), {"openapi": ("x.json", b"{not json", "application/json")}),
        (_form(world, csrf), _doc({"openapi": "3.0.0", "info": {"title": "x"}})),  # no version, no paths
        (_form(world, csrf), _doc({"swagger": "2.0"})),
        (_form(world, csrf, upstream_url="http://10.0.0.8/api"), _doc(compute.builtin_openapi("coord-convert"))),
        (_form(world, csrf, version="one"), _doc(compute.builtin_openapi("coord-convert"))),
        (_form(world, csrf, org_id=str(world.orgs["dept_b"].id)), _doc(compute.builtin_openapi("coord-convert"))),
    ]
    for form, files in cases:
        r = client.post("/compute/components", data=form, files=files, headers=HTML, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/compute/components/new?msg="), form
    _rows, total = compute.component_list(world.session, world.actors["platform_admin"],
                                          PageParams(limit=50, offset=0), q="licence")
    assert total == 0


def test_only_a_units_staff_open_the_form(client: TestClient, world: Any) -> None:
    _login(client, "t-auditor")
    assert client.get("/compute/components/new", headers=HTML).status_code == 403


def test_decided_subscriptions_are_paged(client: TestClient, world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from cityhub.compute import pages
    from tests.compute.helpers import published, subscribed

    monkeypatch.setattr(pages, "LIST_PAGE", 1)
    coord = published(world, "coord", open_to_all=False)
    subscribed(world, coord, "dept_b")
    subscribed(world, coord, "dept_a")
    _login(client, "t-a-admin")
    first = client.get("/compute/approvals", headers=HTML).text
    table = first.split('data-testid="decided"', 1)[1].split("</table>", 1)[0]
    assert table.count("<tr>") == 1 + 1 and 'rel="next"' in first  # header + one row, and a next page
    second = client.get("/compute/approvals", params={"offset": 1}, headers=HTML).text
    assert 'rel="prev"' in second and 'rel="next"' not in second
