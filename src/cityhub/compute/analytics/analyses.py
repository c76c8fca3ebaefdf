"""Saved analyses: an analyst's read-only SQL, checked before it is saved and again before it runs, run as a job.

The SQL guard is the open portal's (`data.service.sql_read_only_tree`, sqlglot): exactly one SELECT, whitelisted
functions, plain table names. Here a name is readable when it is
- the id of a datastore table resource the **runner** may read through the data domain's own read
  (`data.service.datastore_query`: the provider clear, the bureau masked, a granted unit only its granted items,
  masked, counted against the grant's quota and written to its access log) — its rows are read that way, at most
  `MAX_TABLE_ROWS`, into an Arrow table the engine sees under that name; so masking is enforced, not advisory: the
  engine never sees a clear value the runner could not read;
- one of the lake's views (`lake.TABLES`), for callers holding `analytics.lake_read`.

A run is a job on a small thread pool of this process (`jobs.py`): its row and time limits are the engine's, its
progress and cancel the engine's `QueryControl`; its answer is a Parquet file and its end state a JSON file beside it,
under `<var_dir>/analytics/runs/`, so any process sharing the folder reads a finished run.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pyarrow as pa
from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from sqlglot import exp

from cityhub.compute import policies
from cityhub.compute.analytics import jobs, lake, schedules
from cityhub.compute.models import Analysis, AnalysisRun
from cityhub.compute.schemas import AnalysisCreate, AnalysisPublish, AnalysisRunStart, AnalysisUpdate
from cityhub.core import service as core
from cityhub.core.actor import Actor
from cityhub.data import service as data
from cityhub.kit.errors import CityhubError, Conflict, NotFound, ValidationFailed
from cityhub.kit.i18n import gettext as _
from cityhub.kit.pagination import PageParams, paginate
from cityhub.kit.refs import reference
from cityhub.kit.settings import get_settings

MAX_TABLE_ROWS = 200_000
_PAGE = 1000
LAKE_NAMES = {t.name for t in lake.TABLES}


def _check_sql(session: Session, actor: Actor, sql: str) -> tuple[str, list[uuid.UUID], list[str]]:
    """The statement in DuckDB's dialect, the datastore resources and the lake views it reads (422 naming `sql`)."""
    tree, names = data.sql_read_only_tree(sql)
    if not names:
        raise ValidationFailed(_("Read at least one table"), field="sql")
    resources: list[uuid.UUID] = []
    views: list[str] = []
    for name in sorted(names):
        if name.lower() in LAKE_NAMES:
            if not policies.sees_lake(actor):
                raise ValidationFailed(_("Table not found or not readable: {name}").format(name=name[:80]),
                                       field="sql")
            views.append(name.lower())
            continue
        try:
            resources.append(uuid.UUID(name))
        except ValueError:
            raise ValidationFailed(_("Table not found or not readable: {name}").format(name=name[:80]),
                                   field="sql") from None
    for rid in resources:  # visible and readable by this caller (the read itself is the check: no rows are kept)
        _read(session, actor, rid, limit=1)
    return render(tree), resources, views


def render(tree: exp.Expression) -> str:
    """The checked statement as it runs (DuckDB's dialect): lake views by their names, resources by their ids.

    The engine gets each resource's rows as a table of that name (`Engine.query(tables=…)`); the same text runs on
    either backend (`tests/compute/analytics/test_conformance.py`).
    """
    for node in tree.find_all(exp.Table):
        if node.name.lower() in LAKE_NAMES:
            node.set("this", exp.to_identifier(node.name.lower(), quoted=True))
        else:
            node.set("this", exp.to_identifier(str(uuid.UUID(node.name)), quoted=True))
    return tree.sql(dialect="duckdb")


GRADES = ("general", "important", "core")  # GB/T 43697-2024, lowest first
LAKE_GRADE = "important"  # the lake holds every unit's telemetry, unmasked: never published as general data


def _grade(session: Session, actor: Actor, resources: list[uuid.UUID], views: list[str]) -> str:
    """The highest security grade of what a statement reads: its entries' grades, the lake's for its views."""
    grades = [LAKE_GRADE] if views else []
    for rid in resources:
        _res, entry = data.resource_get(session, actor, rid)
        grades.append(str(entry.security_grade))
    return max(grades, key=lambda g: GRADES.index(g) if g in GRADES else len(GRADES), default="general")


