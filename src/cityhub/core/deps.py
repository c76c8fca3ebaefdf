"""Authentication dependencies for every domain's api/pages: who is calling, may they come here, what they see."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from cityhub.core import service
from cityhub.core.actor import Actor
from cityhub.core.permissions import P, permissions_of
from cityhub.kit.errors import Forbidden, Unauthorized
from cityhub.kit.i18n import gettext as _
from cityhub.kit.web import DbSession, NavItem, register_nav_access, verify_csrf

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# The signed session cookie holds the user's id and their session version at login; a logout, password change,
# disabling or role change bumps the version in the database, which ends every cookie issued before.
_UID, _VERSION = "uid", "sv"


def session_start(request: Request, user_id: uuid.UUID, session_version: int) -> None:
    """Start a fresh web session for the user (a new cookie: no fixation of an earlier one)."""
    request.session.clear()
    request.session[_UID] = str(user_id)
    request.session[_VERSION] = session_version


def session_credentials(request: Request) -> tuple[uuid.UUID, int] | None:
    """The (user id, session version) a session cookie claims, or None (no cookie, or an unreadable one)."""
    if "session" not in request.scope:
        return None
    raw_id, version = request.session.get(_UID), request.session.get(_VERSION)
    if not raw_id or not isinstance(version, int):  # cookies from before session versions are not honoured
        return None
    try:
        return uuid.UUID(str(raw_id)), version
    except ValueError:
        return None


def session_actor(request: Request, session: Session) -> Actor | None:
    """The user a session cookie still stands for (sync: for surfaces with their own credential handling)."""
    creds = session_credentials(request)
    if creds is None:
        return None
    return service.cached_session_actor(session, *creds) or service.actor_for_session_user(session, *creds)


async def _resolve(request: Request, session: DbSession) -> Actor:
    # async on purpose: an identity in the push cache (PostgreSQL) costs no I/O, so only a miss pays for the
    # thread-pool hop that the database lookup needs
    cached = getattr(request.state, "actor", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]  # set by this function earlier in the request
    auth = request.headers.get("authorization", "")
    actor: Actor | None = None
    if auth:
        scheme, _sep, value = auth.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Unauthorized(_("Use 'Authorization: Bearer <token>'"))
        raw = value.strip()
        actor = service.cached_token_actor(session, raw)
        if actor is None:
            actor = await run_in_threadpool(service.authenticate_token, session, raw)
        if request.method not in SAFE_METHODS and actor.token_scopes and set(actor.token_scopes) <= {"read"}:
            raise Forbidden(_("This token is read-only"), code="token_scope")
    elif "session" in request.scope and request.session.get(_UID):
        creds = session_credentials(request)
        if creds is not None:
            actor = service.cached_session_actor(session, *creds)
            if actor is None:
                actor = await run_in_threadpool(service.actor_for_session_user, session, *creds)
        if actor is None:
            request.session.clear()
        elif request.method not in SAFE_METHODS and request.url.path.startswith("/api/"):
            # Cookie-authenticated API writes (HTMX, fetch) must carry the CSRF header.
            verify_csrf(request, request.headers.get("x-csrf-token"))
    request.state.actor = actor or Actor.anonymous()
    return request.state.actor  # type: ignore[no-any-return]  # just set


async def _require_account(actor: Annotated[Actor, Depends(_resolve)]) -> Actor:
    # async on purpose: no I/O here, and a sync dependency would cost a thread-pool hop per request
    if not actor.is_authenticated:
        raise Unauthorized(_("Log in or send an API token"))
    return actor


async def _require(actor: Annotated[Actor, Depends(_require_account)]) -> Actor:
    if not actor.is_internal:
        # pages answer this with a redirect to the portal (app._error_response, by this code)
        raise Forbidden(_("Open-data portal accounts cannot use the internal platform"), code=PORTAL_ACCOUNT)
    return actor


PORTAL_ACCOUNT = "portal_account"  # the error code of a portal account refused on the internal platform

# The portal's area: the only routes a citizen's portal account may reach. Everything else is the internal platform,
# closed to portal accounts by `portal_seal`, whichever actor dependency a route declares (even none). Segments
# cover a path and everything below it; exact paths only themselves. Keyed on the route's path template.
PORTAL_AREA_SEGMENTS = (
    "/portal", "/dataset", "/organization",  # the portal's pages, the account's own page and applications
    "/api/3", "/api/action", "/datastore",  # the CKAN-compatible API and the open rows
    "/ops/report", "/api/v1/ops/reports",  # citizens report problems and follow them
    "/lang",  # the language switch
    "/showcase",  # the public showcase of accepted application scenarios (apply/scenarios/showcase.py)
)
PORTAL_AREA_PATHS = frozenset({
    "/", "/login", "/logout",  # the home page sends a portal account on to the portal
    "/catalog.ttl", "/catalog.jsonld", "/catalog.rdf", "/sitemap.xml",  # DCAT and the open datasets
    "/api/v1/me", "/api/v1/users/{user_id}/password",  # the account's own identity and password
    "/healthz", "/readyz", "/metrics", "/_bare",  # no data of the platform's
})


def in_portal_area(path: str) -> bool:
    """Is `path` (a route's path template, or a URL path) in the portal's area?"""
    return path in PORTAL_AREA_PATHS or any(path == s or path.startswith(s + "/") for s in PORTAL_AREA_SEGMENTS)


def _route_path(request: Request) -> str:
    route = request.scope.get("route")
    return str(getattr(route, "path", None) or request.url.path)


async def portal_seal(request: Request, session: DbSession) -> None:
    """The one gate between portal accounts and the internal platform: every route outside the portal's area.

    Installed on the app (`create_app`), so it runs before any route's own dependencies, on routes that ask for
    `OptionalActor` or no actor at all too. Only a credential that names a user account is looked at (a session
    cookie, a `chub_` token): a device's or a grant's token goes on to the route's own check untouched. Anonymous
    callers pass (each route decides about them). Credentials are resolved only outside the portal's area, where
    the route would resolve them anyway: the actor is kept on `request.state` for it, and the session is the
    route's own (FastAPI caches a dependency per request). Pages answer the refusal with a redirect to the portal
    (app._error_response, by the error code).
    """
    if in_portal_area(_route_path(request)):
        return
    scheme, _sep, value = request.headers.get("authorization", "").partition(" ")
    user_token = scheme.lower() == "bearer" and value.strip().startswith(f"{service.TOKEN_PREFIX}_")
    if not user_token and session_credentials(request) is None:  # anonymous, or another kind of credential
        return
    try:
        actor = await _resolve(request, session)
    except (Unauthorized, Forbidden):
        # not an account the seal can name (a device's or a grant's token, a stale cookie, a failed check): the
        # route's own authentication answers, as it would without the seal
        return
    if actor.is_portal_account:
        raise Forbidden(_("Open-data portal accounts cannot use the internal platform"), code=PORTAL_ACCOUNT)


# Any caller, anonymous included (public portal pages and APIs).
OptionalActor = Annotated[Actor, Depends(_resolve)]
# Any logged-in account, a citizen's portal account included: only for the portal's own routes (the account's
# applications, its own identity and password).
AccountActor = Annotated[Actor, Depends(_require_account)]
# Government staff (a logged-in staff user or their API token), or the system: every internal page and route.
CurrentActor = Annotated[Actor, Depends(_require)]


def nav_access(actor: Actor | None) -> Callable[[NavItem], bool]:
    """Which navigation entries the actor sees: what its permissions let it open, and the portal for citizens.

    Staff see an entry when they hold any of its permissions (or it names none); anonymous visitors see the public
    entries; a portal account sees the public entries inside the portal's area only (the rest would send it back).
    """
    if actor is None or not actor.is_authenticated:
        return lambda item: item.public
    if not actor.is_internal:
        return lambda item: item.public and in_portal_area(item.href)
    held = {str(p) for p in permissions_of(actor)}
    return lambda item: not item.permissions or any(p in held for p in item.permissions)


register_nav_access(nav_access)


def workbench_of(actor: Actor) -> str:
    """Where `/` takes the actor: `portal`, `overview` (the city), `work` (my unit's queues), `ops`, `audit`.

    The platform's admins and the bureau's people look after the whole city; a unit's chief or staff after their
    unit's work; the operations center's operator and the auditor have a page of their own. Someone holding
    several roles gets the widest view first.
    """
    if actor.is_portal_account:
        return "portal"
    held = permissions_of(actor)
    if P.CITY_OVERVIEW in held:
        return "overview"
    if actor.staff_orgs:
        return "work"
    if P.OPS_COMMAND in held:
        return "ops"
    if P.AUDIT_READ in held:
        return "audit"
    return "work"
