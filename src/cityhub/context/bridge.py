"""connect's devices and assets as NGSI-LD entities, read through from connect's own tables (issue 19).

One city, not two stores: a device is the entity `urn:ngsi-ld:Device:<device uuid>` (Smart Data Models `Device`:
`name`, `serialNumber`, `deviceState`, `category` (its profile), a `location` GeoProperty, a `controlledAsset`
Relationship to its asset) and an asset `urn:ngsi-ld:<Type>:<asset uuid>` (`Bridge`, `Building`, … by its kind,
with `name`, `address`, `location`, `refParent`). The device's latest telemetry — connect's `connect_latest`, which
every ingest batch already upserts — appears as one Property per metric with `observedAt` and, for the units
UN/CEFACT names, `unitCode`; the temporal API answers from `connect_telemetry`. Nothing is copied, so the entities
are exactly as current as connect (ingest only queues one row per batch for device subscriptions: `devicewatch`).

Who sees them is connect's rule (`connect.read` over the owner, `core.permissions`): a department sees its own
devices' entities as it sees the devices. They are read-only through NGSI-LD (connect's API changes them): a write
answers 422 OperationNotSupported, and creating an entity under such an id 409 AlreadyExists.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from cityhub.connect import service as connect
from cityhub.context import entities as ent
from cityhub.context.jsonld import core as core_context
from cityhub.context.models import NO_DATASET
from cityhub.context.problems import NgsiError, not_found
from cityhub.core.actor import Actor
from cityhub.core.permissions import P, can
from cityhub.kit import clock

if TYPE_CHECKING:
    from cityhub.connect.schemas import AssetRef, DeviceRef  # annotations only

DEVICE = "Device"
# connect's asset kinds as entity types (Smart Data Models names where one exists)
ASSET_TYPES = {"bridge": "Bridge", "span": "BridgeSpan", "building": "Building", "pipe_gallery": "UtilityTunnel",
               "gallery_section": "UtilityTunnelSection", "traffic": "TrafficFacility",
               "public_space": "PublicSpace", "other": "Asset"}
KIND_OF_TYPE = {v: k for k, v in ASSET_TYPES.items()}
# connect's units as UN/CEFACT common codes (NGSI-LD unitCode); others keep only their text in `unitText`
UNIT_CODES = {"°C": "CEL", "%": "P1", "mm": "MMT", "mm/s": "C16", "km/h": "KMH", "°": "DD", "dB(A)": "2N",
              "µg/m³": "GQ", "m": "MTR", "Pa": "PAL", "kPa": "KPA", "V": "VLT", "A": "AMP", "W": "WTT", "lx": "LUX"}
_ID = re.compile(r"^urn:ngsi-ld:([A-Za-z]+):([0-9a-fA-F-]{36})$")


@dataclass
class BridgedEntity:
    """A connect device or asset in the shape of a stored entity (what `entities.render` takes)."""

    entity_id: str
    types: list[str]
    attrs: dict[str, dict[str, dict[str, Any]]]
    created_at: datetime
    modified_at: datetime
    org_id: uuid.UUID
    device_id: uuid.UUID | None = None
    units: dict[str, str] = field(default_factory=dict)


def parse_id(entity_id: str) -> tuple[str, uuid.UUID] | None:
    """(type, uuid) when `entity_id` is in the bridge's form (a device's or an asset's); None otherwise."""
    m = _ID.match(entity_id)
    if m is None or (m.group(1) != DEVICE and m.group(1) not in KIND_OF_TYPE):
        return None
    try:
        return m.group(1), uuid.UUID(m.group(2))
    except ValueError:
        return None


def device_entity_id(device_id: uuid.UUID) -> str:
    """The NGSI-LD id of a connect device."""
    return f"urn:ngsi-ld:{DEVICE}:{device_id}"


