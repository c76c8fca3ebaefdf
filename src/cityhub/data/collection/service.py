"""Collection: departments register sources (database, file drop, HTTP API) and sync jobs into catalog entries.

Sources and jobs belong to a unit; its staff and auditors and the bureau see them (unknown or not visible: 404),
only the unit's staff change and run them (`data.collect`). Credentials are encrypted with the data domain's key,
never returned and never audited (the audit row says only whether a source has any). Runs are recorded per job;
the scheduler (`sync_due_jobs` + `sync_job_claim`, `cityhub data sync-worker`) runs each job in its own transaction,
so a failing source never stops another job.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cityhub.core import service as core
from cityhub.core.service import Actor
from cityhub.data import policies
from cityhub.data.base import service as base
from cityhub.data.catalog import service as catalog
from cityhub.data.collection import connectors, harvest, sync
from cityhub.data.collection.schemas import JobCreate, JobUpdate, SourceCreate
from cityhub.data.datastore._parse import convert
from cityhub.data.datastore.stores import quote, sqlite_value
from cityhub.data.models import CatalogEntry, Resource, SyncJob, SyncRun, SyncSource, drop_folder
from cityhub.data.quality import service as quality
from cityhub.data.standards import stored as conformance
from cityhub.kit import clock, refs
from cityhub.kit.db import is_postgres
from cityhub.kit.errors import Conflict, NotFound, ValidationFailed
from cityhub.kit.i18n import gettext as _

_HTTP_OPTIONS = {"records", "page_param", "size_param", "page_size", "first_page"}


def _visible_orgs_clause(actor: Actor, column: Any) -> Any:
    if actor.is_system or actor.is_platform_admin or policies.is_bureau(actor):
        return None
    return column.in_(policies.readable_orgs(actor))


def _check_options(kind: str, options: dict[str, Any]) -> dict[str, Any]:
    if kind == "files":
        fmt = options.get("format", "csv")
        if fmt not in connectors.FILE_FORMATS or set(options) - {"format"}:
            raise ValidationFailed(_("File sources take one option, format: csv, jsonl, xlsx or parquet"),
                                   field="options")
        return {"format": fmt}
    if kind == "ckan":
        return harvest.check_options(options)
    if kind == "dcat":
        return harvest.check_dcat_options(options)
    if kind == "http":
        if set(options) - _HTTP_OPTIONS:
            raise ValidationFailed(_("Unknown API paging option"), field="options")
        for k in ("page_size", "first_page"):
            if k in options and (not isinstance(options[k], int) or not 0 <= options[k] <= 10_000):
                raise ValidationFailed(_("A whole number from 0 to 10000 is needed"), field=f"options.{k}")
        if "page_size" in options and options["page_size"] < 1:
            raise ValidationFailed(_("A whole number from 0 to 10000 is needed"), field="options.page_size")
        return {k: options[k] if isinstance(options[k], int) else str(options[k])[:63] for k in options}
    if options:
        raise ValidationFailed(_("Database sources take no options"), field="options")
    return {}


def sync_source_create(session: Session, actor: Actor, data: SourceCreate) -> SyncSource:
    """Register a unit's source; its password or headers are encrypted and never shown again."""
    refs.reference("org_id", lambda: core.organization_get(session, actor, data.org_id))
    policies.sync_source_manage(actor, data.org_id)
    options = _check_options(data.kind, data.options)
    secret: dict[str, Any] = {}
    url = ""
    if data.kind == "database":
        url, password = connectors.database_url(data.url, data.password)
        if password:
            secret["password"] = password
    elif data.kind in ("http", *harvest.HARVESTED):
        url = connectors.http_url(data.url)
        if data.headers:
            secret["headers"] = data.headers
    elif data.url:
        raise ValidationFailed(_("A file source has no URL: its drop folder is made for it"), field="url")
    if session.scalar(select(SyncSource.id).where(SyncSource.org_id == data.org_id, SyncSource.name == data.name)):
        raise Conflict(_("The unit already has a source of this name"), details={"field": "name"})
    src = SyncSource(org_id=data.org_id, name=data.name, kind=data.kind, url=url, options=options,
                     credentials_enc=sync.encrypt(secret))
    session.add(src)
    session.flush()
    if src.kind == "files":
        drop_folder(src.id).mkdir(parents=True, exist_ok=True)
    core.audit_record(session, actor, "sync_source_create", target_type="sync_source", target_id=src.id,
                      org_id=src.org_id, after={"name": src.name, "kind": src.kind, "url": url, "options": options,
                                                "credentials": sorted(secret)})
    return src


