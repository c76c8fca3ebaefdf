"""Data pages: catalog search with facets, entry page, publish and review queues, requests, 三清单 boards."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import Response

from cityhub.core import service as core
from cityhub.core.actor import Actor
from cityhub.core.deps import CurrentActor, OptionalActor
from cityhub.core.permissions import P, can
from cityhub.data import entry_form, policies, schemas, service, vocabulary
from cityhub.data.catalog import history
from cityhub.data.catalog.service import is_published
from cityhub.kit import clock, labels
from cityhub.kit.errors import CityhubError
from cityhub.kit.i18n import gettext as _
from cityhub.kit.pagination import MAX_OFFSET
from cityhub.kit.web import (
    DbSession,
    NavItem,
    SessionRoute,
    allow_large_bodies,
    error_text,
    form_action,
    redirect_with_message,
    register_nav,
    render,
    verify_csrf,
)

router = APIRouter(prefix="/data", include_in_schema=False, route_class=SessionRoute)
allow_large_bodies("/data/uploads/")

register_nav(
    NavItem("data", "Data catalog", "/data", order=10, public=True),
    NavItem("data", "Publish", "/data/publish", order=20, permissions=(P.DATA_WRITE,)),
    NavItem("data", "Catalog review", "/data/review", order=30, permissions=(P.DATA_REVIEW, P.DATA_TIER_REVIEW)),
    NavItem("data", "Sharing requests", "/data/requests", order=40, permissions=(P.DATA_READ,)),
    NavItem("data", "Three lists", "/data/lists", order=50, permissions=(P.DATA_READ,)),
)
Csrf = Annotated[str, Form(max_length=100)]
PAGE = 20
Text = Annotated[str, Form(max_length=4000)]

FACET_LABELS = {"provider_org_id": "Provider", "classification": "Classification", "base_db": "Base database",
                "share_type": "Share type", "open_type": "Open type", "format_category": "Format",
                "update_cycle": "Update cycle", "security_grade": "Security grade"}
# The labelled vocabularies of statuses (models registers the enums; pages name them, they import no model).
STATUS = {"entry": "cityhub.data.models.EntryStatus", "change": "cityhub.data.models.ChangeStatus",
          "request": "cityhub.data.models.RequestStatus", "demand": "cityhub.data.models.DemandStatus",
          "objection": "cityhub.data.models.ObjectionStatus", "grant": "data.grant_status",
          "action": "data.request_action"}


def _status_code(value: str, kind: str) -> str:
    """`value` when it is a code of the status vocabulary `kind` (a filter from the query string), else ''."""
    return value if value and value in labels.vocabularies().get(STATUS[kind], {}) else ""


def vocab() -> dict[str, dict[str, str]]:
    """Each entry field's codes with their labels in the request's language (pages show labels, never codes)."""
    return {f: dict(labels.choices(kind)) for f, kind in vocabulary.FIELD_VOCAB.items()}


def org_names(session: Any) -> dict[uuid.UUID, str]:
    """Organisation names in the request's language (the English name on English pages when there is one)."""
    return core.organization_names(session)


def _ctx(session: Any) -> dict[str, Any]:
    orgs = org_names(session)
    return {"vocab": vocab(), "orgs": orgs, "org_names": {str(k): v for k, v in orgs.items()},
            "mask_rules": dict(labels.choices("data.mask_rule")), "data_types": dict(labels.choices("data.data_type")),
            "facet_labels": FACET_LABELS, "S": STATUS, "note_text": service.request_note_text}


@router.get("")
def search(request: Request, session: DbSession, actor: OptionalActor, q: str = Query("", max_length=200),
           offset: int = Query(0, ge=0, le=MAX_OFFSET), sort: str = Query("", max_length=20)) -> Response:
    """Browse and search the catalog with facets."""
    filters: dict[str, list[str]] = {}
    for f in vocabulary.FACETS:
        vals = [v for v in request.query_params.getlist(f) if v]
        if vals:
            filters[f] = vals
    try:
        rows, total, facets = service.catalog_search(session, actor, q, filters, list(vocabulary.FACETS), sort, 20,
                                                     offset)
        msg = ""
    except CityhubError as exc:
        rows, total, facets, msg = [], 0, {}, error_text(exc)
    return render(request, "data/search.html", {
        **_ctx(session), "rows": rows, "total": total, "facets": facets, "q": q, "filters": filters,
        "offset": offset, "sort": sort, "msg": msg})


