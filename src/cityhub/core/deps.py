"""Authentication dependencies for every domain's api/pages: who is calling, and must they be logged in."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Request

from cityhub.core import service
from cityhub.core.actor import Actor
from cityhub.kit.errors import Forbidden, Unauthorized
from cityhub.kit.i18n import gettext as _
from cityhub.kit.web import DbSession, verify_csrf

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _resolve(request: Request, session: DbSession) -> Actor:
    cached = getattr(request.state, "actor", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]  # set by this function earlier in the request
    auth = request.headers.get("authorization", "")
    actor: Actor | None = None
    if auth:
        scheme, _sep, value = auth.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Unauthorized(_("Use 'Authorization: Bearer <token>'"))
        actor = service.authenticate_token(session, value.strip())
        if request.method not in SAFE_METHODS and actor.token_scopes and set(actor.token_scopes) <= {"read"}:
            raise Forbidden(_("This token is read-only"), code="token_scope")
    else:
        raw_id = request.session.get("uid") if "session" in request.scope else None
        if raw_id:
            try:
                actor = service.actor_for_session_user(session, uuid.UUID(str(raw_id)))
            except ValueError:
                actor = None
            if actor is None:
                request.session.clear()
            elif request.method not in SAFE_METHODS and request.url.path.startswith("/api/"):
                # Cookie-authenticated API writes (HTMX, fetch) must carry the CSRF header.
                verify_csrf(request, request.headers.get("x-csrf-token"))
    request.state.actor = actor or Actor.anonymous()
    return request.state.actor  # type: ignore[no-any-return]  # just set


async def _require(actor: Annotated[Actor, Depends(_resolve)]) -> Actor:
    # async on purpose: no I/O here, and a sync dependency would cost a thread-pool hop per request
    if not actor.is_authenticated:
        raise Unauthorized(_("Log in or send an API token"))
    return actor


# Any caller, anonymous included (public portal pages and APIs).
OptionalActor = Annotated[Actor, Depends(_resolve)]
# A logged-in user or a valid API token.
CurrentActor = Annotated[Actor, Depends(_require)]
