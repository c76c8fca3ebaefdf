"""Grants: who holds one ("granted", defined once here) and reads through one, quota-counted and logged.

Reads are rows, CSV and the upstream API proxy; each counts against the grant's quota and is written to the access
log.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from cityhub.core.service import Actor
from cityhub.data import policies
from cityhub.data.catalog import service as catalog
from cityhub.data.datastore.export import to_csv
from cityhub.data.datastore.reads import item_mask, query_rows
from cityhub.data.datastore.stores import resource_credentials
from cityhub.data.models import AccessLog, CatalogEntry, Grant, Resource, ShareRequest
from cityhub.data.vocabulary import MASK_RULES
from cityhub.kit import clock, egress, safejson
from cityhub.kit.errors import Forbidden, NotFound, RateLimited, ServiceUnavailable, ValidationFailed
from cityhub.kit.i18n import gettext as _

log = logging.getLogger("cityhub.data")
HTTP_TRANSPORT: Any = None  # tests put an httpx.MockTransport here (the upstream is an outside system)
UPSTREAM_MAX_BYTES = 16 * 1024 * 1024  # an upstream API answer is read at most this far


def usable_grant(session: Session, actor: Actor, entry_id: uuid.UUID) -> Grant | None:
    """The caller's active grant on an entry (newest first), or None.

    One held by a unit they work for, or their own (a public user's), that this credential may use (a grant-scoped
    token only its own grant). The one definition of "granted" every read path asks (datastore rows, files, the
    portal, CKAN, downloads).
    """
    conds: list[ColumnElement[bool]] = []
    if actor.user_id is not None:
        conds.append(Grant.user_id == actor.user_id)
    staff = policies.staff_orgs(actor)
    if staff:
        conds.append(Grant.org_id.in_(staff))
    if not conds:
        return None
    for grant in session.scalars(select(Grant).where(Grant.entry_id == entry_id, Grant.status == "active",
                                                     or_(*conds)).order_by(Grant.created_at.desc())):
        if policies.grant_use(actor, grant.org_id, grant.id, grant.user_id):
            return grant
    return None


def grant_for_use(session: Session, actor: Actor, grant_id: uuid.UUID) -> tuple[Grant, CatalogEntry]:
    """A grant the actor may use now and its entry (404 unknown, 403 ended, expired or the entry offline)."""
    grant = session.get(Grant, grant_id)
    if grant is None or not policies.grant_use(actor, grant.org_id, grant.id, grant.user_id):
        raise NotFound(_("Grant not found"))
    if grant.status != "active":
        raise Forbidden(_("This grant is no longer active"), code="grant_inactive")
    if grant.valid_until is not None and grant.valid_until <= clock.now():
        raise Forbidden(_("This grant has expired"), code="grant_expired")
    entry = session.get(CatalogEntry, grant.entry_id)
    if entry is None or not catalog.is_published(entry):
        raise Forbidden(_("The entry is offline"), code="entry_offline")
    return grant, entry


def grant_get(session: Session, actor: Actor, grant_id: uuid.UUID) -> Grant:
    """A grant the actor's unit holds (or that the provider/bureau oversees)."""
    grant = session.get(Grant, grant_id)
    if grant is None:
        raise NotFound(_("Grant not found"))
    req = session.get(ShareRequest, grant.request_id)
    if not (policies.grant_use(actor, grant.org_id, grant.id, grant.user_id) or (
            req is not None and policies.share_request_read(actor, req.requester_org_id, req.provider_org_id))):
        raise NotFound(_("Grant not found"))
    return grant


def log_access(session: Session, actor: Actor, grant: Grant, entry: CatalogEntry, resource_id: uuid.UUID | None,
               rows: int, kind: str) -> None:
    """Log one read through a grant and count it (quota use, the entry's accesses) in SQL."""
    session.add(AccessLog(grant_id=grant.id, resource_id=resource_id, actor_name=actor.username[:100], kind=kind,
                          rows=rows))
    session.execute(update(Grant).where(Grant.id == grant.id).values(used=Grant.used + rows)
                    .execution_options(synchronize_session=False))
    session.execute(update(CatalogEntry).where(CatalogEntry.id == entry.id)
                    .values(accesses_count=CatalogEntry.accesses_count + 1)
                    .execution_options(synchronize_session=False))
    # Counters are incremented in SQL (concurrent readers never lose counts); mirror them without dirtying.
    set_committed_value(grant, "used", grant.used + rows)
    set_committed_value(entry, "accesses_count", entry.accesses_count + 1)
    session.flush()


def _grant_table(session: Session, actor: Actor, grant_id: uuid.UUID,
                 resource_id: uuid.UUID | None) -> tuple[Grant, CatalogEntry, Resource]:
    """The grant, its entry and table resource for a read; 429 when the quota is already used up."""
    grant, entry = grant_for_use(session, actor, grant_id)
    if grant.quota and grant.used >= grant.quota:
        raise RateLimited(_("The grant's quota is used up"), retry_after=86400)
    stmt = select(Resource).where(Resource.entry_id == entry.id, Resource.kind == "table")
    if resource_id is not None:
        stmt = stmt.where(Resource.id == resource_id)
    res = session.scalar(stmt.order_by(Resource.created_at))
    if res is None:
        raise NotFound(_("The entry has no table resource"))
    return grant, entry, res


