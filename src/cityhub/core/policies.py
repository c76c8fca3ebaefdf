"""One permission check per core action, named like the action; each raises Forbidden or returns None."""

from __future__ import annotations

import uuid

from cityhub.core.actor import Actor
from cityhub.core.models import Role
from cityhub.core.permissions import P, can, require, require_authenticated, require_permission

__all__ = ["require", "require_authenticated"]  # re-exported for core's service

# Roles an org admin may hand out inside their own subtree; the rest are the platform admin's to grant.
ORG_ADMIN_GRANTABLE = {Role.ORG_ADMIN.value, Role.ORG_MEMBER.value}


def organization_create(actor: Actor, parent_id: uuid.UUID | None) -> None:
    """Platform admins create anywhere; org admins create units under their own subtree."""
    if parent_id is None:
        require(actor.is_platform_admin, "Only a platform admin can create a top-level organisation")
        return
    require_permission(actor, P.ORGANIZATION_MANAGE, parent_id)


def organization_update(actor: Actor, org_id: uuid.UUID) -> None:
    """Admins of the organisation (or above it) change it."""
    require_permission(actor, P.ORGANIZATION_MANAGE, org_id)


def organization_delete(actor: Actor, org_id: uuid.UUID) -> None:
    """Only platform admins delete organisations."""
    require_permission(actor, P.ORGANIZATION_DELETE, org_id)


def organization_read(actor: Actor) -> None:
    """Any logged-in user sees the organisation tree (it is public information)."""
    require_authenticated(actor)


def user_read(actor: Actor, user_org_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    """Users see themselves; admins and auditors see users of their subtree. Returns visibility."""
    return actor.user_id == user_id or can(actor, P.USER_READ, user_org_id)


def user_create(actor: Actor, org_id: uuid.UUID) -> None:
    """Admins create users in their subtree."""
    require_permission(actor, P.USER_MANAGE, org_id)


def user_update(actor: Actor, org_id: uuid.UUID, target_is_platform_admin: bool) -> None:
    """Admins change users of their subtree; only platform admins change a platform admin."""
    require_permission(actor, P.USER_MANAGE, org_id)
    # an org admin's reach ends at platform admins: disabling or resetting one would hand over the city
    require(not target_is_platform_admin or can(actor, P.ROLE_GRANT_ANY, org_id),
            "Only a platform admin can change a platform admin")


def user_password_set(actor: Actor, org_id: uuid.UUID, user_id: uuid.UUID, target_is_platform_admin: bool) -> None:
    """Users change their own password; admins reset those of their subtree (a platform admin's: platform admins)."""
    if actor.user_id == user_id:
        return
    user_update(actor, org_id, target_is_platform_admin)


def role_binding_grantable(actor: Actor, org_id: uuid.UUID, role: str) -> None:
    """The part of `role_binding_create` that needs no target user: may the actor hand out `role` at `org_id`?"""
    if can(actor, P.ROLE_GRANT_ANY, org_id):
        return
    require(
        can(actor, P.ROLE_GRANT_UNIT, org_id) and role in ORG_ADMIN_GRANTABLE,
        "Only a platform admin can grant this role here",
    )


def role_binding_create(actor: Actor, org_id: uuid.UUID, role: str, user_org_id: uuid.UUID,
                        user_is_platform_admin: bool) -> None:
    """Platform admins grant any role; org admins grant org_admin/org_member inside their subtree.

    An org admin binds only people whose home unit is inside their own subtree, and never a platform admin.
    """
    role_binding_grantable(actor, org_id, role)
    if can(actor, P.ROLE_GRANT_ANY, org_id):
        return
    require(can(actor, P.ROLE_GRANT_UNIT, user_org_id), "You can only give roles to people of your own unit")
    require(not user_is_platform_admin, "Only a platform admin can change a platform admin")


def role_binding_delete(actor: Actor, org_id: uuid.UUID, role: str, user_org_id: uuid.UUID,
                        user_is_platform_admin: bool) -> None:
    """Whoever may grant a binding may remove it."""
    role_binding_create(actor, org_id, role, user_org_id, user_is_platform_admin)


def user_logout(actor: Actor, user_id: uuid.UUID) -> None:
    """Users end their own sessions."""
    require(actor.user_id is not None and actor.user_id == user_id)


def api_token_create(actor: Actor, user_id: uuid.UUID) -> None:
    """Users create tokens for themselves (the CLI, as system, for anyone)."""
    require(actor.is_system or actor.user_id == user_id, "Tokens are created by their own user")
    require(actor.token_scopes is None or not actor.token_scopes, "A scoped token cannot mint tokens")


def api_token_revoke(actor: Actor, owner_org_id: uuid.UUID, owner_id: uuid.UUID) -> None:
    """Owners revoke their tokens; admins revoke tokens of users in their subtree."""
    require(actor.user_id == owner_id or can(actor, P.USER_MANAGE, owner_org_id))


def api_token_read(actor: Actor, owner_org_id: uuid.UUID, owner_id: uuid.UUID) -> bool:
    """Owners and admins of the owner's organisation see a token's metadata."""
    return actor.user_id == owner_id or can(actor, P.USER_MANAGE, owner_org_id)


def audit_read(actor: Actor) -> None:
    """Auditors and platform admins read the audit log (auditors within their subtree)."""
    require_permission(actor, P.AUDIT_READ, message="Only auditors read the audit log")


def calendar_day_set(actor: Actor) -> None:
    """The working-day calendar is the platform admin's."""
    require_permission(actor, P.CALENDAR_SET)


def bureau_set(actor: Actor) -> None:
    """Platform admins name the big-data bureau."""
    require_permission(actor, P.BUREAU_SET, message="Only a platform admin names the bureau")
