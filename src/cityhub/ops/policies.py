"""One permission check per ops action, named like the action; each raises Forbidden or returns a bool.

The operations center (operators, and platform admins) sees and dispatches everything; auditors read
everything; a department sees and acts on its own rules, alarms and incidents (and incidents shared with it); a
district sees the alarms inside it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from cityhub.core.actor import Actor
from cityhub.core.permissions import P, can, orgs_with, require, require_authenticated, require_permission


def is_center(actor: Actor) -> bool:
    """Operators of the operations center (and platform admins) see and dispatch everything."""
    return can(actor, P.OPS_COMMAND)


def sees_all(actor: Actor) -> bool:
    """The center and auditors see every rule, alarm and incident."""
    return can(actor, P.OPS_READ_ALL)


def is_staff(actor: Actor, org_id: uuid.UUID | None) -> bool:
    """Staff of the unit (or above it)."""
    return org_id is not None and can(actor, P.OPS_WORK, org_id)


def work_orgs(actor: Actor) -> frozenset[uuid.UUID]:
    """Units whose rules, alarms and incidents the actor works on (for list filters)."""
    return orgs_with(actor, P.OPS_WORK)


def webhook_orgs(actor: Actor) -> frozenset[uuid.UUID] | None:
    """Units whose webhooks the actor manages (None: every unit)."""
    return None if actor.is_platform_admin else orgs_with(actor, P.OPS_WEBHOOK_MANAGE)


def visible(actor: Actor, *org_ids: uuid.UUID | None) -> bool:
    """Seen by the center, auditors, and staff of any of the given organisations."""
    return sees_all(actor) or any(is_staff(actor, o) for o in org_ids)


def rule_create(actor: Actor, org_id: uuid.UUID) -> None:
    """The center writes rules for anyone; a department writes rules for its own devices and assets."""
    require(is_center(actor) or is_staff(actor, org_id), "Only the operations center or the owner writes this rule")


def rule_update(actor: Actor, org_id: uuid.UUID) -> None:
    """Same people as rule_create."""
    rule_create(actor, org_id)


def rule_delete(actor: Actor, org_id: uuid.UUID) -> None:
    """Same people as rule_create."""
    rule_create(actor, org_id)


def alarm_create(actor: Actor) -> None:
    """Operators raise alarms by hand."""
    require(is_center(actor), "Only the operations center raises alarms by hand")


def alarm_acknowledge(actor: Actor, org_id: uuid.UUID) -> None:
    """The center and the originator's owner acknowledge."""
    require(is_center(actor) or is_staff(actor, org_id), "Only the operations center or the owner handles this alarm")


def alarm_clear(actor: Actor, org_id: uuid.UUID) -> None:
    """The center and the originator's owner clear."""
    alarm_acknowledge(actor, org_id)


def alarm_assign(actor: Actor, org_id: uuid.UUID) -> None:
    """The center and the originator's owner assign."""
    alarm_acknowledge(actor, org_id)


def incident_visible(actor: Actor, org_id: uuid.UUID | None, shared: Iterable[uuid.UUID]) -> bool:
    """The center and auditors see all; a department sees its own incidents and those shared with it."""
    return sees_all(actor) or is_staff(actor, org_id) or any(is_staff(actor, o) for o in shared)


def incident_create(actor: Actor) -> None:
    """Operators open incidents."""
    require(is_center(actor), "Only the operations center opens incidents")


def incident_dispatch(actor: Actor) -> None:
    """Operators dispatch (and re-dispatch) incidents."""
    require(is_center(actor), "Only the operations center dispatches incidents")


def incident_work(actor: Actor, org_id: uuid.UUID | None) -> None:
    """Accept, start, resolve: the responsible department (or the center)."""
    require(is_center(actor) or is_staff(actor, org_id), "Only the responsible department works on this incident")


def incident_close(actor: Actor) -> None:
    """Closing and reopening are the center's (it checks the department's resolution)."""
    require(is_center(actor), "Only the operations center closes or reopens incidents")


def incident_comment(actor: Actor, org_id: uuid.UUID | None, shared: Iterable[uuid.UUID]) -> None:
    """Everyone involved comments and attaches (auditors only read)."""
    require(is_center(actor) or is_staff(actor, org_id) or any(is_staff(actor, o) for o in shared),
            "Only people working on this incident comment on it")


def incident_share(actor: Actor, org_id: uuid.UUID | None) -> None:
    """The center or the responsible department shares an incident with another department."""
    require(is_center(actor) or is_staff(actor, org_id), "Only the operations center or the department shares it")


def routing_rule_write(actor: Actor) -> None:
    """The routing table is the center's."""
    require(is_center(actor), "Only the operations center changes the routing table")


def indicator_write(actor: Actor, org_id: uuid.UUID) -> None:
    """The center and the indicator's owner define indicators and record values."""
    require(is_center(actor) or is_staff(actor, org_id), "Only the operations center or the owner changes this")


def webhook_write(actor: Actor, org_id: uuid.UUID) -> None:
    """A unit's admins (and platform admins) manage its webhooks."""
    require_permission(actor, P.OPS_WEBHOOK_MANAGE, org_id, "Only the unit's admin manages its webhooks")


def read(actor: Actor) -> None:
    """Any logged-in user reads the ops lists (filtered to what they may see)."""
    require_authenticated(actor)
