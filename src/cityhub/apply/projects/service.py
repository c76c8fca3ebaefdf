"""The key-project register (数字经济重点项目): projects, their status, their progress reports, and their import.

A key project belongs to an **owner unit** (the department or district responsible for it): that unit's staff
(`apply.report` on it, as for the programme's reported targets) and the bureau (`apply.manage`) register, change,
move, report and delete it; every member of staff reads the register (the programme is the city's). Its park, lead
enterprise and district name the city's registers, so any of them is a legitimate reference; an unknown one is a
422 naming the field. Its sector is one of `reference.SECTORS`, as for enterprises.

Status follows `FLOW`: planned → under_construction → completed, and under_construction ⇄ suspended (planned may
be suspended too); any other move is a 409, and a completed project is final. A **progress report** gives the
investment completed to date (cumulative, 万元) as of a day with the milestone reached; reports are kept (the
detail page's chart), the project's `investment_completed` is the latest one's, one report per day (409), and a
figure lower than an earlier day's is a 422 naming `investment_completed`. Only a planned project may be deleted
(else 409). Every write leaves an audit row and marks the 全景 screen stale.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityhub.apply import policies, reference
from cityhub.apply.economy import service as economy
from cityhub.apply.models import DigitalPark, Enterprise, KeyProject, KeyProjectReport, ProjectStatus
from cityhub.apply.panorama import snapshot
from cityhub.apply.projects.schemas import KeyProject as ProjectRead
from cityhub.apply.projects.schemas import (
    KeyProjectCreate,
    KeyProjectReportCreate,
    KeyProjectSummary,
    KeyProjectUpdate,
)
from cityhub.apply.projects.schemas import KeyProjectReport as ReportRead
from cityhub.apply.schemas import ImportResult
from cityhub.core import service as core
from cityhub.core.actor import Actor
from cityhub.kit import clock, labels
from cityhub.kit.db import get_or_404
from cityhub.kit.errors import Conflict, InvalidTransition, ValidationFailed, transition
from cityhub.kit.i18n import gettext as _
from cityhub.kit.pagination import PageParams, paginate

DISTRICT_KINDS = economy.DISTRICT_KINDS
FLOW: dict[ProjectStatus, set[ProjectStatus]] = {
    ProjectStatus.PLANNED: {ProjectStatus.UNDER_CONSTRUCTION, ProjectStatus.SUSPENDED},
    ProjectStatus.UNDER_CONSTRUCTION: {ProjectStatus.COMPLETED, ProjectStatus.SUSPENDED},
    ProjectStatus.SUSPENDED: {ProjectStatus.UNDER_CONSTRUCTION},
    ProjectStatus.COMPLETED: set(),
}
REPORTABLE = (ProjectStatus.PLANNED, ProjectStatus.UNDER_CONSTRUCTION)
_FIELDS = ("id", "created_at", "updated_at", "name", "owner_org_id", "sector", "investment_total",
           "investment_completed", "park_id", "lead_enterprise_id", "district_org_id", "planned_start",
           "planned_finish", "status", "description")


def _read(p: KeyProject) -> ProjectRead:
    return ProjectRead.model_validate({**{k: getattr(p, k) for k in _FIELDS},
                                       "completion": round(p.investment_completed / p.investment_total, 4)
                                       if p.investment_total else None})


def _problems(problems: list[tuple[str, str]]) -> None:
    if problems:
        raise ValidationFailed(problems[0][1], details=[{"field": f, "message": m} for f, m in problems])


def _check_refs(session: Session, values: dict[str, Any]) -> None:
    """The references a create or update names: each unknown one a 422 naming its field (all listed)."""
    problems: list[tuple[str, str]] = []
    orgs = {o.id: o for o in core.organization_all(session)} if {"owner_org_id", "district_org_id"} & set(values) \
        else {}
    if "owner_org_id" in values and values["owner_org_id"] not in orgs:
        problems.append(("owner_org_id", _("Name a unit of the city")))
    d = values.get("district_org_id")
    if d is not None and (d not in orgs or orgs[d].kind not in DISTRICT_KINDS):
        problems.append(("district_org_id", _("Name a district or county")))
    if "sector" in values and values["sector"] not in reference.SECTORS:
        problems.append(("sector", _("Name one of the sectors: %s") % ", ".join(reference.SECTORS)))
    if values.get("park_id") is not None and session.get(DigitalPark, values["park_id"]) is None:
        problems.append(("park_id", _("Name a registered park")))
    if values.get("lead_enterprise_id") is not None and session.get(Enterprise, values["lead_enterprise_id"]) is None:
        problems.append(("lead_enterprise_id", _("Name a registered enterprise")))
    _problems(problems)


def _name_free(session: Session, name: str, project_id: uuid.UUID | None = None) -> None:
    stmt = select(KeyProject.id).where(KeyProject.name == name)
    if project_id is not None:
        stmt = stmt.where(KeyProject.id != project_id)
    if session.scalar(stmt):
        raise Conflict(_("A key project of this name is registered"), details=[{"field": "name", "message": "taken"}])


# ---------------------------------------------------------------- reading


def key_project_list(session: Session, actor: Actor, page: PageParams, *, park_id: uuid.UUID | None = None,
                     status: str | None = None, district_org_id: uuid.UUID | None = None,
                     owner_org_id: uuid.UUID | None = None, sector: str | None = None
                     ) -> tuple[list[ProjectRead], int]:
    """The register by name, filtered by park, status, district, owner unit or sector (staff read it all)."""
    policies.target_read(actor)
    stmt = select(KeyProject)
    for column, value in ((KeyProject.park_id, park_id), (KeyProject.status, status),
                          (KeyProject.district_org_id, district_org_id), (KeyProject.owner_org_id, owner_org_id),
                          (KeyProject.sector, sector)):
        if value:
            stmt = stmt.where(column == value)
    rows, total = paginate(session, stmt.order_by(KeyProject.name), page)
    return [_read(p) for p in rows], total


def key_project_get(session: Session, actor: Actor, project_id: uuid.UUID) -> ProjectRead:
    """One key project (404 for an unknown id)."""
    policies.target_read(actor)
    return _read(get_or_404(session, KeyProject, project_id, "Key project"))


def key_project_reports(session: Session, actor: Actor, project_id: uuid.UUID) -> list[ReportRead]:
    """A project's progress reports, oldest first (its investment history)."""
    policies.target_read(actor)
    get_or_404(session, KeyProject, project_id, "Key project")
    rows = session.scalars(select(KeyProjectReport).where(KeyProjectReport.project_id == project_id)
                           .order_by(KeyProjectReport.as_of))
    return [ReportRead.model_validate(r, from_attributes=True) for r in rows]


