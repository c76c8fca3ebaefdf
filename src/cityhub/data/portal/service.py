"""The open-data portal's own service functions: public users, 有条件开放 applications, open reads, statistics.

Public users are ordinary core users in the organisation coded `public` (公众用户) with no role binding, so
they are insiders of nothing: the data policies treat them like anonymous callers except for their own
applications and grants. Applications are sharing requests (the same transition table, events, deadlines and
audit) that go straight from `submitted` to the provider's review; activation creates the grant and an API
token scoped to it, shown once.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityhub.core import service as core
from cityhub.core.schemas import OrganizationCreate, OrgKind, UserCreate
from cityhub.core.service import Actor
from cityhub.data import policies
from cityhub.data.catalog import public as catalog_public
from cityhub.data.catalog import service as catalog
from cityhub.data.datastore import service as datastore
from cityhub.data.datastore.reads import open_items
from cityhub.data.models import Grant, PortalApiCall, PortalDownload, RequestEvent, RequestStatus, ShareRequest
from cityhub.data.schemas import OpenApplicationCreate, PublicUserRegister
from cityhub.data.sharing import grants
from cityhub.data.sharing import service as sharing
from cityhub.kit import clock
from cityhub.kit.db import is_postgres
from cityhub.kit.errors import Forbidden, NotFound, ValidationFailed
from cityhub.kit.i18n import gettext as _
from cityhub.kit.settings import get_settings

if TYPE_CHECKING:
    from cityhub.data.models import CatalogEntry, Resource

PUBLIC_ORG_CODE = core.PORTAL_ORG_CODE  # users at home there are portal accounts (core decides the principal kind)
APPLICATION_DAYS = 365  # validity of an approved application
PORTAL = Actor.system("portal")


def public_org_id(session: Session) -> uuid.UUID:
    """The organisation public users belong to (created on first use, top level: no department covers it)."""
    org = core.organization_by_code(session, PUBLIC_ORG_CODE)
    if org is None:
        org = core.organization_create(session, PORTAL, OrganizationCreate(
            name="公众用户", name_en="Public users", code=PUBLIC_ORG_CODE, kind=OrgKind.UNIT))
    return org.id


def is_public_user(actor: Actor) -> bool:
    """A citizen's portal account (the principal kind core gives users of the `public` organisation)."""
    return actor.is_portal_account


def public_user_register(session: Session, actor: Actor, data: PublicUserRegister) -> Any:
    """Register a public user (no department, no role); returns the core user."""
    policies.public_user_register(actor)
    user = core.user_create(session, PORTAL, UserCreate(
        username=data.username, display_name=data.display_name, email=data.email, org_id=public_org_id(session),
        password=data.password))
    core.audit_record(session, Actor(user_id=user.id, username=user.username, kind="portal"), "public_user_register",
                      target_type="user", target_id=user.id, org_id=user.org_id,
                      after={"username": user.username, "email": user.email})
    return user


# ---------------------------------------------------------------- applications for 有条件开放 data


