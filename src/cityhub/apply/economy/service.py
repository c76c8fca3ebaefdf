"""The digital-economy registers (数字经济): parks, and the big-data / intelligence enterprises the plan counts.

The bureau keeps both (`apply.manage`); every member of staff reads them. An enterprise is identified by its
统一社会信用代码, checked against GB 32100-2015 (alphabet and check character, `kit.idcodes`) before anything is
written; a code already registered is a 409. Its sector and size are `reference.SECTORS` / `reference.SIZES`, its
park one of the register's. Every registered enterprise counts towards the plan's 1,000 (`apply.enterprises`).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityhub.apply import policies, reference
from cityhub.apply.models import DigitalPark, Enterprise
from cityhub.apply.schemas import EnterpriseCreate, Park, ParkCreate
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
