"""Shell pages: login/logout, language switch, and each role's landing page (the city overview, my work)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlparse

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from cityhub.core import service as core_service
from cityhub.core.deps import CurrentActor, OptionalActor, session_start, workbench_of
from cityhub.core.permissions import P, require_permission
from cityhub.kit import clock, i18n, labels
from cityhub.kit.i18n import gettext as _
from cityhub.kit.web import DbSession, NavItem, SessionRoute, register_nav, render, verify_csrf
from cityhub.web import workbench

router = APIRouter(include_in_schema=False, route_class=SessionRoute)

register_nav(
    NavItem("home", "City overview", "/overview", order=10, permissions=(P.CITY_OVERVIEW,)),
    NavItem("home", "My work", "/work", order=20, permissions=(
        P.DATA_WRITE, P.OPS_WORK, P.CLOUD_REQUEST_APPROVE_UNIT, P.CLOUD_REQUEST_APPROVE_BUREAU)),
)

# An unknown user, a wrong password and a locked account get the same words and status: the answer must not tell
# whether an account exists (the lockout is audited as `user_lock`, and an administrator can say so).
_REFUSED = "Wrong username or password, or too many failed attempts (then wait a while)"
LOGIN_MESSAGES = {
    "bad_credentials": _REFUSED,
    "locked": _REFUSED,
    "disabled": "This account is disabled",  # only said to someone who gave the right password
}


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths are followed after login (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or urlparse(target).netloc:
        return "/"
    return target


@router.get("/login")
def login_page(request: Request, actor: OptionalActor, next: str | None = None) -> Response:
    """The login form."""
    if actor.is_authenticated:
        return RedirectResponse(_safe_next(next), status_code=303)
    return render(request, "login.html", {"next": _safe_next(next), "error": None})


@router.post("/login")
def login(
    request: Request, session: DbSession,
    username: Annotated[str, Form(max_length=64)], password: Annotated[str, Form(max_length=200)],
    csrf_token: Annotated[str, Form(max_length=100)] = "", next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    """Check the password, start a session, go on to `next`."""
    verify_csrf(request, csrf_token)
    result = core_service.login_attempt(session, username.strip(), password)
    if result.actor is None:
        return render(request, "login.html",
                      {"next": _safe_next(next), "error": _(LOGIN_MESSAGES[result.reason]), "username": username},
                      status_code=401)
    assert result.actor.user_id is not None  # a password login is always a user's
    session_start(request, result.actor.user_id, result.session_version)  # new session on login (no fixation)
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/logout")
def logout(request: Request, session: DbSession, actor: OptionalActor,
           csrf_token: Annotated[str, Form(max_length=100)] = "") -> Response:
    """End the session, on the server too: a copy of the cookie stops working at once."""
    verify_csrf(request, csrf_token)
    if actor.user_id is not None and actor.token_scopes is None:  # a web session (a token is revoked instead)
        core_service.user_logout(session, actor)
    request.session.clear()
    return RedirectResponse("/portal" if actor.is_portal_account else "/login", status_code=303)


@router.get("/lang/{code}")
def set_language(request: Request, code: str, next: str | None = None) -> Response:
    """Switch the UI language (cookie), then go back."""
    locale = i18n.normalize(code)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie("cityhub_lang", locale, max_age=365 * 86400, samesite="lax")
    return response


# Where `/` takes each kind of user (core.deps.workbench_of decides which kind).
LANDING = {"portal": "/portal", "overview": "/overview", "work": "/work", "ops": "/ops/alarms",
           "audit": "/admin/audit"}


@router.get("/")
def home(actor: OptionalActor) -> Response:
    """Home: each role lands on its own page (the city, my work, the operations center, the audit log, the portal)."""
    if not actor.is_authenticated:
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse(LANDING[workbench_of(actor)], status_code=303)


@router.get("/overview")
def overview(request: Request, session: DbSession, actor: CurrentActor) -> Response:
    """The city at a glance: each layer's headline numbers, linking down to the pages they come from."""
    require_permission(actor, P.CITY_OVERVIEW, message="The city overview is for the platform and the bureau")
    metrics = workbench.city_overview(session, actor)
    kinds: dict[str, int] = {}
    for org in core_service.organization_all(session):
        kinds[org.kind] = kinds.get(org.kind, 0) + 1
    return render(request, "overview.html", {
        "metrics": metrics,
        "org_kinds": [{"name": labels.label(k, core_service.OrgKind), "value": v} for k, v in kinds.items()]})


@router.get("/work")
def my_work(request: Request, session: DbSession, actor: CurrentActor) -> Response:
    """My work: what waits for the viewer's units, with counts and deadlines, each linking to where it is done."""
    return render(request, "work.html", {"queues": workbench.my_work(session, actor), "now": clock.now()})
