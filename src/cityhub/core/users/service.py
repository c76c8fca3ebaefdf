"""Users and their role bindings: create, change, disable, passwords, logout; who may bind whom.

A changed role set, password, disabling or logout ends the user's sessions (`end_sessions`: the session version
is bumped and every process drops the cached actor). The platform never loses its last active platform admin.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from cityhub.core import policies
from cityhub.core.actor import Actor
from cityhub.core.audit.service import audit_record, snapshot
from cityhub.core.models import Organization, Role, RoleBinding, User
from cityhub.core.organizations.tree import identity_changed, portal_org_id
from cityhub.core.schemas import RoleBindingCreate, UserCreate, UserUpdate
from cityhub.core.users import passwords
from cityhub.kit.errors import Conflict, NotFound, ValidationFailed
from cityhub.kit.i18n import gettext as _
from cityhub.kit.pagination import PageParams, paginate

_USER_FIELDS = ("username", "display_name", "email", "org_id", "disabled")


def user_get(session: Session, actor: Actor, user_id: uuid.UUID) -> User:
    """One user the actor may see (others are 404, as if absent)."""
    user = session.get(User, user_id)
    if user is None or not policies.user_read(actor, user.org_id, user.id):
        raise NotFound(_("User not found"), details={"id": str(user_id)})
    return user


def user_by_username(session: Session, username: str) -> User | None:
    """Look up a user by name (for the CLI and login)."""
    return session.scalar(select(User).where(User.username == username))


def user_list(
    session: Session, actor: Actor, page: PageParams, *, org_id: uuid.UUID | None = None, q: str | None = None,
    role: str | None = None,
) -> tuple[list[User], int]:
    """Users the actor may see (of one unit, holding one role anywhere, matching a name when asked)."""
    stmt = select(User).order_by(User.username)
    if not actor.has(Role.PLATFORM_ADMIN):
        visible = actor.orgs_for(Role.ORG_ADMIN, Role.AUDITOR)
        stmt = stmt.where(or_(User.org_id.in_(visible), User.id == actor.user_id))
    if org_id is not None:
        stmt = stmt.where(User.org_id == org_id)
    if q:
        stmt = stmt.where(or_(User.username.like(f"%{q}%"), User.display_name.like(f"%{q}%")))
    if role:
        stmt = stmt.where(select(RoleBinding.id).where(RoleBinding.user_id == User.id, RoleBinding.role == role)
                          .exists())
    return paginate(session, stmt, page)


def user_create(session: Session, actor: Actor, data: UserCreate) -> User:
    """Create a user, with optional roles within their organisation."""
    policies.user_create(actor, data.org_id)
    if session.get(Organization, data.org_id) is None:
        raise ValidationFailed(_("Organisation not found"), field="org_id")
    for role in data.roles:
        policies.role_binding_create(actor, data.org_id, role.value, data.org_id, False)
    if user_by_username(session, data.username) is not None:
        raise Conflict(_("This username is taken"), details={"field": "username", "value": data.username})
    user = User(
        username=data.username,
        display_name=data.display_name or data.username,
        email=data.email,
        org_id=data.org_id,
        password_hash=passwords.hash_password(data.password),
    )
    session.add(user)
    session.flush()
    audit_record(session, actor, "user_create", target_type="user", target_id=user.id, org_id=user.org_id,
                 after=snapshot(user, _USER_FIELDS))
    for role in data.roles:
        _binding_add(session, actor, user, data.org_id, role.value)
    return user


def user_update(session: Session, actor: Actor, user_id: uuid.UUID, data: UserUpdate) -> User:
    """Change a user's profile or disable/enable them (disabling ends their sessions)."""
    user = user_get(session, actor, user_id)
    policies.user_update(actor, user.org_id, is_platform_admin(session, user.id))
    changes = data.model_dump(exclude_unset=True)
    disabling = bool(changes.get("disabled")) and not user.disabled
    if disabling:
        if user.id == actor.user_id:
            raise Conflict(_("You cannot disable your own account"), code="self_lockout")
        keep_a_platform_admin(session, without_user=user.id)
    before = snapshot(user, _USER_FIELDS)
    for k, v in changes.items():
        setattr(user, k, v)
    session.flush()
    if disabling:
        end_sessions(session, user)
    identity_changed(session)  # disabled, username and home unit are part of the cached actor
    audit_record(session, actor, "user_update", target_type="user", target_id=user.id, org_id=user.org_id,
                 before=before, after=snapshot(user, _USER_FIELDS))
    return user


