"""The references other domains get of devices and assets (`docs/contracts.md`), system level."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from cityhub.connect import policies
from cityhub.connect.devices.service import profile_codes
from cityhub.connect.ingest.facts import asset_paths
from cityhub.connect.models import (
    Asset,
    Device,
    DeviceProfile,
)
from cityhub.connect.schemas import (
    AssetRef,
    DeviceRef,
    MetricRef,
    ProfileRef,
)
from cityhub.core.actor import Actor


def asset_ref(session: Session, asset_id: uuid.UUID) -> AssetRef | None:
    """An asset's reference (system level)."""
    asset = session.get(Asset, asset_id)
    if asset is None:
        return None
    path, district = asset_paths(session).get(asset.id, ((asset.id,), asset.district_id))
    return AssetRef(asset.id, asset.name, asset.kind, asset.org_id, asset.parent_id, path, district, asset.lon,
                    asset.lat)


def _refs(session: Session, stmt: Select[Any]) -> list[DeviceRef]:
    devices = list(session.scalars(stmt))
    if not devices:
        return []
    codes = profile_codes(session)
    paths = asset_paths(session)
    coords = {a: (lon, lat) for a, lon, lat in session.execute(select(Asset.id, Asset.lon, Asset.lat)).all()}
    out = []
    for d in devices:
        path, district = paths.get(d.asset_id, ((), None)) if d.asset_id else ((), None)
        lon, lat = (d.lon, d.lat) if d.lon is not None else coords.get(d.asset_id, (None, None))
        out.append(DeviceRef(d.id, d.name, d.org_id, codes.get(d.profile_id, ""), d.asset_id, path, district, lon,
                             lat, d.status))
    return out


def device_refs(session: Session, *, profile_code: str | None = None, asset_id: uuid.UUID | None = None,
                district_id: uuid.UUID | None = None, org_ids: Collection[uuid.UUID] | None = None,
                status: str | None = "active") -> list[DeviceRef]:
    """Devices by profile, asset subtree, district, owners and status (system level)."""
    stmt = select(Device).order_by(Device.name, Device.id)
    if profile_code is not None:
        stmt = stmt.where(Device.profile_id.in_(select(DeviceProfile.id).where(DeviceProfile.code == profile_code)))
    if org_ids is not None:
        stmt = stmt.where(Device.org_id.in_(list(org_ids)))
    if status is not None:
        stmt = stmt.where(Device.status == status)
    refs = _refs(session, stmt)
    if asset_id is not None:
        refs = [r for r in refs if asset_id in r.asset_path]
    if district_id is not None:
        refs = [r for r in refs if r.district_id == district_id]
    return refs


def device_ref(session: Session, device_id: uuid.UUID) -> DeviceRef | None:
    """One device's reference (system level)."""
    refs = _refs(session, select(Device).where(Device.id == device_id))
    return refs[0] if refs else None


def visible_device_refs(session: Session, actor: Actor, *, district_id: uuid.UUID | None = None) -> list[DeviceRef]:
    """Devices the actor may see (owners, operators, platform admins, auditors), any status."""
    stmt = select(Device).order_by(Device.name, Device.id)
    orgs = policies.visible_orgs(actor)
    if orgs is not None:
        if not orgs:
            return []
        stmt = stmt.where(Device.org_id.in_(orgs))
    refs = _refs(session, stmt)
    return [r for r in refs if r.district_id == district_id] if district_id is not None else refs


def visible_asset_refs(session: Session, actor: Actor) -> list[AssetRef]:
    """References of the assets the actor may see, by name (for other layers' pickers)."""
    stmt = select(Asset).order_by(Asset.name, Asset.id)
    orgs = policies.visible_orgs(actor)
    if orgs is not None:
        if not orgs:
            return []
        stmt = stmt.where(Asset.org_id.in_(orgs))
    paths = asset_paths(session)
    return [AssetRef(a.id, a.name, a.kind, a.org_id, a.parent_id, *paths.get(a.id, ((a.id,), a.district_id)), a.lon,
                     a.lat) for a in session.scalars(stmt)]


def profile_refs(session: Session) -> list[ProfileRef]:
    """Every device profile with its numeric metrics (system level: profiles are public descriptions)."""
    return [ProfileRef(p.code, p.name, p.name_en, tuple(
        MetricRef(str(m["key"]), str(m.get("name") or m["key"]), str(m.get("name_en") or ""), str(m.get("unit") or ""))
        for m in p.metrics if m.get("type", "number") == "number"))
        for p in session.scalars(select(DeviceProfile).order_by(DeviceProfile.code))]
