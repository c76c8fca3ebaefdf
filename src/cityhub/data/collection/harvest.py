"""Harvesting a remote CKAN (or DCAT) catalogue into the registering unit's catalog, with provenance on each entry.

A `ckan` source (a `SyncSource` of kind `ckan`, the catalogue's base URL on the egress allow-list) is paged through
with the Action API's `package_search` (`rows`/`start`, sorted by name so pages do not shift). Each remote
dataset becomes a draft catalog entry of the source's unit (`catalog_entry_create`, so codes, slugs, search rows
and the audit row are the catalog's own), carrying its provenance: the source, the remote id and name, the
remote `metadata_modified` and when it was taken (`harvested_at`). A re-harvest rewrites only datasets whose
remote modified time changed (through `catalog_entry_update`: a published entry's changes wait for re-review);
datasets gone from the remote are flagged `harvest_gone`, never deleted, and unflagged when they return.

One run is all or nothing for the remote: an unreachable or malformed catalogue fails the run and writes no
entries (one savepoint); one bad dataset is a failure of that dataset only (its own savepoint), counted and named
on the run. Gone flags are set only after every page was read. A `dcat` source is read by `read_dcat` into the
same package shape and goes through the same loop.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cityhub.core import service as core
from cityhub.core.service import Actor
from cityhub.data import policies
from cityhub.data.catalog import service as catalog
from cityhub.data.collection import connectors
from cityhub.data.models import CatalogEntry, HarvestRun, SyncSource
from cityhub.data.schemas import EntryCreate, EntryUpdate, InfoItem
from cityhub.kit import clock, egress, safejson
from cityhub.kit.db import is_postgres
from cityhub.kit.errors import CityhubError, NotFound, ValidationFailed
from cityhub.kit.i18n import gettext as _

MAX_PAGES = 10_000
HARVESTED = ("ckan", "dcat")  # source kinds harvested into the catalog rather than synced into a table
MAX_FAILURES_KEPT = 200
# a dataset without cityhub's `items` extra is catalogued as one information item: the remote resource itself
_FALLBACK_ITEMS = [{"name_cn": "数据资源", "name_en": "resource", "data_type": "C",
                    "description": "Harvested from a CKAN catalogue"}]


MAX_EVERY_HOURS = 24 * 30
RETRY_AFTER = timedelta(hours=1)  # a failed scheduled harvest is tried again after this at most


def check_schedule(options: dict[str, Any], out: dict[str, Any]) -> None:
    """`every_hours` (1 to 720): the sync worker harvests the source when its latest run is that old."""
    if "every_hours" in options:
        n = options["every_hours"]
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_EVERY_HOURS:
            raise ValidationFailed(_("A whole number of hours from 1 to 720 is needed"), field="options.every_hours")
        out["every_hours"] = n


def check_dcat_options(options: dict[str, Any]) -> dict[str, Any]:
    """A DCAT source's only option is its schedule, `every_hours`."""
    if set(options) - {"every_hours"}:
        raise ValidationFailed(_("A DCAT source takes only every_hours"), field="options")
    out: dict[str, Any] = {}
    check_schedule(options, out)
    return out


def check_options(options: dict[str, Any]) -> dict[str, Any]:
    """A CKAN source's options: `page_size` (1-1000, default 100), `fq` (package_search's filter), `every_hours`."""
    if set(options) - {"page_size", "fq", "every_hours"}:
        raise ValidationFailed(_("A CKAN source takes page_size, fq and every_hours"), field="options")
    out: dict[str, Any] = {}
    check_schedule(options, out)
    if "page_size" in options:
        n = options["page_size"]
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 1000:
            raise ValidationFailed(_("A whole number from 1 to 1000 is needed"), field="options.page_size")
        out["page_size"] = n
    if "fq" in options:
        if not isinstance(options["fq"], str) or len(options["fq"]) > 500:
            raise ValidationFailed(_("A filter of at most 500 characters is needed"), field="options.fq")
        out["fq"] = options["fq"]
    return out


