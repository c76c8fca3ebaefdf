"""Scenario runs (issue 18, 仿真预测 / 决策优化): how long each model takes at the demo city's size and beyond.

One JSON line (and `results/scenarios.json`). The pure models (`compute/analytics/simulate.py`) on inputs of the
sizes below, each run REPEAT (3) times, the best time kept:

- `drainage_s`: SECTIONS (45, the demo's galleries × 3) sections, each fitted (`fit_reservoir`) from two days of
  levels every 5 minutes (576 points) and run for RAIN_HOURS (72) hours of rain in 10-minute steps, baseline and
  scenario;
- `traffic_s`: the district road graph built from the shipped outlines (`graph_build_s`, once per process), then
  all-pairs shortest paths before and after 3 closures;
- `dispatch_s`: INCIDENTS (300) open incidents over TEAMS (20) teams with capacities and skills, OR-Tools CP-SAT
  (one worker, fixed seed); the baseline in the same run is the greedy nearest-free-team assignment
  (`dispatch_greedy_s`), and `dispatch_total_vs_greedy` the optimised total travel time over the greedy one
  (< 1: the optimiser saves that share);
- `staging_s`: pre-positioning STAGE_UNITS (5) crews among the 38 districts for the drainage run's overflowing
  sections (each placed in a district at random), CP-SAT p-median (one worker, fixed seed); `staging_in_time` and
  `staging_naive_in_time`: the sections reached before they overflow, and by the "stage where most overflow" plan.

`scenario_run_s` is the slowest of the four (the goal: < 10 s).
"""

from __future__ import annotations

import math
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import record

SECTIONS = int(os.environ.get("BENCH_SECTIONS", "45"))
RAIN_HOURS = 72
INCIDENTS = int(os.environ.get("BENCH_INCIDENTS", "300"))
TEAMS = int(os.environ.get("BENCH_TEAMS", "20"))
STAGE_UNITS = 5
REPEAT = 3
CATEGORIES = ("road", "pipe_gallery", "water", "bridge", "traffic", "environment")


def _best(fn: Any) -> tuple[float, Any]:
    best, out = math.inf, None
    for _ in range(REPEAT):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> None:
    from cityhub.compute.analytics import simulate
    from cityhub.compute.builtins import districts

    rng = random.Random(18)
    result: dict[str, Any] = {"sections": SECTIONS, "rain_hours": RAIN_HOURS, "incidents": INCIDENTS, "teams": TEAMS}
    histories = []
    for _ in range(SECTIONS):
        x, levels = 0.0, []
        for i in range(576):
            x = (x + (80 if i % 144 == 10 else 0)) * math.exp(-(5 / 60) / 1.5)
            levels.append(20 + x + rng.gauss(0, 0.5))
        histories.append(([300.0 * i for i in range(576)], levels))
    rain = [max(0.0, 40 * math.sin(math.pi * h / 12) + rng.gauss(0, 5)) for h in range(RAIN_HOURS)]

    def drainage() -> dict[str, Any]:
        sections = [{"device_id": i, "name": f"s{i}", "reservoir": simulate.fit_reservoir(*h)}
                    for i, h in enumerate(histories)]
        return simulate.drainage(sections, rain, 1.5, 100.0)

    secs, res = _best(drainage)
    result.update(drainage_s=round(secs, 4), drainage_exceed_scenario=res["exceed_scenario"])
    t = time.perf_counter()
    g = simulate.road_graph(districts.load().districts)
    result.update(graph_build_s=round(time.perf_counter() - t, 3), graph_nodes=g.number_of_nodes(),
                  graph_edges=g.number_of_edges())
    closures = sorted(g.edges)[:3]
    secs, res = _best(lambda: simulate.traffic(g, closures))
    result.update(traffic_s=round(secs, 4), traffic_pairs_slower=res["pairs_slower"])
    nodes = sorted(g.nodes)
    teams = [{"name": f"t{j}", "district_code": rng.choice(nodes), "capacity": rng.randint(10, 25),
              "skills": rng.sample(CATEGORIES, 2) if j % 3 else []} for j in range(TEAMS)]
    incidents = [{"id": i, "title": f"i{i}", "category": rng.choice(CATEGORIES),
                  "severity": rng.choice(("critical", "major", "minor")), "district_code": rng.choice(nodes)}
                 for i in range(INCIDENTS)]
    secs, res = _best(lambda: simulate.dispatch(g, teams, incidents, seed=1))
    dist = simulate._times(g)
    cost = [[None if not simulate._skilled(tm, inc) else dist[tm["district_code"]][inc["district_code"]]
             + simulate.ON_SITE_MIN for tm in teams] for inc in incidents]
    greedy_s, _g = _best(lambda: simulate._greedy(cost, teams, incidents))
    result.update(dispatch_s=round(secs, 4), dispatch_status=res["status"], dispatch_unassigned=res["unassigned"],
                  dispatch_greedy_s=round(greedy_s, 5),
                  dispatch_total_min=res["total_min"], dispatch_greedy_total_min=res["greedy_total_min"],
                  dispatch_total_vs_greedy=round(res["total_min"] / res["greedy_total_min"], 3))
    storm = drainage()
    at_risk = [{"name": r["name"], "district_code": rng.choice(nodes), "deadline_min": r["first_exceed_min"]}
               for r in storm["sections"] if r["exceeds_scenario"]]
    secs, res = _best(lambda: simulate.staging(g, at_risk, nodes, STAGE_UNITS, seed=1))
    result.update(staging_s=round(secs, 4), staging_sections=len(at_risk), staging_status=res["status"],
                  staging_in_time=res["in_time"], staging_naive_in_time=res["naive_in_time"])
    result["scenario_run_s"] = max(result["drainage_s"], result["traffic_s"], result["dispatch_s"],
                                   result["staging_s"])
    record("scenarios", result)


if __name__ == "__main__":
    main()
