"""Sharing requests between departments: review stages with working-day deadlines, activation, revocation.

A draft goes to the bureau's compliance review, the provider's review (and back to the bureau for 核心 data),
coordination after a rejection, activation into a grant with its consuming-system token, and revocation.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from cityhub.core import service as core
from cityhub.core.service import Actor
from cityhub.data import policies
from cityhub.data.catalog import service as catalog
from cityhub.data.models import CatalogEntry, Grant, RequestEvent, RequestStatus, ShareRequest
from cityhub.data.schemas import ShareRequestCreate
from cityhub.kit import clock, labels
from cityhub.kit.errors import Conflict, InvalidTransition, NotFound, ValidationFailed, transition
from cityhub.kit.i18n import gettext as _

COMPLIANCE_DAYS = 5
PROVIDER_DAYS = 10  # the issue: provider review within 10 working days
COORDINATION_DAYS = 10
REMIND_WHEN_DAYS_LEFT = 2

# Notes the platform itself writes on a request are stored as codes and shown in the reader's language
# (`request_note_text`); people's own notes are stored and shown as written.
NOTE_VALIDITY_ENDED = "validity_ended"
labels.register("data.request_note", {NOTE_VALIDITY_ENDED: "The validity period ended"})
_LEGACY_NOTES = {"validity period ended": NOTE_VALIDITY_ENDED}  # stored in English before the code


def request_note_text(note: str | None) -> str:
    """A request's (or event's) note as the reader reads it: a platform note's label, a person's note as written."""
    if not note:
        return ""
    code = _LEGACY_NOTES.get(note, note)
    if code in labels.vocabularies().get("data.request_note", {}):
        return labels.label(code, "data.request_note")
    return note


S = RequestStatus


REQUEST_ALLOWED: dict[RequestStatus, set[RequestStatus]] = {
    S.DRAFT: {S.SUBMITTED, S.WITHDRAWN},
    # Public portal applications for 有条件开放 data go straight to the provider (issue 6).
    S.SUBMITTED: {S.COMPLIANCE_REVIEW, S.PROVIDER_REVIEW, S.WITHDRAWN},
    S.COMPLIANCE_REVIEW: {S.PROVIDER_REVIEW, S.APPROVED, S.REJECTED, S.WITHDRAWN},
    # 核心 data goes back to the bureau for its final approval after the provider agreed.
    S.PROVIDER_REVIEW: {S.APPROVED, S.REJECTED, S.COMPLIANCE_REVIEW, S.WITHDRAWN},
    S.APPROVED: {S.PROVISIONING},
    S.PROVISIONING: {S.ACTIVE},
    S.ACTIVE: {S.EXPIRED, S.REVOKED},
    S.REJECTED: {S.COORDINATION, S.CLOSED},
    S.COORDINATION: {S.APPROVED, S.CLOSED},
}


STAGE_DAYS = {S.COMPLIANCE_REVIEW: COMPLIANCE_DAYS, S.PROVIDER_REVIEW: PROVIDER_DAYS,
              S.COORDINATION: COORDINATION_DAYS}


OPEN_REQUEST_STATES = (S.SUBMITTED, S.COMPLIANCE_REVIEW, S.PROVIDER_REVIEW, S.APPROVED, S.PROVISIONING,
                       S.COORDINATION)


def request_visible(session: Session, actor: Actor, req_id: uuid.UUID) -> ShareRequest:
    """A request the actor may see (others are 404)."""
    req = session.get(ShareRequest, req_id)
    if req is None or not policies.share_request_read(actor, req.requester_org_id, req.provider_org_id):
        raise NotFound(_("Sharing request not found"))
    return req


def share_request_get(session: Session, actor: Actor, req_id: uuid.UUID) -> ShareRequest:
    """One request the actor may see."""
    return request_visible(session, actor, req_id)


def request_move(session: Session, actor: Actor, req: ShareRequest, target: RequestStatus, note: str = "") -> None:
    """Move a request through its table: the stage's deadline, an event and an audit row.

    The portal's applications move through here too.
    """
    current = transition(req, target, REQUEST_ALLOWED, "share_request")
    now = clock.now()
    req.stage_started_at = now
    req.reminded_at = None
    req.escalated_at = None
    days = STAGE_DAYS.get(target)
    req.deadline_at = core.working_days_add(session, now, days) if days else None
    if note:
        req.reason = note
    session.add(RequestEvent(request_id=req.id, at=now, actor_name=actor.username[:100], from_status=current,
                             to_status=target, note=note))
    session.flush()
    core.audit_record(session, actor, f"share_request_{target.value}", target_type="share_request",
                      target_id=req.id, org_id=req.requester_org_id, before={"status": current.value},
                      after={"status": target.value}, extra={"note": note} if note else None)


def share_request_create(session: Session, actor: Actor, data: ShareRequestCreate) -> ShareRequest:
    """Draft a request for a subset of a published entry's items (不予共享 entries cannot be requested)."""
    policies.share_request_create(actor, actor.org_id)
    try:
        entry = catalog.catalog_entry_get(session, actor, data.entry_id)
    except NotFound as exc:
        raise ValidationFailed(_("Catalog entry not found"), field="entry_id") from exc
    if not catalog.is_published(entry):
        raise ValidationFailed(_("Only published entries can be requested"), field="entry_id")
    if entry.share_type == "none":
        raise ValidationFailed(_("Not shared: this entry cannot be requested"), field="entry_id")
    names = {i["name_en"] for i in entry.items}
    unknown = [i for i in data.items if i not in names]
    if unknown:
        raise ValidationFailed(_("Unknown information items"), field="items",
                               details=[{"field": "items", "message": f"unknown: {', '.join(unknown)}"}])
    if data.valid_until is not None and data.valid_until <= clock.now():
        raise ValidationFailed(_("valid_until is in the past"), field="valid_until")
    assert actor.org_id is not None  # checked by the policy
    req = ShareRequest(entry_id=entry.id, provider_org_id=entry.provider_org_id, requester_org_id=actor.org_id,
                       requester_user_id=actor.user_id, core_grade=entry.security_grade == "core",
                       tier_org_id=entry.tier_org_id,  # a district's resource: the district reviews (routing)
                       status=RequestStatus.DRAFT, **data.model_dump(exclude={"entry_id", "items"}),
                       items=list(dict.fromkeys(data.items)))
    session.add(req)
    session.flush()
    session.add(RequestEvent(request_id=req.id, actor_name=actor.username[:100], to_status=RequestStatus.DRAFT))
    core.audit_record(session, actor, "share_request_create", target_type="share_request", target_id=req.id,
                      org_id=req.requester_org_id, after={"entry": entry.code, "items": req.items})
    return req


