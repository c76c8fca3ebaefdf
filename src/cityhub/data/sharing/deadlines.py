"""The deadline pass (`cityhub data sla-check`): reminders, escalation, grant expiry, overdue counts.

Review stages are reminded and escalated to the reviewer (the bureau; the district for a district's resource),
ended grants expire, overdue objections and needs are counted. Idempotent; the companion process runs it every
ten minutes.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityhub.core import service as core
from cityhub.core.service import Actor
from cityhub.data.models import Demand, DemandStatus, Objection, ObjectionStatus, ShareRequest
from cityhub.data.sharing.service import NOTE_VALIDITY_ENDED, REMIND_WHEN_DAYS_LEFT, S, end_grant, request_move
from cityhub.kit import clock


def sla_check(session: Session, actor: Actor | None = None) -> dict[str, int]:
    """Remind, escalate to the reviewer (bureau or district), expire grants, mark overdue objections, needs."""
    actor = actor or Actor.system("data-sla")
    now = clock.now()
    counts = {"reminded": 0, "escalated": 0, "expired": 0, "objections_overdue": 0, "demands_overdue": 0}
    stages = [S.COMPLIANCE_REVIEW, S.PROVIDER_REVIEW, S.COORDINATION]
    for req in session.scalars(select(ShareRequest).where(ShareRequest.status.in_(stages),
                                                          ShareRequest.deadline_at.is_not(None))):
        assert req.deadline_at is not None
        if now > req.deadline_at:
            if req.escalated_at is None:
                req.escalated_at = now
                counts["escalated"] += 1
                core.audit_record(session, actor, "share_request_escalate", target_type="share_request",
                                  target_id=req.id, org_id=req.tier_org_id or core.bureau_id(session),
                                  extra={"status": req.status, "deadline": req.deadline_at})
        elif req.reminded_at is None and core.working_days_between(session, now, req.deadline_at) \
                <= REMIND_WHEN_DAYS_LEFT:
            req.reminded_at = now
            counts["reminded"] += 1
            core.audit_record(session, actor, "share_request_remind", target_type="share_request",
                              target_id=req.id, org_id=req.provider_org_id if req.status == S.PROVIDER_REVIEW
                              else req.tier_org_id or core.bureau_id(session), extra={"deadline": req.deadline_at})
    for req in session.scalars(select(ShareRequest).where(ShareRequest.status == S.ACTIVE,
                                                          ShareRequest.valid_until.is_not(None),
                                                          ShareRequest.valid_until <= now)):
        request_move(session, actor, req, S.EXPIRED, NOTE_VALIDITY_ENDED)  # a code, shown translated
        end_grant(session, req, "expired")
        counts["expired"] += 1
    for _obj in session.scalars(select(Objection).where(
            Objection.status.in_([ObjectionStatus.RAISED, ObjectionStatus.HANDLING]),
            Objection.deadline_at < now)):
        counts["objections_overdue"] += 1
    for _dem in session.scalars(select(Demand).where(Demand.status == DemandStatus.ASSIGNED,
                                                    Demand.deadline_at < now)):
        counts["demands_overdue"] += 1
    session.flush()
    return counts
