"""Scenario runs (issue 18): the drainage model fitted from stored levels, road closures on the district graph,
dispatch by OR-Tools against the greedy baseline; stored, repeatable, audited, refused naming the input at fault,
and seen only by the unit's staff and city-wide readers."""

from __future__ import annotations

import json
import math
import random
from datetime import timedelta
from typing import Any

import networkx as nx  # type: ignore[import-untyped]  # networkx ships no type information
import pytest
from sqlalchemy import select

from cityhub.compute import schemas
from cityhub.compute import service as compute
from cityhub.compute.analytics import simulate
from cityhub.connect import service as connect
from cityhub.connect.schemas import DeviceCreate, RawMessage
from cityhub.core.models import AuditEntry
from cityhub.kit import clock
from cityhub.kit.errors import Forbidden, NotFound, ValidationFailed
from cityhub.kit.pagination import PageParams
from cityhub.ops import service as ops
from cityhub.ops.schemas import IncidentCreate
from tests.connect.helpers import SYSTEM, ensure_profiles
from tests.web.test_pages import login

YUZHONG = (106.569, 29.553)  # 渝中区 500103
TAU_H = 1.5


def _gallery(world: Any, name: str = "测试管廊 一段") -> Any:
    s = world.session
    ensure_profiles(s)
    dev, _tok = connect.device_create(s, SYSTEM, DeviceCreate(name=name, org_id=world.orgs["dept_a"].id,
                                                              profile_code="pipe-gallery", lon=YUZHONG[0],
                                                              lat=YUZHONG[1]))
    # two days every 5 minutes: 20 mm dry, rises after rain that drain away with a 1.5 h recession time
    rng = random.Random(4)
    start = clock.now() - timedelta(days=2)
    records, x = [], 0.0
    decay = math.exp(-(5 / 60) / TAU_H)
    for i in range(576):
        if i % 144 == 10:
            x += 80.0
        x *= decay
        records.append({"ts": (start + timedelta(minutes=5 * i)).isoformat(),
                        "values": {"water_level": round(20 + x + rng.gauss(0, 0.5), 3)}})
    connect.ingest_messages(s, [RawMessage(topic=f"cityhub/v1/devices/{dev.id}/telemetry",
                                           payload=json.dumps(records).encode(), received_at=clock.now())])
    return dev


def _run(world: Any, who: str, kind: str, inputs: dict[str, Any], **kw: Any) -> Any:
    body = schemas.ScenarioRunCreate.model_validate({"name": kw.pop("name", "推演"), "kind": kind, "inputs": inputs,
                                                     "org_id": kw.pop("org_id", world.orgs["dept_a"].id), **kw})
    return compute.scenario_run(world.session, world.actors[who], body)


def test_drainage_fits_each_section_from_its_levels_and_compares_the_scenario(world: Any, session: Any) -> None:
    _gallery(world)
    rain = [5, 20, 45, 60, 30, 10]
    run = _run(world, "org_member_a", "drainage", {"rain_mm_h": rain, "intensity": 1.5})
    r = run.result
    [sec] = r["sections"]
    assert sec["fitted"] and abs(sec["tau_h"] - TAU_H) < 0.3 and abs(sec["base"] - 20) < 3
    assert r["threshold"] == 100.0 and r["rain_scenario"] == [x * 1.5 for x in rain]
    assert sec["peak_scenario"] > sec["peak_baseline"] > sec["base"]
    assert sec["exceeds_scenario"] and sec["first_exceed_min"] is not None
    # the same inputs give the same result; the run is stored and audited
    again = _run(world, "org_member_a", "drainage", {"rain_mm_h": rain, "intensity": 1.5})
    assert again.result == r and again.id != run.id
    audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "scenario_run")).all()
    assert len(audit) == 2 and audit[0].target_type == "compute_scenario_run"
    # dept B sees none of dept A's galleries: nothing to simulate, and dept A's run is not there for it
    other = _run(world, "org_member_b", "drainage", {"rain_mm_h": rain}, org_id=world.orgs["dept_b"].id)
    assert other.result["sections"] == []
    with pytest.raises(NotFound):
        compute.scenario_get(session, world.actors["org_member_b"], run.id)
    assert [x.id for x in compute.scenario_list(session, world.actors["org_member_b"], PageParams())[0]] == [other.id]
    assert len(compute.scenario_list(session, world.actors["operator"], PageParams())[0]) == 3


def test_the_reservoir_falls_back_to_the_design_value_without_history() -> None:
    res = simulate.fit_reservoir([0.0, 300.0], [20.0, 21.0])
    assert not res.fitted and res.tau_h == simulate.DEFAULT_TAU_H
    levels = simulate.reservoir_run(res, [0, 0])
    assert levels == [20.5] * 13  # no rain: stays at its dry level


def test_a_closed_road_slows_journeys_that_used_it() -> None:
    g = compute.road_graph()
    assert g.number_of_nodes() == 38 and nx.is_connected(g)
    a, b = "500103", "500105"  # 渝中区 — 江北区, across the river
    assert g.has_edge(a, b)
    r = simulate.traffic(g, [(a, b)])
    slower = {(c["from"], c["to"]): c for c in r["changed"]}
    direct = slower[(a, b)]
    assert direct["after"] > direct["before"] == pytest.approx(g.edges[a, b]["minutes"], abs=0.05)
    assert r["pairs"] == 38 * 37 // 2 and r["pairs_unreachable"] == 0
    assert [e for e in r["edges"] if e["closed"]] == [{"from": a, "to": b, "minutes": g.edges[a, b]["minutes"],
                                                      "closed": True}]


