"""Scenario runs (issue 18): a simulation or decision model run on a unit's inputs, recorded with its result.

A run is synchronous (each model answers in well under a second on the demo city: `benchmarks/forecast.py`
reports `scenario_run_s`), is stored whole (`compute_scenario_run`: inputs, model version, seed, result) and
audited (`scenario_run`). What a model reads is what the runner may read: the pipe-gallery sections of the drainage
model are the devices the runner sees (connect's contract), the incidents of the dispatch model the open incidents
the runner sees (ops' façade). The models themselves are pure (`simulate.py`).
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

import networkx as nx  # type: ignore[import-untyped]  # networkx ships no type information
from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from cityhub.compute import policies
from cityhub.compute.analytics import simulate
from cityhub.compute.builtins import districts
from cityhub.compute.models import ScenarioKind, ScenarioRun
from cityhub.compute.schemas import DispatchInputs, DrainageInputs, ScenarioRunCreate, StagingInputs, TrafficInputs
from cityhub.connect import service as connect
from cityhub.core import service as core
from cityhub.core.actor import Actor
from cityhub.kit import clock
from cityhub.kit.errors import Forbidden, NotFound, ValidationFailed
from cityhub.kit.i18n import gettext as _
from cityhub.kit.pagination import PageParams, paginate
from cityhub.kit.refs import reference
from cityhub.kit.settings import get_settings
from cityhub.ops import service as ops

GALLERY_PROFILE = "pipe-gallery"
LEVEL_KEY = "water_level"
DEFAULT_LEVEL_THRESHOLD = 100.0  # mm, when no threshold rule watches the gallery's water level
INPUTS: dict[str, type[BaseModel]] = {ScenarioKind.DRAINAGE: DrainageInputs, ScenarioKind.TRAFFIC: TrafficInputs,
                                      ScenarioKind.DISPATCH: DispatchInputs, ScenarioKind.STAGING: StagingInputs}


def _inputs(kind: str, raw: dict[str, Any]) -> Any:
    try:
        return INPUTS[kind].model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(["inputs", *(str(p) for p in err["loc"])])
        raise ValidationFailed(_("Invalid scenario input: {detail}", detail=err["msg"]), field=field) from exc


_graph: nx.Graph | None = None


def road_graph() -> nx.Graph:
    """The district road graph of the shipped outlines (built once per process)."""
    global _graph
    if _graph is None:
        _graph = simulate.road_graph(districts.load().districts)
    return _graph


def _closures(g: nx.Graph, pairs: list[list[str]]) -> list[tuple[str, str]]:
    out = []
    for i, pair in enumerate(pairs):
        if len(pair) != 2 or not g.has_edge(pair[0], pair[1]):
            raise ValidationFailed(_("Not a road between two neighbouring districts"), field=f"inputs.closures.{i}")
        out.append((pair[0], pair[1]))
    return out


def _district_of(lon: float | None, lat: float | None) -> str | None:
    if lon is None or lat is None:
        return None
    index = districts.load()
    hit = index.locate(lon, lat) or (index.nearest(lon, lat) or (None, 0.0))[0]
    return hit.code if hit else None


def _level_threshold(session: Session, actor: Actor) -> float:
    """The level the operations center's threshold rules watch the galleries' water at (the lowest)."""
    try:
        rules, _total = ops.rule_list(session, actor, PageParams(limit=200, offset=0), profile_code=GALLERY_PROFILE)
    except Forbidden:  # a unit that reads no rules gets the documented level
        return DEFAULT_LEVEL_THRESHOLD
    values = [float(r.condition["value"]) for r in rules if r.key == LEVEL_KEY and r.kind == "threshold"
              and r.condition.get("op") in (">", ">=") and "value" in r.condition]
    return min(values) if values else DEFAULT_LEVEL_THRESHOLD


def _drainage(session: Session, actor: Actor, inp: DrainageInputs) -> dict[str, Any]:
    sections, threshold = _sections(session, actor, inp)
    return simulate.drainage(sections, inp.rain_mm_h, inp.intensity, threshold)


def _staging(session: Session, actor: Actor, inp: StagingInputs, seed: int) -> dict[str, Any]:
    """The drainage what-if's overflowing sections, then where to stage `units` crews to reach them in time."""
    known = districts.load().by_code
    for i, code in enumerate(inp.candidates):
        if code not in known:
            raise ValidationFailed(_("Unknown district"), field=f"inputs.candidates.{i}")
    sections, threshold = _sections(session, actor, inp)
    storm = simulate.drainage(sections, inp.rain_mm_h, inp.intensity, threshold)
    codes = {str(s["device_id"]): s["district_code"] for s in sections}
    at_risk = [{"name": r["name"], "district_code": codes[r["device_id"]], "deadline_min": r["first_exceed_min"]}
               for r in storm["sections"] if r["exceeds_scenario"] and codes.get(r["device_id"])]
    result = simulate.staging(road_graph(), at_risk, inp.candidates or sorted(known), inp.units, seed=seed)
    result.update({"threshold": threshold, "intensity": inp.intensity, "units": inp.units,
                   "sections_simulated": len(sections), "exceed_baseline": storm["exceed_baseline"],
                   "exceed_scenario": storm["exceed_scenario"]})
    return result


