"""Resources mounted on catalog entries and their content: upstream APIs, files, datastore tables.

Uploads are validated against the entry's information items and swapped in atomically; reads decide per caller
what they receive (`datastore_query`: the provider in clear, the bureau masked, grantees their granted items
masked; `datastore_query_open`: the open items of an entry open without conditions).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from cityhub.core import service as core
from cityhub.core.service import Actor
from cityhub.data import policies
from cityhub.data.catalog import service as catalog
from cityhub.data.datastore._parse import convert, converted_rows, map_header, read_table
from cityhub.data.datastore.reads import open_items, query_rows
from cityhub.data.datastore.stores import (
    bulk_insert,
    carry_indexes,
    cascade,
    create_table,
    fernet,
    files_dir,
    index_name,
    indexed_columns,
    quote,
)
from cityhub.data.models import CatalogEntry, DataLoad, Resource
from cityhub.data.schemas import ResourceApiCreate
from cityhub.data.sharing.grants import grant_for_use, grant_rows, log_access, usable_grant
from cityhub.data.standards import stored as conformance
from cityhub.kit import clock, egress
from cityhub.kit.errors import Conflict, Forbidden, NotFound, ValidationFailed
from cityhub.kit.i18n import gettext as _


def _entry_for_manage(session: Session, actor: Actor, entry_id: uuid.UUID) -> CatalogEntry:
    entry = catalog.catalog_entry_get(session, actor, entry_id)
    policies.resource_manage(actor, entry.provider_org_id)
    return entry


def resource_api_create(session: Session, actor: Actor, entry_id: uuid.UUID, data: ResourceApiCreate) -> Resource:
    """Mount an upstream HTTP API; its credentials are encrypted at rest and never returned."""
    entry = _entry_for_manage(session, actor, entry_id)
    egress.check_url(data.upstream_url, field="upstream_url")  # no proxy to internal addresses (checked again per call)
    enc = fernet().encrypt(json.dumps(data.credentials).encode()).decode() if data.credentials else ""
    res = Resource(entry_id=entry.id, kind="api", title=data.title, upstream_url=data.upstream_url,
                   upstream_method=data.upstream_method, credentials_enc=enc)
    session.add(res)
    session.flush()
    core.audit_record(session, actor, "resource_create", target_type="resource", target_id=res.id,
                      org_id=entry.provider_org_id, after={"kind": "api", "url": data.upstream_url,
                                                           "credentials": sorted(data.credentials)})
    return res


def resource_file_upload(session: Session, actor: Actor, entry_id: uuid.UUID, title: str, filename: str,
                         media_type: str, stream: IO[bytes], resource_id: uuid.UUID | None = None) -> Resource:
    """Mount (or atomically replace) a file resource; the bytes are streamed to disk."""
    entry = _entry_for_manage(session, actor, entry_id)
    res = _existing_resource(session, entry, resource_id, "file")
    if res is None:
        res = Resource(entry_id=entry.id, kind="file", title=title or filename)
        session.add(res)
        session.flush()
    folder = files_dir()
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f"{res.id.hex}.{uuid.uuid4().hex[:8]}.part"
    digest, size = hashlib.sha256(), 0
    with tmp.open("wb") as out:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
    if size == 0:
        tmp.unlink(missing_ok=True)
        raise ValidationFailed(_("The file is empty"), field="file")
    tmp.replace(folder / res.id.hex)  # atomic on one file system
    res.file_name, res.file_size, res.file_sha256 = filename[:200], size, digest.hexdigest()
    res.media_type = media_type[:100]
    res.loaded_at = clock.now()
    session.flush()
    core.audit_record(session, actor, "resource_upload", target_type="resource", target_id=res.id,
                      org_id=entry.provider_org_id, after={"kind": "file", "size": size, "sha256": res.file_sha256})
    return res


def resource_update(session: Session, actor: Actor, resource_id: uuid.UUID, title: str) -> Resource:
    """Rename a mounted resource (its rows or bytes change only by upload)."""
    res, entry = catalog.resource_get(session, actor, resource_id)
    policies.resource_manage(actor, entry.provider_org_id)
    title = title.strip()
    if not title or len(title) > 200:
        raise ValidationFailed(_("A title of 1-200 characters is needed"), field="name")
    before = {"title": res.title}
    res.title = title
    session.flush()
    core.audit_record(session, actor, "resource_update", target_type="resource", target_id=res.id,
                      org_id=entry.provider_org_id, before=before, after={"title": title})
    return res


def resource_delete(session: Session, actor: Actor, resource_id: uuid.UUID) -> None:
    """Unmount a resource: its datastore table or file goes with it (grants keep the entry, not the rows)."""
    res, entry = catalog.resource_get(session, actor, resource_id)
    policies.resource_manage(actor, entry.provider_org_id)
    before = {"kind": res.kind, "title": res.title, "table": res.table_name, "rows": res.row_count}
    if res.table_name:
        session.execute(text(f"DROP TABLE IF EXISTS {quote(res.table_name)}{cascade(session)}"))
    session.delete(res)
    session.flush()
    if res.kind == "file":
        (files_dir() / res.id.hex).unlink(missing_ok=True)  # after the flush: a failed delete keeps the file
    core.audit_record(session, actor, "resource_delete", target_type="resource", target_id=resource_id,
                      org_id=entry.provider_org_id, before=before)


def _existing_resource(session: Session, entry: CatalogEntry, resource_id: uuid.UUID | None,
                       kind: str) -> Resource | None:
    if resource_id is None:
        return None
    res = session.get(Resource, resource_id)
    if res is None or res.entry_id != entry.id:
        raise NotFound(_("Resource not found"))
    if res.kind != kind:
        raise Conflict(_("The resource is of another kind"), details={"kind": res.kind})
    return res


def resource_table_upload(session: Session, actor: Actor, entry_id: uuid.UUID, filename: str, stream: IO[bytes],
                          title: str = "", resource_id: uuid.UUID | None = None) -> tuple[Resource | None, DataLoad]:
    """Validate a CSV/XLSX against the entry's information items and, only if every row is valid, load it.

    The load goes into a fresh staging table (COPY on PostgreSQL) and is swapped in within the caller's
    transaction, so readers see the old rows or the new rows, never a mix. A refused upload loads nothing and
    returns the per-row/column error report (the attempt itself is recorded for the field pass-rate KPI).
    """
    entry = _entry_for_manage(session, actor, entry_id)
    res = _existing_resource(session, entry, resource_id, "table")
    items = list(entry.items or [])
    encoding, header, rows = read_table(stream, filename)
    positions, errors = map_header(header, items)
    counter = {"total": 0, "bad": 0}
    for _row in converted_rows(rows, items, positions, errors, counter):
        pass  # pass 1: validate only
    load = DataLoad(entry_id=entry.id, resource_id=res.id if res else None, provider_org_id=entry.provider_org_id,
                    encoding=encoding, rows_total=counter["total"], rows_bad=counter["bad"], errors=errors)
    if errors or counter["total"] == 0:
        if counter["total"] == 0 and not errors:
            errors.append({"row": 2, "column": "", "message": "no data rows"})
        load.accepted = False
        session.add(load)
        session.flush()
        core.audit_record(session, actor, "resource_upload", target_type="catalog_entry", target_id=entry.id,
                          org_id=entry.provider_org_id, outcome="refused",
                          extra={"rows": counter["total"], "bad_rows": counter["bad"], "encoding": encoding})
        return res, load
    if res is None:
        res = Resource(entry_id=entry.id, kind="table", title=title or entry.title)
        session.add(res)
        session.flush()
    load.resource_id = res.id
    table = f"ds_{res.id.hex}"
    staging = f"{table}_{uuid.uuid4().hex[:8]}"
    cols = [it["name_en"] for it in items]
    create_table(session, staging, items)
    _, _, rows2 = read_table(stream, filename)
    counter2 = {"total": 0, "bad": 0}
    n = bulk_insert(session, staging, items, converted_rows(rows2, items, positions, None, counter2))
    carry_indexes(session, table, staging)
    session.execute(text(f"DROP TABLE IF EXISTS {quote(table)}{cascade(session)}"))
    session.execute(text(f"ALTER TABLE {quote(staging)} RENAME TO {quote(table)}"))
    res.table_name, res.columns, res.row_count, res.loaded_at = table, cols, n, clock.now()
    load.accepted = True
    session.add(load)
    session.flush()
    conformance.after_write(session, res, entry)
    core.audit_record(session, actor, "resource_upload", target_type="resource", target_id=res.id,
                      org_id=entry.provider_org_id, after={"rows": n, "encoding": encoding, "columns": cols})
    return res, load


def datastore_index(session: Session, actor: Actor, resource_id: uuid.UUID, columns: list[str]) -> list[str]:
    """Index datastore columns that readers filter on (CKAN's datastore `indexes`); kept across re-uploads."""
    res, entry = catalog.resource_get(session, actor, resource_id)
    policies.resource_manage(actor, entry.provider_org_id)
    if res.kind != "table" or not res.table_name:
        raise Conflict(_("This resource has no datastore table"), details={"kind": res.kind})
    existing = set(indexed_columns(session, res.table_name))
    made = []
    for col in columns:
        if col not in res.columns:
            raise ValidationFailed(_("Unknown column"), field=f"columns.{col}")
        if col not in existing:
            # (column, _id): filtered pages come out in keyset order and counts can be index-only scans
            session.execute(text(f"CREATE INDEX {quote(index_name(res.table_name, col))} "
                                 f'ON {quote(res.table_name)} ({quote(col)}, "_id")'))
            made.append(col)
    session.flush()
    core.audit_record(session, actor, "resource_index", target_type="resource", target_id=res.id,
                      org_id=entry.provider_org_id, after={"columns": sorted(existing | set(made))})
    return sorted(existing | set(made))


def datastore_bulk_load(session: Session, actor: Actor, entry_id: uuid.UUID, rows: Iterable[list[Any]],
                        title: str = "") -> Resource:
    """Load already-typed rows (demo, benchmark) through the same staging-and-swap path, validated per cell."""
    entry = _entry_for_manage(session, actor, entry_id)
    items = list(entry.items or [])
    res = session.scalar(select(Resource).where(Resource.entry_id == entry.id, Resource.kind == "table"))
    if res is None:
        res = Resource(entry_id=entry.id, kind="table", title=title or entry.title)
        session.add(res)
        session.flush()
    table = f"ds_{res.id.hex}"
    staging = f"{table}_{uuid.uuid4().hex[:8]}"
    create_table(session, staging, items)

    def checked() -> Iterator[list[Any]]:
        for i, r in enumerate(rows, start=1):
            try:
                yield [convert(it, v) for it, v in zip(items, r, strict=True)]
            except ValueError as exc:
                raise ValidationFailed(f"row {i}: {exc}", field="rows") from exc

    n = bulk_insert(session, staging, items, checked())
    carry_indexes(session, table, staging)
    session.execute(text(f"DROP TABLE IF EXISTS {quote(table)}{cascade(session)}"))
    session.execute(text(f"ALTER TABLE {quote(staging)} RENAME TO {quote(table)}"))
    res.table_name, res.columns, res.row_count, res.loaded_at = table, [i["name_en"] for i in items], n, clock.now()
    session.add(DataLoad(entry_id=entry.id, resource_id=res.id, provider_org_id=entry.provider_org_id, encoding="rows",
                         rows_total=n, rows_bad=0, accepted=True))
    session.flush()
    conformance.after_write(session, res, entry)
    core.audit_record(session, actor, "resource_upload", target_type="resource", target_id=res.id,
                      org_id=entry.provider_org_id, after={"rows": n})
    return res


def datastore_query(
    session: Session, actor: Actor, resource_id: uuid.UUID, filters: dict[str, Any] | None = None,
    q: str | dict[str, str] | None = None, fields: list[str] | None = None, sort: str | None = None,
    limit: int = 100, offset: int = 0, include_total: bool = True, after: int | None = None, *, with_id: bool = False,
) -> tuple[list[str], list[dict[str, Any]], int | None, int | None]:
    """Rows of a table resource for a reader outside the grant path.

    The provider sees clear values; the bureau and platform admins see every item masked; a unit holding an
    active grant on the entry sees its granted items masked; anybody else is refused.
    Returns (fields, records, total, next_after).
    """
    res, entry = catalog.resource_get(session, actor, resource_id)
    if policies.datastore_read_full(actor, entry.provider_org_id):
        return query_rows(session, res, entry, None, False, filters, q, fields, sort, limit, offset,
                           include_total, after, with_id)
    if policies.is_bureau(actor):
        return query_rows(session, res, entry, None, True, filters, q, fields, sort, limit, offset,
                           include_total, after, with_id)
    grant = usable_grant(session, actor, entry.id)
    if grant is None:
        raise Forbidden(_("Request access to this entry first"), code="no_grant")
    return grant_rows(session, actor, grant.id, filters, q, fields, sort, limit, offset, include_total, after,
                      resource_id=res.id, with_id=with_id)


def datastore_query_open(
    session: Session, resource: Resource, entry: CatalogEntry, filters: dict[str, Any] | None = None,
    q: str | dict[str, str] | None = None, fields: list[str] | None = None, sort: str | None = None,
    limit: int = 100, offset: int = 0, include_total: bool = True, after: int | None = None, with_id: bool = False,
) -> tuple[list[str], list[dict[str, Any]], int | None, int | None]:
    """Rows of a 无条件开放 entry for anybody: only its open items (the caller has checked the entry is open)."""
    if not catalog.is_open_without_conditions(entry) or resource.entry_id != entry.id:
        raise Forbidden(_("This data is not open without conditions"), code="not_open")
    return query_rows(session, resource, entry, open_items(entry), True, filters, q, fields, sort, limit, offset,
                       include_total, after, with_id)


def resource_file_open(session: Session, actor: Actor, resource_id: uuid.UUID) -> tuple[Resource, Path]:
    """A file resource for the provider, the bureau, or a unit with an active grant (logged)."""
    res, entry = catalog.resource_get(session, actor, resource_id)
    if not (policies.is_staff(actor, entry.provider_org_id) or policies.is_bureau(actor)):
        grant = usable_grant(session, actor, entry.id)
        if grant is None:
            raise Forbidden(_("Request access to this entry first"), code="no_grant")
        grant, entry = grant_for_use(session, actor, grant.id)
        if res.kind == "file":
            log_access(session, actor, grant, entry, res.id, 0, "file")
    if res.kind != "file":
        raise Conflict(_("Not a file resource"))
    path = files_dir() / res.id.hex
    if not path.exists():
        raise NotFound(_("The file is missing on disk"))
    return res, path
