"""The only way to connect data: device profiles, assets, devices and credentials, ingest, telemetry queries.

Other domains call the contract functions of `docs/contracts.md` (device/asset references, telemetry reads,
`ingest_messages`); system-level ones take no actor. Nothing here commits.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import io
import math
import re
import secrets
import time
import uuid
from collections.abc import Collection, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Integer, Select, cast, delete, func, or_, select
from sqlalchemy.orm import Session

from cityhub.connect import ingest as ingest_mod
from cityhub.connect import policies, reference, simulator
from cityhub.connect.models import (
    Asset,
    Device,
    DeviceProfile,
    DeviceStatus,
    Latest,
    Quarantine,
    QuarantineCount,
    QuarantineReason,
    Telemetry,
)
from cityhub.connect.schemas import (
    AssetCreate,
    AssetRef,
    AssetUpdate,
    DeviceCreate,
    DeviceProfileCreate,
    DeviceRef,
    DeviceUpdate,
    IngestResult,
    RawMessage,
)
from cityhub.core import service as core
from cityhub.core.service import Actor
from cityhub.kit import clock
from cityhub.kit.db import is_postgres
from cityhub.kit.errors import Conflict, NotFound, Unauthorized, ValidationFailed, check_transition
from cityhub.kit.events import SeriesPoint
from cityhub.kit.i18n import gettext as _
from cityhub.kit.pagination import PageParams, paginate
from cityhub.kit.refs import reference as usable_ref
from cityhub.kit.settings import get_settings

TOKEN_PREFIX = "chdev"
AGGREGATES = ("avg", "min", "max", "sum", "count")
INTERVAL_RE = re.compile(r"^(\d{1,4})([smhd])$")
UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_RAW_POINTS = 50_000
MAX_BUCKETS = 5_000
DEVICE_FLOW: dict[DeviceStatus, set[DeviceStatus]] = {
    DeviceStatus.ACTIVE: {DeviceStatus.DISABLED, DeviceStatus.DECOMMISSIONED},
    DeviceStatus.DISABLED: {DeviceStatus.ACTIVE, DeviceStatus.DECOMMISSIONED},
    DeviceStatus.DECOMMISSIONED: set(),
}
DEVICE_STATUSES = [s.value for s in DeviceStatus]
QUARANTINE_REASONS = [r.value for r in QuarantineReason]
BROKER_ITERATIONS = 101  # mosquitto_passwd's default for $7$ (PBKDF2-SHA512)


# ---------------------------------------------------------------- credentials


def _token_hash(raw: str) -> str:
    return hmac.new(get_settings().secret_key.encode(), f"device:{raw}".encode(), hashlib.sha256).hexdigest()


def broker_password_hash(password: str, salt: bytes | None = None, iterations: int = BROKER_ITERATIONS) -> str:
    """The `$7$` PBKDF2-SHA512 hash mosquitto_passwd writes (12-byte salt, 64-byte digest, base64)."""
    salt = salt if salt is not None else secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def _issue_token(device: Device) -> str:
    raw = f"{TOKEN_PREFIX}_{secrets.token_urlsafe(24)}"
    device.token_hash = _token_hash(raw)
    device.broker_hash = broker_password_hash(raw)
    device.token_rotated_at = clock.now()
    return raw


def device_authenticate(session: Session, device_id: uuid.UUID, raw: str) -> Device:
    """The device whose token this is (HTTP ingest); Unauthorized otherwise (unknown ids look the same)."""
    device = session.get(Device, device_id)
    expected = device.token_hash if device is not None else _token_hash("never-matches")
    if not hmac.compare_digest(expected, _token_hash(raw)) or device is None:
        raise Unauthorized(_("Unknown device or wrong device token"))
    return device


def topic_for(device_id: uuid.UUID) -> str:
    """The MQTT topic a device publishes to."""
    return f"{get_settings().mqtt_topic_prefix}/devices/{device_id}/telemetry"


def _invalidate() -> None:
    ingest_mod.CACHE.invalidate()


# ---------------------------------------------------------------- profiles


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
    _invalidate()
    return profile


def device_profiles_ensure(session: Session, actor: Actor) -> int:
    """Create the standard profiles of `reference.PROFILES` that are missing; returns how many were created."""
    made = 0
    for p in reference.PROFILES:
        if device_profile_by_code(session, p["code"]) is None:
            device_profile_create(session, actor, DeviceProfileCreate.model_validate(p))
            made += 1
    return made


def simulate_history(session: Session, device_ids: Sequence[uuid.UUID], *, start: datetime, end: datetime,
                     step: timedelta, seed: int = 42, spike_p: float = 0.003) -> int:
    """Simulated series for devices from start to end, stored through the ingest path; returns points stored."""
    infos = ingest_mod.load_device_infos(session, list(device_ids))
    sims = [simulator.SimDevice(d, infos[d].profile_code, offset=(i % 7) / 7)
            for i, d in enumerate(device_ids) if d in infos]
    sim = simulator.Simulator(sims, seed=seed, spike_p=spike_p, drift_p=0.0, silence_p=0.0)
    stored = 0
    for dev in sim.devices:
        records = []
        t = start
        while t < end:
            rec = sim.record(dev, t)
            if rec is not None:
                records.append(rec)
            t += step
        msg = RawMessage(topic_for(dev.device_id), orjson.dumps(records), end)
        stored += ingest_mod.ingest(session, [msg]).stored
    return stored


# ---------------------------------------------------------------- assets


def _visible_orgs(actor: Actor) -> frozenset[uuid.UUID] | None:
    """Organisations whose devices the actor sees (None: all)."""
    return policies.visible_orgs(actor)


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
    orgs = _visible_orgs(actor)
    if orgs is not None:
        stmt = stmt.where(Asset.org_id.in_(orgs))
    if kind:
        stmt = stmt.where(Asset.kind == kind)
    if org_id:
        stmt = stmt.where(Asset.org_id == org_id)
    if parent_id:
        stmt = stmt.where(Asset.parent_id == parent_id)
    return list(session.scalars(stmt))


def _usable_asset(session: Session, actor: Actor, asset_id: uuid.UUID, field: str, message: str) -> Asset:
    """An asset named in a write: one the actor sees (else 422 naming the field) and manages (else 403)."""
    asset = usable_ref(field, lambda: asset_get(session, actor, asset_id), message)
    policies.asset_update(actor, asset.org_id)
    return asset


def _check_org(session: Session, org_id: uuid.UUID | None, field: str) -> None:
    if org_id is not None and org_id not in core.org_parents(session):
        raise ValidationFailed(_("Unknown organisation"), field=field)


def asset_create(session: Session, actor: Actor, data: AssetCreate) -> Asset:
    """Register an asset (under a parent of the same owner, when given)."""
    _check_org(session, data.org_id, "org_id")
    core.area_reference(session, data.district_id)
    policies.asset_create(actor, data.org_id)
    if data.parent_id is not None:
        _usable_asset(session, actor, data.parent_id, "parent_id", _("Unknown parent asset"))
    asset = Asset(**data.model_dump())
    session.add(asset)
    session.flush()
    core.audit_record(session, actor, "asset_create", target_type="asset", target_id=str(asset.id),
                      org_id=asset.org_id,
                      after={"name": asset.name, "kind": asset.kind, "org_id": asset.org_id})
    _invalidate()
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
    _invalidate()
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
    _invalidate()


def asset_ref(session: Session, asset_id: uuid.UUID) -> AssetRef | None:
    """An asset's reference (system level)."""
    asset = session.get(Asset, asset_id)
    if asset is None:
        return None
    path, district = ingest_mod.asset_paths(session).get(asset.id, ((asset.id,), asset.district_id))
    return AssetRef(asset.id, asset.name, asset.kind, asset.org_id, asset.parent_id, path, district, asset.lon,
                    asset.lat)


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


