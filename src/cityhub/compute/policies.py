"""One permission check per compute action, named like the action; each raises Forbidden or returns a bool.

A unit registers its own components and versions and submits them; the bureau (its staff, `compute.review`)
reviews, publishes versions, deprecates and retires; a unit's staff run its consumer applications and their
subscriptions; the owner unit's admins decide subscriptions to its components; auditors, operators and the
bureau read every unit's usage. Published components are visible to every member of staff.
"""

from __future__ import annotations

import uuid

from cityhub.core.actor import Actor
from cityhub.core.permissions import P, can, orgs_with, require


def reads_all(actor: Actor) -> bool:
    """Auditors, operators, the bureau and platform admins see every unit's components, apps and usage."""
    return can(actor, P.COMPUTE_READ_ALL)


def reviews(actor: Actor) -> bool:
    """The bureau's staff (and platform admins) review components."""
    return can(actor, P.COMPUTE_REVIEW)


def read_orgs(actor: Actor) -> frozenset[uuid.UUID]:
    """Units whose unpublished components, applications and usage the actor reads (for list filters)."""
    return orgs_with(actor, P.COMPUTE_READ)


def sees_unit(actor: Actor, org_id: uuid.UUID) -> bool:
    """May the actor see the unit's unpublished components, applications, subscriptions and usage?"""
    return reads_all(actor) or reviews(actor) or can(actor, P.COMPUTE_READ, org_id)


def may_consume(actor: Actor, org_id: uuid.UUID) -> bool:
    """May the actor run the unit's consumer applications (forms offer these units)?"""
    return can(actor, P.COMPUTE_CONSUME, org_id)


def approves_any(actor: Actor) -> bool:
    """Does the actor decide subscriptions to some unit's components (the approval queue is theirs)?"""
    return reviews(actor) or can(actor, P.COMPUTE_APPROVE)


def component_create(actor: Actor, org_id: uuid.UUID) -> None:
    """A unit's staff register components for it."""
    require(can(actor, P.COMPUTE_PUBLISH, org_id), "Only the unit's staff register its components")


def component_update(actor: Actor, org_id: uuid.UUID) -> None:
    """The owner's staff change a draft."""
    component_create(actor, org_id)


def component_delete(actor: Actor, org_id: uuid.UUID) -> None:
    """The owner's staff delete a draft nobody subscribed to."""
    component_create(actor, org_id)


def component_version_create(actor: Actor, org_id: uuid.UUID) -> None:
    """The owner's staff add versions."""
    component_create(actor, org_id)


def component_submit(actor: Actor, org_id: uuid.UUID) -> None:
    """The owner's staff submit a draft for the bureau's review."""
    component_create(actor, org_id)


def component_review(actor: Actor) -> None:
    """The bureau reviews."""
    require(reviews(actor), "Only the big-data bureau reviews components")


def component_version_publish(actor: Actor) -> None:
    """The bureau publishes a new version of a published component."""
    component_review(actor)


def component_deprecate(actor: Actor, org_id: uuid.UUID) -> None:
    """The owner's staff or the bureau."""
    require(reviews(actor) or can(actor, P.COMPUTE_PUBLISH, org_id),
            "Only the owner or the big-data bureau deprecates a component")


def component_retire(actor: Actor, org_id: uuid.UUID) -> None:
    """The owner's staff or the bureau."""
    component_deprecate(actor, org_id)


def component_reinstate(actor: Actor) -> None:
    """Only the bureau brings a deprecated component back."""
    component_review(actor)


def app_create(actor: Actor, org_id: uuid.UUID) -> None:
    """A unit's staff register its applications."""
    require(can(actor, P.COMPUTE_CONSUME, org_id), "Only the unit's staff manage its applications")


def app_update(actor: Actor, org_id: uuid.UUID) -> None:
    """Same people as app_create."""
    app_create(actor, org_id)


def app_key_create(actor: Actor, org_id: uuid.UUID) -> None:
    """Same people as app_create."""
    app_create(actor, org_id)


def app_key_revoke(actor: Actor, org_id: uuid.UUID) -> None:
    """The unit's staff, and the bureau (a leaked key is stopped by whoever sees it first)."""
    require(reviews(actor) or can(actor, P.COMPUTE_CONSUME, org_id), "Only the unit's staff manage its applications")


def subscription_create(actor: Actor, org_id: uuid.UUID) -> None:
    """The application's unit asks."""
    app_create(actor, org_id)


def subscription_decide(actor: Actor, owner_org_id: uuid.UUID) -> None:
    """The component owner's admins (and the bureau's reviewers) decide."""
    require(reviews(actor) or can(actor, P.COMPUTE_APPROVE, owner_org_id),
            "Only the component owner's administrators decide subscriptions")


