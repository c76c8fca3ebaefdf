"""Simulation and decision models (issue 18, 仿真预测 / 决策优化): pure functions over plain inputs.

Three models, each deterministic for the same inputs (a scenario run repeated gives the same result):

- **Drainage** (`drainage`): the water level of each pipe-gallery section under a rainfall series, a linear
  reservoir per section, dh/dt = G·r(t) − (h − base)/τ, stepped every `DRAIN_STEP_MIN` minutes. `base` and `τ`
  are **fitted per section from its stored water-level telemetry** (`fit_reservoir`: the median, and the
  recession time of the AR(1) coefficient of h − base — how fast a rise drains away); `G`, the rise of the
  gallery's water per mm/h of rain per hour, cannot be learned without a rain gauge series (the demo has none), so
  it is the documented design figure `DEFAULT_GAIN`. A section with too little history uses `DEFAULT_TAU_H` and
  says so (`fitted: false`), as does one whose levels show no recession (an AR(1) coefficient within the white-noise
  band: the demo's simulated levels are noise with isolated spikes). A scenario scales the rainfall (`intensity`,
  e.g. 1.5 for "+50 %") and is run next to the baseline (intensity 1) so the two are compared.
- **Traffic** (`road_graph`, `traffic`): a networkx graph of the city's districts — a node per district outline the
  project ships (`compute/builtins/districts.py`), an edge between districts whose outlines touch, its travel time
  the great-circle distance between the districts' inner points × `DETOUR` at `SPEED_KMH`. Closing a road segment
  removes its edge; shortest-path times between every pair of districts are compared before and after.
- **Dispatch** (`dispatch`): open incidents assigned to response teams, minimising total travel time (team base
  → incident district on the road graph, plus `ON_SITE_MIN`) under each team's capacity and skills, with
  OR-Tools' CP-SAT; the greedy "nearest free team" assignment is computed beside it as the baseline it improves on.
  A team with a shift takes only what it reaches, on site, before its shift ends (`available_min`, minutes from
  the dispatch time; 0 off shift). A team off shift now whose next shift is known (`wait_min`, minutes until it
  starts) sets off when it starts: its time to site is the wait plus the journey, so the solver weighs a nearby team
  that starts soon against a distant one on duty, and the suggestion says how long it waits. An incident only
  off-shift teams could take says so (`off_shift`).
- **Pre-positioning** (`staging`, 预置): before a forecast storm, where to stage `k` pump crews. The sections the
  drainage model sees over the threshold are the demand, each with its deadline (when it first overflows); a
  p-median on the road graph (CP-SAT) opens at most `k` of the candidate districts and sends each section the crew
  of one of them, minimising first the minutes by which crews arrive **after** their section's deadline, then
  the total travel. Beside it the obvious plan — stage where most sections overflow — as the baseline.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import networkx as nx  # type: ignore[import-untyped]  # networkx ships no type information
import numpy as np

MODEL_VERSION = "1"
# drainage
DRAIN_STEP_MIN = 10
DEFAULT_GAIN = 4.0  # mm of gallery water per (mm/h of rain × h): a design figure, not learned (no rain gauge data)
DEFAULT_TAU_H = 2.0  # recession time when a section's history cannot tell it
MIN_FIT_POINTS = 30
# traffic
SPEED_KMH = 40.0  # urban expressway average between district centres
DETOUR = 1.3  # road distance over great-circle distance
# dispatch
ON_SITE_MIN = 10.0  # inside the incident's district, from its border to the site
UNASSIGNED_MIN = 10_000.0  # the cost of leaving an incident unassigned (only when no team can take it)
# pre-positioning
LATE_WEIGHT = 1000  # a minute late at an overflowing section costs this many minutes of travel
UNREACHABLE_MIN = 10_000.0  # travel between districts the road graph does not join


# ---------------------------------------------------------------- drainage


@dataclass(frozen=True)
class Reservoir:
    """One section's response: its dry level, recession time, and whether they were fitted from telemetry."""

    base: float
    tau_h: float
    fitted: bool
    points: int