def asset_entity_id(asset_id: uuid.UUID, kind: str) -> str:
    """The NGSI-LD id of a connect asset."""
    return f"urn:ngsi-ld:{ASSET_TYPES.get(kind, 'Asset')}:{asset_id}"


def _iri(term: str) -> str:
    return core_context().expand(term)


def key_iri(key: str) -> str:
    """The attribute IRI of a telemetry key (as the device entity names its metric)."""
    return _iri(key)


def _prop(value: Any, **extra: Any) -> dict[str, dict[str, Any]]:
    return {NO_DATASET: {"type": "Property", "value": value, **extra}}


def _geo(lon: float | None, lat: float | None) -> dict[str, dict[str, Any]] | None:
    if lon is None or lat is None:
        return None
    return {NO_DATASET: {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, lat]}}}


def _units(session: Session, profile_code: str) -> dict[str, str]:
    return _all_units(session).get(profile_code, {})


def _all_units(session: Session) -> dict[str, dict[str, str]]:
    return {p.code: {m.key: m.unit for m in p.metrics} for p in connect.profile_refs(session)}


def reading(value: float | None, text: str | None, at: datetime, unit: str) -> dict[str, Any]:
    """One telemetry point as a Property instance (observedAt, and unitCode or unitText)."""
    inst: dict[str, Any] = {"type": "Property", "value": value if value is not None else text,
                            "observedAt": ent.time_text(at)}
    if unit in UNIT_CODES:
        inst["unitCode"] = UNIT_CODES[unit]
    elif unit:
        inst[_iri("unitText")] = {"type": "Property", "value": unit}
    return inst


def _device(session: Session, device_id: uuid.UUID) -> BridgedEntity | None:
    ref = connect.device_ref(session, device_id)
    if ref is None:
        return None
    asset = connect.asset_ref(session, ref.asset_id) if ref.asset_id else None
    latest = connect.latest_values(session, [device_id]).get(device_id, {})
    return _device_entity(ref, asset, latest, _units(session, ref.profile_code))


def _device_entity(ref: DeviceRef, asset: AssetRef | None,
                   latest: dict[str, tuple[datetime, float | None, str | None]], units: dict[str, str]
                   ) -> BridgedEntity:
    attrs: dict[str, dict[str, dict[str, Any]]] = {
        _iri("name"): _prop(ref.name), _iri("category"): _prop(ref.profile_code),
        _iri("deviceState"): _prop(ref.status)}
    geo = _geo(ref.lon, ref.lat)
    if geo is None and asset is not None:
        geo = _geo(asset.lon, asset.lat)
    if geo is not None:
        attrs[_iri("location")] = geo
    if asset is not None:
        attrs[_iri("controlledAsset")] = {NO_DATASET: {"type": "Relationship",
                                                       "object": asset_entity_id(asset.asset_id, asset.kind)}}
    newest = None
    for key, (at, value, text) in sorted(latest.items()):
        attrs[_iri(key)] = {NO_DATASET: reading(connect.finite(value), text, at, units.get(key, ""))}
        newest = at if newest is None or at > newest else newest
    now = clock.now()
    return BridgedEntity(device_entity_id(ref.device_id), [_iri(DEVICE)], attrs, now, newest or now, ref.org_id,
                         ref.device_id, units)


# the device entity's attributes that come from connect's device record, not from its telemetry
STATIC_TERMS = ("name", "category", "deviceState", "location", "controlledAsset")


def static_iris() -> frozenset[str]:
    """The IRIs of a device entity's attributes that connect's device record gives (name, state, place, asset)."""
    return frozenset(_iri(t) for t in STATIC_TERMS)


