"""Server-rendered shell: login with CSRF, language switch, admin pages, open-redirect guard."""

from __future__ import annotations

import re
from typing import Any

from tests.conftest import PASSWORD


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no CSRF token in the page"
    return m.group(1)


def login(client: Any, username: str, password: str = PASSWORD, next_path: str = "/") -> Any:
    page = client.get("/login")
    return client.post("/login", data={"username": username, "password": password, "csrf_token": _csrf(page.text),
                                       "next": next_path}, follow_redirects=False)


def test_login_flow_and_pages(client: Any, world: Any) -> None:
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"
    r = login(client, "t-admin")
    assert r.status_code == 303 and r.headers["location"] == "/"
    home = client.get("/")
    assert "城市智能中枢" in home.text and 'data-testid="count-organizations"' in home.text
    for path in ("/admin/organizations", "/admin/users", "/admin/tokens", "/admin/audit"):
        assert client.get(path).status_code == 200, path


def test_login_without_csrf_is_refused(client: Any, world: Any) -> None:
    client.get("/login")
    r = client.post("/login", data={"username": "t-admin", "password": PASSWORD, "csrf_token": "forged"})
    assert r.status_code == 403


def test_wrong_password_shows_message(client: Any, world: Any) -> None:
    r = login(client, "t-admin", "wrong-password")
    assert r.status_code == 401 and "用户名或密码错误" in r.text


def test_open_redirect_is_refused(client: Any, world: Any) -> None:
    r = login(client, "t-admin", next_path="//evil.example/")
    assert r.headers["location"] == "/"


def test_language_switch(client: Any, world: Any) -> None:
    login(client, "t-admin")
    assert "退出" in client.get("/").text
    client.get("/lang/en?next=/")
    assert "Log out" in client.get("/").text


def test_cookie_api_write_needs_csrf_header(client: Any, world: Any) -> None:
    login(client, "t-admin")
    r = client.post("/api/v1/tokens", json={"name": "x"})
    assert r.status_code == 403
    token = _csrf(client.get("/admin/tokens").text)
    r = client.post("/api/v1/tokens", json={"name": "x"}, headers={"X-CSRF-Token": token})
    assert r.status_code == 201


def test_admin_form_creates_user_and_token_shown_once(client: Any, world: Any) -> None:
    login(client, "t-a-admin")
    page = client.get("/admin/users")
    r = client.post("/admin/users", data={"username": "formuser", "password": "formpass123", "csrf_token":
                                          _csrf(page.text), "org_id": str(world.orgs["dept_a"].id),
                                          "role": "org_member"})
    assert r.status_code == 200 and "formuser" in r.text
    csrf = _csrf(client.get("/admin/tokens").text)
    first = client.post("/admin/tokens", data={"name": "mine", "csrf_token": csrf}).text  # follows the redirect
    assert 'data-testid="new-token"' in first
    assert 'data-testid="new-token"' not in client.get("/admin/tokens").text


def test_non_admin_page_access(client: Any, world: Any) -> None:
    login(client, "t-a-member")
    r = client.get("/admin/audit", headers={"accept": "text/html"})
    assert r.status_code == 403


def test_admin_grants_and_removes_a_role_from_the_users_page(client: Any, world: Any, session: Any) -> None:
    from cityhub.core import service as core

    login(client, "t-a-admin")
    csrf = _csrf(client.get("/admin/users").text)
    member = world.users["org_member_a"]
    r = client.post(f"/admin/users/{member.id}/bindings", data={"csrf_token": csrf, "role": "org_admin",
                                                                 "org_id": str(world.orgs["dept_a"].id)})
    assert r.status_code == 200
    roles = {b.role for b in core.user_roles(session, member.id)}
    assert roles == {"org_member", "org_admin"}
    # an org admin may not hand out the operator role: the page says so, nothing is written
    r = client.post(f"/admin/users/{member.id}/bindings", data={"csrf_token": csrf, "role": "operator",
                                                                 "org_id": str(world.orgs["dept_a"].id)})
    assert "operator" not in {b.role for b in core.user_roles(session, member.id)}
    binding = next(b for b in core.user_roles(session, member.id) if b.role == "org_admin")
    client.post(f"/admin/bindings/{binding.id}/delete", data={"csrf_token": csrf})
    assert {b.role for b in core.user_roles(session, member.id)} == {"org_member"}
