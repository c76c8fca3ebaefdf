"""Every built-in query answers the same rows on DuckDB and on Spark (`local[2]`), over the same lake.

One SparkSession for the module (a JVM start takes seconds on two cores); the comparison is value for value, in
order, floats to 1e-9 relative (the engines sum in different orders).
"""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cityhub.compute.analytics import queries
from cityhub.compute.analytics import service as analytics
from cityhub.kit.settings import get_settings
from tests.compute.analytics.helpers import synthetic_lake

PARAMS: dict[str, dict[str, Any]] = {"topk_anomaly": {"k": 12}}


@pytest.fixture(scope="module")
def lake_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthetic_lake(tmp_path_factory.mktemp("lake"), devices=8, days=4)


@pytest.fixture(scope="module")
def engines(lake_dir: Path) -> Iterator[tuple[analytics.Engine, analytics.Engine]]:
    try:
        import pyspark  # noqa: F401  # present: the spark extra, which dev installs
    except ImportError:
        if get_settings().require_services:
            raise
        pytest.skip("pyspark is not installed (the spark extra)")
    if shutil.which("java") is None and not get_settings().require_services:
        pytest.skip("Spark needs a Java runtime")
    spark = analytics.SparkEngine(lake_dir, master="local[2]")
    yield analytics.DuckDBEngine(lake_dir), spark
    spark.spark.stop()


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return bool(a == b)


@pytest.mark.parametrize("name", sorted(queries.BUILTINS))
def test_every_builtin_answers_the_same_on_both_engines(engines: Any, name: str) -> None:
    duck, spark = engines
    a = analytics.run_builtin(duck, name, PARAMS.get(name), max_rows=5000)
    b = analytics.run_builtin(spark, name, PARAMS.get(name), max_rows=5000, timeout_s=300)
    assert (a.engine, b.engine) == ("duckdb", "spark")
    assert a.columns == b.columns
    assert a.rows(), f"{name}: the synthetic lake should give rows"
    ra, rb = a.rows(), b.rows()
    assert len(ra) == len(rb)
    for x, y in zip(ra, rb, strict=True):
        assert all(_same(u, v) for u, v in zip(x, y, strict=True)), (name, x, y)


def test_spark_honours_the_row_and_time_limits(engines: Any) -> None:
    _duck, spark = engines
    res = analytics.run_builtin(spark, "daily_aggregate", max_rows=3, timeout_s=300)
    assert res.table.num_rows == 3 and res.truncated
    started = time.monotonic()
    with pytest.raises(analytics.QueryCancelled) as err:
        spark.query("SELECT sum(a.value * b.value * c.value) AS s FROM telemetry AS a, telemetry AS b, "
                    "telemetry AS c", max_rows=1, timeout_s=3)  # 1,568³ rows: minutes without the cancel
    assert err.value.timed_out and time.monotonic() - started < 120
