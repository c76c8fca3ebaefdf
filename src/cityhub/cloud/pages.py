"""Cloud pages: capacity, tenancies and requests, migration dashboard, DR matrix, scorecards.

The request pages carry the order form and the approval queue; scorecards show the 云长 view and the ranking.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from cityhub.cloud import policies, schemas, service
from cityhub.cloud.reference import DR_LEVELS
from cityhub.core import service as core
from cityhub.core.deps import CurrentActor
from cityhub.core.permissions import P
from cityhub.kit import clock
from cityhub.kit.errors import CityhubError, Forbidden
from cityhub.kit.i18n import gettext as _
from cityhub.kit.pagination import MAX_OFFSET, PageParams
from cityhub.kit.web import DbSession, NavItem, SessionRoute, form_action, register_nav, render

router = APIRouter(prefix="/cloud", include_in_schema=False, route_class=SessionRoute)
# the capacity page is the platform's view (providers, pools): its team and the bureau's approvers
_PLATFORM = (P.CLOUD_PLATFORM_MANAGE, P.CLOUD_PLATFORM_INSPECT, P.CLOUD_REQUEST_APPROVE_BUREAU)
register_nav(
    NavItem("cloud", "Cloud capacity", "/cloud", order=10, permissions=_PLATFORM),
    NavItem("cloud", "Tenancies and requests", "/cloud/tenancies", order=20, permissions=(P.CLOUD_READ,)),
    NavItem("cloud", "Migration", "/cloud/migration", order=30, permissions=(P.CLOUD_READ,)),
    NavItem("cloud", "Disaster recovery", "/cloud/dr", order=40, permissions=(P.CLOUD_READ,)),
    NavItem("cloud", "Cloud chief scorecards", "/cloud/scorecards", order=50, permissions=(P.CLOUD_READ,)),
)
Csrf = Annotated[str, Form(max_length=100)]
LIST_PAGE = 20  # rows per list on a page (requests, tenancies, chargeback): each list has its own pager


@router.get("")
def capacity(request: Request, session: DbSession, actor: CurrentActor) -> Response:
    """Providers and pools: capacity and allocation."""
    pools = service.pool_list(session, actor)
    regions = {r.id: r for r in service.region_list(session, actor)}
    accounts = {a.id: a for a in service.provider_account_list(session, actor)}
    rows = []
    for p in pools:
        region = regions.get(p.region_id)
        account = accounts.get(region.account_id) if region else None
        rows.append({"pool": p, "region": region.name if region else "", "provider": account.name if account else "",
                     "util": round(100 * p.vcpus_used / p.vcpus_total, 1) if p.vcpus_total else 0.0})
    return render(request, "cloud/capacity.html", {
        "overview": service.overview(session, actor), "by_provider": service.pools_by_provider(session, actor),
        "rows": rows, "accounts": list(accounts.values()), "catalog": service.catalog_list(session, actor)})


@router.get("/tenancies")
def tenancies(request: Request, session: DbSession, actor: CurrentActor, msg: str | None = None,
              status: str | None = Query(None, max_length=20), org_id: uuid.UUID | None = None,
              offset: int = Query(0, ge=0, le=10_000_000), toffset: int = Query(0, ge=0, le=100_000),
              boffset: int = Query(0, ge=0, le=100_000)) -> Response:
    """Tenancy usage vs quota, the order form, the approval queue, requests, chargeback — each list paged."""
    tens = service.tenancy_list(session, actor)
    usage = {t.id: service.tenancy_usage(session, t.id) for t in tens}
    names = core.organization_names(session)
    orderable = [t for t in tens if policies.request_create_allowed(actor, t.org_id)]
    reqs, total = service.request_list(session, actor, PageParams(limit=LIST_PAGE, offset=offset),
                                       status=status or None, org_id=org_id)
    items = {c.id: c for c in service.catalog_list(session, actor)}
    month = clock.now().strftime("%Y-%m")
    bills = service.chargeback(session, actor, month)
    queue = service.approval_queue(session, actor)
    return render(request, "cloud/tenancies.html", {
        "month": month, "bills": bills[boffset:boffset + LIST_PAGE], "bills_total": len(bills), "boffset": boffset,
        "bills_sum": sum(b.amount for b in bills),
        "idle": service.idle_case_list(session, actor, open_only=True)[:LIST_PAGE],
        "tenancies": tens[toffset:toffset + LIST_PAGE], "tenancies_total": len(tens), "toffset": toffset,
        "usage": usage, "names": names, "orderable": orderable, "catalog": list(items.values()),
        "items": items, "queue": queue[:LIST_PAGE], "queue_total": len(queue), "requests": reqs, "total": total,
        "offset": offset, "limit": LIST_PAGE, "msg": msg, "status": status, "org_id": org_id,
        "request_vocab": schemas.RequestStatus, "units": sorted({(t.org_id, names.get(t.org_id, t.name)) for t in tens},
                                                              key=lambda u: u[1]),
        "chart": [{"name": names.get(t.org_id, t.name).removeprefix("重庆市"), "vcpus": usage[t.id]["vcpus"],
                   "quota": t.quota_vcpus} for t in tens if usage[t.id]["vcpus"] or len(tens) < 12][:40]})


@router.post("/requests")
def request_create(
    request: Request, session: DbSession, actor: CurrentActor, csrf_token: Csrf,
    tenancy_id: Annotated[uuid.UUID, Form()], item_id: Annotated[uuid.UUID, Form()],
    quantity: Annotated[int, Form(ge=1, le=100)] = 1, security_level: Annotated[int, Form(ge=1, le=4)] = 2,
    strategy: Annotated[str, Form(max_length=10)] = "spread", purpose: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Order from the catalog."""
    keep = {"tenancy_id": str(tenancy_id), "item_id": str(item_id), "quantity": quantity,
            "security_level": security_level, "strategy": strategy, "purpose": purpose}
    with form_action(request, session, csrf_token, _("Request submitted"), keep=keep) as done:
        data = schemas.RequestCreate(item_id=item_id, quantity=quantity, security_level=security_level,
                                     strategy=strategy, purpose=purpose)
        service.request_create(session, actor, tenancy_id, data)
    return done.redirect("/cloud/tenancies")


