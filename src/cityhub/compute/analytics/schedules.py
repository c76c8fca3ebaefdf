"""Scheduled analyses (issue 18): a cron expression on a saved analysis, run by `cityhub compute analysis-scheduler`.

A scheduled run reads with the rights of the user who **set** the schedule (`schedule_by`), looked up afresh at each
run: the schedule never widens what anyone reads, and a user who lost the unit's role, or was disabled, no longer
gets runs — the refusal is kept on the analysis (`schedule_error`, shown on its page and in the API) and audited
(`analysis_schedule_failed`), never silently dropped. Cron times are UTC (croniter, as the data domain's sync jobs).
A due analysis is claimed by moving its `next_run_at` forward in the same transaction that starts the run, so two
schedulers sharing a database start it once (PostgreSQL: the row lock of the UPDATE).
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from croniter import croniter
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cityhub.compute.models import Analysis
from cityhub.compute.schemas import AnalysisRunStart
from cityhub.core import service as core
from cityhub.core.actor import Actor
from cityhub.kit import clock
from cityhub.kit.errors import CityhubError, Forbidden, ValidationFailed
from cityhub.kit.i18n import gettext as _

log = logging.getLogger("cityhub.compute.schedules")
SCHEDULER = Actor.system("analysis-scheduler")


def next_after(expr: str, now: datetime) -> datetime:
    """The cron expression's next time after `now` (UTC)."""
    return croniter(expr, now).get_next(datetime)  # type: ignore[no-any-return]  # croniter is untyped


def set_schedule(a: Analysis, actor: Actor, expr: str) -> None:
    """Set (or clear, with "") an analysis's schedule; 422 naming `schedule` unless it is a 5-field cron."""
    expr = " ".join(expr.split())
    if expr and (len(expr.split(" ")) != 5 or not croniter.is_valid(expr)):
        raise ValidationFailed(_("Not a cron expression (five fields, e.g. 0 6 * * *)"), field="schedule")
    a.schedule, a.schedule_error = expr, ""
    a.schedule_by = actor.username[:100] if expr else ""
    a.next_run_at = next_after(expr, clock.now()) if expr else None


def due(session: Session, now: datetime | None = None, limit: int = 100) -> list[uuid.UUID]:
    """Analyses whose scheduled time has come, oldest first."""
    now = now or clock.now()
    return list(session.scalars(select(Analysis.id).where(Analysis.schedule != "", Analysis.next_run_at <= now)
                                .order_by(Analysis.next_run_at, Analysis.id).limit(limit)))


def run_due(session: Session, analysis_id: uuid.UUID, now: datetime | None = None) -> str:
    """Claim one due analysis and start its run as the schedule's owner, waiting for the end; what happened.

    Answers `started` (the run's end state is the run's own), `skipped` (another scheduler claimed it, or the
    schedule changed) or `refused` (the owner may no longer run it, or its SQL no longer passes: the message is kept
    in `schedule_error`).
    """
    from cityhub.compute.analytics import analyses

    now = now or clock.now()
    a = session.get(Analysis, analysis_id)
    if a is None or not a.schedule or a.next_run_at is None or a.next_run_at > now:
        return "skipped"
    claimed = session.execute(update(Analysis).where(Analysis.id == a.id, Analysis.next_run_at == a.next_run_at)
                              .values(next_run_at=next_after(a.schedule, now))
                              .execution_options(synchronize_session=False))
    if getattr(claimed, "rowcount", 1) != 1:
        return "skipped"
    session.refresh(a)
    try:
        with session.begin_nested():
            user = core.user_by_username(session, a.schedule_by)
            if user is None or user.disabled:
                raise Forbidden(_("The user who set the schedule can no longer run it"))
            owner = core.actor_for_user(session, user)
            analyses.analysis_run(session, owner, a.id, AnalysisRunStart(), wait=True, trigger="schedule")
    except CityhubError as exc:
        a.schedule_error = exc.message[:2000]
        session.flush()
        core.audit_record(session, SCHEDULER, "analysis_schedule_failed", target_type="compute_analysis",
                          target_id=a.id, org_id=a.org_id, after={"by": a.schedule_by, "error": a.schedule_error})
        log.warning("scheduled analysis %s refused: %s", a.id, a.schedule_error)
        return "refused"
    a.schedule_error = ""
    session.flush()
    return "started"
