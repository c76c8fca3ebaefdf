"""Read grants: an owner unit lets another unit (or everyone) read its entities, all or those of one type."""

from __future__ import annotations

import uuid

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from cityhub.context import policies
from cityhub.context.entities import check_name
from cityhub.context.jsonld import core as core_context
from cityhub.context.models import ContextGrant
from cityhub.context.schemas import GrantCreate
from cityhub.core import service as core
from cityhub.core.actor import Actor
from cityhub.kit.errors import Conflict, NotFound, ValidationFailed
from cityhub.kit.i18n import gettext as _


def _visible_grants(actor: Actor) -> list[object]:
    if policies.reads_all(actor):
        return []
    own = policies.read_orgs(actor)
    return [or_(ContextGrant.owner_org_id.in_(own), ContextGrant.grantee_org_id.in_(own))]


def grant_list(session: Session, actor: Actor) -> list[ContextGrant]:
    """Grants of the caller's units and to them (every grant for those who read all)."""
    return list(session.scalars(select(ContextGrant).where(*_visible_grants(actor))  # type: ignore[arg-type]  # _visible_grants returns SQL conditions typed as ColumnElement[bool] | bool
                                .order_by(ContextGrant.created_at, ContextGrant.id)))


def grant_create(session: Session, actor: Actor, data: GrantCreate) -> ContextGrant:
    """Grant reads of the owner's entities (422 naming the field for an unknown or invisible unit)."""
    units = core.org_parents(session)
    if data.owner_org_id not in units:
        raise ValidationFailed(_("Unknown organisation"), field="owner_org_id")
    policies.grant_create(actor, data.owner_org_id)
    # any unit may be the grantee: organisations are public (codes and names), granting to them is the point
    if data.grantee_org_id is not None and data.grantee_org_id not in units:
        raise ValidationFailed(_("Unknown organisation"), field="grantee_org_id")
    entity_type = ""
    if data.entity_type:
        try:
            entity_type = core_context().expand(check_name(data.entity_type, "entity_type"))
        except Exception as exc:
            raise ValidationFailed(_("Not a valid type name"), field="entity_type") from exc
    if session.scalar(select(ContextGrant.id).where(
            ContextGrant.owner_org_id == data.owner_org_id, ContextGrant.entity_type == entity_type,
            ContextGrant.grantee_org_id.is_(None) if data.grantee_org_id is None
            else ContextGrant.grantee_org_id == data.grantee_org_id)) is not None:
        raise Conflict(_("This grant exists already"))
    grant = ContextGrant(id=uuid.uuid4(), owner_org_id=data.owner_org_id, grantee_org_id=data.grantee_org_id,
                         entity_type=entity_type, note=data.note, created_by=actor.user_id)
    session.add(grant)
    session.flush()
    core.audit_record(session, actor, "context_grant_create", target_type="context_grant", target_id=grant.id,
                      org_id=grant.owner_org_id, after={"grantee_org_id": str(grant.grantee_org_id or "public"),
                                                        "entity_type": entity_type})
    return grant


def grant_delete(session: Session, actor: Actor, grant_id: uuid.UUID) -> None:
    """Withdraw a grant."""
    grant = session.scalar(select(ContextGrant).where(ContextGrant.id == grant_id,
                                                      *_visible_grants(actor)))  # type: ignore[arg-type]  # _visible_grants returns SQL conditions typed as ColumnElement[bool] | bool
    if grant is None:
        raise NotFound(_("Grant not found"))
    policies.grant_delete(actor, grant.owner_org_id)
    core.audit_record(session, actor, "context_grant_delete", target_type="context_grant", target_id=grant.id,
                      org_id=grant.owner_org_id, before={"grantee_org_id": str(grant.grantee_org_id or "public"),
                                                         "entity_type": grant.entity_type})
    session.delete(grant)
    session.flush()
