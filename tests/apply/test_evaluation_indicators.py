"""The evaluation's indicators from the data, compute and apply layers, each measured from data built through the
services and moving when that data moves: sharing-request response hours (lower is better), the 责任清单 KPI score,
calls of a unit's applications to hub components, the share of a unit's due scenarios delivered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cityhub.apply import service as apply
from cityhub.apply.evaluation.schemas import IndicatorSpec, RunCreate, SchemeCreate
from cityhub.apply.schemas import ScenarioCreate
from cityhub.compute.metering.service import CallRecord, write
from cityhub.core.actor import Actor
from cityhub.data import schemas as data_schemas
from cityhub.data import service as data
from cityhub.kit import clock
from cityhub.kit.i18n import gettext
from tests.compute.helpers import published as component_published
from tests.compute.helpers import subscribed
from tests.data.helpers import load_people, published_entry

SYSTEM = Actor.system("test")
ev = apply.evaluation
T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _today() -> Any:
    clock.set_now(T0)
    yield
    clock.set_now(None)


def _card(w: Any, key: str, org: str = "dept_a", full_at: float | None = None, year: int = 2026) -> Any:
    """Compute (or recompute) a department scheme holding `key` and return `org`'s row for it."""
    scheme = next((s for s in ev.scheme_list(w.session, w.actors["platform_admin"]) if s.code == "t-" + key), None)
    if scheme is None:
        scheme = ev.evaluation_scheme_create(w.session, w.actors["platform_admin"], SchemeCreate(
            code="t-" + key, title_zh="指标", org_type="department",
            indicators=[IndicatorSpec(key=key, weight=50, full_at=full_at),
                        IndicatorSpec(key="bureau.assessment", weight=50)]))
    run = ev.evaluation_run_compute(w.session, w.actors["platform_admin"], RunCreate(scheme_id=scheme.id, year=year))
    card = ev.scorecard(w.session, w.actors["platform_admin"], run.id, w.orgs[org].id)
    return {b.key: b for b in card.breakdown}[key]


def test_the_registry_lists_the_new_indicators_in_both_languages(world: Any) -> None:
    rows = {r["key"]: r for r in ev.indicators(world.actors["org_member_a"])}
    for key in ("data.request_response_hours", "data.responsibility_kpi", "compute.component_calls",
                "apply.scenarios_delivered"):
        assert key in rows
    assert rows["data.request_response_hours"]["lower"] and not rows["data.responsibility_kpi"]["lower"]
    assert gettext("Share of the unit's due scenarios delivered", "zh_CN") == "到期应用场景按期交付率"
    assert gettext("Share of the unit's due scenarios delivered", "en") == "Share of the unit's due scenarios delivered"


def test_lower_is_better_scores_full_at_or_below_full_marks_then_full_over_value() -> None:
    spec = [{"key": "data.request_response_hours", "weight": 1, "full_at": 48}]
    for hours, score in ((0.0, 100.0), (48.0, 100.0), (96.0, 50.0), (480.0, 10.0)):
        rows, total = ev.score_unit(spec, {"data.request_response_hours": (hours, None)}, {})
        assert rows[0]["score"] == score and total == score
    up = [{"key": "data.quality", "weight": 1, "full_at": 80}]  # a rising indicator keeps value / full marks
    assert ev.score_unit(up, {"data.quality": (40.0, None)}, {})[0][0]["score"] == 50.0


def _request(w: Any, entry: Any) -> Any:
    b = w.actors["org_member_b"]
    req = data.share_request_create(w.session, b, data_schemas.ShareRequestCreate(
        entry_id=entry.id, items=["name", "phone"], legal_basis="《政务数据共享条例》", purpose="社保资格核验",
        consuming_system="社保核验系统"))
    data.share_request_submit(w.session, b, req.id)
    data.share_request_compliance_review(w.session, w.actors["bureau_member"], req.id, True, "合规")
    assert req.status == "provider_review"
    return req


