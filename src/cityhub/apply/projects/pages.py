"""Key-project pages (数字经济重点项目): the register, a project with its investment chart, and their forms.

The register has its filters (park, status, district) and figures; a project its progress history; the forms
register, change, move on, report, delete and import.

Mounted with the cockpit's router (`apply/pages.py`, `extra_routers`). Every member of staff reads the register;
the forms show for those who may use them (the owner unit's staff and the bureau; the import is the bureau's) and
the service decides again.
"""

from __future__ import annotations

import math
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import Response

from cityhub.apply import policies
from cityhub.apply import service as apply
from cityhub.apply.projects import schemas as ps
from cityhub.apply.projects.schemas import ProjectStatus
from cityhub.core import service as core
from cityhub.core.deps import CurrentActor
from cityhub.core.permissions import P
from cityhub.kit import clock
from cityhub.kit.errors import ValidationFailed
from cityhub.kit.i18n import gettext as _
from cityhub.kit.pagination import PageParams
from cityhub.kit.settings import get_settings
from cityhub.kit.web import (
    DbSession,
    NavItem,
    SessionRoute,
    allow_large_bodies,
    form_action,
    redirect_with_message,
    register_nav,
    render,
    verify_csrf,
)

BASE = "/apply/economy/projects"
router = APIRouter(prefix=BASE, include_in_schema=False, route_class=SessionRoute)
register_nav(NavItem("apply", "Key projects", BASE, order=65, permissions=(P.APPLY_READ,)))
Csrf = Annotated[str, Form(max_length=100)]
Text = Annotated[str, Form(max_length=4000)]
Short = Annotated[str, Form(max_length=200)]
TONES = {"planned": "", "under_construction": "warn", "completed": "ok", "suspended": "err"}
FIELDS = ("name", "owner_org_id", "sector", "investment_total", "park_id", "lead_enterprise_id", "district_org_id",
          "planned_start", "planned_finish", "description")


def _number(text: str, field: str) -> float | str:
    """A form's number; anything else a 422 naming the field (empty passes through for the schema to judge)."""
    if not text.strip():
        return ""
    try:
        value = float(text.replace(",", ""))
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ValidationFailed(_("Enter a number"), field=field)
    return value


def _form(values: dict[str, str]) -> dict[str, Any]:
    """The form's fields as a schema's input: blanks are None (a cleared reference or date)."""
    out: dict[str, Any] = {k: (v or None) for k, v in values.items()}
    if values.get("description") is not None:
        out["description"] = values["description"]
    if "investment_total" in values:
        out["investment_total"] = _number(values["investment_total"], "investment_total") or None
    return out


def _choices(session: DbSession, actor: CurrentActor) -> dict[str, Any]:
    """What the forms offer: units the viewer may act for, districts, parks, enterprises (by park), sectors."""
    orgs = core.organization_all(session)
    return {"owners": [o for o in orgs if policies.may_report(actor, o.id)],
            "districts": [o for o in orgs if o.kind in apply.economy.DISTRICT_KINDS],
            "parks": apply.economy.park_list(session, actor), "sectors": apply.economy.SECTORS,
            "statuses": list(ProjectStatus)}


def _enterprises(session: DbSession, actor: CurrentActor, park_id: uuid.UUID | None) -> list[Any]:
    return apply.economy.enterprise_list(session, actor, PageParams(limit=500, offset=0), park_id=park_id)[0]


@router.get("")
def key_projects(request: Request, session: DbSession, actor: CurrentActor,
                 park_id: uuid.UUID | None = None, status: ProjectStatus | None = None,
                 district_org_id: uuid.UUID | None = None, offset: int = Query(0, ge=0, le=1_000_000)) -> Response:
    """The register: figures, investment per park (bar), the filtered list, the forms."""
    return _list_page(request, session, actor, park_id, status, district_org_id, offset)


