"""三清单: the need list (demands), objections, the responsibility list (KPIs per department), list exports."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from cityhub.core import service as core
from cityhub.core.service import Actor
from cityhub.data import policies
from cityhub.data.catalog import service as catalog
from cityhub.data.datastore.export import to_csv, to_xlsx
from cityhub.data.models import (
    CatalogEntry,
    DataLoad,
    Demand,
    DemandStatus,
    Grant,
    Objection,
    ObjectionStatus,
    RequestEvent,
    Resource,
    ShareRequest,
)
from cityhub.data.quality.models import QualityCheck
from cityhub.data.quality.tasks import task_figures
from cityhub.data.schemas import DemandAnswer, DemandAssign, DemandCreate, ObjectionCreate
from cityhub.data.sharing.service import OPEN_REQUEST_STATES, PROVIDER_DAYS, S, request_visible
from cityhub.data.vocabulary import (
    BASE_DBS,
    CLASSIFICATIONS,
    CYCLE_DAYS,
    FORMATS,
    GRADES,
    OPEN_TYPES,
    SHARE_TYPES,
    UPDATE_CYCLES,
)
from cityhub.kit import clock, labels
from cityhub.kit.errors import NotFound, ValidationFailed, transition
from cityhub.kit.i18n import gettext as _

OBJECTION_DAYS = 5
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


OBJECTION_ALLOWED: dict[ObjectionStatus, set[ObjectionStatus]] = {
    ObjectionStatus.RAISED: {ObjectionStatus.HANDLING},
    ObjectionStatus.HANDLING: {ObjectionStatus.HANDLED},
    ObjectionStatus.HANDLED: {ObjectionStatus.EVALUATED},
}


DEMAND_ALLOWED: dict[DemandStatus, set[DemandStatus]] = {
    DemandStatus.FILED: {DemandStatus.ASSIGNED, DemandStatus.CLOSED},
    DemandStatus.ASSIGNED: {DemandStatus.ANSWERED, DemandStatus.ASSIGNED},
    DemandStatus.ANSWERED: {DemandStatus.CLOSED},
}


def objection_raise(session: Session, actor: Actor, data: ObjectionCreate) -> Objection:
    """Raise an objection; the provider of the entry handles it within OBJECTION_DAYS working days."""
    policies.objection_raise(actor)
    assert actor.org_id is not None
    req = None
    if data.request_id is not None:
        try:
            req = request_visible(session, actor, data.request_id)
        except NotFound as exc:
            raise ValidationFailed(_("Sharing request not found"), field="request_id") from exc
    entry_id = data.entry_id or (req.entry_id if req else None)
    try:
        entry = catalog.catalog_entry_get(session, actor, entry_id)  # type: ignore[arg-type]  # one of both is set
    except NotFound as exc:
        raise ValidationFailed(_("Catalog entry not found"), field="entry_id") from exc
    if data.kind in ("request_objection", "usage_objection") and req is None:
        raise ValidationFailed(_("This kind of objection names the sharing request"), field="request_id")
    now = clock.now()
    obj = Objection(kind=data.kind, entry_id=entry.id, request_id=req.id if req else None,
                    handler_org_id=entry.provider_org_id, raiser_org_id=actor.org_id, raiser_user_id=actor.user_id,
                    content=data.content, status=ObjectionStatus.RAISED,
                    deadline_at=core.working_days_add(session, now, OBJECTION_DAYS))
    session.add(obj)
    session.flush()
    core.audit_record(session, actor, "objection_raise", target_type="objection", target_id=obj.id,
                      org_id=obj.handler_org_id, after={"kind": obj.kind, "entry": entry.code})
    return obj


def _objection_visible(session: Session, actor: Actor, obj_id: uuid.UUID) -> Objection:
    obj = session.get(Objection, obj_id)
    if obj is None or not (policies.can_read_org(actor, obj.handler_org_id) or
                           policies.can_read_org(actor, obj.raiser_org_id) or
                           policies.is_bureau(actor)):
        raise NotFound(_("Objection not found"))
    return obj


def _objection_move(session: Session, actor: Actor, obj: Objection, target: ObjectionStatus,
                    extra: dict[str, Any] | None = None) -> None:
    current = transition(obj, target, OBJECTION_ALLOWED, "objection")
    session.flush()
    core.audit_record(session, actor, f"objection_{'handle' if target != 'evaluated' else 'evaluate'}",
                      target_type="objection", target_id=obj.id, org_id=obj.handler_org_id,
                      before={"status": current.value}, after={"status": target.value}, extra=extra)


def objection_accept(session: Session, actor: Actor, obj_id: uuid.UUID) -> Objection:
    """The handler starts handling."""
    obj = _objection_visible(session, actor, obj_id)
    policies.objection_handle(actor, obj.handler_org_id)
    _objection_move(session, actor, obj, ObjectionStatus.HANDLING)
    return obj


def objection_reply(session: Session, actor: Actor, obj_id: uuid.UUID, reply: str) -> Objection:
    """The handler answers (handled)."""
    obj = _objection_visible(session, actor, obj_id)
    policies.objection_handle(actor, obj.handler_org_id)
    if obj.status == ObjectionStatus.RAISED:
        _objection_move(session, actor, obj, ObjectionStatus.HANDLING)
    _objection_move(session, actor, obj, ObjectionStatus.HANDLED, {"reply": reply[:200]})
    obj.reply = reply
    obj.handled_at = clock.now()
    session.flush()
    return obj


def objection_evaluate(session: Session, actor: Actor, obj_id: uuid.UUID, rating: int,
                       evaluation: str = "") -> Objection:
    """The raiser rates the handling (1-5)."""
    obj = _objection_visible(session, actor, obj_id)
    policies.objection_evaluate(actor, obj.raiser_org_id)
    _objection_move(session, actor, obj, ObjectionStatus.EVALUATED, {"rating": rating})
    obj.rating, obj.evaluation = rating, evaluation
    session.flush()
    return obj


def objection_list(session: Session, actor: Actor, limit: int = 100, offset: int = 0) -> tuple[list[Objection], int]:
    """Objections raised by or addressed to the actor's units (everything for the bureau)."""
    stmt = select(Objection).order_by(Objection.created_at.desc())
    if not policies.is_bureau(actor):
        readers = policies.readable_orgs(actor)
        stmt = stmt.where(or_(Objection.handler_org_id.in_(readers), Objection.raiser_org_id.in_(readers)))
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    return list(session.scalars(stmt.limit(limit).offset(offset))), int(total)


