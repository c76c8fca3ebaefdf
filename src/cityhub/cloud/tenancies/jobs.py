"""Provider jobs: provision, resize and reclaim a request's resources, with leases, retries and backoff.

A job runs under a row lock (PostgreSQL: `SKIP LOCKED`, so several workers share the queue) and a lease, so a
worker that died mid-attempt is resumed once the lease expires. Provider errors are recorded and retried with
exponential backoff (`JOB_BACKOFF_S` × 2ⁿ); after the last attempt the provisioning is given up and cleaned up.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from cityhub.cloud import policies
from cityhub.cloud.models import (
    HOLDING,
    CatalogItem,
    Job,
    JobStatus,
    Pool,
    ProviderAccount,
    RequestStatus,
    Resource,
    ResourceRequest,
    ResourceStatus,
)
from cityhub.cloud.plugins import CloudProvider, ProviderError
from cityhub.cloud.providers.service import provider_of
from cityhub.cloud.tenancies.service import REQUEST_FLOW, allocate, demand
from cityhub.core import service as core
from cityhub.core.service import Actor
from cityhub.kit import clock
from cityhub.kit.db import get_or_404, is_postgres
from cityhub.kit.errors import NotFound, ServiceUnavailable, transition
from cityhub.kit.i18n import gettext as _
from cityhub.kit.metrics import REGISTRY
from cityhub.kit.pagination import PageParams, paginate

log = logging.getLogger("cityhub.cloud")

try:
    from prometheus_client import Counter

    JOBS_COUNTER = Counter("cityhub_cloud_jobs_total", "Cloud provider jobs run, by kind and outcome",
                           ["kind", "outcome"], registry=REGISTRY)
except ValueError:  # pragma: no cover - module re-imported in the same process
    JOBS_COUNTER = None  # type: ignore[assignment]  # the counter is registered once per process

JOB_BACKOFF_S = 30
JOB_LEASE_S = 600


def job_list(session: Session, actor: Actor, page: PageParams, status: str | None = None) -> tuple[list[Job], int]:
    """Provider jobs (platform team)."""
    policies.platform_inspect(actor)
    stmt = select(Job).order_by(Job.created_at.desc(), Job.id)
    if status:
        stmt = stmt.where(Job.status == status)
    return paginate(session, stmt, page)


def jobs_due(session: Session, limit: int = 100) -> list[uuid.UUID]:
    """Jobs to run now: pending and due, or running with an expired lease (a worker died: resume them)."""
    now = clock.now()
    stmt = (select(Job.id).where(or_(and_(Job.status == JobStatus.PENDING, Job.next_run_at <= now),
                                     and_(Job.status == JobStatus.RUNNING, Job.next_run_at <= now)))
            .order_by(Job.next_run_at).limit(limit))
    return list(session.scalars(stmt))


def job_execute(session: Session, actor: Actor, job_id: uuid.UUID) -> Job:
    """Run one job attempt; provider errors are recorded and retried with exponential backoff, never raised."""
    policies.job_execute(actor)
    stmt = select(Job).where(Job.id == job_id)
    if is_postgres(session):
        # Several workers may poll the same queue: the row lock is held for the whole attempt and a locked job is
        # skipped, so an attempt never runs twice at once.
        stmt = stmt.with_for_update(skip_locked=True)
    job = session.scalar(stmt)
    if job is None:
        raise NotFound(_("Job not found or being run by another worker"), details={"id": str(job_id)})
    if job.status in (JobStatus.DONE, JobStatus.FAILED) or job.next_run_at > clock.now():
        return job  # idempotent: a finished job is not run twice; a job another worker rescheduled waits
    job.status = JobStatus.RUNNING
    job.attempts += 1
    job.next_run_at = clock.now() + timedelta(seconds=JOB_LEASE_S)
    session.flush()
    try:
        with session.begin_nested():
            _JOB_KINDS[job.kind](session, actor, job)
    except (ProviderError, ServiceUnavailable) as exc:
        _attempt_failed(session, actor, job, str(exc)[:500])
    else:
        job.status = JobStatus.DONE
        job.last_error = ""
        _count(job.kind, "ok")
    session.flush()
    return job


def _attempt_failed(session: Session, actor: Actor, job: Job, message: str) -> None:
    """Record a failed attempt: retry later with backoff, or give the job up after its last attempt."""
    policies.job_attempt_fail(actor)
    job.last_error = message
    if job.attempts >= job.max_attempts:
        job.status = JobStatus.FAILED
        _job_give_up(session, actor, job)
    else:
        job.status = JobStatus.PENDING
        job.next_run_at = clock.now() + timedelta(seconds=JOB_BACKOFF_S * 2 ** (job.attempts - 1))
    log.warning("cloud job %s (%s) attempt %d failed: %s", job.id, job.kind, job.attempts, message)
    _count(job.kind, "error")
    core.audit_record(session, actor, "job_attempt_fail", target_type="cloud_job", target_id=job.id,
                      extra={"kind": job.kind, "attempt": job.attempts, "error": message,
                             "final": job.status == JobStatus.FAILED}, outcome="error")


def _count(kind: str, outcome: str) -> None:
    if JOBS_COUNTER is not None:
        JOBS_COUNTER.labels(kind, outcome).inc()


def jobs_run(session: Session, actor: Actor, limit: int = 100) -> dict[str, int]:
    """Run due jobs in this session (tests, demo, benchmark); the CLI worker commits per job instead."""
    out = {"run": 0, "done": 0, "retrying": 0, "failed": 0}
    for job_id in jobs_due(session, limit):
        try:
            job = job_execute(session, actor, job_id)
        except NotFound:
            continue
        out["run"] += 1
        out[{"done": "done", "pending": "retrying", "failed": "failed"}.get(job.status, "retrying")] += 1
    return out


def _image_for(account: ProviderAccount) -> str:
    return str((account.config or {}).get("image") or "img-kylin-v10")


def _run_provision(session: Session, actor: Actor, job: Job) -> None:
    policies.request_provisioned(actor)
    req = get_or_404(session, ResourceRequest, job.request_id, "Request")
    resources = list(session.scalars(select(Resource).where(Resource.request_id == req.id)
                                     .order_by(Resource.name)))
    providers: dict[uuid.UUID, CloudProvider] = {}
    for res in resources:
        if res.status != ResourceStatus.PROVISIONING:
            continue
        prov = providers.get(res.account_id) or provider_of(session, res.account_id)
        providers[res.account_id] = prov
        account = get_or_404(session, ProviderAccount, res.account_id, "Provider account")
        if res.kind == "node":
            # Idempotent: a node created by an attempt that died before recording it is adopted by its name.
            existing = next((n for n in prov.nodes() if n.name == res.name), None)
            node = existing if existing is not None else prov.node_create(res.name, res.size_id, _image_for(account))
            res.external_id = node.external_id
        else:
            if not any(b.name == res.name for b in prov.buckets()):
                prov.bucket_create(res.name)
            res.external_id = res.name
        res.status = ResourceStatus.ACTIVE
        res.active_since = clock.now()
        session.flush()
    transition(req, RequestStatus.ACTIVE, REQUEST_FLOW, "request")
    core.audit_record(session, actor, "request_provisioned", target_type="cloud_request", target_id=req.id,
                      org_id=req.org_id, extra={"resources": [r.name for r in resources]})


def _job_give_up(session: Session, actor: Actor, job: Job) -> None:
    """After the last attempt: clean up at the provider, keep every row tracked (status error), free the pool."""
    req = session.get(ResourceRequest, job.request_id) if job.request_id else None
    if req is None or job.kind != "provision":
        if req is not None and req.status == RequestStatus.RESIZING:
            transition(req, RequestStatus.ACTIVE, REQUEST_FLOW, "request")  # resize failed: the old size runs on
        return
    policies.request_fail(actor)
    item = session.get(CatalogItem, req.item_id)
    for res in session.scalars(select(Resource).where(Resource.request_id == req.id,
                                                      Resource.status == ResourceStatus.PROVISIONING)):
        try:
            prov = provider_of(session, res.account_id)
            for n in prov.nodes() if res.kind == "node" else []:
                if n.name == res.name:
                    prov.node_destroy(n.external_id)
        except (ProviderError, ServiceUnavailable) as exc:  # the reconciler will flag what remains
            log.warning("cleanup of %s failed: %s", res.name, exc)
        res.status = ResourceStatus.ERROR
    if req.pool_id and item is not None:
        pool = session.get(Pool, req.pool_id)
        if pool is not None:
            allocate(pool, demand(item, req.quantity, req), -1)
    transition(req, RequestStatus.FAILED, REQUEST_FLOW, "request")
    core.audit_record(session, actor, "request_fail", target_type="cloud_request", target_id=req.id,
                      org_id=req.org_id, extra={"error": job.last_error})


def _run_resize(session: Session, actor: Actor, job: Job) -> None:
    req = get_or_404(session, ResourceRequest, job.request_id, "Request")
    new = get_or_404(session, CatalogItem, uuid.UUID(job.params["to"]), "Catalog item")
    for res in session.scalars(select(Resource).where(Resource.request_id == req.id,
                                                      Resource.status == ResourceStatus.ACTIVE)):
        if res.size_id == new.size_id:
            continue  # already done by an earlier attempt
        prov = provider_of(session, res.account_id)
        resize = getattr(prov, "node_resize", None)
        if resize is None:
            raise ProviderError(f"{prov.kind} cannot resize nodes")
        resize(res.external_id, new.size_id)
        res.size_id, res.vcpus, res.ram_mb, res.disk_gb = new.size_id, new.vcpus, new.ram_mb, new.disk_gb
        res.monthly_price = new.monthly_price
        session.flush()
    transition(req, RequestStatus.ACTIVE, REQUEST_FLOW, "request")


def _run_reclaim(session: Session, actor: Actor, job: Job) -> None:
    policies.request_reclaimed(actor)
    req = get_or_404(session, ResourceRequest, job.request_id, "Request")
    item = session.get(CatalogItem, req.item_id)
    for res in session.scalars(select(Resource).where(Resource.request_id == req.id,
                                                      Resource.status.in_(HOLDING))):
        prov = provider_of(session, res.account_id)
        if res.external_id:
            if res.kind == "node":
                if not res.last_backup:  # final backup first, then access revoked (stopped), then destroyed
                    res.last_backup = f"final-backup:{res.name}:{clock.now():%Y%m%dT%H%M}"
                    session.flush()
                if any(n.external_id == res.external_id for n in prov.nodes()):
                    prov.node_stop(res.external_id)
                    prov.node_destroy(res.external_id)
            else:
                prov.bucket_delete(res.name)
        res.status = ResourceStatus.RECLAIMED
        res.reclaimed_at = clock.now()
        session.flush()
    if req.pool_id and item is not None:
        pool = session.get(Pool, req.pool_id)
        if pool is not None:
            allocate(pool, demand(item, req.quantity, req), -1)
    transition(req, RequestStatus.RECLAIMED, REQUEST_FLOW, "request")
    core.audit_record(session, actor, "request_reclaimed", target_type="cloud_request", target_id=req.id,
                      org_id=req.org_id)


_JOB_KINDS = {"provision": _run_provision, "resize": _run_resize, "reclaim": _run_reclaim}
