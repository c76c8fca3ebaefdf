"""The scenario register: units declare their own scenarios, the transition table says who moves them on, every
change is audited, bad input names its field, links are to components the proposer can see, and the batch targets
read their computed progress from the register."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cityhub.apply import service as apply
from cityhub.apply.schemas import ScenarioCreate
from cityhub.cloud import service as cloud
from cityhub.cloud.schemas import RequestCreate
from cityhub.compute import service as compute
from cityhub.core.actor import Actor
from cityhub.core.models import AuditEntry
from cityhub.kit.errors import Conflict, Forbidden, InvalidTransition, NotFound, ValidationFailed
from cityhub.kit.pagination import PageParams
from tests.apply.test_pages import _login
from tests.cloud.factories import build_cloud
from tests.compute.helpers import bureau_setup, component_data
from tests.connect.helpers import build_connect

SYSTEM = Actor.system("test")
sc = apply.scenarios
ALL = PageParams(limit=100)


def _body(w: Any, name: str = "智慧停车", batch: str = "livelihood", org: str = "dept_a", **kw: Any) -> ScenarioCreate:
    return ScenarioCreate(name=name, batch=batch, year=2026, owner_org_id=w.orgs[org].id, **kw)


def _audit(w: Any, target_id: Any) -> list[str]:
    return [a.action for a in w.session.scalars(select(AuditEntry).where(AuditEntry.target_id == str(target_id))
                                                .order_by(AuditEntry.id))]


def test_a_unit_declares_its_own_scenarios_only(world: Any) -> None:
    s = sc.scenario_create(world.session, world.actors["org_member_a"], _body(
        world, district_org_id=world.orgs["district"].id))
    assert s.status == "declared" and s.owner_org_id == world.orgs["dept_a"].id
    for who in ("org_member_b", "district_admin", "auditor"):
        with pytest.raises(Forbidden):
            sc.scenario_create(world.session, world.actors[who], _body(world, name="别人的"))
    assert _audit(world, s.id) == ["scenario_create"]
    # every member of staff reads the register
    assert [x.id for x in sc.scenario_list(world.session, world.actors["org_member_b"], ALL)[0]] == [s.id]


def test_bad_input_names_the_field_and_writes_nothing(world: Any) -> None:
    member = world.actors["org_member_a"]
    with pytest.raises(ValidationFailed) as e:
        sc.scenario_create(world.session, member, _body(world, district_org_id=world.orgs["dept_b"].id))
    assert [d["field"] for d in e.value.details] == ["district_org_id"]
    with pytest.raises(ValueError, match="batch"):
        ScenarioCreate(name="x", batch="6g", year=2026, owner_org_id=world.orgs["dept_a"].id)
    with pytest.raises(ValueError, match="year"):
        ScenarioCreate(name="x", batch="5g", year=1990, owner_org_id=world.orgs["dept_a"].id)
    with pytest.raises(ValueError, match="name"):
        ScenarioCreate(name="  ", batch="5g", year=2026, owner_org_id=world.orgs["dept_a"].id)
    assert sc.scenario_list(world.session, member, ALL)[1] == 0
    sc.scenario_create(world.session, member, _body(world))
    with pytest.raises(Conflict):
        sc.scenario_create(world.session, member, _body(world))
    sc.scenario_create(world.session, member, _body(world, batch="5g"))  # the same name in another batch is fine
    with pytest.raises(NotFound):
        sc.scenario_get(world.session, member, world.orgs["dept_a"].id)


def test_the_transition_table_says_who_moves_a_scenario(world: Any) -> None:
    member, bureau = world.actors["org_member_a"], world.actors["platform_admin"]
    s = sc.scenario_create(world.session, member, _body(world))
    with pytest.raises(Forbidden):  # only the bureau accepts a declaration
        sc.scenario_transition(world.session, member, s.id, "building")
    with pytest.raises(InvalidTransition):  # no skipping
        sc.scenario_transition(world.session, bureau, s.id, "accepted")
    sc.scenario_transition(world.session, bureau, s.id, "building")
    with pytest.raises(Forbidden):  # another unit does not report it built
        sc.scenario_transition(world.session, world.actors["org_member_b"], s.id, "built")
    assert sc.scenario_transition(world.session, member, s.id, "built").status == "built"
    with pytest.raises(Forbidden):  # the owner does not accept its own delivery
        sc.scenario_transition(world.session, member, s.id, "accepted")
    sc.scenario_transition(world.session, bureau, s.id, "accepted", "验收通过")
    with pytest.raises(InvalidTransition):
        sc.scenario_transition(world.session, bureau, s.id, "building")
    with pytest.raises(ValidationFailed) as e:
        sc.scenario_transition(world.session, bureau, s.id, "live")
    assert e.value.field == "status"
    assert _audit(world, s.id) == ["scenario_create"] + ["scenario_transition"] * 3


def test_links_are_to_components_the_proposer_sees_and_answer_which_scenarios_use_one(world: Any) -> None:
    w = bureau_setup(world)
    comp = compute.component_create(w.session, w.actors["org_member_a"], component_data(w))  # a draft of dept A
    s = sc.scenario_create(w.session, w.actors["org_member_a"], _body(w, component_ids=[comp.id, comp.id]))
    assert s.component_ids == [comp.id]
    with pytest.raises(ValidationFailed) as e:  # dept B cannot see A's draft: it cannot link it
        sc.scenario_create(w.session, w.actors["org_member_b"], _body(w, name="B的", org="dept_b",
                                                                        component_ids=[comp.id]))
    assert e.value.field == "component_ids"
    with pytest.raises(ValidationFailed) as e:
        sc.scenario_create(w.session, w.actors["org_member_a"], _body(w, name="无", entry_ids=[comp.id]))
    assert e.value.field == "entry_ids"
    sc.scenario_create(w.session, w.actors["org_member_a"], _body(w, name="不用组件"))
    users = sc.scenario_list(w.session, w.actors["auditor"], ALL, component_id=comp.id)
    assert [x.id for x in users[0]] == [s.id]


def test_links_to_devices_and_cloud_resources_go_through_their_layers_and_answer_which_scenarios_use_one(
        world: Any, tmp_path: Path) -> None:
    w = world
    dev_a = build_connect(w)["dev_a"]  # a device of dept A
    cw = build_cloud(w, tmp_path / "dummy")
    req = cloud.request_create(w.session, w.actors["org_member_a"], cw["tenancy_a"].id,
                               RequestCreate(item_id=cw["small"].id))
    cloud.request_approve(w.session, w.actors["org_admin_a"], req.id)
    cloud.jobs_run(w.session, SYSTEM)
    res_a = cloud.resource_list(w.session, w.actors["org_member_a"], ALL, request_id=req.id)[0][0]
    member_a, member_b = w.actors["org_member_a"], w.actors["org_member_b"]
    s = sc.scenario_create(w.session, member_a, _body(w, device_ids=[dev_a.id, dev_a.id],
                                                      cloud_resource_ids=[res_a.id]))
    assert s.device_ids == [dev_a.id] and s.cloud_resource_ids == [res_a.id]
    assert sc.scenario_get(w.session, w.actors["auditor"], s.id).device_ids == [dev_a.id]
    # dept B sees neither A's device nor A's node: a 422 naming the field, and nothing written
    for field, ids in (("device_ids", [dev_a.id]), ("cloud_resource_ids", [res_a.id]),
                       ("device_ids", [res_a.id]), ("cloud_resource_ids", [dev_a.id])):
        links: dict[str, Any] = {field: ids}
        with pytest.raises(ValidationFailed) as e:
            sc.scenario_create(w.session, member_b, _body(w, name="B的", org="dept_b", **links))
        assert e.value.field == field
    assert sc.scenario_list(w.session, member_b, ALL, owner_org_id=w.orgs["dept_b"].id)[1] == 0
    sc.scenario_create(w.session, member_a, _body(w, name="只用设备", device_ids=[dev_a.id]))
    by_device = sc.scenario_list(w.session, w.actors["auditor"], ALL, device_id=dev_a.id)[0]
    assert sorted(x.name for x in by_device) == ["只用设备", "智慧停车"]
    by_resource = sc.scenario_list(w.session, w.actors["auditor"], ALL, cloud_resource_id=res_a.id)[0]
    assert [x.id for x in by_resource] == [s.id]
    assert sc.scenario_list(w.session, member_a, ALL, device_id=res_a.id)[1] == 0  # kinds do not mix
    row = w.session.scalars(select(AuditEntry).where(AuditEntry.target_id == str(s.id))).one()
    after = row.summary["after"]
    assert after["devices"] == 1 and after["cloud_resources"] == 1


def test_the_batch_targets_read_their_progress_from_the_register(world: Any) -> None:
    bureau_setup(world)
    bureau, member = world.actors["platform_admin"], world.actors["org_member_a"]
    apply.programme_seed(world.session, SYSTEM)
    ids = [sc.scenario_create(world.session, member, _body(world, name=f"5G-{i}", batch="5g")).id for i in range(3)]
    sc.scenario_create(world.session, member, _body(world, name="未来-1", batch="future_community"))
    for i, sid in enumerate(ids):  # 0 building, 1 built, 2 accepted
        sc.scenario_transition(world.session, bureau, sid, "building")
        if i >= 1:
            sc.scenario_transition(world.session, member, sid, "built")
        if i >= 2:
            sc.scenario_transition(world.session, bureau, sid, "accepted")
    apply.progress_refresh(world.session, SYSTEM)
    t = apply.target_by_code(world.session, SYSTEM, "apply.5g")
    assert t.method == "computed" and t.current_value == 2.0  # built and accepted count
    assert apply.target_by_code(world.session, SYSTEM, "apply.future_community").current_value == 0.0
    summary = {str(b.batch): b for b in sc.summary(world.session, member)}
    assert summary["5g"].by_status == {"declared": 0, "building": 1, "built": 1, "accepted": 1}
    assert summary["5g"].delivered == 2 and len(summary) == 5


def test_the_scenario_page_names_the_linked_devices_and_nodes_the_viewer_may_see(client: Any, world: Any,
                                                                                   tmp_path: Path) -> None:
    dev_a = build_connect(world)["dev_a"]
    cw = build_cloud(world, tmp_path / "dummy")
    req = cloud.request_create(world.session, world.actors["org_member_a"], cw["tenancy_a"].id,
                               RequestCreate(item_id=cw["small"].id))
    cloud.request_approve(world.session, world.actors["org_admin_a"], req.id)
    cloud.jobs_run(world.session, SYSTEM)
    res_a = cloud.resource_list(world.session, world.actors["org_member_a"], ALL, request_id=req.id)[0][0]
    s = sc.scenario_create(world.session, world.actors["org_member_a"], _body(
        world, summary="<script>x</script>", device_ids=[dev_a.id], cloud_resource_ids=[res_a.id]))
    world.session.commit()
    _login(client, "t-a-member")
    page = client.get(f"/apply/scenarios/{s.id}").text
    devices = re.search(r'data-testid="linked-devices">(.*?)</dd>', page)
    resources = re.search(r'data-testid="linked-resources">(.*?)</dd>', page)
    assert devices is not None and devices.group(1) == "主跨应变计 1"
    assert resources is not None and resources.group(1) == res_a.name
    assert "<script>x</script>" not in page and "&lt;script&gt;" in page
    client.cookies.clear()
    _login(client, "t-b-member")  # unit B reads the scenario but not A's device or node: counted, not named
    other = client.get(f"/apply/scenarios/{s.id}").text
    assert "主跨应变计 1" not in other and res_a.name not in other and other.count("另有 1 项无权查看") == 2
    client.cookies.set("cityhub_lang", "en")
    assert "Cloud resources" in client.get(f"/apply/scenarios/{s.id}").text
