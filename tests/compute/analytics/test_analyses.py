"""Saved analyses: SQL refused before it is saved, runs as jobs over what the runner may read (grants and masking
enforced), limits, cancel, CSV, audit."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from cityhub.compute import service as compute
from cityhub.compute.schemas import AnalysisCreate, AnalysisRunStart, AnalysisUpdate
from cityhub.core import service as core
from cityhub.kit.errors import Conflict, NotFound, ValidationFailed
from cityhub.kit.pagination import PageParams
from cityhub.kit.settings import get_settings
from tests.compute.analytics.helpers import synthetic_lake
from tests.data.helpers import active_grant, load_people, published_entry


@pytest.fixture(autouse=True)
def var_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(get_settings(), "var_dir", tmp_path)
    monkeypatch.setattr(get_settings(), "engine", "duckdb")
    return tmp_path


def _people(world: Any) -> Any:
    entry = published_entry(world)
    res = load_people(world, entry)
    return entry, res


def _new(world: Any, who: str, sql: str, org: str = "dept_a", name: str = "分析") -> Any:
    return compute.analysis_create(world.session, world.actors[who], AnalysisCreate(
        org_id=world.orgs[org].id, name=name, sql=sql))


@pytest.mark.parametrize("sql", [
    "DELETE FROM devices",
    "SELECT 1 AS a; SELECT 2 AS b",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM nosuchtable",
    "COPY (SELECT 1) TO '/tmp/x.csv'",
    "SELECT 1 AS one",
])
def test_sql_that_is_not_one_readable_select_is_refused_before_it_is_saved(world: Any, sql: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        _new(world, "platform_admin", sql)
    assert err.value.details[0]["field"] == "sql"
    assert compute.analysis_list(world.session, world.actors["platform_admin"], PageParams())[1] == 0


def test_the_lake_is_for_city_wide_readers_only(world: Any) -> None:
    with pytest.raises(ValidationFailed) as err:
        _new(world, "org_member_a", "SELECT count(*) AS n FROM telemetry")
    assert err.value.details[0]["field"] == "sql"
    assert _new(world, "platform_admin", "SELECT count(*) AS n FROM telemetry").name == "分析"


def test_a_granted_unit_reads_only_its_granted_items_masked(world: Any) -> None:
    entry, res = _people(world)
    sql = f'SELECT * FROM "{res.id}" ORDER BY 1'
    with pytest.raises(ValidationFailed):  # unit B has no grant yet: the table is not readable
        _new(world, "org_member_b", sql, org="dept_b")
    active_grant(world, entry, items=["name", "gender"])
    a = _new(world, "org_member_b", sql, org="dept_b")
    run = compute.analysis_run(world.session, world.actors["org_member_b"], a.id, AnalysisRunStart(), wait=True)
    got = compute.analysis_run_get(world.session, world.actors["org_member_b"], run["id"])
    assert got["status"] == "succeeded", got
    assert sorted(got["columns"]) == ["gender", "name"]  # only the granted items
    names = [r[got["columns"].index("name")] for r in got["records"]]
    assert len(names) == 3 and "张三" not in names and all("*" in n for n in names)  # masked
    # the provider reads its own rows in clear through the same analysis SQL
    mine = _new(world, "org_member_a", sql, name="自己的")
    run_a = compute.analysis_run(world.session, world.actors["org_member_a"], mine.id, AnalysisRunStart(), wait=True)
    clear = compute.analysis_run_get(world.session, world.actors["org_member_a"], run_a["id"])
    assert "张三" in [r[clear["columns"].index("name")] for r in clear["records"]]
    assert "id_number" in clear["columns"]


def test_a_run_answers_charts_and_exports_csv_and_is_audited(world: Any, var_dir: Path) -> None:
    synthetic_lake(var_dir / "lake")
    admin = world.actors["platform_admin"]
    a = _new(world, "platform_admin", "SELECT key, count(*) AS n FROM telemetry GROUP BY key ORDER BY key")
    a = compute.analysis_update(world.session, admin, a.id, AnalysisUpdate(chart="bar"))
    run = compute.analysis_run(world.session, admin, a.id, AnalysisRunStart(max_rows=2), wait=True)
    got = compute.analysis_run_get(world.session, admin, run["id"])
    assert got["status"] == "succeeded" and got["records"] == [["flow", 432], ["level", 432]] and got["truncated"]
    csv = compute.analysis_run_csv(world.session, admin, run["id"]).decode("utf-8-sig")
    assert csv.splitlines() == ["key,n", "flow,432", "level,432"]
    parquet = pq.read_table(io.BytesIO(compute.analysis_run_parquet(world.session, admin, run["id"])))
    assert parquet.column_names == ["key", "n"] and parquet.to_pylist() == [{"key": "flow", "n": 432},
                                                                            {"key": "level", "n": 432}]
    with pytest.raises(Conflict):
        compute.analysis_run_cancel(world.session, admin, run["id"])
    actions = {r.action for r in core.audit_list(world.session, admin, core.AuditFilter(), PageParams(limit=200))[0]}
    assert {"analysis_create", "analysis_update", "analysis_run"} <= actions


def test_a_long_run_reports_progress_and_is_cancelled(world: Any, var_dir: Path) -> None:
    synthetic_lake(var_dir / "lake", devices=8, days=4)
    admin = world.actors["platform_admin"]
    a = _new(world, "platform_admin",
             "SELECT sum(a.value * b.value * c.value) AS s FROM telemetry AS a, telemetry AS b, telemetry AS c")
    run = compute.analysis_run(world.session, admin, a.id, AnalysisRunStart(timeout_s=120))
    assert run["status"] == "running"
    time.sleep(0.5)
    compute.analysis_run_cancel(world.session, admin, run["id"])
    deadline = time.monotonic() + 30
    while compute.analysis_run_get(world.session, admin, run["id"])["status"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert compute.analysis_run_get(world.session, admin, run["id"])["status"] == "cancelled"
    timed = compute.analysis_run(world.session, admin, a.id, AnalysisRunStart(timeout_s=1), wait=True)
    assert compute.analysis_run_get(world.session, admin, timed["id"])["status"] == "timed_out"


def test_other_units_do_not_see_an_analysis(world: Any) -> None:
    _entry, res = _people(world)
    a = _new(world, "org_member_a", f'SELECT count(*) AS n FROM "{res.id}"')
    with pytest.raises(NotFound):
        compute.analysis_get(world.session, world.actors["org_member_b"], a.id)
    with pytest.raises(NotFound):
        compute.analysis_run(world.session, world.actors["org_member_b"], a.id, AnalysisRunStart(), wait=True)
    assert compute.analysis_list(world.session, world.actors["org_member_b"], PageParams())[1] == 0


def test_deleting_an_analysis_removes_its_runs_and_is_audited(world: Any, var_dir: Path) -> None:
    import warnings

    synthetic_lake(var_dir / "lake")
    admin = world.actors["platform_admin"]
    a = _new(world, "platform_admin", "SELECT count(*) AS n FROM telemetry")
    runs = [compute.analysis_run(world.session, admin, a.id, AnalysisRunStart(), wait=True) for _ in range(2)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an ORM flush that expected rows the database already removed warns
        compute.analysis_delete(world.session, admin, a.id)
    for run in runs:
        with pytest.raises(NotFound):
            compute.analysis_run_get(world.session, admin, run["id"])
    with pytest.raises(NotFound):
        compute.analysis_get(world.session, admin, a.id)
    actions = {r.action for r in core.audit_list(world.session, admin, core.AuditFilter(), PageParams(limit=200))[0]}
    assert "analysis_delete" in actions
