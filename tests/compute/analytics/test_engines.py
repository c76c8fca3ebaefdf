"""The DuckDB backend over the lake: connect's archive and the exported facts, limits, cancel, bad input."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cityhub.compute.analytics import lake, queries
from cityhub.compute.analytics import service as analytics
from cityhub.connect import archive
from cityhub.connect import service as connect
from cityhub.kit import clock
from cityhub.kit.errors import Forbidden, ValidationFailed
from tests.compute.analytics.helpers import synthetic_lake
from tests.connect.helpers import SYSTEM, build_connect, message

T0 = datetime(2026, 2, 27, 22, 0, tzinfo=UTC)
SLOW = "SELECT sum(a.range * b.range) AS s FROM range(200000) AS a, range(200000) AS b"


def test_archived_telemetry_and_exported_registry_join_on_duckdb(world: Any, db: Any, tmp_path: Path) -> None:
    cw = build_connect(world)
    s = world.session
    clock.set_now(T0 + timedelta(days=5))
    recs = [{"ts": (T0 + timedelta(hours=i)).isoformat(), "values": {"strain": float(i)}} for i in range(30)]
    assert connect.ingest_messages(s, [message(cw["dev_a"].id, recs, clock.now())]).stored == 30
    s.commit()
    archive.archive(db, SYSTEM, datetime(2026, 2, 28, 12, tzinfo=UTC), tmp_path)  # connect's own archive writes
    with db.session_scope() as s2:
        counts = analytics.lake_export(s2, SYSTEM, tmp_path)
    assert counts["devices"] == 2 and counts["alarms"] == 0 and counts["incidents"] == 0
    eng = analytics.DuckDBEngine(tmp_path)
    daily = analytics.run_builtin(eng, "daily_aggregate")
    assert [(r[0], r[1], r[2].isoformat(), r[3]) for r in daily.rows()] == [
        (str(cw["dev_a"].id), "strain", "2026-02-27", 2), (str(cw["dev_a"].id), "strain", "2026-02-28", 12)]
    joined = analytics.run_builtin(eng, "join_registry")
    assert [(r[0], r[2], r[5]) for r in joined.rows()] == [
        ("bridge-health", "strain", 2), ("bridge-health", "strain", 12)]
    assert analytics.run_builtin(eng, "alarms_daily").rows() == []


def test_exporting_the_lake_is_a_platform_admins_action(world: Any, tmp_path: Path) -> None:
    with pytest.raises(Forbidden):
        analytics.lake_export(world.session, world.actors["org_member_a"], tmp_path)
    assert not (tmp_path / "registry").exists()


def test_a_fresh_lake_answers_every_builtin_with_no_rows(tmp_path: Path) -> None:
    eng = analytics.DuckDBEngine(tmp_path)
    for name, q in queries.BUILTINS.items():
        res = analytics.run_builtin(eng, name)
        assert res.rows() == [] and res.columns, name
        assert res.columns == [c.alias_or_name for c in _select_list(q.render())], name


def _select_list(sql: str) -> list[Any]:
    import sqlglot

    return list(sqlglot.parse_one(sql, read="duckdb").expressions)


def test_builtins_on_a_synthetic_lake(tmp_path: Path) -> None:
    eng = analytics.DuckDBEngine(synthetic_lake(tmp_path))
    daily = analytics.run_builtin(eng, "daily_aggregate").rows()
    assert len(daily) == 3 * 6 * 2  # days × devices × numeric metrics (the text metric has no value)
    assert all(r[3] == 24 for r in daily)
    top = analytics.run_builtin(eng, "topk_anomaly", {"k": 3}).rows()
    assert [(r[0], r[1], r[2]) for r in top] == _top_z(tmp_path, 3)
    assert {r[2].hour for r in top} <= {3, 4, 5, 6, 7, 8}  # the injected spikes
    joined = analytics.run_builtin(eng, "join_registry").rows()
    assert "dev-5" not in {r[0] for r in joined} and sum(r[5] for r in joined) == 3 * 5 * 2 * 24
    alarms = analytics.run_builtin(eng, "alarms_daily").rows()
    assert [(r[0].isoformat(), r[1], r[2], r[3]) for r in alarms] == [
        ("2026-03-01", "critical", 3, 1), ("2026-03-02", "major", 2, 1)]  # cleared: a0 and a3


def _top_z(root: Path, k: int) -> list[tuple[str, str, datetime]]:
    """The z-score top-k computed in Python from the files (the oracle)."""
    import statistics

    import pyarrow.parquet as pq

    points = [r for f in sorted(root.glob("telemetry/day=*/*.parquet")) for r in pq.read_table(f).to_pylist()
              if r["value"] is not None]
    series: dict[tuple[str, str], list[float]] = {}
    for r in points:
        series.setdefault((r["device_id"], r["key"]), []).append(r["value"])
    stats = {key: (statistics.fmean(v), statistics.stdev(v)) for key, v in series.items()}
    scored = [(abs(r["value"] - stats[(r["device_id"], r["key"])][0]) / stats[(r["device_id"], r["key"])][1],
               r["device_id"], r["key"], r["ts"]) for r in points]
    scored.sort(key=lambda x: (-x[0], x[1], x[2], x[3]))
    return [(d, key, ts) for _z, d, key, ts in scored[:k]]


def test_the_row_limit_cuts_and_says_so(tmp_path: Path) -> None:
    eng = analytics.DuckDBEngine(synthetic_lake(tmp_path))
    res = analytics.run_builtin(eng, "daily_aggregate", max_rows=5)
    assert res.table.num_rows == 5 and res.truncated
    assert not analytics.run_builtin(eng, "daily_aggregate", max_rows=36).truncated


def test_the_time_limit_cancels_a_long_query(tmp_path: Path) -> None:
    eng = analytics.DuckDBEngine(tmp_path)
    started = time.monotonic()
    with pytest.raises(analytics.QueryCancelled) as err:
        eng.query(SLOW, max_rows=10, timeout_s=0.3)
    assert err.value.timed_out and time.monotonic() - started < 20


def test_cancel_from_another_thread_stops_the_query(tmp_path: Path) -> None:
    eng = analytics.DuckDBEngine(tmp_path)
    control = analytics.QueryControl()
    seen: list[float | None] = []

    def watch() -> None:
        time.sleep(0.3)
        seen.append(control.progress())
        control.cancel()

    t = threading.Thread(target=watch)
    t.start()
    with pytest.raises(analytics.QueryCancelled) as err:
        eng.query(SLOW, max_rows=10, timeout_s=60, control=control)
    t.join()
    assert not err.value.timed_out and control.cancelled
    assert seen and (seen[0] is None or 0.0 <= seen[0] <= 1.0)


def test_bad_sql_and_bad_parameters_name_the_field(tmp_path: Path) -> None:
    eng = analytics.DuckDBEngine(tmp_path)
    with pytest.raises(ValidationFailed) as e1:
        eng.query("SELECT nope FROM telemetry", max_rows=10, timeout_s=5)
    assert e1.value.details[0]["field"] == "sql"
    with pytest.raises(ValidationFailed) as e2:
        analytics.run_builtin(eng, "topk_anomaly", {"k": 0})
    assert e2.value.details[0]["field"] == "k"
    with pytest.raises(ValidationFailed) as e3:
        analytics.run_builtin(eng, "topk_anomaly", {"k": "1; DROP TABLE x"})
    assert e3.value.details[0]["field"] == "k"
    with pytest.raises(ValidationFailed) as e4:
        analytics.run_builtin(eng, "nope")
    assert e4.value.details[0]["field"] == "query"


def test_the_lake_tables_match_connects_archive_schema() -> None:
    assert lake.TELEMETRY.remove(lake.TELEMETRY.get_field_index("day")) == archive.SCHEMA


def test_duckdb_reads_no_file_outside_the_lake(tmp_path: Path) -> None:
    (tmp_path / "lake").mkdir()
    (tmp_path / "secret.csv").write_text("a\n1\n")
    eng = analytics.DuckDBEngine(tmp_path / "lake")
    for sql in (f"SELECT * FROM read_csv('{tmp_path / 'secret.csv'}')", "SELECT * FROM read_text('/etc/passwd')"):
        with pytest.raises(ValidationFailed):
            eng.query(sql, max_rows=10, timeout_s=5)
    with pytest.raises(ValidationFailed):
        eng.query("SET enable_external_access = true", max_rows=1, timeout_s=5)