@router.get("/entries/{entry_id}")
def entry_page(request: Request, session: DbSession, actor: OptionalActor, entry_id: uuid.UUID,
               msg: str | None = None, token: str | None = None) -> Response:
    """One entry: metadata, information items, versions, resources, a masked preview and the request form."""
    entry = service.catalog_entry_view(session, actor, entry_id)
    resources = service.resource_list(session, actor, entry_id)
    versions = service.catalog_entry_versions(session, actor, entry_id)
    preview: dict[str, Any] | None = None
    table = next((r for r in resources if r.kind == "table" and r.table_name), None)
    if table is not None and actor.is_authenticated:
        try:
            with session.begin_nested():
                cols, recs, total, _n = service.datastore_query(session, actor, table.id, limit=10)
            preview = {"fields": cols, "records": recs, "total": total,
                       "labels": {i["name_en"]: i["name_cn"] for i in entry.items or []}}
        except CityhubError as exc:
            preview = {"error": error_text(exc)}
    return render(request, "data/entry.html", {
        **_ctx(session), "e": entry, "resources": resources, "versions": versions, "preview": preview,
        "history": {v.version: history.describe(v.diff) for v in versions},
        "msg": msg, "can_edit": actor.is_authenticated and policies.is_staff(actor, entry.provider_org_id),
        "can_review": actor.is_authenticated and (policies.is_bureau(actor)
                                                  or policies.is_tier_reviewer(actor, entry.tier_org_id)),
        "can_share_upward": actor.is_authenticated and entry.tier_org_id is not None
        and can(actor, P.DATA_TIER_REVIEW, entry.tier_org_id),
        "can_request": actor.is_authenticated and is_published(entry) and entry.share_type != "none"
        and actor.org_id is not None and actor.org_id != entry.provider_org_id})


def _act(request: Request, session: Any, csrf_token: str, url: str, fn: Callable[[], Any], ok: str) -> Response:
    """Run one form action (CSRF, a savepoint, the flash message) and go back to `url`."""
    with form_action(request, session, csrf_token, ok) as done:
        fn()
    return done.redirect(url)


@router.post("/entries/{entry_id}/submit")
def entry_submit(request: Request, session: DbSession, actor: CurrentActor, entry_id: uuid.UUID,
                 csrf_token: Csrf) -> Response:
    """Submit for review."""
    return _act(request, session, csrf_token, f"/data/entries/{entry_id}",
                lambda: service.catalog_entry_submit(session, actor, entry_id), _("Submitted for review"))


@router.post("/entries/{entry_id}/review")
def entry_review(request: Request, session: DbSession, actor: CurrentActor, entry_id: uuid.UUID, csrf_token: Csrf,
                 decision: Annotated[str, Form(pattern="^(approve|reject)$")], note: Text = "") -> Response:
    """Publish or reject."""
    return _act(request, session, csrf_token, "/data/review", lambda:
        service.catalog_entry_review(session, actor, entry_id, decision == "approve", note), _("Saved"))


@router.post("/entries/{entry_id}/share-upward")
def entry_share_upward(request: Request, session: DbSession, actor: CurrentActor, entry_id: uuid.UUID,
                       csrf_token: Csrf, shared: Annotated[bool, Form()]) -> Response:
    """The district shares its entry with the city catalog, or stops."""
    return _act(request, session, csrf_token, f"/data/entries/{entry_id}", lambda:
        service.catalog_entry_share_upward(session, actor, entry_id, shared), _("Saved"))


@router.post("/entries/{entry_id}/offline")
def entry_offline(request: Request, session: DbSession, actor: CurrentActor, entry_id: uuid.UUID,
                  csrf_token: Csrf, reason: Text = "") -> Response:
    """Take offline."""
    return _act(request, session, csrf_token, f"/data/entries/{entry_id}", lambda:
        service.catalog_entry_offline(session, actor, entry_id, reason), _("Saved"))


@router.post("/entries/{entry_id}/request")
def entry_request(request: Request, session: DbSession, actor: CurrentActor, entry_id: uuid.UUID,
                  csrf_token: Csrf, legal_basis: Text, purpose: Text, consuming_system: Annotated[str, Form(
                      max_length=200)], scenario: Text = "", quota: Annotated[int, Form(ge=0)] = 0,
                  items: Annotated[list[str] | None, Form()] = None) -> Response:
    """Request the chosen information items (drafted and submitted at once)."""
    def go() -> None:
        data = schemas.ShareRequestCreate(entry_id=entry_id, items=items or [], legal_basis=legal_basis,
                                          purpose=purpose, consuming_system=consuming_system, scenario=scenario,
                                          quota=quota)
        req = service.share_request_create(session, actor, data)
        service.share_request_submit(session, actor, req.id)
    return _act(request, session, csrf_token, f"/data/entries/{entry_id}", go, _("Request submitted"))


