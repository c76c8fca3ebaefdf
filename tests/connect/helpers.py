"""Factories for connect tests: the standard profiles, a bridge with a span (dept A), a plaza (dept B), devices."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from cityhub.connect import service
from cityhub.connect.reference import PROFILES
from cityhub.connect.schemas import AssetCreate, DeviceCreate, DeviceProfileCreate, RawMessage
from cityhub.core.service import Actor

SYSTEM = Actor.system("test")


def ensure_profiles(session: Any) -> None:
    for p in PROFILES:
        if service.device_profile_by_code(session, p["code"]) is None:
            service.device_profile_create(session, SYSTEM, DeviceProfileCreate.model_validate(p))


def build_connect(w: Any) -> dict[str, Any]:
    """Profiles, assets and devices in the small world (stored in w.extra['connect'])."""
    s = w.session
    ensure_profiles(s)
    bridge = service.asset_create(s, SYSTEM, AssetCreate(
        name="测试长江大桥", kind="bridge", org_id=w.orgs["dept_a"].id, district_id=w.orgs["district"].id,
        lon=106.58, lat=29.56))
    span = service.asset_create(s, SYSTEM, AssetCreate(
        name="主跨", kind="span", org_id=w.orgs["dept_a"].id, parent_id=bridge.id))
    plaza = service.asset_create(s, SYSTEM, AssetCreate(
        name="测试广场", kind="public_space", org_id=w.orgs["dept_b"].id, lon=106.57, lat=29.55))
    dev_a, token_a = service.device_create(s, SYSTEM, DeviceCreate(
        name="主跨应变计 1", org_id=w.orgs["dept_a"].id, profile_code="bridge-health", asset_id=span.id))
    dev_b, token_b = service.device_create(s, SYSTEM, DeviceCreate(
        name="广场微站", org_id=w.orgs["dept_b"].id, profile_code="air-noise", asset_id=plaza.id))
    s.flush()
    out = {"bridge": bridge, "span": span, "plaza": plaza, "dev_a": dev_a, "token_a": token_a, "dev_b": dev_b,
           "token_b": token_b}
    w.extra["connect"] = out
    return out


def message(device_id: Any, payload: Any, received_at: datetime, prefix: str = "cityhub/v1") -> RawMessage:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return RawMessage(topic=f"{prefix}/devices/{device_id}/telemetry", payload=body, received_at=received_at)
