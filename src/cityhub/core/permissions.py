"""One table of who may do what: roles → permissions, and the one `require` every policy raises through.

A permission is held *over* organisations: a role binding covers its unit and the unit's subtree
(`Actor.roles`), so `can(actor, P.DEVICE_WRITE, org)` asks "does any role the actor holds over `org` carry this
permission?". Each domain's `policies.py` keeps one function per action, named like the action, and states its
rule with these checks plus what only the target knows (the head of a unit, a grant's own credential, the token's
scope); no policy tests role names itself.

The big-data bureau is a core concept, defined once: a user bound as `org_admin` or `org_member` at the bureau
holds the derived roles `bureau_admin` / `bureau_staff`, which cover the whole city (`core/users/sessions.py`
`actor_of` adds them; `core.service.bureau_id` is the one lookup). So "the bureau reviews catalog entries" is a row of
this table, not a comparison with an organisation id in each domain. Likewise a user bound as `org_admin` at a
district (county, new area) holds the derived `district_data_admin` over the district: the reviewer of the
district's catalog tier (decision 0012).

Invariant (guarded by tests/core/test_permissions.py): the platform admin holds every permission but unmasked rows,
every policy module raises through this `require`, and no module outside core names a role to decide access.
"""

from __future__ import annotations

import uuid
from enum import StrEnum

from cityhub.core.actor import Actor
from cityhub.core.models import Role
from cityhub.kit.errors import Forbidden
from cityhub.kit.i18n import gettext as _


class DerivedRole(StrEnum):
    """Roles nobody is bound to: `core/users/sessions.py` `actor_of` derives them from bindings at the bureau."""

    BUREAU_ADMIN = "bureau_admin"  # org_admin at the bureau: acts for the bureau city-wide
    BUREAU_STAFF = "bureau_staff"  # org_admin or org_member at the bureau
    DISTRICT_DATA_ADMIN = "district_data_admin"  # org_admin bound at a district (区县): its catalog tier's reviewer


