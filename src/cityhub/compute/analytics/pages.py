"""Saved analyses pages (issue 18): the list and the form, one analysis with its runs, answer, chart and schedule.

Split from `compute/pages.py` with the same routes (mounted through its `extra_routers`). What a page lists is
what the analytics services let the caller see: another unit's analysis is a 404.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from cityhub.compute import policies, schemas
from cityhub.compute import service as compute
from cityhub.core import service as core
from cityhub.core.deps import CurrentActor
from cityhub.core.permissions import P
from cityhub.kit.i18n import gettext as _
from cityhub.kit.i18n import lazy
from cityhub.kit.pagination import PageParams
from cityhub.kit.web import DbSession, NavItem, SessionRoute, form_action, register_nav, render

router = APIRouter(prefix="/compute", include_in_schema=False, route_class=SessionRoute)
Csrf = Annotated[str, Form(max_length=100)]


def _names(session: Any) -> dict[uuid.UUID, str]:
    return core.organization_names(session)


# ---- saved analyses (issue 18)

register_nav(NavItem("compute", "Saved analyses", "/compute/analyses", order=60, permissions=(P.ANALYSIS_WRITE,)))
RUN_LABELS = {"running": lazy("Running"), "succeeded": lazy("Finished"), "failed": lazy("Failed"),
              "cancelled": lazy("Cancelled"), "timed_out": lazy("Timed out")}
RUN_BADGES = {"running": "warn", "succeeded": "ok", "failed": "err", "cancelled": "err", "timed_out": "err"}
CHART_LABELS = {"table": lazy("Table only"), "line": lazy("Line chart"), "bar": lazy("Bar chart"),
                "map": lazy("Map of the districts"), "heatmap": lazy("Heatmap")}
TRIGGER_LABELS = {"manual": lazy("By hand"), "schedule": lazy("On schedule")}
Sql = Annotated[str, Form(max_length=10_000)]
PER_PAGE = 50  # saved analyses a page


@router.get("/analyses")
def analyses_page(request: Request, session: DbSession, actor: CurrentActor,
                  offset: int = Query(0, ge=0, le=1_000_000)) -> Response:
    """The saved analyses of the caller's units (50 a page), and the form to save one."""
    items, total = compute.analysis_list(session, actor, PageParams(limit=PER_PAGE, offset=offset))
    names = _names(session)
    units = sorted((oid for oid in names if policies.analysis_read(actor, oid)), key=lambda o: names[o])
    return render(request, "compute/analyses.html", {
        "items": items, "names": names, "units": units, "charts": CHART_LABELS, "total": total, "offset": offset,
        "limit": PER_PAGE})


@router.post("/analyses")
def analysis_create_form(request: Request, session: DbSession, actor: CurrentActor, csrf_token: Csrf,
                         org_id: Annotated[uuid.UUID, Form()], name: Annotated[str, Form(max_length=200)],
                         sql: Sql, chart: Annotated[str, Form(max_length=10)] = "table") -> Response:
    """Save an analysis (its SQL is checked first); refused, the form comes back with what was typed."""
    keep = {"org_id": str(org_id), "name": name, "sql": sql, "chart": chart}
    with form_action(request, session, csrf_token, _("Analysis saved"), keep=keep) as done:
        a = compute.analysis_create(session, actor, schemas.AnalysisCreate.model_validate(
            {"org_id": org_id, "name": name.strip(), "sql": sql, "chart": chart}))
        return done.redirect(f"/compute/analyses/{a.id}")
    return done.redirect("/compute/analyses")


