"""Incidents, their dispatch, SLAs, comments, shares and attachments, and citizen reports.

An incident is opened from alarms, by an operator or from a citizen report, routed and dispatched to a department,
and moved through the state table (`INCIDENT_FLOW`) with SLAs and escalation. Nothing here commits.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import secrets
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from cityhub.core import service as core
from cityhub.core.actor import Actor
from cityhub.kit import clock, labels
from cityhub.kit.db import get_or_404, is_postgres
from cityhub.kit.errors import (
    Conflict,
    InvalidTransition,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ValidationFailed,
    transition,
)
from cityhub.kit.i18n import gettext as _
from cityhub.kit.pagination import PageParams, paginate
from cityhub.kit.refs import reference
from cityhub.kit.settings import get_settings
from cityhub.ops import policies
from cityhub.ops.alarms.service import alarm_get, route
from cityhub.ops.common import org_exists
from cityhub.ops.models import (
    Alarm,
    CitizenReport,
    Incident,
    IncidentAttachment,
    IncidentEvent,
    IncidentShare,
    IncidentSource,
    IncidentStatus,
    Severity,
)
from cityhub.ops.schemas import CATEGORIES, CitizenReportCreate, IncidentCreate, ReportReceipt

INCIDENT_FLOW: dict[IncidentStatus, set[IncidentStatus]] = {
    IncidentStatus.NEW: {IncidentStatus.DISPATCHED, IncidentStatus.CLOSED},
    IncidentStatus.DISPATCHED: {IncidentStatus.ACCEPTED, IncidentStatus.DISPATCHED, IncidentStatus.NEW},
    IncidentStatus.ACCEPTED: {IncidentStatus.IN_PROGRESS, IncidentStatus.RESOLVED},
    IncidentStatus.IN_PROGRESS: {IncidentStatus.RESOLVED},
    IncidentStatus.RESOLVED: {IncidentStatus.CLOSED, IncidentStatus.REOPENED},
    IncidentStatus.CLOSED: {IncidentStatus.REOPENED},
    IncidentStatus.REOPENED: {IncidentStatus.DISPATCHED, IncidentStatus.IN_PROGRESS},
}
OPEN_INCIDENT = (IncidentStatus.NEW, IncidentStatus.DISPATCHED, IncidentStatus.ACCEPTED, IncidentStatus.IN_PROGRESS,
                 IncidentStatus.REOPENED)
# SLA by severity: (accept within, resolve within); a miss escalates (level 1: accept, level 2: resolve).
SLA: dict[str, tuple[timedelta, timedelta]] = {
    Severity.CRITICAL: (timedelta(minutes=15), timedelta(hours=4)),
    Severity.MAJOR: (timedelta(minutes=30), timedelta(hours=24)),
    Severity.MINOR: (timedelta(hours=2), timedelta(hours=72)),
    Severity.WARNING: (timedelta(hours=4), timedelta(days=7)),
    Severity.INDETERMINATE: (timedelta(hours=8), timedelta(days=14)),
}
PHOTO_FORMATS = {"JPEG", "PNG", "WEBP"}


def _incident_number() -> str:
    return f"INC-{clock.now():%Y%m%d}-{secrets.token_hex(3).upper()}"


def _event(session: Session, incident: Incident, actor: Actor, kind: str, *, from_status: str = "",
           to_status: str = "", text: str = "", data: dict[str, Any] | None = None) -> IncidentEvent:
    # str(): a status may come as its StrEnum, and the timeline stores plain text
    ev = IncidentEvent(incident_id=incident.id, at=clock.now(), actor_name=actor.username[:100], kind=kind,
                       from_status=str(from_status), to_status=str(to_status), text=text, data=data or {})
    session.add(ev)
    return ev


def _set_sla(incident: Incident) -> None:
    accept, resolve = SLA.get(incident.severity, SLA[Severity.MAJOR])
    start = incident.dispatched_at or clock.now()
    incident.accept_due_at = start + accept
    incident.resolve_due_at = clock.as_utc(incident.created_at) + resolve


def _open_incident(session: Session, actor: Actor, *, title: str, description: str, category: str, severity: str,
                   source: str, org_id: uuid.UUID | None, district_id: uuid.UUID | None,
                   originator_id: uuid.UUID | None = None, originator_org_id: uuid.UUID | None = None,
                   lon: float | None = None, lat: float | None = None, report_code: str | None = None) -> Incident:
    now = clock.now()
    incident = Incident(number=_incident_number(), title=title[:200], description=description, category=category,
                        severity=severity, status=IncidentStatus.NEW, source=source, district_id=district_id,
                        originator_id=originator_id, originator_org_id=originator_org_id, lon=lon, lat=lat,
                        created_by=actor.username[:100], report_code=report_code, created_at=now, updated_at=now)
    session.add(incident)
    session.flush()
    _event(session, incident, actor, "created", to_status=IncidentStatus.NEW, text=description[:500],
           data={"source": source})
    target = org_id or route(session, category, district_id, originator_org_id)
    _set_sla(incident)
    if target is not None:
        _dispatch(session, actor, incident, target, _("Routed by the routing table") if org_id is None else "")
    core.audit_record(session, actor, "incident_create", target_type="ops_incident", target_id=incident.id,
                      org_id=incident.org_id, after=core.snapshot(incident, ("number", "title", "severity", "source",
                                                                     "org_id", "status")))
    session.flush()
    return incident


def _move(incident: Incident, target: IncidentStatus) -> str:
    """Move the incident by the transition table; a refused move is a 409 in the reader's language."""
    try:
        return str(transition(incident, target, INCIDENT_FLOW, "incident"))
    except InvalidTransition as exc:
        exc.message = _("An incident that is “{current}” cannot become “{target}”",
                        current=labels.label(exc.current, IncidentStatus),
                        target=labels.label(exc.target, IncidentStatus))
        exc.args = (exc.message,)
        raise