# ---------------------------------------------------------------- devices


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
    orgs = _visible_orgs(actor)
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
    _check_org(session, data.org_id, "org_id")
    policies.device_create(actor, data.org_id)
    profile = device_profile_by_code(session, data.profile_code)
    if profile is None:
        raise ValidationFailed(_("Unknown device profile"), field="profile_code")
    if data.asset_id is not None:
        _usable_asset(session, actor, data.asset_id, "asset_id", _("Unknown asset"))
    device = Device(name=data.name, org_id=data.org_id, asset_id=data.asset_id, profile_id=profile.id,
                    serial=data.serial, lon=data.lon, lat=data.lat, status=DeviceStatus.ACTIVE)
    raw = _issue_token(device)
    session.add(device)
    session.flush()
    core.audit_record(session, actor, "device_create", target_type="device", target_id=str(device.id),
                      org_id=device.org_id,
                      after={"name": device.name, "org_id": device.org_id, "profile": profile.code})
    _invalidate()
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
        _usable_asset(session, actor, changes["asset_id"], "asset_id", _("Unknown asset"))
    before = core.snapshot(device, changes)
    for k, v in changes.items():
        setattr(device, k, str(v) if k == "status" else v)
    session.flush()
    core.audit_record(session, actor, "device_update", target_type="device", target_id=str(device.id),
                      org_id=device.org_id,
                      before=before, after=changes)
    _invalidate()
    return device