@router.post("/entries/{entry_id}/objection")
def entry_objection(request: Request, session: DbSession, actor: CurrentActor, entry_id: uuid.UUID,
                    csrf_token: Csrf, content: Text) -> Response:
    """Report a catalog error (目录纠错)."""
    return _act(request, session, csrf_token, f"/data/entries/{entry_id}", lambda:
        service.objection_raise(session, actor, schemas.ObjectionCreate(kind="catalog_error", entry_id=entry_id,
                                                                         content=content)), _("Objection raised"))


@router.post("/uploads/{entry_id}")
def upload(request: Request, session: DbSession, actor: CurrentActor, entry_id: uuid.UUID, csrf_token: Csrf,
           file: Annotated[UploadFile, File()], kind: Annotated[str, Form(pattern="^(table|file)$")] = "table"
           ) -> Response:
    """Upload a table (CSV/XLSX) or a file from the entry page."""
    url = f"/data/entries/{entry_id}"
    if kind == "file":
        return _act(request, session, csrf_token, url, lambda: service.resource_file_upload(
            session, actor, entry_id, "", file.filename or "file", file.content_type or "", file.file), _("Uploaded"))
    verify_csrf(request, csrf_token)
    try:  # not in a savepoint: a refused upload is recorded (the attempt counts for the field pass-rate KPI)
        _res, load = service.resource_table_upload(session, actor, entry_id, file.filename or "upload.csv",
                                                   file.file)
    except CityhubError as exc:
        return redirect_with_message(url, error_text(exc))
    if load.accepted:
        return redirect_with_message(url, _("Loaded {n} rows ({enc})").format(n=load.rows_total, enc=load.encoding))
    first = "; ".join(f"行{e['row']} {e['column']}: {e['message']}" for e in load.errors[:5])
    return redirect_with_message(url, _("Nothing loaded: {bad} bad rows. {first}").format(bad=load.rows_bad,
                                                                                           first=first))


def _provider_choices(session: Any, actor: Any) -> list[tuple[uuid.UUID, str]]:
    names = org_names(session)
    return [(o.id, names[o.id]) for o in core.organization_all(session) if policies.is_staff(actor, o.id)
            and (actor.is_platform_admin is False or o.kind != "city")][:200]


def _publish_page(request: Request, session: Any, actor: Any, form: dict[str, Any], msg: str | None = None,
                  status: str = "", offset: int = 0, status_code: int = 200) -> Response:
    rows, total = service.catalog_entry_page_owned(session, actor, status or None, PAGE, offset)
    return render(request, "data/publish.html", {
        **_ctx(session), "rows": rows, "total": total, "offset": offset, "limit": PAGE, "status": status,
        "msg": msg, "failed": status_code >= 400, "form": form, "std_elements": _std_elements(session),
        "provider_choices": _provider_choices(session, actor)}, status_code=status_code)


@router.get("/publish")
def publish(request: Request, session: DbSession, actor: CurrentActor, msg: str | None = None,
            status: str = Query("", pattern="^(|draft|pending_review|published|rejected|offline)$"),
            offset: int = Query(0, ge=0, le=1_000_000)) -> Response:
    """My unit's entries (every state, paged, by status) and the registration form."""
    return _publish_page(request, session, actor, {"values": {}, "rows": []}, msg, status, offset)


@router.post("/publish")
def publish_create(request: Request, session: DbSession, actor: CurrentActor,
                   form: Annotated[entry_form.EntryForm, Form()]) -> Response:
    """Register a draft entry; a refused form comes back with what was typed and the row and field named."""
    verify_csrf(request, form.csrf_token)
    try:
        with session.begin_nested():
            entry = service.catalog_entry_create(session, actor, entry_form.entry_create(form))
    except CityhubError as exc:
        return _publish_page(request, session, actor, entry_form.values_posted(form), error_text(exc),
                             status_code=exc.status_code)
    return redirect_with_message(f"/data/entries/{entry.id}", _("Saved as a draft; submit it for review when ready"))


def _edit_page(request: Request, session: Any, entry: Any, form: dict[str, Any], msg: str | None = None,
               status_code: int = 200) -> Response:
    return render(request, "data/edit.html", {**_ctx(session), "e": entry, "form": form, "msg": msg,
                                              "std_elements": _std_elements(session),
                                              "failed": status_code >= 400}, status_code=status_code)


def _std_elements(session: Any) -> list[Any]:
    """The published data elements an item may follow (the items editor's suggestions)."""
    return service.data_element_list(session, Actor.anonymous(), status="published", limit=500)[0]


