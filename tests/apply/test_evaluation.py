"""The annual evaluation: schemes as data, a run scoring every unit from the platform, the bureau's adjustments
with a reason (audited), ranking, freeze (409 afterwards), the permission matrix of scorecards, the XLSX report."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import pytest
from openpyxl import load_workbook
from pydantic import ValidationError

from cityhub.apply import service as apply
from cityhub.apply.evaluation.schemas import Adjustment, IndicatorSpec, RunCreate, SchemeCreate, SchemeUpdate
from cityhub.cloud import service as cloud
from cityhub.cloud.schemas import SystemCreate
from cityhub.core import service as core
from cityhub.core.actor import Actor
from cityhub.core.schemas import OrganizationUpdate
from cityhub.kit import clock
from cityhub.kit.errors import Conflict, Forbidden, NotFound, ValidationFailed
from cityhub.kit.pagination import PageParams

SYSTEM = Actor.system("test")
ev = apply.evaluation


def _scheme(w: Any, code: str = "dept", org_type: str = "department", **kw: Any) -> Any:
    specs = kw.pop("indicators", [IndicatorSpec(key="cloud.on_cloud", weight=40),
                                  IndicatorSpec(key="cloud.integration", weight=40),
                                  IndicatorSpec(key="bureau.assessment", weight=20)])
    return ev.evaluation_scheme_create(w.session, w.actors["platform_admin"], SchemeCreate(
        code=code, title_zh="部门评比", org_type=org_type, indicators=specs))


def _systems(w: Any) -> None:
    """dept_a: one system on the cloud and integrated, one in its own room: 50 % and 50 %."""
    a = w.orgs["dept_a"].id
    cloud.system_create(w.session, SYSTEM, SystemCreate(org_id=a, name="甲一", hosting="cloud", integrated=True))
    cloud.system_create(w.session, SYSTEM, SystemCreate(org_id=a, name="甲二"))


def _run(w: Any, scheme: Any, who: str = "platform_admin") -> Any:
    return ev.evaluation_run_compute(w.session, w.actors[who], RunCreate(scheme_id=scheme.id, year=2026))


@pytest.fixture(autouse=True)
def _today() -> Any:
    clock.set_now(datetime(2026, 11, 1, tzinfo=UTC))
    yield
    clock.set_now(None)


def test_only_the_bureau_manages_schemes_and_bad_indicators_name_the_field(world: Any) -> None:
    for who in ("org_admin_a", "district_admin", "auditor", "operator"):
        with pytest.raises(Forbidden):
            ev.evaluation_scheme_create(world.session, world.actors[who], SchemeCreate(
                code="x", title_zh="x", org_type="department", indicators=[IndicatorSpec(key="cloud.on_cloud",
                                                                                         weight=1)]))
    with pytest.raises(ValidationFailed) as e:
        _scheme(world, indicators=[IndicatorSpec(key="cloud.on_cloud", weight=10),
                                   IndicatorSpec(key="made.up", weight=10)])
    assert e.value.field == "indicators.1.key"
    with pytest.raises(ValidationFailed) as e:
        _scheme(world, indicators=[IndicatorSpec(key="cloud.on_cloud", weight=10)] * 2)
    assert e.value.field == "indicators.1.key"
    with pytest.raises(ValidationError):
        IndicatorSpec(key="cloud.on_cloud", weight=0)
    s = _scheme(world)
    with pytest.raises(Conflict):
        _scheme(world)
    with pytest.raises(Forbidden):
        ev.evaluation_scheme_update(world.session, world.actors["org_admin_a"], s.id, SchemeUpdate(title_zh="改"))
    assert [x.code for x in ev.scheme_list(world.session, world.actors["org_member_b"])] == ["dept"]


def test_a_run_scores_every_unit_from_the_platform_and_ranks_them(world: Any) -> None:
    _systems(world)
    s = _scheme(world)
    with pytest.raises(Forbidden):
        _run(world, s, "org_admin_a")
    run = _run(world, s)
    rank = ev.ranking(world.session, world.actors["district_admin"], run.id)  # everyone sees the ranking
    ids = {r.org_id for r in rank}
    assert world.orgs["dept_a"].id in ids and world.orgs["dept_b"].id in ids
    assert world.orgs["district"].id not in ids  # a department scheme ranks departments only
    card = ev.scorecard(world.session, world.actors["org_member_a"], run.id, world.orgs["dept_a"].id)
    by = {b.key: b for b in card.breakdown}
    # 50 % on the cloud against the 2026 target of 75 %: 66.67 of 100; the bureau has not scored yet: 0
    assert by["cloud.on_cloud"].value == 50.0 and by["cloud.on_cloud"].full_at == 75.0
    assert by["cloud.on_cloud"].score == pytest.approx(66.67)
    assert by["bureau.assessment"].score == 0.0
    assert card.computed == pytest.approx((40 * 66.67 + 40 * 66.67) / 100, abs=0.01)
    b = ev.scorecard(world.session, world.actors["org_member_b"], run.id, world.orgs["dept_b"].id)
    # no systems: the cloud indicators do not apply and their weight goes to the others
    assert [x.score for x in b.breakdown] == [None, None, 0.0] and b.computed == 0.0
    assert rank[0].org_id == world.orgs["dept_a"].id and rank[0].rank == 1
    # a district scheme: 整合率 held to the district's 50 %
    cloud.system_create(world.session, SYSTEM, SystemCreate(org_id=world.orgs["district"].id, name="丙一",
                                                            integrated=True, hosting="cloud"))
    cloud.system_create(world.session, SYSTEM, SystemCreate(org_id=world.orgs["district"].id, name="丙二"))
    d = _scheme(world, "district", "district")
    drun = _run(world, d)
    dc = ev.scorecard(world.session, world.actors["district_admin"], drun.id, world.orgs["district"].id)
    assert {x.key: x.score for x in dc.breakdown}["cloud.integration"] == 100.0


def test_adjustments_need_a_reason_are_audited_and_rerank(world: Any) -> None:
    _systems(world)
    run = _run(world, _scheme(world))
    admin = world.actors["platform_admin"]
    b = world.orgs["dept_b"].id
    with pytest.raises(ValidationError):
        Adjustment(adjustment=5, reason="")
    with pytest.raises(ValidationError):
        Adjustment(adjustment=25, reason="太多")
    with pytest.raises(Forbidden):
        ev.evaluation_score_adjust(world.session, world.actors["org_admin_a"], run.id, b,
                                   Adjustment(adjustment=5, reason="自评"))
    with pytest.raises(ValidationFailed) as e:
        ev.evaluation_score_adjust(world.session, admin, run.id, b,
                                   Adjustment(manual={"cloud.on_cloud": 100}, reason="不行"))
    assert e.value.field == "manual.cloud.on_cloud"
    with pytest.raises(NotFound):
        ev.evaluation_score_adjust(world.session, admin, run.id, world.orgs["district"].id,
                                   Adjustment(adjustment=1, reason="不在"))
    ev.evaluation_score_adjust(world.session, admin, run.id, b,
                               Adjustment(manual={"bureau.assessment": 90}, reason="年度考核材料完整"))
    ev.evaluation_score_adjust(world.session, admin, run.id, world.orgs["dept_a"].id,
                               Adjustment(adjustment=-3, reason="迟报整改材料"))
    rank = ev.ranking(world.session, admin, run.id)
    assert rank[0].org_id == b and rank[0].total == 90.0 and not rank[0].adjusted  # assessed, not adjusted
    assert next(r for r in rank if r.org_id == world.orgs["dept_a"].id).adjusted
    a = ev.scorecard(world.session, admin, run.id, world.orgs["dept_a"].id)
    assert a.total == pytest.approx(a.computed - 3) and a.adjustment_reason == "迟报整改材料"
    # recomputing a draft keeps the bureau's scores and adjustments
    _run(world, ev.scheme_list(world.session, admin)[0])
    assert ev.ranking(world.session, admin, run.id)[0].total == 90.0
    rows = core.audit_list(world.session, world.actors["auditor"], core.AuditFilter(action="evaluation_score_adjust"),
                           PageParams(limit=10))[0]
    assert len(rows) == 2 and {r.summary["reason"] for r in rows} == {"年度考核材料完整", "迟报整改材料"}


def test_a_frozen_run_never_changes(world: Any) -> None:
    s = _scheme(world)
    run = _run(world, s)
    admin = world.actors["platform_admin"]
    with pytest.raises(Forbidden):
        ev.evaluation_run_freeze(world.session, world.actors["org_admin_a"], run.id)
    before = [(r.org_id, r.total) for r in ev.ranking(world.session, admin, run.id)]
    ev.evaluation_run_freeze(world.session, admin, run.id)
    _systems(world)  # the platform moves on; the frozen result does not
    for change in (lambda: _run(world, s),
                   lambda: ev.evaluation_score_adjust(world.session, admin, run.id, world.orgs["dept_a"].id,
                                                      Adjustment(adjustment=1, reason="晚了")),
                   lambda: ev.evaluation_run_freeze(world.session, admin, run.id)):
        with pytest.raises(Conflict):
            change()
    assert [(r.org_id, r.total) for r in ev.ranking(world.session, admin, run.id)] == before
    # a scheme change after the freeze leaves the run's own copy of the indicators
    ev.evaluation_scheme_update(world.session, admin, s.id, SchemeUpdate(
        indicators=[IndicatorSpec(key="cloud.on_cloud", weight=100)]))
    assert len(ev.run_get(world.session, admin, run.id).indicators) == 3


def test_scorecards_are_seen_by_the_bureau_the_unit_and_its_cloud_chief_only(world: Any) -> None:
    run = _run(world, _scheme(world))
    a, b = world.orgs["dept_a"].id, world.orgs["dept_b"].id
    for who in ("platform_admin", "auditor", "org_admin_a", "org_member_a"):
        assert ev.scorecard(world.session, world.actors[who], run.id, a).org_id == a
    for who in ("org_member_b", "district_admin", "operator"):
        with pytest.raises(NotFound):
            ev.scorecard(world.session, world.actors[who], run.id, a)
    # the 云长 of dept_b (a user of another unit named its head) sees dept_b's scorecard, and it is theirs
    core.organization_update(world.session, SYSTEM, b, OrganizationUpdate(head_user_id=world.users["operator"].id))
    assert ev.scorecard(world.session, world.actors["operator"], run.id, b).org_id == b
    assert [(r.id, oid) for r, oid in ev.my_scorecards(world.session, world.actors["operator"])] == [(run.id, b)]
    with pytest.raises(NotFound):
        ev.scorecard(world.session, world.actors["operator"], run.id, a)


def test_the_report_workbook_lists_the_ranking_with_every_indicator(world: Any) -> None:
    _systems(world)
    run = _run(world, _scheme(world))
    with pytest.raises(Forbidden):
        ev.export_xlsx(world.session, world.actors["org_admin_a"], run.id)
    wb = load_workbook(io.BytesIO(ev.export_xlsx(world.session, world.actors["platform_admin"], run.id)))
    rows = list(wb.active.iter_rows(values_only=True))
    assert rows[0][1] == 2026
    assert rows[2][0] == 1 and rows[2][1] == "甲局" and rows[2][6] == pytest.approx(66.67)
    assert len(rows) == 2 + len(ev.ranking(world.session, world.actors["platform_admin"], run.id))


def test_the_default_schemes_load_once(world: Any) -> None:
    admin = world.actors["platform_admin"]
    assert ev.scheme_seed(world.session, admin) == 2
    assert ev.scheme_seed(world.session, admin) == 0
    for s in ev.scheme_list(world.session, admin):
        assert sum(i["weight"] for i in s.indicators) == 100