def read_packages(base_url: str, headers: dict[str, str], options: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
    """The remote catalogue's datasets, one `package_search` page at a time (raises SourceError on any failure)."""
    import httpx

    url = base_url.rstrip("/") + "/api/3/action/package_search"
    try:  # the allow-list may have changed since the source was registered
        egress.check_url(url, field="url", listed_only=True)
    except ValidationFailed as exc:
        raise connectors.SourceError(exc.message) from exc
    rows = int(options.get("page_size", 100))
    params: dict[str, Any] = {"rows": rows, "sort": "name asc"}
    if options.get("fq"):
        params["fq"] = str(options["fq"])
    start = 0
    with egress.client(timeout=30, listed_only=True, transport=connectors.HTTP_TRANSPORT) as client:
        for page in range(1, MAX_PAGES + 1):
            try:
                resp = client.get(url, params={**params, "start": start}, headers=headers)
                if len(resp.content) > connectors.HTTP_MAX_BYTES:
                    raise connectors.SourceError(f"page {page}: answer over {connectors.HTTP_MAX_BYTES} bytes")
                resp.raise_for_status()
                body = safejson.loads(resp.content, max_bytes=connectors.HTTP_MAX_BYTES, field="source")
            except (httpx.HTTPError, ValidationFailed) as exc:
                raise connectors.SourceError(f"page {page}: {type(exc).__name__}: {exc}") from exc
            result = body.get("result") if isinstance(body, dict) and body.get("success") is True else None
            packages = result.get("results") if isinstance(result, dict) else None
            count = result.get("count") if isinstance(result, dict) else None
            if not isinstance(packages, list) or not isinstance(count, int):
                raise connectors.SourceError(f"page {page}: not a CKAN package_search answer")
            yield [p for p in packages if isinstance(p, dict)]
            start += len(packages)
            if not packages or start >= count:
                return
    raise connectors.SourceError(f"more than {MAX_PAGES} pages")


_RDF_FORMATS = {"text/turtle": "turtle", "application/x-turtle": "turtle", "application/rdf+xml": "xml",
                "application/xml": "xml", "text/xml": "xml"}


def read_dcat(url: str, headers: dict[str, str]) -> Iterator[list[dict[str, Any]]]:
    """A DCAT catalogue's datasets (Turtle or RDF/XML), one page at a time along `hydra:nextPage` on the same host.

    Each dataset is given the shape of a CKAN package (`id` = its IRI, `name` = the IRI's last segment, `title`,
    `notes`, `tags`, `metadata_modified` = `dct:modified`), so one harvest loop serves both. JSON-LD is refused: its
    parser would fetch a remote `@context` outside the egress checks.
    """
    import httpx
    from rdflib import Graph, Literal, Namespace, URIRef
    from rdflib.namespace import DCAT, DCTERMS, RDF

    hydra = Namespace("http://www.w3.org/ns/hydra/core#")
    host = urlsplit(url).netloc
    pages: set[str] = set()
    with egress.client(timeout=30, listed_only=True, transport=connectors.HTTP_TRANSPORT) as client:
        for page in range(1, MAX_PAGES + 1):
            if urlsplit(url).netloc != host or url in pages:
                raise connectors.SourceError(f"page {page}: the next page leaves the catalogue or repeats: {url}")
            pages.add(url)
            try:
                egress.check_url(url, field="url", listed_only=True)
                resp = client.get(url, headers={"Accept": "text/turtle, application/rdf+xml;q=0.8", **headers})
                if len(resp.content) > connectors.HTTP_MAX_BYTES:
                    raise connectors.SourceError(f"page {page}: answer over {connectors.HTTP_MAX_BYTES} bytes")
                resp.raise_for_status()
                fmt = _RDF_FORMATS.get(resp.headers.get("content-type", "").split(";")[0].strip().lower())
                if fmt is None:
                    raise connectors.SourceError(f"page {page}: not Turtle or RDF/XML "
                                                 f"({resp.headers.get('content-type', '')})")
                g = Graph()
                g.parse(data=resp.content, format=fmt)
            except (httpx.HTTPError, ValidationFailed, ValueError, SyntaxError) as exc:
                raise connectors.SourceError(f"page {page}: {type(exc).__name__}: {exc}") from exc

            def text(node: Any, pred: Any, graph: Graph = g) -> str:
                values = [o for o in graph.objects(node, pred) if isinstance(o, Literal)]
                zh = [o for o in values if (o.language or "").startswith("zh")]
                return str((zh or values)[0]) if values else ""

            out = []
            for ds in g.subjects(RDF.type, DCAT.Dataset):
                if not isinstance(ds, URIRef):
                    continue  # a blank-node dataset has no identity to harvest again
                modified: Any = next((o.toPython() for o in g.objects(ds, DCTERMS.modified)
                                      if isinstance(o, Literal)), None)
                out.append({"id": str(ds), "name": str(ds).rstrip("/").rsplit("/", 1)[-1],
                            "title": text(ds, DCTERMS.title), "notes": text(ds, DCTERMS.description),
                            "tags": [{"name": str(k)} for k in g.objects(ds, DCAT.keyword)],
                            "metadata_modified": modified.isoformat() if isinstance(modified, datetime) else None})
            yield sorted(out, key=lambda d: d["id"])
            nxt = next(iter(g.objects(None, hydra.nextPage)), None)
            if nxt is None:
                return
            url = str(nxt)
    raise connectors.SourceError(f"more than {MAX_PAGES} pages")


def _modified(pkg: dict[str, Any]) -> datetime:
    raw = pkg.get("metadata_modified")
    if not isinstance(raw, str):
        raise ValueError("metadata_modified is missing")
    value = datetime.fromisoformat(raw)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _items(pkg: dict[str, Any]) -> list[dict[str, Any]]:
    """Information items from a cityhub remote's `items` extra (names and types only), else the fallback item."""
    for extra in pkg.get("extras") or []:
        if isinstance(extra, dict) and extra.get("key") == "items":
            try:
                raw = safejson.loads(str(extra.get("value") or "[]"), field="extras.items")
                if not isinstance(raw, list):
                    continue
                items = [InfoItem.model_validate({k: i.get(k) for k in ("name_cn", "name_en", "data_type")})
                         .model_dump() for i in raw if isinstance(i, dict)]
            except (ValueError, ValidationError, ValidationFailed):
                continue
            if items:
                return items
    return [dict(i) for i in _FALLBACK_ITEMS]


def _fields(pkg: dict[str, Any]) -> dict[str, Any]:
    """The catalog fields a remote dataset fills: title, abstract, tags (the rest are the unit's to decide)."""
    title = str(pkg.get("title") or pkg.get("name") or "").strip()[:200]
    tags = [str(t.get("name"))[:30] for t in pkg.get("tags") or [] if isinstance(t, dict) and t.get("name")]
    return {"title": title, "abstract": str(pkg.get("notes") or "")[:4000], "tags": tags[:30]}


def _create(session: Session, actor: Actor, src: SyncSource, pkg: dict[str, Any]) -> CatalogEntry:
    host = urlsplit(src.url).netloc
    data = EntryCreate.model_validate({
        **_fields(pkg), "provider_org_id": src.org_id, "classification": "department", "format_category": "file",
        "items": _items(pkg), "share_type": "unconditional", "open_type": "none", "update_cycle": "irregular",
        "security_grade": "general", "source_system": f"{src.kind.upper()} {host}"[:200]})
    return catalog.catalog_entry_create(session, actor, data)


def _update(session: Session, actor: Actor, entry: CatalogEntry, pkg: dict[str, Any]) -> None:
    fields = _fields(pkg)
    current = {**{k: getattr(entry, k) for k in fields}, **{k: v for k, v in (entry.pending_changes or {}).items()
                                                            if k in fields}}
    changes = {k: v for k, v in fields.items() if current.get(k) != v}
    if changes:
        catalog.catalog_entry_update(session, actor, entry.id, EntryUpdate.model_validate(changes))


def sync_source_harvest(session: Session, actor: Actor, source_id: uuid.UUID, trigger: str = "manual") -> HarvestRun:
    """Harvest a CKAN source now; the run is recorded whether it succeeds or fails (a failed run writes nothing)."""
    from cityhub.data.collection.service import sync_source_get
    from cityhub.data.collection.sync import credentials

    src = sync_source_get(session, actor, source_id)
    if src.kind not in HARVESTED:
        raise NotFound(_("Catalogue source not found"))
    policies.sync_source_harvest(actor, src.org_id)
    policies.catalog_entry_create(actor, src.org_id)
    run = HarvestRun(source_id=src.id, trigger=trigger, started_at=clock.now(), failures=[])
    session.add(run)
    session.flush()
    t0 = time.perf_counter()
    headers = {str(k): str(v) for k, v in dict(credentials(src).get("headers", {})).items()}
    existing = {e.harvest_remote_id: e for e in session.scalars(
        select(CatalogEntry).where(CatalogEntry.harvest_source_id == src.id))}
    seen: set[str] = set()
    counts = {"created": 0, "updated": 0, "unchanged": 0, "gone": 0, "failed": 0, "read": 0, "pages": 0}
    failures: list[dict[str, Any]] = []
    try:
        with session.begin_nested():
            reader = (read_packages(src.url, headers, src.options or {}) if src.kind == "ckan"
                      else read_dcat(src.url, headers))
            for page in reader:
                counts["pages"] += 1
                for pkg in page:
                    counts["read"] += 1
                    remote_id = str(pkg.get("id") or "")[:200]
                    name = str(pkg.get("name") or "")[:200]
                    try:
                        if not remote_id:
                            raise ValueError("the dataset has no id")
                        modified = _modified(pkg)
                        seen.add(remote_id)
                        entry = existing.get(remote_id)
                        if entry is not None and entry.harvest_remote_modified == modified and not entry.harvest_gone:
                            counts["unchanged"] += 1
                            continue
                        with session.begin_nested():
                            created = entry is None
                            if entry is None:
                                entry = _create(session, actor, src, pkg)
                                entry.harvest_source_id = src.id
                                entry.harvest_remote_id = remote_id
                            else:
                                _update(session, actor, entry, pkg)
                            entry.harvest_remote_name = name
                            entry.harvest_remote_modified = modified
                            entry.harvested_at = clock.now()
                            entry.harvest_gone = False
                            session.flush()
                        existing[remote_id] = entry
                        counts["created" if created else "updated"] += 1
                    except (ValueError, ValidationError, CityhubError) as exc:
                        counts["failed"] += 1
                        if len(failures) < MAX_FAILURES_KEPT:
                            failures.append({"remote": name or remote_id, "message": _failure(exc)})
            for remote_id, entry in existing.items():
                if remote_id not in seen and not entry.harvest_gone:
                    entry.harvest_gone = True
                    counts["gone"] += 1
                    core.audit_record(session, actor, "catalog_entry_harvest_gone", target_type="catalog_entry",
                                      target_id=entry.id, org_id=entry.provider_org_id,
                                      extra={"source": str(src.id), "remote_id": remote_id,
                                             "remote_name": entry.harvest_remote_name})
            session.flush()
        run.status = "succeeded"
    except connectors.SourceError as exc:
        run.status = "failed"
        run.error = connectors.describe(exc)
        counts.update(created=0, updated=0, unchanged=0, gone=0, failed=0)
        failures = []
    run.pages, run.datasets_read = counts["pages"], counts["read"]
    run.created, run.updated, run.unchanged = counts["created"], counts["updated"], counts["unchanged"]
    run.gone, run.failed, run.failures = counts["gone"], counts["failed"], failures
    run.finished_at = clock.now()
    run.duration_ms = int((time.perf_counter() - t0) * 1000)
    session.flush()
    core.audit_record(session, actor, "sync_source_harvest", target_type="sync_source", target_id=src.id,
                      org_id=src.org_id, outcome="ok" if run.status == "succeeded" else "failed",
                      extra={"run": str(run.id), "read": run.datasets_read, "created": run.created,
                             "updated": run.updated, "unchanged": run.unchanged, "gone": run.gone,
                             "failed": run.failed})
    return run


def harvest_due_sources(session: Session, limit: int = 100) -> list[uuid.UUID]:
    """Catalogue sources with a schedule whose latest harvest is `every_hours` old (a failed one: an hour)."""
    now = clock.now()
    latest = (select(HarvestRun.source_id, func.max(HarvestRun.started_at).label("at"))
              .group_by(HarvestRun.source_id).subquery())
    due = []
    rows = session.execute(select(SyncSource, latest.c.at).outerjoin(latest, latest.c.source_id == SyncSource.id)
                           .where(SyncSource.kind.in_(HARVESTED)).order_by(latest.c.at.nullsfirst()))
    for src, at in rows:
        if _is_due(session, src, at, now):
            due.append(src.id)
            if len(due) >= limit:
                break
    return due


def _is_due(session: Session, src: SyncSource, at: datetime | None, now: datetime) -> bool:
    every = (src.options or {}).get("every_hours")
    if not isinstance(every, int) or every < 1:
        return False
    if at is None:
        return True
    at = clock.as_utc(at)
    if at + timedelta(hours=every) <= now:
        return True
    status = session.scalar(select(HarvestRun.status).where(HarvestRun.source_id == src.id)
                            .order_by(HarvestRun.started_at.desc()).limit(1))
    return status == "failed" and at + min(RETRY_AFTER, timedelta(hours=every)) <= now


def harvest_claim(session: Session, source_id: uuid.UUID) -> bool:
    """Claim a due scheduled harvest for this worker's transaction (another worker skips the locked source)."""
    stmt = select(SyncSource).where(SyncSource.id == source_id)
    if is_postgres(session):
        stmt = stmt.with_for_update(skip_locked=True)
    src = session.scalar(stmt)
    if src is None:
        return False
    at = session.scalar(select(func.max(HarvestRun.started_at)).where(HarvestRun.source_id == src.id))
    return _is_due(session, src, at, clock.now())


def _failure(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"[:500]
    return str(exc)[:500] or type(exc).__name__


def sync_source_harvest_runs(session: Session, actor: Actor, source_id: uuid.UUID, limit: int = 50) -> list[HarvestRun]:
    """A CKAN source's latest harvest runs, newest first."""
    from cityhub.data.collection.service import sync_source_get

    src = sync_source_get(session, actor, source_id)
    return list(session.scalars(select(HarvestRun).where(HarvestRun.source_id == src.id)
                                .order_by(HarvestRun.started_at.desc()).limit(limit)))