def _dispatch(session: Session, actor: Actor, incident: Incident, org_id: uuid.UUID, note: str) -> None:
    org_exists(session, org_id, "org_id")
    before = _move(incident, IncidentStatus.DISPATCHED)
    incident.org_id = org_id
    incident.team = ""  # a team is of the department that had it
    incident.dispatched_at = clock.now()
    incident.accepted_at = None
    accept, _resolve = SLA.get(incident.severity, SLA[Severity.MAJOR])
    incident.accept_due_at = incident.dispatched_at + accept
    _event(session, incident, actor, "dispatched", from_status=before, to_status=IncidentStatus.DISPATCHED,
           text=note, data={"org_id": str(org_id)})


def _alarm_ref(session: Session, actor: Actor, alarm_id: uuid.UUID) -> Alarm:
    return reference("alarm_ids", lambda: alarm_get(session, actor, alarm_id), _("Unknown alarm"))


def incident_create(session: Session, actor: Actor, data: IncidentCreate) -> Incident:
    """Open an incident by hand (linking alarms); routed to a department unless one is named."""
    policies.incident_create(actor)
    alarms = [_alarm_ref(session, actor, a) for a in data.alarm_ids]
    for a in alarms:
        if a.incident_id is not None:
            raise Conflict(_("An alarm already belongs to an incident"), details={"alarm_id": str(a.id)})
    org_exists(session, data.org_id, "org_id")
    core.area_reference(session, data.district_id)
    first = alarms[0] if alarms else None
    incident = _open_incident(
        session, actor, title=data.title, description=data.description, category=data.category,
        severity=data.severity.value, source=IncidentSource.OPERATOR.value, org_id=data.org_id,
        district_id=data.district_id or (first.district_id if first else None),
        originator_id=first.originator_id if first else None, originator_org_id=first.org_id if first else None,
        lon=data.lon if data.lon is not None else (first.lon if first else None),
        lat=data.lat if data.lat is not None else (first.lat if first else None))
    for a in alarms:
        a.incident_id = incident.id
        _event(session, incident, actor, "alarm_linked", text=a.type, data={"alarm_id": str(a.id)})
    session.flush()
    return incident


def incident_from_alarms(session: Session, actor: Actor, alarms: Sequence[Alarm], category: str = "") -> Incident:
    """Open an incident for alarms automatically (rules with auto_incident)."""
    first = alarms[0]
    incident = _open_incident(
        session, actor, title=f"{first.originator_name} · {first.type}",
        description=json.dumps(first.details, ensure_ascii=False, default=str)[:2000], category=category or "other",
        severity=first.severity, source=IncidentSource.ALARM.value, org_id=None, district_id=first.district_id,
        originator_id=first.originator_id, originator_org_id=first.org_id, lon=first.lon, lat=first.lat)
    for a in alarms:
        a.incident_id = incident.id
        _event(session, incident, actor, "alarm_linked", text=a.type, data={"alarm_id": str(a.id)})
    session.flush()
    return incident


