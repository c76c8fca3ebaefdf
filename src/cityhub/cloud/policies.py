"""One permission check per cloud action, named like the action; each raises Forbidden or returns a bool.

Departments see and change only their own tenancy, requests and systems; the bureau (cq-dsj by default) runs the
platform; department heads approve their unit's requests, the bureau approves those over the cost threshold.
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


def require(condition: bool, message: str = "You are not allowed to do this") -> None:
    """Raise Forbidden unless `condition`."""
    if not condition:
        raise Forbidden(_(message))


def org_visible(actor: Actor, org_id: uuid.UUID) -> bool:
    """Staff, auditors and operators covering the unit see its tenancy, requests and systems."""
    return actor.is_platform_admin or actor.has_any(READERS, org_id)


def is_bureau(actor: Actor, bureau_id: uuid.UUID | None) -> bool:
    """Platform admins and the bureau's admins act for the bureau."""
    return actor.is_platform_admin or (bureau_id is not None and actor.has(ORG_ADMIN, bureau_id))


def platform_manage(actor: Actor) -> None:
    """Provider accounts, regions, pools, catalog, tenancies, quotas and the periodic jobs are the platform's."""
    require(actor.is_platform_admin, "Only a platform admin manages the cloud platform")


def platform_read(actor: Actor) -> None:
    """Providers, pools and the catalog are visible to every logged-in user."""
    require(actor.is_authenticated, "Log in first")


def provider_read_detail(actor: Actor) -> None:
    """Reconciler findings and jobs: platform admins, auditors and operators."""
    require(actor.is_platform_admin or actor.has_any((AUDITOR, OPERATOR)), "Only the platform team sees this")


def request_create(actor: Actor, org_id: uuid.UUID) -> None:
    """Staff of the department order for it."""
    require(actor.has_any((ORG_ADMIN, ORG_MEMBER), org_id) or actor.is_platform_admin,
            "Only staff of the department order for its tenancy")


def request_approve_department(actor: Actor, org_id: uuid.UUID, head_user_id: uuid.UUID | None) -> None:
    """The department head (its 云长) or the department's admin approves first."""
    require(actor.is_platform_admin or actor.has(ORG_ADMIN, org_id)
            or (head_user_id is not None and actor.user_id == head_user_id),
            "Only the department head approves this request")


def request_approve_bureau(actor: Actor, bureau_id: uuid.UUID | None) -> None:
    """The bureau approves requests over the threshold."""
    require(is_bureau(actor, bureau_id), "Only the big-data bureau approves requests over the cost threshold")


def request_change(actor: Actor, org_id: uuid.UUID) -> None:
    """Resize and reclaim: the department's admin (or the platform)."""
    require(actor.is_platform_admin or actor.has(ORG_ADMIN, org_id),
            "Only the department's admin resizes or reclaims its resources")


def system_write(actor: Actor, org_id: uuid.UUID) -> None:
    """Department staff maintain their own systems' inventory, migration and DR records."""
    require(actor.is_platform_admin or actor.has_any((ORG_ADMIN, ORG_MEMBER), org_id),
            "Only the department's staff change its systems")


def ranking_read(actor: Actor, bureau_id: uuid.UUID | None) -> None:
    """The ranking of all units: the bureau, auditors and operators."""
    require(is_bureau(actor, bureau_id) or actor.has_any((AUDITOR, OPERATOR))
            or (bureau_id is not None and actor.has(ORG_MEMBER, bureau_id)),
            "Only the bureau sees the ranking of all units")
