"""Cloud API: credentials never leave the server, clear 409/422 envelopes, departments see only their own."""

from __future__ import annotations

from typing import Any

from cityhub.cloud import service as cloud
from cityhub.cloud.schemas import SystemCreate
from tests.cloud.factories import SYSTEM

BASE = "/api/v1/cloud"


def test_credentials_are_never_returned(client: Any, world: Any, cw: dict[str, Any]) -> None:
    r = client.post(f"{BASE}/providers", headers=world.headers("platform_admin"), json={
        "name": "华为云测试", "kind": "dummy", "config": {"root": str(cw["root"]) + "-2"},
        "credentials": {"access_key": "AK", "secret_key": "TOP-SECRET-VALUE"}})
    assert r.status_code == 201, r.text
    assert "TOP-SECRET" not in r.text and r.json()["has_credentials"] is True
    listed = client.get(f"{BASE}/providers", headers=world.headers("org_member_a"))
    assert listed.status_code == 200 and "TOP-SECRET" not in listed.text and "credentials_enc" not in listed.text


def test_bad_input_names_the_field(client: Any, world: Any, cw: dict[str, Any]) -> None:
    r = client.post(f"{BASE}/providers", headers=world.headers("platform_admin"),
                    json={"name": "x", "kind": "nope"})
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "kind"
    r = client.post(f"{BASE}/tenancies/{cw['tenancy_a'].id}/requests", headers=world.headers("org_member_a"),
                    json={"item_id": str(cw["small"].id), "quantity": 0})
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "quantity"
    r = client.get(f"{BASE}/chargeback", headers=world.headers("org_member_a"), params={"month": "2026-13"})
    assert r.status_code == 422


def test_quota_409_and_one_tenancy_409(client: Any, world: Any, cw: dict[str, Any]) -> None:
    url = f"{BASE}/tenancies/{cw['tenancy_a'].id}/requests"
    r = client.post(url, headers=world.headers("org_member_a"), json={"item_id": str(cw["large"].id), "quantity": 4})
    assert r.status_code == 409
    body = r.json()["error"]
    assert body["code"] == "quota_exceeded" and body["details"]["quota"] == "vcpus"
    r = client.post(f"{BASE}/tenancies", headers=world.headers("platform_admin"),
                    json={"org_id": str(world.orgs["dept_a"].id), "name": "again"})
    assert r.status_code == 409


def test_request_flow_over_http(client: Any, world: Any, cw: dict[str, Any]) -> None:
    url = f"{BASE}/tenancies/{cw['tenancy_a'].id}/requests"
    r = client.post(url, headers=world.headers("org_member_a"), json={"item_id": str(cw["small"].id)})
    assert r.status_code == 201 and r.json()["status"] == "submitted"
    rid = r.json()["id"]
    queue = client.get(f"{BASE}/approvals", headers=world.headers("org_admin_a")).json()
    assert [q["id"] for q in queue] == [rid]
    assert client.get(f"{BASE}/approvals", headers=world.headers("org_member_b")).json() == []
    r = client.post(f"{BASE}/requests/{rid}/approve", headers=world.headers("org_admin_a"), json={})
    assert r.status_code == 200 and r.json()["status"] == "provisioning"
    cloud.jobs_run(world.session, SYSTEM)
    assert client.get(f"{BASE}/requests/{rid}", headers=world.headers("org_member_a")).json()["status"] == "active"
    res = client.get(f"{BASE}/resources", headers=world.headers("org_member_a")).json()
    assert res["total"] == 1 and res["items"][0]["external_id"]
    assert client.get(f"{BASE}/resources", headers=world.headers("org_member_b")).json()["total"] == 0
    t = client.get(f"{BASE}/tenancies/{cw['tenancy_a'].id}", headers=world.headers("org_member_a")).json()
    assert t["usage"]["vcpus"] == 2 and t["quota"]["vcpus"] == 24


def test_systems_visibility(client: Any, world: Any, cw: dict[str, Any]) -> None:
    s = cloud.system_create(world.session, SYSTEM, SystemCreate(org_id=world.orgs["dept_a"].id, name="甲系统"))
    assert client.get(f"{BASE}/systems/{s.id}", headers=world.headers("org_member_b")).status_code == 404
    assert client.get(f"{BASE}/systems", headers=world.headers("org_member_b")).json()["total"] == 0
    r = client.post(f"{BASE}/systems/{s.id}/transition", headers=world.headers("org_member_a"),
                    json={"status": "done"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "invalid_transition"
    ratios = client.get(f"{BASE}/ratios", headers=world.headers("org_member_a")).json()
    assert ratios["city"] is None and ratios["units"][0]["systems"] == 1
