from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

from cityhub.kit import clock
from tests.connect.helpers import build_connect

T0 = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)


def _post(client: Any, device_id: Any, token: Any, body: Any) -> Any:
    return client.post(f"/api/v1/devices/{device_id}/telemetry", json=body,
                       headers={"Authorization": f"Bearer {token}"})


def test_http_ingest_needs_the_device_token(world: Any, client: Any) -> None:
    cw = build_connect(world)
    dev = cw["dev_a"].id
    body = {"ts": T0.isoformat(), "values": {"strain": 1}}
    assert client.post(f"/api/v1/devices/{dev}/telemetry", json=body).status_code == 401
    assert _post(client, dev, cw["token_b"], body).status_code == 401  # another device's token
    assert _post(client, dev, world.tokens["platform_admin"], body).status_code == 401
    r = _post(client, dev, cw["token_a"], [body, {"ts": T0.isoformat(), "values": {"strain": 1e9}}])
    assert r.status_code == 200 and r.json() == {"stored": 1, "duplicates": 0, "quarantined": 1}
    assert _post(client, dev, cw["token_a"], body).json() == {"stored": 0, "duplicates": 1, "quarantined": 0}


def test_registration_rotation_and_queries(world: Any, client: Any) -> None:
    cw = build_connect(world)
    h = world.headers("org_member_a")
    r = client.post("/api/v1/connect/devices", headers=h, json={
        "name": "东水门长江大桥 挠度计", "org_id": str(world.orgs["dept_a"].id), "profile_code": "bridge-health",
        "asset_id": str(cw["bridge"].id)})
    assert r.status_code == 201, r.text
    dev = r.json()
    assert dev["token"].startswith("chdev_") and dev["topic"].endswith(f"/devices/{dev['id']}/telemetry")
    assert "token" not in client.get(f"/api/v1/connect/devices/{dev['id']}", headers=h).json()
    rotated = client.post(f"/api/v1/connect/devices/{dev['id']}/token", headers=h).json()["token"]
    assert _post(client, dev["id"], dev["token"], {"values": {"strain": 1}}).status_code == 401
    clock.set_now(T0 + timedelta(hours=2))
    recs = [{"ts": (T0 + timedelta(minutes=i)).isoformat(), "values": {"strain": float(i), "temperature": 20.5}}
            for i in range(60)]
    assert _post(client, dev["id"], rotated, recs).json()["stored"] == 120
    q = {"from": T0.isoformat(), "to": (T0 + timedelta(hours=1)).isoformat()}
    raw = client.get(f"/api/v1/connect/devices/{dev['id']}/telemetry", headers=h,
                     params={**q, "keys": "strain", "limit": 5}).json()
    assert [p["value"] for p in raw["points"]] == [0.0, 1.0, 2.0, 3.0, 4.0] and raw["buckets"] == []
    agg = client.get(f"/api/v1/connect/devices/{dev['id']}/telemetry", headers=h,
                     params={**q, "keys": "strain,temperature", "agg": "max", "interval": "15m"}).json()
    assert [(b["key"], b["value"]) for b in agg["buckets"]] == [
        ("strain", 14.0), ("strain", 29.0), ("strain", 44.0), ("strain", 59.0), *[("temperature", 20.5)] * 4]
    bad = client.get(f"/api/v1/connect/devices/{dev['id']}/telemetry", headers=h,
                     params={**q, "agg": "avg", "interval": "7x"})
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "interval"
    text = client.get(f"/api/v1/connect/devices/{dev['id']}/telemetry.csv", headers=h,
                      params={**q, "keys": "temperature"}).text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 60 and rows[0]["key"] == "temperature" and rows[0]["value"] == "20.5"
    latest = client.get(f"/api/v1/connect/devices/{dev['id']}/latest", headers=h).json()
    assert {x["key"]: x["value"] for x in latest} == {"strain": 59.0, "temperature": 20.5}
    # another department sees nothing of it
    hb = world.headers("org_member_b")
    assert client.get(f"/api/v1/connect/devices/{dev['id']}", headers=hb).status_code == 404
    assert client.get(f"/api/v1/connect/devices/{dev['id']}/telemetry", headers=hb).status_code == 404
    listed = client.get("/api/v1/connect/devices", headers=hb).json()
    assert [d["id"] for d in listed["items"]] == [str(cw["dev_b"].id)]


def test_filters_status_and_conflicts(world: Any, client: Any) -> None:
    cw = build_connect(world)
    h = world.headers("org_admin_a")
    r = client.get("/api/v1/connect/devices", headers=world.headers("platform_admin"),
                   params={"profile": "air-noise"}).json()
    assert [d["name"] for d in r["items"]] == ["广场微站"]
    dev = cw["dev_a"].id
    assert client.patch(f"/api/v1/connect/devices/{dev}", headers=h, json={"status": "decommissioned"}
                        ).status_code == 200
    again = client.patch(f"/api/v1/connect/devices/{dev}", headers=h, json={"status": "active"})
    assert again.status_code == 409
    assert client.delete(f"/api/v1/connect/assets/{cw['bridge'].id}", headers=h).status_code == 409
    bad = client.post("/api/v1/connect/devices", headers=h, json={
        "name": "x", "org_id": str(world.orgs["dept_a"].id), "profile_code": "nope"})
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "profile_code"


def test_quarantine_counts_reach_the_servers_metrics(world: Any, client: Any) -> None:
    cw = build_connect(world)
    _post(client, cw["dev_a"].id, cw["token_a"], {"values": {"colour": 1}})
    _post(client, cw["dev_a"].id, cw["token_a"], {"values": {"strain": "high"}})
    text = client.get("/metrics").text
    assert 'cityhub_connect_quarantined_total{reason="unknown_key"} 1.0' in text
    assert 'cityhub_connect_quarantined_total{reason="wrong_type"} 1.0' in text
    assert 'cityhub_connect_devices{status="active"} 2.0' in text
    items = client.get("/api/v1/connect/quarantine", headers=world.headers("org_member_a")).json()
    assert sorted(i["reason"] for i in items["items"]) == ["unknown_key", "wrong_type"]
    assert client.get("/api/v1/connect/quarantine", headers=world.headers("org_member_b")).json()["total"] == 0