def device_token_rotate(session: Session, actor: Actor, device_id: uuid.UUID) -> tuple[Device, str]:
    """Issue a new token (the old one stops working at once); returns it once."""
    device = device_get(session, actor, device_id)
    policies.device_token_rotate(actor, device.org_id)
    if device.status == DeviceStatus.DECOMMISSIONED:
        raise Conflict(_("A decommissioned device gets no new credential"))
    raw = _issue_token(device)
    session.flush()
    core.audit_record(session, actor, "device_token_rotate", target_type="device", target_id=str(device.id),
                      org_id=device.org_id)
    return device, raw


def profile_codes(session: Session) -> dict[uuid.UUID, str]:
    """Profile id → code."""
    return dict(session.execute(select(DeviceProfile.id, DeviceProfile.code)).all())


def broker_accounts(session: Session, actor: Actor) -> list[tuple[uuid.UUID, str]]:
    """(device id, broker password hash) of every active device with a credential (for the broker files)."""
    policies.broker_auth_write(actor)
    return [(d, h) for d, h in session.execute(
        select(Device.id, Device.broker_hash).where(Device.status == DeviceStatus.ACTIVE, Device.broker_hash != "")
        .order_by(Device.id)).all()]


# ---------------------------------------------------------------- references (contract)


def _refs(session: Session, stmt: Select[Any]) -> list[DeviceRef]:
    devices = list(session.scalars(stmt))
    if not devices:
        return []
    codes = profile_codes(session)
    paths = ingest_mod.asset_paths(session)
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
    orgs = _visible_orgs(actor)
    if orgs is not None:
        if not orgs:
            return []
        stmt = stmt.where(Device.org_id.in_(orgs))
    refs = _refs(session, stmt)
    return [r for r in refs if r.district_id == district_id] if district_id is not None else refs


# ---------------------------------------------------------------- ingest (contract)


def ingest_messages(session: Session, messages: Sequence[RawMessage]) -> IngestResult:
    """The one ingest path (MQTT worker and HTTP): parse, validate, quarantine, bulk-store, publish; flushes only."""
    return ingest_mod.ingest(session, messages)


def ingest_http(session: Session, device_id: uuid.UUID | str, token: str, body: bytes) -> IngestResult:
    """HTTP ingest for a device authenticated by its token; the same path as MQTT.

    The id from the URL is canonicalised by the same rule as an MQTT topic's (`ingest.canonical_device_id`);
    any other spelling is a 422 naming `device_id`.
    """
    if isinstance(device_id, str):
        canonical = ingest_mod.canonical_device_id(device_id)
        if canonical is None:
            raise ValidationFailed(_("A device id is a UUID: 8-4-4-4-12 hex digits (32 hex digits, {…} and "
                                     "urn:uuid:… are accepted too)"), field="device_id")
        device_id = canonical
    device_authenticate(session, device_id, token)
    msg = RawMessage(topic=topic_for(device_id), payload=body, received_at=clock.now())
    return ingest_mod.ingest(session, [msg])


_keys_pruned_at = -math.inf


def ingest_keys_prune(session: Session) -> int:
    """Delete idempotency keys of payloads without `ts` older than the redelivery window (decision 0009)."""
    return ingest_mod.prune_keys(session, clock.now() - ingest_mod.REDELIVERY_WINDOW)


