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
    tenancy_quota,
    tenancy_usages,
)
from cityhub.core import service as core
from cityhub.core.service import Actor
from cityhub.kit import clock
from cityhub.kit.errors import NotFound
from cityhub.kit.i18n import gettext as _


def _scorecards(session: Session, units: list[tuple[uuid.UUID, str, str, Ratios]]) -> list[Scorecard]:
    """The scorecards of several units, a fixed number of grouped queries whatever their count (no query per unit)."""
    ids = [u[0] for u in units]
    if not ids:
        return []
    since = clock.now().date() - timedelta(days=IDLE_WINDOW_DAYS)
    util: dict[uuid.UUID, float | None] = dict(session.execute(select(UsageDay.org_id, func.avg(UsageDay.cpu_avg))
                                .where(UsageDay.org_id.in_(ids), UsageDay.day >= since)
                                .group_by(UsageDay.org_id)).tuples().all())
    tenancies = {t.org_id: t for t in session.scalars(select(Tenancy).where(Tenancy.org_id.in_(ids)))}
    usage = tenancy_usages(session, [t.id for t in tenancies.values()])
    cases: dict[uuid.UUID, IdleCase] = {}
    for open_case in session.scalars(select(IdleCase).where(IdleCase.org_id.in_(ids),
                                                            IdleCase.status != IdleStatus.RESOLVED)
                                     .order_by(IdleCase.id)):
        cases.setdefault(open_case.org_id, open_case)
    systems = {oid: (int(n), int(g)) for oid, n, g in session.execute(
        select(InfoSystem.org_id, func.count(), func.count().filter(InfoSystem.dr_actual < InfoSystem.dr_required))
        .where(InfoSystem.org_id.in_(ids)).group_by(InfoSystem.org_id)).tuples().all()}
    open_req = dict(session.execute(select(ResourceRequest.org_id, func.count())
                                    .where(ResourceRequest.org_id.in_(ids), ResourceRequest.status.in_(OPEN_REQUEST))
                                    .group_by(ResourceRequest.org_id)).tuples().all())
    cost = dict(session.execute(select(Resource.org_id, func.coalesce(func.sum(Resource.monthly_price), 0))
                                .where(Resource.org_id.in_(ids), Resource.status == ResourceStatus.ACTIVE)
                                .group_by(Resource.org_id)).tuples().all())
    cards = []
    for org_id, name, head, r in units:
        quota_usage: dict[str, float] = {}
        t = tenancies.get(org_id)
        if t is not None:
            used = usage.get(t.id, dict.fromkeys(QUOTA_KEYS, 0))
            quota = tenancy_quota(t)
            quota_usage = {k: round(used[k] / quota[k], 3) if quota[k] else 0.0 for k in QUOTA_KEYS}
        case = cases.get(org_id)
        all_systems, gaps = systems.get(org_id, (0, 0))
        u = util.get(org_id)
        # Score out of 100: ratios against targets weigh most, then DR coverage, then no open idle case.
        score = (40 * min(1.0, r.on_cloud_ratio / r.on_cloud_target if r.on_cloud_target else 1.0)
                 + 30 * min(1.0, r.integration_ratio / r.integration_target if r.integration_target else 1.0)
                 + 20 * (1 - gaps / all_systems if all_systems else 1.0)
                 + 10 * (0.0 if case is not None else 1.0))
        cards.append(Scorecard(
            org_id=org_id, org_name=name, head=head, ratios=r,
            utilisation=round(float(u), 2) if u is not None else None, quota_usage=quota_usage,
            idle_status=case.status if case else None, idle_ratio=round(case.idle_ratio, 3) if case else None,
            dr_gaps=gaps, open_requests=int(open_req.get(org_id, 0)),
            monthly_cost=round(float(cost.get(org_id, 0) or 0), 2), score=round(score, 1)))
    return cards


def scorecard(session: Session, actor: Actor, org_id: uuid.UUID) -> Scorecard:
    """The 云长 scorecard of one unit (its staff and the bureau see it)."""
    return scorecards(session, actor, [org_id])[0]


def scorecards(session: Session, actor: Actor, org_ids: list[uuid.UUID]) -> list[Scorecard]:
    """The 云长 scorecards of several units, in the order asked (404 on any the actor may not see)."""
    for org_id in org_ids:
        if not (policies.org_visible(actor, org_id) or is_unit_head(session, actor, org_id)):
            raise NotFound(_("Organisation not found"), details={"id": str(org_id)})
    orgs = {org_id: core.organization_get(session, actor, org_id) for org_id in org_ids}
    heads = core.organization_heads(session, org_ids)
    rows = ratio_rows(session, org_ids)
    year = clock.now().year
    levels = unit_levels(session)
    names = core.organization_names(session)  # in the reader's language
    return _scorecards(session, [(oid, names.get(oid, orgs[oid].name), heads.get(oid, ""),
                                  ratios_of(oid, names.get(oid, orgs[oid].name), *rows.get(oid, (0, 0, 0)), year,
                                            levels[oid]))
                                 for oid in org_ids])


def ranking(session: Session, actor: Actor) -> list[Scorecard]:
    """Every unit with systems or a tenancy, ranked by score (the bureau's view)."""
    policies.ranking_read(actor)
    rows = ratio_rows(session, None)
    orgs = {o.id: o for o in core.organization_all(session)}
    ids = [oid for oid in set(rows) | set(session.scalars(select(Tenancy.org_id))) if oid in orgs]
    heads = core.organization_heads(session, ids)
    year = clock.now().year
    levels = unit_levels(session)
    names = core.organization_names(session)  # in the reader's language
    cards = _scorecards(session, [(oid, names[oid], heads.get(oid, ""),
                                   ratios_of(oid, names[oid], *rows.get(oid, (0, 0, 0)), year, levels[oid]))
                                  for oid in ids])
    cards.sort(key=lambda c: (-c.score, c.org_name))
    for i, card in enumerate(cards, 1):
        card.rank = i
    return cards


def my_units(session: Session, actor: Actor) -> list[tuple[uuid.UUID, str]]:
    """Units whose scorecard the actor sees as their own (headed or administered)."""
    orgs = core.organization_all(session)
    mine = set(actor.staff_orgs) | {o.id for o in orgs if o.head_user_id == actor.user_id}
    ids = [o.id for o in orgs if o.id in mine]
    if not ids:
        return []
    with_systems = set(ratio_rows(session, ids))
    with_tenancy = set(session.scalars(select(Tenancy.org_id).where(Tenancy.org_id.in_(ids))))
    names = core.organization_names(session)
    return [(o.id, names[o.id]) for o in orgs if o.id in mine and (o.id in with_systems or o.id in with_tenancy)]
