"""Evidence files of progress reports: the owner's report carries a link, a file, or both.

**Who**: whoever may report for the target's owner unit (`policies.report_create`: the unit's staff, the bureau)
attaches; whoever sees the report (`policies.report_visible`: the bureau, the unit's staff, the reporter, platform
admins) lists and downloads — anyone else gets 404, as for the report itself. **When**: while the report awaits
review; a reviewed report's evidence is what the reviewer saw, so attaching to it is a 409. **What**: the files the
cockpit accepts (`apply/files.py`: PDF, PNG, JPEG, DOCX, XLSX by their bytes, at most 20 MB); the bytes under
`var_dir/apply/report-evidence/<id>`. Each attachment writes a `report_evidence_attach` audit row with the digest.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityhub.apply import files, policies
from cityhub.apply.models import ProgressReport, ReportEvidence, ReportStatus
from cityhub.core import service as core
from cityhub.core.actor import Actor
from cityhub.kit import clock
from cityhub.kit.errors import Conflict, NotFound
from cityhub.kit.i18n import gettext as _

FOLDER = "report-evidence"


def _report(session: Session, actor: Actor, report_id: uuid.UUID) -> ProgressReport:
    policies.target_read(actor)
    r = session.get(ProgressReport, report_id)
    if r is None or not policies.report_visible(actor, r.org_id, r.reporter_id):
        raise NotFound(_("Report not found"))
    return r


def attach(session: Session, actor: Actor, r: ProgressReport, filename: str, content: bytes) -> ReportEvidence:
    """Attach a file to a report awaiting review (the caller checked who may)."""
    if r.status != ReportStatus.SUBMITTED:
        raise Conflict(_("The report was reviewed: its evidence is final"),
                       details=[{"field": "report_id", "message": str(r.status)}])
    ok = files.check(filename, content)
    ev = ReportEvidence(report_id=r.id, filename=ok.filename, content_type=ok.content_type, size=ok.size,
                        sha256=ok.sha256, uploaded_by=actor.user_id, uploaded_at=clock.now())
    session.add(ev)
    session.flush()
    files.save(FOLDER, ev.id, content)
    core.audit_record(session, actor, "report_evidence_attach", target_type="apply_report", target_id=r.id,
                      org_id=r.org_id, after={"evidence_id": str(ev.id), "filename": ok.filename,
                                              "size": ok.size, "sha256": ok.sha256})
    return ev


def report_evidence_attach(session: Session, actor: Actor, report_id: uuid.UUID, filename: str, content: bytes
                           ) -> ReportEvidence:
    """Attach a file to a report of the actor's unit while it awaits review (others' reports: 404)."""
    r = _report(session, actor, report_id)
    policies.report_create(actor, r.org_id)
    return attach(session, actor, r, filename, content)


def report_evidence_list(session: Session, actor: Actor, report_ids: Iterable[uuid.UUID]
                         ) -> dict[uuid.UUID, list[ReportEvidence]]:
    """The files of reports the actor sees (reports they do not see are left out), oldest first."""
    policies.target_read(actor)
    ids = list(report_ids)
    if not ids:
        return {}
    visible = {r.id for r in session.scalars(select(ProgressReport).where(ProgressReport.id.in_(ids)))
               if policies.report_visible(actor, r.org_id, r.reporter_id)}
    out: dict[uuid.UUID, list[ReportEvidence]] = {i: [] for i in visible}
    rows = session.scalars(select(ReportEvidence).where(ReportEvidence.report_id.in_(visible))
                           .order_by(ReportEvidence.uploaded_at, ReportEvidence.filename))
    for ev in rows:
        out[ev.report_id].append(ev)
    return out


def report_evidence_open(session: Session, actor: Actor, evidence_id: uuid.UUID) -> tuple[ReportEvidence, Path]:
    """One file and where its bytes are, for whoever sees its report (else 404)."""
    policies.target_read(actor)
    ev = session.get(ReportEvidence, evidence_id)
    if ev is None:
        raise NotFound(_("Evidence not found"), details={"id": str(evidence_id)})
    _report(session, actor, ev.report_id)
    path = files.path(FOLDER, ev.id)
    if not path.exists():
        raise NotFound(_("Evidence not found"), details={"id": str(evidence_id)})
    return ev, path
