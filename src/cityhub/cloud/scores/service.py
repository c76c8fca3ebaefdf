"""云长 scorecards: one unit's standing, and the ranking of every unit (the bureau's view).

Score out of 100: 40 × 上云率/target + 30 × 整合率/target (each capped at 1) + 20 × share of systems without a DR
gap + 10 when no idle case is open. Reads only: nothing here writes.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityhub.cloud import policies
from cityhub.cloud.models import (
    IdleCase,
    IdleStatus,
    InfoSystem,
    Resource,
    ResourceRequest,
    ResourceStatus,
    Tenancy,
    UsageDay,
)
from cityhub.cloud.schemas import Ratios, Scorecard
from cityhub.cloud.systems.service import ratio_rows, ratios_of, unit_levels
from cityhub.cloud.tenancies.metering import IDLE_WINDOW_DAYS
from cityhub.cloud.tenancies.service import (
    OPEN_REQUEST,
    QUOTA_KEYS,
    is_unit_head,
    tenancy_for_org,
    tenancy_quota,
    tenancy_usage,
)
from cityhub.core import service as core
from cityhub.core.service import Actor
from cityhub.kit import clock
from cityhub.kit.errors import NotFound
from cityhub.kit.i18n import gettext as _


def _scorecard(session: Session, org_id: uuid.UUID, name: str, head: str, r: Ratios) -> Scorecard:
    since = clock.now().date() - timedelta(days=IDLE_WINDOW_DAYS)
    util = session.scalar(select(func.avg(UsageDay.cpu_avg)).where(UsageDay.org_id == org_id,
                                                                   UsageDay.day >= since))
    t = tenancy_for_org(session, org_id)
    quota_usage: dict[str, float] = {}
    if t is not None:
        usage = tenancy_usage(session, t.id)
        quota = tenancy_quota(t)
        quota_usage = {k: round(usage[k] / quota[k], 3) if quota[k] else 0.0 for k in QUOTA_KEYS}
    case = session.scalar(select(IdleCase).where(IdleCase.org_id == org_id, IdleCase.status != IdleStatus.RESOLVED))
    gaps = session.scalar(select(func.count()).where(InfoSystem.org_id == org_id,
                                                     InfoSystem.dr_actual < InfoSystem.dr_required)) or 0
    open_req = session.scalar(select(func.count()).where(ResourceRequest.org_id == org_id,
                                                         ResourceRequest.status.in_(OPEN_REQUEST))) or 0
    cost = session.scalar(select(func.coalesce(func.sum(Resource.monthly_price), 0))
                          .where(Resource.org_id == org_id, Resource.status == ResourceStatus.ACTIVE)) or 0
    all_systems = session.scalar(select(func.count()).where(InfoSystem.org_id == org_id)) or 0
    # Score out of 100: ratios against targets weigh most, then DR coverage, then no open idle case.
    score = (40 * min(1.0, r.on_cloud_ratio / r.on_cloud_target if r.on_cloud_target else 1.0)
             + 30 * min(1.0, r.integration_ratio / r.integration_target if r.integration_target else 1.0)
             + 20 * (1 - gaps / all_systems if all_systems else 1.0)
             + 10 * (0.0 if case is not None else 1.0))
    return Scorecard(org_id=org_id, org_name=name, head=head, ratios=r,
                     utilisation=round(float(util), 2) if util is not None else None, quota_usage=quota_usage,
                     idle_status=case.status if case else None, idle_ratio=round(case.idle_ratio, 3) if case else None,
                     dr_gaps=int(gaps), open_requests=int(open_req), monthly_cost=round(float(cost), 2),
                     score=round(score, 1))


def scorecard(session: Session, actor: Actor, org_id: uuid.UUID) -> Scorecard:
    """The 云长 scorecard of one unit (its staff and the bureau see it)."""
    if not (policies.org_visible(actor, org_id) or is_unit_head(session, actor, org_id)):
        raise NotFound(_("Organisation not found"), details={"id": str(org_id)})
    org = core.organization_get(session, actor, org_id)
    head = core.organization_head(session, org_id)
    n, c, i = ratio_rows(session, [org_id]).get(org_id, (0, 0, 0))
    return _scorecard(session, org_id, org.name, head.display_name if head else "",
                      ratios_of(org_id, org.name, n, c, i, clock.now().year, unit_levels(session)[org_id]))


def ranking(session: Session, actor: Actor) -> list[Scorecard]:
    """Every unit with systems or a tenancy, ranked by score (the bureau's view)."""
    policies.ranking_read(actor)
    rows = ratio_rows(session, None)
    orgs = {o.id: o for o in core.organization_all(session)}
    ids = set(rows) | set(session.scalars(select(Tenancy.org_id)))
    year = clock.now().year
    levels = unit_levels(session)
    cards = []
    for oid in ids:
        if oid not in orgs:
            continue
        head = core.organization_head(session, oid)
        cards.append(_scorecard(session, oid, orgs[oid].name, head.display_name if head else "",
                                ratios_of(oid, orgs[oid].name, *rows.get(oid, (0, 0, 0)), year, levels[oid])))
    cards.sort(key=lambda c: (-c.score, c.org_name))
    for i, card in enumerate(cards, 1):
        card.rank = i
    return cards


def my_units(session: Session, actor: Actor) -> list[tuple[uuid.UUID, str]]:
    """Units whose scorecard the actor sees as their own (headed or administered)."""
    orgs = core.organization_all(session)
    mine = set(actor.staff_orgs) | {o.id for o in orgs if o.head_user_id == actor.user_id}
    return [(o.id, o.name) for o in orgs if o.id in mine and (
        o.id in ratio_rows(session, [o.id]) or tenancy_for_org(session, o.id) is not None)]
