"""The digital-economy registers (数字经济): parks, and the big-data / intelligence enterprises the plan counts.

The bureau keeps both (`apply.manage`); every member of staff reads them. An enterprise is identified by its
统一社会信用代码, checked against GB 32100-2015 (alphabet and check character, `kit.idcodes`) before anything is
written; a code already registered is a 409. Its sector and size are `reference.SECTORS` / `reference.SIZES`, its
park one of the register's. Every registered enterprise counts towards the plan's 1,000 (`apply.enterprises`).
"""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityhub.apply import policies, reference
from cityhub.apply.models import DigitalPark, Enterprise
from cityhub.apply.panorama import snapshot
from cityhub.apply.schemas import EnterpriseCreate, ImportResult, Park, ParkCreate
from cityhub.core import service as core
from cityhub.core.actor import Actor
from cityhub.kit.db import get_or_404
from cityhub.kit.errors import Conflict, ValidationFailed
from cityhub.kit.i18n import gettext as _
from cityhub.kit.pagination import PageParams, paginate

DISTRICT_KINDS = ("district", "county", "new_area")
PARKS = reference.PARKS  # the plan's parks (code, name, district code), loaded by the demo
SECTORS = reference.SECTORS
SIZES = reference.SIZES


def park_list(session: Session, actor: Actor) -> list[Park]:
    """Every park with its count of registered enterprises."""
    policies.target_read(actor)
    counts: dict[uuid.UUID | None, int] = {
        pid: n for pid, n in session.execute(select(Enterprise.park_id, func.count()).group_by(Enterprise.park_id))}
    return [Park.model_validate({**{k: getattr(p, k) for k in ("id", "created_at", "updated_at", "code", "name",
                                                               "district_org_id")},
                                 "enterprises": counts.get(p.id, 0)})
            for p in session.scalars(select(DigitalPark).order_by(DigitalPark.code))]


def digital_park_create(session: Session, actor: Actor, body: ParkCreate) -> DigitalPark:
    """The bureau registers a park."""
    policies.digital_park_create(actor)
    if body.district_org_id is not None and body.district_org_id not in {
            o.id for o in core.organization_all(session) if o.kind in DISTRICT_KINDS}:
        raise ValidationFailed(_("Name a district or county"), field="district_org_id")
    if session.scalar(select(DigitalPark.id).where((DigitalPark.code == body.code) | (DigitalPark.name == body.name))):
        raise Conflict(_("A park with this code or name exists"), details=[{"field": "code", "message": "taken"}])
    park = DigitalPark(**body.model_dump())
    session.add(park)
    session.flush()
    core.audit_record(session, actor, "digital_park_create", target_type="apply_digital_park", target_id=park.id,
                      after={"code": park.code, "name": park.name})
    return park


def enterprise_list(session: Session, actor: Actor, page: PageParams, *, park_id: uuid.UUID | None = None,
                    sector: str | None = None) -> tuple[list[Enterprise], int]:
    """The register, filtered by park or sector."""
    policies.target_read(actor)
    stmt = select(Enterprise)
    if park_id:
        stmt = stmt.where(Enterprise.park_id == park_id)
    if sector:
        stmt = stmt.where(Enterprise.sector == sector)
    return paginate(session, stmt.order_by(Enterprise.name), page)


def enterprise_create(session: Session, actor: Actor, body: EnterpriseCreate) -> Enterprise:
    """The bureau registers an enterprise (its code already checked by the schema)."""
    policies.enterprise_create(actor)
    problems = []
    if body.sector not in reference.SECTORS:
        problems.append(("sector", _("Name one of the sectors: %s") % ", ".join(reference.SECTORS)))
    if body.size not in reference.SIZES:
        problems.append(("size", _("Name one of the sizes: %s") % ", ".join(reference.SIZES)))
    if body.park_id is not None and session.get(DigitalPark, body.park_id) is None:
        problems.append(("park_id", _("Name a registered park")))
    if problems:
        raise ValidationFailed(problems[0][1], details=[{"field": f, "message": m} for f, m in problems])
    if session.scalar(select(Enterprise.id).where(Enterprise.credit_code == body.credit_code)):
        raise Conflict(_("An enterprise with this credit code is registered"),
                       details=[{"field": "credit_code", "message": "taken"}])
    e = Enterprise(**body.model_dump())
    session.add(e)
    session.flush()
    snapshot.mark_stale(session)  # the 全景 screen shows it
    core.audit_record(session, actor, "enterprise_create", target_type="apply_enterprise", target_id=e.id,
                      after={"credit_code": e.credit_code, "name": e.name, "sector": e.sector})
    return e


def enterprise_count(session: Session) -> int:
    """Registered enterprises (the 1,000-enterprise target's computed progress)."""
    return int(session.scalar(select(func.count()).select_from(Enterprise)) or 0)


def _breakdown(session: Session, column: Any, park_id: uuid.UUID | None) -> dict[str, int]:
    stmt = select(column, func.count()).group_by(column)
    if park_id is not None:
        stmt = stmt.where(Enterprise.park_id == park_id)
    return {str(k): int(n) for k, n in session.execute(stmt).tuples()}


def economy_summary(session: Session, actor: Actor) -> dict[str, Any]:
    """The register in figures: enterprises in total, per sector, per size, per park (and outside any park)."""
    policies.target_read(actor)
    parks = park_list(session, actor)
    total = enterprise_count(session)
    return {"total": total, "target": 1000, "by_sector": _breakdown(session, Enterprise.sector, None),
            "by_size": _breakdown(session, Enterprise.size, None), "parks": parks,
            "outside_parks": total - sum(p.enterprises for p in parks)}


