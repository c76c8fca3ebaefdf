"""Connect pages: asset tree and device list, device page (latest values, live charts), quarantine view.

Registration and token rotation show the new token once, on the page that answers the form.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError

from cityhub.connect import policies, schemas, service
from cityhub.core import service as core
from cityhub.core.deps import CurrentActor
from cityhub.core.permissions import P
from cityhub.kit import i18n
from cityhub.kit.errors import CityhubError
from cityhub.kit.i18n import gettext as _
from cityhub.kit.pagination import PageParams
from cityhub.kit.web import (
    DbSession,
    NavItem,
    SessionRoute,
    error_text,
    form_action,
    redirect_with_message,
    register_nav,
    render,
    verify_csrf,
)

router = APIRouter(prefix="/connect", include_in_schema=False, route_class=SessionRoute)
register_nav(
    NavItem("connect", "Devices", "/connect", order=10, permissions=(P.CONNECT_READ,)),
    NavItem("connect", "Quarantine", "/connect/quarantine", order=20, permissions=(P.CONNECT_INSPECT,)),
)
Csrf = Annotated[str, Form(max_length=100)]
PER_PAGE = 50
VOCABULARIES = {"AssetKind": schemas.AssetKind, "DeviceStatus": schemas.DeviceStatus,
                "QuarantineReason": schemas.QuarantineReason}


def _local_name(item: Any) -> str:
    """A profile's or metric's name in the page's language (English when it has one and the page is English)."""
    name_en = item.get("name_en") if isinstance(item, dict) else getattr(item, "name_en", "")
    name = item.get("name") if isinstance(item, dict) else item.name
    return str(name_en if name_en and i18n.get_locale() == "en" else name)


def _open_assets(tree: list[dict[str, Any]], selected: uuid.UUID | None) -> set[uuid.UUID]:
    """The selected asset and its ancestors: the tree nodes shown unfolded."""
    def walk(nodes: list[dict[str, Any]], path: list[uuid.UUID]) -> list[uuid.UUID] | None:
        for n in nodes:
            here = [*path, n["asset"].id]
            if n["asset"].id == selected:
                return here
            found = walk(n["children"], here)
            if found:
                return found
        return None

    return set(walk(tree, []) or []) if selected else set()


def _staff_orgs(session: Any, actor: Any) -> list[Any]:
    orgs = core.organization_all(session)
    return [o for o in orgs if policies.device_write_allowed(actor, o.id)]


@router.get("")
def devices(request: Request, session: DbSession, actor: CurrentActor, msg: str | None = None,
            profile: str | None = Query(None, max_length=60), status: str | None = Query(None, max_length=20),
            asset_id: uuid.UUID | None = None, org_id: uuid.UUID | None = None,
            q: str | None = Query(None, max_length=100), offset: int = Query(0, ge=0, le=1_000_000)) -> Response:
    """Asset tree, device list with filters, registration form."""
    page = PageParams(limit=PER_PAGE, offset=offset)
    rows, total = service.device_list(session, actor, page, profile_code=profile or None, status=status or None,
                                      asset_id=asset_id, org_id=org_id, q=q or None)
    names = core.organization_names(session)
    codes = service.profile_codes(session)
    assets = {a.id: a for a in service.asset_list(session, actor)}
    seen = service.last_seen(session, [d.id for d in rows])
    profiles = service.device_profile_list(session, actor)
    tree = service.asset_tree(session, actor)
    # owners to filter by: the units whose assets the actor sees (and the one filtered on)
    owner_ids = {a.org_id for a in assets.values()} | ({org_id} if org_id else set())
    owners = sorted(((o, names[o]) for o in owner_ids if o in names), key=lambda x: x[1])
    return render(request, "connect/devices.html", {**VOCABULARIES,
        "rows": rows, "total": total, "offset": offset, "per_page": PER_PAGE, "names": names, "codes": codes,
        "assets": assets, "tree": tree, "open_assets": _open_assets(tree, asset_id), "seen": seen,
        "profiles": profiles, "profile_names": {p.code: _local_name(p) for p in profiles}, "owners": owners,
        "filters": {"profile": profile or "", "status": status or "", "q": q or "",
                    "asset_id": str(asset_id) if asset_id else "", "org_id": str(org_id) if org_id else ""},
        "overview": service.overview(session, actor), "staff_orgs": _staff_orgs(session, actor), "msg": msg})


