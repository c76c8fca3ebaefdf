"""One permission check per context action, named like the action; each raises Forbidden or returns a bool.

The owning organisation (the entity's NGSILD-Tenant) controls an entity: its staff create, change and delete it.
Other units read it through a grant of the owner's admins; anybody, anonymous callers included, reads entities a
public grant covers. Auditors, operators, the bureau and platform admins read every unit's entities. Which rows a
caller sees is one SQL filter (`service.visible`), built from `read_orgs` and `reads_all`.
"""

from __future__ import annotations

import uuid

from cityhub.core.actor import Actor
from cityhub.core.permissions import P, can, orgs_with, require


def reads_all(actor: Actor) -> bool:
    """Auditors, operators, the bureau and platform admins read every unit's entities."""
    return actor.is_platform_admin or can(actor, P.CONTEXT_READ_ALL)


def read_orgs(actor: Actor) -> frozenset[uuid.UUID]:
    """Units whose entities the actor reads as their own staff (and to which others' grants apply)."""
    return orgs_with(actor, P.CONTEXT_READ)


def writes(actor: Actor, org_id: uuid.UUID) -> bool:
    """May the actor change the unit's entities?"""
    return can(actor, P.CONTEXT_WRITE, org_id)


def entity_batch(actor: Actor) -> None:
    """A batch operation is for callers who change some unit's entities; each entity is then checked itself."""
    require(can(actor, P.CONTEXT_WRITE), "Only the owning unit's staff change its entities")


def entity_create(actor: Actor, org_id: uuid.UUID) -> None:
    """A unit's staff create entities of the unit."""
    require(writes(actor, org_id), "Only the owning unit's staff change its entities")


def entity_update(actor: Actor, org_id: uuid.UUID) -> None:
    """The owner's staff change an entity (attributes, replace, merge)."""
    entity_create(actor, org_id)


def entity_delete(actor: Actor, org_id: uuid.UUID) -> None:
    """The owner's staff delete an entity or its attributes."""
    entity_create(actor, org_id)


def grant_create(actor: Actor, owner_org_id: uuid.UUID) -> None:
    """The owner's admins grant reads of the unit's entities."""
    require(can(actor, P.CONTEXT_GRANT, owner_org_id), "Only the owning unit's admins grant reads of its entities")


def grant_delete(actor: Actor, owner_org_id: uuid.UUID) -> None:
    """The owner's admins withdraw a grant."""
    grant_create(actor, owner_org_id)


def subscription_write(actor: Actor, org_id: uuid.UUID) -> None:
    """A unit's staff create, change and delete the unit's subscriptions."""
    require(can(actor, P.CONTEXT_SUBSCRIBE, org_id), "Only the unit's staff manage its subscriptions")
