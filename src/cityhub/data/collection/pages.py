"""The collection page: a unit's sources and sync jobs, run on demand, with the run history chart (issue 20)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from cityhub.core import service as core
from cityhub.core.deps import CurrentActor
from cityhub.core.permissions import P, can
from cityhub.data import policies, service
from cityhub.data.collection.schemas import JobCreate, SourceCreate
from cityhub.kit import labels
from cityhub.kit.errors import ValidationFailed
from cityhub.kit.i18n import gettext as _
from cityhub.kit.web import DbSession, NavItem, SessionRoute, form_action, register_nav, render, to_local

router = APIRouter(prefix="/data/collection", include_in_schema=False, route_class=SessionRoute)
register_nav(NavItem("data", "Data collection", "/data/collection", order=45, permissions=(P.DATA_READ,)),
             NavItem("data", "Data quality", "/data/collection/quality", order=46, permissions=(P.DATA_READ,)))
Csrf = Annotated[str, Form(max_length=100)]
TASK_PAGE = 50


@router.get("")
def collection(request: Request, session: DbSession, actor: CurrentActor, msg: str = "") -> Response:
    """Sources and jobs the caller sees; the latest runs as a chart and a table."""
    sources = service.sync_source_list(session, actor)
    jobs = service.sync_job_list(session, actor)
    runs = service.sync_runs_recent(session, actor, 60)
    names = {s.id: s.name for s in sources}
    job_names = {j.id: j.name for j in jobs}
    entries = {e.id: e.title for e in service.catalog_entries_by_ids(session, [j.entry_id for j in jobs])}
    orgs = core.organization_names(session)
    chart = {"at": [to_local(r.started_at) for r in reversed(runs)],
             "job": [job_names.get(r.job_id, "") for r in reversed(runs)],
             "inserted": [r.rows_inserted for r in reversed(runs)],
             "updated": [r.rows_updated for r in reversed(runs)],
             "rejected": [r.rows_rejected for r in reversed(runs)],
             "failed": [1 if r.status == "failed" else 0 for r in reversed(runs)]}
    writable = [] if not actor.is_authenticated else sorted(
        {o for o in ([actor.org_id] if actor.org_id else []) if can(actor, P.DATA_COLLECT, o)} | {
            s.org_id for s in sources if can(actor, P.DATA_COLLECT, s.org_id)}, key=str)
    own_entries = [e for e in service.catalog_entry_list_owned(session, actor)
                   if can(actor, P.DATA_COLLECT, e.provider_org_id)] if writable else []
    return render(request, "data/collection.html", {
        "writable_orgs": writable, "own_entries": own_entries,
        "own_sources": [s for s in sources if can(actor, P.DATA_COLLECT, s.org_id)],
        "job_sources": [s for s in sources if can(actor, P.DATA_COLLECT, s.org_id) and s.kind not in ("ckan", "dcat")],
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


@router.post("/sources/{source_id}/harvest")
def source_harvest(request: Request, session: DbSession, actor: CurrentActor, source_id: uuid.UUID,
                   csrf_token: Csrf) -> Response:
    """Harvest a CKAN source now from the page; the run's counts (or its error) are the flash message."""
    with form_action(request, session, csrf_token, _("Harvest finished")) as done:
        run = service.sync_source_harvest(session, actor, source_id)
        if run.status != "succeeded":
            done.msg = _("The harvest failed: {error}").format(error=run.error)
        else:
            done.msg = _("Harvest finished: {created} new, {updated} changed, {unchanged} unchanged, {gone} gone "
                         "from the remote, {failed} failed").format(
                created=run.created, updated=run.updated, unchanged=run.unchanged, gone=run.gone, failed=run.failed)
    return done.redirect("/data/collection")