def share_request_submit(session: Session, actor: Actor, req_id: uuid.UUID) -> ShareRequest:
    """Submit a draft: it goes straight into the bureau's compliance review."""
    req = request_visible(session, actor, req_id)
    policies.share_request_submit(actor, req.requester_org_id)
    entry = session.get(CatalogEntry, req.entry_id)
    if entry is None or not catalog.is_published(entry) or entry.share_type == "none":
        raise Conflict(_("The entry can no longer be requested"))
    request_move(session, actor, req, S.SUBMITTED)
    req.submitted_at = clock.now()
    entry.requests_count += 1
    request_move(session, actor, req, S.COMPLIANCE_REVIEW)
    return req


def share_request_withdraw(session: Session, actor: Actor, req_id: uuid.UUID, reason: str = "") -> ShareRequest:
    """The requester withdraws a request that is not decided yet."""
    req = request_visible(session, actor, req_id)
    policies.share_request_submit(actor, req.requester_org_id)
    request_move(session, actor, req, S.WITHDRAWN, reason)
    return req


def share_request_compliance_review(session: Session, actor: Actor, req_id: uuid.UUID, approve: bool,
                                    note: str = "") -> ShareRequest:
    """The bureau's compliance review (and, for 核心 data, its final approval after the provider's).

    A district's resources are reviewed by the district's data admin instead.
    """
    req = request_visible(session, actor, req_id)
    policies.share_request_compliance_review(actor, req.tier_org_id)
    if req.status != S.COMPLIANCE_REVIEW:
        raise InvalidTransition("share_request", req.status, S.APPROVED if approve else S.REJECTED)
    if not approve:
        if not note.strip():
            raise ValidationFailed(_("A rejection needs a reason"), field="note")
        request_move(session, actor, req, S.REJECTED, note)
        return req
    entry = session.get(CatalogEntry, req.entry_id)
    assert entry is not None
    if req.provider_approved_at is not None:
        policies.share_request_core_approve(actor, req.tier_org_id)
        request_move(session, actor, req, S.APPROVED, note or "bureau final approval (核心)")
    elif entry.share_type == "unconditional" and not req.core_grade:
        request_move(session, actor, req, S.APPROVED, note or "无条件共享: provider review skipped")
    else:
        request_move(session, actor, req, S.PROVIDER_REVIEW, note)
    return req