def _sections(session: Session, actor: Actor, inp: DrainageInputs) -> tuple[list[dict[str, Any]], float]:
    """The pipe-gallery sections the runner sees (in the district asked for), each fitted from its levels."""
    if inp.district_code and inp.district_code not in districts.load().by_code:
        raise ValidationFailed(_("Unknown district"), field="inputs.district_code")
    refs = [r for r in connect.visible_device_refs(session, actor) if r.profile_code == GALLERY_PROFILE]
    located = [(r, _district_of(r.lon, r.lat)) for r in refs]
    if inp.district_code:
        located = [(r, d) for r, d in located if d == inp.district_code]
    end = clock.now()
    history: dict[uuid.UUID, tuple[list[float], list[float]]] = {r.device_id: ([], []) for r, _d in located}
    for p in connect.telemetry_points(session, device_ids=list(history), keys=[LEVEL_KEY],
                                      start=end - timedelta(days=inp.history_days), end=end):
        if p.value is not None:
            history[p.device_id][0].append(p.ts.timestamp())
            history[p.device_id][1].append(float(p.value))
    names = {d.code: d.name for d in districts.load().districts}
    sections = [{"device_id": r.device_id, "name": r.name, "district": names.get(d or "", ""), "district_code": d,
                 "reservoir": simulate.fit_reservoir(*history[r.device_id])} for r, d in located]
    return sections, inp.threshold or _level_threshold(session, actor)


def _dispatch(session: Session, actor: Actor, inp: DispatchInputs, seed: int) -> dict[str, Any]:
    g = road_graph()
    known = districts.load().by_code
    for i, t in enumerate(inp.teams):
        if t.district_code not in known:
            raise ValidationFailed(_("Unknown district"), field=f"inputs.teams.{i}.district_code")
        if t.org_id is not None:  # the team's department: one the runner sees (unknown and unseen alike: 422)
            reference(f"inputs.teams.{i}.org_id", partial(core.organization_get, session, actor, t.org_id))
    closed = g.copy()
    closed.remove_edges_from(_closures(g, inp.closures))
    items, _total = ops.incident_list(session, actor, PageParams(limit=inp.incident_limit, offset=0), open_only=True)
    incidents = []
    for inc in items:
        code = _district_of(inc.lon, inc.lat)
        if code is not None:
            incidents.append({"id": inc.id, "title": inc.title, "category": inc.category,
                              "severity": str(inc.severity), "district_code": code})
    at = inp.at or clock.now()
    result = simulate.dispatch(closed, [{**t.model_dump(mode="json"), **_shift_window(t, at)} for t in inp.teams],
                               incidents, seed=seed)
    result["at"] = at.isoformat()
    result["incidents_without_place"] = len(items) - len(incidents)
    return result


