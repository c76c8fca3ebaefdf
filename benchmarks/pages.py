"""Page latency (issue 16): every page that lists things, server-side, with the demo city loaded.

Builds the whole demo city (`cityhub demo`) in a scratch database (PostgreSQL when reachable), starts `cityhub serve`
(access log off), logs in as the platform admin (the role that sees most: every unit's rows) and collects the pages
to time from the navigation of the admin's landing page (sidebar and top bar), plus the open-data portal's lists.
Each page is fetched BENCH_PAGE_REQUESTS times (after a warm-up) on one keep-alive connection; the time is the full
HTML response as the server sends it (no browser, no static files, no charts' API calls).

Prints one JSON line: the slowest ten pages (p50 and p95 in ms), `slowest_page_p95_ms`, the pages over the 200 ms
goal; keeps it in `benchmarks/results/pages.json`.

Run: `make bench` or `.venv/bin/python benchmarks/pages.py` (BENCH_PAGE_REQUESTS=40 by default).
Uses PostgreSQL when reachable (database `cityhub_bench_pages`, recreated), else SQLite.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from typing import Any

import httpx

sys.path.insert(0, os.path.dirname(__file__))
from _common import ROOT, free_port, pct, record, scratch_database, serve

N = int(os.environ.get("BENCH_PAGE_REQUESTS", "40"))
WARM_UP = 3
GOAL_P95_MS = 200.0
PASSWORD = "bench-pages-password-1"
PUBLIC_LISTS = ("/portal", "/dataset", "/organization")  # the open-data portal's lists (no login needed)
_NAV = re.compile(r'<(?:aside class="sidebar"|nav class="layers")>(.*?)</(?:aside|nav)>', re.S)
_HREF = re.compile(r'href="(/[^"]*)"')
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def log_in(client: httpx.Client, username: str) -> str:
    """Log in through the form; returns the landing page's HTML."""
    csrf = _CSRF.search(client.get("/login").text)
    assert csrf, "no CSRF token on /login"
    r = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": csrf.group(1)})
    if r.status_code >= 400 or "/login" in str(r.url):
        raise RuntimeError(f"login as {username} failed: {r.status_code}")
    return r.text


def nav_pages(html: str) -> list[str]:
    links = [h.replace("&amp;", "&") for block in _NAV.findall(html) for h in _HREF.findall(block)]
    return list(dict.fromkeys(links))


def time_page(client: httpx.Client, path: str, n: int) -> list[float]:
    for _ in range(WARM_UP):
        client.get(path)
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        r = client.get(path)
        out.append((time.perf_counter() - t0) * 1000)
        if r.status_code != 200:
            raise RuntimeError(f"{path}: {r.status_code}")
    return out


def main() -> None:
    db_url = scratch_database("cityhub_bench_pages")
    env = {**os.environ, "CITYHUB_DATABASE_URL": db_url, "CITYHUB_DEMO_PASSWORD": PASSWORD,
           "CITYHUB_ACCESS_LOG": "false"}
    cli = [sys.executable, "-m", "cityhub.cli"]
    subprocess.run([*cli, "db", "upgrade"], env=env, check=True, capture_output=True, cwd=ROOT)
    started = time.perf_counter()
    subprocess.run([*cli, "demo"], env=env, check=True, capture_output=True, cwd=ROOT)
    demo_s = time.perf_counter() - started
    os.environ["CITYHUB_ACCESS_LOG"] = "false"
    port = free_port()
    server = serve(db_url, port)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30, follow_redirects=True,
                          headers={"Accept": "text/html"}) as client:
            landing = log_in(client, "admin")
            pages = [p for p in nav_pages(landing) if "text/html" in client.get(p).headers.get("content-type", "")]
            pages += [p for p in PUBLIC_LISTS if p not in pages and client.get(p).status_code == 200]
            timings = {p: time_page(client, p, N) for p in pages}
    finally:
        server.terminate()
        server.wait(timeout=10)
    rows: list[dict[str, Any]] = sorted(
        ({"page": p, "p50_ms": round(pct(t, 50), 1), "p95_ms": round(pct(t, 95), 1)} for p, t in timings.items()),
        key=lambda r: -float(r["p95_ms"]))
    result = {
        "database": db_url.split(":", 1)[0],
        "role": "platform admin",
        "requests_per_page": N,
        "pages": len(rows),
        "slowest_ten": rows[:10],
        "slowest_page_p95_ms": rows[0]["p95_ms"] if rows else 0.0,
        "goal_p95_ms": GOAL_P95_MS,
        "pages_over_goal": [r["page"] for r in rows if float(r["p95_ms"]) > GOAL_P95_MS],
        "demo_build_s": round(demo_s, 1),
    }
    record("pages", result)


if __name__ == "__main__":
    main()