def demand_create(session: Session, actor: Actor, data: DemandCreate) -> Demand:
    """File a data need for the actor's unit."""
    policies.demand_create(actor)
    assert actor.org_id is not None
    dem = Demand(requester_org_id=actor.org_id, status=DemandStatus.FILED, **data.model_dump())
    session.add(dem)
    session.flush()
    core.audit_record(session, actor, "demand_create", target_type="demand", target_id=dem.id,
                      org_id=dem.requester_org_id, after={"title": dem.title})
    return dem


def _demand_visible(session: Session, actor: Actor, dem_id: uuid.UUID) -> Demand:
    dem = session.get(Demand, dem_id)
    if dem is None:
        raise NotFound(_("Need not found"))
    policies.data_read(actor)
    return dem  # the 需求清单 is visible to every logged-in unit (it is the shared to-do list of the city)


def demand_get(session: Session, actor: Actor, dem_id: uuid.UUID) -> Demand:
    """One need."""
    return _demand_visible(session, actor, dem_id)


def demand_assign(session: Session, actor: Actor, dem_id: uuid.UUID, data: DemandAssign) -> Demand:
    """The bureau names the responsible department and the answer deadline (working days)."""
    dem = _demand_visible(session, actor, dem_id)
    policies.demand_assign(actor)
    try:
        core.organization_get(session, Actor.system(), data.org_id)
    except NotFound as exc:
        raise ValidationFailed(_("Organisation not found"), field="org_id") from exc
    before = {"status": dem.status, "assigned_org_id": dem.assigned_org_id}
    transition(dem, DemandStatus.ASSIGNED, DEMAND_ALLOWED, "demand")
    dem.assigned_org_id = data.org_id
    dem.deadline_at = core.working_days_add(session, clock.now(), data.working_days)
    session.flush()
    core.audit_record(session, actor, "demand_assign", target_type="demand", target_id=dem.id,
                      org_id=data.org_id, before=before, after={"status": dem.status, "assigned_org_id": data.org_id,
                                                                 "deadline": dem.deadline_at})
    return dem


