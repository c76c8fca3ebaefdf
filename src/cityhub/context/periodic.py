"""Periodic subscriptions (`timeInterval`, clause 5.2.12): every interval, the current state of what they match.

`run_due` is one pass of `cityhub context worker`: one indexed query finds the due subscriptions
(`next_periodic_at <= now`, active, not expired); each gets at most one Notification in the same outbox as change
notifications (`ContextNotification`), so delivery, retries and the status members (`timesSent`,
`lastNotification`, `lastSuccess`, `lastFailure`) take the one path of `notify.deliver`. The entities are chosen
by the subscription's selectors in SQL, then `q`, visibility and `geoQ` by the same `_sql_filter` as change
notifications, so a periodic notification never shows what a change notification would not.
A late pass notifies once and schedules the next interval from now: missed intervals are not replayed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, or_, select
from sqlalchemy.orm import Session

from cityhub.context.jsonld import LdContext, context_for
from cityhub.context.models import ContextEntity, ContextEntityType, ContextNotification, ContextSubscription
from cityhub.context.subscriptions import Changed, _sql_filter, notification, visible_to_org
from cityhub.kit import clock
from cityhub.kit.db import is_postgres

S = ContextSubscription
E = ContextEntity
MAX_ENTITIES = 1000  # per notification
BATCH = 100  # subscriptions per pass


def due(session: Session, now: datetime, limit: int = BATCH) -> list[ContextSubscription]:
    """The periodic subscriptions due now (one query on the index of next_periodic_at)."""
    stmt = select(S).where(S.next_periodic_at <= now, S.active.is_(True),
                           or_(S.expires_at.is_(None), S.expires_at > now)).order_by(S.next_periodic_at).limit(limit)
    if is_postgres(session):
        stmt = stmt.with_for_update(skip_locked=True)
    return list(session.scalars(stmt))


def _selectors(session: Session, members: dict[str, Any], ctx: LdContext) -> ColumnElement[bool] | None:
    from cityhub.context.query import _regexp

    clauses = []
    for s in members.get("entities") or []:
        parts: list[ColumnElement[bool]] = [exists().where(ContextEntityType.entity_pk == E.id,
                                                           ContextEntityType.type == ctx.expand(s["type"]))]
        if "id" in s:
            parts.append(E.entity_id == s["id"])
        if "idPattern" in s:
            if is_postgres(session):
                parts.append(E.entity_id.op("~")(s["idPattern"]))
            else:
                _regexp(session)
                parts.append(func.regexp(s["idPattern"], E.entity_id) == 1)
        clauses.append(and_(*parts))
    return or_(*clauses) if clauses else None


def current(session: Session, row: ContextSubscription, ctx: LdContext) -> list[Changed]:
    """The entities the subscription matches now, as they are (at most MAX_ENTITIES, by id)."""
    clauses = [visible_to_org(row.org_id)]
    selected = _selectors(session, row.body, ctx)
    if selected is not None:
        clauses.append(selected)
    rows = session.scalars(select(E).where(*clauses).order_by(E.entity_id).limit(MAX_ENTITIES)).all()
    if not rows:
        return []
    found = [Changed(r.id, r.entity_id, r.org_id, list(r.types), r.attrs, r.created_at, r.modified_at, None)
             for r in rows]
    return _sql_filter(session, row, ctx, row.body, found)


def run_due(session: Session, now: datetime | None = None) -> int:
    """Queue one notification for every due periodic subscription that matches an entity; how many were queued."""
    now = now or clock.now()
    queued = 0
    for row in due(session, now):
        ctx = context_for(row.ld_context or None)
        interval = timedelta(seconds=float(row.body.get("timeInterval") or 0) or 1.0)
        matched = current(session, row, ctx)
        if matched:
            session.add(ContextNotification(subscription_pk=row.id, payload=notification(row, ctx, matched),
                                            created_at=now, next_attempt_at=now))
            queued += 1
        nxt = (row.next_periodic_at or now) + interval
        row.next_periodic_at = nxt if nxt > now else now + interval
    session.flush()
    return queued