def test_response_hours_run_from_submission_to_the_providers_decision(world: Any) -> None:
    entry = published_entry(world)
    a = world.actors["org_member_a"]
    first = _request(world, entry)
    clock.set_now(T0 + timedelta(hours=24))
    data.share_request_provider_review(world.session, a, first.id, True, "同意")
    row = _card(world, "data.request_response_hours", full_at=12)
    assert row.value == 24.0 and row.score == 50.0  # lower is better: 12 / 24
    assert _card(world, "data.request_response_hours", "dept_b").score is None  # asked nothing: n/a
    second = _request(world, entry)  # submitted at T0 + 24 h, refused 72 h later
    clock.set_now(T0 + timedelta(hours=96))
    data.share_request_provider_review(world.session, a, second.id, False, "字段不全")
    row = _card(world, "data.request_response_hours", full_at=12)
    assert row.value == 48.0 and row.score == 25.0  # mean of 24 h and 72 h
    third = _request(world, entry)  # still waiting: counts up to now
    clock.set_now(T0 + timedelta(hours=96 + 48))
    assert _card(world, "data.request_response_hours", full_at=12).value == pytest.approx((24 + 72 + 48) / 3)
    data.share_request_withdraw(world.session, world.actors["org_member_b"], third.id, "不需要了")
    assert _card(world, "data.request_response_hours", full_at=12).value == 48.0  # withdrawn: not the provider's
    assert _card(world, "data.request_response_hours", full_at=12, year=2025).score is None  # another year


def test_the_responsibility_kpi_is_the_data_layers_score(world: Any) -> None:
    assert _card(world, "data.responsibility_kpi").score is None  # nothing on its list yet
    entry = published_entry(world)
    row = _card(world, "data.responsibility_kpi")
    kpi = {k["org_id"]: k for k in data.kpis(world.session, SYSTEM)}[world.orgs["dept_a"].id]
    assert row.value == kpi["score"]
    before = row.value
    load_people(world, entry)  # its table is loaded: coverage and on-time updates rise
    after = _card(world, "data.responsibility_kpi").value
    assert after != before and after == {k["org_id"]: k for k in data.kpis(world.session, SYSTEM)}[
        world.orgs["dept_a"].id]["score"]


def _calls(w: Any, sub: Any, app: Any, n: int, at: datetime) -> None:
    write(w.session, [CallRecord(at=at, component_id=sub.component_id, version_id=sub.version_id, app_id=app.id,
                                 org_id=app.org_id, method="POST", status=200, error_code="", latency_ms=3.0,
                                 bytes_in=10, bytes_out=20) for _ in range(n)])
    w.session.flush()


def test_component_calls_count_the_units_applications_calls_in_the_year(world: Any) -> None:
    comp = component_published(world)
    app, sub, _raw = subscribed(world, comp)  # dept_b's application uses dept_a's component
    assert _card(world, "compute.component_calls", "dept_b", full_at=10).value == 0.0
    _calls(world, sub, app, 5, datetime(2026, 2, 1, 10, tzinfo=UTC))
    _calls(world, sub, app, 7, datetime(2025, 12, 31, 23, tzinfo=UTC))  # last year's: not this run's
    row = _card(world, "compute.component_calls", "dept_b", full_at=10)
    assert row.value == 5.0 and row.score == 50.0
    assert _card(world, "compute.component_calls", "dept_a", full_at=10).value == 0.0  # the provider did not call
    _calls(world, sub, app, 6, datetime(2026, 3, 1, 8, tzinfo=UTC))
    assert _card(world, "compute.component_calls", "dept_b", full_at=10).score == 100.0
    assert _card(world, "compute.component_calls", "dept_b", full_at=10, year=2025).value == 7.0


def test_scenario_delivery_is_the_share_of_the_units_due_scenarios_delivered(world: Any) -> None:
    sc = apply.scenarios
    member, bureau = world.actors["org_member_a"], world.actors["platform_admin"]
    assert _card(world, "apply.scenarios_delivered").score is None  # no scenarios: n/a
    made = [sc.scenario_create(world.session, member, ScenarioCreate(
        name=f"场景{i}", batch="livelihood", year=year, owner_org_id=world.orgs["dept_a"].id))
        for i, year in enumerate((2025, 2026, 2027))]
    assert _card(world, "apply.scenarios_delivered").value == 0.0  # two due by 2026, none delivered
    sc.scenario_transition(world.session, bureau, made[0].id, "building")
    assert _card(world, "apply.scenarios_delivered").value == 0.0  # building is not delivered
    sc.scenario_transition(world.session, member, made[0].id, "built")
    assert _card(world, "apply.scenarios_delivered").value == 50.0
    sc.scenario_transition(world.session, bureau, made[2].id, "building")
    sc.scenario_transition(world.session, member, made[2].id, "built")  # due next year: not counted in 2026
    assert _card(world, "apply.scenarios_delivered").value == 50.0
    assert _card(world, "apply.scenarios_delivered", year=2027).value == pytest.approx(66.67)
    assert _card(world, "apply.scenarios_delivered", "dept_b").score is None
