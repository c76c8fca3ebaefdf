"""Gateway overhead and metered throughput of the capability hub (issue 17).

Builds one published no-op built-in component and one subscription (quotas on: per minute and per day, counted
in Redis when it is reachable, as in production) in a scratch database (PostgreSQL when reachable, so resolutions
come from the push cache), starts `cityhub serve` (one server process), then:

- latency, interleaved in rounds on keep-alive connections (blocking raw sockets, so the client adds next to
  nothing), BENCH_REQUESTS calls each of: the gateway call `/hub/noop/1.0.0/ping` (`gateway_*`); the no-op's own
  handler answered by a bare ASGI app under the same uvicorn set-up (`_direct_server.py`, `direct_*`);
  `added_p95_ms` is the difference of those p95s; the platform's `/_bare` through the whole middleware stack for
  comparison (`bare_*`); an upstream component `/hub/echo/1.0.0/x` whose upstream is the direct server's echo
  (`gateway_upstream_*`) against calling that echo directly (`upstream_direct_*`, `added_upstream_p95_ms`);
- throughput: BENCH_CONNS keep-alive connections calling the gateway for BENCH_SECONDS from `_loadgen.py`, a raw
  asyncio HTTP/1.1 client in its own process, pinned to the last core and niced so it does not take the server's
  CPU (`metered_calls_per_s` counts the 200 answers per second);
- metering: after the server stops (its last flush), `unmetered` = gateway calls made − rows in compute_call.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(__file__))
from _common import free_port, pct, record, scratch_database, serve
from _loadgen import Sequential, request_bytes

N = int(os.environ.get("BENCH_REQUESTS", "2000"))
CONNS = int(os.environ.get("BENCH_CONNS", "16"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


def _load(port: int, key: str) -> dict[str, Any]:
    """Run the load generator in its own process, on the last core, niced."""
    cpus = sorted(os.sched_getaffinity(0))

    def pin() -> None:
        os.sched_setaffinity(0, {cpus[-1]})
        os.nice(5)

    out = subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "_loadgen.py"),
                          "/hub/noop/1.0.0/ping", str(port), str(SECONDS), str(CONNS), f"X-Api-Key: {key}"],
                         capture_output=True, text=True, timeout=SECONDS + 120, preexec_fn=pin)
    if out.returncode:
        raise RuntimeError(f"load generator failed: {out.stderr[-2000:]}")
    return dict(json.loads(out.stdout))


def _build(url: str, upstream: str) -> str:
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
        city = core.organization_create(s, system, OrganizationCreate(name="市", code="b-city", kind="city"))
        a, b = (core.organization_create(s, system, OrganizationCreate(name=n, code=f"b-{n}", kind="department",
                                                                       parent_id=city.id)) for n in ("a", "b"))
        c = compute.component_create(s, system, ComponentCreate(
            code="noop", name_zh="空操作", category="common", org_id=a.id,
            openapi=compute.builtin_openapi("noop")))
        compute.component_version_create(s, system, c.id, VersionCreate(version="1.0.0", kind="builtin",
                                                                         builtin="noop"))
        compute.component_submit(s, system, c.id)
        compute.component_review(s, system, c.id, True)
        e = compute.component_create(s, system, ComponentCreate(
            code="echo", name_zh="回声", category="business", org_id=a.id,
            openapi=compute.builtin_openapi("noop")))
        compute.component_version_create(s, system, e.id, VersionCreate(version="1.0.0", kind="upstream",
                                                                         upstream_url=upstream))
        compute.component_submit(s, system, e.id)
        compute.component_review(s, system, e.id, True)
        app = compute.app_create(s, system, AppCreate(org_id=b.id, name="bench"))
        _k, raw = compute.app_key_create(s, system, app.id)
        for code in ("noop", "echo"):
            sub = compute.subscription_create(s, system, SubscriptionCreate(
                app_id=app.id, component_code=code, version="1.0.0", quota_per_minute=10_000_000,
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


def _direct_server(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, os.path.join(os.path.dirname(__file__), "_direct_server.py"),
                             str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            Sequential(port).close()
            return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("direct server did not start")


def main() -> None:
    url = scratch_database("cityhub_bench_compute")
    dport = free_port()
    os.environ["CITYHUB_COMPUTE_UPSTREAM_ALLOWED_HOSTS"] = "127.0.0.1"  # the local echo upstream (both processes)
    key = _build(url, f"http://127.0.0.1:{dport}/echo")
    redis_ok = True
    try:
        import redis

        redis.Redis.from_url(REDIS).ping()
        os.environ["CITYHUB_REDIS_URL"] = REDIS
    except Exception:
        redis_ok = False
    port = free_port()
    direct_server = _direct_server(dport)
    server = serve(url, port)
    reqs = {
        "gateway": (port, request_bytes("/hub/noop/1.0.0/ping", port, {"X-Api-Key": key})),
        "direct": (dport, request_bytes("/ping", dport)),
        "bare": (port, request_bytes("/_bare", port)),
        "gateway_upstream": (port, request_bytes("/hub/echo/1.0.0/x", port, {"X-Api-Key": key})),
        "upstream_direct": (dport, request_bytes("/echo/x", dport)),
    }
    times: dict[str, list[float]] = {name: [] for name in reqs}
    gateway_calls = 0
    load: dict[str, Any] = {}
    try:
        conns = {p: Sequential(p) for p in (port, dport)}

        def one(name: str, keep: bool) -> None:
            p, req = reqs[name]
            status, ms, body = conns[p].call(req)
            if keep:
                times[name].append(ms)
            if status != 200:
                raise RuntimeError(f"{name}: {status} {body[:200]!r}")

        for _ in range(200):  # warm-up: resolutions cached, connections open
            for name in reqs:
                one(name, False)
        rounds = 5
        for _ in range(rounds):  # interleaved, so a burst of other work on the machine hits all alike
            for name in reqs:
                for _ in range(N // rounds):
                    one(name, True)
        gateway_calls += 200 * 2 + len(times["gateway"]) + len(times["gateway_upstream"])
        for c in conns.values():
            c.close()
        load = _load(port, key)
        gateway_calls += sum(load["counts"].values())
    finally:
        server.terminate()  # the shutdown flushes the metering buffer
        server.wait(timeout=60)
        direct_server.terminate()
        direct_server.wait(timeout=30)
    metered, metered_ok = _calls(url)
    result: dict[str, Any] = {
        "requests": N,
        "database": url.split(":", 1)[0],
        "quota_store": "redis" if redis_ok else "memory",
        **{f"{name}_{q}_ms": round(pct(v, p), 3) for name, v in times.items() for q, p in (("p50", 50), ("p95", 95))},
        "added_p95_ms": round(pct(times["gateway"], 95) - pct(times["direct"], 95), 3),
        "added_upstream_p95_ms": round(pct(times["gateway_upstream"], 95) - pct(times["upstream_direct"], 95), 3),
        "metered_calls_per_s": round(load["counts"].get("200", 0) / load["elapsed_s"], 1),
        "load_connections": CONNS,
        "load_seconds": SECONDS,
        "load_statuses": load["counts"],
        "load_client_cpu_s": round(load["client_cpu_s"], 2),
        "gateway_calls": gateway_calls,
        "metered_rows": metered,
        "unmetered": gateway_calls - metered,
        "metered_ok_rows": metered_ok,
    }
    record("compute", result)


if __name__ == "__main__":
    main()
