"""The columnar load path (collection/columnar.py) writes what the row path writes, rejects what it rejects."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from cityhub.data import service
from cityhub.data.collection import columnar
from cityhub.data.collection.schemas import JobCreate, Source, SourceCreate
from cityhub.kit.settings import get_settings
from tests.conftest import drop_pg_database, pg_database
from tests.data.helpers import published_entry

pytestmark = pytest.mark.postgresql_only("the columnar path loads PostgreSQL datastore tables only")

TYPES = [("code", "C"), ("memo", "M"), ("num", "N"), ("money", "Y"), ("count", "I"), ("ratio", "F"), ("day", "D"),
         ("at", "T"), ("flag", "L")]
ITEMS: list[dict[str, Any]] = [{"name_cn": f"项{i}", "name_en": n, "data_type": t} for i, (n, t) in enumerate(TYPES)]
ITEMS[0].update(length=6, required=True)
MAPPING = {n: f"s_{n}" for n, _t in TYPES}
# cells the vectorised checks pass and cells they must hand to `convert` (its value or its reject)
CSV_ROWS = [
    ["a1", "plain", "3.14159", "0.125", "007", ".5", "2026-02-28", "2026-01-01 00:00:01+00", "YES"],
    ["a2", " spaced ", "1E+99", "¥1,234.5", "+5", "1e3", "1990-3-07", "2026-01-01T08:00:00", "是"],
    ["a3", "\u3000全角\u3000", "-0", "999999999999999999.995", "1_000", "1e400", "2026-02-30", "2026-01-01 24:00:00",
     "maybe"],
    ["a4", "多行\n文本", "", "", "", "", "", "1988-06-01 12:00:00", ""],
    ["toolong", "x", "1", "1", "1", "1", "2026-01-01", "2026-01-01 00:00:00.123456+05:30", "0"],
    ["", "no key", "1", "1", "1", "1", "2026-01-01", "", "f"],
    ["a5", "x", "1.5.", "1E+99", str(2**63), "nan", "0000-01-01", "2026-01-01 00:00:00+16", "否"],
    ["a1", "last a1 wins", "2", "2.005", "2", "2", "2026-01-02", "2026-01-02 00:00:00Z", "n"],
    # the string-function checks (no regex) of money and the text after a time's seconds
    ["b1", "x", "1", "-.5", "1", "1", "2026-01-01", "2026-01-01 00:00:00.1234567", "1"],
    ["b2", "x", "1", "5.", "1", "1", "2026-01-01", "2026-01-01 00:00:00+14:59", "1"],
    ["b3", "x", "1", "-", "1", "1", "2026-01-01", "2026-01-01 00:00:00+15", "1"],
    ["b4", "x", "1", "5-", "1", "1", "2026-01-01", "2026-01-01 00:00:00-08:00", "1"],
    ["b5", "x", "1", "-12.3450", "1", "1", "2026-01-01", "2026-01-01 00:00:00z", "1"],
    ["b6", "x", "1", "12.3451", "1", "1", "2026-01-01", "2026-01-01 00:00:00+0800", "1"],
    ["b7", "x", "1", "1234567890123456789", "1", "1", "2026-01-01", "2026-01-01 00:00:00+08:60", "1"],
    ["b8", "x", "1", "-999999999999999999.994", "1", "1", "2026-01-01", "2026-01-01 00:00:00.5-03", "1"],
    ["b9", "x", "1", "--5", "1", "1", "2026-01-01", "2026-01-01 00:00:00Z+08", "1"],
    ["c1", "x", "1", "-5.", "1", "1", "2026-01-01", "2026-01-01 00:00:00.", "1"],
    ["c2", "x", "1", ".5", "1", "1", "2026-01-01", "2026-01-01 00:00:00+08:00:00", "1"],
    ["c3", "x", "1", "0.005", "1", "1", "2026-01-01", "2026-01-01 00:00:00.000001Z", "1"],
]


@pytest.fixture
def var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(get_settings(), "var_dir", tmp_path)
    monkeypatch.setattr(get_settings(), "egress_allowed_hosts", "127.0.0.1")
    return tmp_path


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Each set-based load: "file" (converted in the target) or "database" (converted in the source's query)."""
    seen: list[str] = []
    real_sql, real_relay = columnar.convert_sql, columnar.DatabaseLoad.relay

    def spy_sql(*args: Any) -> Any:
        seen.append("file")
        return real_sql(*args)

    def spy_relay(self: Any, *args: Any) -> Any:
        seen.append("database")
        return real_relay(self, *args)

    monkeypatch.setattr(columnar, "convert_sql", spy_sql)
    monkeypatch.setattr(columnar.DatabaseLoad, "relay", spy_relay)
    return seen


