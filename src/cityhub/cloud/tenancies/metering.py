"""Metering of what tenancies hold: daily utilisation, the monthly chargeback, and the idle rule.

The idle rule of the management rules: a node idles when its 30-day mean CPU is under `IDLE_CPU_PERCENT`; a tenancy
is over-provisioned when idle capacity (by vCPU) exceeds `ALLOWED_REDUNDANCY` of its capacity. Such a tenancy is
reminded, escalated to the bureau a month later, and offered a forced reduction five working days after that.
"""

from __future__ import annotations

import calendar
import logging
import statistics
import uuid
from datetime import date, datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from cityhub.cloud import policies
from cityhub.cloud.models import IdleCase, IdleStatus, Resource, ResourceStatus, Tenancy, UsageDay
from cityhub.cloud.plugins import CloudProvider, ProviderError
from cityhub.cloud.providers.service import provider_of
from cityhub.cloud.schemas import Chargeback
from cityhub.core import service as core
from cityhub.core.service import Actor
from cityhub.kit import clock
from cityhub.kit.errors import ValidationFailed, transition
from cityhub.kit.i18n import gettext as _

log = logging.getLogger("cityhub.cloud")

IDLE_FLOW: dict[IdleStatus, set[IdleStatus]] = {
    IdleStatus.REMINDED: {IdleStatus.ESCALATED, IdleStatus.RESOLVED},
    IdleStatus.ESCALATED: {IdleStatus.REDUCTION_PROPOSED, IdleStatus.RESOLVED},
    IdleStatus.REDUCTION_PROPOSED: {IdleStatus.RESOLVED},
}
IDLE_CPU_PERCENT = 10.0
ALLOWED_REDUNDANCY = 0.2
IDLE_WINDOW_DAYS = 30
ESCALATE_WORKING_DAYS = 5


# ---------------------------------------------------------------- usage and chargeback


def usage_collect(session: Session, actor: Actor, day: date) -> int:
    """Collect one day's utilisation of every active node (idempotent: a day is stored once per node)."""
    policies.usage_collect(actor)
    done = set(session.scalars(select(UsageDay.resource_id).where(UsageDay.day == day)))
    providers: dict[uuid.UUID, CloudProvider] = {}
    n = 0
    for res in session.scalars(select(Resource).where(Resource.kind == "node",
                                                      Resource.status == ResourceStatus.ACTIVE)):
        if res.id in done or (res.active_since and res.active_since.date() > day):
            continue
        prov = providers.get(res.account_id) or provider_of(session, res.account_id)
        providers[res.account_id] = prov
        try:
            hourly = prov.utilisation(res.external_id, day)
        except ProviderError as exc:
            log.warning("utilisation of %s failed: %s", res.name, exc)
            continue
        if not hourly:
            continue
        session.add(UsageDay(resource_id=res.id, org_id=res.org_id, day=day,
                             cpu_avg=round(statistics.fmean(hourly), 2), cpu_peak=max(hourly)))
        n += 1
    session.flush()
    if n:
        core.audit_record(session, actor, "usage_collect", target_type="cloud_usage_day",
                          target_id=day.isoformat(), extra={"nodes": n})
    return n


def usage_series(session: Session, actor: Actor, org_id: uuid.UUID | None, days: int = 30
                 ) -> list[tuple[date, float]]:
    """Daily mean CPU % of a unit (or everything the actor sees)."""
    since = clock.now().date() - timedelta(days=days)
    stmt = (select(UsageDay.day, func.avg(UsageDay.cpu_avg)).where(UsageDay.day >= since)
            .where(policies.org_visible_filter(actor, UsageDay.org_id)).group_by(UsageDay.day)
            .order_by(UsageDay.day))
    if org_id:
        stmt = stmt.where(UsageDay.org_id == org_id)
    return [(d, round(float(v), 2)) for d, v in session.execute(stmt).all()]


def _month_bounds(month: str) -> tuple[datetime, datetime, int]:
    try:
        year, mon = (int(x) for x in month.split("-"))
        start = datetime(year, mon, 1, tzinfo=clock.now().tzinfo)
    except ValueError as exc:
        raise ValidationFailed(_("month must look like 2026-11"), field="month") from exc
    days = calendar.monthrange(year, mon)[1]
    return start, start + timedelta(days=days), days


def chargeback(session: Session, actor: Actor, month: str) -> list[Chargeback]:
    """Each visible department's bill for `month`: monthly prices prorated by the days each resource was held."""
    start, end, days = _month_bounds(month)
    stmt = (select(Resource).where(Resource.active_since.is_not(None), Resource.active_since < end,
                                   or_(Resource.reclaimed_at.is_(None), Resource.reclaimed_at >= start))
            .where(policies.org_visible_filter(actor, Resource.org_id)))
    bills: dict[uuid.UUID, list[float]] = {}
    for res in session.scalars(stmt):
        assert res.active_since is not None
        held_from = max(res.active_since, start)
        held_to = min(res.reclaimed_at or end, end)
        share = max(0.0, (held_to - held_from).total_seconds() / 86400) / days
        bills.setdefault(res.org_id, []).append(res.monthly_price * share)
    names = core.organization_names(session)  # in the reader's language
    return sorted((Chargeback(org_id=oid, org_name=names.get(oid, ""), month=month, resources=len(v),
                              amount=round(sum(v), 2)) for oid, v in bills.items()),
                  key=lambda c: -c.amount)