def may_change(actor: Actor, project: ProjectRead) -> bool:
    """May the actor change this project (the pages show its forms only then)?"""
    return policies.may_report(actor, project.owner_org_id)


def key_project_summary(session: Session, actor: Actor, park_id: uuid.UUID | None = None) -> KeyProjectSummary:
    """The register in figures: projects per status, investment planned and completed (万元), per park."""
    policies.target_read(actor)
    where = [KeyProject.park_id == park_id] if park_id is not None else []
    by_status = {str(s): int(n) for s, n in session.execute(
        select(KeyProject.status, func.count()).where(*where).group_by(KeyProject.status)).tuples()}
    planned, done = session.execute(select(func.coalesce(func.sum(KeyProject.investment_total), 0.0),
                                           func.coalesce(func.sum(KeyProject.investment_completed), 0.0))
                                    .where(*where)).one()
    names = {p.id: p.name for p in session.scalars(select(DigitalPark))}
    by_park = [{"park_id": pid, "name": names.get(pid, "") if pid else "", "projects": int(n),
                "investment_total": round(float(t or 0), 1), "investment_completed": round(float(c or 0), 1)}
               for pid, n, t, c in session.execute(
                   select(KeyProject.park_id, func.count(), func.sum(KeyProject.investment_total),
                          func.sum(KeyProject.investment_completed)).where(*where)
                   .group_by(KeyProject.park_id)).tuples()]
    by_park.sort(key=lambda r: (r["park_id"] is None, str(r["name"])))
    return KeyProjectSummary(total=sum(by_status.values()), by_status={s.value: by_status.get(s.value, 0)
                                                                       for s in ProjectStatus},
                             investment_total=round(float(planned), 1), investment_completed=round(float(done), 1),
                             by_park=by_park)


