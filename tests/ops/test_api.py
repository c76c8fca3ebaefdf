"""Ops API: incidents and dispatch, visibility, citizen reports, indicators, webhooks, rule validation, SSE."""

from __future__ import annotations

import base64
import io
import uuid
from typing import Any

from PIL import Image

from cityhub.kit import clock
from cityhub.kit.pagination import PageParams
from cityhub.ops import service as ops
from cityhub.ops.incidents import service as incidents
from tests.ops.helpers import T0, Series, rule

API = "/api/v1/ops"


def _jpeg_with_exif() -> bytes:
    img = Image.new("RGB", (32, 24), (10, 120, 200))
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif)
    return buf.getvalue() + b"<script>trailing payload</script>"


def test_invalid_rule_is_422_naming_the_field(client: Any, world: Any) -> None:
    body = {"name": "x", "kind": "threshold", "profile_code": "bridge-health", "key": "strain",
            "condition": {"op": "=~", "value": 3}, "org_id": str(world.orgs["dept_a"].id)}
    r = client.post(f"{API}/rules", json=body, headers=world.headers("operator"))
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "condition.op"
    r = client.post(f"{API}/rules", json={**body, "condition": {"op": ">", "value": "NaN"}},
                    headers=world.headers("operator"))
    assert r.status_code == 422
    assert client.get(f"{API}/rules", headers=world.headers("operator")).json()["total"] == 0


def test_incident_flow_sla_and_visibility(client: Any, world: Any, session: Any) -> None:
    clock.set_now(T0)
    h = world.headers
    r = client.post(f"{API}/incidents", json={"title": "井盖缺失", "category": "road", "severity": "critical",
                                              "org_id": str(world.orgs["dept_a"].id)}, headers=h("operator"))
    assert r.status_code == 201, r.text
    inc = r.json()
    assert inc["status"] == "dispatched" and inc["org_id"] == str(world.orgs["dept_a"].id)
    iid = inc["id"]
    # dept B cannot see it; dept A can; an illegal move is 409
    assert client.get(f"{API}/incidents/{iid}", headers=h("org_member_b")).status_code == 404
    assert client.get(f"{API}/incidents", headers=h("org_member_b")).json()["total"] == 0

    def move(status: str, who: str) -> Any:
        return client.post(f"{API}/incidents/{iid}/transition", json={"status": status}, headers=h(who))

    assert move("resolved", "org_member_a").status_code == 409
    assert move("accepted", "auditor").status_code == 403
    assert move("accepted", "org_member_a").status_code == 200
    assert move("in_progress", "org_member_a").status_code == 200
    assert client.post(f"{API}/incidents/{iid}/comments", json={"text": "已到场处置"},
                       headers=h("org_member_a")).status_code == 201
    assert move("resolved", "org_member_a").status_code == 200
    assert move("closed", "org_member_a").status_code == 403  # closing is the center's
    assert move("closed", "operator").status_code == 200
    detail = client.get(f"{API}/incidents/{iid}", headers=h("org_member_a")).json()
    kinds = [e["kind"] for e in detail["events"]]
    assert kinds[:2] == ["created", "dispatched"] and "comment" in kinds
    assert [e["to_status"] for e in detail["events"] if e["kind"] == "transition"] == [
        "accepted", "in_progress", "resolved", "closed"]
    # sharing makes it visible to dept B
    assert client.post(f"{API}/incidents/{iid}/shares", json={"org_id": str(world.orgs["dept_b"].id)},
                       headers=h("org_member_a")).status_code == 200
    assert client.get(f"{API}/incidents/{iid}", headers=h("org_member_b")).status_code == 200