def _csv(rows: list[list[str]]) -> str:
    def cell(v: str) -> str:
        return '"' + v.replace('"', '""') + '"' if any(ch in v for ch in ',"\n') else v

    return ",".join(MAPPING[n] for n, _t in TYPES) + "\n" + "".join(",".join(cell(v) for v in r) + "\n" for r in rows)


def _load(world: Any, kind: str, monkeypatch: pytest.MonkeyPatch, enabled: bool, files: dict[str, bytes] | None = None,
          **src: Any) -> tuple[Any, Any]:
    """One entry loaded by one job, columnar on or off; (the run, the table's rows without _id).

    `files`: the drop's files (name: bytes) instead of a.csv made of CSV_ROWS.
    """
    monkeypatch.setattr(columnar, "ENABLED", enabled)
    a = world.actors["org_member_a"]
    entry = published_entry(world, title=f"列式{uuid.uuid4().hex[:4]}", items=ITEMS)
    source = service.sync_source_create(world.session, a, SourceCreate(
        org_id=world.orgs["dept_a"].id, name=f"src-{uuid.uuid4().hex[:6]}", kind=kind, **src))
    if kind == "files":
        folder = Path(Source.model_validate(source).drop_folder)
        for n, (name, data) in enumerate((files or {"a.csv": _csv(CSV_ROWS).encode()}).items()):
            (folder / name).write_bytes(data)
            os.utime(folder / name, (1_700_000_000 + n, 1_700_000_000 + n))  # taken in this order
    job = service.sync_job_create(world.session, a, JobCreate(
        name=f"job-{uuid.uuid4().hex[:6]}", source_id=source.id, entry_id=entry.id, mapping=MAPPING, key=["code"],
        query="t" if kind == "database" else "", mode="incremental" if kind == "database" else "full",
        cursor_column="s_at" if kind == "database" else ""))
    run = service.sync_job_run(world.session, a, job.id)
    assert run.status == "succeeded", run.error
    res = service.resource_list(world.session, a, entry.id)[0]
    cols = ", ".join(f'"{n}"' for n, _t in TYPES)
    rows = [tuple(r) for r in world.session.execute(text(f'SELECT {cols} FROM "{res.table_name}" ORDER BY code'))]
    return run, (rows, job.watermark)


def _summary(run: Any) -> Any:
    return run.rows_read, run.rows_rejected, sorted((r["row"], r["column"], r["message"]) for r in run.rejects)


def test_columnar_and_row_paths_agree_on_a_csv_drop(world: Any, var: Path, monkeypatch: pytest.MonkeyPatch,
                                                    calls: list[str]) -> None:
    row_run, row_table = _load(world, "files", monkeypatch, False)
    assert not calls
    col_run, col_table = _load(world, "files", monkeypatch, True)
    assert calls == ["file"]  # the set-based path ran
    assert _summary(col_run) == _summary(row_run)
    assert col_table == row_table
    rows = {r[0]: r for r in col_table[0]}
    assert rows["a1"][1] == "last a1 wins" and str(rows["a1"][3]) == "2.00"  # 2.005 rounds half to even
    assert str(rows["a2"][2]) == "1E+99" or rows["a2"][2] == 10**99
    assert [(r[0], r[1]) for r in _summary(col_run)[2]] == [
        (4, "s_money"), (6, "s_code"), (7, "s_code"), (8, "s_num"), (12, "s_money"), (13, "s_money"), (14, "s_at"),
        (16, "s_money"), (18, "s_money"), (19, "s_at")]
    assert [str(rows[k][3]) for k in ("b6", "c3", "c2")] == ["12.35", "0.00", "0.50"]  # 0.005: a tie, to even