def sync_source_get(session: Session, actor: Actor, source_id: uuid.UUID) -> SyncSource:
    """A source the actor may see (404 otherwise)."""
    src = session.get(SyncSource, source_id)
    if src is None or not policies.collection_read(actor, src.org_id):
        raise NotFound(_("Source not found"))
    return src


def sync_source_list(session: Session, actor: Actor) -> list[SyncSource]:
    """Sources the actor may see, by unit and name."""
    stmt = select(SyncSource).order_by(SyncSource.org_id, SyncSource.name)
    clause = _visible_orgs_clause(actor, SyncSource.org_id)
    return list(session.scalars(stmt if clause is None else stmt.where(clause)))


def sync_source_delete(session: Session, actor: Actor, source_id: uuid.UUID) -> None:
    """Remove a source and its jobs (the rows they loaded stay in the catalog)."""
    src = sync_source_get(session, actor, source_id)
    policies.sync_source_manage(actor, src.org_id)
    before = {"name": src.name, "kind": src.kind, "url": src.url}
    session.delete(src)
    session.flush()
    core.audit_record(session, actor, "sync_source_delete", target_type="sync_source", target_id=source_id,
                      org_id=src.org_id, before=before)


def _check_job(entry: CatalogEntry, source: SyncSource, mapping: dict[str, str], key: list[str], mode: str,
               cursor: str, schedule: str, query: str) -> None:
    if source.kind in harvest.HARVESTED:
        raise ValidationFailed(_("A CKAN source is harvested, not synced"), field="source_id")
    names = {it["name_en"] for it in entry.items}
    for target, col in mapping.items():
        if target not in names:
            raise ValidationFailed(_("Not an information item of the entry"), field=f"mapping.{target}")
        if not col or len(col) > 200:
            raise ValidationFailed(_("A source column name is needed"), field=f"mapping.{target}")
    for k in key:
        if k not in mapping:
            raise ValidationFailed(_("Key items must be mapped"), field="key")
    if mode == "incremental" and source.kind != "files" and not cursor:
        raise ValidationFailed(_("An incremental job needs a cursor column"), field="cursor_column")
    if source.kind == "database":
        if not query:
            raise ValidationFailed(_("Name a table or write a SELECT"), field="query")
        connectors.source_query(str(source.url.split(":", 1)[0]), query)
    elif query:
        raise ValidationFailed(_("Only database sources take a query"), field="query")
    if schedule:
        from croniter import croniter

        if not croniter.is_valid(schedule):
            raise ValidationFailed(_("Not a cron expression"), field="schedule")


def sync_job_create(session: Session, actor: Actor, data: JobCreate) -> SyncJob:
    """Define a sync job from a unit's source into one of its own catalog entries."""
    policies.sync_job_create(actor)
    source = refs.reference("source_id", lambda: sync_source_get(session, actor, data.source_id))
    entry = refs.reference("entry_id", lambda: catalog.catalog_entry_get(session, actor, data.entry_id))
    policies.sync_job_manage(actor, source.org_id)
    policies.resource_manage(actor, entry.provider_org_id)
    _check_job(entry, source, data.mapping, data.key, data.mode, data.cursor_column, data.schedule, data.query)
    if session.scalar(select(SyncJob.id).where(SyncJob.org_id == source.org_id, SyncJob.name == data.name)):
        raise Conflict(_("The unit already has a sync job of this name"), details={"field": "name"})
    job = SyncJob(org_id=source.org_id, name=data.name, source_id=source.id, entry_id=entry.id, query=data.query,
                  mapping=dict(data.mapping), key=list(data.key), mode=data.mode, cursor_column=data.cursor_column,
                  schedule=data.schedule, enabled=data.enabled, batch_size=data.batch_size)
    job.next_run_at = sync.next_run(job, False)
    session.add(job)
    session.flush()
    core.audit_record(session, actor, "sync_job_create", target_type="sync_job", target_id=job.id,
                      org_id=job.org_id, after=data.model_dump(mode="json"))
    return job


def sync_job_get(session: Session, actor: Actor, job_id: uuid.UUID) -> SyncJob:
    """A job the actor may see (404 otherwise)."""
    job = session.get(SyncJob, job_id)
    if job is None or not policies.collection_read(actor, job.org_id):
        raise NotFound(_("Sync job not found"))
    return job


def sync_job_list(session: Session, actor: Actor) -> list[SyncJob]:
    """Jobs the actor may see, by unit and name."""
    stmt = select(SyncJob).order_by(SyncJob.org_id, SyncJob.name)
    clause = _visible_orgs_clause(actor, SyncJob.org_id)
    return list(session.scalars(stmt if clause is None else stmt.where(clause)))


