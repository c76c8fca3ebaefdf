"""Targets as data: the tree, computed progress from the layers' façades, reports with evidence and review,
history, status; the seed's targets; audit."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest

from cityhub.apply import service as apply
from cityhub.apply.schemas import ReportCreate, TargetCreate, TargetUpdate
from cityhub.cloud import service as cloud
from cityhub.cloud.schemas import SystemCreate
from cityhub.core import service as core
from cityhub.core.actor import Actor
from cityhub.kit import clock
from cityhub.kit.errors import Conflict, Forbidden, NotFound, ValidationFailed
from cityhub.kit.pagination import PageParams

SYSTEM = Actor.system("test")
UNKNOWN = uuid.UUID(int=7)


def _target(w: Any, code: str, **kw: Any) -> Any:
    base: dict[str, Any] = {"code": code, "title_zh": code, "target_value": 100.0, "start_date": date(2026, 1, 1),
                            "deadline": date(2027, 1, 1), "owner_org_id": w.orgs["dept_a"].id}
    base.update(kw)
    return apply.target_create(w.session, w.actors["platform_admin"], TargetCreate(**base))


def _report(w: Any, who: str, t: Any, value: float, **kw: Any) -> Any:
    return apply.report_create(w.session, w.actors[who], t.id, ReportCreate(
        value=value, evidence_url=kw.pop("evidence_url", "https://example.gov.cn/evidence.pdf"), **kw))


def test_only_the_bureau_manages_targets_and_staff_read_them(world: Any) -> None:
    t = _target(world, "t.a")
    for who in ("org_admin_a", "org_member_b", "auditor", "operator"):
        with pytest.raises(Forbidden):
            apply.target_create(world.session, world.actors[who], TargetCreate(code="t.x", title_zh="x"))
        with pytest.raises(Forbidden):
            apply.target_update(world.session, world.actors[who], t.id, TargetUpdate(target_value=5))
        assert apply.target_get(world.session, world.actors[who], t.id).code == "t.a"
    with pytest.raises(Conflict):
        _target(world, "t.a")
    with pytest.raises(NotFound):
        apply.target_get(world.session, world.actors["auditor"], world.orgs["city"].id)


def test_bad_input_names_the_field(world: Any) -> None:
    with pytest.raises(ValidationFailed) as e:
        _target(world, "t.src", method="computed", source_key="nonsense")
    assert e.value.field == "source_key"
    with pytest.raises(ValidationFailed) as e:
        _target(world, "t.own", owner_org_id=UNKNOWN)
    assert e.value.field == "owner_org_id"
    leaf = _target(world, "t.leaf")
    with pytest.raises(ValidationFailed) as e:
        _target(world, "t.child", parent_id=leaf.id)
    assert e.value.field == "parent_id"
    with pytest.raises(ValidationFailed) as e:
        apply.target_update(world.session, world.actors["platform_admin"], leaf.id,
                            TargetUpdate(deadline=date(2025, 1, 1)))
    assert e.value.field == "deadline"


def test_reported_progress_needs_the_owner_and_a_reviewer_other_than_the_reporter(world: Any) -> None:
    clock.set_now(datetime(2026, 7, 2, tzinfo=UTC))
    t = _target(world, "t.rep")
    with pytest.raises(Forbidden):
        _report(world, "org_member_b", t, 10)  # not the owner
    r = _report(world, "org_member_a", t, 40, as_of=date(2026, 4, 1))
    assert apply.target_get(world.session, world.actors["org_member_a"], t.id).current_value is None  # not yet
    with pytest.raises(Forbidden):
        apply.report_review(world.session, world.actors["org_admin_a"], r.id, True)  # not the bureau
    with pytest.raises(NotFound):
        apply.report_get(world.session, world.actors["org_member_b"], r.id)  # another unit's report
    # the bureau's own report (a target it owns) cannot be approved by its reporter
    own = _target(world, "t.own", owner_org_id=None)
    core.bureau_set(world.session, SYSTEM, world.orgs["bureau"].id)
    mine = _report(world, "platform_admin", own, 3)
    with pytest.raises(Forbidden):
        apply.report_review(world.session, world.actors["platform_admin"], mine.id, True)
    approved = apply.report_review(world.session, world.actors["platform_admin"], r.id, True, "ok")
    assert approved.status == "approved" and approved.reviewer_id == world.users["platform_admin"].id
    got = apply.target_progress(world.session, world.actors["org_member_b"], t.id)
    assert got.target.current_value == 40 and got.progress == 0.4
    assert [v.value for v in apply.target_history(world.session, world.actors["auditor"], t.id)] == [40]
    with pytest.raises(Conflict):  # decided once
        apply.report_review(world.session, world.actors["platform_admin"], r.id, False)
    r2 = _report(world, "org_member_a", t, 10)
    apply.report_review(world.session, world.actors["platform_admin"], r2.id, False, "no evidence")
    assert apply.target_get(world.session, world.actors["auditor"], t.id).current_value == 40  # rejected: no change
    actions = [a.action for a in core.audit_list(world.session, world.actors["auditor"],
                                                 core.AuditFilter(), PageParams(limit=50))[0]]
    assert {"target_create", "report_create", "report_review"} <= set(actions)


def test_evidence_is_required_a_link_or_a_file(world: Any) -> None:
    with pytest.raises(ValueError, match="evidence_url"):
        ReportCreate(value=1, evidence_url="javascript:alert(1)")
    t = _target(world, "t.ev")
    with pytest.raises(ValidationFailed) as e:  # neither a link nor a file
        apply.report_create(world.session, world.actors["org_member_a"], t.id, ReportCreate(value=1))
    assert e.value.field == "evidence_url" and apply.report_list(world.session, SYSTEM, target_id=t.id) == []


def test_computed_targets_come_from_the_layers_with_history(world: Any) -> None:
    clock.set_now(datetime(2026, 3, 1, tzinfo=UTC))
    integrated = _target(world, "t.int", method="computed", source_key="cloud.systems_integrated", target_value=4)
    district = _target(world, "t.dist", method="computed", source_key="cloud.integration_district",
                       target_value=50)
    reported = _target(world, "t.r")
    with pytest.raises(Conflict):
        _report(world, "org_member_a", integrated, 3)  # computed targets take no reports
    for org, name, flag in (("dept_a", "甲一", True), ("district", "丙一", True), ("district", "丙二", False)):
        cloud.system_create(world.session, SYSTEM, SystemCreate(org_id=world.orgs[org].id, name=name,
                                                                integrated=flag))
    with pytest.raises(Forbidden):
        apply.progress_refresh(world.session, world.actors["org_admin_a"])
    out = apply.progress_refresh(world.session, world.actors["platform_admin"])
    assert out.computed == 2 and out.recorded == 2 and out.failed == []
    assert apply.progress_refresh(world.session, SYSTEM).recorded == 0  # unchanged today: not kept twice
    assert apply.target_get(world.session, SYSTEM, integrated.id).current_value == 2
    assert apply.target_get(world.session, SYSTEM, district.id).current_value == 50.0  # 1 of the district's 2
    clock.set_now(datetime(2026, 5, 1, tzinfo=UTC))
    cloud.system_create(world.session, SYSTEM, SystemCreate(org_id=world.orgs["dept_b"].id, name="乙一",
                                                            integrated=True))
    apply.progress_refresh(world.session, SYSTEM)
    hist = apply.target_history(world.session, SYSTEM, integrated.id)
    assert [v.value for v in hist] == [2, 3] and {v.origin for v in hist} == {"computed"}
    p = apply.target_progress(world.session, SYSTEM, integrated.id)
    assert p.forecast is not None and p.forecast > 4  # one more a couple of months: past 4 by the deadline
    assert p.status == "green" and p.target.current_value == 3
    assert reported.current_value is None


def test_tree_rolls_status_up_to_the_worst_child(world: Any) -> None:
    clock.set_now(datetime(2026, 7, 2, tzinfo=UTC))  # half way through the year
    root = _target(world, "prog", kind="programme")
    layer = _target(world, "prog.cloud", kind="layer", parent_id=root.id)
    good = _target(world, "prog.cloud.good", parent_id=layer.id)
    bad = _target(world, "prog.cloud.bad", parent_id=layer.id)
    for t, v in ((good, 55), (bad, 10)):
        apply.report_review(world.session, world.actors["platform_admin"], _report(world, "org_member_a", t, v).id,
                            True)
    [tree] = apply.target_tree(world.session, world.actors["org_member_b"], root_code="prog")
    [lay] = tree.children
    by_code = {c.target.code: c for c in lay.children}
    assert by_code["prog.cloud.good"].status == "green" and by_code["prog.cloud.bad"].status == "red"
    assert lay.status == tree.status == "red"
    assert lay.progress == pytest.approx(0.325)
    with pytest.raises(Conflict):
        apply.target_delete(world.session, world.actors["platform_admin"], layer.id)


def test_seed_loads_the_plan_once(world: Any) -> None:
    with pytest.raises(Forbidden):
        apply.programme_seed(world.session, world.actors["org_admin_a"])
    first = apply.programme_seed(world.session, SYSTEM)
    assert first.created >= 25 and first.existing == 0
    assert apply.programme_seed(world.session, SYSTEM).created == 0
    five_g = apply.target_by_code(world.session, SYSTEM, "connect.5g_base_stations")
    assert (five_g.target_value, five_g.method, five_g.deadline) == (30_000, "computed", date(2022, 12, 31))
    assert apply.target_by_code(world.session, SYSTEM, "cloud.integration_district").target_value == 50
    assert [v.origin for v in apply.target_history(world.session, SYSTEM, five_g.id)] == ["baseline"]
