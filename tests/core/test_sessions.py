"""Web sessions end on the server: a copied cookie stops working after logout, a password change, disabling or a
role change (issue 13, item 5), and changing one's own password needs the current one."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from cityhub.core.models import AuditEntry
from tests.conftest import PASSWORD

COOKIE = "cityhub_session"


def _csrf(client: TestClient, url: str = "/") -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', client.get(url).text)
    assert m, f"no CSRF token on {url}"
    return m.group(1)


def _login(client: TestClient, username: str, password: str = PASSWORD) -> None:
    r = client.post("/login", data={"username": username, "password": password,
                                    "csrf_token": _csrf(client, "/login")}, follow_redirects=False)
    assert r.status_code == 303, r.text[:200]


@contextmanager
def _copy_of(app: Any, client: TestClient) -> Iterator[TestClient]:
    """A second browser holding a copy of the first one's session cookie (a stolen or forgotten session)."""
    with TestClient(app) as other:
        other.cookies.set(COOKIE, client.cookies[COOKIE])
        yield other


def _me(client: TestClient) -> int:
    return int(client.get("/api/v1/me").status_code)


def test_logout_ends_every_copy_of_the_session(app: Any, client: TestClient, world: Any) -> None:
    _login(client, "t-a-member")
    with _copy_of(app, client) as thief:
        assert _me(client) == 200 and _me(thief) == 200
        r = client.post("/logout", data={"csrf_token": _csrf(client)}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/login"
        assert _me(thief) == 401  # the cookie the browser forgot is dead on the server too
        assert _me(client) == 401
    audit = world.session.scalars(select(AuditEntry).where(
        AuditEntry.action == "user_logout", AuditEntry.target_id == str(world.users["org_member_a"].id))).all()
    assert [a.actor_name for a in audit] == ["t-a-member"]
    _login(client, "t-a-member")  # logging in again works, with a fresh cookie
    assert _me(client) == 200


def test_changing_ones_own_password_needs_the_current_one_and_ends_sessions(
        app: Any, client: TestClient, world: Any) -> None:
    _login(client, "t-a-member")
    uid = world.users["org_member_a"].id
    with _copy_of(app, client) as thief:
        headers = {"X-CSRF-Token": _csrf(client)}
        url = f"/api/v1/users/{uid}/password"
        for body in ({"password": "brand-new-pass-1"},
                     {"password": "brand-new-pass-1", "current_password": "not-my-password"}):
            r = client.put(url, json=body, headers=headers)
            assert r.status_code == 422, r.text
            assert r.json()["error"]["details"][0]["field"] == "current_password"
        assert _me(thief) == 200  # a refused change ends nothing
        r = client.put(url, json={"password": "brand-new-pass-1", "current_password": PASSWORD}, headers=headers)
        assert r.status_code == 204, r.text
        assert _me(thief) == 401 and _me(client) == 401
    bad = client.post("/login", data={"username": "t-a-member", "password": PASSWORD,
                                      "csrf_token": _csrf(client, "/login")}, follow_redirects=False)
    assert bad.status_code == 401
    _login(client, "t-a-member", "brand-new-pass-1")
    assert _me(client) == 200


def test_a_stolen_session_cannot_change_the_password_through_a_token_either(client: TestClient, world: Any) -> None:
    uid = world.users["org_member_a"].id
    r = client.put(f"/api/v1/users/{uid}/password", json={"password": "brand-new-pass-1"},
                   headers=world.headers("org_member_a"))
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "current_password"


def test_an_admin_reset_needs_no_current_password_and_ends_the_users_sessions(
        app: Any, client: TestClient, world: Any) -> None:
    _login(client, "t-a-member")
    assert _me(client) == 200
    uid = world.users["org_member_a"].id
    r = client.put(f"/api/v1/users/{uid}/password", json={"password": "reset-by-admin-1"},
                   headers=world.headers("org_admin_a"))
    assert r.status_code == 204, r.text
    assert _me(client) == 401
    _login(client, "t-a-member", "reset-by-admin-1")
    assert _me(client) == 200


def test_disabling_a_user_ends_their_sessions(app: Any, client: TestClient, world: Any) -> None:
    _login(client, "t-a-member")
    with _copy_of(app, client) as other:
        assert _me(other) == 200
        r = client.patch(f"/api/v1/users/{world.users['org_member_a'].id}", json={"disabled": True},
                         headers=world.headers("org_admin_a"))
        assert r.status_code == 200, r.text
        assert _me(other) == 401
        # enabling the account again does not bring the old cookie back
        r = client.patch(f"/api/v1/users/{world.users['org_member_a'].id}", json={"disabled": False},
                         headers=world.headers("org_admin_a"))
        assert r.status_code == 200 and _me(other) == 401


def test_granting_and_removing_a_role_end_the_users_sessions(app: Any, client: TestClient, world: Any) -> None:
    _login(client, "t-a-member")
    with _copy_of(app, client) as other:
        assert _me(other) == 200
        r = client.post("/api/v1/role-bindings", headers=world.headers("org_admin_a"), json={
            "user_id": str(world.users["org_member_a"].id), "org_id": str(world.orgs["dept_a"].id),
            "role": "org_admin"})
        assert r.status_code == 201, r.text
        assert _me(other) == 401
    _login(client, "t-a-member")
    me = client.get("/api/v1/me").json()
    assert {b["role"] for b in me["roles"]} == {"org_member", "org_admin"}  # the new login has the new role
    with _copy_of(app, client) as other:
        r = client.delete(f"/api/v1/role-bindings/{r.json()['id']}", headers=world.headers("org_admin_a"))
        assert r.status_code == 204, r.text
        assert _me(other) == 401


def test_a_session_of_one_user_survives_changes_to_another(client: TestClient, world: Any) -> None:
    _login(client, "t-a-member")
    r = client.patch(f"/api/v1/users/{world.users['org_member_b'].id}", json={"disabled": True},
                     headers=world.headers("platform_admin"))
    assert r.status_code == 200
    assert _me(client) == 200
