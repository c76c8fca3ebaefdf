"""Admin pages: organisations, users and role bindings, API tokens, audit log."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response, StreamingResponse

from cityhub.core import schemas, service
from cityhub.core.deps import CurrentActor
from cityhub.core.permissions import P
from cityhub.kit import clock, labels
from cityhub.kit.i18n import gettext as _
from cityhub.kit.pagination import PageParams
from cityhub.kit.web import (
    DbSession,
    NavItem,
    SessionRoute,
    form_action,
    redirect_with_message,
    register_nav,
    render,
)

router = APIRouter(prefix="/admin", include_in_schema=False, route_class=SessionRoute)

register_nav(
    NavItem("admin", "Organisations", "/admin/organizations", order=10, permissions=(P.USER_READ,)),
    NavItem("admin", "Users", "/admin/users", order=20, permissions=(P.USER_READ,)),
    NavItem("admin", "API tokens", "/admin/tokens", order=30),
    NavItem("admin", "Audit log", "/admin/audit", order=40, permissions=(P.AUDIT_READ,)),
)
Csrf = Annotated[str, Form(max_length=100)]
_CHINA = timezone(timedelta(hours=8))  # a token's expiry date ends at midnight Beijing time; audit days start at it
AUDIT_PAGE = 50
ADMIN_PAGE = 50  # rows per page of the organisation, user and token lists


def _uuid_or_none(value: str | None) -> uuid.UUID | None:
    """A filter's id from the query string: empty or malformed means no filter (a picker's "all")."""
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


@router.get("/organizations")
def organizations(request: Request, session: DbSession, actor: CurrentActor, msg: str | None = None,
                  q: str | None = Query(None, max_length=100), kind: schemas.OrgKind | None = None,
                  offset: int = Query(0, ge=0, le=1_000_000)) -> Response:
    """The organisation tree (indented), filtered by name or code and kind, a page at a time."""
    orgs = service.organization_all(session)
    by_parent: dict[uuid.UUID | None, list[Any]] = {}
    for org in orgs:
        by_parent.setdefault(org.parent_id, []).append(org)
    rows: list[tuple[int, Any]] = []

    def walk(parent: uuid.UUID | None, depth: int) -> None:
        for child in by_parent.get(parent, []):
            rows.append((depth, child))
            walk(child.id, depth + 1)

    walk(None, 0)
    needle = (q or "").strip().lower()
    if needle or kind:
        rows = [(d, o) for d, o in rows if (not kind or o.kind == kind)
                and (not needle or needle in o.name.lower() or needle in o.code.lower()
                     or needle in (o.name_en or "").lower())]
    heads = {u.id: u for u in service.user_list(session, actor, PageParams(limit=500, offset=0))[0]}
    return render(request, "core/organizations.html", {
        "rows": rows[offset:offset + ADMIN_PAGE], "total": len(rows), "offset": offset, "limit": ADMIN_PAGE,
        "q": q or "", "kind": kind.value if kind else "", "kind_vocab": schemas.OrgKind,
        "heads": heads, "kinds": list(schemas.OrgKind), "orgs": orgs, "msg": msg,
        "can_admin": actor.has_any(("platform_admin", "org_admin"))})


@router.post("/organizations")
def organization_create(
    request: Request, session: DbSession, actor: CurrentActor, csrf_token: Csrf,
    name: Annotated[str, Form(max_length=200)], code: Annotated[str, Form(max_length=40)],
    kind: Annotated[str, Form(max_length=20)], parent_id: Annotated[str, Form(max_length=40)] = "",
    uscc: Annotated[str, Form(max_length=18)] = "", name_en: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Create an organisation from the form."""
    keep = {"name": name, "code": code, "kind": kind, "parent_id": parent_id, "uscc": uscc, "name_en": name_en}
    with form_action(request, session, csrf_token, _("Saved"), keep=keep) as done:
        data = schemas.OrganizationCreate(name=name, code=code, kind=kind,
                                          parent_id=parent_id or None, uscc=uscc or None, name_en=name_en)
        service.organization_create(session, actor, data)
    return done.redirect("/admin/organizations")


