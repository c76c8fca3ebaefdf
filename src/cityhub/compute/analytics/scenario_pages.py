"""Scenario pages (issue 18): drainage what-if, road closures, dispatch optimisation and its decisions.

Split from `compute/pages.py` with the same routes (mounted through its `extra_routers`). A run another unit made is
a 404 unless the caller reads every unit's compute.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from cityhub.compute import policies, schemas
from cityhub.compute import service as compute
from cityhub.core import service as core
from cityhub.core.deps import CurrentActor
from cityhub.core.permissions import P
from cityhub.kit import labels
from cityhub.kit.errors import ValidationFailed
from cityhub.kit.i18n import gettext as _
from cityhub.kit.i18n import lazy
from cityhub.kit.pagination import PageParams
from cityhub.kit.web import DbSession, NavItem, SessionRoute, form_action, register_nav, render

router = APIRouter(prefix="/compute", include_in_schema=False, route_class=SessionRoute)


def _names(session: Any) -> dict[uuid.UUID, str]:
    return core.organization_names(session)


# ---- scenario runs (issue 18): drainage what-if, road closures, dispatch optimisation

register_nav(NavItem("compute", "Scenarios", "/compute/scenarios", order=70, permissions=(P.ANALYTICS_SIMULATE,)))
DEFAULT_RAIN = "5, 20, 45, 60, 30, 10"  # mm/h over six hours: a short summer rainstorm
# demo response teams (name, district, capacity, incident categories): the page's starting point, changed freely
DEFAULT_TEAMS = ((lazy("Municipal repair team 1"), "500103", 3, ("road", "pipe_gallery", "water")),
                 (lazy("Municipal repair team 2"), "500112", 3, ("road", "pipe_gallery", "water")),
                 (lazy("Bridge and tunnel patrol"), "500108", 2, ("bridge", "traffic")),
                 (lazy("City management team"), "500106", 4, ()),
                 (lazy("Environmental monitoring team"), "500105", 2, ("environment", "sanitation")))
REASONS = {"nearest": lazy("Nearest skilled team"), "capacity": lazy("Nearer teams were full"),
           "off_shift": lazy("The teams that could take it are off shift"),
           "no_team": lazy("No skilled team could take it")}
TEAM_ROWS = 6
PER_PAGE = 50  # scenario runs a page


def _scenario_units(session: Any, actor: Any) -> tuple[dict[uuid.UUID, str], list[uuid.UUID]]:
    names = _names(session)
    units = sorted((oid for oid in names if policies.scenario_may_run(actor, oid)), key=lambda o: names[o])
    return names, units


OUTLINE_ALIASES = {"梁平县": "梁平区", "武隆县": "武隆区"}  # the outlines predate 2016


def _district_choices(session: Any = None) -> list[tuple[str, str]]:
    """(code, name) of the outline districts; with a session, named in the reader's language."""
    from cityhub.compute.builtins import districts

    try:
        found = sorted(((d.code, d.name) for d in districts.load().districts), key=lambda d: d[0])
    except districts.OutlinesMissing:
        return []
    if session is None:
        return found
    names = core.district_name_map(session)
    return [(code, names.get(OUTLINE_ALIASES.get(name, name), name)) for code, name in found]


@router.get("/scenarios")
def scenarios_page(request: Request, session: DbSession, actor: CurrentActor,
                   offset: int = Query(0, ge=0, le=1_000_000)) -> Response:
    """The scenario runs of the caller's units (50 a page), and a form per kind of scenario."""
    items, total = compute.scenario_list(session, actor, PageParams(limit=PER_PAGE, offset=offset))
    names, units = _scenario_units(session, actor)
    graph = compute.road_graph() if _district_choices() else None
    roads = sorted(((a, b) for a, b in graph.edges), key=lambda e: e) if graph is not None else []
    choices = _district_choices(session)
    return render(request, "compute/scenarios.html", {
        "items": items, "total": total, "offset": offset, "limit": PER_PAGE, "names": names, "units": units,
        "kinds": schemas.ScenarioKind, "districts": choices, "district_names": dict(choices), "roads": roads,
        "rain": DEFAULT_RAIN, "teams": [(_(name), *rest) for name, *rest in DEFAULT_TEAMS], "team_rows": TEAM_ROWS,
        "categories": labels.choices("ops.category"),
        "departments": [o for o in core.organization_all(session) if o.kind == "department"]})


def _rain(text: str) -> list[float]:
    try:
        return [float(x) for x in text.replace("，", ",").split(",") if x.strip()]
    except ValueError as exc:
        raise ValidationFailed(_("Rainfall is a list of numbers (mm/h), one per hour"),
                               field="inputs.rain_mm_h") from exc