def _list_page(request: Request, session: DbSession, actor: CurrentActor, park_id: uuid.UUID | None,
               status: ProjectStatus | None, district_org_id: uuid.UUID | None, offset: int,
               errors: Any = None) -> Response:
    summary = apply.projects.key_project_summary(session, actor)
    page = PageParams(limit=50, offset=offset)
    items, total = apply.projects.key_project_list(session, actor, page, park_id=park_id, status=status,
                                                   district_org_id=district_org_id)
    choices = _choices(session, actor)
    parks = [r for r in summary.by_park if r["park_id"]]
    return render(request, "apply/key_projects.html", {
        **choices, "summary": summary, "items": items, "total": total, "page": page, "names":
        core.organization_names(session), "park_names": {p.id: p.name for p in choices["parks"]},
        "filters": {"park_id": park_id, "status": status, "district_org_id": district_org_id},
        "tones": TONES, "manages": policies.manages(actor), "errors": errors,
        "enterprises": _enterprises(session, actor, None) if choices["owners"] else [],
        "chart": {"parks": [r["name"] for r in parks], "total": [r["investment_total"] for r in parks],
                  "completed": [r["investment_completed"] for r in parks],
                  "labels": {"total": _("Total investment"), "completed": _("Investment completed")}}},
        status_code=422 if errors else 200)


@router.post("")
def key_project_create(request: Request, session: DbSession, actor: CurrentActor, csrf_token: Csrf,
                       name: Short, owner_org_id: Short, sector: Short, investment_total: Short,
                       park_id: Short = "", lead_enterprise_id: Short = "", district_org_id: Short = "",
                       planned_start: Short = "", planned_finish: Short = "", description: Text = "") -> Response:
    """Register a key project of one's unit (the bureau for any unit)."""
    values = {"name": name, "owner_org_id": owner_org_id, "sector": sector, "investment_total": investment_total,
              "park_id": park_id, "lead_enterprise_id": lead_enterprise_id, "district_org_id": district_org_id,
              "planned_start": planned_start, "planned_finish": planned_finish, "description": description}
    created: list[uuid.UUID] = []
    with form_action(request, session, csrf_token, _("Key project registered"), keep=values) as done:
        created.append(apply.projects.key_project_create(session, actor,
                                                         ps.KeyProjectCreate.model_validate(_form(values))).id)
    return done.redirect(f"{BASE}/{created[0]}" if done.ok and created else BASE)


allow_large_bodies(f"{BASE}/import")


@router.post("/import")
async def key_project_import(request: Request, session: DbSession, actor: CurrentActor, csrf_token: Csrf,
                             file: Annotated[UploadFile, File()]) -> Response:
    """The bureau imports the register (CSV or XLSX): every row valid, or nothing written and each problem listed."""
    verify_csrf(request, csrf_token)
    content = await file.read(get_settings().upload_max_bytes + 1)
    try:
        with session.begin_nested():
            out = apply.projects.key_project_import(session, actor, file.filename or "key-projects.csv", content)
    except ValidationFailed as e:
        errors = e.details if isinstance(e.details, list) else [{"field": e.field or "", "message": e.message}]
        return _list_page(request, session, actor, None, None, None, 0,
                          [{"row": d.get("row", ""), **d} for d in errors])
    return redirect_with_message(BASE, _("Imported: %(created)d new, %(updated)d updated") % {
        "created": out.created, "updated": out.updated})