@router.post("/devices")
def device_register(
    request: Request, session: DbSession, actor: CurrentActor, csrf_token: Csrf,
    name: Annotated[str, Form(max_length=200)], org_id: Annotated[uuid.UUID, Form()],
    profile_code: Annotated[str, Form(max_length=60)], asset_id: Annotated[str, Form(max_length=40)] = "",
    serial: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Register a device; the next page shows its token once."""
    verify_csrf(request, csrf_token)
    try:
        data = schemas.DeviceCreate(name=name, org_id=org_id, profile_code=profile_code, serial=serial,
                                    asset_id=uuid.UUID(asset_id) if asset_id else None)
        with session.begin_nested():
            device, token = service.device_create(session, actor, data)
    except (ValidationError, CityhubError, ValueError) as exc:
        return redirect_with_message("/connect", error_text(exc))
    return _device_page(request, session, actor, device.id, token=token)


def _device_page(request: Request, session: Any, actor: Any, device_id: uuid.UUID, *, token: str | None = None,
                 msg: str | None = None) -> Response:
    device = service.device_get(session, actor, device_id)
    profile = next(p for p in service.device_profile_list(session, actor) if p.id == device.profile_id)
    latest = service.device_latest(session, actor, device_id)
    metrics = [{**dict(m), "name": _local_name(dict(m))} for m in profile.metrics]
    recent, _total = service.quarantine_list(session, actor, PageParams(limit=10, offset=0), device_id=device_id)
    asset = service.asset_get(session, actor, device.asset_id) if device.asset_id else None
    can_change = policies.device_write_allowed(actor, device.org_id)
    return render(request, "connect/device.html", {**VOCABULARIES,
        "device": device, "profile": profile, "profile_name": _local_name(profile), "metrics": metrics,
        "latest": latest, "asset": asset,
        "org_name": core.organization_names(session).get(device.org_id, ""),
        "quarantine_counts": service.quarantine_counts(session, device_id), "recent": recent, "token": token,
        "topic": service.topic_for(device.id), "can_change": can_change, "msg": msg,
        "next_statuses": sorted(s.value for s in service.DEVICE_FLOW[schemas.DeviceStatus(device.status)])})


@router.get("/devices/{device_id}")
def device(request: Request, session: DbSession, actor: CurrentActor, device_id: uuid.UUID,
           msg: str | None = None) -> Response:
    """Latest values, auto-refreshing charts, quarantine counts, status and token rotation."""
    return _device_page(request, session, actor, device_id, msg=msg)


@router.post("/devices/{device_id}/token")
def device_token(request: Request, session: DbSession, actor: CurrentActor, device_id: uuid.UUID,
                 csrf_token: Csrf) -> Response:
    """Rotate the device token; the page shows the new one once."""
    verify_csrf(request, csrf_token)
    try:
        with session.begin_nested():
            _device, token = service.device_token_rotate(session, actor, device_id)
    except CityhubError as exc:
        return redirect_with_message(f"/connect/devices/{device_id}", error_text(exc))
    return _device_page(request, session, actor, device_id, token=token)


@router.post("/devices/{device_id}/status")
def device_status(request: Request, session: DbSession, actor: CurrentActor, device_id: uuid.UUID,
                  csrf_token: Csrf, status: Annotated[str, Form(max_length=20)]) -> Response:
    """Disable, re-enable or decommission a device."""
    with form_action(request, session, csrf_token, _("Saved")) as done:
        service.device_update(session, actor, device_id, schemas.DeviceUpdate(status=status))
    return done.redirect(f"/connect/devices/{device_id}")


@router.get("/quarantine")
def quarantine(request: Request, session: DbSession, actor: CurrentActor,
               reason: str | None = Query(None, max_length=30), device_id: uuid.UUID | None = None,
               offset: int = Query(0, ge=0, le=1_000_000)) -> Response:
    """Quarantined messages and records, newest first, with counts per reason."""
    page = PageParams(limit=PER_PAGE, offset=offset)
    rows, total = service.quarantine_list(session, actor, page, device_id=device_id, reason=reason or None)
    counts = service.quarantine_counts(session) if policies.platform_team(actor) else {}
    return render(request, "connect/quarantine.html", {**VOCABULARIES,
        "rows": rows, "total": total, "offset": offset, "per_page": PER_PAGE, "reason": reason or "",
        "counts": counts, "device_names": _device_names(session, actor, {q.device_id for q in rows} | {device_id}),
        "device_id": str(device_id) if device_id else ""})


def _device_names(session: Any, actor: Any, ids: set[uuid.UUID | None]) -> dict[str, str]:
    """Names of the devices a page of quarantined items names (a deleted or invisible one keeps its id)."""
    out = {}
    for device_id in sorted(i for i in ids if i is not None):
        try:
            out[str(device_id)] = service.device_get(session, actor, device_id).name
        except CityhubError:
            continue
    return out
