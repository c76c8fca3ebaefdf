"""One permission check per cloud action, named like the action; each raises Forbidden or returns a bool.

Every action the cloud audits (`core.audit_record(…, "<action>", …)`) has the function of the same name here, and
the service function writing that row calls it (tests/cloud/test_policies.py holds both). The reads and the worker
entry points that write no audit row of their own (`job_execute`, `idle_check`) have theirs too.

Departments see and change only their own tenancy, requests and systems; department heads approve their unit's
requests, the bureau (`core.service.bureau_id`) approves those over the cost threshold and ranks the units. Who
holds which permission is `core.permissions.ROLE_PERMISSIONS`; a rule here adds only what the target knows (the
unit's head, the approval step).
"""

from __future__ import annotations

import uuid
from typing import Any

from cityhub.core.actor import Actor
from cityhub.core.permissions import P, can, orgs_with, require, require_authenticated, require_permission

_PLATFORM = "Only a platform admin manages the cloud platform"
_WORKER = "Only the platform runs the cloud's provider jobs and periodic rules"


# ---------------------------------------------------------------- reads


def org_visible(actor: Actor, org_id: uuid.UUID) -> bool:
    """Staff, auditors and operators covering the unit, and the bureau, see its tenancy, requests and systems."""
    return can(actor, P.CLOUD_READ, org_id)


def org_visible_filter(actor: Actor, org_column: Any) -> Any:
    """`org_visible` as a SQL condition on a unit column, for lists (the same rule, in one query)."""
    if actor.is_platform_admin:
        return True
    return org_column.in_(orgs_with(actor, P.CLOUD_READ))


def platform_read(actor: Actor) -> None:
    """Providers, pools and the catalog are visible to every logged-in user."""
    require_authenticated(actor)


def platform_inspect(actor: Actor) -> None:
    """Reconciler findings and jobs: platform admins, auditors and operators."""
    require_permission(actor, P.CLOUD_PLATFORM_INSPECT, message="Only the platform team sees this")


def ranking_read(actor: Actor) -> None:
    """The ranking of all units: the bureau, auditors and operators."""
    require_permission(actor, P.CLOUD_RANKING_READ, message="Only the bureau sees the ranking of all units")


def sees_every_unit(actor: Actor) -> bool:
    """Who compares every unit (ratios of the whole city): the same people as the ranking."""
    return can(actor, P.CLOUD_RANKING_READ)


def request_create_allowed(actor: Actor, org_id: uuid.UUID) -> bool:
    """May the actor order for the unit (pages show the order form only then)?"""
    return can(actor, P.CLOUD_REQUEST_CREATE, org_id)


# ---------------------------------------------------------------- providers, regions, pools, catalog


def provider_account_create(actor: Actor) -> None:
    """Provider accounts (and their credentials) are the platform's."""
    require_permission(actor, P.CLOUD_PLATFORM_MANAGE, message=_PLATFORM)


def region_create(actor: Actor) -> None:
    """Regions of a provider account are the platform's."""
    require_permission(actor, P.CLOUD_PLATFORM_MANAGE, message=_PLATFORM)


def pool_create(actor: Actor) -> None:
    """Resource pools are the platform's."""
    require_permission(actor, P.CLOUD_PLATFORM_MANAGE, message=_PLATFORM)


def pool_update(actor: Actor) -> None:
    """A pool's capacity, price factor and security level are the platform's."""
    require_permission(actor, P.CLOUD_PLATFORM_MANAGE, message=_PLATFORM)


def catalog_item_create(actor: Actor) -> None:
    """The service catalog (云服务清单) is the platform's."""
    require_permission(actor, P.CLOUD_PLATFORM_MANAGE, message=_PLATFORM)


def provider_reconcile(actor: Actor) -> None:
    """Comparing a provider's inventory with cityhub's (it replaces the open findings): the platform."""
    require_permission(actor, P.CLOUD_PLATFORM_MANAGE, message=_PLATFORM)


# ---------------------------------------------------------------- tenancies, quotas, requests


def tenancy_create(actor: Actor) -> None:
    """The platform opens a department's tenancy."""
    require_permission(actor, P.CLOUD_PLATFORM_MANAGE, message=_PLATFORM)


def tenancy_quota_update(actor: Actor) -> None:
    """The platform sets a tenancy's quotas (a department cannot raise its own)."""
    require_permission(actor, P.CLOUD_PLATFORM_MANAGE, message=_PLATFORM)


def request_create(actor: Actor, org_id: uuid.UUID) -> None:
    """Staff of the department order for it."""
    require_permission(actor, P.CLOUD_REQUEST_CREATE, org_id, "Only staff of the department order for its tenancy")


def request_approve(actor: Actor, org_id: uuid.UUID, head_user_id: uuid.UUID | None, *, bureau_step: bool) -> None:
    """The department head (its 云长) or the department's admin approves first.

    Over the cost threshold the bureau's admins approve second.
    """
    if bureau_step:
        require_permission(actor, P.CLOUD_REQUEST_APPROVE_BUREAU,
                           message="Only the big-data bureau approves requests over the cost threshold")
        return
    require(can(actor, P.CLOUD_REQUEST_APPROVE_UNIT, org_id)
            or (head_user_id is not None and actor.user_id == head_user_id),
            "Only the department head approves this request")


