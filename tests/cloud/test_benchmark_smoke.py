"""benchmarks/cloud.py still runs against the current models (at a tiny size: a smoke test, not a timing)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_cloud_benchmark_runs_end_to_end(tmp_path: Path) -> None:
    env = {**os.environ, "CLOUD_BENCH_PLACEMENTS": "50", "CLOUD_BENCH_POOLS": "5", "CLOUD_BENCH_NODES": "5",
           "CLOUD_BENCH_DB": f"sqlite:///{tmp_path / 'bench.db'}",
           "CITYHUB_BENCH_RESULTS": str(tmp_path / "results")}  # a smoke run is no result to keep
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "cloud.py")], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["placed"] > 0 and result["nodes_active"] == 5 and result["jobs_done"] == 5
    assert json.loads((tmp_path / "results" / "cloud.json").read_text())["figures"] == result