def open_application_create(session: Session, actor: Actor, data: OpenApplicationCreate) -> ShareRequest:
    """Apply for a 有条件开放 entry with a purpose; the request waits in the provider's review queue."""
    policies.open_application_create(actor)
    try:
        entry = catalog.catalog_entry_get(session, actor, data.entry_id)
    except NotFound as exc:
        raise ValidationFailed(_("Catalog entry not found"), field="entry_id") from exc
    if not catalog.is_published(entry) or entry.open_type != "conditional":
        raise ValidationFailed(_("Only datasets open on conditions need an application"), field="entry_id")
    items = open_items(entry)
    if not items:
        raise ValidationFailed(_("This dataset has no information items the public may receive"), field="entry_id")
    pending = session.scalar(select(func.count()).select_from(ShareRequest).where(
        ShareRequest.entry_id == entry.id, ShareRequest.requester_user_id == actor.user_id,
        ShareRequest.status.in_([*sharing.OPEN_REQUEST_STATES, RequestStatus.ACTIVE])))
    if pending:
        raise ValidationFailed(_("You already have an open application for this dataset"), field="entry_id")
    now = clock.now()
    req = ShareRequest(
        entry_id=entry.id, provider_org_id=entry.provider_org_id, requester_org_id=public_org_id(session),
        requester_user_id=actor.user_id, items=items,
        legal_basis=_("Open data application") + f": {entry.open_condition}",
        purpose=data.purpose, scope=data.scope, scenario=data.scenario,
        consuming_system=f"公众用户 {actor.username}"[:200], valid_until=now + timedelta(days=APPLICATION_DAYS),
        quota=0, status=RequestStatus.DRAFT, core_grade=False)
    session.add(req)
    session.flush()
    session.add(RequestEvent(request_id=req.id, actor_name=actor.username[:100], to_status=RequestStatus.DRAFT))
    core.audit_record(session, actor, "open_application_create", target_type="share_request", target_id=req.id,
                      org_id=entry.provider_org_id, after={"entry": entry.code, "purpose": data.purpose[:200]})
    sharing.request_move(session, actor, req, RequestStatus.SUBMITTED)
    req.submitted_at = now
    entry.requests_count += 1
    sharing.request_move(session, actor, req, RequestStatus.PROVIDER_REVIEW)
    return req


def open_application_list(session: Session, actor: Actor) -> list[ShareRequest]:
    """The public user's own applications, newest first."""
    if actor.user_id is None:
        return []
    return list(session.scalars(select(ShareRequest).where(ShareRequest.requester_user_id == actor.user_id,
                                                           ShareRequest.requester_org_id == public_org_id(session))
                                .order_by(ShareRequest.created_at.desc()).limit(200)))


def _own_application(session: Session, actor: Actor, req_id: uuid.UUID) -> ShareRequest:
    req = session.get(ShareRequest, req_id)
    if req is None or actor.user_id is None or req.requester_user_id != actor.user_id \
            or req.requester_org_id != public_org_id(session):
        raise NotFound(_("Application not found"))
    return req


def open_application_activate(session: Session, actor: Actor, req_id: uuid.UUID) -> tuple[Grant, str]:
    """The applicant activates an approved application: a grant and a token limited to it (shown once)."""
    req = _own_application(session, actor, req_id)
    policies.open_application_activate(actor, req.requester_user_id)
    grant, token = sharing.share_request_activate(session, PORTAL, req.id)
    core.audit_record(session, actor, "open_application_activate", target_type="grant", target_id=grant.id,
                      org_id=req.provider_org_id, after={"request": str(req.id)})
    return grant, token


def open_application_withdraw(session: Session, actor: Actor, req_id: uuid.UUID) -> ShareRequest:
    """The applicant withdraws an application that is not decided yet."""
    req = _own_application(session, actor, req_id)
    policies.open_application_activate(actor, req.requester_user_id)
    sharing.request_move(session, actor, req, RequestStatus.WITHDRAWN, _("withdrawn by the applicant"))
    return req


# ---------------------------------------------------------------- reads of open data


def open_entry(session: Session, actor: Actor, ref: str) -> CatalogEntry:
    """An entry by id or name as the portal shows it: the open catalog for the public, more for insiders."""
    try:
        entry_id: uuid.UUID | None = uuid.UUID(ref)
    except ValueError:
        entry_id = None
    if entry_id is not None:
        return catalog.catalog_entry_get(session, actor, entry_id)
    return catalog.catalog_entry_by_name(session, actor, ref)


def open_resource(session: Session, actor: Actor, resource_id: uuid.UUID) -> tuple[Resource, CatalogEntry]:
    """A resource and its entry, visible to the caller."""
    return catalog.resource_get(session, actor, resource_id)


def _reads_all_items(actor: Actor, entry: CatalogEntry) -> bool:
    # The provider (in clear) and the bureau (masked) read every item through datastore_query.
    return policies.is_insider(actor) and (policies.datastore_read_full(actor, entry.provider_org_id)
                                           or policies.is_bureau(actor))


