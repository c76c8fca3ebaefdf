"""A refused form comes back filled in (issue 16): `kit.web.form_action(keep=...)`.

The component registration form used to come back empty after a validation error. A refused form now carries the
values its handler keeps (never a password or a secret) to the page it redirects to — in the session, not the URL —
once; a successful form keeps nothing.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cityhub.compute import service as compute
from cityhub.kit import web
from cityhub.kit.settings import get_settings
from tests.compute.helpers import bureau_setup
from tests.compute.test_register_page import HTML, _doc, _form
from tests.web.test_pages import login


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no CSRF token in the page"
    return m.group(1)


def _value(html: str, name: str) -> str | None:
    """The value an input (or textarea) of that name shows."""
    m = re.search(rf'<input name="{name}"[^>]*\bvalue="([^"]*)"', html) or re.search(
        rf'<textarea name="{name}"[^>]*>([^<]*)</textarea>', html)
    return m.group(1) if m else None


def test_a_refused_component_registration_comes_back_filled_in(client: TestClient, world: Any,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    bureau_setup(world)
    monkeypatch.setattr(get_settings(), "compute_upstream_allowed_hosts", "api.dept.example")
    login(client, "t-a-member")
    form = _form(world, _csrf(client.get("/compute/components/new", headers=HTML).text), category="common",
                 submit="")
    r = client.post("/compute/components", data=form, files={"openapi": ("x.json", b"{not json", "application/json")},
                    headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/compute/components/new?msg=")
    page = client.get(r.headers["location"], headers=HTML).text
    assert 'data-testid="notice"' in page or "openapi" in page  # the refusal is said
    for name in ("code", "name_zh", "name_en", "subcategory", "tags", "availability", "p95_ms", "price_per_call",
                 "version", "upstream_url", "description"):
        assert _value(page, name) == form[name], name
    assert re.search(r'<option value="common" selected>', page)
    assert re.search(r'name="submit" value="1" >', page)  # the unticked box stays unticked
    assert 'data-testid="choose-again"' in page  # a browser cannot refill a file input: say so
    again = client.get("/compute/components/new", headers=HTML).text  # once: a fresh visit is a fresh form
    assert _value(again, "code") in (None, "") and 'data-testid="choose-again"' not in again
    # and a good registration keeps nothing
    ok = client.post("/compute/components", data=_form(world, _csrf(again)),
                     files=_doc(compute.builtin_openapi("coord-convert")), headers=HTML, follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"].startswith("/compute/components/licence-verify")
    assert _value(client.get("/compute/components/new", headers=HTML).text, "code") in (None, "")


def test_a_refused_user_keeps_the_name_never_the_password(client: TestClient, world: Any) -> None:
    login(client, "t-admin")
    csrf = _csrf(client.get("/admin/users").text)
    r = client.post("/admin/users", data={"csrf_token": csrf, "username": "zhang.san", "display_name": "张三",
                                          "password": "short", "org_id": str(world.orgs["dept_a"].id),
                                          "role": "org_member"}, follow_redirects=False)
    assert r.status_code == 303
    page = client.get(r.headers["location"]).text
    assert _value(page, "username") == "zhang.san" and _value(page, "display_name") == "张三"
    assert "short" not in page
    assert re.search(rf'<option value="{world.orgs["dept_a"].id}" selected>', page)


def test_a_refused_incident_comes_back_open_and_filled_in(client: TestClient, world: Any) -> None:
    login(client, "t-operator")
    csrf = _csrf(client.get("/ops/incidents").text)
    r = client.post("/ops/incidents", data={"csrf_token": csrf, "title": "管廊积水", "category": "pipe_gallery",
                                            "severity": "critical", "description": "三号舱积水 20 cm",
                                            "org_id": "not-an-id"},
                    follow_redirects=False)
    assert r.status_code == 303
    page = client.get(r.headers["location"]).text
    assert _value(page, "title") == "管廊积水" and _value(page, "description") == "三号舱积水 20 cm"
    assert re.search(r'<details class="card" open>', page)
    assert re.search(r'<option value="pipe_gallery" selected>', page) and re.search(
        r'<option value="critical" selected>', page)


def test_kept_values_fit_the_session_cookie() -> None:
    kept = web._kept_values({"name": "短", "sql": "x" * 5000, "n": 3, "flag": True})
    assert kept == {"name": "短", "n": "3"}  # the longest value goes first; booleans are not form values
