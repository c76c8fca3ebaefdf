"""core.permissions: one table of roles → permissions, one `require`, the bureau defined once (issue 15).

The invariant: policies decide from this table; no module outside core names a role to decide access, and no
policy module defines its own `require`.
"""

from __future__ import annotations

import ast
import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from cityhub.core import permissions, service
from cityhub.core.actor import Actor
from cityhub.core.models import Role
from cityhub.core.permissions import ROLE_PERMISSIONS, DerivedRole, P, can, orgs_with
from cityhub.core.schemas import UserCreate
from cityhub.kit.errors import Forbidden

SRC = Path(__file__).resolve().parents[2] / "src" / "cityhub"
ROLE_NAMES = {r.value for r in Role} | {r.value for r in DerivedRole}


def _actor(**roles: frozenset[uuid.UUID]) -> Actor:
    return Actor(user_id=uuid.uuid4(), username="t", org_id=None, roles=dict(roles))


def test_every_role_has_a_row_and_every_permission_an_owner() -> None:
    assert set(ROLE_PERMISSIONS) == ROLE_NAMES
    granted = set().union(*ROLE_PERMISSIONS.values())
    assert granted == set(P)
    # the platform admin holds everything but unmasked rows: masking binds the platform's admins too
    assert set(P) - ROLE_PERMISSIONS[Role.PLATFORM_ADMIN] == {P.DATA_FULL_ROWS}


def test_a_permission_is_held_over_the_units_the_binding_covers() -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    member = _actor(org_member=frozenset({a}))
    assert can(member, P.DEVICE_WRITE, a)
    assert not can(member, P.DEVICE_WRITE, b)
    assert not can(member, P.ASSET_DELETE, a)  # an org admin's, not a member's
    assert can(member, P.DEVICE_WRITE)  # somewhere
    assert orgs_with(member, P.DEVICE_WRITE) == {a}
    assert not can(Actor.anonymous(), P.DATA_READ)
    assert can(Actor.system(), P.BUREAU_SET)
    with pytest.raises(Forbidden):
        permissions.require_permission(member, P.AUDIT_READ)


def test_no_policy_module_defines_its_own_require() -> None:
    for path in SRC.glob("*/policies.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        assert "require" not in names, f"{path.relative_to(SRC)} defines require(); import it from core.permissions"


def test_no_module_outside_core_names_a_role_to_decide_access() -> None:
    """Role names and `has`/`has_any`/`orgs_for` belong to core; domains ask for permissions."""
    role_literal = re.compile("[\"'](" + "|".join(sorted(ROLE_NAMES)) + ")[\"']")
    bad = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC)
        if rel.parts[0] in {"core", "demo"}:  # core defines roles; the demo binds its people to them
            continue
        text = path.read_text(encoding="utf-8")
        for i, line in enumerate(text.splitlines(), 1):
            if re.search(r"\.has_any\(|\.has\(|\.orgs_for\(|Role\.(PLATFORM_ADMIN|ORG_ADMIN|ORG_MEMBER|AUDITOR)",
                         line) or role_literal.search(line):
                if "OPERATOR = \"operator\"" in line:  # ops.models.IncidentSource: where an incident came from
                    continue
                bad.append(f"{rel}:{i}: {line.strip()}")
    assert not bad, "\n".join(bad)


def test_the_bureau_is_one_lookup_and_its_staff_act_for_it_city_wide(world: Any) -> None:
    s = world.session
    system = Actor.system("t")
    bureau = world.orgs["bureau"]
    service.bureau_set(s, system, bureau.id)
    assert service.bureau_id(s) == bureau.id
    member = service.user_create(s, system, UserCreate(username="bureau-m", password="password-123",
                                                      org_id=bureau.id, roles=[Role.ORG_MEMBER]))
    admin = service.user_create(s, system, UserCreate(username="bureau-a", password="password-123",
                                                     org_id=bureau.id, roles=[Role.ORG_ADMIN]))
    s.flush()
    m, a = service.actor_for_user(s, member), service.actor_for_user(s, admin)
    other = world.orgs["dept_a"].id
    assert can(m, P.DATA_REVIEW, other) and not can(m, P.DATA_CORE_APPROVE, other)
    assert can(a, P.DATA_CORE_APPROVE, other) and can(a, P.CLOUD_REQUEST_APPROVE_BUREAU, other)
    assert not can(m, P.DATA_WRITE, other)  # acting for the bureau is no licence to write a department's data
    # naming another unit moves the derived roles with it, and it is an audited action
    service.bureau_set(s, system, world.orgs["dept_b"].id)
    assert not can(service.actor_for_user(s, member), P.DATA_REVIEW, other)
    with pytest.raises(Forbidden):
        service.bureau_set(s, m, bureau.id)
