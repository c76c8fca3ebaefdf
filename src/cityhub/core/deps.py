"""Authentication dependencies for every domain's api/pages: who is calling, and must they be logged in."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool

from cityhub.core import service
from cityhub.core.actor import Actor
from cityhub.kit.errors import Forbidden, Unauthorized
from cityhub.kit.i18n import gettext as _
from cityhub.kit.web import DbSession, verify_csrf

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


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
    else:
        raw_id = request.session.get("uid") if "session" in request.scope else None
        if raw_id:
            try:
                user_id = uuid.UUID(str(raw_id))
            except ValueError:
                user_id = None
            if user_id is not None:
                actor = service.cached_session_actor(session, user_id)
                if actor is None:
                    actor = await run_in_threadpool(service.actor_for_session_user, session, user_id)
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