@router.post("/requests/{request_id}/{decision}")
def request_decide(request: Request, session: DbSession, actor: CurrentActor, request_id: uuid.UUID,
                   decision: str, csrf_token: Csrf, note: Annotated[str, Form(max_length=500)] = "") -> Response:
    """Approve, reject or reclaim from the queue."""
    with form_action(request, session, csrf_token, _("Saved")) as done:
        if decision == "approve":
            service.request_approve(session, actor, request_id, note)
        elif decision == "reject":
            service.request_reject(session, actor, request_id, note)
        elif decision == "reclaim":
            service.request_reclaim(session, actor, request_id)
        else:
            raise Forbidden(_("Unknown decision"))
    return done.redirect("/cloud/tenancies")


@router.get("/migration")
def migration(request: Request, session: DbSession, actor: CurrentActor, org_id: uuid.UUID | None = None,
              status: str | None = Query(None, max_length=20), q: str | None = Query(None, max_length=100),
              offset: int = Query(0, ge=0, le=MAX_OFFSET)) -> Response:
    """上云率/整合率 dashboard and the system inventory."""
    city, units = service.ratios(session, actor)
    history_org = org_id if org_id else (None if city else (units[0].org_id if units else None))
    try:
        history = service.ratio_history(session, actor, history_org) if (city or history_org) else []
    except CityhubError:
        history = []
    page = PageParams(limit=50, offset=offset)
    systems, total = service.system_list(session, actor, page, org_id=org_id, status=status, q=q)
    names = core.organization_names(session)
    by_status: dict[str, int] = {}
    for s in service.system_list(session, actor, PageParams(limit=500, offset=0), org_id=org_id)[0]:
        by_status[s.status] = by_status.get(s.status, 0) + 1
    return render(request, "cloud/migration.html", {
        "city": city, "units": units, "history": [{"day": h.day.isoformat(), "cloud": h.on_cloud_ratio,
                                                   "integration": h.integration_ratio} for h in history],
        "systems": systems, "total": total, "offset": offset, "names": names, "org_id": org_id, "status": status,
        "q": q or "", "by_status": by_status, "system_vocab": schemas.SystemStatus, "hosting_vocab": schemas.Hosting,
        "strategy_vocab": schemas.Strategy,
        "units_chart": [{"name": u.org_name.removeprefix("重庆市"), "cloud": round(100 * u.on_cloud_ratio, 1),
                         "integration": round(100 * u.integration_ratio, 1),
                         "cloud_target": round(100 * u.on_cloud_target), "integration_target":
                         round(100 * u.integration_target)} for u in units], "statuses": service.SYSTEM_STATUSES})


@router.get("/dr")
def dr(request: Request, session: DbSession, actor: CurrentActor, offset: int = Query(0, ge=0, le=1_000_000)
       ) -> Response:
    """DR matrix (required vs actual GB/T 20988 level) and the gap report, a page at a time."""
    matrix = service.dr_matrix(session, actor)
    gaps = service.dr_gaps(session, actor)
    cells = [[a, r, matrix[r][a]] for r in range(6) for a in range(6)]
    names = core.organization_names(session)
    return render(request, "cloud/dr.html", {
        "cells": cells, "max": max((c[2] for c in cells), default=1) or 1,
        "gaps": gaps[offset:offset + LIST_PAGE], "gaps_total": len(gaps), "offset": offset, "limit": LIST_PAGE,
        "levels": DR_LEVELS, "names": names, "dr_roles": schemas.DrRole})


@router.get("/scorecards")
def scorecards(request: Request, session: DbSession, actor: CurrentActor, org_id: uuid.UUID | None = None
               ) -> Response:
    """The caller's unit scorecards (云长) and, for the bureau, the ranking of all units."""
    mine = service.my_units(session, actor)
    cards: list[Any] = []
    if org_id is not None:
        cards = [service.scorecard(session, actor, org_id)]
    else:
        cards = service.scorecards(session, actor, [oid for oid, _n in mine[:3]])
    try:
        ranking = service.ranking(session, actor)
    except Forbidden:
        ranking = []
    return render(request, "cloud/scorecards.html", {
        "cards": cards, "ranking": ranking, "idle_vocab": schemas.IdleStatus,
        "ranking_chart": [{"name": c.org_name.removeprefix("重庆市"), "score": c.score} for c in ranking[:40]]})