def device_as_was(session: Session, device_id: uuid.UUID, before: dict[str, Any]
                  ) -> dict[str, dict[str, dict[str, Any]]] | None:
    """A device's record-given attributes as they were before a change; None when the device is gone.

    `before` holds the changed fields' old values (name, status, asset_id, lon, lat), as connect's event gives them.
    """
    ref = connect.device_ref(session, device_id)
    if ref is None:
        return None
    was: dict[str, Any] = {k: before[k] for k in ("name", "status", "lon", "lat") if k in before}
    if "asset_id" in before:
        was["asset_id"] = uuid.UUID(str(before["asset_id"])) if before["asset_id"] else None
    old = dataclasses.replace(ref, **was)
    asset = connect.asset_ref(session, old.asset_id) if old.asset_id else None
    return _device_entity(old, asset, {}, {}).attrs


def _asset(session: Session, asset_id: uuid.UUID, type_name: str) -> BridgedEntity | None:
    ref = connect.asset_ref(session, asset_id)
    if ref is None or ASSET_TYPES.get(ref.kind, "Asset") != type_name:
        return None
    parent = connect.asset_ref(session, ref.parent_id) if ref.parent_id is not None else None
    return _asset_entity(ref, parent)


def _asset_entity(ref: AssetRef, parent: AssetRef | None) -> BridgedEntity:
    attrs = {_iri("name"): _prop(ref.name), _iri("category"): _prop(ref.kind)}
    geo = _geo(ref.lon, ref.lat)
    if geo is not None:
        attrs[_iri("location")] = geo
    if parent is not None:
        attrs[_iri("refParent")] = {NO_DATASET: {"type": "Relationship",
                                                 "object": asset_entity_id(parent.asset_id, parent.kind)}}
    now = clock.now()
    return BridgedEntity(asset_entity_id(ref.asset_id, ref.kind), [_iri(ASSET_TYPES.get(ref.kind, "Asset"))], attrs,
                         now, now, ref.org_id)


def type_iri(name: str) -> str:
    """The expanded IRI of one of the bridge's entity types (as its entities carry it)."""
    return _iri(name)


def type_names() -> list[str]:
    """Every entity type the bridge answers for (Device and the asset types)."""
    return [DEVICE, *dict.fromkeys(ASSET_TYPES.values())]


def visible_entities(session: Session, actor: Actor, tenant: uuid.UUID | None, type_names: set[str],
                     ids: set[str] | None = None) -> list[BridgedEntity]:
    """The connect devices and assets of these entity types the caller sees, ordered by entity id.

    Visibility is connect's rule, and the tenant when one is named; only those of `ids` when given. Built from
    connect's references in a few statements (devices, assets, the latest values of the devices): the cost
    grows with the devices and assets the caller sees, not with the broker's own entities.
    """
    if not actor.is_authenticated:
        return []

    def seen(org_id: uuid.UUID) -> bool:
        return (tenant is None or org_id == tenant) and can(actor, P.CONNECT_READ, org_id)

    out: list[BridgedEntity] = []
    asset_types = type_names - {DEVICE}
    devices = [r for r in connect.visible_device_refs(session, actor) if seen(r.org_id)] if DEVICE in type_names \
        else []
    if ids is not None:
        devices = [r for r in devices if device_entity_id(r.device_id) in ids]
    assets: dict[uuid.UUID, AssetRef] = {}
    if asset_types or devices:
        assets = {a.asset_id: a for a in connect.visible_asset_refs(session, actor)}

    def asset(asset_id: uuid.UUID | None) -> AssetRef | None:
        if asset_id is None:
            return None
        if asset_id not in assets:  # an asset the caller does not see itself: its reference still names it
            found = connect.asset_ref(session, asset_id)
            if found is None:
                return None
            assets[asset_id] = found
        return assets[asset_id]

    if devices:
        units = _all_units(session)
        latest = connect.latest_values(session, [r.device_id for r in devices])
        out += [_device_entity(r, asset(r.asset_id), latest.get(r.device_id, {}), units.get(r.profile_code, {}))
                for r in devices]
    for a in list(assets.values()):
        if ASSET_TYPES.get(a.kind, "Asset") in asset_types and seen(a.org_id) and (
                ids is None or asset_entity_id(a.asset_id, a.kind) in ids):
            out.append(_asset_entity(a, asset(a.parent_id)))
    return sorted(out, key=lambda e: e.entity_id)


