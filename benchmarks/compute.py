"""Gateway overhead and metered throughput of the capability hub (issue 17).

Builds one published no-op built-in component and one subscription (quotas on: per minute and per day, counted
in Redis when it is reachable, as in production) in a scratch database (PostgreSQL when reachable, so resolutions
come from the push cache), starts `cityhub serve`, then:

- latency, interleaved in rounds on one connection: the gateway call `/hub/noop/1.0.0/ping` against the same
  server's `/_bare`, which answers the no-op's own body with no gateway (the "direct" call of the handler over the
  same HTTP stack); `added_p95_ms` is the difference of the p95s;
- throughput: BENCH_THREADS clients calling the gateway for BENCH_SECONDS (`metered_calls_per_s`);
- metering: after the server stops (its last flush), `unmetered` = gateway calls made − rows in compute_call.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any

import httpx

sys.path.insert(0, os.path.dirname(__file__))
from _common import free_port, pct, record, scratch_database, serve  # noqa: E402

N = int(os.environ.get("BENCH_REQUESTS", "2000"))
THREADS = int(os.environ.get("BENCH_THREADS", "4"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


def _build(url: str) -> str:
    from cityhub.compute import service as compute
    from cityhub.compute.schemas import (
        AppCreate,
        ComponentCreate,
        SubscriptionCreate,
        SubscriptionDecision,
        VersionCreate,
    )
    from cityhub.core import service as core
    from cityhub.core.actor import Actor
    from cityhub.core.schemas import OrganizationCreate
    from cityhub.kit.db import Database
    from cityhub.kit.migrate import upgrade

    system = Actor.system("bench")
    db = Database(url)
    with db.engine.begin() as conn:
        upgrade(connection=conn)
    with db.session_scope() as s:
        city = core.organization_create(s, system, OrganizationCreate(name="市", code="b-city", kind="city"))  # type: ignore[arg-type]
        a, b = (core.organization_create(s, system, OrganizationCreate(name=n, code=f"b-{n}", kind="department",  # type: ignore[arg-type]
                                                                       parent_id=city.id)) for n in ("a", "b"))
        c = compute.component_create(s, system, ComponentCreate(
            code="noop", name_zh="空操作", category="common", org_id=a.id,  # type: ignore[arg-type]
            openapi=compute.builtin_openapi("noop")))
        compute.component_version_create(s, system, c.id, VersionCreate(version="1.0.0", kind="builtin",  # type: ignore[arg-type]
                                                                         builtin="noop"))
        compute.component_submit(s, system, c.id)
        compute.component_review(s, system, c.id, True)
        app = compute.app_create(s, system, AppCreate(org_id=b.id, name="bench"))
        _k, raw = compute.app_key_create(s, system, app.id)
        sub = compute.subscription_create(s, system, SubscriptionCreate(
            app_id=app.id, component_code="noop", version="1.0.0", quota_per_minute=10_000_000,
            quota_per_day=100_000_000))
        compute.subscription_decide(s, system, sub.id, SubscriptionDecision(approve=True))
    db.engine.dispose()
    return raw


def _calls(url: str) -> tuple[int, int]:
    from sqlalchemy import func, select

    from cityhub.compute.models import Call
    from cityhub.kit.db import Database

    db = Database(url)
    with db.session_scope() as s:
        total = s.scalar(select(func.count()).select_from(Call)) or 0
        ok = s.scalar(select(func.count()).select_from(Call).where(Call.status == 200)) or 0
    db.engine.dispose()
    return int(total), int(ok)


def main() -> None:
    url = scratch_database("cityhub_bench_compute")
    key = _build(url)
    redis_ok = True
    try:
        import redis

        redis.Redis.from_url(REDIS).ping()
        os.environ["CITYHUB_REDIS_URL"] = REDIS
    except Exception:
        redis_ok = False
    port = free_port()
    server = serve(url, port)
    base = f"http://127.0.0.1:{port}"
    hub_headers = {"X-Api-Key": key}
    gateway_calls = 0
    try:
        gw: list[float] = []
        direct: list[float] = []
        with httpx.Client(base_url=base, timeout=10) as client:
            def one(path: str, headers: dict[str, str], out: list[float] | None) -> None:
                t0 = time.perf_counter()
                r = client.get(path, headers=headers)
                if out is not None:
                    out.append((time.perf_counter() - t0) * 1000)
                if r.status_code != 200:
                    raise RuntimeError(f"{path}: {r.status_code} {r.text[:200]}")

            for _ in range(200):  # warm-up: resolution cached, connections open
                one("/hub/noop/1.0.0/ping", hub_headers, None)
                one("/_bare", {}, None)
            gateway_calls += 200
            rounds = 5
            for _ in range(rounds):
                for _ in range(N // rounds):
                    one("/hub/noop/1.0.0/ping", hub_headers, gw)
                for _ in range(N // rounds):
                    one("/_bare", {}, direct)
            gateway_calls += len(gw)

        counts = [0] * THREADS
        errors: list[str] = []
        stop_at = time.monotonic() + SECONDS

        def load(i: int) -> None:
            with httpx.Client(base_url=base, timeout=10) as c:
                while time.monotonic() < stop_at:
                    r = c.get("/hub/noop/1.0.0/ping", headers=hub_headers)
                    counts[i] += 1
                    if r.status_code != 200 and len(errors) < 5:
                        errors.append(f"{r.status_code} {r.text[:120]}")

        threads = [threading.Thread(target=load, args=(i,)) for i in range(THREADS)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
        gateway_calls += sum(counts)
    finally:
        server.terminate()  # the shutdown flushes the metering buffer
        server.wait(timeout=30)
    metered, metered_ok = _calls(url)
    result: dict[str, Any] = {
        "requests": N,
        "database": url.split(":", 1)[0],
        "quota_store": "redis" if redis_ok else "memory",
        "gateway_p50_ms": round(pct(gw, 50), 3),
        "gateway_p95_ms": round(pct(gw, 95), 3),
        "direct_p50_ms": round(pct(direct, 50), 3),
        "direct_p95_ms": round(pct(direct, 95), 3),
        "added_p95_ms": round(pct(gw, 95) - pct(direct, 95), 3),
        "metered_calls_per_s": round(sum(counts) / elapsed, 1),
        "load_threads": THREADS,
        "load_errors": errors,
        "gateway_calls": gateway_calls,
        "metered_rows": metered,
        "unmetered": gateway_calls - metered,
        "metered_ok_rows": metered_ok,
    }
    record("compute", result)


if __name__ == "__main__":
    main()