def _read(session: Session, actor: Actor, rid: uuid.UUID, limit: int) -> pa.Table:
    """The rows of one resource as the runner may read them (masked, granted items only, logged)."""
    records: list[dict[str, Any]] = []
    fields: list[str] = []
    after: int | None = 0
    try:
        while after is not None and len(records) < limit:
            fields, page, _total, after = data.datastore_query(
                session, actor, rid, limit=min(_PAGE, limit - len(records)), after=after, include_total=False)
            records.extend(page)
    except CityhubError as exc:
        if exc.status_code in (403, 404, 409):
            raise ValidationFailed(_("Table not found or not readable: {name}").format(name=str(rid)),
                                   field="sql") from exc
        raise
    columns = [f for f in fields if f != "_id"] or fields
    return pa.Table.from_pylist([{c: r.get(c) for c in columns} for r in records]) if records else pa.table(
        {c: pa.array([], pa.string()) for c in columns})


def _visible(session: Session, actor: Actor, analysis_id: uuid.UUID) -> Analysis:
    a = session.get(Analysis, analysis_id)
    if a is None or not (actor.is_platform_admin or policies.analysis_read(actor, a.org_id)):
        raise NotFound(_("Analysis not found"))
    return a


def analysis_list(session: Session, actor: Actor, page: PageParams) -> tuple[list[Analysis], int]:
    """The analyses of the caller's units (every unit's for platform admins), by name."""
    stmt = select(Analysis).order_by(Analysis.name, Analysis.id)
    if not actor.is_platform_admin:
        stmt = stmt.where(Analysis.org_id.in_(policies.analysis_orgs(actor)))
    return paginate(session, stmt, page)


def analysis_get(session: Session, actor: Actor, analysis_id: uuid.UUID) -> Analysis:
    """One analysis (404 when unknown or not the caller's units')."""
    return _visible(session, actor, analysis_id)


def _unique(session: Session, org_id: uuid.UUID, name: str, own: uuid.UUID | None = None) -> None:
    other = session.scalar(select(Analysis.id).where(Analysis.org_id == org_id, Analysis.name == name))
    if other is not None and other != own:
        raise Conflict(_("An analysis of this name exists"))


def analysis_create(session: Session, actor: Actor, body: AnalysisCreate) -> Analysis:
    """Save an analysis; its SQL is refused (422 naming `sql`) before it is saved unless it is readable SQL."""
    org_id = body.org_id or actor.org_id
    if org_id is None:
        raise ValidationFailed(_("Name the unit"), field="org_id")
    reference("org_id", lambda: core.organization_get(session, actor, org_id))
    policies.analysis_create(actor, org_id)
    _check_sql(session, actor, body.sql)
    _unique(session, org_id, body.name)
    a = Analysis(org_id=org_id, name=body.name, sql=body.sql, chart=body.chart, created_by=actor.username)
    schedules.set_schedule(a, actor, body.schedule)
    session.add(a)
    session.flush()
    core.audit_record(session, actor, "analysis_create", target_type="compute_analysis", target_id=a.id,
                      org_id=org_id, after={"name": a.name, "sql": a.sql, "chart": a.chart,
                                            "schedule": a.schedule})
    return a


def analysis_update(session: Session, actor: Actor, analysis_id: uuid.UUID, body: AnalysisUpdate) -> Analysis:
    """Change an analysis (a new SQL is checked first)."""
    a = _visible(session, actor, analysis_id)
    policies.analysis_update(actor, a.org_id)
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    if "sql" in changes:
        _check_sql(session, actor, changes["sql"])
    if "name" in changes:
        _unique(session, a.org_id, changes["name"], a.id)
    before = {k: getattr(a, k) for k in changes}
    schedule = changes.pop("schedule", None)
    for k, v in changes.items():
        setattr(a, k, v)
    if schedule is not None:
        schedules.set_schedule(a, actor, schedule)
        changes["schedule"] = a.schedule
    session.flush()
    core.audit_record(session, actor, "analysis_update", target_type="compute_analysis", target_id=a.id,
                      org_id=a.org_id, before=before, after=changes)
    return a


