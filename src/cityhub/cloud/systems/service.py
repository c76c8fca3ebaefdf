"""Information systems: the inventory, migration to the cloud, 上云率/整合率 and their history, DR levels and drills.

上云率 = non-classified systems hosted on the cloud / non-classified systems; 整合率 = non-classified systems
integrated (flag, or merged into another system) / non-classified systems; targets come from `cloud.reference`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from cityhub.cloud import policies
from cityhub.cloud.models import DrDrill, InfoSystem, RatioSnapshot, SystemStatus
from cityhub.cloud.reference import DISTRICT_KINDS, dr_level, level_for, target_for
from cityhub.cloud.schemas import DrGap, DrillCreate, Ratios, SystemCreate, SystemUpdate
from cityhub.cloud.tenancies.service import tenancy_for_org
from cityhub.core import service as core
from cityhub.core.permissions import P, orgs_with
from cityhub.core.service import Actor
from cityhub.kit import clock
from cityhub.kit.errors import NotFound, ValidationFailed, transition
from cityhub.kit.i18n import gettext as _
from cityhub.kit.pagination import PageParams, paginate

SYSTEM_FLOW: dict[SystemStatus, set[SystemStatus]] = {
    SystemStatus.ASSESSING: {SystemStatus.PLANNED},
    SystemStatus.PLANNED: {SystemStatus.MIGRATING, SystemStatus.ASSESSING},
    SystemStatus.MIGRATING: {SystemStatus.VERIFYING, SystemStatus.PLANNED},
    SystemStatus.VERIFYING: {SystemStatus.DONE, SystemStatus.MIGRATING},
    SystemStatus.DONE: set(),
}
SYSTEM_STATUSES = [s.value for s in SystemStatus]
_SYS_FIELDS = ("name", "classified", "security_level", "hosting", "strategy", "readiness", "wave", "status",
               "integrated", "merged_into_id", "dr_required", "dr_actual", "dr_roles", "tenancy_id")


# ---------------------------------------------------------------- inventory and migration


def system_get(session: Session, actor: Actor, system_id: uuid.UUID) -> InfoSystem:
    """One system the actor may see."""
    s = session.get(InfoSystem, system_id)
    if s is None or not policies.org_visible(actor, s.org_id):
        raise NotFound(_("System not found"), details={"id": str(system_id)})
    return s


def _system_query(actor: Actor, org_id: uuid.UUID | None, status: str | None, q: str | None) -> Select[Any]:
    stmt = (select(InfoSystem).where(policies.org_visible_filter(actor, InfoSystem.org_id))
            .order_by(InfoSystem.wave, InfoSystem.name))
    if org_id:
        stmt = stmt.where(InfoSystem.org_id == org_id)
    if status:
        stmt = stmt.where(InfoSystem.status == status)
    if q:
        stmt = stmt.where(InfoSystem.name.like(f"%{q}%"))
    return stmt


def system_list(session: Session, actor: Actor, page: PageParams, *, org_id: uuid.UUID | None = None,
                status: str | None = None, q: str | None = None) -> tuple[list[InfoSystem], int]:
    """Systems the actor may see."""
    return paginate(session, _system_query(actor, org_id, status, q), page)


def _check_merge(session: Session, s_org: uuid.UUID, merged_into: uuid.UUID | None, self_id: uuid.UUID | None
                 ) -> None:
    if merged_into is None:
        return
    target = session.get(InfoSystem, merged_into)
    if target is None or target.org_id != s_org or merged_into == self_id:
        raise ValidationFailed(_("merged_into_id must be another system of the same department"),
                               field="merged_into_id")


def system_create(session: Session, actor: Actor, data: SystemCreate) -> InfoSystem:
    """Add a system to a department's inventory."""
    policies.system_create(actor, data.org_id)
    if not any(o.id == data.org_id for o in core.organization_all(session)):
        raise ValidationFailed(_("Organisation not found"), field="org_id")
    if session.get(InfoSystem, data.merged_into_id or uuid.uuid4()) is None and data.merged_into_id:
        raise ValidationFailed(_("merged_into_id not found"), field="merged_into_id")
    _check_merge(session, data.org_id, data.merged_into_id, None)
    values = data.model_dump()
    values["dr_roles"] = [r.value for r in data.dr_roles]
    values["hosting"] = data.hosting.value
    values["strategy"] = data.strategy.value
    s = InfoSystem(**values)
    t = tenancy_for_org(session, data.org_id)
    if s.hosting == "cloud" and t is not None:
        s.tenancy_id = t.id
    session.add(s)
    session.flush()
    core.audit_record(session, actor, "system_create", target_type="cloud_system", target_id=s.id, org_id=s.org_id,
                      after=core.snapshot(s, _SYS_FIELDS))
    return s