def sync_job_update(session: Session, actor: Actor, job_id: uuid.UUID, data: JobUpdate) -> SyncJob:
    """Change a job's mapping, mode, schedule or switch it on and off; a mode change restarts its watermark."""
    job = sync_job_get(session, actor, job_id)
    policies.sync_job_manage(actor, job.org_id)
    changes = data.model_dump(exclude_none=True)
    source = session.get(SyncSource, job.source_id)
    entry = session.get(CatalogEntry, job.entry_id)
    if source is None or entry is None:
        raise NotFound(_("Sync job not found"))
    merged = {"mapping": job.mapping, "mode": job.mode, "cursor_column": job.cursor_column,
              "schedule": job.schedule, "query": job.query, **changes}
    _check_job(entry, source, merged["mapping"], list(job.key), merged["mode"], merged["cursor_column"],
               merged["schedule"], merged["query"])
    before = {k: getattr(job, k) for k in changes}
    for k, v in changes.items():
        setattr(job, k, v)
    if {"mode", "cursor_column", "query"} & set(changes):
        job.watermark = None
    job.next_run_at = sync.next_run(job, False)
    session.flush()
    core.audit_record(session, actor, "sync_job_update", target_type="sync_job", target_id=job.id,
                      org_id=job.org_id, before=before, after=changes)
    return job


def sync_job_delete(session: Session, actor: Actor, job_id: uuid.UUID) -> None:
    """Remove a job and its run history (the rows it loaded stay)."""
    job = sync_job_get(session, actor, job_id)
    policies.sync_job_manage(actor, job.org_id)
    before = {"name": job.name}
    session.delete(job)
    session.flush()
    core.audit_record(session, actor, "sync_job_delete", target_type="sync_job", target_id=job_id,
                      org_id=job.org_id, before=before)


def sync_job_run(session: Session, actor: Actor, job_id: uuid.UUID, trigger: str = "manual",
                 progress: sync.Progress | None = None) -> SyncRun:
    """Run a job now; the run is recorded whether it succeeds or fails (a failed run writes no rows)."""
    job = sync_job_get(session, actor, job_id)
    policies.sync_job_run(actor, job.org_id)
    locked = session.scalar(select(SyncJob).where(SyncJob.id == job.id).with_for_update())
    source = session.get(SyncSource, job.source_id)
    entry = session.get(CatalogEntry, job.entry_id)
    if locked is None or source is None or entry is None:
        raise NotFound(_("Sync job not found"))
    run = SyncRun(job_id=job.id, trigger=trigger, started_at=clock.now(), rejects=[])
    session.add(run)
    session.flush()
    # an incremental run checks its own rows (before and after each batch) instead of the table afterwards
    delta = quality.RunDelta(session, entry, list(job.key)) if job.mode == "incremental" else None
    sync.execute(session, job, source, entry, run, progress, delta)
    if run.status == "succeeded":
        res = sync.target_table(session, entry)  # every sync is followed by the entry's quality checks
        quality.run_entry_checks(session, entry, delta, res.row_count)
        conformance.after_write(session, res, entry)  # and its standards conformance (nothing without elements)
        base.merge_after_sync(session, entry.id)  # and, when the entry feeds a base database, by its merge
    core.audit_record(session, actor, "sync_job_run", target_type="sync_job", target_id=job.id, org_id=job.org_id,
                      outcome="ok" if run.status == "succeeded" else "failed",
                      extra={"run": str(run.id), "read": run.rows_read, "inserted": run.rows_inserted,
                             "updated": run.rows_updated, "rejected": run.rows_rejected})
    return run


def sync_runs(session: Session, actor: Actor, job_id: uuid.UUID, limit: int = 50) -> list[SyncRun]:
    """A job's latest runs, newest first."""
    job = sync_job_get(session, actor, job_id)
    return list(session.scalars(select(SyncRun).where(SyncRun.job_id == job.id)
                                .order_by(SyncRun.started_at.desc()).limit(limit)))


def sync_due_jobs(session: Session, limit: int = 100) -> list[uuid.UUID]:
    """Scheduled jobs whose time has come, oldest first (the worker claims and runs each on its own)."""
    now = clock.now()
    return list(session.scalars(select(SyncJob.id).where(SyncJob.enabled.is_(True), SyncJob.schedule != "",
                                                         SyncJob.next_run_at <= now)
                                .order_by(SyncJob.next_run_at).limit(limit)))


