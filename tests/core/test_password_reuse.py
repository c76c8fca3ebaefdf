"""One hash per password while the demo builds its accounts; a fresh salt everywhere else (issue 16)."""

from __future__ import annotations

from typing import Any

from argon2 import PasswordHasher

from cityhub.core import service as core
from cityhub.core.schemas import UserCreate
from cityhub.core.users import passwords


def test_inside_the_block_one_password_has_one_hash_outside_a_fresh_salt(monkeypatch: Any) -> None:
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    assert passwords.hash_password("same-pass-1") != passwords.hash_password("same-pass-1")  # a fresh salt each
    with core.one_hash_per_password():
        a, b = passwords.hash_password("same-pass-1"), passwords.hash_password("same-pass-1")
        other = passwords.hash_password("other-pass-1")
    assert a == b and other != a
    assert passwords.verify_password(a, "same-pass-1") and passwords.verify_password(other, "other-pass-1")
    assert passwords.hash_password("same-pass-1") != a  # the block ended: salts are fresh again


def test_demo_users_share_a_hash_until_one_changes_their_password(world: Any) -> None:
    system = core.Actor.system("test")
    with core.one_hash_per_password():
        u1 = core.user_create(world.session, system, UserCreate(username="d-one", password="demo-pass-9",
                                                                org_id=world.orgs["dept_a"].id))
        u2 = core.user_create(world.session, system, UserCreate(username="d-two", password="demo-pass-9",
                                                                org_id=world.orgs["dept_a"].id))
    assert u1.password_hash == u2.password_hash
    core.user_password_set(world.session, system, u2.id, "demo-pass-9")
    assert u2.password_hash != u1.password_hash and passwords.verify_password(u2.password_hash, "demo-pass-9")