def system_update(session: Session, actor: Actor, system_id: uuid.UUID, data: SystemUpdate) -> InfoSystem:
    """Change a system's inventory, strategy or DR record."""
    s = system_get(session, actor, system_id)
    policies.system_update(actor, s.org_id)
    changes = data.model_dump(exclude_unset=True)
    if "merged_into_id" in changes:
        _check_merge(session, s.org_id, changes["merged_into_id"], s.id)
    for key in ("classified", "security_level", "hosting", "strategy", "readiness", "wave", "integrated",
                "dr_required", "dr_actual", "dr_roles", "name"):
        if key in changes and changes[key] is None:
            raise ValidationFailed(_("This field cannot be null"), field=key)
    with core.audited(session, actor, "system_update", s, _SYS_FIELDS, target_type="cloud_system", org_id=s.org_id):
        for k, v in changes.items():
            if k == "dr_roles":
                v = [str(r) for r in v]
            elif k in ("hosting", "strategy"):
                v = str(v)
            setattr(s, k, v)
        if s.hosting == "cloud" and s.tenancy_id is None:
            t = tenancy_for_org(session, s.org_id)
            s.tenancy_id = t.id if t else None
    return s


def system_transition(session: Session, actor: Actor, system_id: uuid.UUID, status: str) -> InfoSystem:
    """Move a system along assessing → planned → migrating → verifying → done (done on cloud sets hosting)."""
    s = system_get(session, actor, system_id)
    policies.system_transition(actor, s.org_id)
    with core.audited(session, actor, "system_transition", s, _SYS_FIELDS, target_type="cloud_system",
                      org_id=s.org_id):
        transition(s, SystemStatus(status), SYSTEM_FLOW, "system")
        if s.status == SystemStatus.DONE and s.strategy not in ("retain", "retire"):
            s.hosting = "cloud"
            t = tenancy_for_org(session, s.org_id)
            s.tenancy_id = t.id if t else s.tenancy_id
    return s


# ---------------------------------------------------------------- 上云率 / 整合率


def ratio_rows(session: Session, org_ids: Iterable[uuid.UUID] | None) -> dict[uuid.UUID, tuple[int, int, int]]:
    """Per unit: non-classified systems, those on the cloud, those integrated (all units when `org_ids` is None)."""
    stmt = (select(InfoSystem.org_id, func.count(),
                   func.count().filter(InfoSystem.hosting == "cloud"),
                   func.count().filter(or_(InfoSystem.integrated, InfoSystem.merged_into_id.is_not(None))))
            .where(InfoSystem.classified.is_(False)).group_by(InfoSystem.org_id))
    if org_ids is not None:
        stmt = stmt.where(InfoSystem.org_id.in_(list(org_ids)))
    return {oid: (int(n), int(c), int(i)) for oid, n, c, i in session.execute(stmt).all()}


def ratios_of(org_id: uuid.UUID | None, name: str, n: int, c: int, i: int, year: int, level: str = "city"
              ) -> Ratios:
    """The ratios of `n` systems (`c` on the cloud, `i` integrated) against `year`'s targets of the unit's level."""
    return Ratios(org_id=org_id, org_name=name, systems=n, on_cloud=c, integrated=i,
                  on_cloud_ratio=round(c / n, 4) if n else 0.0, integration_ratio=round(i / n, 4) if n else 0.0,
                  on_cloud_target=target_for("on_cloud", year, level),
                  integration_target=target_for("integration", year, level), level=level)


def unit_levels(session: Session) -> dict[uuid.UUID, str]:
    """Every organisation's target level: `district` when it or an ancestor is a district, county or new area."""
    kinds = {o.id: o.kind for o in core.organization_all(session)}
    parents = core.org_parents(session)
    out: dict[uuid.UUID, str] = {}
    for oid in kinds:
        cur: uuid.UUID | None = oid
        seen: set[uuid.UUID] = set()
        level = "city"
        while cur is not None and cur not in seen:
            seen.add(cur)
            if kinds.get(cur) in DISTRICT_KINDS:
                level = "district"
                break
            cur = parents.get(cur)
        out[oid] = level
    return out


def ratios(session: Session, actor: Actor, year: int | None = None) -> tuple[Ratios | None, list[Ratios]]:
    """上云率/整合率 per visible department (classified systems excluded) and, for the bureau, the whole city."""
    year = year or clock.now().year
    everything = policies.sees_every_unit(actor)
    rows = ratio_rows(session, None if everything else orgs_with(actor, P.CLOUD_READ))
    names = core.organization_names(session)  # in the reader's language
    levels = unit_levels(session)
    units = sorted((ratios_of(oid, names.get(oid, ""), *v, year, levels.get(oid, "city")) for oid, v in rows.items()),
                   key=lambda r: (-r.on_cloud_ratio, r.org_name))
    city = None
    if everything:
        tot = [sum(v[k] for v in rows.values()) for k in range(3)]
        city = ratios_of(None, _("City"), tot[0], tot[1], tot[2], year)
    return city, units


