"""Device profiles and devices: visibility, registration, changes and the status table, counts."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from cityhub.connect import policies, reference
from cityhub.connect.devices.assets import check_org, usable_asset
from cityhub.connect.devices.credentials import issue_token
from cityhub.connect.ingest.facts import CACHE
from cityhub.connect.models import (
    Device,
    DeviceProfile,
    DeviceStatus,
)
from cityhub.connect.schemas import (
    DEVICE_CHANGED,
    DeviceChanged,
    DeviceCreate,
    DeviceProfileCreate,
    DeviceUpdate,
)
from cityhub.core import service as core
from cityhub.core.actor import Actor
from cityhub.kit import events
from cityhub.kit.errors import Conflict, NotFound, ValidationFailed, check_transition
from cityhub.kit.i18n import gettext as _
from cityhub.kit.pagination import PageParams, paginate

DEVICE_FLOW: dict[DeviceStatus, set[DeviceStatus]] = {
    DeviceStatus.ACTIVE: {DeviceStatus.DISABLED, DeviceStatus.DECOMMISSIONED},
    DeviceStatus.DISABLED: {DeviceStatus.ACTIVE, DeviceStatus.DECOMMISSIONED},
    DeviceStatus.DECOMMISSIONED: set(),
}
DEVICE_STATUSES = [s.value for s in DeviceStatus]


def device_profile_list(session: Session, actor: Actor) -> list[DeviceProfile]:
    """Every device profile."""
    policies.device_profile_read(actor)
    return list(session.scalars(select(DeviceProfile).order_by(DeviceProfile.code)))


def device_profile_by_code(session: Session, code: str) -> DeviceProfile | None:
    """A profile by its code."""
    return session.scalar(select(DeviceProfile).where(DeviceProfile.code == code))


def device_profile_create(session: Session, actor: Actor, data: DeviceProfileCreate) -> DeviceProfile:
    """Register a device profile (metrics described as data)."""
    policies.device_profile_create(actor)
    if device_profile_by_code(session, data.code) is not None:
        raise Conflict(_("A device profile with this code exists"), details={"field": "code"})
    profile = DeviceProfile(code=data.code, name=data.name, name_en=data.name_en, description=data.description,
                            metrics=[m.model_dump(mode="json") for m in data.metrics])
    session.add(profile)
    session.flush()
    core.audit_record(session, actor, "device_profile_create", target_type="device_profile",
                      target_id=str(profile.id), after={"code": profile.code, "metrics": len(data.metrics)})
    CACHE.invalidate()
    return profile


def device_profiles_ensure(session: Session, actor: Actor) -> int:
    """Create the standard profiles of `reference.PROFILES` that are missing; returns how many were created."""
    made = 0
    for p in reference.PROFILES:
        if device_profile_by_code(session, p["code"]) is None:
            device_profile_create(session, actor, DeviceProfileCreate.model_validate(p))
            made += 1
    return made


def device_get(session: Session, actor: Actor, device_id: uuid.UUID) -> Device:
    """One device (404 when not visible)."""
    device = session.get(Device, device_id)
    if device is None or not policies.org_visible(actor, device.org_id):
        raise NotFound(_("Device not found"))
    return device


def device_query(actor: Actor, *, org_id: uuid.UUID | None = None, asset_id: uuid.UUID | None = None,
                 profile_code: str | None = None, status: str | None = None, q: str | None = None
                 ) -> Select[Any]:
    """The visible devices matching the filters."""
    stmt = select(Device).order_by(Device.name, Device.id)
    orgs = policies.visible_orgs(actor)
    if orgs is not None:
        stmt = stmt.where(Device.org_id.in_(orgs))
    if org_id:
        stmt = stmt.where(Device.org_id == org_id)
    if asset_id:
        stmt = stmt.where(Device.asset_id == asset_id)
    if profile_code:
        stmt = stmt.where(Device.profile_id.in_(select(DeviceProfile.id).where(DeviceProfile.code == profile_code)))
    if status:
        stmt = stmt.where(Device.status == status)
    if q:
        like = f"%{q.replace('%', '').replace('_', '')}%"
        stmt = stmt.where(or_(Device.name.ilike(like), Device.serial.ilike(like)))
    return stmt


def device_list(session: Session, actor: Actor, page: PageParams, **filters: Any) -> tuple[list[Device], int]:
    """One page of visible devices."""
    return paginate(session, device_query(actor, **filters), page)


def device_create(session: Session, actor: Actor, data: DeviceCreate) -> tuple[Device, str]:
    """Register a device; returns it and its token (shown once)."""
    check_org(session, data.org_id, "org_id")
    policies.device_create(actor, data.org_id)
    profile = device_profile_by_code(session, data.profile_code)
    if profile is None:
        raise ValidationFailed(_("Unknown device profile"), field="profile_code")
    if data.asset_id is not None:
        usable_asset(session, actor, data.asset_id, "asset_id", _("Unknown asset"))
    device = Device(name=data.name, org_id=data.org_id, asset_id=data.asset_id, profile_id=profile.id,
                    serial=data.serial, lon=data.lon, lat=data.lat, status=DeviceStatus.ACTIVE)
    raw = issue_token(device)
    session.add(device)
    session.flush()
    core.audit_record(session, actor, "device_create", target_type="device", target_id=str(device.id),
                      org_id=device.org_id,
                      after={"name": device.name, "org_id": device.org_id, "profile": profile.code})
    CACHE.invalidate()
    events.publish(session, DEVICE_CHANGED, DeviceChanged(device.id, created=True))
    return device, raw


def device_update(session: Session, actor: Actor, device_id: uuid.UUID, data: DeviceUpdate) -> Device:
    """Change a device; status follows the transition table (decommissioned is final)."""
    device = device_get(session, actor, device_id)
    policies.device_update(actor, device.org_id)
    changes = data.model_dump(exclude_unset=True)
    if "name" in changes and changes["name"] is None:
        raise ValidationFailed(_("Name may not be empty"), field="name")
    if "status" in changes:
        if changes["status"] is None:
            raise ValidationFailed(_("Status may not be empty"), field="status")
        if changes["status"] != device.status:
            check_transition("device", DEVICE_FLOW, DeviceStatus(device.status), DeviceStatus(changes["status"]))
        else:
            changes.pop("status")
    if changes.get("asset_id") is not None:
        usable_asset(session, actor, changes["asset_id"], "asset_id", _("Unknown asset"))
    before = core.snapshot(device, changes)
    for k, v in changes.items():
        setattr(device, k, str(v) if k == "status" else v)
    session.flush()
    core.audit_record(session, actor, "device_update", target_type="device", target_id=str(device.id),
                      org_id=device.org_id,
                      before=before, after=changes)
    CACHE.invalidate()
    if changes:
        events.publish(session, DEVICE_CHANGED, DeviceChanged(device.id, created=False,
                                                              before=tuple(sorted(before.items()))))
    return device


def device_token_rotate(session: Session, actor: Actor, device_id: uuid.UUID) -> tuple[Device, str]:
    """Issue a new token (the old one stops working at once); returns it once."""
    device = device_get(session, actor, device_id)
    policies.device_token_rotate(actor, device.org_id)
    if device.status == DeviceStatus.DECOMMISSIONED:
        raise Conflict(_("A decommissioned device gets no new credential"))
    raw = issue_token(device)
    session.flush()
    core.audit_record(session, actor, "device_token_rotate", target_type="device", target_id=str(device.id),
                      org_id=device.org_id)
    return device, raw


def profile_codes(session: Session) -> dict[uuid.UUID, str]:
    """Profile id → code."""
    return dict(session.execute(select(DeviceProfile.id, DeviceProfile.code)).all())


def device_status_counts(session: Session) -> dict[str, int]:
    """Devices per status (system level, for /metrics)."""
    return {s: int(n) for s, n in session.execute(select(Device.status, func.count()).group_by(Device.status))}


def overview(session: Session, actor: Actor) -> dict[str, Any]:
    """Device counts by status and profile, among visible devices."""
    orgs = policies.visible_orgs(actor)
    stmt = select(Device.status, DeviceProfile.code, func.count()).join(
        DeviceProfile, DeviceProfile.id == Device.profile_id).group_by(Device.status, DeviceProfile.code)
    if orgs is not None:
        stmt = stmt.where(Device.org_id.in_(orgs))
    by_status: dict[str, int] = {}
    by_profile: dict[str, int] = {}
    for status, code, n in session.execute(stmt):
        by_status[status] = by_status.get(status, 0) + n
        by_profile[code] = by_profile.get(code, 0) + n
    return {"by_status": by_status, "by_profile": by_profile, "total": sum(by_status.values())}
