"""One permission check per connect action, named like the action; each raises Forbidden or returns a bool.

Owners (staff of the owning unit or above it) manage their devices and assets; the platform team (platform
admins, auditors, operators) sees every device; others see nothing of another unit's devices.
"""

from __future__ import annotations

import uuid

from cityhub.core.actor import Actor
from cityhub.kit.errors import Forbidden
from cityhub.kit.i18n import gettext as _

PLATFORM = "platform_admin"
ORG_ADMIN = "org_admin"
ORG_MEMBER = "org_member"
AUDITOR = "auditor"
OPERATOR = "operator"
READERS = (PLATFORM, ORG_ADMIN, ORG_MEMBER, AUDITOR, OPERATOR)
STAFF = (PLATFORM, ORG_ADMIN, ORG_MEMBER)


def require(condition: bool, message: str = "You are not allowed to do this") -> None:
    """Raise Forbidden unless `condition`."""
    if not condition:
        raise Forbidden(_(message))


def org_visible(actor: Actor, org_id: uuid.UUID) -> bool:
    """Staff covering the owner, auditors and operators see its devices, assets and telemetry."""
    return actor.is_platform_admin or actor.has_any(READERS, org_id)


def platform_team(actor: Actor) -> bool:
    """Platform admins, auditors and operators (they see quarantine rows of unknown devices too)."""
    return actor.is_platform_admin or actor.has_any((AUDITOR, OPERATOR))


def device_profile_create(actor: Actor) -> None:
    """Device profiles are the platform's shared vocabulary."""
    require(actor.is_platform_admin, "Only a platform admin manages device profiles")


def device_profile_read(actor: Actor) -> None:
    """Every logged-in user sees the profiles."""
    require(actor.is_authenticated, "Log in first")


def asset_create(actor: Actor, org_id: uuid.UUID) -> None:
    """Staff of the owning unit register its assets."""
    require(actor.has_any(STAFF, org_id), "Only staff of the owning unit manage its assets")


def asset_update(actor: Actor, org_id: uuid.UUID) -> None:
    """Staff of the owning unit change its assets."""
    require(actor.has_any(STAFF, org_id), "Only staff of the owning unit manage its assets")


def asset_delete(actor: Actor, org_id: uuid.UUID) -> None:
    """Admins of the owning unit remove empty assets."""
    require(actor.has_any((PLATFORM, ORG_ADMIN), org_id), "Only the owning unit's admin removes its assets")


def device_create(actor: Actor, org_id: uuid.UUID) -> None:
    """Staff of the owning unit register its devices."""
    require(actor.has_any(STAFF, org_id), "Only staff of the owning unit manage its devices")


def device_update(actor: Actor, org_id: uuid.UUID) -> None:
    """Staff of the owning unit change its devices (status included)."""
    require(actor.has_any(STAFF, org_id), "Only staff of the owning unit manage its devices")


def device_token_rotate(actor: Actor, org_id: uuid.UUID) -> None:
    """Staff of the owning unit issue a new device credential."""
    require(actor.has_any(STAFF, org_id), "Only staff of the owning unit manage its devices")


def telemetry_archive(actor: Actor) -> None:
    """Archiving (and deleting) telemetry is the platform's."""
    require(actor.is_platform_admin, "Only a platform admin archives telemetry")


def broker_auth_write(actor: Actor) -> None:
    """Writing the broker's password and ACL files is the platform's."""
    require(actor.is_platform_admin, "Only a platform admin writes the broker configuration")
