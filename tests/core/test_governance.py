"""Governance of accounts and roles (issue 13, item 9): an org admin binds only their own unit's people and never a
platform admin; nobody locks themselves out; the last active platform admin stays."""

from __future__ import annotations

from typing import Any

import pytest

from cityhub.core import service as core
from cityhub.core.schemas import ApiTokenCreate, UserCreate, UserUpdate
from cityhub.kit.errors import Conflict, ValidationFailed
from tests.conftest import PASSWORD, core_binding

SYSTEM = core.Actor.system("test")


def _bind(client: Any, world: Any, who: str, user: Any, org: str, role: str) -> Any:
    return client.post("/api/v1/role-bindings", headers=world.headers(who), json={
        "user_id": str(user.id), "org_id": str(world.orgs[org].id), "role": role})


def _platform_admin_at_home_in_dept_a(world: Any) -> Any:
    """A platform admin whose home unit is dept A (so inside org admin A's subtree)."""
    user = core.user_create(world.session, SYSTEM, UserCreate(username="t-a-pa", password=PASSWORD,
                                                              org_id=world.orgs["dept_a"].id))
    core.role_binding_create(world.session, SYSTEM, core_binding(user.id, world.orgs["city"].id, "platform_admin"))
    world.session.flush()
    return user


def test_an_org_admin_binds_only_people_of_their_own_subtree(client: Any, world: Any) -> None:
    r = _bind(client, world, "org_admin_a", world.users["org_member_b"], "dept_a", "org_member")
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "user_id"
    r = _bind(client, world, "org_admin_a", world.users["district_admin"], "dept_a", "org_admin")
    assert r.status_code == 422
    r = _bind(client, world, "org_admin_a", world.users["org_member_a"], "dept_a", "org_admin")
    assert r.status_code == 201, r.text  # their own member: fine
    # a platform admin may bind anybody anywhere
    assert _bind(client, world, "platform_admin", world.users["org_member_b"], "dept_a", "org_member"
                 ).status_code == 201


def test_an_org_admin_cannot_bind_or_take_over_a_platform_admin(client: Any, world: Any) -> None:
    pa = _platform_admin_at_home_in_dept_a(world)
    r = _bind(client, world, "org_admin_a", pa, "dept_a", "org_member")
    assert r.status_code == 403, r.text
    r = _bind(client, world, "org_admin_a", world.users["platform_admin"], "dept_a", "org_member")
    assert r.status_code in (403, 422), r.text  # the city's platform admin is not even visible to them
    own = core.user_roles(world.session, pa.id)[0]
    assert client.delete(f"/api/v1/role-bindings/{own.id}", headers=world.headers("org_admin_a")).status_code \
        in (403, 404)
    # nor disable one, nor reset their password (either would hand over the platform)
    r = client.patch(f"/api/v1/users/{pa.id}", json={"disabled": True}, headers=world.headers("org_admin_a"))
    assert r.status_code == 403, r.text
    r = client.put(f"/api/v1/users/{pa.id}/password", json={"password": "taken-over-1"},
                   headers=world.headers("org_admin_a"))
    assert r.status_code == 403, r.text
    # a platform admin still can
    r = client.patch(f"/api/v1/users/{pa.id}", json={"display_name": "甲局平台管理员"},
                     headers=world.headers("platform_admin"))
    assert r.status_code == 200


@pytest.mark.parametrize("role", ["platform_admin", "auditor", "operator"])
def test_an_org_admin_cannot_grant_platform_roles(client: Any, world: Any, role: str) -> None:
    assert _bind(client, world, "org_admin_a", world.users["org_member_a"], "dept_a", role).status_code == 403


def test_nobody_disables_themselves(client: Any, world: Any) -> None:
    for who in ("platform_admin", "org_admin_a"):
        uid = world.users[who].id
        r = client.patch(f"/api/v1/users/{uid}", json={"disabled": True}, headers=world.headers(who))
        assert r.status_code == 409 and r.json()["error"]["code"] == "self_lockout", r.text
        world.session.refresh(world.users[who])
        assert world.users[who].disabled is False


def test_a_platform_admin_cannot_remove_their_own_platform_admin_role(client: Any, world: Any) -> None:
    _platform_admin_at_home_in_dept_a(world)  # another platform admin exists: still refused
    own = [b for b in core.user_roles(world.session, world.users["platform_admin"].id) if b.role == "platform_admin"]
    r = client.delete(f"/api/v1/role-bindings/{own[0].id}", headers=world.headers("platform_admin"))
    assert r.status_code == 409 and r.json()["error"]["code"] == "self_lockout", r.text


def test_the_last_active_platform_admin_can_be_neither_disabled_nor_unbound(client: Any, world: Any) -> None:
    first = world.users["platform_admin"]
    binding = next(b for b in core.user_roles(world.session, first.id) if b.role == "platform_admin")
    with pytest.raises(Conflict) as err:
        core.user_update(world.session, SYSTEM, first.id, UserUpdate(disabled=True))
    assert err.value.code == "last_platform_admin"
    with pytest.raises(Conflict) as err:
        core.role_binding_delete(world.session, SYSTEM, binding.id)
    assert err.value.code == "last_platform_admin"
    # with a second active platform admin, one may go; then the other is the last
    second = _platform_admin_at_home_in_dept_a(world)
    _tok, raw = core.api_token_create(world.session, SYSTEM, second.id, ApiTokenCreate(name="t"))
    world.session.flush()
    r = client.delete(f"/api/v1/role-bindings/{binding.id}", headers={"Authorization": f"Bearer {raw}"})
    assert r.status_code == 204, r.text
    r = client.patch(f"/api/v1/users/{second.id}", json={"disabled": True}, headers=world.headers("platform_admin"))
    assert r.status_code == 404  # no longer a platform admin: the other is out of sight
    with pytest.raises(Conflict) as err:
        core.user_update(world.session, SYSTEM, second.id, UserUpdate(disabled=True))
    assert err.value.code == "last_platform_admin"
    # a disabled platform admin does not count as one who can still administer
    core.role_binding_create(world.session, SYSTEM, core_binding(first.id, world.orgs["city"].id, "platform_admin"))
    core.user_update(world.session, SYSTEM, first.id, UserUpdate(disabled=True))
    with pytest.raises(Conflict):
        core.user_update(world.session, SYSTEM, second.id, UserUpdate(disabled=True))


def test_a_portal_account_holds_no_staff_role(client: Any, world: Any, session: Any) -> None:
    from cityhub.data import service as portal
    from cityhub.data.schemas import PublicUserRegister

    citizen = portal.public_user_register(session, core.Actor.anonymous(), PublicUserRegister(
        username="citizen-zhao", email="zhao@example.org", password=PASSWORD))
    with pytest.raises(ValidationFailed) as err:
        core.role_binding_create(session, SYSTEM, core_binding(citizen.id, world.orgs["dept_a"].id, "org_member"))
    assert err.value.field == "user_id"