def user_password_set(session: Session, actor: Actor, user_id: uuid.UUID, password: str,
                      current_password: str | None = None) -> User:
    """Set a new password (and unlock the account); every session of the user ends.

    Changing one's own password needs the current one (a stolen session must not be enough to take the account);
    an admin resetting another user's password does not.
    """
    user = user_get(session, actor, user_id)
    policies.user_password_set(actor, user.org_id, user.id, is_platform_admin(session, user.id))
    if actor.user_id == user.id and not passwords.verify_password(user.password_hash, current_password or ""):
        raise ValidationFailed(_("The current password is wrong"), field="current_password")
    user.password_hash = passwords.hash_password(password)
    user.failed_logins = 0
    user.locked_until = None
    session.flush()
    end_sessions(session, user)
    audit_record(session, actor, "user_password_set", target_type="user", target_id=user.id, org_id=user.org_id)
    return user


def user_logout(session: Session, actor: Actor) -> None:
    """End every web session of the caller (the cookie's session version stops matching)."""
    if actor.user_id is None:
        return
    policies.user_logout(actor, actor.user_id)
    user = session.get(User, actor.user_id)
    if user is None:
        return
    end_sessions(session, user)
    audit_record(session, actor, "user_logout", target_type="user", target_id=user.id, org_id=user.org_id)


def end_sessions(session: Session, user: User) -> None:
    """End every web session of the user: the session version moves on and every process drops the actor."""
    # in SQL, so two concurrent bumps both count; then every process drops the user's cached session actor
    user.session_version = User.session_version + 1  # an SQL expression: the value is reloaded
    session.flush()
    identity_changed(session)


def is_platform_admin(session: Session, user_id: uuid.UUID) -> bool:
    """Does the user hold a platform_admin binding anywhere?"""
    return session.scalar(select(RoleBinding.id).where(
        RoleBinding.user_id == user_id, RoleBinding.role == Role.PLATFORM_ADMIN.value).limit(1)) is not None


def keep_a_platform_admin(session: Session, *, without_user: uuid.UUID | None = None,
                           without_bindings: Iterable[uuid.UUID] = ()) -> None:
    """Refuse a change that would leave no active platform admin (nobody could administer the city)."""
    stmt = (select(User.id).join(RoleBinding, RoleBinding.user_id == User.id)
            .where(RoleBinding.role == Role.PLATFORM_ADMIN.value, User.disabled.is_(False)))
    if without_user is not None:
        stmt = stmt.where(User.id != without_user)
    excluded = list(without_bindings)
    if excluded:
        stmt = stmt.where(RoleBinding.id.not_in(excluded))
    # on PostgreSQL the remaining admins' rows stay locked to the commit: two admins disabling each other at the
    # same time are serialised, and the second sees the first's change (no-op on SQLite, which has one writer)
    if session.scalars(stmt.limit(1).with_for_update(of=User)).first() is None:
        raise Conflict(_("This would leave the platform without an active platform admin"),
                       code="last_platform_admin")


def user_roles(session: Session, user_id: uuid.UUID) -> list[RoleBinding]:
    """A user's role bindings."""
    return list(session.scalars(select(RoleBinding).where(RoleBinding.user_id == user_id)
                                .order_by(RoleBinding.created_at)))


def user_roles_of(session: Session, user_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[RoleBinding]]:
    """The role bindings of several users in one query (a list page's rows); every asked id is a key."""
    ids = list(user_ids)
    out: dict[uuid.UUID, list[RoleBinding]] = {uid: [] for uid in ids}
    if ids:
        for b in session.scalars(select(RoleBinding).where(RoleBinding.user_id.in_(ids))
                                 .order_by(RoleBinding.created_at)):
            out[b.user_id].append(b)
    return out


