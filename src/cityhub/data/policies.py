"""One permission check per data action, named like the action; raise Forbidden.

Who may *see* an entry is not here: the visibility rule is `catalog.service.entry_visible` / `visible_clause`, one
definition for the Python check and the SQL filter. The three notions it and the other capabilities build on are
defined here once: "own unit" (`is_staff`, `staff_orgs`, `readable_orgs`, `can_read_org`), "the bureau"
(`is_bureau`, which platform admins pass too) and "insider" (`is_insider`).
"""

from __future__ import annotations

import uuid

from cityhub.core.actor import Actor
from cityhub.core.permissions import P, can, orgs_with, require, require_authenticated


def _writes(actor: Actor) -> bool:
    # A grant-scoped consuming-system token may only read its grant; `read` tokens never write.
    return actor.is_authenticated and actor.allows_scope("data:write")


def is_staff(actor: Actor, org_id: uuid.UUID | None) -> bool:
    """Platform admins, or admins/members of the organisation (or above it)."""
    if org_id is None:
        return actor.is_platform_admin
    return can(actor, P.DATA_WRITE, org_id)


def staff_orgs(actor: Actor) -> frozenset[uuid.UUID]:
    """Units whose data the actor works on (platform admins: check `is_platform_admin` first)."""
    return orgs_with(actor, P.DATA_WRITE)


def readable_orgs(actor: Actor) -> frozenset[uuid.UUID]:
    """Units whose unpublished entries, requests and objections the actor reads (staff and auditors)."""
    return orgs_with(actor, P.DATA_READ)


def is_insider(actor: Actor) -> bool:
    """Government staff: the system, or a user with any role binding (public portal users have none)."""
    return actor.is_system or bool(actor.roles)


def is_bureau(actor: Actor) -> bool:
    """Staff of the big-data bureau (or platform admins): they review, assign and see every unit's data work."""
    return can(actor, P.DATA_REVIEW)


def can_read_org(actor: Actor, org_id: uuid.UUID) -> bool:
    """Staff and auditors of the organisation."""
    return can(actor, P.DATA_READ, org_id)


def catalog_entry_create(actor: Actor, provider_org_id: uuid.UUID) -> None:
    """A department registers entries for itself."""
    require(_writes(actor) and is_staff(actor, provider_org_id), "You can only register entries of your own unit")


def catalog_entry_update(actor: Actor, provider_org_id: uuid.UUID) -> None:
    """A department edits only its own entries."""
    require(_writes(actor) and is_staff(actor, provider_org_id), "You can only change entries of your own unit")


def catalog_entry_submit(actor: Actor, provider_org_id: uuid.UUID) -> None:
    """The provider submits an entry (or its changes) for review."""
    catalog_entry_update(actor, provider_org_id)


def is_tier_reviewer(actor: Actor, tier_org_id: uuid.UUID | None) -> bool:
    """The reviewer of a tier: the bureau for the city's (None), the district's data admin for a district's."""
    if tier_org_id is None:
        return is_bureau(actor)
    return can(actor, P.DATA_TIER_REVIEW, tier_org_id)


def tier_reviewer_orgs(actor: Actor) -> frozenset[uuid.UUID]:
    """Districts whose tier the actor reviews (platform admins: check `is_platform_admin` first)."""
    return orgs_with(actor, P.DATA_TIER_REVIEW)


def catalog_entry_review(actor: Actor, tier_org_id: uuid.UUID | None = None) -> None:
    """The bureau reviews city entries before publication; a district's data admin reviews its district's."""
    require(_writes(actor) and is_tier_reviewer(actor, tier_org_id),
            "Only the reviewer of the entry's catalog (the big-data bureau or the district) reviews it")


def catalog_entry_share_upward(actor: Actor, tier_org_id: uuid.UUID | None) -> None:
    """The district's data admin shares its district's entries upward to the city catalog (or stops sharing)."""
    require(_writes(actor) and tier_org_id is not None and can(actor, P.DATA_TIER_REVIEW, tier_org_id),
            "Only the district's data administrator shares its entries with the city")


def catalog_entry_offline(actor: Actor, provider_org_id: uuid.UUID) -> None:
    """The provider or the bureau takes an entry offline."""
    require(_writes(actor) and (is_staff(actor, provider_org_id) or is_bureau(actor)))


def resource_manage(actor: Actor, provider_org_id: uuid.UUID) -> None:
    """The provider mounts, uploads and replaces resources of its entries."""
    require(_writes(actor) and is_staff(actor, provider_org_id), "Only the providing unit manages its resources")


def datastore_read_full(actor: Actor, provider_org_id: uuid.UUID) -> bool:
    """The provider reads its own rows unmasked."""
    return actor.is_system or (can(actor, P.DATA_FULL_ROWS, provider_org_id) and not actor.is_platform_admin)


