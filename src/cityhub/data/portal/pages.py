"""Public open-data portal pages (no login): home, dataset search, dataset page, organisations, registration.

Everything here shows the open catalog only (published, 无条件开放 or 有条件开放) whoever looks; row previews go
through `portal.rows`, so the public sees open items only and grantees their granted items, masked.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, NamedTuple

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from cityhub.core import service as core
from cityhub.core.deps import AccountActor, OptionalActor, session_start
from cityhub.data import policies, schemas, vocabulary
from cityhub.data.catalog import service as catalog
from cityhub.data.catalog.search import Term, catalog_search
from cityhub.data.catalog.tiers import publisher_org_id
from cityhub.data.datastore.reads import open_items
from cityhub.data.portal import service as portal
from cityhub.data.portal.ckan import LICENSE_BY_OPEN
from cityhub.data.sharing import grants
from cityhub.data.sharing.service import request_note_text
from cityhub.kit import i18n, labels
from cityhub.kit.errors import CityhubError, NotFound
from cityhub.kit.i18n import gettext as _
from cityhub.kit.settings import get_settings
from cityhub.kit.web import (
    DbSession,
    NavItem,
    SessionRoute,
    error_text,
    form_action,
    register_nav,
    render,
)

router = APIRouter(include_in_schema=False, route_class=SessionRoute)
register_nav(NavItem("data", "Open data portal", "/portal", order=5, public=True))
Csrf = Annotated[str, Form(max_length=100)]
Text = Annotated[str, Form(max_length=2000)]
PAGE = 20
NUMERIC = ("N", "Y", "I", "B", "F")
PORTAL_FACETS = ("provider_org_id", "open_type", "base_db", "theme", "tags", "update_cycle", "format_category")


class OrgRef(NamedTuple):
    """What the portal shows of a department: its code (for links) and its name in the request's language."""

    code: str
    name: str


def _orgs(session: Any) -> dict[str, OrgRef]:
    english = i18n.get_locale() == "en"
    return {str(o.id): OrgRef(o.code, (o.name_en or o.name) if english else o.name)
            for o in core.organization_all(session)}


def _vocab() -> dict[str, dict[str, str]]:
    """Codes of the fields the portal shows, with their labels in the request's language."""
    return {f: dict(labels.choices(kind)) for f, kind in vocabulary.FIELD_VOCAB.items()}


@router.get("/portal")
def home(request: Request, session: DbSession, actor: OptionalActor) -> Response:
    """Portal home: counts, charts by department, theme and downloads, the newest datasets."""
    stats = portal.portal_stats(session)
    recent, _t, _f = catalog_search(session, _public_view(actor), "", {}, [], "updated", 8, 0, open_only=True)
    orgs = _orgs(session)
    for row in stats["by_org"]:
        row["name"] = orgs[row["id"]].name if row["id"] in orgs else row["name"]
    for row in stats["by_theme"]:
        row["name"] = labels.label(row["code"], "data.theme") if row["kind"] == "theme" else \
            labels.label(row["code"], "data.base_db") if row["code"] else _("No theme")
    return render(request, "portal/home.html", {
        "stats": stats, "recent": recent, "orgs": orgs, "vocab": _vocab(),
        "chart_labels": {"unconditional": labels.label("unconditional", "data.open_type"),
                         "conditional": labels.label("conditional", "data.open_type"),
                         "downloads": _("Downloads"), "api_calls": _("API calls"), "datasets": _("Datasets")}})


def _public_view(actor: Any) -> Any:
    """The portal shows the open catalog to everybody: insiders browse it as the public does."""
    return actor if not policies.is_insider(actor) else core.Actor.anonymous()


