"""Cloud routes: the platform manages providers/pools/catalog/tenancies; departments order and keep their systems;.

department heads and the bureau approve; readers see only their unit.
"""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path
from typing import Any

from cityhub.cloud import service as cloud
from cityhub.cloud.schemas import RequestCreate, SystemCreate
from tests.authz import ANY_USER, Expect, roles
from tests.cloud.factories import SYSTEM, build_cloud

ADMIN = roles("platform_admin")
TEAM = roles("platform_admin", "auditor", "operator")
READ_A = roles("platform_admin", "auditor", "operator", "org_admin_a", "org_member_a")
STAFF_A = roles("platform_admin", "org_admin_a", "org_member_a")
ADMINS_A = roles("platform_admin", "org_admin_a")


def prepare(w: Any) -> None:
    """A dummy cloud; a submitted and an active request of dept A; a system of dept A."""
    cw = build_cloud(w, Path(tempfile.mkdtemp(prefix="chub-authz-")) / "dummy")
    s = w.session
    req = cloud.request_create(s, w.actors["org_member_a"], cw["tenancy_a"].id, RequestCreate(item_id=cw["small"].id))
    active = cloud.request_create(s, w.actors["org_member_a"], cw["tenancy_a"].id,
                                  RequestCreate(item_id=cw["small"].id))
    cloud.request_approve(s, w.actors["org_admin_a"], active.id)
    cloud.jobs_run(s, SYSTEM)
    system = cloud.system_create(s, SYSTEM, SystemCreate(org_id=w.orgs["dept_a"].id, name="甲局业务系统"))
    w.extra.update(cloud_req=req.id, cloud_active=active.id, cloud_system=system.id)


def prepare_refs(w: Any) -> None:
    """Unit B's twin for the id swaps (tests/test_cross_unit_refs.py): a system of dept B."""
    w.extra["cloud_system_b"] = cloud.system_create(w.session, SYSTEM, SystemCreate(
        org_id=w.orgs["dept_b"].id, name="乙局业务系统")).id


PLATFORM_OWNED = "the platform's own objects: no unit owns them (and only platform admins write here)"
CATALOG = "the service catalog is the platform's, offered to every unit"


def _org_b(w: Any) -> Any:
    return w.orgs["dept_b"].id


def _acc(w: Any) -> dict[str, Any]:
    return {"account_id": w.extra["cloud"]["account"].id}