def fit_reservoir(ts_s: Sequence[float], levels: Sequence[float]) -> Reservoir:
    """Dry level (median) and recession time (AR(1) of the level above it) from stored telemetry."""
    y = np.asarray(levels, dtype=float)
    t = np.asarray(ts_s, dtype=float)
    ok = np.isfinite(y)
    y, t = y[ok], t[ok]
    if y.size < MIN_FIT_POINTS:
        return Reservoir(float(np.median(y)) if y.size else 0.0, DEFAULT_TAU_H, False, int(y.size))
    base = float(np.median(y))
    x = y - base
    dt_h = float(np.median(np.diff(t))) / 3600.0
    den = float(np.dot(x[:-1], x[:-1]))
    phi = float(np.dot(x[1:], x[:-1]) / den) if den > 0 else 0.0
    # the coefficient must stand out of white noise (|φ| > 2/√n, the 95 % band of an uncorrelated series):
    # a sensor that only shows noise and spikes tells nothing about how fast the gallery drains
    if not 2.0 / math.sqrt(y.size) < phi < 1.0 or dt_h <= 0:
        return Reservoir(base, DEFAULT_TAU_H, False, int(y.size))
    tau = min(48.0, max(dt_h, -dt_h / math.log(phi)))
    return Reservoir(base, tau, True, int(y.size))


def reservoir_run(res: Reservoir, rain_mm_h: Sequence[float], gain: float = DEFAULT_GAIN) -> list[float]:
    """Levels every DRAIN_STEP_MIN minutes (rain given per hour), starting dry."""
    step_h = DRAIN_STEP_MIN / 60.0
    per_hour = round(60 / DRAIN_STEP_MIN)
    decay = math.exp(-step_h / res.tau_h)
    h = res.base
    out = [round(h, 3)]
    for r in rain_mm_h:
        for _ in range(per_hour):
            # exact step of the linear reservoir with constant inflow over the step
            eq = res.base + gain * r * res.tau_h
            h = eq + (h - eq) * decay
            out.append(round(h, 3))
    return out


def drainage(sections: Sequence[Mapping[str, Any]], rain_mm_h: Sequence[float], intensity: float,
             threshold: float) -> dict[str, Any]:
    """Baseline and scenario levels per section; which sections exceed the threshold, and when first."""
    scenario_rain = [r * intensity for r in rain_mm_h]
    rows = []
    series = []
    for s in sections:
        res: Reservoir = s["reservoir"]
        base_run = reservoir_run(res, rain_mm_h)
        scen_run = reservoir_run(res, scenario_rain)
        first = next((i for i, v in enumerate(scen_run) if v > threshold), None)
        rows.append({"device_id": str(s["device_id"]), "name": s["name"], "district": s.get("district") or "",
                     "base": round(res.base, 2), "tau_h": round(res.tau_h, 2), "fitted": res.fitted,
                     "points": res.points, "peak_baseline": max(base_run), "peak_scenario": max(scen_run),
                     "exceeds_baseline": max(base_run) > threshold, "exceeds_scenario": first is not None,
                     "first_exceed_min": first * DRAIN_STEP_MIN if first is not None else None})
        series.append((max(scen_run), s["name"], base_run, scen_run))
    rows.sort(key=lambda r: (-r["peak_scenario"], r["name"]))
    series.sort(key=lambda x: (-x[0], x[1]))
    return {"threshold": threshold, "intensity": intensity, "rain_baseline": list(rain_mm_h),
            "rain_scenario": scenario_rain, "step_min": DRAIN_STEP_MIN, "gain": DEFAULT_GAIN, "sections": rows,
            "exceed_baseline": sum(r["exceeds_baseline"] for r in rows),
            "exceed_scenario": sum(r["exceeds_scenario"] for r in rows),
            "series": [{"name": n, "baseline": b, "scenario": sc} for _p, n, b, sc in series[:5]]}


# ---------------------------------------------------------------- traffic


def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    lon1, lat1, lon2, lat2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(h))


def road_graph(districts: Sequence[Any]) -> nx.Graph:
    """Districts as nodes (code, name, inner point), touching outlines as edges weighted in minutes."""
    g = nx.Graph()
    pts = {}
    for d in districts:
        p = d.geometry.representative_point()
        pts[d.code] = (float(p.x), float(p.y))
        g.add_node(d.code, name=d.name, lon=round(p.x, 4), lat=round(p.y, 4))
    for i, a in enumerate(districts):
        grown = a.geometry.buffer(0.002)  # simplified outlines leave hairline gaps between neighbours
        for b in districts[i + 1:]:
            if grown.intersects(b.geometry):
                km = _km(pts[a.code], pts[b.code]) * DETOUR
                g.add_edge(a.code, b.code, km=round(km, 2), minutes=round(km / SPEED_KMH * 60, 2))
    return g


