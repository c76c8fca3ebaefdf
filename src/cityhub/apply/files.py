"""Evidence files of the cockpit (佐证材料): what is accepted, and where the bytes are kept.

The project's way with uploaded files (incident attachments, evaluation evidence): the bytes under
`var_dir/<domain>/<folder>/<row id>` (so `cityhub backup` carries them), the row keeping name, type, size and
SHA-256. Accepted: PDF, PNG, JPEG, or an Office Open XML document (`.docx`, `.xlsx`), **recognised by the bytes** (a
renamed file of another kind is refused; an OOXML file must hold `[Content_Types].xml` and its `word/` or `xl/`
part), not empty (422 naming `file`), at most `MAX_BYTES` (413). The name is reduced to safe characters.
Used by the evaluation's evidence (`evaluation/evidence.py`) and the progress reports' (`progress/evidence.py`).
"""

from __future__ import annotations

import hashlib
import io
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path

from cityhub.kit.errors import PayloadTooLarge, ValidationFailed
from cityhub.kit.i18n import gettext as _
from cityhub.kit.settings import get_settings

MAX_BYTES = 20 * 1024 * 1024
OOXML = {".docx": ("word/", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
         ".xlsx": ("xl/", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")}


@dataclass(frozen=True)
class Checked:
    """An accepted file: its safe name, content type, size and digest."""

    filename: str
    content_type: str
    size: int
    sha256: str


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


def check(filename: str, content: bytes) -> Checked:
    """Accept a file or refuse it: empty or of another kind 422 (`file`), over `MAX_BYTES` 413."""
    if not content:
        raise ValidationFailed(_("The file is empty"), field="file")
    if len(content) > MAX_BYTES:
        raise PayloadTooLarge(_("The file is over the size limit"), details={"limit": MAX_BYTES})
    kind = sniff(filename, content)
    if kind is None:
        raise ValidationFailed(_("Attach a PDF, PNG, JPEG, DOCX or XLSX file"), field="file")
    safe = "".join(ch for ch in Path(filename).name if ch.isalnum() or ch in "._-")[:150] or "evidence"
    return Checked(safe, kind, len(content), hashlib.sha256(content).hexdigest())


def path(folder: str, file_id: uuid.UUID) -> Path:
    """Where a file's bytes are: `var_dir/apply/<folder>/<id>`."""
    return get_settings().var_dir / "apply" / folder / str(file_id)


def save(folder: str, file_id: uuid.UUID, content: bytes) -> None:
    """Keep a file's bytes (after its row is flushed: the id names the file)."""
    target = path(folder, file_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content)