def analysis_delete(session: Session, actor: Actor, analysis_id: uuid.UUID) -> None:
    """Delete an analysis and its runs' records."""
    a = _visible(session, actor, analysis_id)
    policies.analysis_delete(actor, a.org_id)
    core.audit_record(session, actor, "analysis_delete", target_type="compute_analysis", target_id=a.id,
                      org_id=a.org_id, before={"name": a.name})
    # one statement, before the analysis: ORM deletes of both tables may flush in either order, and the runs'
    # ON DELETE CASCADE would then have removed rows the ORM still expects to delete
    session.execute(delete(AnalysisRun).where(AnalysisRun.analysis_id == a.id))
    session.delete(a)
    session.flush()


def analysis_run(session: Session, actor: Actor, analysis_id: uuid.UUID, body: AnalysisRunStart, *,
                 wait: bool = False, trigger: str = "manual") -> dict[str, Any]:
    """Start a run as a job (the caller's reads: the SQL is checked again and the tables read now, as the caller)."""
    a = _visible(session, actor, analysis_id)
    policies.analysis_run(actor, a.org_id)
    statement, resources, views = _check_sql(session, actor, a.sql)
    tables = {str(rid): _read(session, actor, rid, MAX_TABLE_ROWS) for rid in resources}
    s = get_settings()
    run = AnalysisRun(analysis_id=a.id, org_id=a.org_id, started_by=actor.username, engine=s.engine,
                      max_rows=body.max_rows, timeout_s=body.timeout_s, trigger=trigger,
                      grade=_grade(session, actor, resources, views))
    session.add(run)
    session.flush()
    core.audit_record(session, actor, "analysis_run", target_type="compute_analysis", target_id=a.id,
                      org_id=a.org_id, after={"run": str(run.id), "max_rows": body.max_rows, "trigger": trigger,
                                              "timeout_s": body.timeout_s, "tables": sorted(tables)})
    jobs.start(run.id, statement, tables, max_rows=body.max_rows, timeout_s=body.timeout_s, wait=wait)
    return _run_view(run)


def _visible_run(session: Session, actor: Actor, run_id: uuid.UUID) -> AnalysisRun:
    run = session.get(AnalysisRun, run_id)
    if run is None:
        raise NotFound(_("Run not found"))
    _visible(session, actor, run.analysis_id)
    return run


def _run_view(run: AnalysisRun, rows: int = 200) -> dict[str, Any]:
    state = jobs.state(run.id)
    out: dict[str, Any] = {"id": run.id, "analysis_id": run.analysis_id, "engine": run.engine,
                           "started_by": run.started_by, "started_at": run.started_at, "trigger": run.trigger,
                           "grade": run.grade, "published_entry_id": run.published_entry_id,
                           "published_resource_id": run.published_resource_id, **state}
    if state["status"] == "succeeded":
        table = jobs.result(run.id)
        if table is not None:
            out["columns"] = list(table.column_names)
            head = table.slice(0, rows)
            cols = [[jobs.plain(v) for v in c.to_pylist()] for c in head.columns]
            out["records"] = [list(r) for r in zip(*cols, strict=True)] if cols else []
    return out


def analysis_run_get(session: Session, actor: Actor, run_id: uuid.UUID) -> dict[str, Any]:
    """A run's state, progress and first rows."""
    return _run_view(_visible_run(session, actor, run_id))


def analysis_runs(session: Session, actor: Actor, analysis_id: uuid.UUID, limit: int = 20) -> list[dict[str, Any]]:
    """An analysis's latest runs, newest first."""
    a = _visible(session, actor, analysis_id)
    runs = session.scalars(select(AnalysisRun).where(AnalysisRun.analysis_id == a.id)
                           .order_by(AnalysisRun.started_at.desc(), AnalysisRun.id).limit(limit))
    return [_run_view(r, rows=0) for r in runs]


def analysis_run_cancel(session: Session, actor: Actor, run_id: uuid.UUID) -> dict[str, Any]:
    """Cancel a running run (409 once it has ended)."""
    run = _visible_run(session, actor, run_id)
    policies.analysis_run_cancel(actor, run.org_id)
    if not jobs.cancel(run.id):
        raise Conflict(_("The run has ended"))
    core.audit_record(session, actor, "analysis_run_cancel", target_type="compute_analysis",
                      target_id=run.analysis_id, org_id=run.org_id, after={"run": str(run.id)})
    return _run_view(run)


