"""Digital-economy pages (数字经济): the register in figures with its charts, a park's own page, the bureau's forms.

Mounted with the cockpit's router (`apply/pages.py`, `extra_routers`). What a page shows is what
`apply.economy` lets the caller see (every member of staff reads the register); the forms are the bureau's.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import Response

from cityhub.apply import policies, schemas
from cityhub.apply import service as apply
from cityhub.core import service as core
from cityhub.core.deps import CurrentActor
from cityhub.core.permissions import P
from cityhub.kit import labels
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

router = APIRouter(prefix="/apply/economy", include_in_schema=False, route_class=SessionRoute)
register_nav(NavItem("apply", "Digital economy", "/apply/economy", order=60, permissions=(P.APPLY_READ,)))
Csrf = Annotated[str, Form(max_length=100)]


def _pairs(counts: dict[str, int], kind: str) -> list[dict[str, object]]:
    return [{"name": labels.label(k, kind), "value": n} for k, n in sorted(counts.items(), key=lambda kv: -kv[1])]


@router.get("")
def economy(request: Request, session: DbSession, actor: CurrentActor,
            sector: str | None = Query(None, max_length=30), offset: int = Query(0, ge=0, le=1_000_000)) -> Response:
    """Enterprises against the 1,000 target, per park (bar), per sector (pie), the register, the bureau's forms."""
    return _economy_page(request, session, actor, sector, offset)


def _economy_page(request: Request, session: DbSession, actor: CurrentActor, sector: str | None, offset: int,
                  errors: Any = None) -> Response:
    summary = apply.economy.economy_summary(session, actor)
    page = PageParams(limit=50, offset=offset)
    items, total = apply.economy.enterprise_list(session, actor, page, sector=sector)
    parks = summary["parks"]
    names = {p.id: p.name for p in parks}
    return render(request, "apply/economy.html", {
        "summary": summary, "items": items, "total": total, "page": page, "sector": sector, "parks": parks,
        "projects": apply.projects.key_project_summary(session, actor),
        "park_names": names, "sectors": apply.economy.SECTORS, "sizes": apply.economy.SIZES,
        "districts": [o for o in core.organization_all(session) if o.kind in apply.economy.DISTRICT_KINDS],
        "manages": policies.manages(actor), "errors": errors,
        "chart": {"parks": [p.name for p in parks], "counts": [p.enterprises for p in parks],
                  "sectors": _pairs(summary["by_sector"], "apply.sector"), "label": _("Enterprises")}},
                  status_code=422 if errors else 200)


allow_large_bodies("/apply/economy/enterprises/import")


@router.post("/enterprises/import")
async def enterprise_import(request: Request, session: DbSession, actor: CurrentActor, csrf_token: Csrf,
                            file: Annotated[UploadFile, File()]) -> Response:
    """The bureau imports the register (CSV or XLSX): every row valid, or nothing written and each problem listed."""
    verify_csrf(request, csrf_token)
    content = await file.read(get_settings().upload_max_bytes + 1)
    try:
        with session.begin_nested():
            out = apply.economy.enterprise_import(session, actor, file.filename or "enterprises.csv", content)
    except ValidationFailed as e:
        errors = e.details if isinstance(e.details, list) else [{"field": e.field or "", "message": e.message}]
        return _economy_page(request, session, actor, None, 0, [{"row": d.get("row", ""), **d} for d in errors])
    return redirect_with_message("/apply/economy", _("Imported: %(created)d new, %(updated)d updated") % {
        "created": out.created, "updated": out.updated})


@router.get("/parks/{park_id}")
def park(request: Request, session: DbSession, actor: CurrentActor, park_id: uuid.UUID,
         offset: int = Query(0, ge=0, le=1_000_000)) -> Response:
    """One park: its enterprises per sector (pie) and size (bar), its register, and its key projects."""
    detail = apply.economy.park_get(session, actor, park_id)
    page = PageParams(limit=50, offset=offset)
    items, total = apply.economy.enterprise_list(session, actor, page, park_id=park_id)
    district = next((o.name for o in core.organization_all(session) if o.id == detail["park"].district_org_id), "")
    projects, _n = apply.projects.key_project_list(session, actor, PageParams(limit=200, offset=0), park_id=park_id)
    return render(request, "apply/park.html", {
        "park": detail["park"], "district": district, "items": items, "total": total, "page": page,
        "projects": projects, "project_summary": apply.projects.key_project_summary(session, actor, park_id),
        "names": core.organization_names(session),
        "tones": {"planned": "", "under_construction": "warn", "completed": "ok", "suspended": "err"},
        "chart": {"sectors": _pairs(detail["by_sector"], "apply.sector"),
                  "sizes": [labels.label(s, "apply.size") for s in apply.economy.SIZES],
                  "size_counts": [detail["by_size"].get(s, 0) for s in apply.economy.SIZES],
                  "label": _("Enterprises")}})


@router.post("/parks")
def park_create(request: Request, session: DbSession, actor: CurrentActor, csrf_token: Csrf,
                code: Annotated[str, Form(max_length=40)], name: Annotated[str, Form(max_length=120)],
                district_org_id: Annotated[str, Form(max_length=40)] = "") -> Response:
    """The bureau registers a park."""
    keep = {"park_code": code, "park_name": name}
    with form_action(request, session, csrf_token, _("Park registered"), keep=keep) as done:
        apply.economy.digital_park_create(session, actor, schemas.ParkCreate.model_validate({
            "code": code, "name": name, "district_org_id": district_org_id or None}))
    return done.redirect("/apply/economy")


@router.post("/enterprises")
def enterprise_create(request: Request, session: DbSession, actor: CurrentActor, csrf_token: Csrf,
                      credit_code: Annotated[str, Form(max_length=40)], name: Annotated[str, Form(max_length=200)],
                      sector: Annotated[str, Form(max_length=30)], size: Annotated[str, Form(max_length=10)],
                      park_id: Annotated[str, Form(max_length=40)] = "") -> Response:
    """The bureau registers an enterprise by its checked 统一社会信用代码."""
    keep = {"credit_code": credit_code, "name": name, "sector": sector, "size": size}
    with form_action(request, session, csrf_token, _("Enterprise registered"), keep=keep) as done:
        apply.economy.enterprise_create(session, actor, schemas.EnterpriseCreate.model_validate({
            "credit_code": credit_code, "name": name, "sector": sector, "size": size, "park_id": park_id or None}))
    return done.redirect("/apply/economy")