def _left(grant: Grant, taken: int, want: int) -> int:
    """How many rows a read may still return: what it asks for, within the quota left after `taken`."""
    return want if not grant.quota else max(0, min(want, grant.quota - grant.used - taken))


def grant_rows(
    session: Session, actor: Actor, grant_id: uuid.UUID, filters: dict[str, Any] | None = None,
    q: str | dict[str, str] | None = None, fields: list[str] | None = None, sort: str | None = None,
    limit: int = 100, offset: int = 0, include_total: bool = True, after: int | None = None,
    resource_id: uuid.UUID | None = None, *, with_id: bool = False,
) -> tuple[list[str], list[dict[str, Any]], int | None, int | None]:
    """Granted rows: only granted items, masked; the rows returned are charged to the quota and logged."""
    grant, entry, res = _grant_table(session, actor, grant_id, resource_id)
    out = query_rows(session, res, entry, list(grant.items), True, filters, q, fields, sort,
                     max(1, _left(grant, 0, limit)), offset, include_total, after, with_id)
    log_access(session, actor, grant, entry, res.id, len(out[1]), "rows")
    return out


def grant_rows_csv(session: Session, actor: Actor, grant_id: uuid.UUID, filters: dict[str, Any] | None = None,
                   max_rows: int = 100_000) -> bytes:
    """Granted rows as CSV (at most `max_rows`): the same masking as the JSON path.

    The export ends where the quota ends (429 only when nothing is left at the start), and exactly the rows in
    the file are charged, in one access-log row (issue 20: it used to read quota-sized pages and fail on the next).
    """
    grant, entry, res = _grant_table(session, actor, grant_id, None)
    fields: list[str] = []
    out: list[list[Any]] = []
    after: int | None = 0
    while after is not None and (page := _left(grant, len(out), min(1000, max_rows - len(out)))) > 0:
        fields, recs, _t, after = query_rows(session, res, entry, list(grant.items), True, filters, None, None,
                                             None, page, 0, False, after, False)
        out.extend([[r.get(f) for f in fields] for r in recs])
        if len(recs) < page:
            break
    if not fields:  # no page was read: the header still names the granted columns
        fields = [i["name_en"] for i in entry.items if i["name_en"] in grant.items]
    log_access(session, actor, grant, entry, res.id, len(out), "csv")
    return to_csv(fields, out)


def grant_api_call(session: Session, actor: Actor, grant_id: uuid.UUID, params: dict[str, str],
                   transport: Any = None) -> dict[str, Any]:
    """Call the entry's upstream API for a grantee.

    Credentials stay server-side; the answer keeps only granted fields of its records, masked.
    """
    import httpx

    grant, entry = grant_for_use(session, actor, grant_id)
    if grant.quota and grant.used >= grant.quota:
        raise RateLimited(_("The grant's quota is used up"), retry_after=86400)
    res = session.scalar(select(Resource).where(Resource.entry_id == entry.id, Resource.kind == "api"))
    if res is None:
        raise NotFound(_("The entry has no API resource"))
    try:
        egress.check_url(res.upstream_url, field="upstream_url")
        with egress.client(timeout=10, follow_redirects=True, transport=transport or HTTP_TRANSPORT) as client, \
                client.stream(res.upstream_method, res.upstream_url, params=params,
                              headers=resource_credentials(res)) as resp:
            resp.raise_for_status()
            raw = bytearray()
            for chunk in resp.iter_bytes():
                raw += chunk
                if len(raw) > UPSTREAM_MAX_BYTES:
                    raise ValueError(f"upstream answer over {UPSTREAM_MAX_BYTES} bytes")
        body = safejson.loads(bytes(raw), max_bytes=UPSTREAM_MAX_BYTES, field="upstream")
    except (httpx.HTTPError, ValueError, ValidationFailed) as exc:  # EgressDenied is a ValidationFailed
        log.warning("upstream API of resource %s failed: %s: %s", res.id, type(exc).__name__, exc)
        raise ServiceUnavailable(_("The upstream API failed"), details={"error": type(exc).__name__}) from exc
    records = body if isinstance(body, list) else body.get("records", body.get("data", [])) \
        if isinstance(body, dict) else []
    by_name = {it["name_en"]: it for it in entry.items}
    out = []
    for rec in records if isinstance(records, list) else []:
        if not isinstance(rec, dict):
            continue
        row = {}
        for k in grant.items:
            if k in rec:
                rule = MASK_RULES.get(item_mask(by_name[k]))
                row[k] = rule.apply(rec[k]) if rule and rec[k] is not None else rec[k]
        out.append(row)
    if grant.quota:  # what is returned is what is charged: never past the quota
        out = out[:max(0, grant.quota - grant.used)]
    log_access(session, actor, grant, entry, res.id, len(out), "api")
    return {"records": out, "count": len(out)}


def access_log(session: Session, actor: Actor, grant_id: uuid.UUID, limit: int = 100) -> list[AccessLog]:
    """Recent reads through a grant."""
    grant = grant_get(session, actor, grant_id)
    return list(session.scalars(select(AccessLog).where(AccessLog.grant_id == grant.id)
                                .order_by(AccessLog.id.desc()).limit(limit)))


def grants_for_requests(session: Session, actor: Actor, request_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Grant]:
    """Grants of requests the actor already sees, by request id (for the tracking page)."""
    wanted = list(set(request_ids))
    if not wanted:
        return {}
    return {g.request_id: g for g in session.scalars(select(Grant).where(Grant.request_id.in_(wanted)))}