def _shift_window(team: Any, at: datetime) -> dict[str, float | None]:
    """The team's time window from `at` in minutes: until its shift ends, and (off shift) until the next starts."""
    left = _shift_left(team, at)
    if left is None or left > 0:
        return {"available_min": left, "wait_min": 0.0}
    local = at.astimezone(ZoneInfo(get_settings().display_timezone))
    h = local.hour + local.minute / 60 + local.second / 3600
    start, end = float(team.shift_start), float(team.shift_end)
    wait = ((start - h) % 24) * 60
    length = ((end - start) % 24) * 60
    return {"available_min": round(wait + length, 1), "wait_min": round(wait, 1)}


def _shift_left(team: Any, at: datetime) -> float | None:
    """Minutes of the team's shift left at `at` (local hours; 0 when off shift); None: the team has no shift."""
    if team.shift_start is None or team.shift_end is None:
        return None
    local = at.astimezone(ZoneInfo(get_settings().display_timezone))
    h = local.hour + local.minute / 60 + local.second / 3600
    start, end = float(team.shift_start), float(team.shift_end)
    if start < end:
        return round((end - h) * 60, 1) if start <= h < end else 0.0
    if h >= start:  # an overnight shift, before midnight
        return round((end + 24 - h) * 60, 1)
    return round((end - h) * 60, 1) if h < end else 0.0


def scenario_run(session: Session, actor: Actor, body: ScenarioRunCreate) -> ScenarioRun:
    """Run a scenario for a unit and store it (422 naming the input at fault before anything runs)."""
    org_id = body.org_id or actor.org_id
    if org_id is None:
        raise ValidationFailed(_("Name the unit"), field="org_id")
    reference("org_id", lambda: core.organization_get(session, actor, org_id))
    policies.scenario_run(actor, org_id)
    inp = _inputs(body.kind, body.inputs)
    started = time.perf_counter()
    try:
        if body.kind == ScenarioKind.DRAINAGE:
            result = _drainage(session, actor, inp)
        elif body.kind == ScenarioKind.TRAFFIC:
            g = road_graph()
            result = simulate.traffic(g, _closures(g, inp.closures))
        elif body.kind == ScenarioKind.STAGING:
            result = _staging(session, actor, inp, body.seed)
        else:
            result = _dispatch(session, actor, inp, body.seed)
    except districts.OutlinesMissing as exc:
        raise ValidationFailed(_("The district outlines are not installed"), field="kind") from exc
    run = ScenarioRun(org_id=org_id, kind=body.kind.value, name=body.name, inputs=inp.model_dump(mode="json"),
                      result=result,
                      model_version=simulate.MODEL_VERSION, seed=body.seed,
                      duration_ms=round((time.perf_counter() - started) * 1000), created_by=actor.username[:100])
    session.add(run)
    session.flush()
    core.audit_record(session, actor, "scenario_run", target_type="compute_scenario_run", target_id=run.id,
                      org_id=org_id, after={"name": run.name, "kind": run.kind, "inputs": run.inputs,
                                            "seed": run.seed})
    return run


def scenario_list(session: Session, actor: Actor, page: PageParams, kind: str | None = None
                  ) -> tuple[list[ScenarioRun], int]:
    """The scenario runs of the caller's units (every unit's for city-wide readers), newest first."""
    stmt = select(ScenarioRun).order_by(ScenarioRun.created_at.desc(), ScenarioRun.id)
    orgs = policies.scenario_orgs(actor)
    if orgs is not None:
        stmt = stmt.where(ScenarioRun.org_id.in_(orgs))
    if kind:
        stmt = stmt.where(ScenarioRun.kind == kind)
    return paginate(session, stmt, page)


def scenario_get(session: Session, actor: Actor, run_id: uuid.UUID) -> ScenarioRun:
    """One run (404 when unknown or not readable by the caller)."""
    run = session.get(ScenarioRun, run_id)
    if run is None or not policies.scenario_read(actor, run.org_id):
        raise NotFound(_("Scenario run not found"), details={"id": str(run_id)})
    return run
