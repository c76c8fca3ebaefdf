"""Connect routes: owners manage their devices and assets; the platform team reads everything; profiles are the
platform admin's; HTTP ingest takes only a device token (every user credential is refused).
"""

from __future__ import annotations

import uuid
from typing import Any

from tests.authz import ANY_USER, Expect, roles
from tests.connect.helpers import build_connect

ADMIN = roles("platform_admin")
READ_A = roles("platform_admin", "auditor", "operator", "org_admin_a", "org_member_a")
STAFF_A = roles("platform_admin", "org_admin_a", "org_member_a")
ADMINS_A = roles("platform_admin", "org_admin_a")
NOBODY: frozenset[str] = frozenset()


def prepare(w: Any) -> None:
    """The standard profiles, a bridge with a span and a device of dept A, a plaza and device of dept B."""
    cw = build_connect(w)
    from cityhub.connect import service
    from cityhub.connect.schemas import AssetCreate

    lone = service.asset_create(w.session, service.Actor.system("authz"), AssetCreate(
        name="空资产", kind="other", org_id=w.orgs["dept_a"].id))
    cw["lone"] = lone


def _c(w: Any) -> dict[str, Any]:
    return w.extra["connect"]  # type: ignore[no-any-return]  # w.extra holds the fixtures' objects untyped


# a location: any district may be named, but a department (unit B) named as one is refused
DISTRICT = lambda w: w.orgs["dept_b"].id  # noqa: E731  # one of the table's small lambdas


def _dev(w: Any) -> dict[str, Any]:
    return {"device_id": _c(w)["dev_a"].id}


EXPECTATIONS = [
    Expect("GET", "/api/v1/connect/profiles", ANY_USER),
    Expect("POST", "/api/v1/connect/profiles", ADMIN, body=lambda w: {
        "code": f"p-{uuid.uuid4().hex[:6]}", "name": "测试", "metrics": [{"key": "x", "name": "X"}]}),
    Expect("GET", "/api/v1/connect/assets", ANY_USER),
    Expect("POST", "/api/v1/connect/assets", STAFF_A, body=lambda w: {
        "name": "新桥", "kind": "bridge", "org_id": str(w.orgs["dept_a"].id)},
        refs={"org_id": lambda w: w.orgs["dept_b"].id, "parent_id": lambda w: _c(w)["plaza"].id,
              "district_id": DISTRICT}),
    Expect("GET", "/api/v1/connect/assets/{asset_id}", READ_A, params=lambda w: {"asset_id": _c(w)["bridge"].id}),
    Expect("PATCH", "/api/v1/connect/assets/{asset_id}", STAFF_A,
           params=lambda w: {"asset_id": _c(w)["bridge"].id}, body=lambda w: {"address": "渝中区"},
           refs={"district_id": DISTRICT}),
    Expect("DELETE", "/api/v1/connect/assets/{asset_id}", ADMINS_A, params=lambda w: {"asset_id": _c(w)["lone"].id}),
    Expect("GET", "/api/v1/connect/devices", ANY_USER),
    Expect("POST", "/api/v1/connect/devices", STAFF_A, body=lambda w: {
        "name": "新传感器", "org_id": str(w.orgs["dept_a"].id), "profile_code": "bridge-health"},
        refs={"org_id": lambda w: w.orgs["dept_b"].id, "asset_id": lambda w: _c(w)["plaza"].id}),
    Expect("GET", "/api/v1/connect/devices/{device_id}", READ_A, params=_dev),
    Expect("PATCH", "/api/v1/connect/devices/{device_id}", STAFF_A, params=_dev, body=lambda w: {"serial": "SN-1"},
           refs={"asset_id": lambda w: _c(w)["plaza"].id}),
    Expect("POST", "/api/v1/connect/devices/{device_id}/token", STAFF_A, params=_dev),
    Expect("GET", "/api/v1/connect/devices/{device_id}/latest", READ_A, params=_dev),
    Expect("GET", "/api/v1/connect/devices/{device_id}/telemetry", READ_A, params=_dev),
    Expect("GET", "/api/v1/connect/devices/{device_id}/telemetry.csv", READ_A, params=_dev),
    Expect("GET", "/api/v1/connect/quarantine", ANY_USER),
    Expect("POST", "/api/v1/devices/{device_id}/telemetry", NOBODY, params=_dev,
           body=lambda w: {"values": {"strain": 1}}, note="(user credentials are not device tokens)"),
]