def rows(session: Session, actor: Actor, resource_id: uuid.UUID, filters: dict[str, Any] | None = None,
         q: str | dict[str, str] | None = None, fields: list[str] | None = None, sort: str | None = None,
         limit: int = 100, offset: int = 0, include_total: bool = True, after: int | None = None,
         ) -> tuple[list[str], list[dict[str, Any]], int | None, int | None, CatalogEntry, Resource]:
    """Rows for the portal and the CKAN API, with grades and masking on every path.

    Insiders with rights (provider, bureau) read through `datastore_query`; a public user or unit holding an
    active grant reads its granted items masked; anybody reads the open items of a 无条件开放 entry; everything
    else is refused (有条件开放 without a grant: apply first). Returns (fields, records with `_id`, total,
    next keyset cursor, entry, resource).
    """
    res, entry = catalog.resource_get(session, actor, resource_id)
    args = (filters, q, fields, sort, limit, offset, include_total, after)
    if _reads_all_items(actor, entry):
        return (*datastore.datastore_query(session, actor, res.id, *args, with_id=True), entry, res)
    grant = grants.usable_grant(session, actor, entry.id)
    if grant is not None:
        return (*grants.grant_rows(session, actor, grant.id, *args, resource_id=res.id, with_id=True), entry, res)
    if catalog.is_open_without_conditions(entry):
        return (*datastore.datastore_query_open(session, res, entry, *args, with_id=True), entry, res)
    if entry.open_type == "conditional":
        raise Forbidden(_("Open on conditions: apply for access on the dataset page first"), code="apply_first")
    raise Forbidden(_("Request access to this entry first"), code="no_grant")


def readable_items(session: Session, actor: Actor, entry: CatalogEntry) -> list[dict[str, Any]]:
    """Information items whose values the caller receives (for schemas: Data Package, datastore fields)."""
    if _reads_all_items(actor, entry):
        return list(entry.items or [])
    grant = grants.usable_grant(session, actor, entry.id)
    names = set(grant.items) if grant is not None else set(open_items(entry))
    return [it for it in entry.items or [] if it["name_en"] in names]


def local_day() -> date:
    """Today in the display time zone (Asia/Shanghai): the day the portal's counters count in."""
    return clock.now().astimezone(ZoneInfo(get_settings().display_timezone)).date()


def record_download(session: Session, entry_id: uuid.UUID) -> None:
    """Count one download of an entry's data today (Asia/Shanghai day), in SQL so concurrent counts add up."""
    day = local_day()
    if is_postgres(session):
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt = pg_insert(PortalDownload).values(entry_id=entry_id, day=day, downloads=1)
        session.execute(stmt.on_conflict_do_update(index_elements=["entry_id", "day"],
                                                   set_={"downloads": PortalDownload.downloads + 1}))
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        lite = sqlite_insert(PortalDownload).values(entry_id=entry_id, day=day, downloads=1)
        session.execute(lite.on_conflict_do_update(index_elements=["entry_id", "day"],
                                                   set_={"downloads": PortalDownload.downloads + 1}))


# API calls are counted in process and written at most every API_FLUSH_S seconds (one upsert, not one per call:
# the Action API is the portal's hot path); the chart adds the counts not written yet.
API_FLUSH_S = 10.0
_api_lock = threading.Lock()
_api_pending: dict[date, int] = {}
_api_flushed_at = [time.monotonic()]


def record_api_call(session: Session) -> None:
    """Count one call of the Action API today; writes the counts gathered so far when they are due."""
    day = local_day()
    with _api_lock:
        _api_pending[day] = _api_pending.get(day, 0) + 1
        due = time.monotonic() - _api_flushed_at[0] >= API_FLUSH_S
    if due:
        flush_api_calls(session)


