"""The data-channel and data-centre page (数据通道与数据中心): the two registers, their totals, the bureau's forms.

Mounted with the cockpit's router (`apply/pages.py`, `extra_routers`); every member of staff reads the registers.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from cityhub.apply import policies, reference, schemas
from cityhub.apply import service as apply
from cityhub.cloud import service as cloud
from cityhub.core import service as core
from cityhub.core.deps import CurrentActor
from cityhub.core.permissions import P
from cityhub.kit.errors import ValidationFailed
from cityhub.kit.i18n import gettext as _
from cityhub.kit.web import DbSession, NavItem, SessionRoute, form_action, register_nav, render

router = APIRouter(prefix="/apply/facilities", include_in_schema=False, route_class=SessionRoute)
register_nav(NavItem("apply", "Data channel and data centres", "/apply/facilities", order=45,
                     permissions=(P.APPLY_READ,)))
Csrf = Annotated[str, Form(max_length=100)]
TONES = {"active": "ok", "building": "warn", "planned": "", "retired": "err"}


def _number(text: str, field: str) -> float | None:
    if not text.strip():
        return None
    try:
        return float(text)
    except ValueError:
        raise ValidationFailed(_("Enter a number"), field=field) from None


@router.get("")
def facilities(request: Request, session: DbSession, actor: CurrentActor) -> Response:
    """Both registers with what they add up to in service."""
    orgs = core.organization_all(session)
    return render(request, "apply/facilities.html", {
        "users": apply.facilities.channel_user_list(session, actor),
        "centres": apply.facilities.data_centre_list(session, actor),
        "totals": apply.facilities.facility_totals(session, actor),
        "names": {o.id: o.name for o in orgs},
        "districts": [o for o in orgs if o.kind in apply.facilities.DISTRICT_KINDS],
        "pools": cloud.pool_list(session, actor) if policies.manages(actor) else [],
        "sectors": reference.CHANNEL_SECTORS, "tiers": reference.DC_TIERS, "roles": reference.DC_ROLES,
        "manages": policies.manages(actor), "tones": TONES})


@router.post("/channel-users")
def channel_user_create(request: Request, session: DbSession, actor: CurrentActor, csrf_token: Csrf,
                        name: Annotated[str, Form(max_length=200)], sector: Annotated[str, Form(max_length=30)],
                        bandwidth_mbps: Annotated[str, Form(max_length=20)],
                        credit_code: Annotated[str, Form(max_length=40)] = "",
                        district_org_id: Annotated[str, Form(max_length=40)] = "",
                        status: Annotated[str, Form(max_length=20)] = "planned",
                        commissioned_on: Annotated[date | None, Form()] = None) -> Response:
    """The bureau registers a channel user."""
    keep = {"user_name": name, "credit_code": credit_code, "bandwidth_mbps": bandwidth_mbps}
    with form_action(request, session, csrf_token, _("Channel user registered"), keep=keep) as done:
        apply.facilities.channel_user_create(session, actor, schemas.ChannelUserCreate.model_validate({
            "name": name, "sector": sector, "credit_code": credit_code, "district_org_id": district_org_id or None,
            "bandwidth_mbps": _number(bandwidth_mbps, "bandwidth_mbps"), "status": status,
            "commissioned_on": commissioned_on}))
    return done.redirect("/apply/facilities#users")


@router.post("/data-centres")
def data_centre_create(request: Request, session: DbSession, actor: CurrentActor, csrf_token: Csrf,
                       code: Annotated[str, Form(max_length=40)], name: Annotated[str, Form(max_length=120)],
                       operator: Annotated[str, Form(max_length=120)], tier: Annotated[str, Form(max_length=4)],
                       role: Annotated[str, Form(max_length=20)], site: Annotated[str, Form(max_length=200)] = "",
                       district_org_id: Annotated[str, Form(max_length=40)] = "",
                       liangjiang_park: Annotated[bool, Form()] = False,
                       racks: Annotated[str, Form(max_length=12)] = "0",
                       servers: Annotated[str, Form(max_length=12)] = "0",
                       pue: Annotated[str, Form(max_length=12)] = "",
                       status: Annotated[str, Form(max_length=20)] = "planned",
                       commissioned_on: Annotated[date | None, Form()] = None,
                       pool_ids: Annotated[list[str] | None, Form(max_length=100)] = None) -> Response:
    """The bureau registers a data centre and the cloud pools it hosts."""
    keep = dict(dc_code=code, dc_name=name, operator=operator, site=site, servers=servers, racks=racks, pue=pue)
    with form_action(request, session, csrf_token, _("Data centre registered"), keep=keep) as done:
        apply.facilities.data_centre_create(session, actor, schemas.DataCentreCreate.model_validate(dict(
            code=code, name=name, operator=operator, tier=tier, role=role, site=site,
            district_org_id=district_org_id or None, liangjiang_park=liangjiang_park,
            racks=_number(racks, "racks") or 0, servers=_number(servers, "servers") or 0,
            pue=_number(pue, "pue"), status=status, commissioned_on=commissioned_on, pool_ids=pool_ids or [])))
    return done.redirect("/apply/facilities#centres")