@router.get("/dataset")
def search(request: Request, session: DbSession, actor: OptionalActor, q: str = Query("", max_length=200),
           page: int = Query(1, ge=1, le=10_000), sort: str = Query("", max_length=20)) -> Response:
    """Search the open catalog with facets (department, open type, base database, theme, tags, cycle, format)."""
    filters: dict[str, list[str]] = {}
    for f in PORTAL_FACETS:
        vals = [v for v in request.query_params.getlist(f) if v]
        if vals:
            filters[f] = vals
    theme = filters.pop("theme", None)
    terms = [Term("theme", tuple(theme))] if theme else []
    msg = ""
    try:
        rows, total, facets = catalog_search(session, _public_view(actor), q, filters, list(PORTAL_FACETS),
                                             sort if sort in ("updated", "title", "views", "code") else "",
                                             PAGE, (page - 1) * PAGE, terms=terms, open_only=True, facet_limit=12)
    except CityhubError as exc:
        rows, total, facets, msg = [], 0, {}, error_text(exc)
    if theme:
        filters["theme"] = theme
    return render(request, "portal/search.html", {
        "rows": rows, "total": total, "facets": facets, "q": q, "filters": filters, "page": page,
        "pages": max(1, (total + PAGE - 1) // PAGE), "sort": sort, "orgs": _orgs(session), "vocab": _vocab(),
        "msg": msg, "facet_labels": {"provider_org_id": _("Department"), "open_type": _("Open type"),
                                     "base_db": _("Base database"), "theme": _("Theme"), "tags": _("Tags"),
                                     "update_cycle": _("Update cycle"), "format_category": _("Format")}})


def _preview(session: Any, actor: Any, resources: list[Any]) -> dict[str, Any] | None:
    table = next((r for r in resources if r.kind == "table" and r.table_name), None)
    if table is None:
        return None
    try:
        with session.begin_nested():
            cols, recs, total, _n, entry, _r = portal.rows(session, actor, table.id, limit=20)
    except CityhubError as exc:
        return {"error": error_text(exc), "resource": table}
    by = {i["name_en"]: i for i in entry.items or []}
    numeric = [c for c in cols if by.get(c, {}).get("data_type") in NUMERIC]
    series = [{"name": by[c].get("name_cn", c), "data": [_num(r.get(c)) for r in recs]} for c in numeric[:3]]
    return {"fields": cols, "labels": {c: by.get(c, {}).get("name_cn", c) for c in cols}, "records": recs,
            "total": total, "resource": table, "chart": {"x": [r.get("_id") for r in recs], "series": series}}


def _num(v: Any) -> float | None:
    try:
        return float(v) if v is not None else None
    except (TypeError, ValueError):
        return None


@router.get("/dataset/{name}")
def dataset(request: Request, session: DbSession, actor: OptionalActor, name: str, msg: str | None = None,
            token: str | None = None) -> Response:
    """A dataset: metadata, information items, resources and downloads, preview, quick chart, API examples."""
    entry = portal.open_entry(session, _public_view(actor), name)
    catalog.catalog_entry_view(session, core.Actor.anonymous(), entry.id)
    resources = catalog.resource_list(session, core.Actor.anonymous(), entry.id)
    applications = [a for a in portal.open_application_list(session, actor) if a.entry_id == entry.id] \
        if portal.is_public_user(actor) else []
    grant = grants.usable_grant(session, actor, entry.id) if actor.is_authenticated else None
    base = str(request.base_url).rstrip("/")
    table = next((r for r in resources if r.kind == "table" and r.table_name), None)
    examples = {
        "show": f"curl '{base}/api/3/action/package_show?id={entry.name}'",
        "python": (f"import ckanapi\nsite = ckanapi.RemoteCKAN('{base}')\n"
                   f"pkg = site.action.package_show(id='{entry.name}')"),
    }
    if table is not None:
        examples["rows"] = f"curl '{base}/api/3/action/datastore_search?resource_id={table.id}&limit=5'"
        examples["sql"] = (f"curl -G '{base}/api/3/action/datastore_search_sql' --data-urlencode "
                           f"'sql=SELECT count(*) FROM \"{table.id}\"'")
        if entry.open_type == "conditional":
            examples["rows"] += " -H 'Authorization: <your token>'"
    open_names = set(open_items(entry))
    return render(request, "portal/dataset.html", {
        "e": entry, "org": _orgs(session).get(str(publisher_org_id(entry))), "resources": resources,
        "preview": _preview(session, actor, resources), "examples": examples, "vocab": _vocab(),
        "open_names": open_names, "data_types": dict(labels.choices("data.data_type")),
        "request_status": "cityhub.data.models.RequestStatus", "applications": applications, "grant": grant,
        "is_public_user": portal.is_public_user(actor), "msg": msg, "token": token,
        "downloads": portal.downloads_of(session, entry.id), "license": LICENSE_BY_OPEN.get(entry.open_type)})


@router.get("/organization")
def organizations(request: Request, session: DbSession, actor: OptionalActor) -> Response:
    """Departments that open data, with their dataset counts."""
    _rows, _total, facets = catalog_search(session, core.Actor.anonymous(), "", {}, ["publisher_org_id"], "", 0, 0,
                                           open_only=True)  # a district's entries under the district (decision 0012)
    orgs = _orgs(session)
    items = [(orgs[k], n) for k, n in facets.get("publisher_org_id", {}).items() if k in orgs]
    items.sort(key=lambda pair: (-pair[1], pair[0].name))
    return render(request, "portal/organizations.html", {"items": items})


@router.get("/organization/{code}")
def organization(request: Request, session: DbSession, actor: OptionalActor, code: str,
                 page: int = Query(1, ge=1, le=10_000)) -> Response:
    """One department: its open datasets."""
    org = core.organization_by_code(session, code)
    if org is None or org.code == portal.PUBLIC_ORG_CODE:
        raise NotFound(_("Organisation not found"))
    rows, total, facets = catalog_search(session, core.Actor.anonymous(), "", {"publisher_org_id": [str(org.id)]},
                                         ["open_type", "base_db"], "updated", PAGE, (page - 1) * PAGE, open_only=True)
    return render(request, "portal/organization.html", {
        "org": org, "org_name": _orgs(session)[str(org.id)].name, "rows": rows, "total": total, "facets": facets,
        "page": page, "vocab": _vocab(),
        "pages": max(1, (total + PAGE - 1) // PAGE), "chart": [{"name": labels.label(k, "data.open_type"), "value": v}
                                                               for k, v in facets.get("open_type", {}).items()]})


@router.get("/portal/register")
def register_page(request: Request, actor: OptionalActor, msg: str | None = None) -> Response:
    """The registration form for public users."""
    return render(request, "portal/register.html", {"msg": msg})


@router.post("/portal/register")
def register(request: Request, session: DbSession, actor: OptionalActor, csrf_token: Csrf,
             username: Annotated[str, Form(max_length=64)], email: Annotated[str, Form(max_length=200)],
             password: Annotated[str, Form(max_length=200)], display_name: Annotated[str, Form(max_length=100)] = ""
             ) -> Response:
    """Register, then log in at once."""
    welcome = _("Welcome! You can now apply for datasets open on conditions.")
    keep = {"username": username, "email": email, "display_name": display_name}  # not the password
    with form_action(request, session, csrf_token, welcome, keep=keep) as done:
        user = portal.public_user_register(session, actor, schemas.PublicUserRegister(
            username=username, email=email, password=password, display_name=display_name))
    if not done.ok:
        return done.redirect("/portal/register")
    session_start(request, user.id, user.session_version)
    return done.redirect("/portal/me")


@router.get("/portal/me")
def me(request: Request, session: DbSession, actor: AccountActor, msg: str | None = None,
       token: str | None = None) -> Response:
    """A public user's applications, their states and grants."""
    return render(request, "portal/me.html", {
        **_applications(session, actor), "msg": msg, "token": token, "is_public_user": portal.is_public_user(actor)})


def _applications(session: Any, actor: Any) -> dict[str, Any]:
    apps = portal.open_application_list(session, actor)
    return {"apps": apps, "note_text": request_note_text,
            "entries": {e.id: e for e in catalog.catalog_entries_by_ids(session, [a.entry_id for a in apps])},
            "grants": grants.grants_for_requests(session, core.Actor.system("portal"), [a.id for a in apps])}


@router.post("/portal/applications")
def apply(request: Request, session: DbSession, actor: AccountActor, csrf_token: Csrf,
          entry_id: Annotated[uuid.UUID, Form()], purpose: Text, scope: Text = "", scenario: Text = "") -> Response:
    """Apply for a 有条件开放 dataset; the provider reviews it."""
    with form_action(request, session, csrf_token, _("Application sent to the providing department")) as done:
        portal.open_application_create(session, actor, schemas.OpenApplicationCreate(
            entry_id=entry_id, purpose=purpose, scope=scope, scenario=scenario))
    return done.redirect("/portal/me")


@router.post("/portal/applications/{req_id}/activate")
def activate(request: Request, session: DbSession, actor: AccountActor, req_id: uuid.UUID,
             csrf_token: Csrf) -> Response:
    """Activate an approved application: the token is shown once."""
    with form_action(request, session, csrf_token, _("Your access token (shown once):")) as done:
        _grant, token = portal.open_application_activate(session, actor, req_id)
    if not done.ok:
        return done.redirect("/portal/me")
    # rendered, not redirected: the secret must not travel in a URL
    return render(request, "portal/me.html", {
        **_applications(session, actor), "msg": done.msg, "token": token, "is_public_user": True})


@router.post("/portal/applications/{req_id}/withdraw")
def withdraw(request: Request, session: DbSession, actor: AccountActor, req_id: uuid.UUID,
             csrf_token: Csrf) -> Response:
    """Withdraw an application that is not decided yet."""
    with form_action(request, session, csrf_token, _("Withdrawn")) as done:
        portal.open_application_withdraw(session, actor, req_id)
    return done.redirect("/portal/me")


def _example_dataset(session: Any) -> tuple[str, str]:
    """A real open dataset name and one of its datastore tables for the examples ('' when there is none)."""
    rows, _t, _f = catalog_search(session, core.Actor.anonymous(), "", {"open_type": ["unconditional"]}, [],
                                  "updated", 20, 0, open_only=True)
    fallback = ""
    for e in rows:
        fallback = fallback or e.name
        table = next((r for r in catalog.resource_list(session, core.Actor.anonymous(), e.id)
                      if r.kind == "table" and r.table_name), None)
        if table is not None:
            return e.name, str(table.id)
    return fallback or "dataset-name", "RESOURCE_ID"


@router.get("/portal/api")
def api_page(request: Request, session: DbSession, actor: OptionalActor) -> Response:
    """The API for people: what the CKAN-compatible Action API offers, with curl and ckanapi examples."""
    name, resource_id = _example_dataset(session)
    return render(request, "portal/api.html", {
        "base": str(request.base_url).rstrip("/"), "name": name, "resource_id": resource_id,
        "rate_limit": get_settings().portal_rate_limit})


@router.get("/portal/dcat")
def dcat_page(request: Request, session: DbSession, actor: OptionalActor) -> Response:
    """The catalogue feeds explained: DCAT-AP in Turtle, JSON-LD and RDF/XML, per dataset, the sitemap."""
    name, _r = _example_dataset(session)
    return render(request, "portal/dcat.html", {"base": str(request.base_url).rstrip("/"), "name": name})