EXPECTATIONS = [
    Expect("GET", "/api/v1/cloud/providers", ANY_USER),
    Expect("POST", "/api/v1/cloud/providers", ADMIN, body=lambda w: {
        "name": f"云{uuid.uuid4().hex[:6]}", "kind": "dummy",
        "config": {"root": tempfile.mkdtemp(prefix="chub-authz-")}, "credentials": {"secret_key": "x"}}),
    Expect("GET", "/api/v1/cloud/providers/{account_id}", ANY_USER, params=_acc),
    Expect("POST", "/api/v1/cloud/providers/{account_id}/reconcile", ADMIN, params=_acc),
    Expect("GET", "/api/v1/cloud/findings", TEAM),
    Expect("GET", "/api/v1/cloud/regions", ANY_USER),
    Expect("POST", "/api/v1/cloud/regions", ADMIN, body=lambda w: {
        "account_id": str(w.extra["cloud"]["account"].id), "code": "r-new", "name": "新区"},
        refs={"account_id": PLATFORM_OWNED}),
    Expect("GET", "/api/v1/cloud/pools", ANY_USER),
    Expect("POST", "/api/v1/cloud/pools", ADMIN, body=lambda w: {
        "region_id": str(w.extra["cloud"]["regions"][0].id), "name": f"池{uuid.uuid4().hex[:6]}", "vcpus_total": 8},
        refs={"region_id": PLATFORM_OWNED}),
    Expect("PATCH", "/api/v1/cloud/pools/{pool_id}", ADMIN,
           params=lambda w: {"pool_id": w.extra["cloud"]["pools"][0].id}, body=lambda w: {"vcpus_total": 128}),
    Expect("GET", "/api/v1/cloud/catalog", ANY_USER),
    Expect("POST", "/api/v1/cloud/catalog", ADMIN, body=lambda w: {
        "code": f"db.{uuid.uuid4().hex[:6]}", "name": "数据库", "kind": "database", "vcpus": 4, "ram_mb": 8192,
        "size_id": "ecs.m1", "monthly_price": 900},
        refs={"size_id": "a provider's instance size name, not an object in cityhub"}),
    Expect("GET", "/api/v1/cloud/tenancies", ANY_USER),
    Expect("POST", "/api/v1/cloud/tenancies", ADMIN,
           body=lambda w: {"org_id": str(w.orgs["district"].id), "name": "丙区租户"}, refs={"org_id": _org_b}),
    Expect("GET", "/api/v1/cloud/tenancies/{tenancy_id}", READ_A,
           params=lambda w: {"tenancy_id": w.extra["cloud"]["tenancy_a"].id}),
    Expect("PATCH", "/api/v1/cloud/tenancies/{tenancy_id}/quota", ADMIN,
           params=lambda w: {"tenancy_id": w.extra["cloud"]["tenancy_a"].id}, body=lambda w: {"vcpus": 64}),
    Expect("POST", "/api/v1/cloud/tenancies/{tenancy_id}/requests", STAFF_A,
           params=lambda w: {"tenancy_id": w.extra["cloud"]["tenancy_a"].id},
           body=lambda w: {"item_id": str(w.extra["cloud"]["small"].id)},
           refs={"item_id": CATALOG, "system_id": lambda w: w.extra["cloud_system_b"]}),
    Expect("GET", "/api/v1/cloud/requests", ANY_USER),
    Expect("GET", "/api/v1/cloud/approvals", ANY_USER),
    Expect("GET", "/api/v1/cloud/requests/{request_id}", READ_A,
           params=lambda w: {"request_id": w.extra["cloud_req"]}),
    Expect("POST", "/api/v1/cloud/requests/{request_id}/approve", ADMINS_A,
           params=lambda w: {"request_id": w.extra["cloud_req"]}, body=lambda w: {"note": "同意"}),
    Expect("POST", "/api/v1/cloud/requests/{request_id}/reject", ADMINS_A,
           params=lambda w: {"request_id": w.extra["cloud_req"]}, body=lambda w: {"note": "不同意"}),
    Expect("POST", "/api/v1/cloud/requests/{request_id}/resize", ADMINS_A,
           params=lambda w: {"request_id": w.extra["cloud_active"]},
           body=lambda w: {"item_id": str(w.extra["cloud"]["large"].id)}, refs={"item_id": CATALOG}),
    Expect("POST", "/api/v1/cloud/requests/{request_id}/reclaim", ADMINS_A,
           params=lambda w: {"request_id": w.extra["cloud_active"]}),
    Expect("POST", "/api/v1/cloud/requests/{request_id}/retry", ADMINS_A, note="allowed callers get 409 (not failed)",
           params=lambda w: {"request_id": w.extra["cloud_active"]}),
    Expect("GET", "/api/v1/cloud/resources", ANY_USER),
    Expect("GET", "/api/v1/cloud/jobs", TEAM),
    Expect("GET", "/api/v1/cloud/chargeback", ANY_USER, query=lambda w: {"month": "2026-11"}),
    Expect("GET", "/api/v1/cloud/idle-cases", ANY_USER),
    Expect("GET", "/api/v1/cloud/systems", ANY_USER),
    Expect("POST", "/api/v1/cloud/systems", STAFF_A,
           body=lambda w: {"org_id": str(w.orgs["dept_a"].id), "name": "新系统"},
           refs={"org_id": _org_b, "merged_into_id": lambda w: w.extra["cloud_system_b"]}),
    Expect("GET", "/api/v1/cloud/systems/{system_id}", READ_A, params=lambda w: {"system_id": w.extra["cloud_system"]}),
    Expect("PATCH", "/api/v1/cloud/systems/{system_id}", STAFF_A,
           params=lambda w: {"system_id": w.extra["cloud_system"]}, body=lambda w: {"readiness": 80},
           refs={"merged_into_id": lambda w: w.extra["cloud_system_b"]}),
    Expect("POST", "/api/v1/cloud/systems/{system_id}/transition", STAFF_A,
           params=lambda w: {"system_id": w.extra["cloud_system"]}, body=lambda w: {"status": "planned"}),
    Expect("GET", "/api/v1/cloud/systems/{system_id}/drills", READ_A,
           params=lambda w: {"system_id": w.extra["cloud_system"]}),
    Expect("POST", "/api/v1/cloud/systems/{system_id}/drills", STAFF_A,
           params=lambda w: {"system_id": w.extra["cloud_system"]},
           body=lambda w: {"rpo_minutes": 60, "rto_minutes": 600}),
    Expect("GET", "/api/v1/cloud/ratios", ANY_USER),
    Expect("GET", "/api/v1/cloud/ratios/history", READ_A, query=lambda w: {"org_id": str(w.orgs["dept_a"].id)}),
    Expect("POST", "/api/v1/cloud/ratios/snapshot", ADMIN),
    Expect("GET", "/api/v1/cloud/dr/levels", ANY_USER),
    Expect("GET", "/api/v1/cloud/dr/gaps", ANY_USER),
    Expect("GET", "/api/v1/cloud/scorecards/{org_id}", READ_A, params=lambda w: {"org_id": w.orgs["dept_a"].id}),
    Expect("GET", "/api/v1/cloud/ranking", TEAM),
]