def ingest_keys_prune_due(every_s: float = 60.0) -> bool:
    """True once per `every_s` in this process: HTTP ingest prunes the keys that often (the worker on its own)."""
    global _keys_pruned_at
    now = time.monotonic()
    if now - _keys_pruned_at < every_s:
        return False
    _keys_pruned_at = now
    return True


# ---------------------------------------------------------------- telemetry reads (contract)


def _series_context(session: Session, device_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, ingest_mod.DeviceInfo]:
    return ingest_mod.load_device_infos(session, list(device_ids))


def series_points(session: Session, rows: Sequence[tuple[uuid.UUID, str, datetime, float | None, str | None]]
                  ) -> list[SeriesPoint]:
    """Stored points (device id, key, ts, value, text) with their device's context, as TELEMETRY_STORED carries them.

    For consumers that evaluate a stored batch later (the rule engine's queue): device facts come from ingest's
    per-process cache, so a batch of known devices costs no query; points of deleted devices are dropped.
    """
    infos = ingest_mod.CACHE.get_many(session, {r[0] for r in rows})
    out: list[SeriesPoint] = []
    for did, key, ts, value, text in rows:
        info = infos.get(did)
        if info is not None:
            out.append(SeriesPoint(did, key, ts, value, text, info.org_id, info.profile_code, info.asset_path,
                                   info.district_id, info.lon, info.lat))
    return out


def telemetry_points(session: Session, *, device_ids: Sequence[uuid.UUID], keys: Sequence[str] | None,
                     start: datetime, end: datetime) -> Iterator[SeriesPoint]:
    """Stored points with start <= ts < end, ordered by ts (system level)."""
    if not device_ids:
        return
    infos = _series_context(session, device_ids)
    stmt = (select(Telemetry.device_id, Telemetry.key, Telemetry.ts, Telemetry.value, Telemetry.text)
            .where(Telemetry.device_id.in_(list(device_ids)), Telemetry.ts >= start, Telemetry.ts < end)
            .order_by(Telemetry.ts, Telemetry.device_id, Telemetry.key))
    if keys is not None:
        stmt = stmt.where(Telemetry.key.in_(list(keys)))
    for did, key, ts, value, text in session.execute(stmt).yield_per(5000):
        info = infos.get(did)
        if info is None:
            continue
        yield SeriesPoint(did, key, ts, value, text, info.org_id, info.profile_code, info.asset_path,
                          info.district_id, info.lon, info.lat)


def latest_values(session: Session, device_ids: Sequence[uuid.UUID], keys: Sequence[str] | None = None
                  ) -> dict[uuid.UUID, dict[str, tuple[datetime, float | None, str | None]]]:
    """The newest value per device and key (system level)."""
    out: dict[uuid.UUID, dict[str, tuple[datetime, float | None, str | None]]] = {}
    if not device_ids:
        return out
    stmt = select(Latest.device_id, Latest.key, Latest.ts, Latest.value, Latest.text).where(
        Latest.device_id.in_(list(device_ids)))
    if keys is not None:
        stmt = stmt.where(Latest.key.in_(list(keys)))
    for did, key, ts, value, text in session.execute(stmt):
        out.setdefault(did, {})[key] = (ts, value, text)
    return out


def _agg_fn(agg: str) -> Any:
    if agg not in AGGREGATES:
        raise ValidationFailed(_("Unknown aggregate"), field="agg")
    return {"avg": func.avg, "min": func.min, "max": func.max, "sum": func.sum, "count": func.count}[agg]


def telemetry_aggregate(session: Session, *, device_ids: Sequence[uuid.UUID], key: str, agg: str,
                        start: datetime, end: datetime) -> float | None:
    """One aggregate (avg|min|max|sum|count) over start <= ts < end (system level)."""
    fn = _agg_fn(agg)
    if not device_ids:
        return 0.0 if agg == "count" else None
    value = session.scalar(select(fn(Telemetry.value)).where(
        Telemetry.device_id.in_(list(device_ids)), Telemetry.key == key, Telemetry.ts >= start, Telemetry.ts < end))
    return float(value) if value is not None else (0.0 if agg == "count" else None)


