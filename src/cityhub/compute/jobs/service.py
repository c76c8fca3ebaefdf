"""Batch jobs, the small AI compute centre: a version run over a datastore table or a telemetry range.

Jobs queue per unit, worker processes run them, and the answer is written as a new datastore table.

**Submit** (`job_create`, permission `compute.job_run` for the unit): the input is read *now*, with the submitter's
rights — a table through `data.datastore_query` (the provider in clear, the bureau masked, a grantee its granted
items masked, anybody else 403), telemetry through `connect.telemetry_raw` (a device the unit may not see is 404)
— and kept as a JSON-lines file under `<var_dir>/compute/jobs/`; the job row is queued. The worker never reads
with more rights than the submitter had.

**Run** (`job_work_once`, the loop of `cityhub compute job-worker`; start as many worker processes as the machine
has cores): a worker claims the oldest queued job whose unit runs fewer than `CITYHUB_COMPUTE_JOB_CONCURRENCY`
jobs (one conditional UPDATE, under an advisory lock on PostgreSQL, so two workers never exceed the limit), runs
the version over every row (a table job: one call per row, the request body built from `fields` {parameter:
column} and `params`; a telemetry job: one call with the series) — a built-in in the worker's process, an upstream
through the gateway as one of the unit's applications (`jobs.upstream`: its subscription, quota and metering, a few
calls in flight) — writing progress every few rows in its own commit and reading back whether it was asked to
stop. A row the component refuses keeps its reason in the row's `out_error` column; anything else fails the job
with the reason. The answer is a draft catalog entry of the submitter's unit, graded like its input (the input
entry's security grade and each copied column's level), with one datastore table: the input columns, then the
answer's scalar fields as `out_<name>`.

**Cancel**: a queued job ends at once; a running one is marked `cancelling` and its worker stops at its next
progress write, writing nothing.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import func, or_, select, text, update
from sqlalchemy.orm import Session

from cityhub.compute import policies
from cityhub.compute.builtins import service as builtins
from cityhub.compute.builtins.base import BuiltinError, BuiltinRequest
from cityhub.compute.jobs import upstream
from cityhub.compute.models import (
    Component,
    ComponentStatus,
    ComponentVersion,
    ConsumerApp,
    Job,
    JobStatus,
    Subscription,
    SubscriptionStatus,
)
from cityhub.compute.registry import service as registry
from cityhub.compute.schemas import JobCreate
from cityhub.core import service as core
from cityhub.core.actor import Actor
from cityhub.kit import clock, safejson
from cityhub.kit.db import Database, get_or_404
from cityhub.kit.errors import Conflict, ValidationFailed
from cityhub.kit.i18n import gettext as _
from cityhub.kit.pagination import Page, PageParams
from cityhub.kit.settings import get_settings

log = logging.getLogger(__name__)
WORKER_ACTOR = Actor.system("compute-jobs")
# a running job's worker touches it this often; one silent for STALE_AFTER_S has lost its worker (killed, host down)
HEARTBEAT_S = 30.0
STALE_AFTER_S = 300.0
ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.CANCELLING)
_CLAIM_LOCK = 17_017  # the advisory lock key of the claim (PostgreSQL)


def jobs_dir() -> Path:
    """Where the inputs of jobs are kept until they end."""
    return get_settings().var_dir / "compute" / "jobs"


def _input_path(job_id: uuid.UUID) -> Path:
    return jobs_dir() / f"{job_id}.jsonl"


def _plain(v: Any) -> Any:
    if isinstance(v, Decimal):
        return float(v) if v == v.to_integral_value() or abs(v) < Decimal("1e15") else str(v)
    if isinstance(v, datetime):
        return v.isoformat()
    return v if v is None or isinstance(v, str | int | float | bool) else str(v)


def _may_run(session: Session, org_id: uuid.UUID, c: Component, v: ComponentVersion) -> bool:
    """The owner, anyone when the component is open, or a unit one of whose applications is subscribed."""
    if c.open_to_all or c.org_id == org_id:
        return True
    return session.scalar(select(Subscription.id).join(ConsumerApp, ConsumerApp.id == Subscription.app_id).where(
        ConsumerApp.org_id == org_id, Subscription.version_id == v.id,
        Subscription.status == SubscriptionStatus.ACTIVE).limit(1)) is not None


def _read_table(session: Session, actor: Actor, resource_id: uuid.UUID,
                limit: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str, dict[str, Any]]:
    """Rows of a table as the actor may read them; the columns' information items, the grade, the source."""
    from cityhub.data import service as data

    res, entry = data.resource_get(session, actor, resource_id)
    if res.kind != "table" or not res.table_name:
        raise ValidationFailed(_("The resource is not a datastore table"), field="resource_id")
    fields, records, total, after = data.datastore_query(session, actor, resource_id, limit=1000)
    if total is not None and total > limit:
        raise ValidationFailed(_("The table has more rows than a job may read ({n})").format(n=limit),
                               field="resource_id")
    while after is not None and len(records) < (total or 0):  # keyset pages of a thousand
        _f, more, _t, after = data.datastore_query(session, actor, resource_id, limit=1000, after=after,
                                                   include_total=False)
        if not more:
            break
        records += more
    items = {i["name_en"]: i for i in entry.items or []}
    cols = [dict(items.get(f) or {"name_cn": f, "name_en": f, "data_type": "C"}) for f in fields]
    source = {"resource_id": str(res.id), "entry_id": str(entry.id), "title": res.title, "entry_title": entry.title}
    return cols, [{f: _plain(r.get(f)) for f in fields} for r in records], str(entry.security_grade), source


