"""Every built-in query, and saved analyses' statements over datastore tables beside the lake, answer the same rows
on DuckDB and on Spark (`local[2]`), over the same lake.

One SparkSession for the module (a JVM start takes seconds on two cores); the comparison is value for value, in
order, floats to 1e-9 relative (the engines sum in different orders).
"""

from __future__ import annotations

import math
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from cityhub.compute.analytics import analyses, queries
from cityhub.compute.analytics import service as analytics
from cityhub.data import service as data
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


# A saved analysis reads datastore resources, by their ids, as the rows the runner may read (masked values are text);
# the engine gets them as Arrow tables beside the lake. Spark refuses a uuid as a view name: registered as `t_…`.
RESOURCE = uuid.UUID("5b0e8a5e-4c1d-4d43-9a55-1f3b2c7d9e01")
EMPTY = uuid.UUID("0f0e0d0c-0b0a-4908-8706-050403020100")
R, E = f'"{RESOURCE}"', f'"{EMPTY}"'  # an analyst quotes a resource id, as in the portal's SQL
SAVED = {
    "group_join_nulls": f"SELECT r.district, d.profile_code, count(*) AS n, sum(r.amount) AS total, "
                        f"max(r.holder) AS holder FROM {R} AS r LEFT JOIN devices AS d "
                        f"ON r.device_id = d.device_id GROUP BY r.district, d.profile_code "
                        f"ORDER BY r.district NULLS FIRST, d.profile_code NULLS FIRST",
    "window": f"SELECT device_id, seq, sum(amount) OVER (PARTITION BY device_id ORDER BY seq) AS running, "
              f"rank() OVER (ORDER BY amount DESC, seq) AS place FROM {R} ORDER BY device_id, seq",
    "text_and_case": f"SELECT coalesce(district, '未知') AS district, upper(device_id) AS dev, "
                     f"CASE WHEN amount > 10 THEN 'high' ELSE 'low' END AS band, round(amount / 3, 2) AS third "
                     f"FROM {R} WHERE seq % 4 = 1 ORDER BY seq",
    "lake_and_resource": f"SELECT t.device_id, count(*) AS points, max(r.seq) AS last_seq FROM telemetry AS t "
                         f"JOIN {R} AS r ON r.device_id = t.device_id WHERE t.key = 'level' "
                         f"GROUP BY t.device_id ORDER BY t.device_id",
    "empty_resource": f"SELECT count(*) AS n FROM {E}",
}


def _resource_tables() -> dict[str, pa.Table]:
    rows = [{"device_id": f"dev-{i % 4}", "seq": i, "district": ("渝中区", None, "江北区")[i % 3],
             "amount": round(i * 1.75, 2), "holder": "张**"} for i in range(24)]
    return {str(RESOURCE): pa.Table.from_pylist(rows), str(EMPTY): pa.table({"name": pa.array([], pa.string())})}


@pytest.mark.parametrize("name", sorted(SAVED))
def test_a_saved_analysis_over_datastore_tables_answers_the_same_on_both_engines(engines: Any, name: str) -> None:
    duck, spark = engines
    tree, names = data.sql_read_only_tree(SAVED[name])  # what the guard accepts, rendered as analyses run it
    assert names
    statement = analyses.render(tree)
    tables = _resource_tables()
    a = duck.query(statement, max_rows=1000, timeout_s=60, tables=tables)
    b = spark.query(statement, max_rows=1000, timeout_s=300, tables=tables)
    assert a.columns == b.columns
    ra, rb = a.rows(), b.rows()
    assert ra and len(ra) == len(rb), (name, ra, rb)
    for x, y in zip(ra, rb, strict=True):
        assert all(_same(u, v) for u, v in zip(x, y, strict=True)), (name, x, y)
