"""The two tiers of the catalog (decision 0012): the city's, and each district's (区县) inside the same instance.

An entry's tier follows its provider: a unit inside a district (the district itself or any unit below it) publishes
into that district's catalog, every other unit into the city's. Organisations are never re-parented, so the tier is
derived once, when the entry is registered, and stored on it (`CatalogEntry.tier`, `tier_org_id`). Who sees an entry
of either tier is the one visibility rule of `catalog.service`; this module only answers the tier questions it asks.
"""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from cityhub.core import service as core
from cityhub.core.service import Actor
from cityhub.data import policies
from cityhub.data.models import CatalogEntry


def actor_tiers(session: Session, actor: Actor) -> frozenset[uuid.UUID]:
    """The districts (区县) whose own catalog the actor reads: those of the units they read (none for the bureau)."""
    if not policies.is_insider(actor) or policies.is_bureau(actor):
        return frozenset()
    out = {core.org_area(session, o) for o in policies.readable_orgs(actor)}
    return frozenset(o for o in out if o is not None)


def tier_of(session: Session, org_id: uuid.UUID) -> tuple[str, uuid.UUID | None]:
    """The catalog tier of a provider: ("district", its 区县) inside a district, else ("city", None)."""
    area = core.org_area(session, org_id)
    return ("city", None) if area is None else ("district", area)


def publisher_org_id(entry: CatalogEntry) -> uuid.UUID:
    """The unit the catalogs name as the entry's provider: the district for a district's entry, else the provider."""
    return entry.tier_org_id or entry.provider_org_id