def _read_telemetry(session: Session, actor: Actor, body: JobCreate,
                    limit: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str, dict[str, Any]]:
    from cityhub.connect import service as connect

    assert body.device_id is not None and body.metric and body.start and body.end  # checked by the schema
    points = connect.telemetry_raw(session, actor, body.device_id, keys=[body.metric], start=body.start,
                                   end=body.end, limit=limit + 1)
    if len(points) > limit:
        raise ValidationFailed(_("The range holds more points than a job may read ({n})").format(n=limit),
                               field="end")
    rows = [{"ts": ts.isoformat(), "value": value} for _k, ts, value, _t in points if value is not None]
    cols = [{"name_cn": "时间", "name_en": "ts", "data_type": "T"}, {"name_cn": "值", "name_en": "value",
                                                                    "data_type": "F"}]
    source = {"device_id": str(body.device_id), "metric": body.metric, "start": body.start.isoformat(),
              "end": body.end.isoformat()}
    return cols, rows, "general", source


def job_create(session: Session, actor: Actor, body: JobCreate) -> Job:
    """Queue a job: check the unit, the component and the request, read the input with the actor's rights."""
    policies.job_create(actor, body.org_id)
    v = registry.component_version_get(session, actor, body.component_code, body.version)
    c = session.get(Component, v.component_id)
    assert c is not None
    if c.status not in (ComponentStatus.PUBLISHED, ComponentStatus.DEPRECATED) or v.published_at is None:
        raise ValidationFailed(_("Only a published version runs as a job"), field="version")
    extra: dict[str, Any] = {}
    if v.kind == "upstream":  # runs as one of the unit's applications: its subscription, quota and metering
        extra = upstream.check(session, body, v)
    else:
        if body.app_id is not None:  # refused, not ignored: a built-in job is no application's call
            raise ValidationFailed(_("Only an upstream version runs as an application"), field="app_id")
        if not _may_run(session, body.org_id, c, v):
            raise ValidationFailed(_("Subscribe one of the unit's applications to this version first"),
                                   field="component_code")
        plugin = builtins.builtin_get(v.builtin)
        if plugin is None or (body.method, body.path.strip("/")) not in plugin.routes():
            raise ValidationFailed(_("The component has no such operation"), field="path")
    limit = get_settings().compute_job_max_rows
    if body.source_kind == "table":
        assert body.resource_id is not None
        cols, rows, grade, source = _read_table(session, actor, body.resource_id, limit)
        missing = [col for col in body.fields.values() if col not in {c_["name_en"] for c_ in cols}]
        if missing:
            raise ValidationFailed(_("No such column: {c}").format(c=missing[0]), field="fields")
    else:
        cols, rows, grade, source = _read_telemetry(session, actor, body, limit)
    job = Job(org_id=body.org_id, component_id=c.id, version_id=v.id, name=body.name or f"{c.name_zh} {v.version}",
              source_kind=body.source_kind, source=source, grade=grade,
              request={"method": body.method, "path": body.path.strip("/"), "fields": body.fields,
                       "params": body.params, "columns": cols, **extra},
              rows_total=len(rows) if body.source_kind == "table" else 1, submitted_by=actor.username)
    session.add(job)
    session.flush()
    path = _input_path(job.id)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    tmp.replace(path)
    core.audit_record(session, actor, "compute_job_create", target_type="compute_job", target_id=job.id,
                      org_id=body.org_id, after={"component": c.code, "version": v.version,
                                                 "source": body.source_kind, "rows": len(rows)})
    return job