def test_a_road_that_is_not_between_neighbours_is_refused_naming_it(world: Any, session: Any) -> None:
    with pytest.raises(ValidationFailed) as exc:
        _run(world, "org_member_a", "traffic", {"closures": [["500103", "500105"], ["500103", "500235"]]})
    assert exc.value.field == "inputs.closures.1"
    with pytest.raises(ValidationFailed) as exc:
        _run(world, "org_member_a", "drainage", {"rain_mm_h": [10, -5]})
    assert exc.value.field == "inputs.rain_mm_h"
    with pytest.raises(ValidationFailed) as exc:
        _run(world, "org_member_a", "drainage", {"rain": [10]})
    assert (exc.value.field or "").startswith("inputs.")
    with pytest.raises(Forbidden):
        _run(world, "auditor", "traffic", {"closures": [["500103", "500105"]]}, org_id=world.orgs["city"].id)
    assert compute.scenario_list(session, world.actors["platform_admin"], PageParams())[1] == 0


def test_dispatch_beats_the_nearest_free_team_under_capacity_and_skills() -> None:
    g = nx.Graph()
    g.add_edge("X", "Y", minutes=10.0)
    g.add_edge("Y", "Z", minutes=12.0)
    teams = [{"name": "一队", "district_code": "X", "capacity": 1, "skills": []},
             {"name": "二队", "district_code": "Z", "capacity": 1, "skills": []},
             {"name": "桥梁队", "district_code": "Y", "capacity": 5, "skills": ["bridge"]}]
    incidents = [{"id": "i1", "title": "管廊积水", "category": "pipe_gallery", "severity": "critical",
                  "district_code": "Y"},
                 {"id": "i2", "title": "井盖缺失", "category": "road", "severity": "minor", "district_code": "X"}]
    r = simulate.dispatch(g, teams, incidents)
    # greedy sends the critical one to the nearest team (一队, 20 min) and the other across the city (二队, 32)
    assert r["greedy_total_min"] == 52.0
    assert r["status"] == "optimal" and r["total_min"] == 32.0
    by = {a["incident_id"]: a for a in r["assignments"]}
    assert by["i1"]["team"] == "二队" and by["i1"]["reason"] == "capacity" and by["i1"]["nearest_team"] == "一队"
    assert by["i2"]["team"] == "一队" and by["i2"]["reason"] == "nearest"
    assert r["load"] == {"一队": 1, "二队": 1, "桥梁队": 0}  # the bridge team has the room but not the skill
    assert simulate.dispatch(g, teams, incidents) == r  # repeatable


def test_dispatch_over_the_open_incidents_the_runner_sees(world: Any, session: Any) -> None:
    op = world.actors["operator"]
    for title, cat, sev in (("管廊积水", "pipe_gallery", "critical"), ("井盖缺失", "road", "minor")):
        ops.incident_create(session, op, IncidentCreate(title=title, category=cat, severity=sev,
                                                        org_id=world.orgs["dept_a"].id, lon=YUZHONG[0],
                                                        lat=YUZHONG[1]))
    teams = [{"name": "抢修队", "district_code": "500112", "capacity": 1, "skills": ["pipe_gallery", "road"]},
             {"name": "综合队", "district_code": "500103", "capacity": 5}]
    run = _run(world, "operator", "dispatch", {"teams": teams}, org_id=world.orgs["city"].id)
    r = run.result
    assert len(r["assignments"]) == 2 and r["unassigned"] == 0
    assert all(a["team"] == "综合队" and a["district_code"] == "500103" for a in r["assignments"])
    assert r["total_min"] == 2 * simulate.ON_SITE_MIN <= r["greedy_total_min"]
    with pytest.raises(ValidationFailed) as exc:
        _run(world, "operator", "dispatch", {"teams": [{**teams[0], "district_code": "999999"}]},
             org_id=world.orgs["city"].id)
    assert exc.value.field == "inputs.teams.0.district_code"


def test_api_and_pages(client: Any, world: Any, session: Any) -> None:
    _gallery(world)
    h = world.headers("org_member_a")
    r = client.post("/api/v1/compute/scenarios", headers=h, json={
        "name": "暴雨 +50 %", "kind": "drainage", "inputs": {"rain_mm_h": [20, 60, 30], "intensity": 1.5}})
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    assert r.json()["result"]["exceed_scenario"] == 1
    bad = client.post("/api/v1/compute/scenarios", headers=h, json={
        "name": "x", "kind": "drainage", "inputs": {"rain_mm_h": [20], "intensity": 9}})
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "inputs.intensity"
    assert client.get(f"/api/v1/compute/scenarios/{rid}", headers=world.headers("org_member_b")).status_code == 404
    login(client, "t-a-member")
    page = client.get("/compute/scenarios").text
    assert "暴雨 +50 %" in page and "排水内涝推演" in page and 'data-testid="dispatch-form"' in page
    detail = client.get(f"/compute/scenarios/{rid}").text
    assert 'id="scenario-chart"' in detail and "超过阈值" in detail and "测试管廊 一段" in detail
    form = client.post("/compute/scenarios", data={
        "csrf_token": client.cookies.get("csrf") or _csrf(client), "kind": "traffic", "name": "封闭",
        "org_id": str(world.orgs["dept_a"].id), "road": "500103-500105"}, follow_redirects=False)
    assert form.status_code == 303 and "/compute/scenarios/" in form.headers["location"]


def _csrf(client: Any) -> str:
    import re

    m = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/compute/scenarios").text)
    assert m
    return m.group(1)