@router.get("/users")
def users(request: Request, session: DbSession, actor: CurrentActor, q: str | None = Query(None, max_length=100),
          offset: int = Query(0, ge=0, le=10_000_000), msg: str | None = None,
          org_id: str | None = Query(None, max_length=40), role: str | None = Query(None, max_length=32)) -> Response:
    """Users the caller may see, with their roles; filtered by unit, role and name (roles read in one query)."""
    page = PageParams(limit=ADMIN_PAGE, offset=offset)
    unit = _uuid_or_none(org_id)
    role = role if role in {r.value for r in schemas.Role} else None
    rows, total = service.user_list(session, actor, page, q=q, org_id=unit, role=role)
    roles = service.user_roles_of(session, [u.id for u in rows])
    orgs = {o.id: o for o in service.organization_all(session)}
    return render(request, "core/users.html", {
        "rows": rows, "total": total, "page": page, "q": q or "", "roles": roles, "orgs": orgs, "msg": msg,
        "unit": unit, "role": role or "",
        "role_names": list(schemas.Role), "role_vocab": schemas.Role,
        "can_admin": actor.has_any(("platform_admin", "org_admin"))})


@router.post("/users")
def user_create(
    request: Request, session: DbSession, actor: CurrentActor, csrf_token: Csrf,
    username: Annotated[str, Form(max_length=64)], password: Annotated[str, Form(max_length=200)],
    org_id: Annotated[str, Form(max_length=40)], display_name: Annotated[str, Form(max_length=100)] = "",
    role: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """Create a user from the form."""
    keep = {"username": username, "org_id": org_id, "display_name": display_name, "role": role}  # not the password
    with form_action(request, session, csrf_token, _("Saved"), keep=keep) as done:
        data = schemas.UserCreate(username=username, password=password, org_id=org_id,
                                  display_name=display_name, roles=[role] if role else [])
        service.user_create(session, actor, data)
    return done.redirect("/admin/users")


@router.post("/users/{user_id}/disabled")
def user_disable(request: Request, session: DbSession, actor: CurrentActor, user_id: uuid.UUID, csrf_token: Csrf,
                 disabled: Annotated[bool, Form()]) -> Response:
    """Disable or enable a user."""
    with form_action(request, session, csrf_token, _("Saved")) as done:
        service.user_update(session, actor, user_id, schemas.UserUpdate(disabled=disabled))
    return done.redirect("/admin/users")


@router.post("/users/{user_id}/bindings")
def binding_create(request: Request, session: DbSession, actor: CurrentActor, user_id: uuid.UUID, csrf_token: Csrf,
                   role: Annotated[str, Form(max_length=32)], org_id: Annotated[str, Form(max_length=40)]) -> Response:
    """Grant a role to a user within an organisation."""
    with form_action(request, session, csrf_token, _("Saved")) as done:
        data = schemas.RoleBindingCreate(user_id=user_id, org_id=org_id, role=role)
        service.role_binding_create(session, actor, data)
    return done.redirect("/admin/users")


@router.post("/bindings")
def binding_create_any(request: Request, session: DbSession, actor: CurrentActor, csrf_token: Csrf,
                       user_id: Annotated[str, Form(max_length=40)], role: Annotated[str, Form(max_length=32)],
                       org_id: Annotated[str, Form(max_length=40)]) -> Response:
    """Grant a role from the users page's one grant form (the user picked among the page's rows)."""
    with form_action(request, session, csrf_token, _("Saved")) as done:
        data = schemas.RoleBindingCreate(user_id=user_id, org_id=org_id, role=role)
        service.role_binding_create(session, actor, data)
    return done.redirect("/admin/users")


@router.post("/bindings/{binding_id}/delete")
def binding_delete(request: Request, session: DbSession, actor: CurrentActor, binding_id: uuid.UUID,
                   csrf_token: Csrf) -> Response:
    """Remove a role binding."""
    with form_action(request, session, csrf_token, _("Saved")) as done:
        service.role_binding_delete(session, actor, binding_id)
    return done.redirect("/admin/users")


@router.get("/tokens")
def tokens(request: Request, session: DbSession, actor: CurrentActor,
           offset: int = Query(0, ge=0, le=10_000_000)) -> Response:
    """The caller's API tokens (and those of users they administer), newest first, a page at a time."""
    rows, total = service.api_token_list(session, actor, PageParams(limit=ADMIN_PAGE, offset=offset))
    created = request.session.pop("new_token", None)
    return render(request, "core/tokens.html", {"rows": rows, "total": total, "offset": offset,
                                                 "limit": ADMIN_PAGE, "now": clock.now(), "created": created})


@router.post("/tokens")
def token_create(request: Request, session: DbSession, actor: CurrentActor, csrf_token: Csrf,
                 name: Annotated[str, Form(max_length=100)], expires_at: Annotated[date | None, Form()] = None,
                 read_only: Annotated[bool, Form()] = False) -> Response:
    """Create a token; its secret is shown once on the next page view (it expires at the end of `expires_at`)."""
    if actor.user_id is None:  # pragma: no cover
        return redirect_with_message("/login")
    expires = datetime.combine(expires_at, time(23, 59, 59), _CHINA) if expires_at else None
    with form_action(request, session, csrf_token, _("Saved")) as done:
        _token, raw = service.api_token_create(session, actor, actor.user_id, schemas.ApiTokenCreate(
            name=name, expires_at=expires, scopes=["read"] if read_only else []))
        request.session["new_token"] = raw
    return done.redirect("/admin/tokens")


@router.post("/tokens/{token_id}/revoke")
def token_revoke(request: Request, session: DbSession, actor: CurrentActor, token_id: uuid.UUID,
                 csrf_token: Csrf) -> Response:
    """Revoke a token."""
    with form_action(request, session, csrf_token, _("Saved")) as done:
        service.api_token_revoke(session, actor, token_id)
    return done.redirect("/admin/tokens")


def _audit_filter(session: DbSession, actor: CurrentActor, who: str | None, org_id: uuid.UUID | None,
                  action: str | None, since: date | None, until: date | None) -> service.AuditFilter:
    """The page's filters: a person (part of a name), a unit with its subtree, an action, local calendar days."""
    def day_start(d: date) -> datetime:
        return datetime.combine(d, time(0), _CHINA)

    return service.AuditFilter(
        who=(who or "").strip() or None, action=action or None,
        org_ids=service.org_subtree(session, org_id) if org_id else None,
        since=day_start(since) if since else None, until=day_start(until + timedelta(days=1)) if until else None)


@router.get("/audit")
def audit(request: Request, session: DbSession, actor: CurrentActor,
          who: str | None = Query(None, max_length=100), action: str | None = Query(None, max_length=80),
          org_id: uuid.UUID | None = None, since: date | None = None, until: date | None = None,
          offset: int = Query(0, ge=0, le=10_000_000)) -> Response:
    """The audit log as sentences, with filters (who, unit, action, days), paging and the export for people."""
    page = PageParams(limit=AUDIT_PAGE, offset=offset)
    flt = _audit_filter(session, actor, who, org_id, action, since, until)
    rows, total = service.audit_list(session, actor, flt, page)
    counts = service.audit_action_counts(session, actor, flt)
    actions = service.audit_action_choices()
    named = dict(actions)
    return render(request, "core/audit.html", {
        "lines": service.audit_describe(session, rows), "total": total, "page": page,
        "who": who or "", "action": action or "", "org_id": org_id, "since": since, "until": until,
        "actions": actions, "units": _units(session, actor),
        "export": request.url.replace(path="/admin/audit/export.csv").remove_query_params("offset"),
        "by_action": [(named.get(a) or labels.humanize(a), n) for a, n in counts]})


@router.get("/audit/export.csv")
def audit_export(request: Request, session: DbSession, actor: CurrentActor,
                 who: str | None = Query(None, max_length=100), action: str | None = Query(None, max_length=80),
                 org_id: uuid.UUID | None = None, since: date | None = None, until: date | None = None
                 ) -> Response:
    """The filtered audit log for people (Excel): sentences in the reader's language, local times, UTF-8 BOM."""
    flt = _audit_filter(session, actor, who, org_id, action, since, until)
    chunks = list(service.audit_export_people_csv(session, actor, flt))
    return StreamingResponse(iter(chunks), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": 'attachment; filename="cityhub-audit-log.csv"'})


def _units(session: DbSession, actor: CurrentActor) -> list[tuple[uuid.UUID, str]]:
    """Units whose audit rows the actor reads, for the unit filter (every unit for a platform admin)."""
    orgs = service.organization_all(session)
    names = service.organization_names(session)  # in the reader's language
    if actor.has("platform_admin"):
        return [(o.id, names[o.id]) for o in orgs]
    mine = set(actor.orgs_for("auditor"))
    return [(o.id, names[o.id]) for o in orgs if o.id in mine]
