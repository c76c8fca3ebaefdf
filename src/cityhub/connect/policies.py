"""One permission check per connect action, named like the action; each raises Forbidden or returns a bool.

Owners (staff of the owning unit or above it) manage their devices and assets; the platform team (platform
admins, auditors, operators) sees every device; others see nothing of another unit's devices.
"""

from __future__ import annotations

import uuid

from cityhub.core.actor import Actor
from cityhub.core.permissions import P, can, orgs_with, require_authenticated, require_permission


def org_visible(actor: Actor, org_id: uuid.UUID) -> bool:
    """Staff covering the owner, auditors and operators see its devices, assets and telemetry."""
    return can(actor, P.CONNECT_READ, org_id)


def visible_orgs(actor: Actor) -> frozenset[uuid.UUID] | None:
    """Organisations whose devices the actor sees (None: every one)."""
    return None if actor.is_platform_admin else orgs_with(actor, P.CONNECT_READ)


def device_write_allowed(actor: Actor, org_id: uuid.UUID) -> bool:
    """May the actor change the owner's devices (pages show the forms only then)?"""
    return can(actor, P.DEVICE_WRITE, org_id)


def platform_team(actor: Actor) -> bool:
    """Platform admins, auditors and operators (they see quarantine rows of unknown devices too)."""
    return can(actor, P.CONNECT_INSPECT)


def device_profile_create(actor: Actor) -> None:
    """Device profiles are the platform's shared vocabulary."""
    require_permission(actor, P.DEVICE_PROFILE_MANAGE, message="Only a platform admin manages device profiles")


def device_profile_read(actor: Actor) -> None:
    """Every logged-in user sees the profiles."""
    require_authenticated(actor)


def asset_create(actor: Actor, org_id: uuid.UUID) -> None:
    """Staff of the owning unit register its assets."""
    require_permission(actor, P.ASSET_WRITE, org_id, "Only staff of the owning unit manage its assets")


def asset_update(actor: Actor, org_id: uuid.UUID) -> None:
    """Staff of the owning unit change its assets."""
    require_permission(actor, P.ASSET_WRITE, org_id, "Only staff of the owning unit manage its assets")


def asset_delete(actor: Actor, org_id: uuid.UUID) -> None:
    """Admins of the owning unit remove empty assets."""
    require_permission(actor, P.ASSET_DELETE, org_id, "Only the owning unit's admin removes its assets")


def device_create(actor: Actor, org_id: uuid.UUID) -> None:
    """Staff of the owning unit register its devices."""
    require_permission(actor, P.DEVICE_WRITE, org_id, "Only staff of the owning unit manage its devices")


def device_update(actor: Actor, org_id: uuid.UUID) -> None:
    """Staff of the owning unit change its devices (status included)."""
    require_permission(actor, P.DEVICE_WRITE, org_id, "Only staff of the owning unit manage its devices")


def device_token_rotate(actor: Actor, org_id: uuid.UUID) -> None:
    """Staff of the owning unit issue a new device credential."""
    require_permission(actor, P.DEVICE_WRITE, org_id, "Only staff of the owning unit manage its devices")


def telemetry_archive(actor: Actor) -> None:
    """Archiving (and deleting) telemetry is the platform's."""
    require_permission(actor, P.TELEMETRY_ARCHIVE, message="Only a platform admin archives telemetry")


def broker_auth_write(actor: Actor) -> None:
    """Writing the broker's password and ACL files is the platform's."""
    require_permission(actor, P.BROKER_AUTH_WRITE, message="Only a platform admin writes the broker configuration")