def _shared(session: Session, incident_id: uuid.UUID) -> list[uuid.UUID]:
    return list(session.scalars(select(IncidentShare.org_id).where(IncidentShare.incident_id == incident_id)))


def _visible_incident(session: Session, actor: Actor, incident_id: uuid.UUID) -> tuple[Incident, list[uuid.UUID]]:
    incident = get_or_404(session, Incident, incident_id, "Incident")
    shared = _shared(session, incident.id)
    if not policies.incident_visible(actor, incident.org_id, shared):
        raise NotFound(_("Incident not found"), details={"id": str(incident_id)})
    return incident, shared


def incident_get(session: Session, actor: Actor, incident_id: uuid.UUID) -> Incident:
    """One incident the actor may see."""
    return _visible_incident(session, actor, incident_id)[0]


def incident_detail(session: Session, actor: Actor, incident_id: uuid.UUID) -> dict[str, Any]:
    """An incident with its timeline, attachments, alarms and shares."""
    incident, shared = _visible_incident(session, actor, incident_id)
    return {"incident": incident, "shared_with": shared,
            "events": list(session.scalars(select(IncidentEvent).where(IncidentEvent.incident_id == incident.id)
                                           .order_by(IncidentEvent.id))),
            "attachments": list(session.scalars(select(IncidentAttachment).where(
                IncidentAttachment.incident_id == incident.id).order_by(IncidentAttachment.uploaded_at))),
            "alarms": list(session.scalars(select(Alarm).where(Alarm.incident_id == incident.id)))}


def incident_query(actor: Actor, *, status: str | None = None, org_id: uuid.UUID | None = None,
                   district_id: uuid.UUID | None = None, open_only: bool = False,
                   breached: bool | None = None, category: str | None = None,
                   severity: str | None = None) -> Select[Any]:
    """Incidents the actor may see, filtered."""
    stmt = select(Incident)
    if not policies.sees_all(actor):
        orgs = policies.work_orgs(actor)
        stmt = stmt.where(or_(Incident.org_id.in_(orgs), Incident.id.in_(
            select(IncidentShare.incident_id).where(IncidentShare.org_id.in_(orgs)))))
    if status:
        stmt = stmt.where(Incident.status == status)
    if open_only:
        stmt = stmt.where(Incident.status.in_(OPEN_INCIDENT))
    if org_id:
        stmt = stmt.where(Incident.org_id == org_id)
    if district_id:
        stmt = stmt.where(Incident.district_id == district_id)
    if breached is not None:
        stmt = stmt.where(Incident.sla_breached.is_(breached))
    if category:
        stmt = stmt.where(Incident.category == category)
    if severity:
        stmt = stmt.where(Incident.severity == severity)
    return stmt


def incident_list(session: Session, actor: Actor, page: PageParams, **filters: Any) -> tuple[list[Incident], int]:
    """The incident queue the actor may see, most severe and oldest first among open ones."""
    policies.read(actor)
    return paginate(session, incident_query(actor, **filters).order_by(Incident.created_at.desc(), Incident.id), page)


_TRANSITION_ACTION = {
    IncidentStatus.DISPATCHED: "incident_dispatch", IncidentStatus.ACCEPTED: "incident_accept",
    IncidentStatus.IN_PROGRESS: "incident_start", IncidentStatus.RESOLVED: "incident_resolve",
    IncidentStatus.CLOSED: "incident_close", IncidentStatus.REOPENED: "incident_reopen",
    IncidentStatus.NEW: "incident_return",
}