def job_get(session: Session, actor: Actor, job_id: uuid.UUID) -> Job:
    """One job, for its unit's staff and those who read every unit's (403 for another unit)."""
    job = get_or_404(session, Job, job_id, "Job")
    policies.job_read(actor, job.org_id)
    return job


def job_list(session: Session, actor: Actor, page: PageParams, *, org_id: uuid.UUID | None = None) -> Page[Job]:
    """Jobs of the units the actor reads, newest first."""
    stmt = select(Job)
    if org_id is not None:
        policies.job_read(actor, org_id)
        stmt = stmt.where(Job.org_id == org_id)
    elif not policies.reads_all(actor) and not policies.reviews(actor):
        stmt = stmt.where(Job.org_id.in_(policies.read_orgs(actor)))
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    items = list(session.scalars(stmt.order_by(Job.created_at.desc(), Job.id).limit(page.limit)
                                 .offset(page.offset)))
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


def job_components(session: Session, jobs: list[Job]) -> dict[uuid.UUID, tuple[Component, str]]:
    """The component and version number of each job (the page's labels)."""
    rows = session.execute(select(ComponentVersion.id, ComponentVersion.version, Component).join(
        Component, Component.id == ComponentVersion.component_id).where(
        ComponentVersion.id.in_({j.version_id for j in jobs}))).all()
    by_version = {vid: (c, ver) for vid, ver, c in rows}
    return {j.id: by_version[j.version_id] for j in jobs if j.version_id in by_version}


def job_cancel(session: Session, actor: Actor, job_id: uuid.UUID) -> Job:
    """A queued job ends at once; a running one is asked to stop (409 when it has ended)."""
    job = job_get(session, actor, job_id)
    policies.job_cancel(actor, job.org_id)
    before = job.status
    if job.status == JobStatus.QUEUED:
        job.status, job.finished_at = JobStatus.CANCELLED, clock.now()
        _input_path(job.id).unlink(missing_ok=True)
    elif job.status == JobStatus.RUNNING:
        job.status = JobStatus.CANCELLING
    elif job.status != JobStatus.CANCELLING:
        raise Conflict(_("The job has ended"), details={"status": str(job.status)})
    session.flush()
    core.audit_record(session, actor, "compute_job_cancel", target_type="compute_job", target_id=job.id,
                      org_id=job.org_id, before={"status": str(before)}, after={"status": str(job.status)})
    return job


# --- the worker --------------------------------------------------------------------------------------------------

def jobs_reap_stale(session: Session) -> int:
    """End as failed the running jobs whose worker stopped touching them (it died): how many.

    Failed, not queued again: the lost worker may have half-run the component over part of the input, and running
    it twice is not for the platform to decide; the unit submits it again. Frees the unit's concurrency slot.
    """
    cutoff = clock.now() - timedelta(seconds=STALE_AFTER_S)
    stale = list(session.scalars(select(Job).where(Job.status.in_((JobStatus.RUNNING, JobStatus.CANCELLING)),
                                                    Job.updated_at < cutoff)))
    for job in stale:
        job.status, job.finished_at = JobStatus.FAILED, clock.now()
        job.error = _("The worker running the job stopped answering (no heartbeat for {n} s): submit it again").format(
            n=int(STALE_AFTER_S))
        core.audit_record(session, WORKER_ACTOR, "compute_job_finish", target_type="compute_job", target_id=job.id,
                          org_id=job.org_id, after={"status": "failed", "error": job.error, "worker": job.worker})
    session.flush()
    return len(stale)


