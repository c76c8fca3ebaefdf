"""Pre-positioning before a storm (预置, issue 18): crews staged so that overflowing sections are reached before they
overflow, better than staging where most sections overflow; run over the runner's galleries, refused naming the
field, shown on its page."""

from __future__ import annotations

from typing import Any

import pytest

from cityhub.compute import schemas
from cityhub.compute import service as compute
from cityhub.compute.analytics import simulate
from cityhub.kit.errors import ValidationFailed
from tests.compute.analytics.test_scenarios import _gallery
from tests.web.test_pages import login

SECTIONS = [{"name": "彭水一段", "district_code": "500243", "deadline_min": 600},
            {"name": "彭水二段", "district_code": "500243", "deadline_min": 600},
            {"name": "渝中一段", "district_code": "500103", "deadline_min": 40}]


def test_one_crew_is_staged_where_it_reaches_every_section_in_time() -> None:
    g = compute.road_graph()
    r = simulate.staging(g, SECTIONS, sorted(g.nodes), 1)
    times = simulate._times(g)
    [staged] = r["staged"]
    assert r["status"] == "optimal" and r["in_time"] == 3 and staged["sections"] == 3
    assert times[staged["district_code"]]["500103"] + simulate.ON_SITE_MIN <= 40  # near the urgent one
    # the obvious plan stages where most sections overflow (彭水) and reaches 渝中 hours late
    assert r["naive_staged"] == ["500243"] and r["naive_in_time"] == 2
    late = next(s for s in r["sections"] if s["name"] == "渝中一段")
    assert late["in_time"] and not late["naive_in_time"] and late["naive_arrival_min"] > 300
    assert simulate.staging(g, SECTIONS, sorted(g.nodes), 1) == r  # repeatable
    two = simulate.staging(g, SECTIONS, sorted(g.nodes), 2)
    assert two["total_min"] < r["total_min"] and len(two["staged"]) == 2  # a second crew shortens the journeys
    assert simulate.staging(g, [], sorted(g.nodes), 2)["staged"] == []  # nothing overflows: nothing to stage


def test_staging_runs_over_the_runners_galleries_and_shows_its_page(world: Any, client: Any) -> None:
    _gallery(world)
    body = {"name": "暴雨前预置", "kind": "staging", "org_id": world.orgs["dept_a"].id,
            "inputs": {"rain_mm_h": [20, 60, 30], "intensity": 1.5, "units": 1}}
    run = compute.scenario_run(world.session, world.actors["org_member_a"],
                               schemas.ScenarioRunCreate.model_validate(body))
    r = run.result
    assert r["sections_simulated"] == 1 and r["exceed_scenario"] == r["at_risk"] == 1
    assert [s["district_code"] for s in r["staged"]] == ["500103"] and r["in_time"] == 1  # 渝中区, where it is
    with pytest.raises(ValidationFailed) as err:
        compute.scenario_run(world.session, world.actors["org_member_a"], schemas.ScenarioRunCreate.model_validate(
            {**body, "inputs": {**body["inputs"], "candidates": ["500103", "999999"]}}))
    assert err.value.field == "inputs.candidates.1"
    with pytest.raises(ValidationFailed) as err:
        compute.scenario_run(world.session, world.actors["org_member_a"], schemas.ScenarioRunCreate.model_validate(
            {**body, "inputs": {**body["inputs"], "units": 0}}))
    assert err.value.field == "inputs.units"
    login(client, "t-a-member")
    assert 'data-testid="staging-form"' in client.get("/compute/scenarios").text
    page = client.get(f"/compute/scenarios/{run.id}").text
    assert 'data-testid="staging"' in page and "渝中区" in page and "及时" in page
