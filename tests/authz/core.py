"""Core routes: who may read and change organisations, users, bindings, tokens, audit and the calendar."""

from __future__ import annotations

import uuid
from typing import Any

from cityhub.core import service as core
from cityhub.core.schemas import ApiTokenCreate
from tests.authz import ANY_USER, PUBLIC, Expect, roles
from tests.conftest import PASSWORD

ADMIN = roles("platform_admin")
ADMINS_A = roles("platform_admin", "org_admin_a")


def prepare(w: Any) -> None:
    """A token of member A (to revoke) and a throwaway org under dept A (to delete)."""
    tok, _ = core.api_token_create(w.session, core.Actor.system("t"), w.users["org_member_a"].id,
                                   ApiTokenCreate(name="victim"))
    w.extra["token_a"] = tok.id
    from cityhub.core.schemas import OrganizationCreate

    w.extra["unit_a"] = core.organization_create(w.session, core.Actor.system("t"), OrganizationCreate(
        name="甲局科室", code="t-a-unit", kind="unit", parent_id=w.orgs["dept_a"].id)).id
    w.extra["binding_member_a"] = core.user_roles(w.session, w.users["org_member_a"].id)[0].id


def _new_user(w: Any) -> dict[str, Any]:
    return {"username": f"u{uuid.uuid4().hex[:8]}", "password": "long-enough-1", "org_id": str(w.orgs["dept_a"].id)}


def _org_b(w: Any) -> Any:
    return w.orgs["dept_b"].id


def _user_b(w: Any) -> Any:
    return w.users["org_member_b"].id


EXPECTATIONS = [
    Expect("GET", "/healthz", PUBLIC),
    Expect("GET", "/readyz", PUBLIC),
    Expect("GET", "/metrics", PUBLIC),
    Expect("GET", "/api/v1/me", ANY_USER),
    Expect("GET", "/api/v1/organizations", ANY_USER),
    Expect("GET", "/api/v1/organizations/{org_id}", ANY_USER, params=lambda w: {"org_id": w.orgs["dept_b"].id}),
    Expect("POST", "/api/v1/organizations", ADMINS_A, note="org admin A may add a unit under dept A",
           body=lambda w: {"name": "新科室", "code": f"n{uuid.uuid4().hex[:6]}", "kind": "unit",
                           "parent_id": str(w.orgs["dept_a"].id)}, refs={"parent_id": _org_b}),
    Expect("POST", "/api/v1/organizations", ADMIN, note="only platform admins create top-level orgs",
           body=lambda w: {"name": "新市", "code": f"n{uuid.uuid4().hex[:6]}", "kind": "city"}),
    Expect("PATCH", "/api/v1/organizations/{org_id}", ADMINS_A,
           params=lambda w: {"org_id": w.orgs["dept_a"].id}, body=lambda w: {"name_en": "Dept A"},
           refs={"head_user_id": _user_b}),
    Expect("PATCH", "/api/v1/organizations/{org_id}", ADMIN,
           params=lambda w: {"org_id": w.orgs["dept_b"].id}, body=lambda w: {"name_en": "Dept B"}),
    Expect("DELETE", "/api/v1/organizations/{org_id}", ADMIN, params=lambda w: {"org_id": w.extra["unit_a"]}),
    Expect("GET", "/api/v1/users", ANY_USER),
    Expect("GET", "/api/v1/users/{user_id}", roles("platform_admin", "auditor", "org_admin_a", "org_member_a"),
           params=lambda w: {"user_id": w.users["org_member_a"].id}),
    Expect("POST", "/api/v1/users", ADMINS_A, body=_new_user, refs={"org_id": _org_b}),
    Expect("PATCH", "/api/v1/users/{user_id}", ADMINS_A, params=lambda w: {"user_id": w.users["org_member_a"].id},
           body=lambda w: {"display_name": "改名"}),
    Expect("PUT", "/api/v1/users/{user_id}/password", roles("platform_admin", "org_admin_a", "org_member_a"),
           params=lambda w: {"user_id": w.users["org_member_a"].id},
           body=lambda w: {"password": "new-password-9", "current_password": PASSWORD},
           note="the user themselves with the current password; admins reset it without"),
    Expect("GET", "/api/v1/role-bindings", ANY_USER),
    Expect("POST", "/api/v1/role-bindings", ADMINS_A, body=lambda w: {
        "user_id": str(w.users["org_member_a"].id), "org_id": str(w.orgs["dept_a"].id), "role": "org_admin"},
        refs={"user_id": _user_b, "org_id": _org_b}),
    Expect("POST", "/api/v1/role-bindings", ADMIN, note="operator role is the platform admin's to grant",
           body=lambda w: {"user_id": str(w.users["org_member_a"].id), "org_id": str(w.orgs["dept_a"].id),
                           "role": "operator"}),
    Expect("DELETE", "/api/v1/role-bindings/{binding_id}", ADMINS_A,
           params=lambda w: {"binding_id": w.extra["binding_member_a"]}),
    Expect("GET", "/api/v1/tokens", ANY_USER),
    Expect("POST", "/api/v1/tokens", ANY_USER, body=lambda w: {"name": "mine"}),
    Expect("DELETE", "/api/v1/tokens/{token_id}", roles("platform_admin", "org_admin_a", "org_member_a"),
           params=lambda w: {"token_id": w.extra["token_a"]}),
    Expect("GET", "/api/v1/audit", roles("platform_admin", "auditor")),
    Expect("GET", "/api/v1/audit.csv", roles("platform_admin", "auditor")),
    Expect("GET", "/api/v1/calendar", ANY_USER, query=lambda w: {"year": 2026}),
    Expect("PUT", "/api/v1/calendar/{day}", ADMIN, params=lambda w: {"day": "2026-12-31"},
           body=lambda w: {"working": False, "name": "测试"}),
]