def ratio_snapshot_take(session: Session, actor: Actor, day: date | None = None) -> int:
    """Store today's ratios per department and for the city (idempotent: a day is replaced)."""
    policies.ratio_snapshot_take(actor)
    day = day or clock.now().date()
    city, units = ratios(session, actor, day.year)
    for r in [*units, *([city] if city else [])]:
        snap = session.scalar(select(RatioSnapshot).where(
            RatioSnapshot.day == day,
            RatioSnapshot.org_id.is_(None) if r.org_id is None else RatioSnapshot.org_id == r.org_id))
        if snap is None:
            snap = RatioSnapshot(org_id=r.org_id, day=day)
            session.add(snap)
        snap.systems, snap.on_cloud, snap.integrated = r.systems, r.on_cloud, r.integrated
        snap.on_cloud_ratio, snap.integration_ratio = r.on_cloud_ratio, r.integration_ratio
    session.flush()
    core.audit_record(session, actor, "ratio_snapshot_take", target_type="cloud_ratio_snapshot",
                      target_id=day.isoformat(), extra={"units": len(units)})
    return len(units) + (1 if city else 0)


def ratio_history(session: Session, actor: Actor, org_id: uuid.UUID | None) -> list[RatioSnapshot]:
    """History of one unit's ratios (org_id None: the city, for those who see it)."""
    cond: Any
    if org_id is None:
        policies.ranking_read(actor)
        cond = RatioSnapshot.org_id.is_(None)
    else:
        if not policies.org_visible(actor, org_id):
            raise NotFound(_("Organisation not found"))
        cond = RatioSnapshot.org_id == org_id
    return list(session.scalars(select(RatioSnapshot).where(cond).order_by(RatioSnapshot.day).limit(3660)))


# ---------------------------------------------------------------- disaster recovery


def drill_record(session: Session, actor: Actor, system_id: uuid.UUID, data: DrillCreate) -> DrDrill:
    """Record a DR drill; a successful drill sets the system's actual level to what it demonstrated."""
    s = system_get(session, actor, system_id)
    policies.drill_record(actor, s.org_id)
    achieved = level_for(data.rpo_minutes, data.rto_minutes) if data.success else 1
    drill = DrDrill(system_id=s.id, org_id=s.org_id, at=data.at or clock.now(), scenario=data.scenario,
                    success=data.success, rpo_minutes=data.rpo_minutes, rto_minutes=data.rto_minutes,
                    level_achieved=achieved)
    session.add(drill)
    with core.audited(session, actor, "drill_record", s, ("dr_actual",), target_type="cloud_system",
                      org_id=s.org_id, extra={"rpo": data.rpo_minutes, "rto": data.rto_minutes,
                                              "success": data.success}):
        if data.success:
            s.dr_actual = achieved
    return drill


def drill_list(session: Session, actor: Actor, system_id: uuid.UUID) -> list[DrDrill]:
    """Drills of a system."""
    s = system_get(session, actor, system_id)
    return list(session.scalars(select(DrDrill).where(DrDrill.system_id == s.id).order_by(DrDrill.at.desc())))


def dr_gaps(session: Session, actor: Actor, org_id: uuid.UUID | None = None) -> list[DrGap]:
    """Systems below their required GB/T 20988 level."""
    stmt = (select(InfoSystem).where(policies.org_visible_filter(actor, InfoSystem.org_id),
                                     InfoSystem.dr_actual < InfoSystem.dr_required)
            .order_by((InfoSystem.dr_required - InfoSystem.dr_actual).desc(), InfoSystem.name).limit(2000))
    if org_id:
        stmt = stmt.where(InfoSystem.org_id == org_id)
    return [DrGap(system_id=s.id, org_id=s.org_id, name=s.name, required=s.dr_required, actual=s.dr_actual,
                  roles=list(s.dr_roles or [])) for s in session.scalars(stmt)]


def dr_matrix(session: Session, actor: Actor) -> list[list[int]]:
    """Counts of visible systems by [required-1][actual-1] level."""
    m = [[0] * 6 for _ in range(6)]
    stmt = (select(InfoSystem.dr_required, InfoSystem.dr_actual, func.count())
            .where(policies.org_visible_filter(actor, InfoSystem.org_id))
            .group_by(InfoSystem.dr_required, InfoSystem.dr_actual))
    for req, act, n in session.execute(stmt).all():
        m[dr_level(req).level - 1][dr_level(act).level - 1] = int(n)
    return m