def investment_completed_total(session: Session) -> float:
    """Investment completed to date over every key project, 万元 (progress source `apply.key_projects_investment`)."""
    return float(session.scalar(select(func.coalesce(func.sum(KeyProject.investment_completed), 0.0))) or 0.0)


def completed_count(session: Session) -> int:
    """Key projects completed (the progress source `apply.key_projects_completed`)."""
    return int(session.scalar(select(func.count()).select_from(KeyProject).where(
        KeyProject.status == ProjectStatus.COMPLETED)) or 0)


# ---------------------------------------------------------------- writing


def key_project_create(session: Session, actor: Actor, body: KeyProjectCreate) -> ProjectRead:
    """The owner unit's staff (or the bureau) register a key project; it starts planned, nothing invested yet."""
    policies.target_read(actor)
    values = body.model_dump()
    _check_refs(session, values)
    policies.key_project_create(actor, body.owner_org_id)
    _name_free(session, body.name)
    p = KeyProject(**values, status=ProjectStatus.PLANNED, investment_completed=0.0)
    session.add(p)
    session.flush()
    snapshot.mark_stale(session)  # the 全景 screen shows it
    core.audit_record(session, actor, "key_project_create", target_type="apply_key_project", target_id=p.id,
                      org_id=p.owner_org_id, after={"name": p.name, "sector": p.sector,
                                                    "investment_total": p.investment_total})
    return _read(p)


def _editable(session: Session, actor: Actor, project_id: uuid.UUID) -> KeyProject:
    policies.target_read(actor)
    return get_or_404(session, KeyProject, project_id, "Key project")


def key_project_update(session: Session, actor: Actor, project_id: uuid.UUID, body: KeyProjectUpdate) -> ProjectRead:
    """Change the fields given (owner unit or bureau; a new owner must be one the actor may act for too).

    A completed project is final (409); planned dates out of order are a 422 naming `planned_finish`.
    """
    p = _editable(session, actor, project_id)
    policies.key_project_update(actor, p.owner_org_id)
    changes = body.model_dump(exclude_unset=True)
    for required in ("name", "owner_org_id", "sector", "investment_total"):
        if required in changes and changes[required] is None:
            raise ValidationFailed(_("This field cannot be cleared"), field=required)
    _check_refs(session, changes)
    if "owner_org_id" in changes:
        policies.key_project_update(actor, changes["owner_org_id"])
    if p.status == ProjectStatus.COMPLETED:
        raise Conflict(_("The project is completed: its record is final"),
                       details=[{"field": "status", "message": str(p.status)}])
    start = changes.get("planned_start", p.planned_start)
    finish = changes.get("planned_finish", p.planned_finish)
    if start is not None and finish is not None and finish < start:
        raise ValidationFailed(_("The planned finish comes on or after the planned start"), field="planned_finish")
    if "name" in changes:
        _name_free(session, changes["name"], p.id)
    changed = {k: v for k, v in changes.items() if getattr(p, k) != v}
    before = {k: _plain(getattr(p, k)) for k in changed}
    for k, v in changed.items():
        setattr(p, k, v)
    session.flush()
    if changed:
        snapshot.mark_stale(session)
    core.audit_record(session, actor, "key_project_update", target_type="apply_key_project", target_id=p.id,
                      org_id=p.owner_org_id, before=before, after={k: _plain(v) for k, v in changed.items()})
    return _read(p)


