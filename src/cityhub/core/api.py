"""Core REST API under /api/v1: me, organisations, users, role bindings, tokens, audit, calendar."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import StreamingResponse

from cityhub.core import schemas, service
from cityhub.core.deps import AccountActor, CurrentActor
from cityhub.kit.errors import NotFound
from cityhub.kit.pagination import Page, PageParams, page_params, page_response
from cityhub.kit.web import DbSession, SessionRoute

router = APIRouter(prefix="/api/v1", tags=["core"], route_class=SessionRoute)
Paging = Annotated[PageParams, Depends(page_params)]


@router.get("/me", response_model=schemas.Me)
def me(session: DbSession, actor: AccountActor) -> schemas.Me:
    """The caller's user, role bindings and token scopes (portal accounts too)."""
    if actor.user_id is None:  # pragma: no cover - the system actor never calls over HTTP
        raise NotFound("no user")
    user = service.user_get(session, actor, actor.user_id)
    return schemas.Me(
        user=schemas.User.model_validate(user),
        roles=[schemas.RoleBinding.model_validate(b) for b in service.user_roles(session, user.id)],
        token_scopes=list(actor.token_scopes) if actor.token_scopes is not None else None,
    )


# ---- organisations


@router.get("/organizations", response_model=Page[schemas.Organization])
def organizations(
    session: DbSession, actor: CurrentActor, page: Paging,
    parent_id: uuid.UUID | None = None, kind: schemas.OrgKind | None = None,
    q: str | None = Query(None, max_length=100),
) -> Response:
    """List organisations."""
    rows, total = service.organization_list(session, actor, page, parent_id=parent_id,
                                            kind=kind.value if kind else None, q=q)
    return page_response(schemas.Organization, rows, total, page)


@router.post("/organizations", response_model=schemas.Organization, status_code=201)
def organization_create(session: DbSession, actor: CurrentActor, body: schemas.OrganizationCreate) -> Any:
    """Create an organisation."""
    return service.organization_create(session, actor, body)


@router.get("/organizations/{org_id}", response_model=schemas.Organization)
def organization(session: DbSession, actor: CurrentActor, org_id: uuid.UUID) -> Any:
    """One organisation."""
    return service.organization_get(session, actor, org_id)


@router.patch("/organizations/{org_id}", response_model=schemas.Organization)
def organization_update(session: DbSession, actor: CurrentActor, org_id: uuid.UUID,
                        body: schemas.OrganizationUpdate) -> Any:
    """Change an organisation (name, codes, head user / 云长, location)."""
    return service.organization_update(session, actor, org_id, body)


@router.delete("/organizations/{org_id}", status_code=204)
def organization_delete(session: DbSession, actor: CurrentActor, org_id: uuid.UUID) -> Response:
    """Delete an empty organisation."""
    service.organization_delete(session, actor, org_id)
    return Response(status_code=204)


# ---- users


@router.get("/users", response_model=Page[schemas.User])
def users(session: DbSession, actor: CurrentActor, page: Paging, org_id: uuid.UUID | None = None,
          q: str | None = Query(None, max_length=100)) -> Response:
    """List users the caller may see."""
    rows, total = service.user_list(session, actor, page, org_id=org_id, q=q)
    return page_response(schemas.User, rows, total, page)


@router.post("/users", response_model=schemas.User, status_code=201)
def user_create(session: DbSession, actor: CurrentActor, body: schemas.UserCreate) -> Any:
    """Create a user."""
    return service.user_create(session, actor, body)


@router.get("/users/{user_id}", response_model=schemas.User)
def user(session: DbSession, actor: CurrentActor, user_id: uuid.UUID) -> Any:
    """One user."""
    return service.user_get(session, actor, user_id)


@router.patch("/users/{user_id}", response_model=schemas.User)
def user_update(session: DbSession, actor: CurrentActor, user_id: uuid.UUID, body: schemas.UserUpdate) -> Any:
    """Change a user (profile, disabled flag)."""
    return service.user_update(session, actor, user_id, body)


@router.put("/users/{user_id}/password", status_code=204)
def user_password_set(session: DbSession, actor: AccountActor, user_id: uuid.UUID, body: schemas.PasswordSet
                      ) -> Response:
    """Set a user's password (one's own: with `current_password`, portal accounts too); the user's sessions end."""
    service.user_password_set(session, actor, user_id, body.password, body.current_password)
    return Response(status_code=204)


# ---- role bindings