def flush_api_calls(session: Session) -> None:
    """Add the API calls counted in this process to the daily counter rows."""
    with _api_lock:
        pending = dict(_api_pending)
        _api_pending.clear()
        _api_flushed_at[0] = time.monotonic()
    for day, n in pending.items():
        if is_postgres(session):
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            stmt = pg_insert(PortalApiCall).values(day=day, calls=n)
            session.execute(stmt.on_conflict_do_update(index_elements=["day"],
                                                       set_={"calls": PortalApiCall.calls + n}))
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            lite = sqlite_insert(PortalApiCall).values(day=day, calls=n)
            session.execute(lite.on_conflict_do_update(index_elements=["day"],
                                                       set_={"calls": PortalApiCall.calls + n}))


def _api_calls_since(session: Session, since: date) -> dict[date, int]:
    stored = {d: int(n) for d, n in session.execute(select(PortalApiCall.day, PortalApiCall.calls)
                                                    .where(PortalApiCall.day >= since))}
    with _api_lock:
        for d, n in _api_pending.items():
            if d >= since:
                stored[d] = stored.get(d, 0) + n
    return stored


def portal_stats(session: Session, days: int = 30) -> dict[str, Any]:
    """Counts and chart series of the open catalog only (never private or 不予开放 entries)."""
    orgs = {o.id: o.name for o in core.organization_all(session)}
    counts = catalog_public.public_counts(session)
    by_org, by_open = counts["by_org"], counts["by_open"]
    open_by_org = {(o, k): c for o, k, c in counts["by_org_open"]}
    public_downloads = PortalDownload.entry_id.in_(catalog.public_entry_ids())
    since = local_day() - timedelta(days=days - 1)
    dl = session.execute(select(PortalDownload.day, func.sum(PortalDownload.downloads))
                         .where(public_downloads, PortalDownload.day >= since)
                         .group_by(PortalDownload.day)).all()
    per_day = {d: int(n or 0) for d, n in dl}
    api_calls = _api_calls_since(session, since)
    series = [(since + timedelta(days=i)) for i in range(days)]
    total_dl = session.scalar(select(func.coalesce(func.sum(PortalDownload.downloads), 0))
                              .where(public_downloads)) or 0
    return {
        "datasets": sum(n for _o, n in by_org), "organizations": len(by_org), "resources": counts["resources"],
        "rows": counts["rows"], "downloads": int(total_dl),
        "unconditional": by_open.get("unconditional", 0), "conditional": by_open.get("conditional", 0),
        "by_org": [{"name": orgs.get(o, str(o)), "id": str(o), "value": n,
                    "unconditional": open_by_org.get((o, "unconditional"), 0),
                    "conditional": open_by_org.get((o, "conditional"), 0)} for o, n in by_org],
        "by_theme": _themes(counts["by_theme_or_base"]),
        "downloads_by_day": {"days": [d.isoformat() for d in series], "values": [per_day.get(d, 0) for d in series]},
        "usage_by_day": {"days": [d.isoformat() for d in series], "downloads": [per_day.get(d, 0) for d in series],
                         "api_calls": [api_calls.get(d, 0) for d in series]},
    }


def _themes(rows: list[tuple[str, str, int]]) -> list[dict[str, Any]]:
    """Open datasets per theme, a base-database entry counted under its base database, most first."""
    merged: dict[tuple[str, str], int] = {}
    for theme, base_db, n in rows:
        key = ("theme", theme) if theme else ("base_db", base_db)
        merged[key] = merged.get(key, 0) + n
    return [{"kind": k, "code": code, "name": code or _("No theme"), "value": n}
            for (k, code), n in sorted(merged.items(), key=lambda kv: (-kv[1], kv[0]))]


def downloads_of(session: Session, entry_id: uuid.UUID) -> int:
    """Downloads of one entry since it opened."""
    return int(session.scalar(select(func.coalesce(func.sum(PortalDownload.downloads), 0))
                              .where(PortalDownload.entry_id == entry_id)) or 0)


def recent_day(days: int) -> date:
    """The first day of the last `days` days."""
    return local_day() - timedelta(days=days - 1)