def _plain(v: Any) -> Any:
    return str(v) if isinstance(v, uuid.UUID | date) else v


def key_project_transition(session: Session, actor: Actor, project_id: uuid.UUID, status: str,
                           note: str = "") -> ProjectRead:
    """Move a project along `FLOW` (owner unit or bureau); any other move is a 409."""
    try:
        to = ProjectStatus(status)
    except ValueError:
        raise ValidationFailed(_("Name one of the project states"), field="status") from None
    p = _editable(session, actor, project_id)
    policies.key_project_transition(actor, p.owner_org_id)
    if to not in FLOW[ProjectStatus(p.status)]:  # the 409 in words: the page shows its message
        refused = InvalidTransition("key project", str(p.status), str(to))
        refused.message = _("A key project cannot move from {current} to {target}").format(
            current=labels.label(ProjectStatus(p.status)), target=labels.label(to))
        raise refused
    before = transition(p, to, FLOW, "key project")
    session.flush()
    snapshot.mark_stale(session)
    core.audit_record(session, actor, "key_project_transition", target_type="apply_key_project", target_id=p.id,
                      org_id=p.owner_org_id, before={"status": before}, after={"status": to, "note": note})
    return _read(p)


def key_project_report(session: Session, actor: Actor, project_id: uuid.UUID,
                       body: KeyProjectReportCreate) -> ReportRead:
    """Report investment completed to date as of a day, with the milestone (owner unit or bureau).

    Only a planned or building project reports (409); one report per day (409); no later than today (422
    `as_of`); never below an earlier day's figure nor above a later day's (422 `investment_completed`).
    """
    p = _editable(session, actor, project_id)
    policies.key_project_report(actor, p.owner_org_id)
    if p.status not in REPORTABLE:
        raise Conflict(_("Only a planned project or one under construction reports progress"),
                       details=[{"field": "status", "message": str(p.status)}])
    if body.as_of > clock.now().date():
        raise ValidationFailed(_("Report progress as of today or an earlier day"), field="as_of")
    if session.scalar(select(KeyProjectReport.id).where(KeyProjectReport.project_id == p.id,
                                                        KeyProjectReport.as_of == body.as_of)):
        raise Conflict(_("This project has a report as of this day"), details=[{"field": "as_of", "message": "taken"}])
    earlier = session.scalar(select(func.max(KeyProjectReport.investment_completed)).where(
        KeyProjectReport.project_id == p.id, KeyProjectReport.as_of < body.as_of))
    later = session.scalar(select(func.min(KeyProjectReport.investment_completed)).where(
        KeyProjectReport.project_id == p.id, KeyProjectReport.as_of > body.as_of))
    if (earlier is not None and body.investment_completed < earlier) or (
            later is not None and body.investment_completed > later):
        raise ValidationFailed(_("Investment completed to date never falls: check the figure against the other "
                                 "reports"), field="investment_completed")
    r = _add_report(session, actor, p, body)
    core.audit_record(session, actor, "key_project_report", target_type="apply_key_project", target_id=p.id,
                      org_id=p.owner_org_id, after={"as_of": str(r.as_of),
                                                    "investment_completed": r.investment_completed,
                                                    "milestone": r.milestone})
    return ReportRead.model_validate(r, from_attributes=True)


def _add_report(session: Session, actor: Actor, p: KeyProject, body: KeyProjectReportCreate) -> KeyProjectReport:
    r = KeyProjectReport(project_id=p.id, as_of=body.as_of, investment_completed=body.investment_completed,
                         milestone=body.milestone, reported_at=clock.now(), reported_by=actor.user_id)
    session.add(r)
    session.flush()
    latest = session.scalar(select(KeyProjectReport.investment_completed).where(
        KeyProjectReport.project_id == p.id).order_by(KeyProjectReport.as_of.desc()).limit(1))
    p.investment_completed = float(latest or 0.0)
    session.flush()
    snapshot.mark_stale(session)
    return r


