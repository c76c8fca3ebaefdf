"""Rules scoped to one device (issue 16): "this bridge sensor", not its whole profile or asset.

A rule with `device_id` watches that device only; the device must be one the caller sees (else 422 naming
`device_id`, as if unknown), whose unit the caller writes rules for (else 403), inside the rule owner's subtree
(else 422). The editor offers only the devices the caller may write rules for.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from cityhub.connect import service as connect
from cityhub.connect.schemas import DeviceCreate
from cityhub.kit import clock
from cityhub.ops import service as ops
from cityhub.ops.models import Rule
from cityhub.ops.rules import editor
from cityhub.ops.schemas import RuleCreate
from tests.connect.helpers import SYSTEM, build_connect, message
from tests.ops.helpers import T0, all_alarms, rule
from tests.web.test_pages import login

API = "/api/v1/ops"


def _second_sensor(world: Any, session: Any, cw: dict[str, Any]) -> Any:
    dev, _token = connect.device_create(session, SYSTEM, DeviceCreate(
        name="主跨应变计 2", org_id=world.orgs["dept_a"].id, profile_code="bridge-health", asset_id=cw["span"].id))
    session.flush()
    return dev


def _strain(session: Any, device_id: Any, *values: float) -> None:
    clock.set_now(T0 + timedelta(hours=1))
    recs = [{"ts": (T0 + timedelta(minutes=i)).isoformat(), "values": {"strain": v}} for i, v in enumerate(values)]
    assert connect.ingest_messages(session, [message(device_id, recs, clock.now())]).stored == len(values)


def _body(world: Any, **over: Any) -> dict[str, Any]:
    return {"name": "主跨应变计 1 超限", "kind": "threshold", "key": "strain", "severity": "critical",
            "org_id": str(world.orgs["dept_a"].id), "condition": {"op": ">", "value": 800}, **over}


def test_a_device_rule_fires_only_for_that_device(world: Any, session: Any) -> None:
    cw = build_connect(world)
    other = _second_sensor(world, session, cw)  # same profile, same asset, same unit
    r = rule(world, session, profile_code=None, device_id=cw["dev_a"].id, condition={"op": ">", "value": 800})
    assert r.profile_code == "bridge-health"  # the device's profile: the editor's metric picker reads it
    _strain(session, other.id, 900, 950)
    assert all_alarms(session, other.id) == []
    _strain(session, cw["dev_a"].id, 900, 950)
    [alarm] = all_alarms(session, cw["dev_a"].id)
    assert alarm.rule_id == r.id and alarm.severity == "major"
    # the preview counts that one device only
    preview = ops.rule_preview(session, world.actors["operator"], RuleCreate(
        name="p", kind="threshold", key="strain", device_id=cw["dev_a"].id, org_id=world.orgs["dept_a"].id,
        condition={"op": ">", "value": 800}))
    assert preview.devices == 1 and preview.fired == 1


def test_a_device_no_data_rule_watches_only_that_device(world: Any, session: Any) -> None:
    cw = build_connect(world)
    other = _second_sensor(world, session, cw)
    rule(world, session, kind="no_data", profile_code=None, key="", device_id=cw["dev_a"].id, no_data_s=600)
    clock.set_now(T0)
    assert ops.tick(session).raised == 0  # seeds the deadline of the never-seen device
    clock.set_now(T0 + timedelta(hours=1))
    assert ops.tick(session).raised == 1
    assert len(all_alarms(session, cw["dev_a"].id)) == 1 and all_alarms(session, other.id) == []


def test_device_references_are_checked_and_nothing_is_half_written(client: Any, world: Any, session: Any) -> None:
    cw = build_connect(world)
    a_member = world.headers("org_member_a")
    cases = [  # (who, body, status, field)
        ("org_member_a", _body(world, device_id=str(uuid.uuid4())), 422, "device_id"),  # unknown
        ("org_member_a", _body(world, device_id=str(cw["dev_b"].id)), 422, "device_id"),  # B's: not visible to A
        ("operator", _body(world, device_id=str(cw["dev_b"].id)), 422, "device_id"),  # outside the owner's reach
        ("org_member_a", _body(world, device_id=str(cw["dev_a"].id), asset_id=str(cw["span"].id)), 422,
         "device_id"),  # one device or an asset
        ("org_member_a", _body(world, device_id=str(cw["dev_a"].id), profile_code="air-noise"), 422,
         "profile_code"),  # the device is not of that profile
    ]
    for who, body, status, field in cases:
        for path in ("/rules", "/rules/preview"):
            r = client.post(f"{API}{path}", headers=world.headers(who), json=body)
            assert r.status_code == status, (who, path, body, r.text)
            assert r.json()["error"]["details"][0]["field"] == field, r.text
    # B's device with B as the owner: A does not write B's rules
    r = client.post(f"{API}/rules", headers=a_member,
                    json=_body(world, device_id=str(cw["dev_b"].id), org_id=str(world.orgs["dept_b"].id)))
    assert r.status_code == 403, r.text
    assert session.scalar(select(func.count()).select_from(Rule)) == 0
    ok = client.post(f"{API}/rules", headers=a_member, json=_body(world, device_id=str(cw["dev_a"].id)))
    assert ok.status_code == 201 and ok.json()["device_id"] == str(cw["dev_a"].id), ok.text


def test_the_editor_offers_only_usable_devices_and_saves_a_device_rule(client: Any, world: Any,
                                                                       session: Any) -> None:
    cw = build_connect(world)
    member_a = world.actors["org_member_a"]
    assert {d.device_id for d in editor.usable_devices(session, member_a)} == {cw["dev_a"].id}
    assert cw["dev_b"].id in {d.device_id for d in editor.usable_devices(session, world.actors["operator"])}
    login(client, "t-a-member")
    page = client.get("/ops/rules/new").text
    assert 'data-testid="device-picker"' in page and "主跨应变计 1" in page and "广场微站" not in page
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]  # the page has one
    form = {"csrf_token": csrf, "name": "单桥应变", "kind": "threshold", "profile_code": "", "key": "strain",
            "device_id": str(cw["dev_a"].id), "org_id": str(world.orgs["dept_a"].id), "op": ">", "value": "800",
            "severity": "major", "duration_min": "0", "repeat_count": "1", "action": "save"}
    saved = client.post("/ops/rules", data=form, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    shown = client.get(saved.headers["location"]).text
    assert re.search(r'data-testid="watches">主跨应变计 1', shown)
    bad = client.post("/ops/rules", data={**form, "device_id": str(cw["dev_b"].id)})
    assert bad.status_code == 422 and "单桥应变" in bad.text  # refused, the entered values kept
    [row] = session.scalars(select(Rule)).all()
    assert row.device_id == cw["dev_a"].id


def test_rules_filter_by_device_in_the_api_and_on_the_page(client: Any, world: Any, session: Any) -> None:
    cw = build_connect(world)
    second = _second_sensor(world, session, cw)
    a_member = world.headers("org_member_a")
    one = client.post(f"{API}/rules", headers=a_member, json=_body(world, device_id=str(cw["dev_a"].id)))
    two = client.post(f"{API}/rules", headers=a_member,
                      json=_body(world, name="主跨应变计 2 超限", device_id=str(second.id)))
    whole = client.post(f"{API}/rules", headers=a_member,
                        json=_body(world, name="全桥应变", profile_code="bridge-health"))
    assert one.status_code == two.status_code == whole.status_code == 201, (one.text, two.text, whole.text)
    listed = client.get(f"{API}/rules", headers=a_member, params={"device_id": str(cw["dev_a"].id)}).json()
    assert [r["name"] for r in listed["items"]] == ["主跨应变计 1 超限"] and listed["total"] == 1
    assert client.get(f"{API}/rules", headers=a_member).json()["total"] == 3
    bad = client.get(f"{API}/rules", headers=a_member, params={"device_id": "not-an-id"})
    assert bad.status_code == 422 and "device_id" in bad.text
    login(client, "t-a-member")
    page = client.get("/ops/rules", params={"device_id": str(second.id)}).text
    table = page.split('data-testid="rules"')[1].split("</table>")[0]
    assert "主跨应变计 2 超限" in table and "主跨应变计 1 超限" not in table and "全桥应变" not in table
    assert re.search(r'data-testid="device-filter">[^<]*主跨应变计 2', page)
