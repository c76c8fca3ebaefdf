"""What every ops capability shares: the rule engine's own actor, and the owner unit a write names."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from cityhub.core import service as core
from cityhub.core.actor import Actor
from cityhub.kit.errors import ValidationFailed
from cityhub.kit.i18n import gettext as _

ENGINE_ACTOR = Actor.system("rule-engine")  # raises and clears alarms, opens incidents, records computed values


def home_org(actor: Actor) -> uuid.UUID:
    """The unit a new object belongs to when the caller names none: their own (422 when they have none)."""
    if actor.org_id is None:
        raise ValidationFailed(_("Name the owner organisation"), field="org_id")
    return actor.org_id


def org_exists(session: Session, org_id: uuid.UUID | None, field: str) -> None:
    """422 naming `field` unless `org_id` is empty or an existing organisation."""
    if org_id is not None and org_id not in core.org_parents(session):
        raise ValidationFailed(_("Unknown organisation"), field=field)
