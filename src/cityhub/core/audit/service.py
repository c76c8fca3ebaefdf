"""The audit log: one append-only row per action, with secrets and URL credentials redacted; its queries and export.

Every domain writes through `audit_record` (or the `audited` block, which computes before/after of the named
fields); auditors read their subtree's rows, platform admins every row.
"""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from cityhub.core import policies
from cityhub.core.actor import Actor
from cityhub.core.audit import sentences
from cityhub.core.models import AuditEntry, Role, User
from cityhub.kit import clock, context, i18n
from cityhub.kit.pagination import PageParams, paginate

_SENSITIVE = re.compile(r"password|secret|token|credential|private_key", re.I)
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")  # a value that is a URL: audited without userinfo and query


def _redact_url(value: str) -> str:
    """A URL without its userinfo, query and fragment, where keys travel (`?key=…`, `https://user:pw@host`)."""
    try:
        parts = urlsplit(value)
        host = parts.netloc.rpartition("@")[2]
        userinfo = "***@" if "@" in parts.netloc else ""
    except ValueError:
        return "***"
    return urlunsplit((parts.scheme, userinfo + host, parts.path, "***" if parts.query else "",
                       "***" if parts.fragment else ""))


def _redact(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: ("***" if _SENSITIVE.search(str(k)) else _redact(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact(v) for v in value]
    if isinstance(value, uuid.UUID | datetime | date):
        return str(value)
    if isinstance(value, str) and _URL.match(value):
        return _redact_url(value)
    return value


def audit_record(
    session: Session,
    actor: Actor,
    action: str,
    *,
    target_type: str = "",
    target_id: object = "",
    org_id: uuid.UUID | None = None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    outcome: str = "ok",
) -> AuditEntry:
    """Append one audit row for `action` (secrets are redacted, only changed keys are kept)."""
    summary: dict[str, Any] = {}
    if before is not None and after is not None:
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        summary["changed"] = changed
        summary["before"] = _redact({k: before.get(k) for k in changed})
        summary["after"] = _redact({k: after.get(k) for k in changed})
    elif after is not None:
        summary["after"] = _redact(dict(after))
    elif before is not None:
        summary["before"] = _redact(dict(before))
    if extra:
        summary.update(_redact(dict(extra)))
    ctx = context.current()
    entry = AuditEntry(
        at=clock.now(),
        actor_id=actor.user_id,
        actor_name=actor.username[:100],
        org_id=org_id,
        action=action,
        target_type=target_type,
        target_id=str(target_id)[:80],
        summary=summary,
        request_id=ctx.request_id,
        ip=ctx.ip,
        channel=ctx.channel,
        outcome=outcome,
    )
    session.add(entry)
    session.flush()
    return entry


def snapshot(obj: object, fields: Iterable[str]) -> dict[str, Any]:
    """A dict of the named attributes, for before/after audit summaries."""
    return {f: getattr(obj, f) for f in fields}


@contextmanager
def audited(session: Session, actor: Actor, action: str, obj: Any, fields: Iterable[str], *, target_type: str,
            org_id: uuid.UUID | None = None, extra: Mapping[str, Any] | None = None) -> Iterator[None]:
    """Change `obj` inside the block; on leaving it, flush and write one audit row of the named fields.

    `audit_record` keeps only the fields that changed, so the history reads as what was done.

        with core.audited(session, actor, "rule_update", rule, ("name", "enabled"), target_type="ops_rule",
                          org_id=rule.org_id):
            rule.name = data.name
    """
    names = tuple(fields)
    before = snapshot(obj, names)
    yield
    session.flush()
    audit_record(session, actor, action, target_type=target_type, target_id=getattr(obj, "id", ""),
                 org_id=org_id, before=before, after=snapshot(obj, names), extra=extra)


@dataclass(frozen=True)
class AuditFilter:
    """Audit query filters."""

    actor: str | None = None
    org_id: uuid.UUID | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    org_ids: frozenset[uuid.UUID] | None = None  # a unit and its subtree (the page's unit filter)
    who: str | None = None  # part of the actor's username or display name (the page's search)


def _audit_query(session: Session, actor: Actor, flt: AuditFilter) -> Select[AuditEntry]:
    policies.audit_read(actor)
    stmt = select(AuditEntry)
    if not actor.has(Role.PLATFORM_ADMIN):
        stmt = stmt.where(AuditEntry.org_id.in_(actor.orgs_for(Role.AUDITOR)))
    if flt.actor:
        stmt = stmt.where(AuditEntry.actor_name == flt.actor)
    if flt.org_id:
        stmt = stmt.where(AuditEntry.org_id == flt.org_id)
    if flt.org_ids is not None:
        stmt = stmt.where(AuditEntry.org_id.in_(flt.org_ids))
    if flt.who:
        pattern = f"%{flt.who}%"
        people = select(User.id).where(User.display_name.ilike(pattern) | User.username.ilike(pattern))
        stmt = stmt.where(AuditEntry.actor_name.ilike(pattern) | AuditEntry.actor_id.in_(people))
    if flt.action:
        if flt.action.endswith("*"):
            stmt = stmt.where(AuditEntry.action.startswith(flt.action[:-1], autoescape=True))
        else:
            stmt = stmt.where(AuditEntry.action == flt.action)
    if flt.since:
        stmt = stmt.where(AuditEntry.at >= flt.since)
    if flt.until:
        stmt = stmt.where(AuditEntry.at < flt.until)
    return stmt.order_by(AuditEntry.id.desc())


def audit_list(session: Session, actor: Actor, flt: AuditFilter, page: PageParams) -> tuple[list[AuditEntry], int]:
    """Audit rows the actor may read, newest first."""
    return paginate(session, _audit_query(session, actor, flt), page)


def audit_action_counts(session: Session, actor: Actor, flt: AuditFilter, top: int = 12) -> list[tuple[str, int]]:
    """How many rows of each action the filtered log holds, most frequent first."""
    rows = _audit_query(session, actor, flt).order_by(None).subquery()
    n = func.count().label("n")
    stmt = select(rows.c.action, n).group_by(rows.c.action).order_by(n.desc(), rows.c.action).limit(top)
    return [(a, int(c)) for a, c in session.execute(stmt)]


# The export for machines keeps codes, UTC times and the JSON summary under stable column names, and no BOM (a
# parser would read it as part of the first header). People open the audit log in Excel: their export
# (`audit_export_people_csv`, the page's link) has headers and sentences in their language, local times and a BOM.
AUDIT_CSV_COLUMNS = ("id", "at", "actor_name", "actor_id", "org_id", "action", "target_type", "target_id",
                     "outcome", "request_id", "ip", "channel", "summary")


def audit_export_csv(session: Session, actor: Actor, flt: AuditFilter, max_rows: int = 1_000_000) -> Iterator[str]:
    """Stream the filtered audit log as CSV text chunks."""
    stmt = _audit_query(session, actor, flt).limit(max_rows).execution_options(yield_per=1000)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(AUDIT_CSV_COLUMNS)
    for row in session.scalars(stmt):
        values = [getattr(row, c) for c in AUDIT_CSV_COLUMNS[:-1]]
        writer.writerow([*values, json.dumps(row.summary, ensure_ascii=False)])
        if buf.tell() > 64 * 1024:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()


PEOPLE_CSV_HEADERS = ("Time", "Actor", "Unit", "What was done", "Changed fields", "Outcome", "IP address", "Request ID")


def audit_export_people_csv(session: Session, actor: Actor, flt: AuditFilter, max_rows: int = 100_000
                            ) -> Iterator[str]:
    """Stream the filtered log for people: sentences, labelled changes, local times, UTF-8 with a BOM for Excel."""
    stmt = _audit_query(session, actor, flt).limit(max_rows).execution_options(yield_per=1000)
    buf = io.StringIO()
    buf.write("\ufeff")
    writer = csv.writer(buf)
    writer.writerow([i18n.gettext(h) for h in PEOPLE_CSV_HEADERS])
    for line in sentences.describe_stream(session, session.scalars(stmt)):
        e = line.entry
        facts = [f"{k}: {b} → {a}" for k, b, a in line.changes] + [f"{k}: {v}" for k, v in line.details]
        writer.writerow([sentences.local_time(e.at, "%Y-%m-%d %H:%M:%S"), line.actor, line.unit, line.sentence,
                         "; ".join(facts), line.outcome, e.ip, e.request_id])
        if buf.tell() > 64 * 1024:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()
