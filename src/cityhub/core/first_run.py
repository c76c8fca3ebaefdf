"""First run without the demo: the first organisation and its first platform admin (`cityhub init`, issue 16)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from cityhub.core import service
from cityhub.core.actor import Actor
from cityhub.core.models import Role
from cityhub.core.schemas import OrganizationCreate, UserCreate
from cityhub.kit.errors import Conflict
from cityhub.kit.i18n import gettext as _


def platform_init(session: Session, actor: Actor, org: OrganizationCreate, username: str, password: str
                  ) -> tuple[Any, Any]:
    """Create the first organisation and bind its first user as platform admin; refused once any exists (409).

    Both go through the services, so each is validated (the field named on refusal) and audited; the caller's
    transaction holds both or neither.
    """
    existing = service.core_counts(session)["organizations"]
    if existing:
        raise Conflict(_("Already initialised: %(n)s organisations exist") % {"n": existing},
                       details={"organizations": existing})
    created = service.organization_create(session, actor, org)
    admin = service.user_create(session, actor, UserCreate(
        username=username, password=password, org_id=created.id, display_name=username,
        roles=[Role.PLATFORM_ADMIN]))
    return created, admin