def sync_job_claim(session: Session, job_id: uuid.UUID) -> bool:
    """Claim a due job for this worker (another worker that read it due too gets False)."""
    now = clock.now()
    res = session.execute(update(SyncJob).where(SyncJob.id == job_id, SyncJob.next_run_at <= now)
                          .values(next_run_at=None).execution_options(synchronize_session=False))
    return bool(res.rowcount)  # type: ignore[attr-defined]  # CursorResult


def sync_harvest_due(session: Session, limit: int = 100) -> list[uuid.UUID]:
    """Catalogue sources whose scheduled harvest is due (`options.every_hours`), for the sync worker."""
    return harvest.harvest_due_sources(session, limit)


def sync_harvest_claim(session: Session, source_id: uuid.UUID) -> bool:
    """Claim a due harvest in this transaction (False: another worker has it, or it is no longer due)."""
    return harvest.harvest_claim(session, source_id)


def sync_job_find(session: Session, actor: Actor, ref: str) -> SyncJob:
    """A job by id or by name (the CLI's argument)."""
    try:
        return sync_job_get(session, actor, uuid.UUID(ref))
    except ValueError:
        pass
    for job in session.scalars(select(SyncJob).where(SyncJob.name == ref)):
        if policies.collection_read(actor, job.org_id):
            return job
    raise NotFound(_("Sync job not found"))


def sync_runs_recent(session: Session, actor: Actor, limit: int = 60) -> list[SyncRun]:
    """The latest runs of every job the actor may see, newest first (the collection page's history)."""
    stmt = select(SyncRun).join(SyncJob, SyncJob.id == SyncRun.job_id).order_by(SyncRun.started_at.desc())
    clause = _visible_orgs_clause(actor, SyncJob.org_id)
    return list(session.scalars((stmt if clause is None else stmt.where(clause)).limit(limit)))


# ---- the CKAN DataStore write actions' service: create (fields, primary key), upsert, delete


def _table_for_write(session: Session, actor: Actor, resource_id: uuid.UUID) -> tuple[Resource, CatalogEntry]:
    res, entry = catalog.resource_get(session, actor, resource_id)
    policies.resource_manage(actor, entry.provider_org_id)
    if res.kind != "table":
        raise Conflict(_("This resource has no datastore table"), details={"kind": res.kind})
    return res, entry


def _converted(entry: CatalogEntry, names: list[str], records: list[Any]) -> tuple[list[dict[str, Any]],
                                                                                   list[list[Any]]]:
    """Records checked against the entry's items; every bad record and column is reported (none written)."""
    by = {it["name_en"]: it for it in entry.items}
    items = [by[n] for n in names]
    rows, errors = [], []
    for i, rec in enumerate(records):
        if not isinstance(rec, dict) or set(rec) != set(names):
            errors.append({"field": f"records.{i}", "message": f"record {i}: each record needs the same fields: "
                                                               + ", ".join(names)})
            continue
        row = []
        for it in items:
            try:
                row.append(convert(it, rec.get(it["name_en"])))
            except ValueError as exc:
                errors.append({"field": f"records.{i}.{it['name_en']}",
                               "message": f"record {i}, {it['name_en']}: {exc}"})
        rows.append(row)
    if errors:
        raise ValidationFailed(_("Some records do not match the entry's information items"), details=errors[:200])
    return items, rows


def _fields_of(entry: CatalogEntry, records: list[Any], key: list[str]) -> list[str]:
    names = {it["name_en"] for it in entry.items}
    first = records[0] if records and isinstance(records[0], dict) else {}
    unknown = sorted(set(first) - names)
    if unknown:
        raise ValidationFailed(_("Not an information item of the entry"), field=f"records.0.{unknown[0]}")
    missing = [k for k in key if k not in first]
    if missing:
        raise ValidationFailed(_("Every record needs the primary key"), field=f"records.0.{missing[0]}")
    return [it["name_en"] for it in entry.items if it["name_en"] in first]