def demand_answer(session: Session, actor: Actor, dem_id: uuid.UUID, data: DemandAnswer) -> Demand:
    """The responsible department answers by linking one of its entries (existing or newly created)."""
    dem = _demand_visible(session, actor, dem_id)
    policies.demand_answer(actor, dem.assigned_org_id)
    entry = session.get(CatalogEntry, data.entry_id)
    if entry is None or entry.provider_org_id != dem.assigned_org_id:
        raise ValidationFailed(_("Link an entry of the assigned unit"), field="entry_id")
    transition(dem, DemandStatus.ANSWERED, DEMAND_ALLOWED, "demand")
    dem.entry_id, dem.answer, dem.answered_at = entry.id, data.answer, clock.now()
    session.flush()
    core.audit_record(session, actor, "demand_answer", target_type="demand", target_id=dem.id,
                      org_id=dem.assigned_org_id, after={"entry": entry.code, "on_time": dem.deadline_at is None
                                                         or dem.answered_at <= dem.deadline_at})
    return dem


def demand_list(session: Session, actor: Actor, status: str | None = None, limit: int = 200,
                offset: int = 0) -> tuple[list[Demand], int]:
    """The 需求清单."""
    policies.data_read(actor)
    stmt = select(Demand).order_by(Demand.created_at.desc())
    if status:
        stmt = stmt.where(Demand.status == status)
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    return list(session.scalars(stmt.limit(limit).offset(offset))), int(total)


def _avg(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 2) if values else None