# ---------------------------------------------------------------- the idle rule


def _add_month(at: datetime) -> datetime:
    year, mon = (at.year + 1, 1) if at.month == 12 else (at.year, at.month + 1)
    return at.replace(year=year, month=mon, day=min(at.day, calendar.monthrange(year, mon)[1]))


def tenancy_idle(session: Session, tenancy_id: uuid.UUID) -> tuple[float, list[Resource]]:
    """Idle share of a tenancy's active vCPUs over the last 30 days, and the idle nodes."""
    since = clock.now().date() - timedelta(days=IDLE_WINDOW_DAYS)
    rows = session.execute(
        select(Resource, func.avg(UsageDay.cpu_avg))
        .join(UsageDay, UsageDay.resource_id == Resource.id, isouter=True)
        .where(Resource.tenancy_id == tenancy_id, Resource.kind == "node", Resource.status == ResourceStatus.ACTIVE,
               or_(UsageDay.day.is_(None), UsageDay.day >= since))
        .group_by(Resource.id)).all()
    total = sum(r.vcpus for r, _avg in rows)
    idle = [r for r, avg in rows if avg is not None and float(avg) < IDLE_CPU_PERCENT]
    return (sum(r.vcpus for r in idle) / total if total else 0.0), idle


def idle_check(session: Session, actor: Actor) -> dict[str, int]:
    """The idle rule of the management rules, idempotent per run.

    Remind → one month later escalate to the bureau → 5 working days later propose a forced reduction;
    resolved when the tenancy is back under the allowed redundancy.
    """
    policies.idle_check(actor)
    now = clock.now()
    out = {"reminded": 0, "escalated": 0, "proposed": 0, "resolved": 0}
    for t in session.scalars(select(Tenancy)):
        ratio, idle = tenancy_idle(session, t.id)
        case = session.scalar(select(IdleCase).where(IdleCase.tenancy_id == t.id,
                                                     IdleCase.status != IdleStatus.RESOLVED))
        over = ratio > ALLOWED_REDUNDANCY
        if case is None:
            if over:
                _idle_case_remind(session, actor, t, ratio)
                out["reminded"] += 1
            continue
        case.idle_ratio = ratio
        if not over:
            _idle_case_resolve(session, actor, case)
            out["resolved"] += 1
        elif case.status == IdleStatus.REMINDED and now >= _add_month(case.reminded_at):
            _idle_case_escalate(session, actor, case)
            out["escalated"] += 1
        elif case.status == IdleStatus.ESCALATED and case.escalated_at is not None and \
                now >= core.working_days_add(session, case.escalated_at, ESCALATE_WORKING_DAYS):
            _idle_case_propose(session, actor, case, idle)
            out["proposed"] += 1
    return out


def _idle_case_remind(session: Session, actor: Actor, t: Tenancy, ratio: float) -> None:
    policies.idle_case_remind(actor)
    case = IdleCase(tenancy_id=t.id, org_id=t.org_id, status=IdleStatus.REMINDED, idle_ratio=ratio,
                    reminded_at=clock.now())
    session.add(case)
    session.flush()
    core.audit_record(session, actor, "idle_case_remind", target_type="cloud_idle_case", target_id=case.id,
                      org_id=t.org_id, extra={"idle_ratio": round(ratio, 3)})


def _idle_case_resolve(session: Session, actor: Actor, case: IdleCase) -> None:
    policies.idle_case_resolve(actor)
    transition(case, IdleStatus.RESOLVED, IDLE_FLOW, "idle case")
    case.resolved_at = clock.now()
    session.flush()
    core.audit_record(session, actor, "idle_case_resolve", target_type="cloud_idle_case", target_id=case.id,
                      org_id=case.org_id, extra={"idle_ratio": round(case.idle_ratio, 3)})


def _idle_case_escalate(session: Session, actor: Actor, case: IdleCase) -> None:
    policies.idle_case_escalate(actor)
    transition(case, IdleStatus.ESCALATED, IDLE_FLOW, "idle case")
    case.escalated_at = clock.now()
    session.flush()
    core.audit_record(session, actor, "idle_case_escalate", target_type="cloud_idle_case", target_id=case.id,
                      org_id=case.org_id, extra={"idle_ratio": round(case.idle_ratio, 3)})


def _idle_case_propose(session: Session, actor: Actor, case: IdleCase, idle: list[Resource]) -> None:
    policies.idle_case_propose(actor)
    transition(case, IdleStatus.REDUCTION_PROPOSED, IDLE_FLOW, "idle case")
    case.proposed_at = clock.now()
    case.proposal = {"reclaim": [{"resource_id": str(r.id), "name": r.name, "vcpus": r.vcpus} for r in idle]}
    session.flush()
    core.audit_record(session, actor, "idle_case_propose", target_type="cloud_idle_case", target_id=case.id,
                      org_id=case.org_id, extra={"idle_ratio": round(case.idle_ratio, 3)})


def idle_case_list(session: Session, actor: Actor, open_only: bool = False) -> list[IdleCase]:
    """Idle cases the actor may see."""
    stmt = (select(IdleCase).where(policies.org_visible_filter(actor, IdleCase.org_id))
            .order_by(IdleCase.reminded_at.desc()))
    if open_only:
        stmt = stmt.where(IdleCase.status != IdleStatus.RESOLVED)
    return list(session.scalars(stmt))
