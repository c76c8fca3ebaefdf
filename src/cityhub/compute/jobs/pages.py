"""The batch-jobs page: the units' jobs (state, progress, answer, cancel) and the form that submits one.

The form offers what `jobs.choices` lists, each by its name: the units the member runs jobs for, what to run (a
built-in's operation by its summary, or an upstream version with its method and path), the input (a datastore
table of the unit, own or granted, or a device's telemetry range), the request's fields as `parameter = column`
lines, fixed parameters as `name = value` lines, and for an upstream the unit's application it runs as. It posts
to the same service as `POST /api/v1/compute/jobs`; a refusal comes back as the message naming the field, with
the form filled in as it was.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from cityhub.compute import policies, schemas
from cityhub.compute import service as compute
from cityhub.compute.jobs import choices
from cityhub.core import service as core
from cityhub.core.deps import CurrentActor
from cityhub.kit.errors import Forbidden, ValidationFailed
from cityhub.kit.i18n import gettext as _
from cityhub.kit.pagination import PageParams
from cityhub.kit.settings import get_settings
from cityhub.kit.web import DbSession, SessionRoute, form_action, render

router = APIRouter(prefix="/compute", include_in_schema=False, route_class=SessionRoute)
JOB_PAGE = 100
BADGES = {"succeeded": "ok", "queued": "warn", "running": "warn", "cancelling": "warn", "failed": "err",
          "cancelled": "err"}
FORM_FIELDS = ("org_id", "what", "method", "path", "source_kind", "resource_id", "fields", "params", "device_id",
               "metric", "start", "end", "app_id", "name")


def _cancellable(actor: Any, org_id: uuid.UUID) -> bool:
    try:
        policies.job_cancel(actor, org_id)
    except Forbidden:
        return False
    return True


@router.get("/jobs")
def jobs_page(request: Request, session: DbSession, actor: CurrentActor) -> Response:
    """The caller's units' batch jobs (every unit's for those who read all), and the form to submit one."""
    page = compute.job_list(session, actor, PageParams(limit=JOB_PAGE, offset=0))
    cancellable = {j.id for j in page.items if j.status in ("queued", "running")
                   and _cancellable(actor, j.org_id)}
    counts = {s_: sum(1 for j in page.items if j.status == s_) for s_ in ("queued", "running", "succeeded",
                                                                          "failed")}
    names = {o.id: o.name for o in core.organization_all(session)}
    units = choices.job_units(actor, names)
    return render(request, "compute/jobs.html", {
        "jobs": page.items, "total": page.total, "components": compute.job_components(session, page.items),
        "names": names, "cancellable": cancellable, "counts": counts,
        "labels": {"job": schemas.JobStatus, "kind": schemas.VersionKind, "badge": BADGES},
        "limit": get_settings().compute_job_concurrency,
        "units": units, "versions": choices.job_versions(session) if units else [],
        "tables": choices.job_tables(session, actor, units) if units else [],
        "apps": choices.job_apps(session, actor, units) if units else []})


def _pairs(text: str, field: str, *, typed: bool) -> dict[str, Any]:
    """`name = value` lines (also `name: value`); with `typed`, whole numbers and decimals become numbers."""
    out: dict[str, Any] = {}
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        sep = "=" if "=" in line else ":" if ":" in line else "：" if "：" in line else ""
        if not sep:
            raise ValidationFailed(_("Line {n}: write name = value").format(n=n), field=field)
        name, value = (part.strip() for part in line.split(sep, 1))
        if not name:
            raise ValidationFailed(_("Line {n}: write name = value").format(n=n), field=field)
        out[name] = _typed(value) if typed else value
    return out


def _typed(value: str) -> Any:
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            continue
    return {"true": True, "false": False}.get(value.lower(), value)


def _local(text: str, field: str) -> datetime | None:
    if not text.strip():
        return None
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise ValidationFailed(_("Not a date and time"), field=field) from exc
    return at if at.tzinfo else at.replace(tzinfo=ZoneInfo(get_settings().display_timezone))


def job_request(form: dict[str, str]) -> schemas.JobCreate:
    """The form's fields as the service's request (422 naming the field when one is wrong)."""
    what = form.get("what", "")
    ref, _sep, operation = what.partition("|")
    code, _at, version = ref.partition("@")
    if not code or not version:
        raise ValidationFailed(_("Choose what to run"), field="what")
    if operation and operation != "upstream":  # a built-in's operation: "POST /resident-id"
        method, _sp, path = operation.partition(" ")
    else:
        method, path = form.get("method", "POST") or "POST", form.get("path", "").strip()
        if not path:
            raise ValidationFailed(_("Give the upstream's path, e.g. /licences/verify"), field="path")
    kind = form.get("source_kind", "table")
    body: dict[str, Any] = {"org_id": form.get("org_id") or None, "component_code": code, "version": version,
                            "name": form.get("name", "").strip(), "method": method, "path": path,
                            "source_kind": kind, "params": _pairs(form.get("params", ""), "params", typed=True),
                            "app_id": form.get("app_id") or None}
    if kind == "table":
        body["resource_id"] = form.get("resource_id") or None
        body["fields"] = _pairs(form.get("fields", ""), "fields", typed=False)
    else:
        body.update(device_id=form.get("device_id", "").strip() or None, metric=form.get("metric", "").strip(),
                    start=_local(form.get("start", ""), "start"), end=_local(form.get("end", ""), "end"))
    return schemas.JobCreate.model_validate(body)


@router.post("/jobs")
async def job_submit_form(request: Request, session: DbSession, actor: CurrentActor) -> Response:
    """Queue a job from the page's form, then show the list (the new job first)."""
    raw = await request.form()
    form = {k: str(raw.get(k) or "") for k in FORM_FIELDS}
    with form_action(request, session, str(raw.get("csrf_token") or ""), _("The job is queued"), keep=form) as done:
        compute.job_create(session, actor, job_request(form))
    return done.redirect("/compute/jobs")


@router.post("/jobs/{job_id}/cancel")
def job_cancel_form(request: Request, session: DbSession, actor: CurrentActor, job_id: uuid.UUID,
                    csrf_token: Annotated[str, Form(max_length=100)]) -> Response:
    """Cancel a queued job, or ask a running one to stop."""
    with form_action(request, session, csrf_token, _("The job is cancelled")) as done:
        compute.job_cancel(session, actor, job_id)
    return done.redirect("/compute/jobs")

