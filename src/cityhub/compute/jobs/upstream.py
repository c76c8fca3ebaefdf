"""Batch jobs of upstream versions: each row one call of the department system, through the gateway.

A job of an upstream version runs **as one of the unit's applications** (`app_id`, required): its active
subscription to the version, its quota windows (counted in the same store as the gateway's, Redis when set, so a
job and the application's live calls share one quota exactly), and every call metered as the application's
(`Gateway.call_as_app`). At most `CONCURRENCY` calls are in flight at once, through the gateway's pooled client,
breaker and egress checks. A call refused for its quota waits for the window when that is at most
`QUOTA_WAIT_MAX_S` away; a longer wait (a daily or monthly quota used up) fails the job with the reason. Any other
refusal or upstream failure is the row's `out_error`.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityhub.compute.gateway.quota import MemoryQuota, QuotaStore, store_from_settings
from cityhub.compute.models import ComponentVersion, ConsumerApp, Job, Subscription, SubscriptionStatus
from cityhub.compute.schemas import JobCreate
from cityhub.kit import safejson
from cityhub.kit.db import Database
from cityhub.kit.errors import ValidationFailed
from cityhub.kit.i18n import gettext as _
from cityhub.kit.settings import get_settings

CONCURRENCY = 8  # calls of one job in flight at once
QUOTA_WAIT_MAX_S = 60  # a quota refusal further away than this ends the job
T = TypeVar("T")


class QuotaUsedUp(Exception):
    """The application's quota has no room for longer than a job waits."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


def check(session: Session, body: JobCreate, v: ComponentVersion) -> dict[str, Any]:
    """The application an upstream job calls as: the unit's, enabled, subscribed to the version (422 `app_id`)."""
    if body.app_id is None:
        raise ValidationFailed(_("An upstream version runs as one of the unit's applications: choose it"),
                               field="app_id")
    app = session.get(ConsumerApp, body.app_id)
    if app is None or app.org_id != body.org_id:
        raise ValidationFailed(_("Not an application of this unit"), field="app_id")
    if app.disabled:
        raise ValidationFailed(_("The application is disabled"), field="app_id")
    if session.scalar(select(Subscription.id).where(
            Subscription.app_id == app.id, Subscription.version_id == v.id,
            Subscription.status == SubscriptionStatus.ACTIVE)) is None:
        raise ValidationFailed(_("The application has no active subscription to this version"), field="app_id")
    return {"app_id": str(app.id)}


def _request(method: str, params: dict[str, Any]) -> tuple[str, bytes]:
    """(query, body) of one call: GET sends the parameters as the query, POST as a JSON body."""
    if method == "GET":
        return urlencode({k: v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
                          for k, v in params.items() if v is not None}), b""
    return "", json.dumps(params, ensure_ascii=False).encode()


def _parse(status: int, body: bytes) -> tuple[Any, str]:
    """(answer, error) of one call: a 2xx JSON answer (or its text), else the envelope's code and message."""
    try:
        payload: Any = safejson.loads(body, field="answer") if body else None
    except ValidationFailed:  # not JSON, or too large or deep to parse: kept as text
        payload = body.decode("utf-8", "replace")
    if 200 <= status < 300:
        return payload, ""
    err = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(err, dict):
        return None, f"{err.get('code', status)}: {err.get('message', '')}".strip(": ")
    return None, f"upstream {status}"


def call_rows(target: Database | Session, job: Job, code: str, version: str, bodies: list[dict[str, Any]],
              progress: Callable[[int, int], None]) -> list[tuple[Any, str]]:
    """Call the upstream once per body, CONCURRENCY at a time; (answer, error) per body, in order.

    `progress(done, failed)` is called every few rows (it raises to stop the job). Raises QuotaUsedUp.
    """
    return _run_sync(_call_rows(target, job, code, version, bodies, progress))


async def _call_rows(target: Database | Session, job: Job, code: str, version: str, bodies: list[dict[str, Any]],
                     progress: Callable[[int, int], None]) -> list[tuple[Any, str]]:
    from cityhub.compute.gateway.service import Gateway

    gw = Gateway.in_session(target) if isinstance(target, Session) else Gateway(target, quota=_quota_store())
    app_id = uuid.UUID(job.request["app_id"])
    method, path = job.request["method"], job.request["path"]
    out: list[tuple[Any, str]] = [(None, "")] * len(bodies)
    sem = asyncio.Semaphore(CONCURRENCY)

    async def one(i: int) -> None:
        query, body = _request(method, bodies[i])
        async with sem:
            while True:
                answer = await gw.call_as_app(app_id, method, code, version, path, query=query, body=body)
                if answer.status != 429:
                    break
                wait = int(answer.headers.get("retry-after", "1"))
                if wait > QUOTA_WAIT_MAX_S:
                    raise QuotaUsedUp(wait)
                await asyncio.sleep(wait)
        out[i] = _parse(answer.status, answer.body)

    try:
        step = max(CONCURRENCY, len(bodies) // 50)
        failed = 0
        for start in range(0, len(bodies), step):
            # every call of the step ends before a refusal is raised: a call the quota admitted is made and
            # metered, not aborted by the gateway closing under it (it was counted)
            ended = await asyncio.gather(*(one(i) for i in range(start, min(start + step, len(bodies)))),
                                         return_exceptions=True)
            for exc in ended:
                if isinstance(exc, BaseException):
                    raise exc
            done = min(start + step, len(bodies))
            failed = sum(1 for _a, err in out[:done] if err)
            progress(done, failed)
    finally:
        await gw.aclose()  # the last calls' metering is written before the job's answer
    return out


_memory_quota: QuotaStore | None = None


def _quota_store() -> QuotaStore:
    """Redis when set (a store per job: its client belongs to the job's event loop); else this process's one store.

    So the worker's jobs share their applications' quotas (a server's in-process counters are its own).
    """
    global _memory_quota
    if get_settings().redis_url:
        return store_from_settings()
    if _memory_quota is None:
        _memory_quota = MemoryQuota()
    return _memory_quota


def _run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to its end from synchronous code, in a thread of its own when a loop runs here."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc

    t = threading.Thread(target=run, name="compute-upstream-job")
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]  # what the coroutine returned
