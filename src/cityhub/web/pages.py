"""Shell pages: login/logout, language switch, home with live counts."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlparse

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from cityhub.core import service as core_service
from cityhub.core.deps import OptionalActor, session_start
from cityhub.kit import i18n
from cityhub.kit.i18n import gettext as _
from cityhub.kit.web import DbSession, NavItem, SessionRoute, register_nav, render, verify_csrf

router = APIRouter(include_in_schema=False, route_class=SessionRoute)

register_nav(NavItem("admin", "Overview", "/", order=1))

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


@router.get("/")
def home(request: Request, session: DbSession, actor: OptionalActor) -> Response:
    """Home: the five layers and live counts."""
    if not actor.is_authenticated:
        return RedirectResponse("/login", status_code=303)
    if not actor.is_internal:  # a portal account's home is the portal
        return RedirectResponse("/portal", status_code=303)
    counts = core_service.core_counts(session)
    orgs = core_service.organization_all(session)
    kinds: dict[str, int] = {}
    for org in orgs:
        kinds[org.kind] = kinds.get(org.kind, 0) + 1
    return render(request, "home.html", {"counts": counts,
                                         "org_kinds": [{"name": _(k), "value": v} for k, v in kinds.items()]})
