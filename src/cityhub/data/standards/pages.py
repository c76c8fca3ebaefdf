"""Data standards pages: the browser, an element, a code list as a tree, conformance per unit and resource."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import Response

from cityhub.core import service as core
from cityhub.core.deps import CurrentActor, OptionalActor
from cityhub.core.permissions import P
from cityhub.data import policies, service
from cityhub.data.standards.schemas import ELEMENT_TYPES, CodeListCreate, DataElementCreate
from cityhub.kit.errors import NotFound, ValidationFailed
from cityhub.kit.i18n import gettext as _
from cityhub.kit.web import DbSession, NavItem, SessionRoute, form_action, register_nav, render

router = APIRouter(prefix="/data/standards", include_in_schema=False, route_class=SessionRoute)
register_nav(NavItem("data", "Data standards", "/data/standards", order=48, public=True),
             NavItem("data", "Standards conformance", "/data/standards/conformance", order=49,
                     permissions=(P.DATA_READ,)))
Csrf = Annotated[str, Form(max_length=100)]
Short = Annotated[str, Form(max_length=200)]
PAGE = 50
IMPORT_MAX_BYTES = 2 << 20


def _tree(values: list[Any]) -> list[dict[str, Any]]:
    """Codes as nested nodes by parent code (a code whose parent is not in the list is a root)."""
    nodes = {v.code: {"value": v, "children": []} for v in values}
    roots: list[dict[str, Any]] = []
    for v in values:
        parent = nodes.get(v.parent_code) if v.parent_code and v.parent_code != v.code else None
        (parent["children"] if parent is not None else roots).append(nodes[v.code])
    return roots


@router.get("")
def browser(request: Request, session: DbSession, actor: OptionalActor, q: str = Query("", max_length=100),
            status: str = Query("", pattern="^(|draft|published|retired)$"),
            offset: int = Query(0, ge=0, le=1_000_000)) -> Response:
    """Search data elements; the code lists beside them; the bureau drafts new ones."""
    elements, total = service.data_element_list(session, actor, q, status, PAGE, offset)
    return render(request, "data/standards.html", {
        "elements": elements, "total": total, "q": q, "status": status, "offset": offset, "limit": PAGE,
        "code_lists": service.code_list_list(session, actor), "manage": policies.is_bureau(actor),
        "insider": policies.standards_read_all(actor), "types": ELEMENT_TYPES})


@router.get("/elements/{identifier}")
def element(request: Request, session: DbSession, actor: OptionalActor, identifier: str) -> Response:
    """One data element: its attributes, its code list's first codes, the catalog entries following it."""
    el = service.data_element_get(session, actor, identifier)
    code_list: Any = None
    values: list[Any] = []
    if el.code_list_id is not None:
        try:
            code_list, values = service.code_list_get(session, actor, el.code_list_id)
        except NotFound:  # a draft list the public cannot see: the element shows without it
            code_list = None
    return render(request, "data/standard_element.html", {
        "el": el, "code_list": code_list, "values": values[:30], "more": max(0, len(values) - 30),
        "uses": service.data_element_uses(session, actor, identifier), "orgs": core.organization_names(session),
        "manage": policies.is_bureau(actor)})


@router.get("/code-lists/{list_id}")
def code_list(request: Request, session: DbSession, actor: OptionalActor, list_id: uuid.UUID) -> Response:
    """A code list as a tree (GB/T 2260: municipality → 市辖区 / 县 → districts and counties)."""
    head, values = service.code_list_get(session, actor, list_id)
    return render(request, "data/code_list.html", {"cl": head, "tree": _tree(values),
                                                   "manage": policies.is_bureau(actor)})


@router.get("/conformance")
def conformance(request: Request, session: DbSession, actor: CurrentActor) -> Response:
    """Conformance per department (chart and table) and per table resource."""
    departments, resources = service.conformance_report(session, actor)
    orgs = core.organization_names(session)
    chart = {"names": [orgs.get(d.org_id, "") for d in departments],
             "conforming": [d.conforming for d in departments],
             "nonconforming": [d.nonconforming for d in departments],
             "standardised": [d.fields_standardised for d in departments],
             "unstandardised": [d.fields_total - d.fields_standardised for d in departments]}
    return render(request, "data/conformance.html", {"departments": departments, "resources": resources,
                                                     "orgs": orgs, "chart": chart})


@router.get("/conformance/{resource_id}")
def conformance_resource(request: Request, session: DbSession, actor: CurrentActor,
                         resource_id: uuid.UUID) -> Response:
    """One resource's fields against their data elements, with sample offending values."""
    report = service.conformance_resource(session, actor, resource_id)
    return render(request, "data/conformance_resource.html", {
        "r": report, "orgs": core.organization_names(session),
        "can_recheck": actor.is_authenticated and policies.conformance_recheck_allowed(actor, report.org_id)})


