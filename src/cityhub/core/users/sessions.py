"""Actors and logins: the Actor of a user, password login with lockout, web-session actors from the push cache.

An actor's roles are its bindings expanded to their subtrees, plus the derived roles of the bureau and of a
district's data admin.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityhub.core.actor import Actor
from cityhub.core.audit.service import audit_record
from cityhub.core.models import Role, RoleBinding, User
from cityhub.core.organizations.tree import (
    IDENTITY_NS,
    bureau_id,
    org_area,
    org_parents,
    org_subtree,
    portal_org_id,
)
from cityhub.core.permissions import DerivedRole
from cityhub.core.users import passwords
from cityhub.core.users.service import user_by_username
from cityhub.kit import clock, pushcache
from cityhub.kit.errors import NotFound
from cityhub.kit.i18n import gettext as _
from cityhub.kit.settings import get_settings


def actor_for_user(session: Session, user: User, token_scopes: tuple[str, ...] | None = None) -> Actor:
    """Build the Actor of a user: each role binding expanded to the organisation's subtree."""
    bindings = session.execute(
        select(RoleBinding.role, RoleBinding.org_id).where(RoleBinding.user_id == user.id)
    ).all()
    return actor_of(session, user.id, user.username, user.org_id, [(r, o) for r, o in bindings], token_scopes)


def actor_for_username(session: Session, username: str) -> Actor:
    """The Actor of a named user (CLI `--as`, tests)."""
    user = user_by_username(session, username)
    if user is None:
        raise NotFound(_("User not found"), details={"username": username})
    return actor_for_user(session, user)


@dataclass(frozen=True)
class LoginResult:
    """Outcome of a password login; the boundary commits either way (failure counters must stick)."""

    actor: Actor | None
    reason: str = ""
    session_version: int = 0  # for the session cookie (`core.deps.session_start`)


def login_attempt(session: Session, username: str, password: str) -> LoginResult:
    """Check a password, counting failures and locking the account after too many."""
    settings = get_settings()
    now = clock.now()
    user = user_by_username(session, username)
    anon = Actor(user_id=None, username=username[:64], kind="anonymous")
    if user is None:
        passwords.hash_password(password)  # same cost as a real check, so timing does not reveal unknown usernames
        audit_record(session, anon, "user_login", target_type="user", outcome="failed",
                     extra={"reason": "bad_credentials"})
        return LoginResult(None, "bad_credentials")
    if user.locked_until is not None and user.locked_until > now:
        passwords.verify_password(user.password_hash, password)  # the same work as any check; the answer is ignored
        audit_record(session, anon, "user_login", target_type="user", target_id=user.id, org_id=user.org_id,
                     outcome="refused", extra={"reason": "locked"})
        return LoginResult(None, "locked")
    if not passwords.verify_password(user.password_hash, password):
        user.failed_logins += 1
        reason = "bad_credentials"
        audit_record(session, anon, "user_login", target_type="user", target_id=user.id, org_id=user.org_id,
                     outcome="failed", extra={"reason": reason, "failures": user.failed_logins})
        if user.failed_logins >= settings.login_max_failures:
            user.locked_until = now + timedelta(minutes=settings.login_lock_minutes)
            user.failed_logins = 0
            audit_record(session, Actor.system(), "user_lock", target_type="user", target_id=user.id,
                         org_id=user.org_id, extra={"until": user.locked_until, "after_failures":
                                                    settings.login_max_failures})
            reason = "locked"
        session.flush()
        return LoginResult(None, reason)
    if user.disabled:
        audit_record(session, anon, "user_login", target_type="user", target_id=user.id, org_id=user.org_id,
                     outcome="refused", extra={"reason": "disabled"})
        return LoginResult(None, "disabled")
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    actor = actor_for_user(session, user)
    audit_record(session, actor, "user_login", target_type="user", target_id=user.id, org_id=user.org_id)
    return LoginResult(actor, session_version=user.session_version)


def actor_for_session_user(session: Session, user_id: uuid.UUID, session_version: int) -> Actor | None:
    """The Actor behind a web session cookie; None when the user is gone or disabled, or the cookie is stale.

    Stale: issued before the user's last logout, password change, disabling or role change (the session version
    it carries no longer matches).
    """
    cache = pushcache.for_session(session)
    generation = cache.generation(IDENTITY_NS) if cache is not None else None
    user = session.get(User, user_id)
    if user is None or user.disabled or user.session_version != session_version:
        return None
    actor = actor_for_user(session, user)
    if cache is not None and generation is not None:
        cache.put(IDENTITY_NS, ("user", user_id), (user.session_version, actor), generation)
    return actor


def cached_session_actor(session: Session, user_id: uuid.UUID, session_version: int) -> Actor | None:
    """`actor_for_session_user` from the push cache, without I/O; None when not cached (ask the database)."""
    cache = pushcache.for_session(session)
    hit = cache.get(IDENTITY_NS, ("user", user_id)) if cache is not None else None
    if hit is None or hit[0] != session_version:
        return None
    return hit[1]  # type: ignore[no-any-return]  # the Actor cached by actor_for_session_user


def actor_of(session: Session, user_id: uuid.UUID, username: str, org_id: uuid.UUID,
           bindings: Iterable[tuple[str, uuid.UUID]], token_scopes: tuple[str, ...] | None) -> Actor:
    """The Actor of a user from its (role, organisation) bindings; tokens pass their scopes."""
    bindings = list(bindings)
    roles: dict[str, frozenset[uuid.UUID]] = {}
    for role, bound_org in bindings:
        sub = org_subtree(session, bound_org)
        roles[role] = roles[role] | sub if role in roles else sub
    kind = "portal" if org_id == portal_org_id(session) else "user"
    _add_bureau_roles(session, roles)
    districts = [o for role, o in bindings if role == Role.ORG_ADMIN and org_area(session, o) == o]
    if districts:  # an org_admin bound at a district (county, new area) is its data admin (decision 0012)
        roles[DerivedRole.DISTRICT_DATA_ADMIN] = frozenset().union(*(org_subtree(session, o) for o in districts))
    return Actor(user_id=user_id, username=username, org_id=org_id, roles=roles, token_scopes=token_scopes,
                 kind=kind)


def _add_bureau_roles(session: Session, roles: dict[str, frozenset[uuid.UUID]]) -> None:
    """Staff bound at the bureau (or above it) act for it city-wide: the derived roles of `core.permissions`."""
    bureau = bureau_id(session)
    if bureau is None:
        return
    admin = bureau in roles.get(Role.ORG_ADMIN, frozenset())
    if not admin and bureau not in roles.get(Role.ORG_MEMBER, frozenset()):
        return
    parents = org_parents(session)
    root = bureau
    while (up := parents.get(root)) is not None:
        root = up
    city = org_subtree(session, root)
    roles[DerivedRole.BUREAU_STAFF] = city
    if admin:
        roles[DerivedRole.BUREAU_ADMIN] = city