def parse_interval(text: str) -> int:
    """'1m' … '1d' to seconds (60 s to 1 day)."""
    m = INTERVAL_RE.match(text or "")
    if not m:
        raise ValidationFailed(_("Interval must look like 1m, 15m, 1h or 1d"), field="interval")
    seconds = int(m.group(1)) * UNIT_S[m.group(2)]
    if not 60 <= seconds <= 86400:
        raise ValidationFailed(_("Interval must be between 1m and 1d"), field="interval")
    return seconds


def _bucket_expr(session: Session, seconds: int) -> Any:
    if is_postgres(session):
        return func.floor(func.extract("epoch", Telemetry.ts) / seconds) * seconds
    return (cast(func.strftime("%s", Telemetry.ts), Integer) // seconds) * seconds


def _check_range(start: datetime, end: datetime) -> None:
    if end <= start:
        raise ValidationFailed(_("'to' must be after 'from'"), field="to")


def telemetry_series(session: Session, actor: Actor, device_id: uuid.UUID, *, keys: Sequence[str], agg: str,
                     interval: str, start: datetime, end: datetime) -> list[tuple[str, datetime, float | None]]:
    """Time-bucket aggregates of a visible device's metrics: (key, bucket start, value)."""
    device_get(session, actor, device_id)
    fn = _agg_fn(agg)
    seconds = parse_interval(interval)
    _check_range(start, end)
    if (end - start).total_seconds() / seconds > MAX_BUCKETS:
        raise ValidationFailed(_("Too many buckets; widen the interval or shorten the range"), field="interval")
    bucket = _bucket_expr(session, seconds).label("bucket")
    stmt = (select(Telemetry.key, bucket, fn(Telemetry.value))
            .where(Telemetry.device_id == device_id, Telemetry.ts >= start, Telemetry.ts < end)
            .group_by(Telemetry.key, bucket).order_by(Telemetry.key, bucket))
    if keys:
        stmt = stmt.where(Telemetry.key.in_(list(keys)))
    out = []
    for key, b, value in session.execute(stmt):
        ts = datetime.fromtimestamp(float(b), UTC)
        out.append((key, ts, float(value) if value is not None else None))
    return out


def telemetry_raw(session: Session, actor: Actor, device_id: uuid.UUID, *, keys: Sequence[str] | None,
                  start: datetime, end: datetime, limit: int = 10_000) -> list[tuple[str, datetime, float | None,
                                                                                      str | None]]:
    """Raw points of a visible device, ordered by time (at most `limit`)."""
    device_get(session, actor, device_id)
    _check_range(start, end)
    stmt = (select(Telemetry.key, Telemetry.ts, Telemetry.value, Telemetry.text)
            .where(Telemetry.device_id == device_id, Telemetry.ts >= start, Telemetry.ts < end)
            .order_by(Telemetry.ts, Telemetry.key).limit(min(limit, MAX_RAW_POINTS)))
    if keys:
        stmt = stmt.where(Telemetry.key.in_(list(keys)))
    return [(k, ts, v, t) for k, ts, v, t in session.execute(stmt)]


def telemetry_csv(session: Session, actor: Actor, device_id: uuid.UUID, *, keys: Sequence[str] | None,
                  start: datetime, end: datetime) -> Iterator[str]:
    """Raw points as CSV lines (device_id, key, ts, value, text)."""
    rows = telemetry_raw(session, actor, device_id, keys=keys, start=start, end=end, limit=MAX_RAW_POINTS)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["device_id", "key", "ts", "value", "text"])
    for key, ts, value, text in rows:
        writer.writerow([device_id, key, ts.isoformat(), "" if value is None else repr(value), text or ""])
        if buf.tell() > 64_000:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()


def device_latest(session: Session, actor: Actor, device_id: uuid.UUID
                  ) -> dict[str, tuple[datetime, float | None, str | None]]:
    """Latest values of a visible device."""
    device_get(session, actor, device_id)
    return latest_values(session, [device_id]).get(device_id, {})


def last_seen(session: Session, device_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, datetime]:
    """When each device last reported (newest latest-value timestamp)."""
    if not device_ids:
        return {}
    return {d: ts for d, ts in session.execute(
        select(Latest.device_id, func.max(Latest.ts)).where(Latest.device_id.in_(list(device_ids)))
        .group_by(Latest.device_id)).all()}


# ---------------------------------------------------------------- quarantine