def test_a_ragged_csv_is_read_on_the_row_path(world: Any, var: Path, monkeypatch: pytest.MonkeyPatch,
                                              calls: list[str]) -> None:
    ragged = [*CSV_ROWS[:2], ["a9", "short"]]
    monkeypatch.setattr(sys.modules[__name__], "CSV_ROWS", ragged)
    row_run, row_table = _load(world, "files", monkeypatch, False)
    col_run, col_table = _load(world, "files", monkeypatch, True)
    assert _summary(col_run) == _summary(row_run) and col_table == row_table
    assert col_run.rows_read == 3


def _plain(rows: list[list[str]], crlf: bool = False, encoding: str = "utf-8") -> bytes:
    """A CSV without any quote (cells made plain: no comma, quote or line break)."""
    end = "\r\n" if crlf else "\n"
    header = ",".join(MAPPING[n] for n, _t in TYPES)
    body = "".join(",".join(v.replace(",", "").replace("\n", " ").replace('"', "") for v in r) + end for r in rows)
    return (header + end + body).encode(encoding)


@pytest.fixture
def copied(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Each COPY of plain drop files: how many files."""
    seen: list[int] = []
    real = columnar.copy_files

    def spy(cur: Any, table: str, cols: list[str], files: list[Any]) -> None:
        seen.append(len(files))
        real(cur, table, cols, files)

    monkeypatch.setattr(columnar, "copy_files", spy)
    return seen


def test_plain_csv_files_go_to_copy_and_agree_with_the_row_path(world: Any, var: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 calls: list[str], copied: list[int]) -> None:
    """Quote-free files (LF, CRLF, GB 18030, a BOM) are COPYed as they are: same rows, rejects, row numbers, files."""
    files = {"a.csv": b"\xef\xbb\xbf" + _plain(CSV_ROWS[:4]),
             "b.csv": _plain(CSV_ROWS[4:], crlf=True, encoding="gb18030")}
    row_run, row_table = _load(world, "files", monkeypatch, False, files)
    col_run, col_table = _load(world, "files", monkeypatch, True, files)
    assert calls == ["file"] and copied == [2]
    assert _summary(col_run) == _summary(row_run) and col_table == row_table
    assert sorted((r["file"], r["row"]) for r in col_run.rejects) == sorted(
        (r["file"], r["row"]) for r in row_run.rejects)
    assert {r["file"] for r in col_run.rejects} == {"a.csv", "b.csv"} and col_run.rows_read == len(CSV_ROWS)


@pytest.mark.parametrize("data", [b"s_code,s_memo\na1,x\n\na2,y\n", b's_code,s_memo\na1,"x"\n',
                                  b"s_code,s_memo\na1,x\r\na2,y\ra3,z\n", b"s_code,s_memo\n\\.\na2,y\n",
                                  b"s_code\na1\n"])
def test_csv_files_copy_would_read_otherwise_keep_the_reader(world: Any, var: Path, monkeypatch: pytest.MonkeyPatch,
                                                             calls: list[str], copied: list[int], data: bytes) -> None:
    """A blank line, a quote, a lone CR, COPY's end marker, one column: the csv reader, and the same outcome."""
    monkeypatch.setattr(sys.modules[__name__], "MAPPING", {"code": "s_code", "memo": "s_memo"})
    monkeypatch.setattr(sys.modules[__name__], "TYPES", TYPES[:2])
    monkeypatch.setattr(sys.modules[__name__], "ITEMS", ITEMS[:2])
    row_run, row_table = _load(world, "files", monkeypatch, False, {"a.csv": data})
    col_run, col_table = _load(world, "files", monkeypatch, True, {"a.csv": data})
    assert not copied
    assert _summary(col_run) == _summary(row_run) and col_table == row_table


def test_a_ragged_plain_csv_goes_from_copy_to_the_row_path(world: Any, var: Path, monkeypatch: pytest.MonkeyPatch,
                                                           calls: list[str], copied: list[int]) -> None:
    data = _plain(CSV_ROWS[:2]) + b"a9,short\n"
    row_run, row_table = _load(world, "files", monkeypatch, False, {"a.csv": data})
    col_run, col_table = _load(world, "files", monkeypatch, True, {"a.csv": data})
    assert copied == [1]  # COPY tried, refused the row, the run went back to the start on the row path
    assert _summary(col_run) == _summary(row_run) and col_table == row_table and col_run.rows_read == 3


@pytest.fixture
def pg_source() -> Iterator[str]:
    url = pg_database("cityhub_colsrc")
    eng = create_engine(url)
    with eng.begin() as conn:
        conn.execute(text("CREATE TABLE t (s_code TEXT, s_memo VARCHAR(40), s_num NUMERIC, s_money NUMERIC, "
                          "s_count BIGINT, s_ratio DOUBLE PRECISION, s_day DATE, s_at TIMESTAMPTZ, s_flag BOOLEAN)"))
        conn.execute(text(
            "INSERT INTO t VALUES ('b1', ' x ', 1e99, 0.125, 7, 0.1, '2026-02-28', '2026-01-01 00:00:01+00', true),"
            "('b2', NULL, 'NaN', 1e30, NULL, 'Infinity', '2026-01-01', '2026-01-02 00:00:00+08', false),"
            "('b3', '', 2.5, 16666.666666666667, 9223372036854775807, 1e-300, NULL, NULL, NULL),"
            "('b4', '\u3000全角\u3000', 5.0, -2.005, 3, 3, '2024-02-29', '2026-01-01 08:00:00+08', true),"
            "('b5', 'abc', 1, 999999999999999999.995, 3, 3, '2024-02-29', '2026-01-01 08:00:00+08', true),"
            "(NULL, 'no key', 1, 1, 1, 1, '2026-01-01', '2026-01-03 00:00:00+00', NULL),"
            "('b1', 'later b1', 2, 2.005, 2, 2, '2026-01-02', '2026-01-04 00:00:00+00', false)"))
    eng.dispose()
    yield url
    drop_pg_database(str(make_url(url).database))


def test_columnar_and_row_paths_agree_on_a_postgresql_source(world: Any, var: Path, pg_source: str,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             calls: list[str]) -> None:
    row_run, row_table = _load(world, "database", monkeypatch, False, url=pg_source)
    col_run, col_table = _load(world, "database", monkeypatch, True, url=pg_source)
    assert calls == ["database"]
    assert _summary(col_run) == _summary(row_run)
    assert col_table == row_table  # the rows and the watermark (the cursor's largest value)
    assert col_table[1]["value"].startswith("2026-01-04")
    assert {r[0] for r in col_table[0]} == {"b1", "b3", "b4"}  # b2: NaN, 31 digits, infinity; b5: 10^18
    assert str(next(r for r in col_table[0] if r[0] == "b4")[3]) == "-2.00"  # a tie rounds half to even


def _rerun(world: Any, monkeypatch: pytest.MonkeyPatch, enabled: bool, first: Any) -> tuple[Any, Any]:
    """The job of `first` run again, columnar on or off; as `_load`."""
    monkeypatch.setattr(columnar, "ENABLED", enabled)
    a = world.actors["org_member_a"]
    run = service.sync_job_run(world.session, a, first.job_id)
    assert run.status == "succeeded", run.error
    job = service.sync_job_get(world.session, a, first.job_id)
    res = service.resource_list(world.session, a, job.entry_id)[0]
    cols = ", ".join(f'"{n}"' for n, _t in TYPES)
    rows = [tuple(r) for r in world.session.execute(text(f'SELECT {cols} FROM "{res.table_name}" ORDER BY code'))]
    return run, (rows, job.watermark)


def test_an_incremental_run_past_the_watermark_agrees_with_the_row_path(
        world: Any, var: Path, pg_source: str, monkeypatch: pytest.MonkeyPatch, calls: list[str]) -> None:
    """A watermarked run of a PostgreSQL source is converted in the source's query too (into the stage, merged)."""
    row_first, _t = _load(world, "database", monkeypatch, False, url=pg_source)
    col_first, _t = _load(world, "database", monkeypatch, True, url=pg_source)
    eng = create_engine(pg_source)
    with eng.begin() as conn:  # changed, new and bad rows after the watermark; one change at the watermark itself
        conn.execute(text(
            "UPDATE t SET s_memo = 'changed', s_at = '2026-01-05 00:00:00+00' WHERE s_code = 'b3';"
            "UPDATE t SET s_memo = 'not read' WHERE s_code = 'b4';"
            "INSERT INTO t VALUES ('c1', 'new', 1, 1.005, 1, 1, '2026-01-01', '2026-01-06 00:00:00+00', true),"
            "('c2', 'bad', 'NaN', 1, 1, 1, '2026-01-01', '2026-01-07 00:00:00+00', true),"
            "('c3', '\u3000全角', 1, 1, 1, 1, NULL, '2026-01-06 12:00:00+00', NULL),"
            "('b1', 'b1 again', 3, 3, 3, 3, '2026-01-03', '2026-01-08 00:00:00+00', true),"
            "('c4', 'no time', 1, 1, 1, 1, '2026-01-01', NULL, NULL)"))
    eng.dispose()
    calls.clear()
    row_run, row_table = _rerun(world, monkeypatch, False, row_first)
    col_run, col_table = _rerun(world, monkeypatch, True, col_first)
    assert calls == ["database"]
    assert _summary(col_run) == _summary(row_run) and col_table == row_table
    assert (col_run.rows_read, col_run.rows_inserted, col_run.rows_updated) == (5, 2, 2)  # c1, c3 new; b3, b1
    assert col_table[1]["value"].startswith("2026-01-08")
    assert next(r for r in col_table[0] if r[0] == "b4")[1] != "not read"


def test_a_source_query_failing_mid_copy_fails_the_run_and_writes_nothing(
        world: Any, var: Path, pg_source: str, monkeypatch: pytest.MonkeyPatch, calls: list[str]) -> None:
    """The source's COPY breaks off after some rows (division by zero at b4): a failed run, an empty table."""
    a = world.actors["org_member_a"]
    entry = published_entry(world, title="列式失败", items=ITEMS)
    source = service.sync_source_create(world.session, a, SourceCreate(
        org_id=world.orgs["dept_a"].id, name="src-fail", kind="database", url=pg_source))
    cols = ", ".join(f"s_{n}" for n, _t in TYPES if n != "count")
    job = service.sync_job_create(world.session, a, JobCreate(
        name="job-fail", source_id=source.id, entry_id=entry.id, mapping=MAPPING, key=["code"],
        query=f"SELECT {cols}, 6 / (s_count - 3) AS s_count FROM t WHERE s_count IS NOT NULL"))
    run = service.sync_job_run(world.session, a, job.id)
    assert calls == ["database"]
    assert run.status == "failed" and "division by zero" in run.error
    assert (run.rows_inserted, run.rows_updated) == (0, 0)
    assert service.resource_list(world.session, a, entry.id) == []  # the savepoint took even the new table back


def test_a_source_column_of_another_type_is_read_on_the_row_path(world: Any, var: Path, pg_source: str,
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 calls: list[str]) -> None:
    eng = create_engine(pg_source)
    with eng.begin() as conn:
        conn.execute(text("ALTER TABLE t ALTER COLUMN s_memo TYPE jsonb USING to_jsonb(s_memo)"))
    eng.dispose()
    row_run, row_table = _load(world, "database", monkeypatch, False, url=pg_source)
    col_run, col_table = _load(world, "database", monkeypatch, True, url=pg_source)
    assert not calls
    assert _summary(col_run) == _summary(row_run) and col_table == row_table