def test_sla_escalates_unaccepted_and_unresolved_incidents(client: Any, world: Any, session: Any) -> None:
    clock.set_now(T0)
    r = client.post(f"{API}/incidents", json={"title": "燃气泄漏", "category": "pipe_gallery", "severity": "critical",
                                              "org_id": str(world.orgs["dept_a"].id)},
                    headers=world.headers("operator"))
    iid = uuid.UUID(r.json()["id"])
    clock.set_now(T0.replace(minute=14))
    assert ops.sla_check(session, ops.ENGINE_ACTOR) == 0
    clock.set_now(T0.replace(minute=16))
    assert ops.sla_check(session, ops.ENGINE_ACTOR) == 1
    inc = ops.incident_get(session, world.actors["operator"], iid)
    assert inc.sla_breached and inc.escalation_level == 1
    assert ops.sla_check(session, ops.ENGINE_ACTOR) == 0  # escalates once per level
    clock.set_now(T0.replace(hour=12, minute=1))
    assert ops.sla_check(session, ops.ENGINE_ACTOR) == 1
    assert ops.incident_get(session, world.actors["operator"], iid).escalation_level == 2


def test_alarm_rule_opens_and_routes_an_incident(client: Any, world: Any, session: Any) -> None:
    from cityhub.ops.schemas import RoutingRuleCreate

    ops.routing_rule_create(session, world.actors["operator"], RoutingRuleCreate(
        priority=1, category="bridge", use_asset_owner=True))
    # the center's rule for the whole city (a rule reaches the devices of its owner's subtree)
    rule(world, session, condition={"op": ">", "value": 10}, auto_incident=True, category="bridge",
         org_id=world.orgs["city"].id)
    s = Series(world, org="dept_b")
    s.send(session, (0, 50))
    items, total = ops.incident_list(session, world.actors["org_member_b"], PageParams(limit=10, offset=0))
    assert total == 1 and items[0].source == "alarm" and items[0].org_id == world.orgs["dept_b"].id
    assert items[0].status == "dispatched"


def test_citizen_report_is_sanitised_rate_limited_and_photo_cleaned(client: Any, world: Any, session: Any,
                                                                   monkeypatch: Any) -> None:
    from cityhub.kit.settings import get_settings

    monkeypatch.setattr(get_settings(), "ops_report_limit_per_hour", 2)
    body = {"category": "road", "description": "<b>路面</b>塌陷<script>alert(1)</script>，请尽快处理",
            "lon": 106.57, "lat": 29.55, "photo_base64": base64.b64encode(_jpeg_with_exif()).decode()}
    r = client.post(f"{API}/reports", json=body)
    assert r.status_code == 201, r.text
    code = r.json()["code"]
    assert client.get(f"{API}/reports/{code}").json()["status"] in ("new", "dispatched")
    items, _ = ops.incident_list(session, world.actors["operator"], PageParams(limit=5, offset=0))
    inc = items[0]
    assert inc.source == "citizen" and "<" not in inc.description and "alert" not in inc.description
    assert inc.description.startswith("路面塌陷")
    detail = ops.incident_detail(session, world.actors["operator"], inc.id)
    [att] = detail["attachments"]
    path = incidents._attachments_dir() / str(att.id)
    cleaned = path.read_bytes()
    assert b"SecretCam" not in cleaned and b"trailing payload" not in cleaned and cleaned[:3] == b"\xff\xd8\xff"
    assert client.post(f"{API}/reports", json={**body, "photo_base64": None}).status_code == 201
    r = client.post(f"{API}/reports", json={**body, "photo_base64": None})
    assert r.status_code == 429 and r.headers["retry-after"] == "3600"
    bad = client.post(f"{API}/reports", json={**body, "photo_base64": base64.b64encode(b"GIF89a...").decode()})
    assert bad.status_code in (422, 429)


