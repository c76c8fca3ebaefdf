"""Shifts in the dispatch model (issue 18): a team takes only what it reaches, on site, before its shift ends; a team
off shift may take an incident, arriving after its shift starts (the wait counted); an incident only off-shift teams
could take says so; shifts are read in local hours, overnight ones too."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cityhub.compute import schemas
from cityhub.compute import service as compute
from cityhub.compute.analytics import scenarios, simulate
from cityhub.kit.errors import ValidationFailed
from cityhub.ops import service as ops
from cityhub.ops.schemas import IncidentCreate

YUZHONG = (106.569, 29.553)  # 渝中区 500103
INCIDENTS = [{"id": "i1", "title": "管廊积水", "category": "pipe_gallery", "severity": "major",
              "district_code": "500103"}]


def test_a_team_off_shift_or_ending_its_shift_takes_nothing() -> None:
    g = compute.road_graph()
    near = {"name": "近队", "district_code": "500103", "capacity": 2, "skills": []}
    far = {"name": "远队", "district_code": "500112", "capacity": 2, "skills": []}
    on = simulate.dispatch(g, [near, far], INCIDENTS)
    assert on["assignments"][0]["team"] == "近队"
    off = simulate.dispatch(g, [{**near, "available_min": 0.0}, far], INCIDENTS)
    assert off["assignments"][0]["team"] == "远队"  # the near team is off shift
    ending = simulate.dispatch(g, [{**near, "available_min": 5.0}, {**far, "available_min": 5.0}], INCIDENTS)
    row = ending["assignments"][0]
    assert row["team"] is None and row["reason"] == "off_shift"  # neither is on site before its shift ends
    nobody = simulate.dispatch(g, [{**near, "skills": ["bridge"]}], INCIDENTS)
    assert nobody["assignments"][0]["reason"] == "no_team"  # no skill at all is not a shift problem


@pytest.mark.parametrize(("start", "end", "utc_hour", "left"), [
    (8, 20, 2, 600.0),  # 10:00 in Chongqing: ten hours left
    (8, 20, 13, 0.0),  # 21:00: off
    (22, 6, 15, 420.0),  # 23:00, an overnight shift: seven hours left
    (22, 6, 21, 60.0),  # 05:00 the next morning: one hour left
    (22, 6, 5, 0.0),  # 13:00: off
])
def test_shift_hours_are_local_and_may_run_overnight(start: int, end: int, utc_hour: int, left: float) -> None:
    team = schemas.TeamInput(name="队", district_code="500103", capacity=1, shift_start=start, shift_end=end)
    assert scenarios._shift_left(team, datetime(2026, 6, 1, utc_hour, tzinfo=UTC)) == left


def test_dispatch_reads_shifts_at_the_time_asked_and_refuses_half_a_shift(world: Any) -> None:
    op = world.actors["operator"]
    ops.incident_create(world.session, op, IncidentCreate(title="管廊积水", category="pipe_gallery", severity="major",
                                                          org_id=world.orgs["dept_a"].id, lon=YUZHONG[0],
                                                          lat=YUZHONG[1]))
    teams = [{"name": "白班", "district_code": "500103", "capacity": 1, "shift_start": 8, "shift_end": 20},
             {"name": "夜班", "district_code": "500112", "capacity": 1, "shift_start": 20, "shift_end": 8}]

    def run(at: str) -> Any:
        return compute.scenario_run(world.session, op, schemas.ScenarioRunCreate.model_validate({
            "name": "调度", "kind": "dispatch", "org_id": world.orgs["dept_a"].id,
            "inputs": {"teams": teams, "at": at}}))

    day = run("2026-06-01T02:00:00+00:00")  # 10:00 local
    night = run("2026-06-01T14:00:00+00:00")  # 22:00 local
    assert day.result["assignments"][0]["team"] == "白班" and night.result["assignments"][0]["team"] == "夜班"
    assert str(night.inputs["at"]).startswith("2026-06-01T14:00")  # stored as it was asked
    with pytest.raises(ValidationFailed) as err:
        compute.scenario_run(world.session, op, schemas.ScenarioRunCreate.model_validate({
            "name": "调度", "kind": "dispatch", "org_id": world.orgs["dept_a"].id,
            "inputs": {"teams": [{**teams[0], "shift_end": None}]}}))
    assert str(err.value.field).startswith("inputs.teams.0")


def test_a_team_off_shift_is_suggested_arriving_after_its_shift_starts_when_that_is_sooner() -> None:
    g = compute.road_graph()
    near = {"name": "近队", "district_code": "500103", "capacity": 1, "skills": []}
    far = {"name": "远队", "district_code": "500112", "capacity": 1, "skills": []}  # 93.9 min away, on duty
    soon = simulate.dispatch(g, [{**near, "available_min": 30.0 + 720, "wait_min": 30.0}, far], INCIDENTS)
    row = soon["assignments"][0]
    assert (row["team"], row["wait_min"], row["minutes"]) == ("近队", 30.0, 40.0)  # starts in 30 min, on site at 40
    late = simulate.dispatch(g, [{**near, "available_min": 180.0 + 720, "wait_min": 180.0}, far], INCIDENTS)
    assert (late["assignments"][0]["team"], late["assignments"][0]["wait_min"]) == ("远队", 0.0)


@pytest.mark.parametrize(("start", "end", "utc", "window"), [
    (8, 20, (5, 31, 23, 30), {"available_min": 750.0, "wait_min": 30.0}),  # 07:30 local: starts in 30 min
    (8, 20, (6, 1, 2, 0), {"available_min": 600.0, "wait_min": 0.0}),  # 10:00: on duty, ten hours left
    (22, 6, (6, 1, 5, 0), {"available_min": 1020.0, "wait_min": 540.0}),  # 13:00: the night shift in nine hours
])
def test_the_time_window_of_a_shift(start: int, end: int, utc: tuple[int, int, int, int],
                                    window: dict[str, float]) -> None:
    team = schemas.TeamInput(name="队", district_code="500103", capacity=1, shift_start=start, shift_end=end)
    month, day, hour, minute = utc
    assert scenarios._shift_window(team, datetime(2026, month, day, hour, minute, tzinfo=UTC)) == window


def test_the_page_says_how_long_the_team_waits(client: Any, world: Any) -> None:
    from tests.web.test_pages import login

    op = world.actors["operator"]
    ops.incident_create(world.session, op, IncidentCreate(title="管廊积水", category="pipe_gallery", severity="major",
                                                          org_id=world.orgs["dept_a"].id, lon=YUZHONG[0],
                                                          lat=YUZHONG[1]))
    run = compute.scenario_run(world.session, op, schemas.ScenarioRunCreate.model_validate({
        "name": "早班", "kind": "dispatch", "org_id": world.orgs["dept_a"].id,
        "inputs": {"at": "2026-05-31T23:30:00+00:00", "teams": [
            {"name": "白班", "district_code": "500103", "capacity": 1, "shift_start": 8, "shift_end": 20},
            {"name": "值班", "district_code": "500112", "capacity": 1}]}}))
    assert (run.result["assignments"][0]["team"], run.result["assignments"][0]["wait_min"]) == ("白班", 30.0)
    login(client, "t-operator")
    page = client.get(f"/compute/scenarios/{run.id}").text
    assert "其中等待上班 30" in page