def kpis(session: Session, actor: Actor, org_id: uuid.UUID | None = None) -> list[dict[str, Any]]:
    """责任清单 KPIs per providing department, computed from recorded events (loads, requests, objections)."""
    policies.data_read(actor)
    now = clock.now()
    orgs = {o.id: o for o in core.organization_all(session)}
    entries = catalog.entries_in_catalog(session)
    responsible: dict[uuid.UUID, list[CatalogEntry]] = {}
    for e in entries:
        responsible.setdefault(e.provider_org_id, []).append(e)
    demands = list(session.scalars(select(Demand).where(Demand.assigned_org_id.is_not(None))))
    for d in demands:
        responsible.setdefault(d.assigned_org_id, [])  # type: ignore[arg-type]  # filtered not None
    loaded = {r.entry_id: r.loaded_at for r in session.scalars(select(Resource).where(Resource.loaded_at.is_not(None)))}
    loads = session.execute(select(DataLoad.provider_org_id, func.sum(DataLoad.rows_total), func.sum(DataLoad.rows_bad))
                            .group_by(DataLoad.provider_org_id)).all()
    pass_rate = {o: (1 - (bad or 0) / tot) if tot else None for o, tot, bad in loads}
    reply: dict[uuid.UUID, list[float]] = {}
    ev = session.execute(select(ShareRequest.provider_org_id, ShareRequest.id, RequestEvent.at, RequestEvent.to_status,
                                RequestEvent.from_status)
                         .join(RequestEvent, RequestEvent.request_id == ShareRequest.id)
                         .order_by(RequestEvent.id)).all()
    started: dict[uuid.UUID, datetime] = {}
    for prov, rid, at, to_s, from_s in ev:
        if to_s == S.PROVIDER_REVIEW:
            started[rid] = at
        elif from_s == S.PROVIDER_REVIEW and rid in started:
            reply.setdefault(prov, []).append(core.working_days_between(session, started.pop(rid), at))
    obj_reply: dict[uuid.UUID, list[float]] = {}
    for o in session.scalars(select(Objection).where(Objection.handled_at.is_not(None))):
        assert o.handled_at is not None
        obj_reply.setdefault(o.handler_org_id, []).append(core.working_days_between(session, o.created_at,
                                                                                    o.handled_at))
    quality = {o: float(q) for o, q in session.execute(  # issue 20: the unit's data quality counts in its KPI
        select(QualityCheck.org_id, func.avg(QualityCheck.last_score)).where(QualityCheck.last_score.is_not(None))
        .group_by(QualityCheck.org_id)).all()}
    tasks = task_figures(session)  # issue 20: quality tasks (整改任务) resolved in time, and open failures
    for t in tasks:
        responsible.setdefault(t, [])
    out: list[dict[str, Any]] = []
    for oid, ents in responsible.items():
        if org_id is not None and oid != org_id:
            continue
        published = [e for e in ents if catalog.is_published(e)]
        with_table = [e for e in ents if e.format_category in ("database", "sheet")]
        covered = [e for e in with_table if e.id in loaded]
        cyc = [e for e in covered if CYCLE_DAYS.get(e.update_cycle)]
        on_time = [e for e in cyc if loaded[e.id] is not None and
                   now - loaded[e.id] <= timedelta(days=CYCLE_DAYS[e.update_cycle] or 0)]  # type: ignore[operator]  # loaded[e.id] is checked for None just before; mypy does not narrow a dict item
        dem = [d for d in demands if d.assigned_org_id == oid]
        dem_on_time = [d for d in dem if d.answered_at is not None and d.deadline_at is not None
                       and d.answered_at <= d.deadline_at]
        coverage = len(covered) / len(with_table) if with_table else None
        otr = len(on_time) / len(cyc) if cyc else None
        rdays = _avg(reply.get(oid, []))
        odays = _avg(obj_reply.get(oid, []))
        tf = tasks.get(oid, {})
        parts = [v for v in (coverage, pass_rate.get(oid), otr,
                             None if rdays is None else max(0.0, 1 - rdays / PROVIDER_DAYS),
                             None if odays is None else max(0.0, 1 - odays / OBJECTION_DAYS),
                             len(dem_on_time) / len(dem) if dem else None, quality.get(oid),
                             tf.get("timeliness")) if v is not None]
        out.append({"org_id": oid, "org_name": orgs[oid].name if oid in orgs else str(oid), "entries": len(ents),
                    "published": len(published), "coverage": None if coverage is None else round(coverage, 4),
                    "field_pass_rate": None if pass_rate.get(oid) is None else round(pass_rate[oid] or 0, 4),
                    "on_time_update_rate": None if otr is None else round(otr, 4),
                    "request_reply_days": rdays, "objection_reply_days": odays,
                    "demands_assigned": len(dem), "demands_on_time": len(dem_on_time),
                    "data_quality": None if oid not in quality else round(quality[oid], 4),
                    "quality_tasks": tf.get("tasks", 0), "quality_tasks_open": tf.get("open", 0),
                    "quality_tasks_overdue": tf.get("overdue", 0),
                    "quality_task_timeliness": tf.get("timeliness"),
                    "score": round(100 * sum(parts) / len(parts), 1) if parts else 0.0})
    out.sort(key=lambda r: (-r["score"], r["org_name"]))
    return out


def catalog_list_entries(session: Session, actor: Actor) -> list[CatalogEntry]:
    """目录清单 as entries: every published entry the actor may see, by code."""
    policies.data_read(actor)
    return sorted(catalog.published_entries_visible(session, actor), key=lambda e: e.code)


def catalog_list_rows(session: Session, actor: Actor) -> tuple[list[str], list[list[Any]]]:
    """目录清单: every published entry the actor may see (metadata only, no row data), in Chinese as filed."""
    orgs = {o.id: o.name for o in core.organization_all(session)}
    header = ["资源代码", "资源名称", "提供单位", "分类", "基础库", "主题", "格式分类", "信息项", "共享类型",
              "共享条件", "开放类型", "更新周期", "安全级别", "版本", "发布时间"]
    rows = []
    for e in catalog_list_entries(session, actor):
        rows.append([e.code, e.title, orgs.get(e.provider_org_id, ""), CLASSIFICATIONS.get(e.classification, ""),
                     BASE_DBS.get(e.base_db, ""), e.theme, FORMATS.get(e.format_category, e.format_category),
                     "、".join(i["name_cn"] for i in e.items), SHARE_TYPES.get(e.share_type, ""), e.share_condition,
                     OPEN_TYPES.get(e.open_type, ""), UPDATE_CYCLES.get(e.update_cycle, ""),
                     GRADES.get(e.security_grade, ""), e.version,
                     e.published_at.isoformat() if e.published_at else ""])
    return header, rows