@router.post("/scenarios")
async def scenario_run_form(request: Request, session: DbSession, actor: CurrentActor) -> Response:
    """Run a scenario from one of the page's forms, then show it."""
    form = await request.form()
    kind = str(form.get("kind") or "")
    with form_action(request, session, str(form.get("csrf_token") or ""), _("Scenario run finished")) as done:
        inputs: dict[str, Any]
        if kind == schemas.ScenarioKind.DRAINAGE:
            inputs = {"rain_mm_h": _rain(str(form.get("rain") or "")),
                      "intensity": _number(str(form.get("intensity") or "1"), "inputs.intensity"),
                      "district_code": str(form.get("district_code") or "") or None}
        elif kind == schemas.ScenarioKind.STAGING:
            inputs = {"rain_mm_h": _rain(str(form.get("rain") or "")),
                      "intensity": _number(str(form.get("intensity") or "1.5"), "inputs.intensity"),
                      "units": int(_number(str(form.get("units") or "3"), "inputs.units")),
                      "candidates": [str(c) for c in form.getlist("candidate")]}
        elif kind == schemas.ScenarioKind.TRAFFIC:
            inputs = {"closures": [str(r).split("-") for r in form.getlist("road")]}
        else:
            teams = []
            for i in range(TEAM_ROWS):
                name = str(form.get(f"team_name_{i}") or "").strip()
                if name:
                    teams.append({"name": name, "district_code": str(form.get(f"team_district_{i}") or ""),
                                  "capacity": int(_number(str(form.get(f"team_capacity_{i}") or "1"),
                                                          f"inputs.teams.{i}.capacity")),
                                  "skills": [str(s) for s in form.getlist(f"team_skills_{i}")],
                                  "shift_start": _whole(str(form.get(f"team_shift_start_{i}") or ""),
                                                        f"inputs.teams.{i}.shift_start"),
                                  "shift_end": _whole(str(form.get(f"team_shift_end_{i}") or ""),
                                                      f"inputs.teams.{i}.shift_end"),
                                  "org_id": str(form.get(f"team_org_{i}") or "")[:40] or None})
            inputs = {"teams": teams, "closures": [str(r).split("-") for r in form.getlist("road")]}
        org = str(form.get("org_id") or "")
        run = compute.scenario_run(session, actor, schemas.ScenarioRunCreate.model_validate({
            "org_id": org or None, "name": str(form.get("name") or "").strip(), "kind": kind or "drainage",
            "inputs": inputs}))
        return done.redirect(f"/compute/scenarios/{run.id}")
    return done.redirect("/compute/scenarios")


def _whole(text: str, field: str) -> int | None:
    """An optional whole number from a form field (empty: none)."""
    return int(_number(text, field)) if text.strip() else None


def _number(text: str, field: str) -> float:
    try:
        return float(text)
    except ValueError as exc:
        raise ValidationFailed(_("Not a number"), field=field) from exc


@router.get("/scenarios/{run_id}")
def scenario_page(request: Request, session: DbSession, actor: CurrentActor, run_id: uuid.UUID) -> Response:
    """One run: its inputs and result, charted (levels against the threshold; the road graph; team loads)."""
    run = compute.scenario_get(session, actor, run_id)
    district_names = dict(_district_choices(session))
    decisions = ({str(d.incident_id): d for d in compute.dispatch_decisions(session, actor, run.id)}
                 if run.kind == schemas.ScenarioKind.DISPATCH else {})
    return render(request, "compute/scenario.html", {
        "run": run, "r": run.result, "names": _names(session), "district_names": district_names,
        "decisions": decisions, "may_decide": policies.scenario_may_run(actor, run.org_id),
        "team_orgs": {str(t.get("name")): uuid.UUID(str(t.get("org_id") or run.org_id))
                      for t in (run.result.get("teams") or [])} if run.kind == schemas.ScenarioKind.DISPATCH else {},
        "reasons": REASONS, "kinds": schemas.ScenarioKind, "severity_vocab": "cityhub.ops.models.Severity",
        "page_data": {"kind": run.kind, "result": run.result,
                      "labels": {"baseline": _("Baseline"), "scenario": _("Scenario"), "threshold": _("Threshold"),
                                 "rain": _("Rainfall (mm/h)"), "level": _("Water level (mm)"),
                                 "minutes": _("Minutes"), "load": _("Incidents assigned"),
                                 "capacity": _("Capacity"), "closed": _("Closed"), "open": _("Open road"),
                                 "deadline": _("Overflows after (min)"), "arrival": _("Staged crew arrives (min)")}}})


@router.post("/scenarios/{run_id}/decisions")
async def decision_form(request: Request, session: DbSession, actor: CurrentActor, run_id: uuid.UUID) -> Response:
    """Accept or override one suggestion of a dispatch run, then show the run again."""
    form = await request.form()
    with form_action(request, session, str(form.get("csrf_token") or "")[:100], _("Decision recorded")) as done:
        compute.dispatch_decide(session, actor, run_id, schemas.DispatchDecisionCreate.model_validate({
            "incident_id": str(form.get("incident_id") or "")[:40], "action": str(form.get("action") or "")[:10],
            "team": str(form.get("team") or "")[:100], "reason": str(form.get("reason") or "")[:2000]}))
    return done.redirect(f"/compute/scenarios/{run_id}")