def key_project_delete(session: Session, actor: Actor, project_id: uuid.UUID) -> None:
    """Delete a project registered by mistake: only while planned (else 409), owner unit or bureau."""
    p = _editable(session, actor, project_id)
    policies.key_project_delete(actor, p.owner_org_id)
    if p.status != ProjectStatus.PLANNED:
        raise Conflict(_("Only a planned project is deleted; suspend it instead"),
                       details=[{"field": "status", "message": str(p.status)}])
    before = {"name": p.name, "investment_total": p.investment_total}
    session.delete(p)
    session.flush()
    snapshot.mark_stale(session)
    core.audit_record(session, actor, "key_project_delete", target_type="apply_key_project", target_id=project_id,
                      org_id=p.owner_org_id, before=before)


# ---------------------------------------------------------------- import (CSV or XLSX): all rows or none

COLUMNS = ("name", "owner", "sector", "investment_total", "park", "lead_enterprise", "district", "planned_start",
           "planned_finish", "investment_completed", "as_of", "description")
REQUIRED = ("name", "owner", "sector", "investment_total")


def _number(raw: str) -> float | None:
    try:
        return float(raw.replace(",", "")) if raw else None
    except ValueError:
        return None


@dataclass
class _Lookups:
    """What an import's rows name, by code or name: units, parks, enterprises, and the projects registered."""

    orgs: dict[str, Any]
    parks: dict[str, uuid.UUID]
    firms: dict[str, uuid.UUID]
    have: dict[str, KeyProject]
    today: date


def _lookups(session: Session) -> _Lookups:
    orgs: dict[str, Any] = {}
    for o in core.organization_all(session):
        orgs[o.code] = orgs[o.name] = o
    parks: dict[str, uuid.UUID] = {}
    for pk in session.scalars(select(DigitalPark)):
        parks[pk.code] = parks[pk.name] = pk.id
    firms: dict[str, uuid.UUID] = {}
    for e in session.scalars(select(Enterprise)):
        firms[e.credit_code] = firms[e.name] = e.id
    return _Lookups(orgs, parks, firms, {p.name: p for p in session.scalars(select(KeyProject))},
                    clock.now().date())


def _ref_problems(raw: dict[str, str], look: _Lookups) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if raw.get("owner", "") not in look.orgs:
        problems.append(("owner", _("Name a unit of the city")))
    district = look.orgs.get(raw.get("district", ""))
    if raw.get("district") and (district is None or district.kind not in DISTRICT_KINDS):
        problems.append(("district", _("Name a district or county")))
    if raw.get("park") and raw["park"] not in look.parks:
        problems.append(("park", _("Name a registered park")))
    if raw.get("lead_enterprise") and raw["lead_enterprise"] not in look.firms:
        problems.append(("lead_enterprise", _("Name a registered enterprise")))
    if raw.get("sector", "") not in reference.SECTORS:
        problems.append(("sector", _("Name one of the sectors: %s") % ", ".join(reference.SECTORS)))
    for col in ("investment_total", "investment_completed"):
        if (raw.get(col) or col == "investment_total") and _number(raw.get(col, "")) is None:
            problems.append((col, _("Give a number (10,000 yuan)")))
    return problems


_Row = tuple[KeyProjectCreate | None, KeyProjectReportCreate | None, list[tuple[str, str]]]