def analysis_run_csv(session: Session, actor: Actor, run_id: uuid.UUID) -> bytes:
    """A finished run's whole answer as CSV (409 while it runs or when it has none)."""
    run = _visible_run(session, actor, run_id)
    table = jobs.result(run.id)
    if table is None:
        raise Conflict(_("The run has no result"))
    return jobs.csv_bytes(table)


def analysis_run_parquet(session: Session, actor: Actor, run_id: uuid.UUID) -> bytes:
    """A finished run's whole answer as the Parquet file the job wrote (409 while it runs or when it has none)."""
    run = _visible_run(session, actor, run_id)
    data = jobs.result_bytes(run.id)
    if data is None:
        raise Conflict(_("The run has no result"))
    return data


_ARROW_KINDS = (("I", pa.types.is_integer), ("F", pa.types.is_floating), ("N", pa.types.is_decimal),
                ("L", pa.types.is_boolean), ("D", pa.types.is_date), ("T", pa.types.is_timestamp))


def _items(table: pa.Table, grade: str) -> list[dict[str, Any]]:
    """Information items for an answer's columns: a column name made a valid identifier, typed from Arrow, graded."""
    items: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, field in enumerate(table.schema):
        ident = re.sub(r"[^a-z0-9_]+", "_", field.name.lower()).strip("_")[:55] or f"col{i + 1}"
        if not ident[0].isalpha():
            ident = f"c_{ident}"[:55]
        while ident in seen:
            ident = f"{ident[:50]}_{i + 1}"
        seen.add(ident)
        kind = next((k for k, test in _ARROW_KINDS if test(field.type)), "C")
        items.append({"name_cn": field.name[:100] or ident, "name_en": ident, "data_type": kind,
                      "security_level": grade})
    return items


def analysis_run_publish(session: Session, actor: Actor, run_id: uuid.UUID, body: AnalysisPublish) -> dict[str, Any]:
    """Publish a finished run's whole answer as a datastore table on a new draft catalog entry of the unit.

    The entry is graded like the most sensitive table the run read (`grade`; the lake's views count as
    `LAKE_GRADE`) and so is every column; it is a draft, shared with nobody, that the unit submits for the bureau's
    review as any other entry. The data domain's own checks apply to the publisher (it must be allowed to register
    the unit's entries). 409 while the run is not finished or once it has been published.
    """
    run = _visible_run(session, actor, run_id)
    a = _visible(session, actor, run.analysis_id)
    policies.analysis_publish(actor, run.org_id)
    if run.published_resource_id is not None:
        raise Conflict(_("The run has been published"), details={"resource_id": str(run.published_resource_id)})
    table = jobs.result(run.id)
    if table is None:
        raise Conflict(_("The run has no result"))
    from cityhub.data import schemas as data_schemas

    items = _items(table, run.grade)
    title = body.title or f"{a.name} {run.started_at.date().isoformat()}"[:200]
    entry = data.catalog_entry_create(session, actor, data_schemas.EntryCreate.model_validate({
        "title": title, "abstract": body.abstract or f"自助分析「{a.name}」一次运行的结果。"[:2000],
        "provider_org_id": run.org_id, "classification": "department", "format_category": "database",
        "items": items, "share_type": "none", "update_cycle": "irregular", "security_grade": run.grade,
        "legal_basis": "自助分析的结果：所读数据的共享授权不随结果转移，仅供本单位使用。",
        "source_system": "cityhub analytics"}))
    columns = [[jobs.plain(v) for v in c.to_pylist()] for c in table.columns]
    rows = (list(r) for r in zip(*columns, strict=True))
    res = data.datastore_bulk_load(session, actor, entry.id, rows, title=title)
    run.published_entry_id, run.published_resource_id = entry.id, res.id
    session.flush()
    core.audit_record(session, actor, "analysis_publish", target_type="compute_analysis", target_id=a.id,
                      org_id=run.org_id, after={"run": str(run.id), "entry": str(entry.id),
                                                "resource": str(res.id), "grade": run.grade,
                                                "rows": table.num_rows})
    return _run_view(run, rows=0)
