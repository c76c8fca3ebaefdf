"""The collection page: a unit's sources and sync jobs, run on demand, with the run history chart (issue 20)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from cityhub.core import service as core
from cityhub.core.deps import CurrentActor
from cityhub.core.permissions import P, can
from cityhub.data import service
from cityhub.kit import i18n, labels
from cityhub.kit.i18n import gettext as _
from cityhub.kit.web import DbSession, NavItem, SessionRoute, form_action, register_nav, render, to_local

router = APIRouter(prefix="/data/collection", include_in_schema=False, route_class=SessionRoute)
register_nav(NavItem("data", "Data collection", "/data/collection", order=45, permissions=(P.DATA_READ,)),
             NavItem("data", "Data quality", "/data/collection/quality", order=46, permissions=(P.DATA_READ,)))
Csrf = Annotated[str, Form(max_length=100)]


@router.get("")
def collection(request: Request, session: DbSession, actor: CurrentActor, msg: str = "") -> Response:
    """Sources and jobs the caller sees; the latest runs as a chart and a table."""
    sources = service.sync_source_list(session, actor)
    jobs = service.sync_job_list(session, actor)
    runs = service.sync_runs_recent(session, actor, 60)
    names = {s.id: s.name for s in sources}
    job_names = {j.id: j.name for j in jobs}
    entries = {e.id: e.title for e in service.catalog_entries_by_ids(session, [j.entry_id for j in jobs])}
    english = i18n.get_locale() == "en"
    orgs = {o.id: (o.name_en or o.name) if english else o.name for o in core.organization_all(session)}
    chart = {"at": [to_local(r.started_at) for r in reversed(runs)],
             "job": [job_names.get(r.job_id, "") for r in reversed(runs)],
             "inserted": [r.rows_inserted for r in reversed(runs)],
             "updated": [r.rows_updated for r in reversed(runs)],
             "rejected": [r.rows_rejected for r in reversed(runs)],
             "failed": [1 if r.status == "failed" else 0 for r in reversed(runs)]}
    return render(request, "data/collection.html", {
        "sources": sources, "jobs": jobs, "runs": runs[:20], "source_names": names, "job_names": job_names,
        "entries": entries, "orgs": orgs, "msg": msg, "chart": chart,
        "can_run": {j.id for j in jobs if actor.is_authenticated and can(actor, P.DATA_COLLECT, j.org_id)},
        "kinds": dict(labels.choices("data.source_kind"))})


@router.post("/jobs/{job_id}/run")
def job_run(request: Request, session: DbSession, actor: CurrentActor, job_id: uuid.UUID,
            csrf_token: Csrf) -> Response:
    """Run a job now from the page; the run's outcome is the flash message."""
    with form_action(request, session, csrf_token, _("Run finished")) as done:
        run = service.sync_job_run(session, actor, job_id)
        if run.status != "succeeded":
            done.msg = _("The run failed: {error}").format(error=run.error)
    return done.redirect("/data/collection")


@router.get("/quality")
def quality(request: Request, session: DbSession, actor: CurrentActor) -> Response:
    """Quality scores per unit (chart) and per entry, with each entry's failing checks."""
    units, entries = service.quality_scores(session, actor)
    english = i18n.get_locale() == "en"
    orgs = {o.id: (o.name_en or o.name) if english else o.name for o in core.organization_all(session)}
    failing = {e.entry_id: [c for c in service.quality_checks(session, actor, e.entry_id) if c.last_failed]
               for e in entries if e.failing and e.entry_id is not None}
    chart = {"names": [orgs.get(u.org_id, "") for u in units], "scores": [u.score for u in units]}
    return render(request, "data/quality.html", {"units": units, "entries": entries, "orgs": orgs,
                                                 "failing": failing, "chart": chart})