@router.get("/{project_id}")
def key_project(request: Request, session: DbSession, actor: CurrentActor, project_id: uuid.UUID) -> Response:
    """One project: its facts, investment completed over time against the total (line), its reports, the forms."""
    p = apply.projects.key_project_get(session, actor, project_id)
    reports = apply.projects.key_project_reports(session, actor, project_id)
    choices = _choices(session, actor)
    edits = apply.projects.may_change(actor, p)
    lead = next((e for e in _enterprises(session, actor, None) if e.id == p.lead_enterprise_id), None) \
        if p.lead_enterprise_id else None
    chart = {"points": [[r.as_of.isoformat(), r.investment_completed] for r in reports],
             "total": p.investment_total,
             "start": p.planned_start.isoformat() if p.planned_start else None,
             "finish": p.planned_finish.isoformat() if p.planned_finish else None,
             "labels": {"completed": _("Investment completed to date"), "total": _("Total investment"),
                        "unit": _("10,000 yuan")}}
    return render(request, "apply/key_project.html", {
        **choices, "p": p, "reports": list(reversed(reports)), "chart": chart, "tones": TONES,
        "names": core.organization_names(session), "park_names": {k.id: k.name for k in choices["parks"]},
        "lead": lead, "edits": edits and p.status != ProjectStatus.COMPLETED,
        "reports_open": edits and p.status in apply.projects.REPORTABLE,
        "moves": sorted(apply.projects.FLOW[p.status]) if edits else [],
        "deletable": edits and p.status == ProjectStatus.PLANNED,
        "enterprises": _enterprises(session, actor, None) if edits else [],
        "today": clock.now().date().isoformat()})


@router.post("/{project_id}")
def key_project_update(request: Request, session: DbSession, actor: CurrentActor, project_id: uuid.UUID,
                       csrf_token: Csrf, name: Short, owner_org_id: Short, sector: Short, investment_total: Short,
                       park_id: Short = "", lead_enterprise_id: Short = "", district_org_id: Short = "",
                       planned_start: Short = "", planned_finish: Short = "", description: Text = "") -> Response:
    """Change a project (owner unit or bureau)."""
    values = {"name": name, "owner_org_id": owner_org_id, "sector": sector, "investment_total": investment_total,
              "park_id": park_id, "lead_enterprise_id": lead_enterprise_id, "district_org_id": district_org_id,
              "planned_start": planned_start, "planned_finish": planned_finish, "description": description}
    with form_action(request, session, csrf_token, _("Key project saved"), keep=values) as done:
        apply.projects.key_project_update(session, actor, project_id,
                                          ps.KeyProjectUpdate.model_validate(_form(values)))
    return done.redirect(f"{BASE}/{project_id}")


@router.post("/{project_id}/reports")
def key_project_report(request: Request, session: DbSession, actor: CurrentActor, project_id: uuid.UUID,
                       csrf_token: Csrf, as_of: Short, investment_completed: Short,
                       milestone: Annotated[str, Form(max_length=2000)] = "") -> Response:
    """Report investment completed to date and the milestone (owner unit or bureau)."""
    keep = {"as_of": as_of, "investment_completed": investment_completed, "milestone": milestone}
    with form_action(request, session, csrf_token, _("Progress reported"), keep=keep) as done:
        apply.projects.key_project_report(session, actor, project_id, ps.KeyProjectReportCreate.model_validate({
            "as_of": as_of, "milestone": milestone,
            "investment_completed": _number(investment_completed, "investment_completed")}))
    return done.redirect(f"{BASE}/{project_id}")


@router.post("/{project_id}/transition")
def key_project_transition(request: Request, session: DbSession, actor: CurrentActor, project_id: uuid.UUID,
                           csrf_token: Csrf, status: Annotated[str, Form(max_length=20)],
                           note: Annotated[str, Form(max_length=500)] = "") -> Response:
    """Start, suspend, resume or complete a project."""
    with form_action(request, session, csrf_token, _("Project status changed")) as done:
        apply.projects.key_project_transition(session, actor, project_id, status, note)
    return done.redirect(f"{BASE}/{project_id}")


@router.post("/{project_id}/delete")
def key_project_delete(request: Request, session: DbSession, actor: CurrentActor, project_id: uuid.UUID,
                       csrf_token: Csrf) -> Response:
    """Delete a project still planned."""
    with form_action(request, session, csrf_token, _("Key project deleted")) as done:
        apply.projects.key_project_delete(session, actor, project_id)
    return done.redirect(BASE if done.ok else f"{BASE}/{project_id}")
