"""Analytics engine (issue 18): the built-in queries on DuckDB and on Spark local[2] over a generated telemetry lake.

Method: writes a lake in the archive's layout (`telemetry/day=YYYY-MM-DD/telemetry.parquet`, zstd) of
BENCH_POINTS points (100,000,000 by default; `--quick` 2,000,000) — DEVICES devices × 2 metrics at a fixed interval
over 35 days — and a device registry, in a scratch folder under BENCH_DIR (default /tmp) that is removed at the end
(`lake_bytes` is its disk use). Then, in the same run:

- `arrow_scan_s`: pyarrow alone reads the columns the daily aggregate needs (device_id, key, value, the day
  partition) from every file, multi-threaded, into memory — the baseline;
- `duckdb_<query>_s` for `daily_aggregate`, `topk_anomaly` (k=20) and `join` (`join_registry`): DuckDB with
  2 threads through `DuckDBEngine`, as the service runs them; `ratio_vs_arrow_scan` = arrow_scan_s /
  duckdb_daily_aggregate_s (≥ 1: DuckDB reads *and* aggregates faster than pyarrow only reads);
- `spark_<query>_s`: the same queries through `SparkEngine` on `local[2]`, after one warm-up query
  (`spark_start_s` is the session start, not counted in the query figures); `spark_vs_duckdb_<query>` the ratio;
- `forecast_series_per_s`: statsforecast AutoETS (season 24) fitted and predicted 12 steps ahead for
  BENCH_SERIES series (5,000; `--quick` 200) of 14 days of hourly values, one StatsForecast call on 2 cores
  (after a one-series warm-up, so numba's compilation is not counted); BENCH_SKIP_FORECAST=1 leaves it out
  (the forecast rule's own Holt model meets the 5,000-series goal: `benchmarks/forecast.py`).

The forecast rule's own model (Holt in numpy) is measured by `benchmarks/forecast.py`, scenario runs
(`scenario_run_s`) by `benchmarks/scenarios.py`.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

sys.path.insert(0, os.path.dirname(__file__))
from _common import record

QUICK = "--quick" in sys.argv
POINTS = int(os.environ.get("BENCH_POINTS", "2000000" if QUICK else "100000000"))
SERIES = int(os.environ.get("BENCH_SERIES", "200" if QUICK else "5000"))
DAYS = 35
DEVICES = int(os.environ.get("BENCH_DEVICES", "100" if QUICK else "1000"))
SKIP_SPARK = os.environ.get("BENCH_SKIP_SPARK") == "1"
SKIP_FORECAST = os.environ.get("BENCH_SKIP_FORECAST") == "1"  # AutoETS on 5,000 series takes ~20 min on 2 cores


def _write_lake(root: Path) -> int:
    from cityhub.compute.analytics import lake

    per_day = POINTS // DAYS
    per_series = max(1, per_day // (DEVICES * 2))
    step_us = int(86_400_000_000 // per_series)
    ids = np.array([f"dev-{n:05d}" for n in range(DEVICES)], dtype=object)
    rng = np.random.default_rng(18)
    written = 0
    schema = pa.schema([f for f in lake.TELEMETRY if f.name != "day"])
    for d in range(DAYS):
        day = date(2026, 1, 1) + timedelta(days=d)
        base = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1_000_000)
        n = DEVICES * 2 * per_series
        dev = np.repeat(np.arange(DEVICES), 2 * per_series)
        key = np.tile(np.repeat(np.array(["level", "flow"], dtype=object), per_series), DEVICES)
        ts = base + np.tile(np.arange(per_series, dtype=np.int64) * step_us, DEVICES * 2)
        value = rng.normal(1.0, 0.1, n) + dev * 0.01
        spikes = rng.integers(0, n, max(1, n // 100_000))
        value[spikes] += rng.uniform(1, 5, spikes.size)
        table = pa.table({"device_id": pa.array(ids[dev], pa.string()), "key": pa.array(key, pa.string()),
                          "ts": pa.array(ts, pa.timestamp("us", tz="UTC")), "value": pa.array(value),
                          "text": pa.nulls(n, pa.string())}, schema=schema)
        path = root / "telemetry" / f"day={day:%Y-%m-%d}" / "telemetry.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path, compression="zstd", row_group_size=1_000_000)
        written += n
    registry = pa.Table.from_pylist(
        [{"device_id": str(ids[i]), "name": f"设备 {i}", "org_id": f"org-{i % 7}",
          "profile_code": ("pipe-gallery", "traffic-flow", "water-level")[i % 3], "asset_id": None,
          "district_id": f"district-{i % 38}", "lon": 106.5, "lat": 29.5, "status": "active"}
         for i in range(DEVICES)], schema=lake.DEVICES)
    lake.write_table(root / "registry" / "devices.parquet", registry)
    return written


def _timed(fn: Any) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def _forecast_rate() -> float:
    import pandas as pd
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS

    rng = np.random.default_rng(5)
    hours = 14 * 24
    t = np.arange(hours)
    frames = [pd.DataFrame({"unique_id": f"s{i}", "ds": pd.date_range("2026-01-01", periods=hours, freq="h"),
                            "y": 10 + 3 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 0.5, hours)})
              for i in range(SERIES)]
    df = pd.concat(frames, ignore_index=True)
    sf = StatsForecast(models=[AutoETS(season_length=24)], freq="h", n_jobs=2)
    sf.forecast(df=frames[0], h=12, level=[90])  # numba's compilation is not the model's speed
    secs, out = _timed(lambda: sf.forecast(df=df, h=12, level=[90]))
    assert len(out) == SERIES * 12
    return SERIES / secs


def main() -> None:
    from cityhub.compute.analytics import service as analytics

    base = Path(tempfile.mkdtemp(prefix="cityhub-bench-lake-", dir=os.environ.get("BENCH_DIR") or None))
    result: dict[str, Any] = {"quick": QUICK}
    try:
        gen_s, points = _timed(lambda: _write_lake(base))
        result.update(points=points, devices=DEVICES, days=DAYS, generate_s=round(gen_s, 2),
                      lake_bytes=sum(p.stat().st_size for p in base.rglob("*.parquet")))
        dataset = ds.dataset(str(base / "telemetry"), format="parquet", partitioning="hive")
        scan_s, table = _timed(lambda: dataset.to_table(columns=["device_id", "key", "value", "day"],
                                                        use_threads=True))
        assert table.num_rows == points
        del table
        result["arrow_scan_s"] = round(scan_s, 3)
        names = {"daily_aggregate": "daily_aggregate", "topk_anomaly": "topk_anomaly", "join": "join_registry"}
        duck = analytics.DuckDBEngine(base, threads=2)
        answers: dict[str, int] = {}
        for label, q in names.items():
            secs, res = _timed(lambda q=q: analytics.run_builtin(duck, q, max_rows=10_000_000, timeout_s=3600))
            result[f"duckdb_{label}_s"] = round(secs, 3)
            answers[label] = res.table.num_rows
        duck.close()
        result["ratio_vs_arrow_scan"] = round(scan_s / result["duckdb_daily_aggregate_s"], 2)
        result["rows_answered"] = answers
        if not SKIP_SPARK:
            start_s, spark = _timed(lambda: analytics.SparkEngine(base, master="local[2]"))
            spark.query("SELECT count(*) AS n FROM devices", max_rows=1, timeout_s=600)  # warm-up
            result["spark_start_s"] = round(start_s, 2)
            for label, q in names.items():
                secs, res = _timed(lambda q=q: analytics.run_builtin(spark, q, max_rows=10_000_000, timeout_s=7200))
                assert res.table.num_rows == answers[label], (label, res.table.num_rows, answers[label])
                result[f"spark_{label}_s"] = round(secs, 3)
                result[f"spark_vs_duckdb_{label}"] = round(secs / result[f"duckdb_{label}_s"], 2)
            spark.spark.stop()
        if not SKIP_FORECAST:
            result["forecast_series"] = SERIES
            result["forecast_series_per_s"] = round(_forecast_rate(), 1)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    record("analytics", result)


if __name__ == "__main__":
    main()
