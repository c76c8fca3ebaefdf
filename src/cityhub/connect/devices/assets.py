"""Assets (bridges, buildings, pipe galleries …) the devices sit on: visibility, writes, the tree."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityhub.connect import policies
from cityhub.connect.ingest.facts import CACHE
from cityhub.connect.models import (
    Asset,
    Device,
)
from cityhub.connect.schemas import (
    AssetCreate,
    AssetUpdate,
)
from cityhub.core import service as core
from cityhub.core.actor import Actor
from cityhub.kit.errors import Conflict, NotFound, ValidationFailed
from cityhub.kit.i18n import gettext as _
from cityhub.kit.refs import reference as usable_ref


def asset_get(session: Session, actor: Actor, asset_id: uuid.UUID) -> Asset:
    """One asset (404 when not visible)."""
    asset = session.get(Asset, asset_id)
    if asset is None or not policies.org_visible(actor, asset.org_id):
        raise NotFound(_("Asset not found"))
    return asset


def asset_list(session: Session, actor: Actor, *, kind: str | None = None, org_id: uuid.UUID | None = None,
               parent_id: uuid.UUID | None = None) -> list[Asset]:
    """Assets the actor may see."""
    stmt = select(Asset).order_by(Asset.name)
    orgs = policies.visible_orgs(actor)
    if orgs is not None:
        stmt = stmt.where(Asset.org_id.in_(orgs))
    if kind:
        stmt = stmt.where(Asset.kind == kind)
    if org_id:
        stmt = stmt.where(Asset.org_id == org_id)
    if parent_id:
        stmt = stmt.where(Asset.parent_id == parent_id)
    return list(session.scalars(stmt))


def usable_asset(session: Session, actor: Actor, asset_id: uuid.UUID, field: str, message: str) -> Asset:
    """An asset named in a write: one the actor sees (else 422 naming the field) and manages (else 403)."""
    asset = usable_ref(field, lambda: asset_get(session, actor, asset_id), message)
    policies.asset_update(actor, asset.org_id)
    return asset


def check_org(session: Session, org_id: uuid.UUID | None, field: str) -> None:
    """422 naming `field` unless the organisation exists."""
    if org_id is not None and org_id not in core.org_parents(session):
        raise ValidationFailed(_("Unknown organisation"), field=field)


def asset_create(session: Session, actor: Actor, data: AssetCreate) -> Asset:
    """Register an asset (under a parent of the same owner, when given)."""
    check_org(session, data.org_id, "org_id")
    core.area_reference(session, data.district_id)
    policies.asset_create(actor, data.org_id)
    if data.parent_id is not None:
        usable_asset(session, actor, data.parent_id, "parent_id", _("Unknown parent asset"))
    asset = Asset(**data.model_dump())
    session.add(asset)
    session.flush()
    core.audit_record(session, actor, "asset_create", target_type="asset", target_id=str(asset.id),
                      org_id=asset.org_id,
                      after={"name": asset.name, "kind": asset.kind, "org_id": asset.org_id})
    CACHE.invalidate()
    return asset


def asset_update(session: Session, actor: Actor, asset_id: uuid.UUID, data: AssetUpdate) -> Asset:
    """Change an asset."""
    asset = asset_get(session, actor, asset_id)
    policies.asset_update(actor, asset.org_id)
    changes = data.model_dump(exclude_unset=True)
    if "name" in changes and changes["name"] is None:
        raise ValidationFailed(_("Name may not be empty"), field="name")
    core.area_reference(session, changes.get("district_id"))
    before = core.snapshot(asset, changes)
    for k, v in changes.items():
        setattr(asset, k, v)
    session.flush()
    core.audit_record(session, actor, "asset_update", target_type="asset", target_id=str(asset.id),
                      org_id=asset.org_id,
                      before=before, after=changes)
    CACHE.invalidate()
    return asset


def asset_delete(session: Session, actor: Actor, asset_id: uuid.UUID) -> None:
    """Remove an asset with no children and no devices."""
    asset = asset_get(session, actor, asset_id)
    policies.asset_delete(actor, asset.org_id)
    if session.scalar(select(func.count()).select_from(Asset).where(Asset.parent_id == asset.id)):
        raise Conflict(_("The asset has child assets"))
    if session.scalar(select(func.count()).select_from(Device).where(Device.asset_id == asset.id)):
        raise Conflict(_("Devices are attached to the asset"))
    core.audit_record(session, actor, "asset_delete", target_type="asset", target_id=str(asset.id),
                      org_id=asset.org_id,
                      before={"name": asset.name})
    session.delete(asset)
    session.flush()
    CACHE.invalidate()


def asset_tree(session: Session, actor: Actor) -> list[dict[str, Any]]:
    """Visible assets as nested nodes ({asset, children, devices}) — roots are those whose parent is not visible."""
    assets = asset_list(session, actor)
    counts = dict(session.execute(select(Device.asset_id, func.count()).group_by(Device.asset_id)).all())
    nodes: dict[uuid.UUID, dict[str, Any]] = {
        a.id: {"asset": a, "children": [], "devices": counts.get(a.id, 0)} for a in assets}
    roots = []
    for a in assets:
        if a.parent_id in nodes:
            nodes[a.parent_id]["children"].append(nodes[a.id])
        else:
            roots.append(nodes[a.id])
    return roots