@router.post("/conformance/{resource_id}/recheck")
def conformance_recheck(request: Request, session: DbSession, actor: CurrentActor, resource_id: uuid.UUID,
                        csrf_token: Csrf) -> Response:
    """Count the resource's conformance again (the providing unit and the bureau)."""
    with form_action(request, session, csrf_token, _("Rechecked")) as done:
        report = service.conformance_recheck(session, actor, resource_id)
        if report.state == "stale":
            done.msg = _("The table is large: the worker rechecks it shortly")
    return done.redirect(f"/data/standards/conformance/{resource_id}")


# ---- the bureau's forms


@router.post("/elements")
def element_create(request: Request, session: DbSession, actor: CurrentActor, csrf_token: Csrf,
                   identifier: Annotated[str, Form(max_length=40)], name_zh: Short,
                   data_type: Annotated[str, Form(max_length=10)], name_en: Short = "",
                   definition: Annotated[str, Form(max_length=4000)] = "",
                   format: Annotated[str, Form(max_length=40)] = "", unit: Annotated[str, Form(max_length=40)] = "",
                   code_list_id: Annotated[str, Form(max_length=40)] = "") -> Response:
    """Draft a data element from the browser's form."""
    kept = {"identifier": identifier, "name_zh": name_zh, "name_en": name_en, "definition": definition,
            "data_type": data_type, "format": format, "unit": unit, "code_list_id": code_list_id}
    with form_action(request, session, csrf_token, _("Saved"), keep=kept) as done:
        try:
            list_id = uuid.UUID(code_list_id) if code_list_id else None
        except ValueError as exc:
            raise ValidationFailed(_("Code list not found"), field="code_list_id") from exc
        el = service.data_element_create(session, actor, DataElementCreate.model_validate({
            "identifier": identifier, "name_zh": name_zh, "name_en": name_en, "definition": definition,
            "data_type": data_type, "format": format, "unit": unit, "code_list_id": list_id}))
    return done.redirect(f"/data/standards/elements/{el.identifier}" if done.ok else "/data/standards")


@router.post("/elements/{identifier}/{verb}")
def element_move(request: Request, session: DbSession, actor: CurrentActor, identifier: str, verb: str,
                 csrf_token: Csrf) -> Response:
    """Publish or retire a data element."""
    action = {"publish": service.data_element_publish, "retire": service.data_element_retire}.get(verb)
    with form_action(request, session, csrf_token, _("Saved")) as done:
        if action is None:
            raise ValidationFailed(_("Unknown action"), field="verb")
        action(session, actor, identifier)
    return done.redirect(f"/data/standards/elements/{identifier}")


@router.post("/code-lists")
def code_list_create(request: Request, session: DbSession, actor: CurrentActor, csrf_token: Csrf,
                     identifier: Annotated[str, Form(max_length=40)], name: Short, name_en: Short = "",
                     source_standard: Short = "") -> Response:
    """Draft a code list from the browser's form."""
    kept = {"cl_identifier": identifier, "cl_name": name, "cl_name_en": name_en, "source_standard": source_standard}
    with form_action(request, session, csrf_token, _("Saved"), keep=kept) as done:
        cl = service.code_list_create(session, actor, CodeListCreate(
            identifier=identifier, name=name, name_en=name_en, source_standard=source_standard))
    return done.redirect(f"/data/standards/code-lists/{cl.id}" if done.ok else "/data/standards")


@router.post("/code-lists/{list_id}/values")
def code_list_import(request: Request, session: DbSession, actor: CurrentActor, list_id: uuid.UUID,
                     csrf_token: Csrf, file: Annotated[UploadFile, File()]) -> Response:
    """Import codes from an uploaded CSV; refused rows are listed in the message, nothing is written."""
    with form_action(request, session, csrf_token, _("Imported")) as done:
        content = file.file.read(IMPORT_MAX_BYTES + 1)
        if len(content) > IMPORT_MAX_BYTES:
            raise ValidationFailed(_("The file is too large"), field="file")
        report = service.code_list_import(session, actor, list_id, content)
        if report.errors:
            raise ValidationFailed("; ".join(_("Row {row}, {field}: {message}").format(
                row=e.row, field=e.field, message=e.message) for e in report.errors[:10]), field="file")
        done.msg = _("Imported: {added} added, {updated} changed").format(added=report.added, updated=report.updated)
    return done.redirect(f"/data/standards/code-lists/{list_id}")


@router.post("/code-lists/{list_id}/{verb}")
def code_list_move(request: Request, session: DbSession, actor: CurrentActor, list_id: uuid.UUID, verb: str,
                   csrf_token: Csrf) -> Response:
    """Publish or retire a code list."""
    action = {"publish": service.code_list_publish, "retire": service.code_list_retire}.get(verb)
    with form_action(request, session, csrf_token, _("Saved")) as done:
        if action is None:
            raise ValidationFailed(_("Unknown action"), field="verb")
        action(session, actor, list_id)
    return done.redirect(f"/data/standards/code-lists/{list_id}")
