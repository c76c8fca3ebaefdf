"""Evidence for the annual evaluation: files a unit attaches to one indicator of its score in a run.

**Who**: the unit's staff (`apply.report` on the unit) and the bureau attach (`policies.evaluation_evidence_attach`);
whoever may read the unit's scorecard (the bureau, auditors, the unit's staff, its 云长) lists and downloads it;
anyone else gets 404, as for the scorecard. **When**: while the run is a draft; a frozen run is a 409.
**What**: PDF, PNG, JPEG, or an Office Open XML document (`.docx`, `.xlsx`), recognised by its bytes (a renamed
file of another kind is refused), at most `MAX_BYTES`, not empty; for an indicator of the run (422 naming
`indicator_key`). The name is reduced to safe characters; the bytes go under `var_dir/apply/evidence/<id>` and the
row keeps type, size and SHA-256. Each attachment writes an `evaluation_evidence_attach` audit row.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityhub.apply import files, policies
from cityhub.apply.evaluation.schemas import Evidence
from cityhub.apply.evaluation.service import run_get  # the run's own visibility rule (404)
from cityhub.apply.models import EvalEvidence, EvalScore, EvalStatus
from cityhub.core import service as core
from cityhub.core.actor import Actor
from cityhub.kit import clock
from cityhub.kit.db import get_or_404
from cityhub.kit.errors import Conflict, NotFound, ValidationFailed
from cityhub.kit.i18n import gettext as _

MAX_BYTES = files.MAX_BYTES
sniff = files.sniff  # type check and storage: `apply/files.py`, shared with the progress reports' evidence
FOLDER = "evidence"


def _score(session: Session, run_id: uuid.UUID, org_id: uuid.UUID) -> EvalScore:
    s = session.scalar(select(EvalScore).where(EvalScore.run_id == run_id, EvalScore.org_id == org_id))
    if s is None:
        raise NotFound(_("The unit is not in this evaluation"))
    return s


def _readable(session: Session, actor: Actor, org_id: uuid.UUID) -> bool:
    head = core.organization_head(session, org_id)
    is_head = head is not None and actor.user_id is not None and head.id == actor.user_id
    return policies.scorecard_read(actor, org_id, is_head)


def evaluation_evidence_attach(session: Session, actor: Actor, run_id: uuid.UUID, org_id: uuid.UUID,
                               indicator_key: str, filename: str, content: bytes) -> EvalEvidence:
    """Attach a file as evidence for one indicator of a unit's score in a draft run."""
    run = run_get(session, actor, run_id)
    if not _readable(session, actor, org_id):
        raise NotFound(_("The unit is not in this evaluation"))
    policies.evaluation_evidence_attach(actor, org_id)
    _score(session, run.id, org_id)
    if run.status == EvalStatus.FROZEN:
        raise Conflict(_("The evaluation is frozen"), details=[{"field": "run_id", "message": "frozen"}])
    if indicator_key not in {i["key"] for i in run.indicators}:
        raise ValidationFailed(_("Name an indicator of this evaluation"), field="indicator_key")
    ok = files.check(filename, content)
    ev = EvalEvidence(run_id=run.id, org_id=org_id, indicator_key=indicator_key, filename=ok.filename,
                      content_type=ok.content_type, size=ok.size, sha256=ok.sha256, uploaded_by=actor.user_id,
                      uploaded_at=clock.now())
    session.add(ev)
    session.flush()
    files.save(FOLDER, ev.id, content)
    safe = ok.filename
    core.audit_record(session, actor, "evaluation_evidence_attach", target_type="apply_eval_evidence",
                      target_id=ev.id, org_id=org_id, after={"run_id": str(run.id), "indicator": indicator_key,
                                                             "filename": safe, "size": len(content),
                                                             "sha256": ev.sha256})
    return ev


def evidence_list(session: Session, actor: Actor, run_id: uuid.UUID, org_id: uuid.UUID) -> list[Evidence]:
    """A unit's evidence in a run, for whoever may read its scorecard (anyone else: 404)."""
    run = run_get(session, actor, run_id)
    if not _readable(session, actor, org_id):
        raise NotFound(_("The unit is not in this evaluation"))
    rows = session.scalars(select(EvalEvidence).where(EvalEvidence.run_id == run.id, EvalEvidence.org_id == org_id)
                           .order_by(EvalEvidence.indicator_key, EvalEvidence.uploaded_at))
    return [Evidence.model_validate(e) for e in rows]


def evidence_open(session: Session, actor: Actor, evidence_id: uuid.UUID) -> tuple[EvalEvidence, Path]:
    """One evidence file and where its bytes are, for whoever may read the unit's scorecard (else 404)."""
    policies.target_read(actor)
    ev = get_or_404(session, EvalEvidence, evidence_id, "Evidence")
    path = files.path(FOLDER, ev.id)
    if not _readable(session, actor, ev.org_id) or not path.exists():
        raise NotFound(_("Evidence not found"), details={"id": str(evidence_id)})
    return ev, path


def run_evidence(session: Session, actor: Actor, run_id: uuid.UUID) -> list[Evidence]:
    """Every unit's evidence in a run, for its printed report (the bureau and auditors, as the report itself)."""
    run = run_get(session, actor, run_id)
    policies.evaluation_export(actor)
    rows = session.scalars(select(EvalEvidence).where(EvalEvidence.run_id == run.id)
                           .order_by(EvalEvidence.org_id, EvalEvidence.indicator_key, EvalEvidence.uploaded_at))
    return [Evidence.model_validate(e) for e in rows]