def _row(session: Session, raw: dict[str, str], look: _Lookups) -> _Row:
    """One row as a project (and a progress report when it gives a figure), or its problems."""
    problems = _ref_problems(raw, look)
    owner, district = look.orgs.get(raw.get("owner", "")), look.orgs.get(raw.get("district", ""))
    done = _number(raw.get("investment_completed", ""))
    body: KeyProjectCreate | None = None
    report: KeyProjectReportCreate | None = None
    try:
        body = KeyProjectCreate.model_validate({
            "name": raw.get("name", ""), "owner_org_id": owner.id if owner else uuid.UUID(int=0),
            "sector": raw.get("sector", "") or "-", "investment_total": _number(raw.get("investment_total", "")) or 1,
            "park_id": look.parks.get(raw.get("park", "")), "district_org_id": district.id if district else None,
            "lead_enterprise_id": look.firms.get(raw.get("lead_enterprise", "")),
            "planned_start": raw.get("planned_start") or None, "planned_finish": raw.get("planned_finish") or None,
            "description": raw.get("description", "")})
        if done is not None:
            report = KeyProjectReportCreate.model_validate({
                "as_of": raw.get("as_of") or look.today, "investment_completed": done, "milestone": _("Imported")})
    except ValidationError as exc:
        problems += [(str(err["loc"][0]) if err["loc"] else "", str(err["msg"])) for err in exc.errors()]
    known = look.have.get(body.name) if body is not None else None
    if known is not None and known.status == ProjectStatus.COMPLETED:
        problems.append(("name", _("The project is completed: its record is final")))
    if report is not None and report.as_of > look.today:
        problems.append(("as_of", _("Report progress as of today or an earlier day")))
    if known is not None and report is not None and not problems:
        problems += _report_problems(session, known, report)
    return body, report, problems


def key_project_import(session: Session, actor: Actor, filename: str, content: bytes) -> ImportResult:
    """Import the register (CSV or XLSX; columns in `COLUMNS`, the first four required): all rows or none.

    Any problem → 422 listing each as {row, field, message} (row 2 = the first data row), nothing written. A name
    already registered updates that project (a completed one is a problem of its row). The owner and district are
    organisation codes or names, the park its code or name, the lead enterprise its 统一社会信用代码 or name. An
    `investment_completed` figure (with `as_of`, default today) is recorded as a progress report.
    """
    policies.key_project_import(actor)
    rows = economy.read_table(filename, content, REQUIRED)
    if not rows:
        raise ValidationFailed(_("The file has no rows"), field="file")
    look = _lookups(session)
    errors: list[dict[str, Any]] = []
    good: list[tuple[KeyProjectCreate, KeyProjectReportCreate | None]] = []
    seen: dict[str, int] = {}
    for n, raw in enumerate(rows, start=2):
        body, report, problems = _row(session, raw, look)
        if body is not None:
            if body.name in seen:
                problems.append(("name", _("Repeats row %d") % seen[body.name]))
            seen.setdefault(body.name, n)
        errors += [{"row": n, "field": f, "message": m} for f, m in problems]
        if body is not None and not problems:
            good.append((body, report))
    if errors:
        raise ValidationFailed(_("%d problems in the file: nothing was imported") % len(errors), details=errors[:500])
    out = ImportResult()
    for body, report in good:
        p = look.have.get(body.name)
        if p is None:
            p = KeyProject(**body.model_dump(), status=ProjectStatus.PLANNED, investment_completed=0.0)
            session.add(p)
            out.created += 1
        else:
            for k, v in body.model_dump().items():
                setattr(p, k, v)
            out.updated += 1
        session.flush()
        if report is not None:
            _add_report(session, actor, p, report)
    snapshot.mark_stale(session)
    core.audit_record(session, actor, "key_project_import", target_type="apply_key_project", target_id="import",
                      extra={"created": out.created, "updated": out.updated})
    return out


def _report_problems(session: Session, p: KeyProject, report: KeyProjectReportCreate) -> list[tuple[str, str]]:
    """An imported figure for a registered project: a new day, never below an earlier one, nor above a later one."""
    rows = list(session.execute(select(KeyProjectReport.as_of, KeyProjectReport.investment_completed).where(
        KeyProjectReport.project_id == p.id)).tuples())
    if any(d == report.as_of for d, _v in rows):
        return [("as_of", _("This project has a report as of this day"))]
    if any((d < report.as_of and v > report.investment_completed) or (d > report.as_of and v <
                                                                      report.investment_completed) for d, v in rows):
        return [("investment_completed", _("Investment completed to date never falls: check the figure against the "
                                           "other reports"))]
    return []