def quarantine_list(session: Session, actor: Actor, page: PageParams, *, device_id: uuid.UUID | None = None,
                    reason: str | None = None) -> tuple[list[Quarantine], int]:
    """Quarantined items the actor may see (rows of unknown devices: the platform team only)."""
    stmt = select(Quarantine).order_by(Quarantine.received_at.desc(), Quarantine.id)
    if device_id is not None:
        device_get(session, actor, device_id)
        stmt = stmt.where(Quarantine.device_id == device_id)
    elif not policies.platform_team(actor):
        orgs = _visible_orgs(actor) or frozenset()
        stmt = stmt.where(Quarantine.device_id.in_(select(Device.id).where(Device.org_id.in_(orgs))))
    if reason:
        stmt = stmt.where(Quarantine.reason == reason)
    return paginate(session, stmt, page)


def quarantine_unexpected(session: Session, message: RawMessage) -> None:
    """Quarantine a message that failed storage for a reason no check names (the worker isolated it)."""
    ingest_mod.store_quarantine(session, [{
        "id": uuid.uuid4(), "received_at": message.received_at, "topic": message.topic[:300].replace("\x00", ""),
        "device_id": None, "reason": QuarantineReason.UNPROCESSABLE.value, "detail": "storing failed",
        "payload": message.payload[:2000].decode("utf-8", "replace").replace("\x00", "\\u0000")}])
    session.flush()


def quarantine_counts(session: Session, device_id: uuid.UUID | None = None) -> dict[str, int]:
    """Quarantine counts per reason: running totals, or one device's rows grouped (system level)."""
    if device_id is None:
        return {r: int(c) for r, c in session.execute(select(QuarantineCount.reason, QuarantineCount.count))}
    return {r: int(c) for r, c in session.execute(
        select(Quarantine.reason, func.count()).where(Quarantine.device_id == device_id).group_by(Quarantine.reason))}


# ---------------------------------------------------------------- overview and retention


def device_status_counts(session: Session) -> dict[str, int]:
    """Devices per status (system level, for /metrics)."""
    return {s: int(n) for s, n in session.execute(select(Device.status, func.count()).group_by(Device.status))}


def overview(session: Session, actor: Actor) -> dict[str, Any]:
    """Device counts by status and profile, among visible devices."""
    orgs = _visible_orgs(actor)
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


def telemetry_count(session: Session, *, before: datetime | None = None) -> int:
    """Stored points (before a time, when given)."""
    stmt = select(func.count()).select_from(Telemetry)
    if before is not None:
        stmt = stmt.where(Telemetry.ts < before)
    return int(session.scalar(stmt) or 0)


def telemetry_days_before(session: Session, before: datetime) -> list[datetime]:
    """UTC day starts that hold points older than `before`."""
    first = session.scalar(select(func.min(Telemetry.ts)).where(Telemetry.ts < before))
    if first is None:
        return []
    day = datetime(first.year, first.month, first.day, tzinfo=UTC)
    out = []
    while day < before:
        out.append(day)
        day += timedelta(days=1)
    return out


def telemetry_rows(session: Session, start: datetime, end: datetime) -> list[tuple[Any, ...]]:
    """Every point with start <= ts < end as (device_id, key, ts, value, text) (system level, for archiving)."""
    return [tuple(r) for r in session.execute(
        select(Telemetry.device_id, Telemetry.key, Telemetry.ts, Telemetry.value, Telemetry.text)
        .where(Telemetry.ts >= start, Telemetry.ts < end).order_by(Telemetry.device_id, Telemetry.key, Telemetry.ts))]


def telemetry_delete(session: Session, actor: Actor, start: datetime, end: datetime) -> int:
    """Delete points with start <= ts < end (after they were archived); audited."""
    policies.telemetry_archive(actor)
    result = session.execute(delete(Telemetry).where(Telemetry.ts >= start, Telemetry.ts < end))
    n = int(result.rowcount or 0)  # type: ignore[attr-defined]  # CursorResult of a DELETE
    if n:
        core.audit_record(session, actor, "telemetry_archive", target_type="telemetry",
                          target_id=start.date().isoformat(), after={"from": start, "to": end, "points": n})
    return n


def finite(value: float | None) -> float | None:
    """None for NaN/inf (JSON has no such numbers)."""
    return value if value is not None and math.isfinite(value) else None
