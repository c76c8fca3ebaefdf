"""One permission check per cloud action, named like the action; each raises Forbidden or returns a bool.

Departments see and change only their own tenancy, requests and systems; department heads approve their unit's
requests, the bureau (`core.service.bureau_id`) approves those over the cost threshold and ranks the units. Who holds
which permission is `core.permissions.ROLE_PERMISSIONS`.
"""

from __future__ import annotations

import uuid

from cityhub.core.actor import Actor
from cityhub.core.permissions import P, can, require, require_authenticated, require_permission


def org_visible(actor: Actor, org_id: uuid.UUID) -> bool:
    """Staff, auditors and operators covering the unit, and the bureau, see its tenancy, requests and systems."""
    return can(actor, P.CLOUD_READ, org_id)


def platform_manage(actor: Actor) -> None:
    """Provider accounts, regions, pools, catalog, tenancies, quotas and the periodic jobs are the platform's."""
    require_permission(actor, P.CLOUD_PLATFORM_MANAGE, message="Only a platform admin manages the cloud platform")


def platform_read(actor: Actor) -> None:
    """Providers, pools and the catalog are visible to every logged-in user."""
    require_authenticated(actor)


def provider_read_detail(actor: Actor) -> None:
    """Reconciler findings and jobs: platform admins, auditors and operators."""
    require_permission(actor, P.CLOUD_PLATFORM_INSPECT, message="Only the platform team sees this")


def request_create(actor: Actor, org_id: uuid.UUID) -> None:
    """Staff of the department order for it."""
    require_permission(actor, P.CLOUD_REQUEST_CREATE, org_id, "Only staff of the department order for its tenancy")


def request_create_allowed(actor: Actor, org_id: uuid.UUID) -> bool:
    """May the actor order for the unit (pages show the order form only then)?"""
    return can(actor, P.CLOUD_REQUEST_CREATE, org_id)


def request_approve_department(actor: Actor, org_id: uuid.UUID, head_user_id: uuid.UUID | None) -> None:
    """The department head (its 云长) or the department's admin approves first."""
    require(can(actor, P.CLOUD_REQUEST_APPROVE_UNIT, org_id)
            or (head_user_id is not None and actor.user_id == head_user_id),
            "Only the department head approves this request")


def request_approve_bureau(actor: Actor) -> None:
    """The bureau's admins approve requests over the threshold."""
    require_permission(actor, P.CLOUD_REQUEST_APPROVE_BUREAU,
                       message="Only the big-data bureau approves requests over the cost threshold")


def request_change(actor: Actor, org_id: uuid.UUID) -> None:
    """Resize and reclaim: the department's admin (or the platform)."""
    require_permission(actor, P.CLOUD_RESOURCE_CHANGE, org_id,
                       "Only the department's admin resizes or reclaims its resources")


def system_write(actor: Actor, org_id: uuid.UUID) -> None:
    """Department staff maintain their own systems' inventory, migration and DR records."""
    require_permission(actor, P.CLOUD_SYSTEM_WRITE, org_id, "Only the department's staff change its systems")


def ranking_read(actor: Actor) -> None:
    """The ranking of all units: the bureau, auditors and operators."""
    require_permission(actor, P.CLOUD_RANKING_READ, message="Only the bureau sees the ranking of all units")


def sees_every_unit(actor: Actor) -> bool:
    """Who compares every unit (ratios of the whole city): the same people as the ranking."""
    return can(actor, P.CLOUD_RANKING_READ)
