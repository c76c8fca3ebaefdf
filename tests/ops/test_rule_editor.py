"""The rule editor and how rules read (issue 16): pickers from the device profiles, assets the actor may use,
versions kept on every change of the definition, conditions as sentences, labels instead of codes."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from cityhub.connect import service as connect
from cityhub.kit import clock, i18n, labels
from cityhub.kit.pagination import PageParams
from cityhub.ops import service as ops
from cityhub.ops.rules import editor
from cityhub.ops.schemas import AlarmStatus, IncidentCreate, RuleUpdate
from tests.connect.helpers import build_connect, message
from tests.ops.helpers import T0, Series, rule
from tests.web.test_pages import login


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]  # the page is known to contain it; None would fail the test


def test_conditions_read_as_sentences_in_each_language(world: Any, session: Any) -> None:
    build_connect(world)
    catalogue_zh = editor.metrics(session, "zh_CN")
    r = rule(world, session, condition={"op": ">", "value": 800}, duration_s=300,
             clear_condition={"op": "<", "value": 600})
    token = i18n.set_locale("zh_CN")
    try:
        assert editor.sentence(r, catalogue_zh) == "应变 > 800 με，持续 5 分钟；应变 < 600 με 时解除"
        nodata = rule(world, session, kind="no_data", no_data_s=3600)
        assert editor.sentence(nodata, catalogue_zh) == "1 小时无数据"
    finally:
        i18n.reset_locale(token)
    token = i18n.set_locale("en")
    try:
        catalogue_en = editor.metrics(session, "en")
        repeated = rule(world, session, condition={"op": "abs>=", "value": 1200.5}, repeat_count=3)
        assert editor.sentence(repeated, catalogue_en) == "|Strain| ≥ 1,200.5 με, 3 times in a row"
        # a sentence starts a table cell: it begins with a capital, whatever the kind
        forecast = {"kind": "forecast", "profile_code": "bridge-health", "key": "strain",
                    "condition": {"op": ">", "value": 800, "horizon_s": 7200}}
        assert editor.sentence(forecast, catalogue_en) == "Forecast within 2 h: Strain > 800 με"
        rate = {"kind": "rate", "profile_code": "bridge-health", "key": "strain", "condition": {"op": ">", "value": 5}}
        assert editor.sentence(rate, catalogue_en).startswith("Change per minute: ")
    finally:
        i18n.reset_locale(token)


def test_a_change_of_definition_is_a_new_version_and_the_old_one_is_kept(world: Any, session: Any) -> None:
    r = rule(world, session, condition={"op": ">", "value": 800}, severity="major")
    operator = world.actors["operator"]
    assert [v.number for v in ops.rule_versions(session, operator, r.id)] == [1]
    ops.rule_update(session, operator, r.id, RuleUpdate(condition={"op": ">", "value": 900}, severity="critical"))
    ops.rule_update(session, operator, r.id, RuleUpdate(enabled=False))  # not a new definition
    versions = ops.rule_versions(session, operator, r.id)
    assert [v.number for v in versions] == [2, 1]
    assert versions[0].definition["condition"]["value"] == 900 and versions[0].definition["severity"] == "critical"
    assert versions[1].definition["condition"]["value"] == 800 and versions[1].definition["severity"] == "major"
    assert versions[0].actor_name == "t-operator"
    assert not ops.rule_get(session, operator, r.id).enabled


def test_an_asset_rule_watches_only_that_asset_even_when_it_names_the_profile(world: Any, session: Any) -> None:
    cw = build_connect(world)
    other_bridge = Series(world)  # a device of the same profile on no asset
    on_span = Series(world, asset_path=(cw["span"].id, cw["bridge"].id))
    rule(world, session, asset_id=cw["bridge"].id, condition={"op": ">", "value": 800})
    other_bridge.send(session, (0, 900.0))
    on_span.send(session, (0, 900.0))
    alarms = ops.alarm_list(session, world.actors["operator"], PageParams(limit=5, offset=0))[0]
    assert [a.originator_id for a in alarms] == [on_span.device_id]


def test_the_editor_offers_profiles_metrics_and_only_usable_assets(client: Any, world: Any, session: Any) -> None:
    cw = build_connect(world)
    member_a = world.actors["org_member_a"]
    assert {a.asset_id for a in editor.usable_assets(session, member_a)} == {cw["bridge"].id, cw["span"].id}
    assert cw["plaza"].id in {a.asset_id for a in editor.usable_assets(session, world.actors["operator"])}
    assert editor.owner_choices(session, member_a)[0][0] == world.orgs["dept_a"].id
    profiles = {p["code"]: p for p in editor.profiles(session, "zh_CN")}
    assert {"key": "strain", "name": "应变", "unit": "με"} in profiles["bridge-health"]["metrics"]
    login(client, "t-a-member")
    page = client.get("/ops/rules/new").text
    assert "测试长江大桥" in page and "测试广场" not in page  # another unit's asset is not offered
    assert 'data-profile="bridge-health"' in page and '<option value="strain" data-unit="με"' in page


def test_edit_previews_then_saves_a_new_version_shown_in_the_history(client: Any, world: Any, session: Any) -> None:
    cw = build_connect(world)
    clock.set_now(T0 + timedelta(hours=3))
    recs = [{"ts": (T0 + timedelta(minutes=i)).isoformat(), "values": {"strain": v}}
            for i, v in enumerate([100, 900, 100, 950, 100, 990])]
    connect.ingest_messages(session, [message(cw["dev_a"].id, recs, clock.now())])
    r = rule(world, session, name="主跨应变", condition={"op": ">", "value": 800})
    login(client, "t-operator")
    page = client.get(f"/ops/rules/{r.id}")
    assert page.status_code == 200 and "应变 &gt; 800 με" in page.text and 'data-testid="versions"' in page.text
    form = {"csrf_token": _csrf(page.text), "name": "主跨应变", "op": ">", "value": "940", "severity": "critical",
            "duration_min": "0", "repeat_count": "1"}
    preview = client.post(f"/ops/rules/{r.id}", data={**form, "action": "preview"})
    assert preview.status_code == 200 and "最近 24 小时内该规则会触发 2 次" in preview.text
    assert ops.rule_get(session, world.actors["operator"], r.id).condition["value"] == 800  # a preview saves nothing
    saved = client.post(f"/ops/rules/{r.id}", data={**form, "action": "save"}, follow_redirects=False)
    assert saved.status_code == 303 and saved.headers["location"].startswith(f"/ops/rules/{r.id}?msg=")
    history = client.get(saved.headers["location"]).text
    assert "应变 &gt; 940 με" in history and "应变 &gt; 800 με" in history  # the new and the kept version
    assert [v.number for v in ops.rule_versions(session, world.actors["operator"], r.id)] == [2, 1]
    bad = client.post(f"/ops/rules/{r.id}", data={**form, "op": "~", "action": "save"})
    assert bad.status_code == 422 and "condition.op" in bad.text
    login(client, "t-b-member")
    assert client.get(f"/ops/rules/{r.id}").status_code == 404  # another unit's rule is not there


def test_pages_show_labels_not_codes(client: Any, world: Any, session: Any) -> None:
    s = Series(world)
    ops.alarm_raise(session, ops.ENGINE_ACTOR, originator_type="device", originator_id=s.device_id,
                    alarm_type="井盖位移", severity="critical", details={}, org_id=s.org_id, name="井盖 3")
    ops.incident_create(session, world.actors["operator"], IncidentCreate(title="管廊积水", category="pipe_gallery"))
    login(client, "t-operator")
    alarms = client.get("/ops/alarms").text
    assert "活动 · 未确认" in alarms and "ACTIVE_UNACK" not in alarms
    incidents = client.get("/ops/incidents").text
    assert "综合管廊" in incidents and ">pipe_gallery<" not in incidents
    client.get("/lang/en")
    alarms = client.get("/ops/alarms").text
    assert "Active, not acknowledged" in alarms and "ACTIVE_UNACK" not in alarms and ">Critical<" in alarms
    assert labels.label(AlarmStatus.CLEARED_ACK, locale="zh_CN") == "已清除 · 已确认"


def test_closing_an_incident_as_staff_is_refused_in_the_users_language(client: Any, world: Any,
                                                                        session: Any) -> None:
    inc = ops.incident_create(session, world.actors["operator"], IncidentCreate(title="路灯损坏",
                                                                                 org_id=world.orgs["dept_a"].id))
    login(client, "t-a-member")
    csrf = _csrf(client.get(f"/ops/incidents/{inc.id}").text)
    r = client.post(f"/api/v1/ops/incidents/{inc.id}/transition", json={"status": "closed"},
                    headers={"X-CSRF-Token": csrf})
    assert r.status_code == 403 and r.json()["error"]["message"] == "只有运行管理中心可以关闭或重开事件"


def test_lists_page_and_filter(client: Any, world: Any, session: Any) -> None:
    for i in range(55):
        ops.incident_create(session, world.actors["operator"], IncidentCreate(
            title=f"事件 {i}", category="road" if i % 5 else "water", severity="minor" if i % 2 else "major"))
    login(client, "t-operator")
    first = client.get("/ops/incidents").text
    assert len(re.findall(r'href="/ops/incidents/[0-9a-f-]{36}"', first)) == 50 and 'rel="next"' in first
    second = client.get("/ops/incidents?offset=50").text
    assert 'rel="prev"' in second and "51–55 / 55" in second
    water = client.get("/ops/incidents?category=water").text
    assert "事件 0<" in water and "事件 1<" not in water and 'rel="next"' not in water
    page = client.get("/ops/incidents?category=road&severity=minor").text
    assert "事件 1<" in page and "事件 2<" not in page and "事件 5<" not in page
