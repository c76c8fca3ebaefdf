"""Helpers shared by benchmarks: a scratch database, a served app, percentiles, and where results are kept."""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"  # <name>.json: the latest run of each benchmark; history.json: older runs
PG_ADMIN = os.environ.get("CITYHUB_TEST_POSTGRES_URL", "postgresql+psycopg://127.0.0.1:5432/test")


def pg_available() -> bool:
    url = make_url(PG_ADMIN)
    try:
        with socket.create_connection((url.host or "127.0.0.1", url.port or 5432), timeout=1):
            return True
    except OSError:
        return False


def scratch_database(name: str) -> str:
    """A fresh database URL: PostgreSQL when reachable (recreated), else a SQLite file under var/bench."""
    if pg_available():
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        return make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)
    path = ROOT / "var" / "bench" / f"{name}.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    return f"sqlite:///{path}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(db_url: str, port: int) -> subprocess.Popen[bytes]:
    """Start `cityhub serve` against db_url and wait until it answers."""
    env = {**os.environ, "CITYHUB_DATABASE_URL": db_url}
    proc = subprocess.Popen([sys.executable, "-m", "cityhub.cli", "serve", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import httpx

    deadline = time.monotonic() + 120  # a loaded shared machine imports the app slowly
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def pct(values: list[float], p: float) -> float:
    """The p-th percentile (0–100) of values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else 0.0


def _commit() -> str | None:
    """The checked-out commit, with "+dirty" when the working tree has changes (None outside a git checkout)."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, timeout=30, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if dirty else "")


def record(name: str, result: dict[str, Any], results_dir: Path | None = None) -> Path:
    """Print `result` as the benchmark's one JSON line, and keep it as `benchmarks/results/<name>.json`.

    The file holds the same figures with when, on which commit and on what load they were measured, in the shape
    of the entries of `results/history.json` (benchmark, date, figures, note), so a run can be moved there as is.
    """
    print(json.dumps(result, ensure_ascii=False), flush=True)
    out = results_dir or Path(os.environ.get("CITYHUB_BENCH_RESULTS") or RESULTS)
    out.mkdir(parents=True, exist_ok=True)
    entry = {"benchmark": name, "date": datetime.now(UTC).isoformat(timespec="seconds"), "commit": _commit(),
             "cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2), "figures": result, "note": ""}
    path = out / f"{name}.json"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(entry, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)  # a run killed while writing never leaves half a file behind
    return path