@router.get("/entries/{entry_id}/edit")
def entry_edit(request: Request, session: DbSession, actor: CurrentActor, entry_id: uuid.UUID) -> Response:
    """The edit form of an entry (its pending changes, if any, over its published fields)."""
    entry = service.catalog_entry_get(session, actor, entry_id)
    policies.catalog_entry_update(actor, entry.provider_org_id)
    return _edit_page(request, session, entry, entry_form.values_of(entry))


@router.post("/entries/{entry_id}/edit")
def entry_edit_save(request: Request, session: DbSession, actor: CurrentActor, entry_id: uuid.UUID,
                    form: Annotated[entry_form.EntryForm, Form()]) -> Response:
    """Save the changed fields (a published entry keeps them for re-review); errors name the row and field."""
    verify_csrf(request, form.csrf_token)
    entry = service.catalog_entry_get(session, actor, entry_id)
    try:
        with session.begin_nested():
            service.catalog_entry_update(session, actor, entry_id, entry_form.entry_update(form, entry))
    except CityhubError as exc:
        return _edit_page(request, session, entry, entry_form.values_posted(form), error_text(exc),
                          status_code=exc.status_code)
    return redirect_with_message(f"/data/entries/{entry_id}", _("Saved; submit the changes for review when ready"))


@router.get("/review")
def review(request: Request, session: DbSession, actor: CurrentActor, msg: str | None = None,
           offset: int = Query(0, ge=0, le=1_000_000)) -> Response:
    """The bureau's review queue of new entries and changes, oldest first, paged."""
    queue = service.catalog_review_queue(session, actor)
    return render(request, "data/review.html", {
        **_ctx(session), "rows": queue[offset:offset + PAGE], "total": len(queue), "offset": offset,
        "limit": PAGE, "msg": msg, "is_bureau": policies.is_bureau(actor) or bool(policies.tier_reviewer_orgs(actor)),
        "pending_fields": history.pending_fields})


@router.get("/requests")
def requests_page(request: Request, session: DbSession, actor: CurrentActor,
                  box: str = Query("mine", pattern="^(mine|provider|compliance|all)$"),
                  status: str = Query("", max_length=20), offset: int = Query(0, ge=0, le=1_000_000),
                  msg: str | None = None, token: str | None = None) -> Response:
    """Request tracking, the provider review queue and the bureau compliance queue (paged, by status)."""
    status = _status_code(status, "request")
    rows, total = service.share_request_list(session, actor, box=box, status=status or None, limit=PAGE,
                                             offset=offset)
    entries = {e.id: e for e in service.catalog_entries_by_ids(session, [r.entry_id for r in rows])}
    events = {r.id: service.share_request_events(session, actor, r.id) for r in rows}
    item_names = {r.id: _item_names(entries.get(r.entry_id), r.items) for r in rows}
    return render(request, "data/requests.html", {
        **_ctx(session), "rows": rows, "total": total, "box": box, "msg": msg, "entries": entries,
        "events": events, "token": token, "now": clock.now(), "status": status, "offset": offset, "limit": PAGE,
        "item_names": item_names,
        "grants": service.grants_for_requests(session, actor, [r.id for r in rows])})


def _item_names(entry: Any, items: list[str]) -> list[str]:
    """Requested information items by their Chinese names (the field code where the entry no longer has it)."""
    names = {i["name_en"]: i["name_cn"] for i in (entry.items if entry is not None else None) or []}
    return [names.get(code, code) for code in items]


ACTIONS = {
    "submit": lambda s, a, i, n: service.share_request_submit(s, a, i),
    "withdraw": lambda s, a, i, n: service.share_request_withdraw(s, a, i, n),
    "compliance_approve": lambda s, a, i, n: service.share_request_compliance_review(s, a, i, True, n),
    "compliance_reject": lambda s, a, i, n: service.share_request_compliance_review(s, a, i, False, n),
    "provider_approve": lambda s, a, i, n: service.share_request_provider_review(s, a, i, True, n),
    "provider_reject": lambda s, a, i, n: service.share_request_provider_review(s, a, i, False, n),
    "coordinate": lambda s, a, i, n: service.share_request_coordinate(s, a, i, n),
    "close": lambda s, a, i, n: service.share_request_close(s, a, i, n),
    "arbitrate_approve": lambda s, a, i, n: service.share_request_arbitrate(s, a, i, True, n),
    "arbitrate_reject": lambda s, a, i, n: service.share_request_arbitrate(s, a, i, False, n),
    "revoke": lambda s, a, i, n: service.share_request_revoke(s, a, i, n),
}