def _times(g: nx.Graph) -> dict[str, dict[str, float]]:
    return {s: dict(d) for s, d in nx.all_pairs_dijkstra_path_length(g, weight="minutes")}


def traffic(g: nx.Graph, closures: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """Shortest-path minutes between every pair of districts with and without the closed segments."""
    before = _times(g)
    closed = g.copy()
    closed.remove_edges_from(closures)
    after = _times(closed)
    changed = []
    unreachable = 0
    nodes = sorted(g.nodes)
    for i, a in enumerate(nodes):
        for b in nodes[i + 1:]:
            t0 = before[a].get(b)
            t1 = after[a].get(b)
            if t0 is None:
                continue
            if t1 is None:
                unreachable += 1
                changed.append({"from": a, "to": b, "before": round(t0, 1), "after": None, "delta": None})
            elif t1 - t0 > 1e-6:
                changed.append({"from": a, "to": b, "before": round(t0, 1), "after": round(t1, 1),
                                "delta": round(t1 - t0, 1)})
    changed.sort(key=lambda c: (-(c["delta"] if c["delta"] is not None else math.inf), c["from"], c["to"]))
    names = {n: g.nodes[n]["name"] for n in g.nodes}
    for c in changed:
        c["from_name"], c["to_name"] = names[c["from"]], names[c["to"]]
    deltas = [c["delta"] for c in changed if c["delta"] is not None]
    pairs = len(nodes) * (len(nodes) - 1) // 2
    return {"nodes": [{"code": n, "name": names[n], "lon": g.nodes[n]["lon"], "lat": g.nodes[n]["lat"]}
                      for n in nodes],
            "edges": [{"from": a, "to": b, "minutes": d["minutes"], "closed": closed.has_edge(a, b) is False}
                      for a, b, d in sorted(g.edges(data=True))],
            "closures": [list(c) for c in closures], "pairs": pairs, "pairs_slower": len(changed),
            "pairs_unreachable": unreachable, "mean_delta_min": round(sum(deltas) / len(deltas), 2) if deltas else 0.0,
            "max_delta_min": max(deltas) if deltas else 0.0, "changed": changed[:50]}


# ---------------------------------------------------------------- dispatch


def dispatch(g: nx.Graph, teams: Sequence[Mapping[str, Any]], incidents: Sequence[Mapping[str, Any]],
             seed: int = 0) -> dict[str, Any]:
    """Assign incidents to teams (CP-SAT) minimising travel minutes under capacity and skills; greedy beside it."""
    from ortools.sat.python import cp_model

    dist = _times(g)

    def minutes(team: Mapping[str, Any], inc: Mapping[str, Any], shifts: bool = True) -> float | None:
        if not _skilled(team, inc):
            return None
        t = dist.get(team["district_code"], {}).get(inc["district_code"])
        if t is None:
            return None
        left = team.get("available_min")  # minutes to the end of its shift (0: off shift); none: always on
        wait = float(team.get("wait_min") or 0.0) if shifts else 0.0  # off shift now: minutes until it starts
        if shifts and left is not None and wait + t + ON_SITE_MIN > left:
            return None
        return wait + t + ON_SITE_MIN

    cost = [[minutes(t, i) for t in teams] for i in incidents]
    off_shift = [not any(c is not None for c in cost[i]) and any(minutes(t, inc, False) is not None for t in teams)
                 for i, inc in enumerate(incidents)]
    model = cp_model.CpModel()
    x: dict[tuple[int, int], Any] = {}
    for i, row in enumerate(cost):
        for j, c in enumerate(row):
            if c is not None:
                x[i, j] = model.new_bool_var(f"x{i}_{j}")
    unassigned = [model.new_bool_var(f"u{i}") for i in range(len(incidents))]
    for i in range(len(incidents)):
        model.add(sum(x[i, j] for j in range(len(teams)) if (i, j) in x) + unassigned[i] == 1)
    for j, team in enumerate(teams):
        model.add(sum(x[i, j] for i in range(len(incidents)) if (i, j) in x) <= int(team["capacity"]))
    scale = 10  # CP-SAT works in integers: tenths of a minute
    model.minimize(sum(round(cost[i][j] * scale) * v for (i, j), v in x.items())  # type: ignore[operator]  # cost is set wherever x is
                   + sum(round(UNASSIGNED_MIN * scale) * u for u in unassigned))
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1  # one worker and a fixed seed: the same inputs give the same answer
    solver.parameters.random_seed = seed
    solver.parameters.max_time_in_seconds = 10.0
    status = solver.solve(model)
    optimal = status == cp_model.OPTIMAL
    assign: dict[int, int | None] = {}
    for i in range(len(incidents)):
        assign[i] = next((j for j in range(len(teams)) if (i, j) in x and solver.value(x[i, j])), None)
    greedy = _greedy(cost, teams, incidents)
    return {"status": "optimal" if optimal else "feasible", "teams": [dict(t) for t in teams],
            "assignments": [_row(incidents[i], teams, assign[i], cost[i], greedy[i], off_shift[i])
                            for i in range(len(incidents))],
            "total_min": _total(cost, assign), "greedy_total_min": _total(cost, greedy),
            "unassigned": sum(1 for j in assign.values() if j is None),
            "load": {t["name"]: sum(1 for j in assign.values() if j == k) for k, t in enumerate(teams)}}


def _skilled(team: Mapping[str, Any], inc: Mapping[str, Any]) -> bool:
    skills = team.get("skills") or []
    return not skills or inc.get("category") in skills


def _greedy(cost: list[list[float | None]], teams: Sequence[Mapping[str, Any]],
            incidents: Sequence[Mapping[str, Any]]) -> dict[int, int | None]:
    """The baseline: most severe first, each to the nearest skilled team with room left."""
    rank = {"critical": 0, "major": 1, "minor": 2, "warning": 3}
    left = [int(t["capacity"]) for t in teams]
    out: dict[int, int | None] = {}
    for i in sorted(range(len(incidents)), key=lambda i: (rank.get(str(incidents[i].get("severity")), 9), i)):
        options = [(c, j) for j, c in enumerate(cost[i]) if c is not None and left[j] > 0]
        if options:
            _c, j = min(options)
            left[j] -= 1
            out[i] = j
        else:
            out[i] = None
    return out


def _total(cost: list[list[float | None]], assign: Mapping[int, int | None]) -> float:
    return round(sum(cost[i][j] or 0.0 for i, j in assign.items() if j is not None), 1)


def _row(inc: Mapping[str, Any], teams: Sequence[Mapping[str, Any]], j: int | None, costs: list[float | None],
         greedy_j: int | None, off_shift: bool = False) -> dict[str, Any]:
    options = sorted((c, k) for k, c in enumerate(costs) if c is not None)
    nearest = options[0][1] if options else None
    return {"incident_id": str(inc["id"]), "title": inc["title"], "category": inc.get("category") or "",
            # minutes the team waits for its shift to start before it sets off (counted in `minutes`)
            "wait_min": round(float(teams[j].get("wait_min") or 0.0), 1) if j is not None else 0.0,
            "severity": inc.get("severity") or "", "district_code": inc["district_code"],
            "team": teams[j]["name"] if j is not None else None,
            "minutes": round(c, 1) if j is not None and (c := costs[j]) is not None else None,
            "greedy_team": teams[greedy_j]["name"] if greedy_j is not None else None,
            # the reasoning shown to the operator: nearest skilled team, or why another was chosen
            "reason": ("nearest" if j is not None and j == nearest else "capacity" if j is not None
                       else "off_shift" if off_shift else "no_team"),
            "nearest_team": teams[nearest]["name"] if nearest is not None else None}


# ---------------------------------------------------------------- pre-positioning


def staging(g: nx.Graph, sections: Sequence[Mapping[str, Any]], candidates: Sequence[str], k: int,
            seed: int = 0) -> dict[str, Any]:
    """Stage at most `k` crews among `candidates` so that overflowing sections are reached before their deadline.

    `sections`: name, district_code and deadline_min (minutes until it first overflows). Each section is served by
    one staged district; the cost of serving it from `c` is LATE_WEIGHT × minutes late + travel minutes.
    """
    from ortools.sat.python import cp_model

    dist = _times(g)
    cands = [c for c in dict.fromkeys(candidates) if c in g]

    def travel(c: str, s: Mapping[str, Any]) -> float:
        t = dist.get(c, {}).get(s["district_code"])
        return UNREACHABLE_MIN if t is None else t + ON_SITE_MIN

    def cost(c: str, s: Mapping[str, Any]) -> float:
        t = travel(c, s)
        return LATE_WEIGHT * max(0.0, t - float(s["deadline_min"])) + t

    if not sections or not cands:
        return _staging_result(g, [], sections, [], [], travel)
    # the baseline: the k districts where most sections overflow (ties: the earliest deadline, then the code)
    by_district: dict[str, list[Mapping[str, Any]]] = {}
    for s in sections:
        by_district.setdefault(s["district_code"], []).append(s)
    naive = sorted((c for c in by_district if c in g),
                   key=lambda c: (-len(by_district[c]), min(float(s["deadline_min"]) for s in by_district[c]), c))[:k]
    naive_serve = [min(naive, key=functools.partial(_nearest_key, travel, s)) if naive else "" for s in sections]
    # Every section of one district is best served from the same open district (the nearest: a section's cost only
    # grows with the travel time), so the demand is one per district, weighted by its sections — exact, and a model
    # of districts × candidates however many sections overflow.
    demand = sorted(by_district)
    model = cp_model.CpModel()
    y = [model.new_bool_var(f"y{j}") for j in range(len(cands))]
    x = {(d, j): model.new_bool_var(f"x{d}_{j}") for d in range(len(demand)) for j in range(len(cands))}
    model.add(sum(y) <= k)
    for d in range(len(demand)):
        model.add(sum(x[d, j] for j in range(len(cands))) == 1)
        for j in range(len(cands)):
            model.add_implication(x[d, j], y[j])
    model.minimize(sum(round(sum(cost(cands[j], s) for s in by_district[demand[d]]) * 10) * v
                       for (d, j), v in x.items()))
    for j, c in enumerate(cands):  # start from the baseline: the answer is never worse than it
        model.add_hint(y[j], c in naive)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1  # one worker and a fixed seed: the same inputs give the same answer
    solver.parameters.random_seed = seed
    solver.parameters.max_time_in_seconds = 10.0
    status = solver.solve(model)
    chosen = [cands[j] for j in range(len(cands)) if solver.value(y[j])]
    where = {demand[d]: next(cands[j] for j in range(len(cands)) if solver.value(x[d, j]))
             for d in range(len(demand))}
    serve = [where[s["district_code"]] for s in sections]
    out = _staging_result(g, chosen, sections, serve, naive_serve, travel)
    out["status"] = "optimal" if status == cp_model.OPTIMAL else "feasible"
    return out


def _nearest_key(travel: Any, s: Mapping[str, Any], c: str) -> tuple[float, str]:
    return travel(c, s), c


def _staging_result(g: nx.Graph, chosen: Sequence[str], sections: Sequence[Mapping[str, Any]], serve: Sequence[str],
                    naive_serve: Sequence[str], travel: Any) -> dict[str, Any]:
    name = {c: g.nodes[c].get("name", c) for c in g}
    rows = []
    for i, s in enumerate(sections):
        arrive = round(travel(serve[i], s), 1) if serve else None
        naive = round(travel(naive_serve[i], s), 1) if naive_serve and naive_serve[i] else None
        rows.append({"name": s["name"], "district_code": s["district_code"],
                     "district": name.get(s["district_code"], ""), "deadline_min": s["deadline_min"],
                     "station": serve[i] if serve else None, "station_name": name.get(serve[i], "") if serve else "",
                     "arrival_min": arrive, "in_time": arrive is not None and arrive <= float(s["deadline_min"]),
                     "naive_arrival_min": naive,
                     "naive_in_time": naive is not None and naive <= float(s["deadline_min"])})
    rows.sort(key=lambda r: (r["deadline_min"], r["name"]))
    return {"status": "optimal", "staged": [{"district_code": c, "name": name.get(c, c),
                                             "sections": sum(1 for x in serve if x == c)} for c in chosen],
            "sections": rows, "at_risk": len(rows), "in_time": sum(r["in_time"] for r in rows),
            "naive_staged": sorted({c for c in naive_serve if c}),
            "naive_in_time": sum(r["naive_in_time"] for r in rows),
            "total_min": round(sum(r["arrival_min"] or 0.0 for r in rows), 1),
            "naive_total_min": round(sum(r["naive_arrival_min"] or 0.0 for r in rows), 1)}