def subscription_approve_graded(actor: Actor, grade: str) -> None:
    """A component reading 重要 or 核心 data is approved as a sharing request of that data is: by the bureau.

    核心 data by a bureau administrator (`data.core_approve`). The owner's admins may still refuse.
    """
    require(reviews(actor), "A component reading graded data is approved by the big-data bureau")
    if grade == "core":
        require(can(actor, P.DATA_CORE_APPROVE), "核心 data needs the approval of a bureau administrator")


def subscription_revoke(actor: Actor, consumer_org_id: uuid.UUID, owner_org_id: uuid.UUID) -> None:
    """Either side ends a subscription: the consumer's staff, the owner's admins, the bureau."""
    require(reviews(actor) or can(actor, P.COMPUTE_CONSUME, consumer_org_id)
            or can(actor, P.COMPUTE_APPROVE, owner_org_id), "You may not end this subscription")


def usage_read(actor: Actor, org_id: uuid.UUID) -> None:
    """A unit's usage: its staff, and those who read every unit's."""
    require(sees_unit(actor, org_id), "You may not read this unit's usage")


def analytics_lake_read(actor: Actor) -> None:
    """Queries over the whole lake (every unit's archived telemetry and facts): city-wide readers only."""
    require(can(actor, P.ANALYTICS_LAKE_READ))


def analytics_lake_export(actor: Actor) -> None:
    """Writing the registry and ops facts to the lake: platform admins and the platform itself."""
    require(can(actor, P.ANALYTICS_LAKE_EXPORT))


def analysis_read(actor: Actor, org_id: uuid.UUID) -> bool:
    """May the actor see the unit's saved analyses (and run them)?"""
    return can(actor, P.ANALYSIS_WRITE, org_id)


def analysis_orgs(actor: Actor) -> frozenset[uuid.UUID]:
    """Units whose analyses the actor lists (platform admins: every unit, checked by the caller)."""
    return orgs_with(actor, P.ANALYSIS_WRITE)


def analysis_create(actor: Actor, org_id: uuid.UUID) -> None:
    """The unit's staff save its analyses."""
    require(can(actor, P.ANALYSIS_WRITE, org_id))


def analysis_update(actor: Actor, org_id: uuid.UUID) -> None:
    """The unit's staff change its analyses."""
    require(can(actor, P.ANALYSIS_WRITE, org_id))


def analysis_delete(actor: Actor, org_id: uuid.UUID) -> None:
    """The unit's staff delete its analyses."""
    require(can(actor, P.ANALYSIS_WRITE, org_id))


def analysis_run(actor: Actor, org_id: uuid.UUID) -> None:
    """The unit's staff run its analyses (each over the tables the runner may read)."""
    require(can(actor, P.ANALYSIS_WRITE, org_id))


def analysis_run_cancel(actor: Actor, org_id: uuid.UUID) -> None:
    """The unit's staff cancel its runs."""
    require(can(actor, P.ANALYSIS_WRITE, org_id))


def scenario_run(actor: Actor, org_id: uuid.UUID) -> None:
    """A unit's staff (and the operations center) run scenarios for it."""
    require(can(actor, P.ANALYTICS_SIMULATE, org_id))


def scenario_may_run(actor: Actor, org_id: uuid.UUID) -> bool:
    """Does the actor run scenarios for the unit (the page offers the unit)?"""
    return can(actor, P.ANALYTICS_SIMULATE, org_id)


def scenario_read(actor: Actor, org_id: uuid.UUID) -> bool:
    """May the actor read the unit's scenario runs (its own staff, city-wide compute readers)?"""
    return can(actor, P.ANALYTICS_SIMULATE, org_id) or can(actor, P.COMPUTE_READ_ALL)


def scenario_orgs(actor: Actor) -> frozenset[uuid.UUID] | None:
    """Units whose scenario runs the actor lists; None: every unit's."""
    if actor.is_platform_admin or can(actor, P.COMPUTE_READ_ALL):
        return None
    return orgs_with(actor, P.ANALYTICS_SIMULATE)


def sees_lake(actor: Actor) -> bool:
    """May the actor's SQL name the lake's views (every unit's telemetry)?"""
    return can(actor, P.ANALYTICS_LAKE_READ)


def job_create(actor: Actor, org_id: uuid.UUID) -> None:
    """A unit's staff run batch jobs for their unit."""
    require(can(actor, P.COMPUTE_JOB_RUN, org_id), "Only the unit's staff run its batch jobs")


def may_run_jobs(actor: Actor, org_id: uuid.UUID) -> bool:
    """Does the actor run batch jobs for the unit (the job form offers it)?"""
    return can(actor, P.COMPUTE_JOB_RUN, org_id)


def job_read(actor: Actor, org_id: uuid.UUID) -> None:
    """A unit's jobs are read by its staff and by those who read every unit's."""
    require(sees_unit(actor, org_id), "You may not read this unit's jobs")


def job_cancel(actor: Actor, org_id: uuid.UUID) -> None:
    """The unit's staff (and platform admins) cancel its jobs."""
    require(can(actor, P.COMPUTE_JOB_RUN, org_id), "Only the unit's staff cancel its batch jobs")