def park_get(session: Session, actor: Actor, park_id: uuid.UUID) -> dict[str, Any]:
    """One park with its enterprises per sector and size (404 for an unknown park)."""
    policies.target_read(actor)
    park = get_or_404(session, DigitalPark, park_id, "Park")
    return {"park": next(p for p in park_list(session, actor) if p.id == park.id),
            "by_sector": _breakdown(session, Enterprise.sector, park.id),
            "by_size": _breakdown(session, Enterprise.size, park.id)}


# ---------------------------------------------------------------- import (CSV or XLSX): all rows or none

COLUMNS = ("credit_code", "name", "sector", "size", "park")
MAX_ROWS = 20_000


def read_table(filename: str, content: bytes, required: tuple[str, ...]) -> list[dict[str, str]]:
    """The file's rows as column → text (CSV in UTF-8, or the first sheet of an XLSX workbook).

    A column of `required` missing from the header, more than `MAX_ROWS` rows, or a file neither UTF-8 text nor a
    readable workbook is a 422 naming `file`; blank rows are skipped. The key-project import reads files through it.
    """
    if filename.lower().endswith(".xlsx") or content[:4] == b"PK\x03\x04":
        from openpyxl import load_workbook  # imported on use: only the import of a workbook needs it

        try:
            ws = load_workbook(io.BytesIO(content), read_only=True, data_only=True).worksheets[0]
        except Exception:  # a damaged or foreign zip: openpyxl raises several kinds
            raise ValidationFailed(_("The file is not a readable XLSX workbook"), field="file") from None
        cells = [["" if v is None else str(v).strip() for v in row] for row in ws.iter_rows(values_only=True)]
        header, body = (cells[0], cells[1:]) if cells else ([], [])
    else:
        try:
            text = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ValidationFailed(_("The file is not UTF-8 text"), field="file") from None
        reader = list(csv.reader(io.StringIO(text)))
        header, body = (reader[0], reader[1:]) if reader else ([], [])
    header = [h.strip() for h in header]
    missing = [c for c in required if c not in header]
    if missing:
        raise ValidationFailed(_("Columns missing: %s") % ", ".join(missing), field="file")
    if len(body) > MAX_ROWS:
        raise ValidationFailed(_("At most %d rows per file") % MAX_ROWS, field="file")
    return [{h: (r[i].strip() if i < len(r) else "") for i, h in enumerate(header)} for r in body if any(r)]


def enterprise_import(session: Session, actor: Actor, filename: str, content: bytes) -> ImportResult:
    """Import the register (CSV or XLSX, columns credit_code,name,sector,size[,park]): all rows or none.

    Any problem → 422 listing each as {row, field, message} (row 2 = the first data row), nothing written. A
    registered credit code updates that enterprise; the park is named by its code or name.
    """
    policies.enterprise_import(actor)
    rows = read_table(filename, content, tuple(c for c in COLUMNS if c != "park"))
    if not rows:
        raise ValidationFailed(_("The file has no rows"), field="file")
    parks: dict[str, uuid.UUID] = {}
    for p in session.scalars(select(DigitalPark)):
        parks[p.code] = parks[p.name] = p.id
    errors: list[dict[str, Any]] = []
    good: list[EnterpriseCreate] = []
    seen: dict[str, int] = {}
    for n, raw in enumerate(rows, start=2):
        park = raw.get("park", "")
        problems: list[tuple[str, str]] = []
        if park and park not in parks:
            problems.append(("park", _("Name a registered park")))
        if raw.get("sector", "") not in reference.SECTORS:
            problems.append(("sector", _("Name one of the sectors: %s") % ", ".join(reference.SECTORS)))
        if raw.get("size", "") not in reference.SIZES:
            problems.append(("size", _("Name one of the sizes: %s") % ", ".join(reference.SIZES)))
        try:
            body = EnterpriseCreate(credit_code=raw.get("credit_code", ""), name=raw.get("name", ""),
                                    sector=raw.get("sector", "") or "-", size=raw.get("size", "") or "-",
                                    park_id=parks.get(park))
        except ValidationError as exc:
            problems += [(str(err["loc"][0]) if err["loc"] else "", str(err["msg"])) for err in exc.errors()]
            body = None
        if body is not None:
            if body.credit_code in seen:
                problems.append(("credit_code", _("Repeats row %d") % seen[body.credit_code]))
            seen.setdefault(body.credit_code, n)
        errors += [{"row": n, "field": f, "message": m} for f, m in problems]
        if body is not None and not problems:
            good.append(body)
    if errors:
        raise ValidationFailed(_("%d problems in the file: nothing was imported") % len(errors), details=errors[:500])
    have = {row.credit_code: row for row in session.scalars(select(Enterprise).where(
        Enterprise.credit_code.in_([b.credit_code for b in good])))}
    out = ImportResult()
    for b in good:
        known = have.get(b.credit_code)
        if known is None:
            session.add(Enterprise(**b.model_dump()))
            out.created += 1
        else:
            for k, v in b.model_dump().items():
                setattr(known, k, v)
            out.updated += 1
    session.flush()
    snapshot.mark_stale(session)  # the 全景 screen shows it
    core.audit_record(session, actor, "enterprise_import", target_type="apply_enterprise", target_id="import",
                      extra={"created": out.created, "updated": out.updated})
    return out