def share_request_provider_review(session: Session, actor: Actor, req_id: uuid.UUID, approve: bool,
                                  note: str = "") -> ShareRequest:
    """The provider approves or rejects (a reason is required); 核心 data then returns to the bureau."""
    req = request_visible(session, actor, req_id)
    policies.share_request_provider_review(actor, req.provider_org_id)
    if req.status != S.PROVIDER_REVIEW:
        raise InvalidTransition("share_request", req.status, S.APPROVED if approve else S.REJECTED)
    if not approve:
        if not note.strip():
            raise ValidationFailed(_("A rejection needs a reason"), field="note")
        request_move(session, actor, req, S.REJECTED, note)
        return req
    req.provider_approved_at = clock.now()
    request_move(session, actor, req, S.COMPLIANCE_REVIEW if req.core_grade else S.APPROVED, note)
    return req


def share_request_coordinate(session: Session, actor: Actor, req_id: uuid.UUID, reason: str) -> ShareRequest:
    """The requester contests a rejection: the bureau arbitrates."""
    req = request_visible(session, actor, req_id)
    policies.share_request_submit(actor, req.requester_org_id)
    if not reason.strip():
        raise ValidationFailed(_("Say why the rejection should be reconsidered"), field="reason")
    request_move(session, actor, req, S.COORDINATION, reason)
    return req


def share_request_close(session: Session, actor: Actor, req_id: uuid.UUID, reason: str = "") -> ShareRequest:
    """The requester accepts a rejection."""
    req = request_visible(session, actor, req_id)
    policies.share_request_submit(actor, req.requester_org_id)
    if req.status != S.REJECTED:
        raise InvalidTransition("share_request", req.status, S.CLOSED)
    request_move(session, actor, req, S.CLOSED, reason)
    return req


def share_request_arbitrate(session: Session, actor: Actor, req_id: uuid.UUID, approve: bool,
                            note: str = "") -> ShareRequest:
    """The bureau (a district's resource: the district) decides a coordination: approved or closed."""
    req = request_visible(session, actor, req_id)
    policies.share_request_compliance_review(actor, req.tier_org_id)
    if req.status != S.COORDINATION:
        raise InvalidTransition("share_request", req.status, S.APPROVED if approve else S.CLOSED)
    if not note.strip():
        raise ValidationFailed(_("An arbitration needs a note"), field="note")
    request_move(session, actor, req, S.APPROVED if approve else S.CLOSED, note)
    return req


def share_request_activate(session: Session, actor: Actor, req_id: uuid.UUID) -> tuple[Grant, str]:
    """Provision an approved request: a grant and a consuming-system token scoped to it (shown once)."""
    from cityhub.core.schemas import ApiTokenCreate

    req = request_visible(session, actor, req_id)
    policies.share_request_submit(actor, req.requester_org_id)
    request_move(session, actor, req, S.PROVISIONING)
    user_id = req.requester_user_id or actor.user_id
    if user_id is None:
        raise ValidationFailed(_("The request has no requesting user"), field="requester_user_id")
    grant = Grant(request_id=req.id, entry_id=req.entry_id, org_id=req.requester_org_id, user_id=user_id,
                  items=list(req.items), quota=req.quota, valid_until=req.valid_until, status="active")
    session.add(grant)
    session.flush()
    token, raw = core.api_token_create(session, Actor.system("data"), user_id, ApiTokenCreate(
        name=f"grant {req.consuming_system}"[:100], scopes=[f"data:grant:{grant.id}"], expires_at=req.valid_until))
    grant.token_id = token.id
    entry = session.get(CatalogEntry, req.entry_id)
    if entry is not None:
        entry.grants_count += 1
    request_move(session, actor, req, S.ACTIVE)
    core.audit_record(session, actor, "grant_create", target_type="grant", target_id=grant.id,
                      org_id=req.requester_org_id, after={"items": grant.items, "quota": grant.quota,
                                                          "token_prefix": token.prefix})
    return grant, raw


def end_grant(session: Session, req: ShareRequest, status: str) -> None:
    """End the request's grant (revoked or expired) and revoke its token."""
    grant = session.scalar(select(Grant).where(Grant.request_id == req.id))
    if grant is None:
        return
    grant.status = status
    if grant.token_id is not None:
        core.api_token_revoke(session, Actor.system("data"), grant.token_id)


def share_request_revoke(session: Session, actor: Actor, req_id: uuid.UUID, reason: str) -> ShareRequest:
    """The provider or the bureau revokes an active grant (its token stops at once)."""
    req = request_visible(session, actor, req_id)
    policies.share_request_revoke(actor, req.provider_org_id)
    if not reason.strip():
        raise ValidationFailed(_("A revocation needs a reason"), field="reason")
    request_move(session, actor, req, S.REVOKED, reason)
    end_grant(session, req, "revoked")
    return req