@router.post("/requests/{request_id}/{action}")
def request_action(request: Request, session: DbSession, actor: CurrentActor, request_id: uuid.UUID, action: str,
                   csrf_token: Csrf, note: Text = "",
                   box: Annotated[str, Form(pattern="^(mine|provider|compliance|all)$")] = "mine") -> Response:
    """One step of a request's workflow; activation shows the consuming-system token once."""
    url = f"/data/requests?box={box}"
    if action == "activate":
        with form_action(request, session, csrf_token, _("Grant active")) as done:
            _grant, token = service.share_request_activate(session, actor, request_id)
        return done.redirect(f"{url}&{urlencode({'token': token})}" if done.ok else url)
    fn = ACTIONS.get(action)
    if fn is None:
        verify_csrf(request, csrf_token)
        return redirect_with_message(url, _("Unknown action"))
    return _act(request, session, csrf_token, url, lambda: fn(session, actor, request_id, note), _("Saved"))


@router.get("/lists")
def lists(request: Request, session: DbSession, actor: CurrentActor, msg: str | None = None,
          demand_status: str = Query("", max_length=20), demands_from: int = Query(0, ge=0, le=1_000_000),
          catalog_from: int = Query(0, ge=0, le=1_000_000)) -> Response:
    """三清单: the need list, the responsibility list with KPI charts, and the catalog list (each list paged)."""
    demand_status = _status_code(demand_status, "demand")
    demands, demand_total = service.demand_list(session, actor, demand_status or None, PAGE, demands_from)
    kpis = service.kpis(session, actor)
    catalog = service.catalog_list_entries(session, actor)
    names = org_names(session)
    for k in kpis:
        k["org_name"] = names.get(k["org_id"], k["org_name"])
    return render(request, "data/lists.html", {
        **_ctx(session), "demands": demands, "kpis": kpis, "demand_total": demand_total,
        "demand_status": demand_status,
        "demands_from": demands_from, "catalog": catalog[catalog_from:catalog_from + PAGE],
        "catalog_total": len(catalog), "catalog_from": catalog_from, "limit": PAGE, "msg": msg,
        "is_bureau": policies.is_bureau(actor),
        "my_entries": service.catalog_entry_list_owned(session, actor),
        "units": [(o.id, names[o.id]) for o in core.organization_all(session)
                  if o.kind in ("department", "district", "county")],
        "chart": {"names": [k["org_name"] for k in kpis[:15]], "score": [k["score"] for k in kpis[:15]],
                  "coverage": [round(100 * (k["coverage"] or 0), 1) for k in kpis[:15]],
                  "pass": [round(100 * (k["field_pass_rate"] or 0), 1) for k in kpis[:15]]}})


@router.post("/demands")
def demand_create(request: Request, session: DbSession, actor: CurrentActor, csrf_token: Csrf,
                  title: Annotated[str, Form(max_length=200)], description: Text, purpose: Text,
                  legal_basis: Text = "") -> Response:
    """File a need."""
    return _act(request, session, csrf_token, "/data/lists", lambda:
        service.demand_create(session, actor, schemas.DemandCreate(title=title, description=description,
                                                                    purpose=purpose, legal_basis=legal_basis)),
        _("Saved"))


@router.post("/demands/{demand_id}/assign")
def demand_assign(request: Request, session: DbSession, actor: CurrentActor, demand_id: uuid.UUID,
                  csrf_token: Csrf, org_id: Annotated[uuid.UUID, Form()]) -> Response:
    """Assign the responsible department."""
    return _act(request, session, csrf_token, "/data/lists", lambda:
        service.demand_assign(session, actor, demand_id, schemas.DemandAssign(org_id=org_id)), _("Saved"))


@router.post("/demands/{demand_id}/answer")
def demand_answer(request: Request, session: DbSession, actor: CurrentActor, demand_id: uuid.UUID,
                  csrf_token: Csrf, entry_id: Annotated[uuid.UUID, Form()], answer: Text = "") -> Response:
    """Answer with an entry."""
    return _act(request, session, csrf_token, "/data/lists", lambda:
        service.demand_answer(session, actor, demand_id, schemas.DemandAnswer(entry_id=entry_id, answer=answer)),
        _("Saved"))


# ---- open-data portal pages (issue 6)

from cityhub.data.base.pages import router as _base_router  # noqa: E402  # mounted with this module's router
from cityhub.data.collection.pages import router as _collection_router  # noqa: E402  # mounted with this module's router
from cityhub.data.portal.pages import router as _portal_router  # noqa: E402  # mounted with this module's router
from cityhub.data.standards.pages import router as _standards_router  # noqa: E402  # mounted with this module's router

extra_routers = [_portal_router, _collection_router, _base_router, _standards_router]
