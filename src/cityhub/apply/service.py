"""The programme cockpit's façade: targets as data, computed and reported progress, history, status.

A target's value is either **computed** by a named progress source (`progress/service.py`, reading the layers'
façades) when the bureau or the platform's job runs `progress_refresh`, or **reported** by its owner with evidence
and counted once someone at the bureau other than the reporter approves it. Every value a target takes is kept
(`TargetValue`), so its trend and forecast come from its history. Writes check the policy of the same name and
write an audit row.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from cityhub.apply import files, policies, reference
from cityhub.apply.economy import service as economy
from cityhub.apply.evaluation import evidence
from cityhub.apply.evaluation import pdf as evaluation_pdf
from cityhub.apply.evaluation import service as evaluation
from cityhub.apply.facilities import service as facilities
from cityhub.apply.models import Method, NodeKind, PanoramaSnapshot, ProgressReport, ReportStatus, Target, TargetValue
from cityhub.apply.panorama import service as panorama_layers
from cityhub.apply.panorama import snapshot
from cityhub.apply.progress import evidence as report_evidence
from cityhub.apply.progress import service as progress
from cityhub.apply.projects import service as projects
from cityhub.apply.scenarios import service as scenarios
from cityhub.apply.schemas import Progress, RefreshResult, ReportCreate, SeedResult, TargetCreate, TargetUpdate
from cityhub.apply.schemas import Target as TargetRead
from cityhub.apply.stations import service as stations
from cityhub.core import service as core
from cityhub.core.actor import Actor
from cityhub.kit import clock
from cityhub.kit.db import get_or_404
from cityhub.kit.errors import Conflict, NotFound, ValidationFailed, transition
from cityhub.kit.i18n import gettext as _
from cityhub.kit.refs import reference as ref

log = logging.getLogger(__name__)
_SYSTEM = Actor.system("apply-panorama")
SOURCES = progress.SOURCES
# the capabilities, reached as apply.evaluation.… etc.
__all__ = ["economy", "evaluation", "evaluation_pdf", "evidence", "facilities", "files", "projects", "report_evidence",
           "scenarios", "stations"]
REPORT_FLOW: dict[ReportStatus, set[ReportStatus]] = {
    ReportStatus.SUBMITTED: {ReportStatus.APPROVED, ReportStatus.REJECTED},
    ReportStatus.APPROVED: set(),
    ReportStatus.REJECTED: set(),
}
_FIELDS = ("position", "title_zh", "title_en", "year", "unit", "owner_org_id", "source_text", "baseline",
           "target_value", "start_date", "deadline", "method", "source_key")
HISTORY_LIMIT = 2000


# ---------------------------------------------------------------- reading


def target_get(session: Session, actor: Actor, target_id: uuid.UUID) -> Target:
    """One node (staff read every node: the programme is the city's)."""
    policies.target_read(actor)
    t = get_or_404(session, Target, target_id, "Target")
    return t


def target_by_code(session: Session, actor: Actor, code: str) -> Target:
    """One node by its code."""
    policies.target_read(actor)
    t = session.scalar(select(Target).where(Target.code == code))
    if t is None:
        raise NotFound(_("Target not found"))
    return t


def target_history(session: Session, actor: Actor, target_id: uuid.UUID) -> list[TargetValue]:
    """Every value the target had, oldest first."""
    t = target_get(session, actor, target_id)
    return list(session.scalars(select(TargetValue).where(TargetValue.target_id == t.id)
                                .order_by(TargetValue.at).limit(HISTORY_LIMIT)))


def _progress_of(t: Target, points: list[tuple[Any, float]], today: date, owner: str) -> Progress:
    prog = progress.progress_fraction(t.current_value, t.baseline, t.target_value)
    sched = progress.schedule_fraction(t.start_date, t.deadline, today)
    fc = progress.forecast(points, t.deadline)
    return Progress(target=TargetRead.model_validate(t), owner_name=owner, progress=prog, schedule=sched,
                    forecast=fc, status=progress.status(prog, sched, fc, t.target_value, today, t.deadline))


def _roll_up(node: Progress) -> None:
    """A group's status is its worst child's; its progress the mean of its children's."""
    for c in node.children:
        _roll_up(c)
    if node.target.kind == NodeKind.TARGET or not node.children:
        return
    order = {"red": 3, "amber": 2, "green": 1, "none": 0}
    node.status = max((c.status for c in node.children), key=lambda s: order[s])
    known = [min(1.0, c.progress) for c in node.children if c.progress is not None]
    node.progress = round(sum(known) / len(known), 4) if known else None


def target_tree(session: Session, actor: Actor, root_code: str | None = None) -> list[Progress]:
    """The programme as a tree with each node's progress, schedule, forecast and status (one query per table)."""
    policies.target_read(actor)
    nodes = list(session.scalars(select(Target).order_by(Target.position, Target.code)))
    points: dict[uuid.UUID, list[tuple[Any, float]]] = {}
    for tid, at, value in session.execute(select(TargetValue.target_id, TargetValue.at, TargetValue.value)
                                          .order_by(TargetValue.at)):
        points.setdefault(tid, []).append((at, value))
    names = core.organization_names(session)
    today = clock.now().date()
    built = {t.id: _progress_of(t, points.get(t.id, []), today, names.get(t.owner_org_id, "") if t.owner_org_id
                                else "") for t in nodes}
    roots: list[Progress] = []
    for t in nodes:
        parent = built.get(t.parent_id) if t.parent_id else None
        (parent.children if parent is not None else roots).append(built[t.id])
    for r in roots:
        _roll_up(r)
    if root_code is not None:
        roots = [r for r in roots if r.target.code == root_code]
    return roots


def target_progress(session: Session, actor: Actor, target_id: uuid.UUID) -> Progress:
    """One target with its progress, schedule, forecast and status."""
    t = target_get(session, actor, target_id)
    pts = [(v.at, v.value) for v in target_history(session, actor, t.id)]
    owner = core.organization_names(session).get(t.owner_org_id, "") if t.owner_org_id else ""
    return _progress_of(t, pts, clock.now().date(), owner)


def report_list(session: Session, actor: Actor, *, target_id: uuid.UUID | None = None,
                status: str | None = None) -> list[ProgressReport]:
    """Reports: the bureau sees all, others those of targets their units own or that they filed."""
    policies.target_read(actor)
    stmt = select(ProgressReport).order_by(ProgressReport.created_at.desc())
    if not policies.reviews(actor):
        orgs = {o for o in actor.staff_orgs}
        stmt = stmt.where((ProgressReport.org_id.in_(orgs)) | (ProgressReport.reporter_id == actor.user_id))
    if target_id is not None:
        stmt = stmt.where(ProgressReport.target_id == target_id)
    if status:
        stmt = stmt.where(ProgressReport.status == status)
    return list(session.scalars(stmt.limit(500)))


def report_queue(session: Session, actor: Actor) -> list[ProgressReport]:
    """Reports awaiting the bureau, oldest first."""
    policies.report_review(actor, None)
    return list(session.scalars(select(ProgressReport).where(ProgressReport.status == ReportStatus.SUBMITTED)
                                .order_by(ProgressReport.created_at)))


def report_get(session: Session, actor: Actor, report_id: uuid.UUID) -> ProgressReport:
    """One report the actor may see (others 404)."""
    policies.target_read(actor)
    r = session.get(ProgressReport, report_id)
    if r is None or not policies.report_visible(actor, r.org_id, r.reporter_id):
        raise NotFound(_("Report not found"))
    return r


def owner_of(session: Session, t: Target) -> uuid.UUID | None:
    """The unit answerable for a target: its owner, else the bureau."""
    return t.owner_org_id or core.bureau_id(session)


# ---------------------------------------------------------------- writes


def _check(session: Session, actor: Actor, values: dict[str, Any], current: Target | None = None) -> None:
    if values.get("owner_org_id") is not None:
        ref("owner_org_id", lambda: core.organization_get(session, actor, values["owner_org_id"]))
    if values.get("parent_id") is not None:
        parent = ref("parent_id", lambda: session.get(Target, values["parent_id"]))
        if parent.kind == NodeKind.TARGET:
            raise ValidationFailed(_("A target cannot hold other targets"), field="parent_id")
    method = values.get("method", current.method if current else Method.REPORTED)
    key = values.get("source_key", current.source_key if current else "")
    kind = values.get("kind", current.kind if current else NodeKind.TARGET)
    if method == Method.COMPUTED and key not in SOURCES:
        raise ValidationFailed(_("Name one of the progress sources"), field="source_key")
    if kind == NodeKind.TARGET and method == Method.NONE:
        raise ValidationFailed(_("A target is computed or reported"), field="method")
    start = values.get("start_date", current.start_date if current else None)
    deadline = values.get("deadline", current.deadline if current else None)
    if start and deadline and deadline <= start:
        raise ValidationFailed(_("The deadline comes after the start date"), field="deadline")


def target_create(session: Session, actor: Actor, data: TargetCreate) -> Target:
    """Add a node to the programme."""
    policies.target_create(actor)
    values = data.model_dump()
    _check(session, actor, values)
    if session.scalar(select(Target.id).where(Target.code == data.code)) is not None:
        raise Conflict(_("A target with this code exists"), details=[{"field": "code", "message": "taken"}])
    if data.kind != NodeKind.TARGET:
        values["method"] = Method.NONE
    t = Target(**values)
    session.add(t)
    session.flush()
    snapshot.mark_stale(session)
    core.audit_record(session, actor, "target_create", target_type="apply_target", target_id=t.id,
                      org_id=t.owner_org_id, after={"code": t.code, "title_zh": t.title_zh,
                                                    "target_value": t.target_value, "method": t.method})
    return t


def target_update(session: Session, actor: Actor, target_id: uuid.UUID, data: TargetUpdate) -> Target:
    """Change a node's numbers, owner, dates or method."""
    t = target_get(session, actor, target_id)
    policies.target_update(actor)
    values = data.model_dump(exclude_unset=True)
    for k in ("title_zh", "baseline", "method", "position"):
        if k in values and values[k] is None:
            raise ValidationFailed(_("This field cannot be null"), field=k)
    _check(session, actor, values, t)
    with core.audited(session, actor, "target_update", t, _FIELDS, target_type="apply_target",
                      org_id=t.owner_org_id):
        for k, v in values.items():
            setattr(t, k, v)
    snapshot.mark_stale(session)
    return t


def target_delete(session: Session, actor: Actor, target_id: uuid.UUID) -> None:
    """Delete a node without children (its history and reports go with it)."""
    t = target_get(session, actor, target_id)
    policies.target_delete(actor)
    if session.scalar(select(func.count()).where(Target.parent_id == t.id)):
        raise Conflict(_("Delete the node's children first"))
    snapshot.mark_stale(session)
    core.audit_record(session, actor, "target_delete", target_type="apply_target", target_id=t.id,
                      before={"code": t.code, "title_zh": t.title_zh})
    session.execute(delete(TargetValue).where(TargetValue.target_id == t.id))
    session.execute(delete(ProgressReport).where(ProgressReport.target_id == t.id))
    session.delete(t)
    session.flush()


def _day(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def _record(session: Session, t: Target, value: float, origin: str, report_id: uuid.UUID | None = None,
            at: datetime | None = None) -> bool:
    """Keep a value in the history (a computed value unchanged today is not kept twice); the latest is current."""
    now = clock.now()
    at = at or now
    if origin == "computed" and t.current_value == value and t.current_at is not None \
            and t.current_at.date() == now.date():
        return False
    session.add(TargetValue(target_id=t.id, at=at, value=value, origin=origin, report_id=report_id))
    if t.current_at is None or at >= t.current_at:
        t.current_value, t.current_at = value, at
    return True


def progress_refresh(session: Session, actor: Actor) -> RefreshResult:
    """Compute every computed target from its progress source; each source runs once."""
    policies.progress_refresh(actor)
    targets = list(session.scalars(select(Target).where(Target.method == Method.COMPUTED)))
    cache: dict[str, float | None] = {}
    out = RefreshResult(computed=0, recorded=0)
    for t in targets:
        if t.source_key not in cache:
            try:
                with session.begin_nested():
                    cache[t.source_key] = progress.source_value(session, t.source_key)
            except Exception:  # one layer's failure leaves its targets as they were; the rest still run
                log.exception("progress source %s failed", t.source_key)
                cache[t.source_key] = None
        value = cache[t.source_key]
        if value is None:
            out.failed.append(t.code)
            continue
        out.computed += 1
        out.recorded += _record(session, t, value, "computed")
    session.flush()
    snapshot.mark_stale(session)
    core.audit_record(session, actor, "progress_refresh", target_type="apply_target", target_id="computed",
                      extra={"computed": out.computed, "recorded": out.recorded, "failed": out.failed[:20]})
    return out


def report_create(session: Session, actor: Actor, target_id: uuid.UUID, data: ReportCreate,
                  evidence_files: Sequence[tuple[str, bytes]] = ()) -> ProgressReport:
    """The owner reports a reported target's value with evidence; it counts once the bureau approves it.

    Evidence is a link (`evidence_url`), files (`evidence_files`: name and bytes, `progress/evidence.py`), or both;
    none is a 422 naming `evidence_url`. A refused file writes nothing (the report neither).
    """
    t = target_get(session, actor, target_id)
    owner = owner_of(session, t)
    if owner is None:
        raise Conflict(_("The target has no owner: name one first"))
    policies.report_create(actor, owner)
    if t.method != Method.REPORTED:
        raise Conflict(_("Only reported targets take reports; this one is computed by the platform"))
    if not data.evidence_url and not evidence_files:
        raise ValidationFailed(_("Give the evidence: a link or a file"), field="evidence_url")
    for name, content in evidence_files:  # every file accepted before anything is written
        files.check(name, content)
    r = ProgressReport(target_id=t.id, org_id=owner, reporter_id=actor.user_id, value=data.value,
                       as_of=data.as_of or clock.now().date(), note=data.note, evidence_url=data.evidence_url,
                       status=ReportStatus.SUBMITTED)
    session.add(r)
    session.flush()
    core.audit_record(session, actor, "report_create", target_type="apply_report", target_id=r.id, org_id=owner,
                      after={"target": t.code, "value": r.value, "evidence_url": r.evidence_url,
                             "files": len(evidence_files)})
    for name, content in evidence_files:
        report_evidence.attach(session, actor, r, name, content)
    return r


def report_review(session: Session, actor: Actor, report_id: uuid.UUID, approve: bool, note: str = ""
                  ) -> ProgressReport:
    """The bureau approves (the value becomes the target's current value, in its history) or rejects a report."""
    r = report_get(session, actor, report_id)
    policies.report_review(actor, r.reporter_id)
    t = session.get(Target, r.target_id)
    if t is None:
        raise NotFound(_("Target not found"))
    with core.audited(session, actor, "report_review", r, ("status", "review_note"), target_type="apply_report",
                      org_id=r.org_id, extra={"target": t.code, "value": r.value}):
        transition(r, ReportStatus.APPROVED if approve else ReportStatus.REJECTED, REPORT_FLOW, "report")
        r.reviewer_id, r.reviewed_at, r.review_note = actor.user_id, clock.now(), note
        if approve:
            _record(session, t, r.value, "reported", r.id, _day(r.as_of) if r.as_of < clock.now().date() else None)
            snapshot.mark_stale(session)
    return r


def programme_seed(session: Session, actor: Actor, start: date | None = None, deadline: date | None = None
                   ) -> SeedResult:
    """Load the seed plan's targets (reference.SEED) as data; existing codes are left as they are.

    The plan runs from `reference.START` to `reference.DEADLINE`; the demo passes a window around today instead.
    """
    policies.programme_seed(actor)
    have = {t.code: t for t in session.scalars(select(Target))}
    created = 0
    for pos, n in enumerate(reference.SEED):
        if n.code in have:
            continue
        owner = core.organization_by_code(session, n.owner) if n.owner else None
        parent = have.get(n.parent) if n.parent else None
        t = Target(code=n.code, parent_id=parent.id if parent else None, kind=NodeKind(n.kind), position=pos,
                   layer=n.layer, title_zh=n.title_zh, title_en=n.title_en,
                   year=deadline.year if deadline else n.year, unit=n.unit,
                   owner_org_id=owner.id if owner else None, source_text=n.source_text, baseline=n.baseline,
                   target_value=n.target, start_date=start or reference.START, deadline=deadline or reference.DEADLINE,
                   method=Method(n.method), source_key=n.source)
        session.add(t)
        session.flush()
        if t.kind == NodeKind.TARGET and t.start_date is not None:  # the plan's starting point opens the history
            session.add(TargetValue(target_id=t.id, at=_day(t.start_date), value=t.baseline, origin="baseline"))
        have[n.code] = t
        created += 1
    if created:
        snapshot.mark_stale(session)
        core.audit_record(session, actor, "programme_seed", target_type="apply_target",
                          target_id=reference.PROGRAMME_CODE, extra={"created": created})
    return SeedResult(created=created, existing=len(reference.SEED) - created)


def sources() -> list[dict[str, str]]:
    """The registry of progress sources (key, layer, title, unit)."""
    return [{"key": s.key, "layer": s.layer, "title": _(s.title), "unit": s.unit} for s in SOURCES.values()]


def panorama(session: Session, actor: Actor) -> dict[str, Any]:
    """The 全景 screen's data as last computed, with its `version` (every member of staff: `apply.read`).

    Read from the stored snapshot (`panorama/snapshot.py`), which the worker keeps fresh: a request computes nothing —
    except on a database where nothing was ever computed (no worker has run yet), where the first request takes the
    reading and keeps it.
    """
    policies.target_read(actor)
    row = snapshot.stored(session)
    if row is None:
        row = panorama_refresh(session)
    return {**row.payload, "version": row.version}


def panorama_check(actor: Actor) -> None:
    """Whether the actor may watch the screen (403 if not), without the database (the live stream asks first)."""
    policies.target_read(actor)


def panorama_version(session: Session, actor: Actor) -> int | None:
    """The stored snapshot's version (the live stream sends the data when it changes); None before the first."""
    policies.target_read(actor)
    return session.scalar(select(PanoramaSnapshot.version).where(PanoramaSnapshot.key == snapshot.KEY))


def panorama_due(session: Session, every_s: float = snapshot.REFRESH_S) -> bool:
    """Whether the worker must read the screen's figures again (`snapshot.due`)."""
    return snapshot.due(snapshot.stored(session), clock.now(), every_s)


def panorama_refresh(session: Session) -> PanoramaSnapshot:
    """Read every layer and the cockpit's own figures now, as the platform, and keep them (the worker's job)."""
    started = clock.now()
    return snapshot.store(session, panorama_compute(session), started)


def panorama_compute(session: Session) -> dict[str, Any]:
    """Every layer's city-wide figures and the cockpit's own, read now as the platform (the worker's reading).

    The layers through `panorama/service.py`; the cockpit's: targets by status per layer, scenarios per batch,
    enterprises, key projects (count, in construction, investment planned and completed in 万元).
    """
    actor = _SYSTEM
    out = panorama_layers.read_layers(session)
    roots = target_tree(session, actor)
    by_layer: dict[str, dict[str, int]] = {}
    stack = list(roots)
    while stack:
        p = stack.pop()
        stack.extend(p.children)
        if p.target.kind == NodeKind.TARGET:
            row = by_layer.setdefault(p.target.layer, {"green": 0, "amber": 0, "red": 0, "none": 0})
            row[p.status] = row.get(p.status, 0) + 1
    progress_ = roots[0].progress if roots else None
    out["apply"] = {
        "targets": by_layer, "progress": progress_,
        "status": {s: sum(r.get(s, 0) for r in by_layer.values()) for s in ("green", "amber", "red", "none")},
        "scenarios": [{"batch": str(b.batch), "delivered": b.delivered, "total": sum(b.by_status.values())}
                      for b in scenarios.summary(session, actor)],
        "enterprises": economy.enterprise_count(session)}
    kp = projects.key_project_summary(session, actor)
    out["apply"]["key_projects"] = {"total": kp.total, "under_construction": kp.by_status.get("under_construction", 0),
                                    "completed": kp.by_status.get("completed", 0),
                                    "investment_total": kp.investment_total,
                                    "investment_completed": kp.investment_completed}
    return out
