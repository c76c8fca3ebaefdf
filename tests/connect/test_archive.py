"""Archive: Parquet day files under the lake, rows deleted after, idempotent, queryable with DuckDB."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb

from cityhub.connect import archive, service
from cityhub.kit import clock
from tests.connect.helpers import SYSTEM, build_connect, message

T0 = datetime(2026, 2, 27, 22, 0, tzinfo=UTC)


def test_archive_writes_days_deletes_rows_and_duckdb_reads_it(world: Any, db: Any, tmp_path: Any) -> None:
    cw = build_connect(world)
    s = world.session
    clock.set_now(T0 + timedelta(days=5))
    recs = [{"ts": (T0 + timedelta(hours=i)).isoformat(), "values": {"strain": float(i)}} for i in range(30)]
    assert service.ingest_messages(s, [message(cw["dev_a"].id, recs, clock.now())]).stored == 30
    s.commit()
    before = datetime(2026, 2, 28, 12, tzinfo=UTC)
    out = archive.archive(db, SYSTEM, before, tmp_path)
    # 22:00 on the 27th … 11:00 on the 28th: two day files, 14 points
    assert out == {"days": 2, "archived": 14, "deleted": 14}
    with db.session_scope() as s2:
        assert service.telemetry_count(s2, before=before) == 0 and service.telemetry_count(s2) == 16
    again = archive.archive(db, SYSTEM, before, tmp_path)
    assert again == {"days": 0, "archived": 0, "deleted": 0}
    files = sorted(p.parent.name for p in (tmp_path / "telemetry").glob("day=*/*.parquet"))
    assert files == ["day=2026-02-27", "day=2026-02-28"]
    pattern = archive.glob_pattern(tmp_path)
    rows = duckdb.execute(f"SELECT day::VARCHAR, count(*), sum(value) FROM read_parquet('{pattern}',"
                          " hive_partitioning = true) GROUP BY day ORDER BY day").fetchall()
    assert rows == [("2026-02-27", 2, 1.0), ("2026-02-28", 12, sum(range(2, 14)))]
    # a late point for an archived day is merged into the existing file on the next run, without doubles
    late = {"ts": (T0 + timedelta(hours=1, minutes=30)).isoformat(), "values": {"strain": 100.0}}
    with db.session_scope() as s3:
        service.ingest_messages(s3, [message(cw["dev_a"].id, late, clock.now())])
    assert archive.archive(db, SYSTEM, before, tmp_path)["archived"] == 1
    n = duckdb.execute(f"SELECT count(*) FROM read_parquet('{archive.glob_pattern(tmp_path)}')").fetchall()[0]
    assert n == (15,)