def request_reject(actor: Actor, org_id: uuid.UUID, head_user_id: uuid.UUID | None, *, bureau_step: bool) -> None:
    """Whoever may approve a request at its current step may reject it there."""
    request_approve(actor, org_id, head_user_id, bureau_step=bureau_step)


def request_resize(actor: Actor, org_id: uuid.UUID) -> None:
    """The department's admin (or the platform) resizes its resources."""
    require_permission(actor, P.CLOUD_RESOURCE_CHANGE, org_id, "Only the department's admin resizes its resources")


def request_reclaim(actor: Actor, org_id: uuid.UUID) -> None:
    """The department's admin (or the platform) gives its resources back."""
    require_permission(actor, P.CLOUD_RESOURCE_CHANGE, org_id, "Only the department's admin reclaims its resources")


def request_retry(actor: Actor, org_id: uuid.UUID) -> None:
    """The department's admin (or the platform) queues a failed provisioning again."""
    require_permission(actor, P.CLOUD_RESOURCE_CHANGE, org_id,
                       "Only the department's admin retries its failed provisioning")


# ---------------------------------------------------------------- provider jobs (the worker acts for the platform)


def job_execute(actor: Actor) -> None:
    """Running a provider job attempt: the platform's worker (the system actor) or a platform admin."""
    require_permission(actor, P.CLOUD_PLATFORM_MANAGE, message=_WORKER)


def job_attempt_fail(actor: Actor) -> None:
    """Recording a failed attempt (and its retry or final failure): whoever runs the job."""
    require_permission(actor, P.CLOUD_PLATFORM_MANAGE, message=_WORKER)


def request_provisioned(actor: Actor) -> None:
    """Marking a request's resources created at the provider: whoever runs the job."""
    require_permission(actor, P.CLOUD_PLATFORM_MANAGE, message=_WORKER)


def request_fail(actor: Actor) -> None:
    """Giving a provisioning up after its last attempt (cleanup, pool released): whoever runs the job."""
    require_permission(actor, P.CLOUD_PLATFORM_MANAGE, message=_WORKER)


def request_reclaimed(actor: Actor) -> None:
    """Marking a request's resources destroyed at the provider: whoever runs the job."""
    require_permission(actor, P.CLOUD_PLATFORM_MANAGE, message=_WORKER)


# ---------------------------------------------------------------- metering and the idle rule


def usage_collect(actor: Actor) -> None:
    """Collecting a day's utilisation from the providers: the platform's worker."""
    require_permission(actor, P.CLOUD_PLATFORM_MANAGE, message=_WORKER)


def idle_check(actor: Actor) -> None:
    """Running the idle rule over every tenancy: the platform's worker."""
    require_permission(actor, P.CLOUD_PLATFORM_MANAGE, message=_WORKER)


def idle_case_remind(actor: Actor) -> None:
    """Opening an idle case (the reminder to the department): the idle rule, run by the platform."""
    require_permission(actor, P.CLOUD_PLATFORM_MANAGE, message=_WORKER)


def idle_case_escalate(actor: Actor) -> None:
    """Escalating an idle case to the bureau: the idle rule, run by the platform."""
    require_permission(actor, P.CLOUD_PLATFORM_MANAGE, message=_WORKER)


def idle_case_propose(actor: Actor) -> None:
    """Proposing a forced reduction: the idle rule, run by the platform."""
    require_permission(actor, P.CLOUD_PLATFORM_MANAGE, message=_WORKER)


def idle_case_resolve(actor: Actor) -> None:
    """Closing an idle case once the tenancy is back under the allowed redundancy: the idle rule."""
    require_permission(actor, P.CLOUD_PLATFORM_MANAGE, message=_WORKER)


# ---------------------------------------------------------------- information systems, ratios, DR


def system_create(actor: Actor, org_id: uuid.UUID) -> None:
    """Department staff add systems to their own inventory."""
    require_permission(actor, P.CLOUD_SYSTEM_WRITE, org_id, "Only the department's staff change its systems")


def system_update(actor: Actor, org_id: uuid.UUID) -> None:
    """Department staff maintain their own systems' inventory, strategy and DR record."""
    require_permission(actor, P.CLOUD_SYSTEM_WRITE, org_id, "Only the department's staff change its systems")


def system_transition(actor: Actor, org_id: uuid.UUID) -> None:
    """Department staff move their own systems along the migration."""
    require_permission(actor, P.CLOUD_SYSTEM_WRITE, org_id, "Only the department's staff change its systems")


def drill_record(actor: Actor, org_id: uuid.UUID) -> None:
    """Department staff record their own systems' DR drills."""
    require_permission(actor, P.CLOUD_SYSTEM_WRITE, org_id, "Only the department's staff change its systems")


def ratio_snapshot_take(actor: Actor) -> None:
    """Storing the day's 上云率/整合率 of every unit and the city: the platform's worker."""
    require_permission(actor, P.CLOUD_PLATFORM_MANAGE, message=_WORKER)