def test_indicator_breach_opens_and_clears_an_alarm(client: Any, world: Any, session: Any) -> None:
    h = world.headers("operator")
    r = client.post(f"{API}/indicators", json={"code": "pm25-city", "name": "PM2.5 日均", "theme": "environment",
                                               "unit": "µg/m³", "target": 35, "warning": 75, "critical": 115,
                                               "org_id": str(world.orgs["dept_a"].id)}, headers=h)
    assert r.status_code == 201, r.text
    iid = r.json()["id"]
    bad = client.post(f"{API}/indicators", json={"code": "x", "name": "x", "theme": "energy", "warning": 10,
                                                 "critical": 5}, headers=h)
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "critical"
    for v, band in ((40, ""), (80, "warning"), (130, "critical"), (50, "")):
        assert client.post(f"{API}/indicators/{iid}/values", json={"value": v}, headers=h).status_code == 201
        assert client.get(f"{API}/indicators/{iid}", headers=h).json()["band"] == band
        clock.set_now(clock.now() + __import__("datetime").timedelta(minutes=1))
    alarms = client.get(f"{API}/alarms", params={"type": "indicator_breach", "active": "false"}, headers=h).json()
    assert alarms["total"] == 1 and alarms["items"][0]["severity"] == "critical" and alarms["items"][0]["count"] == 2
    assert len(client.get(f"{API}/indicators/{iid}/values", headers=h).json()) == 4
    # a time without zone in the query is taken as UTC (not a 500)
    r = client.get(f"{API}/indicators/{iid}/values", params={"start": "2020-01-01T00:00:00"}, headers=h)
    assert r.status_code == 200 and len(r.json()) == 4


def test_webhooks_are_limited_to_configured_hosts(client: Any, world: Any) -> None:
    h = world.headers("org_admin_a")
    ok = client.post(f"{API}/webhooks", json={"url": "https://hooks.example.gov.cn/a", "secret": "x" * 20}, headers=h)
    assert ok.status_code == 201 and "secret" not in ok.json()
    bad = client.post(f"{API}/webhooks", json={"url": "http://169.254.169.254/latest", "secret": "x" * 20},
                      headers=h)
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "url"


def test_alarm_ack_clear_and_department_scope(client: Any, world: Any, session: Any) -> None:
    s = Series(world)
    alarm, _ = ops.alarm_raise(session, ops.ENGINE_ACTOR, originator_type="device", originator_id=s.device_id,
                               alarm_type="t", severity="minor", details={}, org_id=s.org_id,
                               district_id=s.district_id)
    a = f"{API}/alarms/{alarm.id}"
    assert client.get(a, headers=world.headers("org_member_b")).status_code == 404
    assert client.get(a, headers=world.headers("district_admin")).status_code == 200  # lies in the district
    assert client.post(f"{a}/ack", headers=world.headers("district_admin")).status_code == 403
    r = client.post(f"{a}/ack", headers=world.headers("org_member_a"))
    assert r.status_code == 200 and r.json()["status"] == "ACTIVE_ACK"
    assert client.post(f"{a}/ack", headers=world.headers("org_member_a")).status_code == 409
    assert client.post(f"{a}/clear", headers=world.headers("operator")).json()["status"] == "CLEARED_ACK"
    stats = client.get(f"{API}/alarms/stats", headers=world.headers("operator")).json()
    assert stats["total_active"] == 0


def test_dashboard_and_sse_snapshot(client: Any, world: Any, session: Any) -> None:
    s = Series(world)
    ops.alarm_raise(session, ops.ENGINE_ACTOR, originator_type="device", originator_id=s.device_id,
                    alarm_type="t", severity="critical", details={}, org_id=s.org_id, district_id=s.district_id,
                    lon=106.5, lat=29.5)
    snap = client.get(f"{API}/dashboard", headers=world.headers("operator")).json()
    assert snap["alarms"]["by_severity"]["critical"] == 1 and snap["alarm_points"][0]["value"] == [106.5, 29.5]
    assert snap["districts"] == [{"name": "丙区", "value": 1}]
    with client.stream("GET", "/ops/screen/stream", params={"once": "1"},
                       headers=world.headers("operator")) as resp:
        body = b"".join(resp.iter_bytes()).decode()
    assert resp.headers["content-type"].startswith("text/event-stream")
    assert "event: snapshot" in body and '"critical":1' in body
