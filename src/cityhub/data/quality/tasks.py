"""Quality tasks (整改任务): a quality run with failures opens a task to the entry's provider, the next run closes it.

One task per entry is active (not closed) at a time (`QualityTask.active_entry_id`, unique): a run with failures
opens one, or updates the active one's failing checks and counts (never a second); the provider reports it resolved
with a note; the next run verifies — passing closes the task (from open or resolved), failing again reopens a
resolved one (its deadline stays: a reopened task is as late as the first failure). The deadline is
`CITYHUB_QUALITY_TASK_DAYS` working days from the opening (the core calendar). Tasks count in the provider's
责任清单 KPI (`task_figures`: timeliness and open failures). The provider's staff and auditors see its tasks, the
bureau all of them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityhub.core import service as core
from cityhub.core.service import Actor
from cityhub.data import policies
from cityhub.data.models import CatalogEntry
from cityhub.data.quality.models import QualityCheck, QualityTask, QualityTaskStatus
from cityhub.kit import clock, labels
from cityhub.kit.errors import NotFound, ValidationFailed, transition
from cityhub.kit.i18n import gettext as _
from cityhub.kit.settings import get_settings

T = QualityTaskStatus
TASK_ALLOWED: dict[QualityTaskStatus, set[QualityTaskStatus]] = {
    T.OPEN: {T.RESOLVED, T.CLOSED},
    T.RESOLVED: {T.OPEN, T.CLOSED},  # the next run fails again (reopened) or passes (verified)
}
labels.register(QualityTaskStatus, {"open": "To be fixed", "resolved": "Resolved, awaiting the next run",
                                    "closed": "Verified and closed"})
_RUNNER = Actor.system("quality")


def _failures(checks: Iterable[QualityCheck]) -> list[dict[str, Any]]:
    return [{"check_id": str(c.id), "kind": c.kind, "column": c.column, "failed": int(c.last_failed or 0),
             "score": c.last_score, "message": c.last_message} for c in checks if c.last_failed]


def _audit(session: Session, actor: Actor, action: str, task: QualityTask, **kw: Any) -> None:
    core.audit_record(session, actor, action, target_type="quality_task", target_id=task.id, org_id=task.org_id,
                      **kw)


def _close(session: Session, task: QualityTask, now: datetime) -> None:
    before = task.status
    transition(task, T.CLOSED, TASK_ALLOWED, "quality_task")
    task.closed_at, task.active_entry_id, task.last_run_at = now, None, now
    task.failures, task.failed_checks, task.failed_rows = [], 0, 0
    session.flush()
    _audit(session, _RUNNER, "quality_task_close", task, before={"status": before.value},
           after={"status": T.CLOSED.value})


def tasks_after_run(session: Session, entry: CatalogEntry, checks: list[QualityCheck]) -> QualityTask | None:
    """Open, update, reopen or close the entry's quality task after a run of its checks (the system acts)."""
    task = session.scalar(select(QualityTask).where(QualityTask.active_entry_id == entry.id))
    failing = _failures(checks)
    now = clock.now()
    if not failing:
        if task is not None:
            _close(session, task, now)
        return task
    rows = sum(f["failed"] for f in failing)
    if task is None:
        task = QualityTask(entry_id=entry.id, active_entry_id=entry.id, org_id=entry.provider_org_id,
                           status=T.OPEN, failures=failing, failed_checks=len(failing), failed_rows=rows,
                           opened_at=now, last_run_at=now,
                           deadline_at=core.working_days_add(session, now, get_settings().quality_task_days))
        session.add(task)
        session.flush()
        _audit(session, _RUNNER, "quality_task_open", task,
               after={"failed_checks": len(failing), "failed_rows": rows, "deadline_at": task.deadline_at})
        return task
    before = {"failed_checks": task.failed_checks, "failed_rows": task.failed_rows, "status": task.status.value}
    task.failures, task.failed_checks, task.failed_rows, task.last_run_at = failing, len(failing), rows, now
    if task.status == T.RESOLVED:
        transition(task, T.OPEN, TASK_ALLOWED, "quality_task")
        task.reopened += 1
        task.resolved_at = None  # the resolution did not hold (its note stays, and the audit row of it)
        session.flush()
        _audit(session, _RUNNER, "quality_task_reopen", task, before=before,
               after={"failed_checks": len(failing), "failed_rows": rows, "status": T.OPEN.value})
    elif (before["failed_checks"], before["failed_rows"]) != (len(failing), rows):
        session.flush()
        _audit(session, _RUNNER, "quality_task_update", task, before=before,
               after={"failed_checks": len(failing), "failed_rows": rows, "status": task.status.value})
    return task