def job_claim(session: Session, worker: str) -> Job | None:
    """Take the oldest queued job whose unit runs fewer than its limit of jobs; None when there is none."""
    limit = get_settings().compute_job_concurrency
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _CLAIM_LOCK})
    jobs_reap_stale(session)  # under the claim lock: a dead worker's jobs no longer hold their unit's slots
    for job_id, org_id in session.execute(select(Job.id, Job.org_id).where(Job.status == JobStatus.QUEUED)
                                          .order_by(Job.created_at, Job.id).limit(200)).all():
        busy = (select(func.count()).select_from(Job)
                .where(Job.org_id == org_id, Job.status.in_((JobStatus.RUNNING, JobStatus.CANCELLING)))
                .scalar_subquery())
        got = session.execute(update(Job).where(Job.id == job_id, Job.status == JobStatus.QUEUED, busy < limit)
                              .values(status=JobStatus.RUNNING, worker=worker, started_at=clock.now())
                              .execution_options(synchronize_session=False))
        if got.rowcount == 1:  # type: ignore[attr-defined]  # an UPDATE's result is a CursorResult; execute() is typed Result
            job = session.get(Job, job_id)
            if job is not None:
                session.refresh(job)
            return job
    return None


def _rows(job_id: uuid.UUID) -> Iterator[dict[str, Any]]:
    with _input_path(job_id).open(encoding="utf-8") as f:
        for line in f:
            yield safejson.loads(line, max_bytes=16 * 1024 * 1024, field="input")


def _call(name: str, method: str, path: str, body: dict[str, Any]) -> Any:
    _status, answer = builtins.run(name, BuiltinRequest(method, path, {}, json.dumps(body).encode()))
    return answer


def _scalars(answer: Any) -> dict[str, Any]:
    """The answer's scalar fields (nested ones as JSON text), to become `out_<name>` columns."""
    if not isinstance(answer, dict):
        return {"result": json.dumps(answer, ensure_ascii=False)}
    return {k: v if v is None or isinstance(v, str | int | float | bool) else json.dumps(v, ensure_ascii=False)
            for k, v in answer.items()}


def _telemetry_rows(series: list[dict[str, Any]], answer: Any) -> tuple[list[dict[str, Any]], bool]:
    """A telemetry job's answer as rows, and whether they are the input's points.

    Lists as long as the series become a column per point (`scores`), a list of point indices named `anomalies`
    the column `out_flagged`; otherwise the first list of objects (a forecast's steps) gives the rows; otherwise
    the answer is one row.
    """
    if not isinstance(answer, dict):
        return [_scalars(answer)], False
    n = len(series)
    per_point = {k: v for k, v in answer.items() if isinstance(v, list) and len(v) == n and n
                 and all(v_ is None or isinstance(v_, str | int | float | bool) for v_ in v)}
    flagged = answer.get("anomalies")
    if per_point or isinstance(flagged, list):
        marks = set(flagged) if isinstance(flagged, list) else set()
        rows = []
        for i, point in enumerate(series):
            row = {**point, **{_ident(k): v[i] for k, v in per_point.items()}}
            if isinstance(flagged, list):
                row["out_flagged"] = i in marks
            rows.append(row)
        return rows, True
    listed = next((v for v in answer.values() if isinstance(v, list) and v and all(isinstance(x, dict) for x in v)),
                  None)
    return ([_scalars(x) for x in listed] if listed is not None else [_scalars(answer)]), False


def _ident(name: str) -> str:
    out = "".join(ch if ch.isascii() and (ch.isalnum() or ch == "_") else "_" for ch in name.lower())
    return ("out_" + out)[:63]


class Scope:
    """Short transactions of a worker: the database's own, or savepoints of one open session (the demo)."""

    def __init__(self, target: Database | Session) -> None:
        self.target = target

    @contextmanager
    def session_scope(self) -> Iterator[Session]:
        """One unit of work, committed (or released) when it ends."""
        if isinstance(self.target, Session):
            with self.target.begin_nested():
                yield self.target
        else:
            with self.target.session_scope() as s:
                yield s


class _Stopped(Exception):
    """The job was cancelled while it ran."""


def _progress(db: Scope, job_id: uuid.UUID, done: int, failed: int) -> None:
    with db.session_scope() as s:
        status = s.scalar(select(Job.status).where(Job.id == job_id))
        if status != JobStatus.RUNNING:
            raise _Stopped
        s.execute(update(Job).where(Job.id == job_id).values(rows_done=done, rows_failed=failed))