def datastore_create(session: Session, actor: Actor, entry_id: uuid.UUID, fields: list[str], primary_key: list[str],
                     records: list[Any]) -> tuple[Resource, list[str], int]:
    """Make (or keep) the entry's datastore table, set its primary key, load records; (resource, key, rows)."""
    entry = refs.reference("resource.package_id", lambda: catalog.catalog_entry_get(session, actor, entry_id))
    policies.resource_manage(actor, entry.provider_org_id)
    names = {it["name_en"] for it in entry.items}
    for i, f in enumerate(fields):
        if f not in names:
            raise ValidationFailed(_("Not an information item of the entry"), field=f"fields.{i}.id")
    for k in primary_key:
        if k not in names:
            raise ValidationFailed(_("Not an information item of the entry"), field="primary_key")
    res = sync.target_table(session, entry)
    assert res.table_name is not None  # made by target_table
    if primary_key:
        existing = sync.key_columns(session, res.table_name)
        if existing and existing != primary_key:
            raise Conflict(_("The table already has another primary key"), details={"primary_key": existing})
        try:
            with session.begin_nested():
                sync.ensure_key(session, res.table_name, primary_key)
        except IntegrityError as exc:
            raise Conflict(_("Rows already repeat this primary key"), details={"primary_key": primary_key}) from exc
    n = 0
    if records:
        n = sum(datastore_upsert(session, actor, res.id, records, "upsert", audit=False))
    core.audit_record(session, actor, "datastore_create", target_type="resource", target_id=res.id,
                      org_id=entry.provider_org_id, after={"primary_key": primary_key, "records": len(records)})
    return res, sync.key_columns(session, res.table_name), n


def datastore_upsert(session: Session, actor: Actor, resource_id: uuid.UUID, records: list[Any], method: str,
                     *, audit: bool = True) -> tuple[int, int]:
    """Insert, update or upsert records by the table's primary key, all or none; (inserted, updated)."""
    res, entry = _table_for_write(session, actor, resource_id)
    if not res.table_name:
        raise Conflict(_("This resource has no datastore table"), details={"kind": res.kind})
    key = sync.key_columns(session, res.table_name)
    if not key:
        raise Conflict(_("The table has no primary key: datastore_create with primary_key first"))
    if not records:
        return 0, 0
    names = _fields_of(entry, records, key)
    items, rows = _converted(entry, names, records)
    pos = [names.index(k) for k in key]
    if len({tuple(r[p] for p in pos) for r in rows}) != len(rows):
        raise ValidationFailed(_("Records repeat a primary key"), field="records")
    if method not in ("insert", "update", "upsert"):
        raise ValidationFailed(_("method is insert, update or upsert"), field="method")
    with session.begin_nested():
        ins, upd, existed = sync.upsert_rows(session, res.table_name, items, key, rows)
        if method == "insert" and existed:
            raise Conflict(_("Some records already exist"), details={"existing": existed})
        if method == "update" and existed != len(rows):
            raise NotFound(_("Some records to update do not exist"))
    res.row_count = int(session.scalar(text(f"SELECT COUNT(*) FROM {quote(res.table_name)}")) or 0)
    res.loaded_at = clock.now()
    session.flush()
    conformance.after_write(session, res, entry)
    if audit:
        core.audit_record(session, actor, "datastore_upsert", target_type="resource", target_id=res.id,
                          org_id=entry.provider_org_id, after={"method": method, "inserted": ins, "updated": upd})
    return ins, upd


def datastore_delete(session: Session, actor: Actor, resource_id: uuid.UUID, filters: dict[str, Any]) -> int:
    """Delete the rows matching every filter (a value or a list of values per item); no filters: every row."""
    res, entry = _table_for_write(session, actor, resource_id)
    if not res.table_name:
        return 0
    by = {it["name_en"]: it for it in entry.items}
    where, binds = [], {}
    for i, (col, value) in enumerate(sorted(filters.items())):
        if col not in by:
            raise ValidationFailed(_("Not an information item of the entry"), field=f"filters.{col}")
        values = value if isinstance(value, list) else [value]
        try:
            conv = [convert({**by[col], "required": False}, v) for v in values]
        except ValueError as exc:
            raise ValidationFailed(str(exc), field=f"filters.{col}") from exc
        if is_postgres(session):
            names = [f"CAST(:f{i}_{j} AS {sync.pg_type(by[col])})" for j in range(len(conv))]
        else:
            names = [f":f{i}_{j}" for j in range(len(conv))]
        for j, v in enumerate(conv):
            binds[f"f{i}_{j}"] = v if is_postgres(session) else sqlite_value(by[col], v)
        where.append(f"{quote(col)} IN ({', '.join(names)})" if names else "false")
    sql = f"DELETE FROM {quote(res.table_name)}" + (f" WHERE {' AND '.join(where)}" if where else "")
    n = int(session.execute(text(sql), binds).rowcount)  # type: ignore[attr-defined]  # CursorResult
    res.row_count = int(session.scalar(text(f"SELECT COUNT(*) FROM {quote(res.table_name)}")) or 0)
    session.flush()
    if n:
        conformance.after_write(session, res, entry)
    core.audit_record(session, actor, "datastore_delete", target_type="resource", target_id=res.id,
                      org_id=entry.provider_org_id, after={"filters": sorted(filters), "deleted": n})
    return n
