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

import hashlib
import io
import uuid
import zipfile
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityhub.apply import policies
from cityhub.apply.evaluation.service import run_get  # the run's own visibility rule (404)
from cityhub.apply.models import EvalEvidence, EvalScore, EvalStatus
from cityhub.apply.schemas import Evidence
from cityhub.core import service as core
from cityhub.core.actor import Actor
from cityhub.kit import clock
from cityhub.kit.db import get_or_404
from cityhub.kit.errors import Conflict, NotFound, PayloadTooLarge, ValidationFailed
from cityhub.kit.i18n import gettext as _
from cityhub.kit.settings import get_settings

MAX_BYTES = 20 * 1024 * 1024
OOXML = {".docx": ("word/", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
         ".xlsx": ("xl/", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")}


def _dir() -> Path:
    return get_settings().var_dir / "apply" / "evidence"


def sniff(filename: str, content: bytes) -> str | None:
    """The content type the bytes are (PDF, PNG, JPEG, DOCX, XLSX), or None for anything else."""
    if content[:5] == b"%PDF-":
        return "application/pdf"
    if content[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if content[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    ext = Path(filename).suffix.lower()
    if content[:4] == b"PK\x03\x04" and ext in OOXML:
        try:
            with zipfile.ZipFile(io.BytesIO(content)) as z:
                names = z.namelist()
        except zipfile.BadZipFile:
            return None
        prefix, kind = OOXML[ext]
        if "[Content_Types].xml" in names and any(n.startswith(prefix) for n in names):
            return kind
    return None


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
    if not content:
        raise ValidationFailed(_("The file is empty"), field="file")
    if len(content) > MAX_BYTES:
        raise PayloadTooLarge(_("The file is over the size limit"), details={"limit": MAX_BYTES})
    kind = sniff(filename, content)
    if kind is None:
        raise ValidationFailed(_("Attach a PDF, PNG, JPEG, DOCX or XLSX file"), field="file")
    safe = "".join(ch for ch in Path(filename).name if ch.isalnum() or ch in "._-")[:150] or "evidence"
    ev = EvalEvidence(run_id=run.id, org_id=org_id, indicator_key=indicator_key, filename=safe, content_type=kind,
                      size=len(content), sha256=hashlib.sha256(content).hexdigest(), uploaded_by=actor.user_id,
                      uploaded_at=clock.now())
    session.add(ev)
    session.flush()
    path = _dir() / str(ev.id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
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
    path = _dir() / str(ev.id)
    if not _readable(session, actor, ev.org_id) or not path.exists():
        raise NotFound(_("Evidence not found"), details={"id": str(evidence_id)})
    return ev, path
