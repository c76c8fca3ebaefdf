"""API latency: an authenticated list endpoint vs a bare ASGI route in the same server, and server RSS after demo.

The organisation list is served from the push-cached directory (kit.pushcache) with the caller's identity from
the same cache; the users list is reported beside it as a page the database answers on every request.
CITYHUB_PUSH_CACHE=false measures both without the cache.

Run: `make bench` or `.venv/bin/python benchmarks/api.py` (BENCH_REQUESTS=1000 by default).
Uses PostgreSQL when reachable (database `cityhub_bench_api`, recreated), else SQLite.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx

sys.path.insert(0, os.path.dirname(__file__))
from _common import ROOT, free_port, pct, record, rss_mb, scratch_database, serve

N = int(os.environ.get("BENCH_REQUESTS", "1000"))


def timed(client: httpx.Client, url: str, headers: dict[str, str], n: int) -> tuple[list[float], float]:
    lat = []
    started = time.perf_counter()
    for _ in range(n):
        t0 = time.perf_counter()
        r = client.get(url, headers=headers)
        lat.append((time.perf_counter() - t0) * 1000)
        if r.status_code != 200:
            raise RuntimeError(f"{url}: {r.status_code} {r.text[:200]}")
    return lat, n / (time.perf_counter() - started)


def main() -> None:
    db_url = scratch_database("cityhub_bench_api")
    env = {**os.environ, "CITYHUB_DATABASE_URL": db_url, "CITYHUB_DEMO_PASSWORD": "bench-password-1"}
    cli = [sys.executable, "-m", "cityhub.cli"]
    subprocess.run([*cli, "db", "upgrade"], env=env, check=True, capture_output=True, cwd=ROOT)
    subprocess.run([*cli, "demo", "--only", "core"], env=env, check=True, capture_output=True, cwd=ROOT)
    token = subprocess.run([*cli, "token", "create", "--username", "admin"], env=env, check=True,
                           capture_output=True, text=True, cwd=ROOT).stdout.strip()
    port = free_port()
    server = serve(db_url, port)
    try:
        base = f"http://127.0.0.1:{port}"
        auth = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, timeout=10) as client:
            timed(client, "/_bare", {}, 100)  # warm-up both paths
            timed(client, "/api/v1/organizations?limit=50", auth, 100)
            timed(client, "/api/v1/users?limit=50", auth, 100)
            bare, bare_rps = timed(client, "/_bare", {}, N)
            listed, list_rps = timed(client, "/api/v1/organizations?limit=50", auth, N)
            users, users_rps = timed(client, "/api/v1/users?limit=50", auth, N)
        result = {
            "requests": N,
            "database": db_url.split(":", 1)[0],
            "auth_list_p50_ms": round(pct(listed, 50), 2),
            "auth_list_p95_ms": round(pct(listed, 95), 2),
            "bare_p50_ms": round(pct(bare, 50), 2),
            "bare_p95_ms": round(pct(bare, 95), 2),
            "auth_list_rps": round(list_rps, 1),
            "bare_rps": round(bare_rps, 1),
            "p95_ratio_auth_vs_bare": round(pct(listed, 95) / max(pct(bare, 95), 1e-6), 2),
            "rss_mb": round(rss_mb(server.pid), 1),
            # context: a list the database answers on every request (the organisation directory and the
            # caller's identity come from the push cache; this page is a query, BEGIN and COMMIT)
            "auth_users_list_p50_ms": round(pct(users, 50), 2),
            "auth_users_list_p95_ms": round(pct(users, 95), 2),
            "auth_users_list_rps": round(users_rps, 1),
            "p95_ratio_users_vs_bare": round(pct(users, 95) / max(pct(bare, 95), 1e-6), 2),
            "push_cache": os.environ.get("CITYHUB_PUSH_CACHE", "true"),
        }
        record("api", result)
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