# ---------------------------------------------------------------- role bindings


def _binding_add(session: Session, actor: Actor, user: User, org_id: uuid.UUID, role: str) -> RoleBinding:
    if user.org_id == portal_org_id(session):
        raise ValidationFailed(_("A portal account cannot hold staff roles"), field="user_id")
    exists = session.scalar(select(RoleBinding).where(
        RoleBinding.user_id == user.id, RoleBinding.org_id == org_id, RoleBinding.role == role))
    if exists is not None:
        raise Conflict(_("The user already has this role here"), details={"role": role})
    binding = RoleBinding(user_id=user.id, org_id=org_id, role=role)
    session.add(binding)
    session.flush()
    end_sessions(session, user)  # a changed role set starts from a fresh login
    audit_record(session, actor, "role_binding_create", target_type="role_binding", target_id=binding.id,
                 org_id=org_id, after={"user": user.username, "org_id": org_id, "role": role})
    return binding


def role_binding_create(session: Session, actor: Actor, data: RoleBindingCreate) -> RoleBinding:
    """Grant a role to a user within an organisation."""
    policies.role_binding_grantable(actor, data.org_id, data.role.value)
    user = session.get(User, data.user_id)
    if user is None or not policies.user_read(actor, user.org_id, user.id):
        # a user the caller may not see is unknown to them (no probing for who works elsewhere)
        raise ValidationFailed(_("User not found"), field="user_id")
    policies.role_binding_create(actor, data.org_id, data.role.value, user.org_id,
                                 is_platform_admin(session, user.id))
    if session.get(Organization, data.org_id) is None:
        raise ValidationFailed(_("Organisation not found"), field="org_id")
    return _binding_add(session, actor, user, data.org_id, data.role.value)


def role_binding_delete(session: Session, actor: Actor, binding_id: uuid.UUID) -> None:
    """Remove a role binding (never one's own platform_admin binding, nor the last active platform admin's)."""
    binding = session.get(RoleBinding, binding_id)
    if binding is None or not actor.has_any((Role.PLATFORM_ADMIN, Role.ORG_ADMIN, Role.AUDITOR), binding.org_id):
        raise NotFound(_("Role binding not found"))
    user = session.get(User, binding.user_id)
    if user is None:  # pragma: no cover - bindings cascade with their user
        raise NotFound(_("Role binding not found"))
    policies.role_binding_delete(actor, binding.org_id, binding.role, user.org_id, is_platform_admin(session, user.id))
    if binding.role == Role.PLATFORM_ADMIN.value:
        if user.id == actor.user_id:
            raise Conflict(_("You cannot remove your own platform admin role"), code="self_lockout")
        keep_a_platform_admin(session, without_bindings=[binding.id])
    before = {"user_id": binding.user_id, "org_id": binding.org_id, "role": binding.role}
    session.delete(binding)
    session.flush()
    end_sessions(session, user)
    audit_record(session, actor, "role_binding_delete", target_type="role_binding", target_id=binding_id,
                 org_id=before["org_id"], before=before)  # type: ignore[arg-type]  # values are UUIDs


def role_binding_list(
    session: Session, actor: Actor, page: PageParams, *, user_id: uuid.UUID | None = None,
    org_id: uuid.UUID | None = None,
) -> tuple[list[RoleBinding], int]:
    """Bindings the actor may see (their own, and those in orgs they administer or audit)."""
    stmt = select(RoleBinding).order_by(RoleBinding.created_at)
    if not actor.has(Role.PLATFORM_ADMIN):
        visible = actor.orgs_for(Role.ORG_ADMIN, Role.AUDITOR)
        stmt = stmt.where(or_(RoleBinding.org_id.in_(visible), RoleBinding.user_id == actor.user_id))
    if user_id is not None:
        stmt = stmt.where(RoleBinding.user_id == user_id)
    if org_id is not None:
        stmt = stmt.where(RoleBinding.org_id == org_id)
    return paginate(session, stmt, page)