def devices(session: Session, device_ids: Collection[uuid.UUID]) -> list[BridgedEntity]:
    """These connect devices as entities, as they are now, whoever sees them (system level: the caller checks).

    A few devices are read one by one, more through one read of every device reference; the latest values in one
    statement, the profiles' units once.
    """
    wanted = set(device_ids)
    if not wanted:
        return []
    if len(wanted) <= 20:
        refs = [r for r in (connect.device_ref(session, d) for d in sorted(wanted)) if r is not None]
    else:
        refs = [r for r in connect.device_refs(session, status=None) if r.device_id in wanted]
    units = _all_units(session)
    latest = connect.latest_values(session, [r.device_id for r in refs])
    assets: dict[uuid.UUID, AssetRef | None] = {}
    out = []
    for r in refs:
        if r.asset_id is not None and r.asset_id not in assets:
            assets[r.asset_id] = connect.asset_ref(session, r.asset_id)
        out.append(_device_entity(r, assets.get(r.asset_id) if r.asset_id is not None else None,
                                  latest.get(r.device_id, {}), units.get(r.profile_code, {})))
    return sorted(out, key=lambda e: e.entity_id)


def is_bridged_form(entity_id: str) -> bool:
    """Whether an id has the form of a connect device's or asset's entity (`urn:ngsi-ld:<Type>:<uuid>`)."""
    return _ID.match(entity_id) is not None


def entity(session: Session, actor: Actor, entity_id: str) -> BridgedEntity | None:
    """The connect device or asset `entity_id` names, when the caller sees it (404 when it does not).

    None when the id is not a connect device's or asset's: the caller then looks in the broker's own store.
    """
    parsed = parse_id(entity_id)
    if parsed is None:
        return None
    type_name, pk = parsed
    found = _device(session, pk) if type_name == DEVICE else _asset(session, pk, type_name)
    if found is None:
        return None
    if not can(actor, P.CONNECT_READ, found.org_id):
        raise not_found(f"Entity {entity_id} not found")
    return found


def taken(session: Session, entity_id: str) -> bool:
    """Does `entity_id` name an existing connect device or asset (whoever sees it)?"""
    parsed = parse_id(entity_id)
    if parsed is None:
        return False
    type_name, pk = parsed
    if type_name == DEVICE:
        return connect.device_ref(session, pk) is not None
    asset = connect.asset_ref(session, pk)
    return asset is not None and ASSET_TYPES.get(asset.kind, "Asset") == type_name


def refuse_write(session: Session, entity_id: str) -> None:
    """NGSI-LD writes to a connect device or asset: 422 OperationNotSupported (connect's API changes them)."""
    if taken(session, entity_id):
        type_name = entity_id.split(":")[2]
        raise NgsiError("OperationNotSupported", f"{entity_id} is a connect {type_name.lower()}: change it through "
                        "connect (/api/v1/connect), not NGSI-LD")


def history(session: Session, found: BridgedEntity, *, start: datetime, end: datetime, keys: list[str] | None,
            last_n: int | None, limit: int) -> dict[str, list[dict[str, Any]]]:
    """A device's telemetry as attribute instances (oldest first; the last N when asked), from connect's store."""
    if found.device_id is None:
        return {}
    out: dict[str, list[dict[str, Any]]] = {}
    points = connect.telemetry_points(session, device_ids=[found.device_id], keys=keys, start=start, end=end)
    for total, p in enumerate(points, 1):
        out.setdefault(_iri(p.key), []).append(reading(connect.finite(p.value), p.text, p.ts,
                                                        found.units.get(p.key, "")))
        if last_n is None and total >= limit:
            break
    if last_n is not None:
        out = {k: v[-last_n:] for k, v in out.items()}
    return out