def demand_list_rows(session: Session, actor: Actor) -> tuple[list[str], list[list[Any]]]:
    """需求清单 export rows."""
    orgs = {o.id: o.name for o in core.organization_all(session)}
    items, _total = demand_list(session, actor, limit=100_000)
    header = ["需求", "需求单位", "用途", "依据", "状态", "责任单位", "答复期限", "答复时间", "关联资源"]
    codes = {e.id: e.code for e in catalog.catalog_entries_by_ids(session, [d.entry_id for d in items if d.entry_id])}
    rows = [[d.title, orgs.get(d.requester_org_id, ""), d.purpose, d.legal_basis,
             labels.label(d.status, DemandStatus, locale="zh_CN"),
             orgs.get(d.assigned_org_id, "") if d.assigned_org_id else "",
             d.deadline_at.isoformat() if d.deadline_at else "", d.answered_at.isoformat() if d.answered_at else "",
             codes.get(d.entry_id, "") if d.entry_id else ""] for d in items]
    return header, rows


def responsibility_list_rows(session: Session, actor: Actor) -> tuple[list[str], list[list[Any]]]:
    """责任清单 export rows (one per department, with its KPIs)."""
    header = ["单位", "资源数", "已发布", "归集率", "信息项合格率", "按时更新率", "申请答复(工作日)",
              "异议答复(工作日)", "承担需求", "按时答复需求", "整改任务", "未关闭整改", "逾期整改",
              "整改按时率", "得分"]
    rows = [[k["org_name"], k["entries"], k["published"], k["coverage"], k["field_pass_rate"],
             k["on_time_update_rate"], k["request_reply_days"], k["objection_reply_days"], k["demands_assigned"],
             k["demands_on_time"], k["quality_tasks"], k["quality_tasks_open"], k["quality_tasks_overdue"],
             k["quality_task_timeliness"], k["score"]] for k in kpis(session, actor)]
    return header, rows


LISTS = {"catalog": "目录清单", "demand": "需求清单", "responsibility": "责任清单"}


def list_export(session: Session, actor: Actor, which: str, fmt: str = "csv") -> tuple[bytes, str]:
    """One of the 三清单 as CSV or XLSX bytes, with its media type."""
    rows_of = {"catalog": catalog_list_rows, "demand": demand_list_rows, "responsibility": responsibility_list_rows}
    if which not in rows_of:
        raise ValidationFailed("Unknown list; one of catalog, demand, responsibility", field="which")
    header, rows = rows_of[which](session, actor)
    if fmt == "xlsx":
        return to_xlsx(LISTS[which], header, rows), XLSX_TYPE
    if fmt != "csv":
        raise ValidationFailed("Unknown format; csv or xlsx", field="format")
    return to_csv(header, rows), "text/csv; charset=utf-8"


def programme_counts(session: Session) -> dict[str, int]:
    """The programme's data figures (the 用 cockpit's progress sources).

    Published entries, those shared and opened (any condition), units providing published data (connected to the
    resource centre), and the base and thematic databases published entries belong to.
    """
    E = CatalogEntry  # the table's short name in one long select
    pub = catalog.published_clause()
    row = session.execute(select(
        func.count(), func.count().filter(E.share_type != "none"), func.count().filter(catalog.opened_clause(E)),
        func.count(func.distinct(E.provider_org_id)),
        func.count(func.distinct(E.base_db)).filter(E.base_db != ""),
        func.count(func.distinct(E.theme)).filter(E.theme != "")).where(pub)).one()
    keys = ("entries_published", "entries_shared", "entries_opened", "providers", "base_databases", "themes")
    return {k: int(v or 0) for k, v in zip(keys, row, strict=True)}


def data_counts(session: Session) -> dict[str, int]:
    """Headline counts for dashboards."""
    return {
        "entries_published": catalog.published_count(session),
        "requests_open": session.scalar(select(func.count()).select_from(ShareRequest)
                                        .where(ShareRequest.status.in_(OPEN_REQUEST_STATES))) or 0,
        "grants_active": session.scalar(select(func.count()).select_from(Grant)
                                        .where(Grant.status == "active")) or 0,
    }
