"""Admin pages' forms: a refusal is a quoted flash message on the page it returns to, bad input a 4xx naming the
field, never a 500 (issue 15: one form helper for every domain)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.web.test_pages import _csrf, login


def test_a_refused_disable_is_a_flash_message_not_an_error_page(client: Any, world: Any) -> None:
    login(client, "t-admin")
    csrf = _csrf(client.get("/admin/users").text)
    me = world.users["platform_admin"]
    r = client.post(f"/admin/users/{me.id}/disabled", data={"csrf_token": csrf, "disabled": "true"},
                    follow_redirects=False)
    assert r.status_code == 303
    url = urlsplit(r.headers["location"])
    assert url.path == "/admin/users"
    assert parse_qs(url.query)["msg"]  # the refusal (no self-lockout), quoted into the redirect
    world.session.refresh(me)
    assert not me.disabled


def test_a_forged_csrf_token_is_refused(client: Any, world: Any) -> None:
    login(client, "t-admin")
    r = client.post(f"/admin/users/{world.users['org_member_a'].id}/disabled",
                    data={"csrf_token": "forged", "disabled": "true"}, follow_redirects=False)
    assert r.status_code == 403


def test_a_token_expiry_that_is_not_a_date_is_a_422_naming_the_field(client: Any, world: Any) -> None:
    login(client, "t-a-member")
    csrf = _csrf(client.get("/admin/tokens").text)
    r = client.post("/admin/tokens", data={"name": "t", "expires_at": "next tuesday", "csrf_token": csrf},
                    follow_redirects=False)
    assert r.status_code == 422 and "expires_at" in r.text
    past = client.post("/admin/tokens", data={"name": "t", "expires_at": "2001-01-01", "csrf_token": csrf},
                       follow_redirects=False)
    assert past.status_code == 303 and "msg=" in past.headers["location"]  # expires_at is in the past
    ok = client.post("/admin/tokens", data={"name": "t", "expires_at": "2999-12-31", "csrf_token": csrf})
    assert ok.status_code == 200 and 'data-testid="new-token"' in ok.text


def test_admin_lists_show_labels_in_english_and_filter_and_page(client: Any, world: Any) -> None:
    login(client, "t-admin")
    client.get("/lang/en?next=/")
    users = client.get("/admin/users").text
    assert "Platform administrator" in users and ">platform_admin<" not in users and "Account enabled" in users
    orgs = client.get("/admin/organizations", params={"kind": "district"}).text.split('data-testid="org-table"')[1]
    assert "丙区" in orgs and "甲局" not in orgs and "District (区)" in orgs
    found = client.get("/admin/organizations", params={"q": "甲"}).text.split('data-testid="org-table"')[1]
    assert "甲局" in found and "乙局" not in found
    assert client.get("/admin/organizations", params={"kind": "planet"}).status_code == 422
    tokens = client.get("/admin/tokens").text
    assert "Token valid" in tokens and "Everything the owner may do" in tokens