def _call_all(db: Scope, job: Job, target: tuple[str, str, str, str], bodies: list[dict[str, Any]]
              ) -> Iterator[tuple[Any, str]]:
    """(answer, error) per body: the built-in in this process, or the upstream through the gateway.

    `target` is (kind, built-in name, component code, version). Progress is written as the rows go.
    """
    kind, name, code, version = target
    req = job.request
    if kind == "upstream":
        yield from upstream.call_rows(db.target, job, code, version, bodies,
                                      lambda done, failed: _progress(db, job.id, done, failed))
        return
    step = max(1, len(bodies) // 50)
    failed = 0
    for i, body in enumerate(bodies, start=1):
        try:
            yield _call(name, req["method"], req["path"], body), ""
        except BuiltinError as exc:
            if job.source_kind == "telemetry":
                raise
            failed += 1
            yield None, f"{exc.field or ''}: {exc.message}".strip(": ")
        if i % step == 0 and job.source_kind == "table":
            _progress(db, job.id, i, failed)


def _compute(db: Scope, job: Job) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    """Run the version over the input; (result columns, result rows, rows refused)."""
    req = job.request
    with db.session_scope() as s:
        v = s.get(ComponentVersion, job.version_id)
        c = s.get(Component, job.component_id)
        assert v is not None and c is not None
        name, kind, code, version = v.builtin, v.kind, c.code, v.version

    def call_all(bodies: list[dict[str, Any]]) -> Iterator[tuple[Any, str]]:
        return _call_all(db, job, (kind, name, code, version), bodies)

    cols: list[dict[str, Any]] = list(req["columns"])
    out_rows: list[dict[str, Any]] = []
    failed = 0
    if job.source_kind == "telemetry":
        series = list(_rows(job.id))
        ((answer, error),) = call_all([{**req["params"], "series": series}])
        if error:
            raise ValidationFailed(error)
        out_rows, per_point = _telemetry_rows(series, answer)
        if not per_point:
            cols = []
        _progress(db, job.id, 1, 0)
    else:
        rows = list(_rows(job.id))
        bodies = [{**req["params"], **{p: row.get(col) for p, col in req["fields"].items()}} for row in rows]
        for row, (answer, error) in zip(rows, call_all(bodies), strict=True):
            if error:
                failed += 1
                out_rows.append({**row, "out_error": error})
            else:
                out_rows.append({**row, **{_ident(k): v for k, v in _scalars(answer).items()}})
    _type_columns(job, cols, out_rows)
    return cols, out_rows, failed


def _type_columns(job: Job, cols: list[dict[str, Any]], out_rows: list[dict[str, Any]]) -> None:
    """Add a column for each answer field of the rows (typed by its values), renaming odd names `out_…`."""
    known = {c["name_en"] for c in cols}
    for r in out_rows:
        for k, val in list(r.items()):
            col = k if k in known or k.startswith("out_") else _ident(k)
            if col != k:
                r[col] = r.pop(k)
            if col not in known:
                known.add(col)
                numeric = isinstance(val, int | float) and not isinstance(val, bool)
                kind = "L" if isinstance(val, bool) else "F" if numeric else "C"
                cols.append({"name_cn": col, "name_en": col, "data_type": kind})
    if not any(c["name_en"] == "out_error" for c in cols) and job.source_kind == "table":
        cols.append({"name_cn": "out_error", "name_en": "out_error", "data_type": "C"})
    for c in cols:  # a number column that also holds text is read as text
        if c["data_type"] == "F" and any(isinstance(r.get(c["name_en"]), str) for r in out_rows):
            c["data_type"] = "C"


def _write_result(session: Session, job: Job, cols: list[dict[str, Any]], rows: list[dict[str, Any]]) -> None:
    from cityhub.data import schemas as data_schemas
    from cityhub.data import service as data

    items = [{k: c[k] for k in ("name_cn", "name_en", "data_type", "security_level", "masking_rule") if k in c}
             for c in cols]
    for it in items:
        it.setdefault("security_level", job.grade)  # what the job computed is graded like what it read
    entry = data.catalog_entry_create(session, WORKER_ACTOR, data_schemas.EntryCreate.model_validate({
        "title": f"{job.name} 作业结果"[:200], "abstract": f"算力中心批处理作业 {job.id} 的结果。",
        "provider_org_id": job.org_id, "classification": "department", "format_category": "database",
        "items": items, "share_type": "none",
        "legal_basis": "算力中心批处理作业的结果：输入数据的共享授权不随结果转移，仅供本单位使用。",
        "update_cycle": "irregular", "security_grade": job.grade,
        "source_system": "cityhub compute jobs"}))
    names = [i["name_en"] for i in items]
    res = data.datastore_bulk_load(session, WORKER_ACTOR, entry.id, ([r.get(n) for n in names] for r in rows),
                                   title=f"{job.name} 作业结果"[:200])
    job.result_entry_id, job.result_resource_id = entry.id, res.id


def _finish(db: Scope, job_id: uuid.UUID, status: JobStatus, error: str = "") -> None:
    with db.session_scope() as s:
        job = s.get(Job, job_id)
        assert job is not None
        job.status, job.error, job.finished_at = status, error[:2000], clock.now()
        core.audit_record(s, WORKER_ACTOR, "compute_job_finish", target_type="compute_job", target_id=job.id,
                          org_id=job.org_id, after={"status": str(status), "error": job.error})


def job_run(database: Database | Session, job_id: uuid.UUID) -> JobStatus:
    """Run a claimed job to its end state (each step in its own transaction); the end state.

    Given a Session instead of a Database (the demo, whose data is not committed yet) each step is a savepoint of
    that session's transaction.
    """
    db = Scope(database)
    with db.session_scope() as s:
        job = s.get(Job, job_id)
        assert job is not None
        s.expunge(job)
    stop = _heartbeat(database, job_id) if isinstance(database, Database) else None
    try:
        cols, rows, failed = _compute(db, job)
        with db.session_scope() as s:
            live = s.get(Job, job_id)
            assert live is not None
            if live.status != JobStatus.RUNNING:
                raise _Stopped
            _write_result(s, live, cols, rows)
            live.rows_done, live.rows_failed = job.rows_total, failed
            live.status, live.finished_at = JobStatus.SUCCEEDED, clock.now()
            core.audit_record(s, WORKER_ACTOR, "compute_job_finish", target_type="compute_job", target_id=live.id,
                              org_id=live.org_id, after={"status": "succeeded", "rows": len(rows),
                                                         "resource_id": str(live.result_resource_id)})
        end = JobStatus.SUCCEEDED
    except _Stopped:
        _finish(db, job_id, JobStatus.CANCELLED)
        end = JobStatus.CANCELLED
    except BuiltinError as exc:
        _finish(db, job_id, JobStatus.FAILED, f"{exc.field or ''}: {exc.message}".strip(": "))
        end = JobStatus.FAILED
    except ValidationFailed as exc:
        _finish(db, job_id, JobStatus.FAILED, exc.message)
        end = JobStatus.FAILED
    except upstream.QuotaUsedUp as exc:
        _finish(db, job_id, JobStatus.FAILED, _(
            "The application's quota is used up for the next {n} s: submit the job again then").format(
            n=exc.retry_after))
        end = JobStatus.FAILED
    except Exception as exc:  # the job must end with a state a person can read, whatever broke
        _finish(db, job_id, JobStatus.FAILED, f"{type(exc).__name__}: {str(exc)[:300]}")
        end = JobStatus.FAILED
    finally:
        if stop is not None:
            stop.set()
    _input_path(job_id).unlink(missing_ok=True)
    return end


def _heartbeat(database: Database, job_id: uuid.UUID) -> threading.Event:
    """Touch the running job every HEARTBEAT_S from a thread of its own (a slow row must not look like a death)."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(HEARTBEAT_S):
            try:
                with database.session_scope() as s:
                    s.execute(update(Job).where(Job.id == job_id, Job.status.in_(
                        (JobStatus.RUNNING, JobStatus.CANCELLING))).values(updated_at=clock.now()))
            except Exception as exc:  # a missed beat is retried on the next; the job itself goes on
                log.warning("job %s: heartbeat not written (%s)", job_id, exc)

    threading.Thread(target=beat, name=f"job-heartbeat-{job_id}", daemon=True).start()
    return stop


def worker_name() -> str:
    """The worker process's name (host and pid), kept on the jobs it runs."""
    return f"{socket.gethostname()}:{os.getpid()}"


def job_work_once(db: Database, worker: str | None = None) -> JobStatus | None:
    """Claim one job and run it; None when nothing could be claimed (the worker loop then waits)."""
    with db.session_scope() as s:
        job = job_claim(s, worker or worker_name())
        job_id = job.id if job is not None else None
    return None if job_id is None else job_run(db, job_id)


def jobs_active_count(session: Session, org_id: uuid.UUID) -> int:
    """Queued and running jobs of a unit (the page's summary)."""
    return session.scalar(select(func.count()).select_from(Job).where(
        Job.org_id == org_id, or_(*(Job.status == s for s in ACTIVE)))) or 0