@router.get("/quality")
def quality(request: Request, session: DbSession, actor: CurrentActor, msg: str = "",
            status: str = Query("", pattern="^(|open|resolved|closed)$"), org_id: str = Query("", max_length=40),
            overdue: bool = False, offset: int = Query(0, ge=0, le=1_000_000)) -> Response:
    """Quality scores per unit (chart) and per entry, each entry's failing checks, and the quality tasks.

    The tasks (整改任务) per unit, with filters (status, unit, overdue) and the resolve form.
    """
    units, entries = service.quality_scores(session, actor)
    orgs = core.organization_names(session)
    failing = {e.entry_id: [c for c in service.quality_checks(session, actor, e.entry_id) if c.last_failed]
               for e in entries if e.failing and e.entry_id is not None}
    chart = {"names": [orgs.get(u.org_id, "") for u in units], "scores": [u.score for u in units]}
    try:
        unit = uuid.UUID(org_id) if org_id else None
    except ValueError as exc:
        raise ValidationFailed(_("Not an organisation id"), field="org_id") from exc
    tasks, total = service.quality_task_list(session, actor, service.TaskFilter(status or None, unit, overdue),
                                             TASK_PAGE, offset)
    task_units = sorted({u.org_id for u in units} | {t.org_id for t, _title, _late in tasks},
                        key=lambda o: orgs.get(o, ""))
    return render(request, "data/quality.html", {
        "units": units, "entries": entries, "orgs": orgs, "failing": failing, "chart": chart, "msg": msg,
        "tasks": tasks, "total": total, "offset": offset, "limit": TASK_PAGE, "task_units": task_units,
        "flt": {"status": status, "org_id": org_id, "overdue": overdue},
        "can_resolve": {t.id for t, _title, _late in tasks if policies.is_staff(actor, t.org_id)},
        "statuses": labels.choices(service.QualityTaskStatus)})


@router.post("/quality/tasks/{task_id}/resolve")
def quality_task_resolve(request: Request, session: DbSession, actor: CurrentActor, task_id: uuid.UUID,
                         csrf_token: Csrf, note: Annotated[str, Form(max_length=2000)] = "") -> Response:
    """The responsible unit reports a quality task resolved; the next run verifies it."""
    with form_action(request, session, csrf_token, _("Reported resolved; the next quality run verifies it")) as done:
        service.quality_task_resolve(session, actor, task_id, note)
    return done.redirect("/data/collection/quality")


Text = Annotated[str, Form(max_length=10_000)]


@router.post("/sources")
def source_create(request: Request, session: DbSession, actor: CurrentActor, csrf_token: Csrf,
                  org_id: Annotated[uuid.UUID, Form()], name: Annotated[str, Form(max_length=120)],
                  kind: Annotated[str, Form(max_length=10)], url: Annotated[str, Form(max_length=500)] = "",
                  password: Annotated[str, Form(max_length=500)] = "",
                  file_format: Annotated[str, Form(max_length=10)] = "csv") -> Response:
    """Register a source from the page (the password is encrypted and never shown again)."""
    keep = {"_form": "source", "org_id": str(org_id), "name": name, "kind": kind, "url": url,
            "file_format": file_format}  # not the password
    with form_action(request, session, csrf_token, _("Source registered"), keep=keep) as done:
        service.sync_source_create(session, actor, SourceCreate.model_validate({
            "org_id": org_id, "name": name, "kind": kind, "url": url, "password": password,
            "options": {"format": file_format} if kind == "files" else {}}))
    return done.redirect("/data/collection")


@router.post("/jobs")
def job_create(request: Request, session: DbSession, actor: CurrentActor, csrf_token: Csrf,
               name: Annotated[str, Form(max_length=120)], source_id: Annotated[uuid.UUID, Form()],
               entry_id: Annotated[uuid.UUID, Form()], mapping: Text, key: Annotated[str, Form(max_length=500)],
               query: Text = "", mode: Annotated[str, Form(max_length=12)] = "full",
               cursor_column: Annotated[str, Form(max_length=63)] = "",
               schedule: Annotated[str, Form(max_length=100)] = "") -> Response:
    """Define a sync job from the page: the mapping as `item = source column` lines."""
    keep = {"_form": "job", "name": name, "source_id": str(source_id), "entry_id": str(entry_id), "mapping": mapping,
            "key": key, "query": query, "mode": mode, "cursor_column": cursor_column, "schedule": schedule}
    with form_action(request, session, csrf_token, _("Sync job saved"), keep=keep) as done:
        pairs = [line.split("=", 1) for line in mapping.splitlines() if line.strip()]
        if any(len(p) != 2 for p in pairs):
            raise ValidationFailed(_("Write one 'item = source column' per line"), field="mapping")
        service.sync_job_create(session, actor, JobCreate.model_validate({
            "name": name, "source_id": source_id, "entry_id": entry_id, "query": query,
            "mapping": {t.strip(): c.strip() for t, c in pairs},
            "key": [k.strip() for k in key.split(",") if k.strip()], "mode": mode, "cursor_column": cursor_column,
            "schedule": schedule}))
    return done.redirect("/data/collection")
