"""Ops pages: they render for operators and departments; forms go through CSRF; preview and report work."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

from cityhub.connect import service as connect
from cityhub.kit import clock
from cityhub.kit.pagination import PageParams
from cityhub.ops import service as ops
from tests.connect.helpers import build_connect, message
from tests.ops.helpers import T0, Series, rule
from tests.web.test_pages import login

PAGES = ("/ops/screen", "/ops/alarms", "/ops/incidents", "/ops/rules", "/ops/indicators", "/ops/report")


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]  # the page is known to contain it; None would fail the test


def test_pages_render_for_the_operator(client: Any, world: Any, session: Any) -> None:
    s = Series(world)
    ops.alarm_raise(session, ops.ENGINE_ACTOR, originator_type="device", originator_id=s.device_id,
                    alarm_type="桥梁应变超限", severity="critical", details={}, org_id=s.org_id,
                    district_id=s.district_id, lon=106.5, lat=29.5, name="应变计 7")
    login(client, "t-operator")
    for path in PAGES:
        r = client.get(path)
        assert r.status_code == 200, path
    name = json.dumps("应变计 7")[1:-1]  # the snapshot is embedded as JSON
    screen = client.get("/ops/screen").text
    assert screen.count('data-testid="chart"') == 7 and name in screen  # six charts and the forecasts' panel
    assert name in client.get(f"/ops/screen?district_id={world.orgs['district'].id}").text
    assert name not in client.get(f"/ops/screen?district_id={world.orgs['dept_b'].id}").text
    assert "桥梁应变超限" in client.get("/ops/alarms").text


def test_department_sees_its_own_and_acknowledges_through_the_form(client: Any, world: Any, session: Any) -> None:
    mine, other = Series(world), Series(world, org="dept_b", district=None)
    for s, name in ((mine, "甲局设备"), (other, "乙局设备")):
        ops.alarm_raise(session, ops.ENGINE_ACTOR, originator_type="device", originator_id=s.device_id,
                        alarm_type="t", severity="major", details={}, org_id=s.org_id, name=name)
    login(client, "t-a-member")
    page = client.get("/ops/alarms").text
    assert "甲局设备" in page and "乙局设备" not in page
    alarm = ops.alarm_list(session, world.actors["org_member_a"], PageParams(limit=5, offset=0))[0][0]
    assert client.post(f"/ops/alarms/{alarm.id}/ack", data={"csrf_token": "forged"}).status_code == 403
    r = client.post(f"/ops/alarms/{alarm.id}/ack", data={"csrf_token": _csrf(page)}, follow_redirects=True)
    assert r.status_code == 200 and "已保存" in r.text
    session.refresh(alarm)
    assert alarm.acknowledged


def test_rule_editor_previews_then_saves(client: Any, world: Any, session: Any) -> None:
    cw = build_connect(world)
    clock.set_now(T0 + timedelta(hours=3))
    recs = [{"ts": (T0 + timedelta(minutes=i)).isoformat(), "values": {"strain": v}}
            for i, v in enumerate([100, 900, 100, 950, 100, 990])]
    connect.ingest_messages(session, [message(cw["dev_a"].id, recs, clock.now())])
    login(client, "t-operator")
    page = client.get("/ops/rules").text
    form = {"csrf_token": _csrf(page), "name": "应变预演", "kind": "threshold", "profile_code": "bridge-health",
            "key": "strain", "op": ">", "value": "800", "severity": "major", "org_id": str(world.orgs["dept_a"].id)}
    r = client.post("/ops/rules", data={**form, "action": "preview"})
    assert r.status_code == 200 and "最近 24 小时内该规则会触发 3 次" in r.text
    bad = client.post("/ops/rules", data={**form, "op": "~", "action": "save"})
    assert bad.status_code == 422 and "condition.op" in bad.text
    ok = client.post("/ops/rules", data={**form, "action": "save"}, follow_redirects=True)
    assert ok.status_code == 200 and "应变预演" in ok.text


def test_incident_page_walks_the_states(client: Any, world: Any, session: Any) -> None:
    from cityhub.ops.schemas import IncidentCreate

    inc = ops.incident_create(session, world.actors["operator"], IncidentCreate(title="路灯损坏",
                                                                                 org_id=world.orgs["dept_a"].id))
    login(client, "t-a-member")
    page = client.get(f"/ops/incidents/{inc.id}").text
    assert 'data-testid="move-accepted"' in page and 'data-testid="move-closed"' not in page
    r = client.post(f"/ops/incidents/{inc.id}/transition", data={"csrf_token": _csrf(page), "status": "accepted"},
                    follow_redirects=True)
    assert 'data-testid="status">已签收' in r.text
    r = client.post(f"/ops/incidents/{inc.id}/comment", data={"csrf_token": _csrf(page), "text": "正在更换"},
                    follow_redirects=True)
    assert "正在更换" in r.text
    login(client, "t-b-member")
    assert client.get(f"/ops/incidents/{inc.id}").status_code == 404


def test_public_report_form(client: Any, world: Any, session: Any) -> None:
    page = client.get("/ops/report")
    assert page.status_code == 200 and 'data-testid="report-form"' in page.text
    form = {"csrf_token": _csrf(page.text), "category": "road", "description": "人行道地砖松动，老人容易摔倒",
            "lon": "106.55", "lat": "29.56"}
    r = client.post("/ops/report", data=form, follow_redirects=True)
    assert r.status_code == 200 and 'data-testid="receipt"' in r.text
    code = re.search(r'class="mono">(R[0-9A-F]+)<', r.text).group(1)  # type: ignore[union-attr]  # the page is known to contain it; None would fail the test
    assert ops.citizen_report_status(session, code).status in ("new", "dispatched")
    rule(world, session, condition={"op": ">", "value": 1})  # pages keep working with rules around
    assert client.get("/ops/report").status_code == 200


def _post(client: Any, path: str, data: dict[str, str]) -> Any:
    return client.post(path, data=data, follow_redirects=False)


def _flash(response: Any) -> tuple[str, str]:
    """The redirect's path and its flash message (unquoted)."""
    from urllib.parse import parse_qs, urlsplit

    assert response.status_code == 303
    url = urlsplit(response.headers["location"])
    return url.path, parse_qs(url.query).get("msg", [""])[0]