def _visible(session: Session, actor: Actor, task_id: uuid.UUID) -> QualityTask:
    task = session.get(QualityTask, task_id)
    if task is None or not policies.quality_task_read(actor, task.org_id):
        raise NotFound(_("Quality task not found"))
    return task


def is_overdue(task: QualityTask, now: datetime | None = None) -> bool:
    """Past its deadline and not resolved (a resolved task waits on the next run, not on the unit)."""
    return task.status == T.OPEN and clock.as_utc(task.deadline_at) < (now or clock.now())


def quality_task_get(session: Session, actor: Actor, task_id: uuid.UUID) -> QualityTask:
    """One quality task the actor may see (others are 404)."""
    return _visible(session, actor, task_id)


def quality_task_resolve(session: Session, actor: Actor, task_id: uuid.UUID, note: str) -> QualityTask:
    """The responsible unit reports the task resolved, saying what it fixed; the next run verifies it."""
    task = _visible(session, actor, task_id)
    policies.quality_task_resolve(actor, task.org_id)
    if not note.strip():
        raise ValidationFailed(_("Say what was fixed"), field="note")
    before = transition(task, T.RESOLVED, TASK_ALLOWED, "quality_task")
    task.resolved_at, task.resolved_by, task.resolution_note = clock.now(), actor.username[:100], note.strip()
    session.flush()
    _audit(session, actor, "quality_task_resolve", task, before={"status": before.value},
           after={"status": T.RESOLVED.value}, extra={"note": task.resolution_note})
    return task


@dataclass(frozen=True)
class TaskFilter:
    """Filters of the task list: status, the responsible unit, overdue only."""

    status: str | None = None
    org_id: uuid.UUID | None = None
    overdue: bool = False


def quality_task_list(session: Session, actor: Actor, flt: TaskFilter = TaskFilter(), limit: int = 50,
                      offset: int = 0) -> tuple[list[tuple[QualityTask, str, bool]], int]:
    """(task, entry title, overdue) the actor may see, overdue and oldest deadline first; and the total."""
    policies.data_read(actor)
    if flt.status is not None and flt.status not in {s.value for s in T}:
        raise ValidationFailed(_("Unknown status"), field="status")
    stmt = (select(QualityTask, CatalogEntry.title, func.count().over())
            .join(CatalogEntry, CatalogEntry.id == QualityTask.entry_id))
    if not (actor.is_platform_admin or policies.is_bureau(actor)):
        stmt = stmt.where(QualityTask.org_id.in_(policies.readable_orgs(actor)))
    if flt.org_id is not None:
        stmt = stmt.where(QualityTask.org_id == flt.org_id)
    if flt.status:
        stmt = stmt.where(QualityTask.status == flt.status)
    now = clock.now()
    if flt.overdue:
        stmt = stmt.where(QualityTask.status == T.OPEN, QualityTask.deadline_at < now)
    stmt = stmt.order_by(QualityTask.closed_at.is_not(None), QualityTask.deadline_at, QualityTask.id)
    rows = session.execute(stmt.limit(limit).offset(offset)).all()
    return [(t, str(title), is_overdue(t, now)) for t, title, _n in rows], int(rows[0][2]) if rows else 0


def task_figures(session: Session) -> dict[uuid.UUID, dict[str, Any]]:
    """Per responsible unit: tasks, open ones, overdue ones, and timeliness (the 责任清单 KPI's part).

    Timeliness is the share of *due* tasks the unit resolved in time: a task is due once it is resolved or closed,
    or open past its deadline; it was in time when the unit resolved it (or a run closed it) by the deadline.
    """
    now = clock.now()
    out: dict[uuid.UUID, dict[str, Any]] = {}
    for t in session.scalars(select(QualityTask)):
        f = out.setdefault(t.org_id, {"tasks": 0, "open": 0, "overdue": 0, "due": 0, "in_time": 0})
        f["tasks"] += 1
        deadline = clock.as_utc(t.deadline_at)
        done = t.resolved_at or t.closed_at
        if t.status != T.CLOSED:
            f["open"] += 1
        if is_overdue(t, now):
            f["overdue"] += 1
            f["due"] += 1
        elif done is not None:
            f["due"] += 1
            f["in_time"] += int(clock.as_utc(done) <= deadline)
    for f in out.values():
        f["timeliness"] = round(f["in_time"] / f["due"], 4) if f["due"] else None
    return out