def incident_transition(session: Session, actor: Actor, incident_id: uuid.UUID, target: IncidentStatus,
                        note: str = "", org_id: uuid.UUID | None = None) -> Incident:
    """Move an incident along `new → dispatched → accepted → in_progress → resolved → closed` (and reopened)."""
    incident, _shared_orgs = _visible_incident(session, actor, incident_id)
    action = _TRANSITION_ACTION[target]
    if target == IncidentStatus.DISPATCHED:
        policies.incident_dispatch(actor)
        dest = org_id or route(session, incident.category, incident.district_id, incident.originator_org_id)
        if dest is None:
            raise ValidationFailed(_("Name the department to dispatch to"), field="org_id")
        _dispatch(session, actor, incident, dest, note)
    else:
        if target in (IncidentStatus.CLOSED, IncidentStatus.REOPENED):
            policies.incident_close(actor)
        elif target == IncidentStatus.NEW:
            policies.incident_work(actor, incident.org_id)  # the department returns a wrongly routed incident
        else:
            policies.incident_work(actor, incident.org_id)
        if org_id is not None:  # never ignored silently: only a dispatch names a department
            raise ValidationFailed(_("Only a dispatch names a department"), field="org_id")
        before = _move(incident, target)
        now = clock.now()
        if target == IncidentStatus.ACCEPTED:
            incident.accepted_at = now
        elif target == IncidentStatus.RESOLVED:
            incident.resolved_at = now
        elif target == IncidentStatus.CLOSED:
            incident.closed_at = now
        elif target == IncidentStatus.REOPENED:
            incident.resolved_at = incident.closed_at = None
            _resolve_accept, resolve = SLA.get(incident.severity, SLA[Severity.MAJOR])
            incident.resolve_due_at = now + resolve
        elif target == IncidentStatus.NEW:
            incident.org_id = None
        _event(session, incident, actor, "transition", from_status=before, to_status=target, text=note)
    session.flush()
    core.audit_record(session, actor, action, target_type="ops_incident", target_id=incident.id,
                      org_id=incident.org_id, after={"status": incident.status, "note": note})
    return incident


def incident_assign(session: Session, actor: Actor, incident_id: uuid.UUID, team: str,
                    org_id: uuid.UUID | None = None, note: str = "") -> Incident:
    """Give an open incident to a field team, of its department or of `org_id` (then re-dispatched there).

    Within the incident's department it is the department's (or the center's) to do; moving it to another
    department is a dispatch, the center's, along the state table (an incident already accepted elsewhere is a 409).
    The team is kept on the incident, a line of the timeline and an audit row say who gave it to whom.
    """
    incident, _shared_orgs = _visible_incident(session, actor, incident_id)
    team = team.strip()
    if not team:
        raise ValidationFailed(_("Name the team"), field="team")
    if incident.status not in OPEN_INCIDENT:
        raise Conflict(_("Only an open incident is given to a team"))
    before = {"org_id": incident.org_id, "team": incident.team}
    dest = org_id or incident.org_id
    if dest is None:
        raise ValidationFailed(_("Name the department to dispatch to"), field="org_id")
    if dest != incident.org_id:
        policies.incident_dispatch(actor)
        _dispatch(session, actor, incident, dest, note)
    else:
        policies.incident_work(actor, incident.org_id)
    incident.team = team[:100]
    _event(session, incident, actor, "assigned", text=note or team, data={"team": incident.team,
                                                                         "org_id": str(dest)})
    session.flush()
    core.audit_record(session, actor, "incident_assign", target_type="ops_incident", target_id=incident.id,
                      org_id=incident.org_id, before=before, after={"org_id": incident.org_id, "team": incident.team,
                                                                    "note": note})
    return incident


def incident_moves(incident: Incident) -> list[IncidentStatus]:
    """The statuses the state table allows next from the incident's, in life-cycle order (the page's buttons)."""
    order = list(IncidentStatus)
    return sorted(INCIDENT_FLOW.get(incident.status, set()), key=order.index)


def incident_comment(session: Session, actor: Actor, incident_id: uuid.UUID, text: str) -> IncidentEvent:
    """Add a comment to the timeline."""
    incident, shared = _visible_incident(session, actor, incident_id)
    policies.incident_comment(actor, incident.org_id, shared)
    ev = _event(session, incident, actor, "comment", text=text)
    session.flush()
    core.audit_record(session, actor, "incident_comment", target_type="ops_incident", target_id=incident.id,
                      org_id=incident.org_id, extra={"event_id": ev.id})
    return ev


def incident_share(session: Session, actor: Actor, incident_id: uuid.UUID, org_id: uuid.UUID) -> Incident:
    """Share an incident with another department (it then sees and comments on it)."""
    incident, shared = _visible_incident(session, actor, incident_id)
    policies.incident_share(actor, incident.org_id)
    org_exists(session, org_id, "org_id")
    if org_id in shared or org_id == incident.org_id:
        raise Conflict(_("Already shared with that department"))
    session.add(IncidentShare(incident_id=incident.id, org_id=org_id))
    _event(session, incident, actor, "shared", data={"org_id": str(org_id)})
    session.flush()
    core.audit_record(session, actor, "incident_share", target_type="ops_incident", target_id=incident.id,
                      org_id=incident.org_id, after={"shared_with": org_id})
    return incident