def test_forms_name_the_bad_field_and_carry_the_message_quoted(client: Any, world: Any, session: Any) -> None:
    from cityhub.ops.schemas import IncidentCreate

    s = Series(world)
    alarm, _ = ops.alarm_raise(session, ops.ENGINE_ACTOR, originator_type="device", originator_id=s.device_id,
                               alarm_type="井盖位移", severity="major", details={}, org_id=s.org_id, name="井盖 3")
    login(client, "t-operator")
    csrf = _csrf(client.get("/ops/incidents").text)
    path, msg = _flash(_post(client, "/ops/incidents", {"csrf_token": csrf, "title": "路面塌陷",
                                                        "category": "road", "org_id": "not-an-id"}))
    assert path == "/ops/incidents" and "org_id" in msg
    path, msg = _flash(_post(client, "/ops/incidents", {"csrf_token": csrf, "title": "路面塌陷",
                                                        "category": "road", "severity": "apocalyptic"}))
    assert path == "/ops/incidents" and "severity" in msg
    inc = ops.incident_create(session, world.actors["operator"], IncidentCreate(title="路灯损坏"))
    path, msg = _flash(_post(client, f"/ops/incidents/{inc.id}/transition",
                             {"csrf_token": csrf, "status": "flying"}))
    assert path == f"/ops/incidents/{inc.id}" and "(status)" in msg
    # a refused move: the message (quotes, spaces) arrives whole
    path, msg = _flash(_post(client, f"/ops/incidents/{inc.id}/transition",
                             {"csrf_token": csrf, "status": "resolved"}))
    now = {"new": "新建", "dispatched": "已派单"}[ops.incident_get(session, world.actors["operator"], inc.id).status]
    assert msg == f"处于“{now}”状态的事件不能变为“已解除”"  # in the reader's language, statuses by their labels
    # the alarm's "open an incident" action goes to the new incident; an unknown action is a message
    path, msg = _flash(_post(client, f"/ops/alarms/{alarm.id}/incident", {"csrf_token": csrf}))
    assert re.fullmatch(r"/ops/incidents/[0-9a-f-]{36}", path) and msg == ""
    path, msg = _flash(_post(client, f"/ops/alarms/{alarm.id}/explode", {"csrf_token": csrf}))
    assert path == "/ops/alarms" and msg == "未知操作"
    # the rule editor and the public report form answer 422 naming a field that is not a number
    form = {"csrf_token": csrf, "name": "应变", "kind": "threshold", "profile_code": "bridge-health", "key": "strain",
            "op": ">", "value": "eight hundred", "severity": "major", "action": "preview"}
    bad = client.post("/ops/rules", data=form)
    assert bad.status_code == 422 and "(value)" in bad.text
    bad = client.post("/ops/rules", data={**form, "value": "800", "duration_min": "nan"})
    assert bad.status_code == 422 and "(duration_min)" in bad.text
    bad = client.post("/ops/report", data={"csrf_token": csrf, "category": "road", "description": "井盖松动有响声",
                                           "lon": "east"})
    assert bad.status_code == 422 and "(lon)" in bad.text