def share_request_create(actor: Actor, requester_org_id: uuid.UUID | None) -> None:
    """Staff of a unit request data for their unit."""
    require(_writes(actor) and requester_org_id is not None and is_staff(actor, requester_org_id),
            "Only staff of a unit can request data for it")


def share_request_read(actor: Actor, requester_org_id: uuid.UUID, provider_org_id: uuid.UUID) -> bool:
    """The requester, the provider, the bureau and auditors see a request."""
    return can_read_org(actor, requester_org_id) or can_read_org(actor, provider_org_id) or is_bureau(actor)


def share_request_submit(actor: Actor, requester_org_id: uuid.UUID) -> None:
    """The requesting unit submits, withdraws, asks for coordination and activates its requests."""
    require(_writes(actor) and is_staff(actor, requester_org_id), "Only the requesting unit can do this")


def share_request_compliance_review(actor: Actor, tier_org_id: uuid.UUID | None = None) -> None:
    """Compliance review and arbitration are the bureau's; for a district's resource, the district's data admin's."""
    require(_writes(actor) and is_tier_reviewer(actor, tier_org_id),
            "Only the reviewer of the resource's catalog (the big-data bureau or the district) reviews compliance")


def share_request_core_approve(actor: Actor, tier_org_id: uuid.UUID | None = None) -> None:
    """核心 data: the final approval needs a bureau admin (a district's resource: the district's data admin)."""
    allowed = can(actor, P.DATA_CORE_APPROVE) if tier_org_id is None else can(actor, P.DATA_TIER_REVIEW, tier_org_id)
    require(_writes(actor) and allowed, "核心 data needs the approval of a bureau administrator")


def share_request_provider_review(actor: Actor, provider_org_id: uuid.UUID) -> None:
    """The providing unit reviews requests for its data."""
    require(_writes(actor) and is_staff(actor, provider_org_id), "Only the providing unit reviews this request")


def share_request_revoke(actor: Actor, provider_org_id: uuid.UUID) -> None:
    """The provider or the bureau revokes an active grant."""
    require(_writes(actor) and (is_staff(actor, provider_org_id) or is_bureau(actor)))


def grant_use(actor: Actor, consumer_org_id: uuid.UUID, grant_id: uuid.UUID,
              grant_user_id: uuid.UUID | None = None) -> bool:
    """Staff of the consuming unit, or the grant's own credential (its user's token scoped to this grant)."""
    if actor.token_scopes and not actor.allows_scope(f"data:grant:{grant_id}"):
        return False
    if actor.token_scopes and grant_user_id is not None and actor.user_id == grant_user_id:
        return True  # public portal users hold no role: their grant token is the whole permission
    return actor.is_system or consumer_org_id in actor.staff_orgs  # the platform admin is no consumer


def objection_raise(actor: Actor) -> None:
    """Any staff member of a unit may raise an objection."""
    require(_writes(actor) and actor.org_id is not None and is_staff(actor, actor.org_id))


def objection_handle(actor: Actor, handler_org_id: uuid.UUID) -> None:
    """The responsible provider handles objections."""
    require(_writes(actor) and is_staff(actor, handler_org_id), "Only the responsible unit handles this objection")


def objection_evaluate(actor: Actor, raiser_org_id: uuid.UUID) -> None:
    """The raising unit evaluates the handling."""
    require(_writes(actor) and is_staff(actor, raiser_org_id), "Only the raising unit evaluates the handling")


def demand_create(actor: Actor) -> None:
    """Any unit's staff files needs."""
    require(_writes(actor) and actor.org_id is not None and is_staff(actor, actor.org_id))


def demand_assign(actor: Actor) -> None:
    """The bureau assigns the responsible department."""
    require(_writes(actor) and is_bureau(actor), "Only the big-data bureau assigns needs")


def demand_answer(actor: Actor, assigned_org_id: uuid.UUID | None) -> None:
    """The assigned department answers."""
    require(_writes(actor) and assigned_org_id is not None and is_staff(actor, assigned_org_id),
            "Only the assigned unit answers this need")


def data_read(actor: Actor) -> None:
    """Lists, KPIs and exports need a login."""
    require_authenticated(actor)


# ---------------------------------------------------------------- open-data portal (issue 6)


def public_user_register(actor: Actor) -> None:
    """Visitors register themselves (a logged-in insider has no reason to)."""
    require(not is_insider(actor), "Government staff use their department account")


def open_application_create(actor: Actor) -> None:
    """A portal account (a registered citizen, not government staff, not a grant token) applies for 有条件开放 data."""
    require(actor.is_portal_account and not actor.token_scopes, "Register or log in as a public user to apply")


def open_application_activate(actor: Actor, requester_user_id: uuid.UUID | None) -> None:
    """The applicant activates their approved application (and receives the token)."""
    require(actor.user_id is not None and actor.user_id == requester_user_id and not actor.token_scopes,
            "Only the applicant can do this")