@router.get("/role-bindings", response_model=Page[schemas.RoleBinding])
def role_bindings(session: DbSession, actor: CurrentActor, page: Paging, user_id: uuid.UUID | None = None,
                  org_id: uuid.UUID | None = None) -> Response:
    """List role bindings."""
    rows, total = service.role_binding_list(session, actor, page, user_id=user_id, org_id=org_id)
    return page_response(schemas.RoleBinding, rows, total, page)


@router.post("/role-bindings", response_model=schemas.RoleBinding, status_code=201)
def role_binding_create(session: DbSession, actor: CurrentActor, body: schemas.RoleBindingCreate) -> Any:
    """Grant a role within an organisation."""
    return service.role_binding_create(session, actor, body)


@router.delete("/role-bindings/{binding_id}", status_code=204)
def role_binding_delete(session: DbSession, actor: CurrentActor, binding_id: uuid.UUID) -> Response:
    """Remove a role binding."""
    service.role_binding_delete(session, actor, binding_id)
    return Response(status_code=204)


# ---- API tokens


@router.get("/tokens", response_model=Page[schemas.ApiToken])
def tokens(session: DbSession, actor: CurrentActor, page: Paging, user_id: uuid.UUID | None = None
           ) -> Response:
    """List API tokens (metadata only)."""
    rows, total = service.api_token_list(session, actor, page, user_id=user_id)
    return page_response(schemas.ApiToken, rows, total, page)


@router.post("/tokens", response_model=schemas.ApiTokenCreated, status_code=201)
def token_create(session: DbSession, actor: CurrentActor, body: schemas.ApiTokenCreate) -> schemas.ApiTokenCreated:
    """Create an API token for the caller; the secret is in `token`, shown this once."""
    if actor.user_id is None:  # pragma: no cover
        raise NotFound("no user")
    token, raw = service.api_token_create(session, actor, actor.user_id, body)
    return schemas.ApiTokenCreated.model_validate({**schemas.ApiToken.model_validate(token).model_dump(),
                                                   "token": raw})


@router.delete("/tokens/{token_id}", response_model=schemas.ApiToken)
def token_revoke(session: DbSession, actor: CurrentActor, token_id: uuid.UUID) -> Any:
    """Revoke an API token at once."""
    return service.api_token_revoke(session, actor, token_id)


# ---- audit


def _audit_filter(actor: str | None, org_id: uuid.UUID | None, action: str | None, since: datetime | None,
                  until: datetime | None) -> service.AuditFilter:
    return service.AuditFilter(actor=actor, org_id=org_id, action=action, since=since, until=until)


@router.get("/audit", response_model=Page[schemas.AuditEntry])
def audit(
    session: DbSession, caller: CurrentActor, page: Paging,
    actor: str | None = Query(None, max_length=100, description="Actor username."),
    org_id: uuid.UUID | None = None,
    action: str | None = Query(None, max_length=80, description="Action name; a trailing * matches a prefix."),
    since: datetime | None = None, until: datetime | None = None,
) -> Response:
    """Query the audit log (auditors and platform admins)."""
    rows, total = service.audit_list(session, caller, _audit_filter(actor, org_id, action, since, until), page)
    return page_response(schemas.AuditEntry, rows, total, page)


@router.get("/audit.csv", response_class=StreamingResponse)
def audit_csv(
    session: DbSession, caller: CurrentActor,
    actor: str | None = Query(None, max_length=100), org_id: uuid.UUID | None = None,
    action: str | None = Query(None, max_length=80), since: datetime | None = None, until: datetime | None = None,
) -> StreamingResponse:
    """Export the filtered audit log as CSV."""
    chunks = list(service.audit_export_csv(session, caller, _audit_filter(actor, org_id, action, since, until)))
    return StreamingResponse(iter(chunks), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": 'attachment; filename="cityhub-audit.csv"'})


# ---- working-day calendar


@router.get("/calendar", response_model=list[schemas.CalendarDay])
def calendar(session: DbSession, actor: CurrentActor, year: int = Query(..., ge=2000, le=2100)) -> Any:
    """Holidays and adjusted working days of a year."""
    return service.calendar_list(session, year)


@router.put("/calendar/{day}", response_model=schemas.CalendarDay)
def calendar_day_set(session: DbSession, actor: CurrentActor, day: date, body: schemas.CalendarDaySet) -> Any:
    """Mark a date as a holiday or an extra working day."""
    return service.calendar_day_set(session, actor, day, body.working, body.name)


# ---- the big-data bureau


@router.put("/bureau", status_code=204)
def bureau_set(session: DbSession, actor: CurrentActor, body: schemas.BureauSet) -> Response:
    """Name the organisation acting as the big-data bureau (platform admins)."""
    service.bureau_set(session, actor, body.org_id)
    return Response(status_code=204)