@router.get("/analyses/{analysis_id}")
def analysis_page(request: Request, session: DbSession, actor: CurrentActor, analysis_id: uuid.UUID,
                  run: uuid.UUID | None = None) -> Response:
    """One analysis: its SQL, its runs, and a run's answer as a table and a chart."""
    a = compute.analysis_get(session, actor, analysis_id)
    runs = compute.analysis_runs(session, actor, a.id)
    shown = None
    if run is not None or runs:
        shown = compute.analysis_run_get(session, actor, run or runs[0]["id"])
        if shown["analysis_id"] != a.id:
            shown = None
    return render(request, "compute/analysis.html", {
        "a": a, "runs": runs, "shown": shown, "charts": CHART_LABELS, "run_labels": RUN_LABELS,
        "run_badges": RUN_BADGES, "names": _names(session), "triggers": TRIGGER_LABELS,
        "may_publish": shown is not None and shown["status"] == "succeeded"
        and not shown.get("published_resource_id") and policies.analysis_read(actor, a.org_id),
        "page_data": {"chart": a.chart, "status": shown["status"] if shown else None,
                      "columns": shown.get("columns", []) if shown else [],
                      "records": shown.get("records", []) if shown else [],
                      "district_names": _district_names() if a.chart == "map" else {}}})


def _district_names() -> dict[str, str]:
    """Six-digit district codes to the names on the map's outlines (a map chart may key its rows by either)."""
    from cityhub.compute.builtins import districts

    try:
        return {d.code: d.name for d in districts.load().districts}
    except districts.OutlinesMissing:
        return {}


@router.post("/analyses/{analysis_id}")
def analysis_update_form(request: Request, session: DbSession, actor: CurrentActor, analysis_id: uuid.UUID,
                         csrf_token: Csrf, name: Annotated[str, Form(max_length=200)], sql: Sql,
                         chart: Annotated[str, Form(max_length=10)] = "table",
                         schedule: Annotated[str, Form(max_length=100)] = "") -> Response:
    """Change an analysis (its schedule too: empty turns it off)."""
    with form_action(request, session, csrf_token, _("Analysis saved")) as done:
        compute.analysis_update(session, actor, analysis_id, schemas.AnalysisUpdate.model_validate(
            {"name": name.strip(), "sql": sql, "chart": chart, "schedule": schedule.strip()}))
    return done.redirect(f"/compute/analyses/{analysis_id}")


@router.post("/analyses/runs/{run_id}/publish")
def analysis_run_publish_form(request: Request, session: DbSession, actor: CurrentActor, run_id: uuid.UUID,
                              csrf_token: Csrf, title: Annotated[str, Form(max_length=200)] = "") -> Response:
    """Publish a run's answer as a draft datastore table of the unit; the page links to it."""
    with form_action(request, session, csrf_token, _("Published as a draft data resource")) as done:
        r = compute.analysis_run_publish(session, actor, run_id, schemas.AnalysisPublish.model_validate(
            {"title": title.strip() or None}))
        return done.redirect(f"/compute/analyses/{r['analysis_id']}?run={run_id}")
    return done.redirect("/compute/analyses")


@router.post("/analyses/{analysis_id}/run")
def analysis_run_form(request: Request, session: DbSession, actor: CurrentActor, analysis_id: uuid.UUID,
                      csrf_token: Csrf, max_rows: Annotated[int, Form()] = 10_000,
                      timeout_s: Annotated[float, Form()] = 60.0) -> Response:
    """Start a run; the page follows it."""
    with form_action(request, session, csrf_token, _("Run started")) as done:
        r = compute.analysis_run(session, actor, analysis_id, schemas.AnalysisRunStart.model_validate(
            {"max_rows": max_rows, "timeout_s": timeout_s}))
        return done.redirect(f"/compute/analyses/{analysis_id}?run={r['id']}")
    return done.redirect(f"/compute/analyses/{analysis_id}")


@router.post("/analyses/runs/{run_id}/cancel")
def analysis_run_cancel_form(request: Request, session: DbSession, actor: CurrentActor, run_id: uuid.UUID,
                             csrf_token: Csrf) -> Response:
    """Cancel a running run."""
    with form_action(request, session, csrf_token, _("Run cancelled")) as done:
        r = compute.analysis_run_cancel(session, actor, run_id)
        return done.redirect(f"/compute/analyses/{r['analysis_id']}?run={run_id}")
    return done.redirect("/compute/analyses")