def sync_source_manage(actor: Actor, org_id: uuid.UUID) -> None:
    """A unit registers, changes and removes its own collection sources (their credentials included)."""
    require(_writes(actor) and can(actor, P.DATA_COLLECT, org_id),
            "You can only manage collection sources of your own unit")


def sync_job_create(actor: Actor) -> None:
    """Only staff who collect for some unit define jobs (asked before the ids in the body are looked up)."""
    require(_writes(actor) and can(actor, P.DATA_COLLECT), "You can only manage sync jobs of your own unit")


def sync_job_manage(actor: Actor, org_id: uuid.UUID) -> None:
    """A unit defines, changes and removes its own sync jobs."""
    require(_writes(actor) and can(actor, P.DATA_COLLECT, org_id), "You can only manage sync jobs of your own unit")


def sync_job_run(actor: Actor, org_id: uuid.UUID) -> None:
    """A unit runs its own sync jobs on demand (the scheduler runs as the system)."""
    require(_writes(actor) and can(actor, P.DATA_COLLECT, org_id), "You can only run sync jobs of your own unit")


def sync_source_harvest(actor: Actor, org_id: uuid.UUID) -> None:
    """A unit harvests its own CKAN sources into its catalog on demand."""
    require(_writes(actor) and can(actor, P.DATA_COLLECT, org_id), "You can only harvest sources of your own unit")


def collection_read(actor: Actor, org_id: uuid.UUID) -> bool:
    """Sources, jobs and runs are seen by the unit's staff and auditors and by the bureau (never credentials)."""
    return can_read_org(actor, org_id) or is_bureau(actor)


def quality_check_manage(actor: Actor, provider_org_id: uuid.UUID) -> None:
    """The provider declares and removes quality checks of its own entries and runs them."""
    require(_writes(actor) and is_staff(actor, provider_org_id), "You can only manage checks of your own entries")


def quality_task_read(actor: Actor, org_id: uuid.UUID) -> bool:
    """A quality task is seen by the responsible unit's staff and auditors (and units above it) and the bureau."""
    return can_read_org(actor, org_id) or is_bureau(actor)


def quality_task_resolve(actor: Actor, org_id: uuid.UUID) -> None:
    """The responsible unit reports its quality task resolved (the next run verifies it)."""
    require(_writes(actor) and is_staff(actor, org_id), "Only the responsible unit resolves its quality tasks")


def base_manage(actor: Actor) -> None:
    """The data bureau, the base databases' owner, decides the feeds of a base database and resolves conflicts."""
    require(_writes(actor) and can(actor, P.DATA_REVIEW))


def base_read(actor: Actor, feed_orgs: frozenset[uuid.UUID]) -> bool:
    """Golden records are read by the bureau and by the units feeding the base database (others: sharing grants)."""
    return actor.is_system or is_bureau(actor) or bool(feed_orgs & readable_orgs(actor))


# ---------------------------------------------------------------- data standards (issue 20)


def _standards_bureau(actor: Actor) -> None:
    require(_writes(actor) and is_bureau(actor), "Only the big-data bureau maintains data standards")


def data_element_create(actor: Actor) -> None:
    """The bureau drafts data elements."""
    _standards_bureau(actor)


def data_element_update(actor: Actor) -> None:
    """The bureau changes draft data elements."""
    _standards_bureau(actor)


def data_element_publish(actor: Actor) -> None:
    """The bureau publishes data elements for the catalog to use."""
    _standards_bureau(actor)


def data_element_retire(actor: Actor) -> None:
    """The bureau retires data elements (kept for the items that follow them, closed to new use)."""
    _standards_bureau(actor)


def code_list_create(actor: Actor) -> None:
    """The bureau drafts code lists."""
    _standards_bureau(actor)


def code_list_import(actor: Actor) -> None:
    """The bureau loads a draft code list's values."""
    _standards_bureau(actor)


def code_list_publish(actor: Actor) -> None:
    """The bureau publishes code lists."""
    _standards_bureau(actor)


def code_list_retire(actor: Actor) -> None:
    """The bureau retires code lists."""
    _standards_bureau(actor)


def standards_read_all(actor: Actor) -> bool:
    """Signed-in staff read every standard, drafts included; anybody reads the published (and retired) ones."""
    return is_insider(actor)


def conformance_read(actor: Actor, org_id: uuid.UUID) -> bool:
    """A resource's conformance: its unit's staff and auditors, and the bureau."""
    return actor.is_system or can_read_org(actor, org_id) or is_bureau(actor)


def conformance_recheck_allowed(actor: Actor, org_id: uuid.UUID) -> bool:
    """The providing unit's staff and the bureau count a resource's conformance again on demand."""
    return _writes(actor) and (is_staff(actor, org_id) or is_bureau(actor))


def conformance_recheck(actor: Actor, org_id: uuid.UUID) -> None:
    """Recheck a resource's conformance (see `conformance_recheck_allowed`)."""
    require(conformance_recheck_allowed(actor, org_id), "Only the providing unit and the bureau recheck conformance")