class P(StrEnum):
    """Every permission, `<area>.<verb>`; the policies of a domain use only its own and the core ones."""

    # core
    ORGANIZATION_MANAGE = "organization.manage"  # create units below, rename, move
    ORGANIZATION_DELETE = "organization.delete"
    USER_MANAGE = "user.manage"  # create, change, disable, reset passwords, revoke tokens
    USER_READ = "user.read"
    ROLE_GRANT_ANY = "role.grant_any"  # every role, platform_admin included
    ROLE_GRANT_UNIT = "role.grant_unit"  # org_admin / org_member inside the subtree
    AUDIT_READ = "audit.read"
    CALENDAR_SET = "calendar.set"
    BUREAU_SET = "bureau.set"
    CITY_OVERVIEW = "city.overview"  # the whole city at a glance: the landing page of the platform and the bureau
    # 云 cloud
    CLOUD_PLATFORM_MANAGE = "cloud.platform_manage"  # providers, pools, catalog, tenancies, quotas, jobs
    CLOUD_PLATFORM_INSPECT = "cloud.platform_inspect"  # reconciler findings and jobs
    CLOUD_READ = "cloud.read"  # a unit's tenancy, requests, systems, scores
    CLOUD_REQUEST_CREATE = "cloud.request_create"
    CLOUD_REQUEST_APPROVE_UNIT = "cloud.request_approve_unit"  # the department's approval (its head or admin)
    CLOUD_REQUEST_APPROVE_BUREAU = "cloud.request_approve_bureau"  # over the cost threshold
    CLOUD_RESOURCE_CHANGE = "cloud.resource_change"  # resize, reclaim, retry, release
    CLOUD_SYSTEM_WRITE = "cloud.system_write"  # information systems, migration, DR records
    CLOUD_RANKING_READ = "cloud.ranking_read"  # every unit's scores side by side
    # 联 connect
    CONNECT_READ = "connect.read"  # a unit's assets, devices, telemetry
    CONNECT_INSPECT = "connect.inspect"  # quarantine of unknown devices, every unit
    DEVICE_PROFILE_MANAGE = "connect.device_profile_manage"
    ASSET_WRITE = "connect.asset_write"
    ASSET_DELETE = "connect.asset_delete"
    DEVICE_WRITE = "connect.device_write"  # register, change, rotate credentials
    TELEMETRY_ARCHIVE = "connect.telemetry_archive"
    BROKER_AUTH_WRITE = "connect.broker_auth_write"
    # 数 data
    DATA_READ = "data.read"  # a unit's unpublished entries, requests, grants
    DATA_WRITE = "data.write"  # a unit's catalog entries, resources, requests, objections, demands
    DATA_FULL_ROWS = "data.full_rows"  # the provider reads its own rows unmasked
    DATA_REVIEW = "data.review"  # catalog review, compliance review, demand assignment, revoke, offline
    DATA_CORE_APPROVE = "data.core_approve"  # 核心 data's final approval
    DATA_COLLECT = "data.collect"  # a unit's collection sources (credentials) and sync jobs; run them
    # a district's (区县) data admin — org_admin bound at the district, the derived role district_data_admin —
    # reviews its tier's catalog entries and sharing requests and shares entries upward (decision 0012)
    DATA_TIER_REVIEW = "data.tier_review"
    # 一网统管 ops
    OPS_READ_ALL = "ops.read_all"  # every rule, alarm, incident
    OPS_COMMAND = "ops.command"  # raise alarms, open, dispatch and close incidents, routing table
    OPS_WORK = "ops.work"  # a unit's rules, alarms, incidents, indicators
    OPS_WEBHOOK_MANAGE = "ops.webhook_manage"
    # 算 compute (the capability hub)
    COMPUTE_READ = "compute.read"  # a unit's unpublished components, its applications, subscriptions, usage
    COMPUTE_READ_ALL = "compute.read_all"  # every unit's components, subscriptions and usage
    COMPUTE_PUBLISH = "compute.publish"  # register a unit's components and versions, submit them for review
    COMPUTE_CONSUME = "compute.consume"  # a unit's consumer applications, their keys and subscriptions
    COMPUTE_APPROVE = "compute.approve"  # decide subscriptions to the unit's components
    COMPUTE_REVIEW = "compute.review"  # the bureau: review components, publish versions, deprecate, retire
    COMPUTE_JOB_RUN = "compute.job_run"  # run a component version as a batch job over what the unit may read; cancel
    ANALYTICS_LAKE_READ = "analytics.lake_read"  # SQL over the whole Parquet lake (every unit's telemetry, facts)
    ANALYTICS_LAKE_EXPORT = "analytics.lake_export"  # write the registry and ops facts to the lake
    ANALYSIS_WRITE = "analytics.analysis_write"  # a unit's saved analyses: write, run (over what the runner may read)
    ANALYTICS_SIMULATE = "analytics.simulate"  # a unit's scenario runs: drainage, traffic, dispatch (run and read)
    # context (the NGSI-LD broker)
    CONTEXT_READ = "context.read"  # a unit's own entities (others' only through a grant, or when public)
    CONTEXT_READ_ALL = "context.read_all"  # every unit's entities
    CONTEXT_WRITE = "context.write"  # create, change and delete a unit's entities
    CONTEXT_GRANT = "context.grant"  # grant other units (or everyone) reads of the unit's entities
    CONTEXT_SUBSCRIBE = "context.subscribe"  # a unit's NGSI-LD subscriptions (notifications of its view)
    # 用 apply (the programme cockpit)
    APPLY_READ = "apply.read"  # the programme's targets, their progress and history (every member of staff)
    APPLY_REPORT = "apply.report"  # report progress, with evidence, on the unit's own targets
    APPLY_MANAGE = "apply.manage"  # the bureau: targets, the tree, computed progress runs
    APPLY_REVIEW = "apply.review"  # the bureau: review reported progress (never one's own report)


_UNIT_STAFF = frozenset({
    P.USER_READ, P.CLOUD_READ, P.CLOUD_REQUEST_CREATE, P.CLOUD_SYSTEM_WRITE, P.CONNECT_READ, P.ASSET_WRITE,
    P.DEVICE_WRITE, P.DATA_READ, P.DATA_WRITE, P.DATA_FULL_ROWS, P.DATA_COLLECT, P.OPS_WORK, P.COMPUTE_READ,
    P.COMPUTE_PUBLISH, P.COMPUTE_CONSUME, P.COMPUTE_JOB_RUN, P.CONTEXT_READ, P.CONTEXT_WRITE, P.CONTEXT_SUBSCRIBE,
    P.ANALYSIS_WRITE, P.APPLY_READ, P.APPLY_REPORT, P.ANALYTICS_SIMULATE,
})