# ---------------------------------------------------------------- attachments


def _attachments_dir() -> Path:
    return get_settings().var_dir / "ops" / "attachments"


def _sniff(content: bytes) -> str | None:
    if content[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if content[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    if content[:5] == b"%PDF-":
        return "application/pdf"
    return None


def _clean_image(content: bytes) -> bytes:
    """Decode and re-encode as JPEG: only pixels survive (no EXIF location, no trailing payload)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(content)) as img:
            if img.format not in PHOTO_FORMATS:
                raise ValidationFailed(_("The photo must be JPEG, PNG or WebP"), field="photo")
            img.thumbnail((2048, 2048))
            out = io.BytesIO()
            img.convert("RGB").save(out, format="JPEG", quality=85)
            return out.getvalue()
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        if isinstance(exc, ValidationFailed):
            raise
        raise ValidationFailed(_("The photo could not be read as an image"), field="photo") from exc


def incident_attach(session: Session, actor: Actor, incident_id: uuid.UUID, filename: str, content: bytes,
                    ) -> IncidentAttachment:
    """Attach a file (image or PDF; images are re-encoded) to an incident."""
    incident, shared = _visible_incident(session, actor, incident_id)
    policies.incident_comment(actor, incident.org_id, shared)
    return _store_attachment(session, actor, incident, filename, content)


def _store_attachment(session: Session, actor: Actor, incident: Incident, filename: str, content: bytes
                      ) -> IncidentAttachment:
    limit = get_settings().ops_photo_max_bytes
    if len(content) > limit:
        raise PayloadTooLarge(_("The file is over the size limit"), details={"limit": limit})
    kind = _sniff(content)
    if kind is None:
        raise ValidationFailed(_("Attach an image (JPEG, PNG, WebP) or a PDF"), field="file")
    if kind.startswith("image/"):
        content, kind = _clean_image(content), "image/jpeg"
        filename = Path(filename).stem + ".jpg"
    safe = "".join(ch for ch in Path(filename).name if ch.isalnum() or ch in "._-")[:150] or "file"
    att = IncidentAttachment(incident_id=incident.id, filename=safe, content_type=kind, size=len(content),
                             sha256=hashlib.sha256(content).hexdigest(), uploaded_by=actor.username[:100],
                             uploaded_at=clock.now())
    session.add(att)
    session.flush()
    path = _attachments_dir() / str(att.id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    _event(session, incident, actor, "attachment", text=safe, data={"attachment_id": str(att.id)})
    core.audit_record(session, actor, "incident_attach", target_type="ops_incident", target_id=incident.id,
                      org_id=incident.org_id, after={"filename": safe, "size": len(content)})
    return att


def attachment_open(session: Session, actor: Actor, attachment_id: uuid.UUID) -> tuple[IncidentAttachment, Path]:
    """An attachment and its file, for someone who may see the incident."""
    att = get_or_404(session, IncidentAttachment, attachment_id, "Attachment")
    _visible_incident(session, actor, att.incident_id)
    path = _attachments_dir() / str(att.id)
    if not path.exists():
        raise NotFound(_("Attachment not found"), details={"id": str(attachment_id)})
    return att, path


# ---------------------------------------------------------------- SLA


def sla_check(session: Session, actor: Actor, now: datetime | None = None) -> int:
    """Escalate incidents whose SLA passed: not accepted in time (level 1), not resolved in time (level 2)."""
    now = now or clock.now()
    escalated = 0
    late_accept = select(Incident).where(Incident.status == IncidentStatus.DISPATCHED,
                                         Incident.accept_due_at <= now, Incident.escalation_level < 1)
    late_resolve = select(Incident).where(Incident.status.in_(OPEN_INCIDENT),
                                          Incident.resolve_due_at <= now, Incident.escalation_level < 2)
    for level, stmt in ((1, late_accept), (2, late_resolve)):
        for incident in session.scalars(stmt.with_for_update(skip_locked=True) if is_postgres(session) else stmt).all():
            incident.sla_breached = True
            incident.escalation_level = level
            what = _("not accepted in time") if level == 1 else _("not resolved in time")
            _event(session, incident, actor, "sla_escalated", text=what, data={"level": level})
            core.audit_record(session, actor, "incident_escalate", target_type="ops_incident", target_id=incident.id,
                              org_id=incident.org_id, after={"escalation_level": level})
            escalated += 1
    session.flush()
    return escalated


# ---------------------------------------------------------------- citizen reports


def _ip_hash(ip: str) -> str:
    return hmac.new(get_settings().secret_key.encode(), f"ops-report:{ip}".encode(), hashlib.sha256).hexdigest()


def _sanitise(text: str) -> str:
    import nh3

    cleaned = nh3.clean(text, tags=set(), attributes={}, strip_comments=True)
    # nh3 escapes what it keeps; the text is stored plain and escaped again where it is shown
    import html

    cleaned = html.unescape(cleaned)
    return "".join(ch for ch in cleaned if ch in "\n\t" or ord(ch) >= 32).strip()


def citizen_report_create(session: Session, data: CitizenReportCreate, ip: str,
                          photo: bytes | None = None, photo_name: str = "photo.jpg") -> ReportReceipt:
    """Take a citizen report (anonymous): rate-limited per IP, sanitised, routed like any incident."""
    now = clock.now()
    limit = get_settings().ops_report_limit_per_hour
    ip_hash = _ip_hash(ip or "unknown")
    recent = session.scalar(select(func.count()).select_from(CitizenReport).where(
        CitizenReport.ip_hash == ip_hash, CitizenReport.received_at > now - timedelta(hours=1))) or 0
    if recent >= limit:
        raise RateLimited(_("Too many reports from this address; try again later"), retry_after=3600)
    description = _sanitise(data.description)
    category = _sanitise(data.category)[:40]
    if len(description) < 5:
        raise ValidationFailed(_("Describe the problem in a few words"), field="description")
    if data.photo_base64 and photo is None:
        try:
            photo = base64.b64decode(data.photo_base64, validate=True)
        except ValueError as exc:
            raise ValidationFailed(_("The photo is not valid base64"), field="photo_base64") from exc
    if photo is not None and _sniff(photo) not in ("image/jpeg", "image/png", "image/webp"):
        raise ValidationFailed(_("The photo must be JPEG, PNG or WebP"), field="photo")
    citizen = Actor.system("citizen")
    code = "R" + secrets.token_hex(4).upper()
    incident = _open_incident(session, citizen, title=description[:60], description=description,
                              category=category if category in CATEGORIES else "other",
                              severity=Severity.MINOR.value, source=IncidentSource.CITIZEN.value, org_id=None,
                              district_id=_district_at(session, data.lon, data.lat), lon=data.lon, lat=data.lat,
                              report_code=code)
    session.add(CitizenReport(received_at=now, ip_hash=ip_hash, category=category, description=description,
                              contact=_sanitise(data.contact)[:100], lon=data.lon, lat=data.lat,
                              incident_id=incident.id))
    if photo is not None:
        _store_attachment(session, citizen, incident, photo_name, photo)
    session.flush()
    core.audit_record(session, citizen, "citizen_report_create", target_type="ops_incident", target_id=incident.id,
                      org_id=incident.org_id, after={"category": category, "code": code})
    return ReportReceipt(code=code, status=incident.status, received_at=now)


def _district_at(session: Session, lon: float | None, lat: float | None) -> uuid.UUID | None:
    """The district whose seat is nearest to the point (district outlines live in the front end only)."""
    if lon is None or lat is None:
        return None
    best: tuple[float, uuid.UUID] | None = None
    for org in core.organization_all(session):
        if org.kind in ("district", "county", "new_area") and org.lon is not None and org.lat is not None:
            d = (org.lon - lon) ** 2 + (org.lat - lat) ** 2
            if best is None or d < best[0]:
                best = (d, org.id)
    return best[1] if best and best[0] < 1.0 else None


def citizen_report_status(session: Session, code: str) -> ReportReceipt:
    """What a citizen may learn about their report: its status."""
    incident = session.scalar(select(Incident).where(Incident.report_code == code))
    if incident is None:
        raise NotFound(_("No report with this code"))
    report = session.scalar(select(CitizenReport).where(CitizenReport.incident_id == incident.id))
    return ReportReceipt(code=code, status=incident.status,
                         received_at=report.received_at if report else incident.created_at)
