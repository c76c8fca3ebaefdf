"""Quality checks (issue 20): declared per entry, run after each sync, scored per entry and unit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cityhub.data import service
from cityhub.data.quality.schemas import QualityCheckCreate
from cityhub.kit import clock
from cityhub.kit.errors import Forbidden, ValidationFailed
from cityhub.kit.idcodes import credit_code_check_char, credit_code_ok, resident_id_check_char, resident_id_ok
from tests.data.test_collection import _entry, _job, _source, _sqlite_source, var  # noqa: F401  # var is a fixture


def test_identity_number_check_characters() -> None:
    assert resident_id_ok("11010519491231002X")  # the standard's worked example
    assert not resident_id_ok("110105194912310021")  # wrong check character
    assert not resident_id_ok("990105194912310028")  # no province 99
    assert not resident_id_ok("110105194902300028")  # 30 February
    body = "50010320010101123"
    assert resident_id_ok(body + resident_id_check_char(body))
    assert credit_code_ok("91350100M000100Y43")  # a published example
    assert not credit_code_ok("91350100M000100Y44") and not credit_code_ok("91350100M0001O0Y43")
    code = "91500103MA5U" + "12345"
    assert credit_code_ok(code + credit_code_check_char(code))


def _check(world: Any, entry: Any, kind: str, column: str = "", **params: Any) -> Any:
    return service.quality_check_create(world.session, world.actors["org_member_a"], QualityCheckCreate(
        entry_id=entry.id, kind=kind, column=column, params=params))


def test_checks_run_after_each_sync_and_score(world: Any, var: Path) -> None:  # noqa: F811  # the fixture
    entry = _entry(world)
    wang = [body + resident_id_check_char(body) for body in ("11010119800101003", "11010119800101005")]
    rows = [(1, "11010519491231002X", "张三", "1949-12-31", "100", "a"),
            (2, "110105194912310021", "李四", "1950-01-01", "200", "b"),  # bad check character
            (3, wang[0], "王五", "", "-5", "c"),
            (4, wang[1], "王五", "1980-01-01", "99999", "d")]
    job = _job(world, _source(world, _sqlite_source(var, rows)), entry)
    declared: list[tuple[str, str, dict[str, Any]]] = [
        ("not_null", "birth_date", {}), ("unique", "name", {}), ("in_list", "name", {"values": ["张三", "李四"]}),
        ("range", "income", {"min": 0, "max": 10000}), ("regex", "id_number", {"pattern": r"\d{17}[\dX]"}),
        ("id_card", "id_number", {}), ("freshness", "", {"max_age_hours": 24}),
        ("row_count_change", "", {"max_change_pct": 10})]
    checks = {k: _check(world, entry, k, c, **p) for k, c, p in declared}
    assert all(c.last_score is None for c in checks.values())
    run = service.sync_job_run(world.session, world.actors["org_member_a"], job.id)
    assert run.status == "succeeded", run.error
    failed = {k: c.last_failed for k, c in checks.items()}
    assert failed == {"not_null": 1, "unique": 2, "in_list": 2, "range": 2, "regex": 0, "id_card": 1,
                      "freshness": 0, "row_count_change": 0}
    assert checks["id_card"].last_score == pytest.approx(0.75)
    units, entries = service.quality_scores(world.session, world.actors["org_member_a"])
    expected = round(100 * (0.75 + 0.5 + 0.5 + 0.5 + 1 + 0.75 + 1 + 1) / 8, 1)
    assert entries[0].entry_id == entry.id and entries[0].score == expected and entries[0].failing == 5
    assert units[0].org_id == world.orgs["dept_a"].id and units[0].score == expected
    clock.set_now(clock.now().replace(year=clock.now().year + 1))
    service.quality_run(world.session, world.actors["org_member_a"], entry.id)
    assert checks["freshness"].last_failed == 1 and checks["freshness"].last_score == 0.0


def test_check_declarations_are_validated_and_scoped(world: Any, var: Path) -> None:  # noqa: F811  # the fixture
    entry = _entry(world)
    cases: list[tuple[str, str, dict[str, Any], str]] = [
                                        ("not_null", "nope", {}, "column"), ("in_list", "name", {}, "params.values"),
                                        ("range", "name", {"min": 1}, "column"),
                                        ("regex", "name", {"pattern": "("}, "params.pattern"),
                                        ("freshness", "name", {"max_age_hours": 1}, "column"),
                                        ("freshness", "", {"max_age_hours": -1}, "params.max_age_hours")]
    for kind, column, params, field in cases:
        with pytest.raises(ValidationFailed) as e:
            _check(world, entry, kind, column, **params)
        assert e.value.details[0]["field"] == field, kind
    with pytest.raises(Forbidden):
        service.quality_check_create(world.session, world.actors["org_member_b"], QualityCheckCreate(
            entry_id=entry.id, kind="not_null", column="name"))


def test_quality_page(client: Any, world: Any, var: Path) -> None:  # noqa: F811  # the fixture
    from tests.web.test_pages import login

    entry = _entry(world)
    job = _job(world, _source(world, _sqlite_source(var)), entry)
    _check(world, entry, "not_null", "birth_date")
    service.sync_job_run(world.session, world.actors["org_member_a"], job.id)
    login(client, "t-a-member")
    page = client.get("/data/collection/quality")
    assert page.status_code == 200 and "人口采集" in page.text and 'data-testid="quality-units"' in page.text


def test_sql_and_python_identity_checks_agree(world: Any) -> None:
    """On PostgreSQL the identity checks run as one SQL statement; it must judge every value as Python does."""
    from sqlalchemy import text

    from cityhub.data.quality import checks as q
    from cityhub.kit.db import is_postgres

    if not is_postgres(world.session):
        pytest.skip("the SQL form is PostgreSQL's")
    body = "50010320010101123"
    ids = ["11010519491231002X", "11010519491231002x", " 11010519491231002X ", "110105194912310021",
           "990105194912310028", "110105194902300028", "110105000001010012", "110105180001010013", "1101051949123100",
           "11010520991231002X", "11010519491331002X", body + resident_id_check_char(body), "abc", ""]
    for born in ("20000229", "19000229", "20240229", "20230229", "19490001", "19490100", "18491231", "18500101",
                 "19490431", "19491131", "19490230"):  # leap days, zero months and days, the 1850 limit
        first = "110105" + born + "002"
        ids += [first + resident_id_check_char(first), (first + resident_id_check_char(first)).lower()]
    ids += ["1101 0519491231002X", "１１0105194912310021", "11010519491231002X\n", "11010519491231002XX"]
    code = "91500103MA5U12345"
    codes = ["91350100M000100Y43", "91350100m000100y43", "91350100M000100Y44", "91350100M0001O0Y43", "9135",
             code + credit_code_check_char(code), "91AB0100M000100Y43", ""]
    for values, expr, py in ((ids, q._pg_id_card_valid("v"), resident_id_ok),
                             (codes, q._pg_credit_code_valid("v"), credit_code_ok)):
        rows = world.session.execute(text(f"SELECT v, {expr} FROM unnest(CAST(:vals AS text[])) AS t(v)"),
                                     {"vals": values, "today": q.id_card_today()}).all()
        assert {v: bool(ok) for v, ok in rows} == {v: py(v) for v in values}


def test_quality_counts_in_the_units_responsibility_kpi(world: Any, var: Path) -> None:  # noqa: F811  # the fixture
    entry = _entry(world)
    a = world.actors["org_member_a"]
    kpi = next(k for k in service.kpis(world.session, a) if k["org_id"] == world.orgs["dept_a"].id)
    assert kpi["data_quality"] is None  # no checks yet: the KPI is as it was
    job = _job(world, _source(world, _sqlite_source(var)), entry)
    _check(world, entry, "not_null", "income")  # one of the three loaded rows has no income
    service.sync_job_run(world.session, a, job.id)
    kpi2 = next(k for k in service.kpis(world.session, a) if k["org_id"] == world.orgs["dept_a"].id)
    assert kpi2["data_quality"] == pytest.approx(2 / 3, abs=1e-4)
    assert kpi2["score"] != kpi["score"]


def test_incremental_sync_checks_its_own_rows_and_agrees_with_a_full_evaluation(
        world: Any, var: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811  # the fixture
    """After an incremental run the row checks move by the run's rows only (old values out, new values in): the
    results equal a full evaluation of the table, including rows fixed and rows broken by the run."""
    import sqlite3

    from cityhub.data.quality.models import QualityResult

    entry = _entry(world)
    a = world.actors["org_member_a"]
    good = [body + resident_id_check_char(body) for body in (f"11010119800101{i:03d}" for i in range(1, 9))]
    bad = good[0][:17] + ("0" if good[0][17] != "0" else "1")  # a wrong check character, same body
    rows = [(i, v, f"人{i}", "1980-01-01" if i % 3 else "", str(i * 10), f"2026-01-0{i}T00:00:00")
            for i, v in enumerate(good[:6], start=1)] + [(7, bad, "坏", "1980-01-01", "5", "2026-01-07T00:00:00")]
    path = _sqlite_source(var, rows)
    job = _job(world, _source(world, path), entry, mode="incremental", cursor_column="gx", batch_size=2)
    checks = {k: _check(world, entry, k, c, **p) for k, c, p in (
        ("not_null", "birth_date", {}), ("id_card", "id_number", {}), ("range", "income", {"min": 0, "max": 45}))}
    assert service.sync_job_run(world.session, a, job.id).status == "succeeded"
    assert {k: c.last_failed for k, c in checks.items()} == {"not_null": 2, "id_card": 1, "range": 2}
    con = sqlite3.connect(path)
    con.executescript(  # fix row 3's birth date, break row 2's, the bad number gets right, two new rows (one bad)
        "UPDATE people SET csrq = '1981-01-01', gx = '2026-02-01' WHERE seq = 3;"
        "UPDATE people SET csrq = '', sr = '1', gx = '2026-02-02' WHERE seq = 2;"
        f"UPDATE people SET sfzh = '{good[6]}', gx = '2026-02-03' WHERE seq = 7;"
        f"INSERT INTO people VALUES (8, '{good[7]}', '新', '', '999', '2026-02-04');"
        f"INSERT INTO people VALUES (9, '{bad[:16]}99', '新坏', '1990-01-01', '1', '2026-02-05');")
    con.commit()
    con.close()
    # row 7's key changes (its number): the old row stays, as in the department's system after a renumbering
    from cityhub.data.quality import checks as q

    whole_table: list[str] = []
    real = q.evaluate

    def spy(session: Any, res: Any, kind: str, *rest: Any) -> Any:
        whole_table.append(kind)
        return real(session, res, kind, *rest)

    monkeypatch.setattr(q, "evaluate", spy)
    run = service.sync_job_run(world.session, a, job.id)
    assert whole_table == [], "an incremental run re-checked the whole table"
    monkeypatch.setattr(q, "evaluate", real)
    assert run.status == "succeeded" and run.rows_read == 5, run.error
    after_delta = {k: (c.last_failed, c.last_score) for k, c in checks.items()}
    latest = {k: world.session.query(QualityResult).filter_by(check_id=c.id).order_by(QualityResult.id.desc())
              .first() for k, c in checks.items()}
    assert latest["id_card"].message == "" and latest["id_card"].checked == 10
    service.quality_run(world.session, a, entry.id)  # the whole table, from scratch
    full = {k: (c.last_failed, c.last_score) for k, c in checks.items()}
    assert after_delta == full, (after_delta, full)
    assert after_delta["not_null"][0] == 3 and after_delta["id_card"][0] == 2 and after_delta["range"][0] == 3