ROLE_PERMISSIONS: dict[str, frozenset[P]] = {
    # every permission but reading a provider's rows unmasked: masking binds the platform's admins too
    Role.PLATFORM_ADMIN: frozenset(P) - {P.DATA_FULL_ROWS},
    Role.ORG_ADMIN: _UNIT_STAFF | {
        P.ORGANIZATION_MANAGE, P.USER_MANAGE, P.ROLE_GRANT_UNIT, P.CLOUD_REQUEST_APPROVE_UNIT,
        P.CLOUD_RESOURCE_CHANGE, P.ASSET_DELETE, P.OPS_WEBHOOK_MANAGE, P.COMPUTE_APPROVE, P.CONTEXT_GRANT,
    },
    Role.ORG_MEMBER: _UNIT_STAFF,
    Role.OPERATOR: frozenset({
        P.CLOUD_READ, P.CLOUD_PLATFORM_INSPECT, P.CLOUD_RANKING_READ, P.CONNECT_READ, P.CONNECT_INSPECT,
        P.OPS_READ_ALL, P.OPS_COMMAND, P.COMPUTE_READ_ALL, P.CONTEXT_READ_ALL, P.ANALYTICS_LAKE_READ, P.APPLY_READ,
        P.ANALYTICS_SIMULATE,
    }),
    Role.AUDITOR: frozenset({
        P.USER_READ, P.AUDIT_READ, P.CLOUD_READ, P.CLOUD_PLATFORM_INSPECT, P.CLOUD_RANKING_READ, P.CONNECT_READ,
        P.CONNECT_INSPECT, P.DATA_READ, P.OPS_READ_ALL, P.COMPUTE_READ_ALL, P.CONTEXT_READ_ALL,
        P.ANALYTICS_LAKE_READ, P.APPLY_READ,
    }),
    DerivedRole.BUREAU_STAFF: frozenset({P.CITY_OVERVIEW, P.DATA_REVIEW, P.CLOUD_RANKING_READ, P.COMPUTE_REVIEW,
                                         P.COMPUTE_READ_ALL, P.CONTEXT_READ_ALL, P.ANALYTICS_LAKE_READ,
                                         P.APPLY_READ, P.APPLY_MANAGE, P.APPLY_REVIEW}),
    DerivedRole.BUREAU_ADMIN: frozenset({P.DATA_CORE_APPROVE, P.CLOUD_REQUEST_APPROVE_BUREAU, P.CLOUD_READ}),
    DerivedRole.DISTRICT_DATA_ADMIN: frozenset({P.DATA_TIER_REVIEW}),
}


def require(condition: bool, message: str = "You are not allowed to do this") -> None:
    """Raise Forbidden (403) with the translated `message` unless `condition`."""
    if not condition:
        raise Forbidden(_(message))


def can(actor: Actor, permission: P, org_id: uuid.UUID | None = None) -> bool:
    """Does the actor hold `permission` over `org_id` (over some unit, when `org_id` is None)?"""
    if actor.is_system:
        return True
    for role, covered in actor.roles.items():
        granted = ROLE_PERMISSIONS.get(role)
        if granted is not None and permission in granted and (org_id is None or org_id in covered):
            return True
    return False


def can_any(actor: Actor, permission: P, org_ids: tuple[uuid.UUID | None, ...]) -> bool:
    """Does the actor hold `permission` over any of `org_ids` (None entries are skipped)?"""
    return any(o is not None and can(actor, permission, o) for o in org_ids)


def orgs_with(actor: Actor, permission: P) -> frozenset[uuid.UUID]:
    """Units over which the actor holds `permission` through a unit role, for filtering lists in one query.

    Platform admins hold every permission everywhere: a list filter checks `actor.is_platform_admin` first and
    skips the filter, so their binding is left out here (an `IN` over every unit would only be slower).
    """
    out: frozenset[uuid.UUID] = frozenset()
    for role, covered in actor.roles.items():
        if role != Role.PLATFORM_ADMIN and permission in ROLE_PERMISSIONS.get(role, frozenset()):
            out |= covered
    return out


def require_permission(actor: Actor, permission: P, org_id: uuid.UUID | None = None,
                       message: str = "You are not allowed to do this") -> None:
    """Raise Forbidden unless the actor holds `permission` over `org_id`."""
    require(can(actor, permission, org_id), message)


def require_authenticated(actor: Actor) -> None:
    """Anonymous callers are refused."""
    require(actor.is_authenticated, "Log in first")


def permissions_of(actor: Actor) -> frozenset[P]:
    """Everything the actor may do somewhere (navigation shows what this allows)."""
    if actor.is_system:
        return frozenset(P)
    out: frozenset[P] = frozenset()
    for role in actor.roles:
        out |= ROLE_PERMISSIONS.get(role, frozenset())
    return out