def share_request_list(session: Session, actor: Actor, *, box: str = "mine", status: str | None = None,
                       limit: int = 50, offset: int = 0) -> tuple[list[ShareRequest], int]:
    """Requests by box.

    `mine` (my units' requests), `provider` (requests for my units' data), `compliance` (the reviewer's queue: the
    bureau's for city resources, a district's data admin's for the district's), `all` (everything visible).
    """
    stmt = select(ShareRequest).order_by(ShareRequest.updated_at.desc())
    staff = policies.staff_orgs(actor)
    readers = policies.readable_orgs(actor)
    is_bureau = policies.is_bureau(actor)
    if box == "mine":
        stmt = stmt.where(ShareRequest.requester_org_id.in_(staff if not actor.is_platform_admin else readers))
    elif box == "provider":
        stmt = stmt.where(ShareRequest.provider_org_id.in_(staff), ShareRequest.status == S.PROVIDER_REVIEW)
    elif box == "compliance":
        districts = policies.tier_reviewer_orgs(actor)
        tiers = [ShareRequest.tier_org_id.in_(districts)] if districts else []
        if is_bureau:
            tiers.append(ShareRequest.tier_org_id.is_(None))
        if not (tiers or actor.is_platform_admin):
            return [], 0
        stmt = stmt.where(ShareRequest.status.in_([S.COMPLIANCE_REVIEW, S.COORDINATION]))
        if not actor.is_platform_admin:
            stmt = stmt.where(or_(*tiers))
    elif box == "all":
        if not (is_bureau or actor.is_platform_admin):
            stmt = stmt.where(or_(ShareRequest.requester_org_id.in_(readers),
                                  ShareRequest.provider_org_id.in_(readers)))
    else:
        raise ValidationFailed(_("Unknown box"), field="box")
    if status:
        stmt = stmt.where(ShareRequest.status == status)
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    return list(session.scalars(stmt.limit(limit).offset(offset))), int(total)


def share_request_events(session: Session, actor: Actor, req_id: uuid.UUID) -> list[RequestEvent]:
    """The tracking history of a request."""
    req = request_visible(session, actor, req_id)
    return list(session.scalars(select(RequestEvent).where(RequestEvent.request_id == req.id)
                                .order_by(RequestEvent.id)))


PROVIDER_DECISIONS = (S.APPROVED, S.REJECTED, S.COMPLIANCE_REVIEW)  # leaving the provider's review by its decision


def share_response_hours(session: Session, actor: Actor, year: int) -> dict[uuid.UUID, tuple[float, int]]:
    """Per providing unit: mean hours from a request's submission to the provider's decision, and how many.

    The requests the unit had to answer in the year: submitted in the year (UTC) and sent to the provider's review.
    A request still waiting for the provider counts up to now (its wait is not over); one withdrawn while waiting
    is left out (the provider did not get to decide). One query for every unit (the annual evaluation's figure).
    """
    policies.data_read(actor)
    start, end = datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)
    rows = session.execute(
        select(ShareRequest.provider_org_id, ShareRequest.id, ShareRequest.submitted_at, RequestEvent.at,
               RequestEvent.from_status, RequestEvent.to_status)
        .join(RequestEvent, RequestEvent.request_id == ShareRequest.id)
        .where(ShareRequest.submitted_at >= start, ShareRequest.submitted_at < end,
               or_(RequestEvent.to_status == S.PROVIDER_REVIEW, RequestEvent.from_status == S.PROVIDER_REVIEW))
        .order_by(RequestEvent.id)).tuples()
    asked: dict[uuid.UUID, tuple[uuid.UUID, datetime]] = {}
    ended: dict[uuid.UUID, datetime | None] = {}  # request → its decision's time (None: withdrawn)
    for prov, rid, submitted, at, from_s, to_s in rows:
        if to_s == S.PROVIDER_REVIEW and submitted is not None:  # not None: filtered on it
            asked.setdefault(rid, (prov, clock.as_utc(submitted)))
        elif from_s == S.PROVIDER_REVIEW and rid not in ended:
            ended[rid] = clock.as_utc(at) if to_s in PROVIDER_DECISIONS else None
    now = clock.now()
    hours: dict[uuid.UUID, list[float]] = {}
    for rid, (prov, submitted) in asked.items():
        if rid in ended and ended[rid] is None:
            continue
        until = ended.get(rid) or now
        hours.setdefault(prov, []).append(max(0.0, (until - submitted).total_seconds() / 3600))
    return {prov: (round(sum(v) / len(v), 2), len(v)) for prov, v in hours.items()}
