"""Collection (issue 20): sources, sync jobs and runs against real SQLite, MariaDB and PostgreSQL sources."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select, text

from cityhub.core.models import AuditEntry
from cityhub.core.service import Actor
from cityhub.data import service
from cityhub.data.collection import connectors
from cityhub.data.collection.schemas import JobCreate, Source, SourceCreate
from cityhub.kit import clock
from cityhub.kit.egress import EgressDenied
from cityhub.kit.errors import Forbidden, NotFound, ValidationFailed
from cityhub.kit.settings import get_settings
from tests.conftest import need_service
from tests.data.helpers import published_entry

ITEMS: list[dict[str, Any]] = [
    {"name_cn": "公民身份号码", "name_en": "id_number", "data_type": "C", "length": 18, "required": True,
     "masking_rule": "id_number", "security_level": "important"},
    {"name_cn": "姓名", "name_en": "name", "data_type": "C", "length": 20, "required": True,
     "masking_rule": "name", "security_level": "important"},
    {"name_cn": "出生日期", "name_en": "birth_date", "data_type": "D"},
    {"name_cn": "月收入", "name_en": "income", "data_type": "Y"},
]
MAPPING = {"id_number": "sfzh", "name": "xm", "birth_date": "csrq", "income": "sr"}
ROWS = [(1, "110101199003074514", "张三", "1990-03-07", "8000.50", "2026-01-01T00:00:00"),
        (2, "110101198505052316", "李四", "1985-05-05", "12000", "2026-01-02T00:00:00"),
        (3, "110101200012120011", "王五", "not a date", "1", "2026-01-03T00:00:00"),
        (4, "110101197001010031", "赵六", "1970-01-01", "", "2026-01-04T00:00:00")]


@pytest.fixture
def var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(get_settings(), "var_dir", tmp_path)
    monkeypatch.setattr(get_settings(), "egress_allowed_hosts", "127.0.0.1")
    return tmp_path


def _sqlite_source(var: Path, rows: list[tuple[Any, ...]] = ROWS) -> Path:
    folder = connectors.sources_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "hr.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE IF NOT EXISTS people (seq INTEGER, sfzh TEXT, xm TEXT, csrq TEXT, sr TEXT, gx TEXT)")
    con.executemany("INSERT INTO people VALUES (?, ?, ?, ?, ?, ?)", rows)
    con.commit()
    con.close()
    return path


def _entry(world: Any) -> Any:
    return published_entry(world, title="人口采集", items=ITEMS)


def _source(world: Any, path: Path, name: str = "hr") -> Any:
    return service.sync_source_create(world.session, world.actors["org_member_a"], SourceCreate(
        org_id=world.orgs["dept_a"].id, name=name, kind="database", url=f"sqlite:///{path}"))


def _job(world: Any, source: Any, entry: Any, **over: Any) -> Any:
    data: dict[str, Any] = {"name": f"job-{uuid.uuid4().hex[:6]}", "source_id": source.id, "entry_id": entry.id,
                            "query": "people", "mapping": MAPPING, "key": ["id_number"]}
    data.update(over)
    return service.sync_job_create(world.session, world.actors["org_member_a"], JobCreate(**data))


def _table(world: Any, entry: Any) -> list[dict[str, Any]]:
    res = service.resource_list(world.session, world.actors["org_member_a"], entry.id)[0]
    return [dict(r._mapping) for r in world.session.execute(
        text(f'SELECT * FROM "{res.table_name}" ORDER BY id_number'))]


def test_full_sync_counts_rejects_and_idempotent_rerun(world: Any, var: Path) -> None:
    entry = _entry(world)
    job = _job(world, _source(world, _sqlite_source(var)), entry)
    a = world.actors["org_member_a"]
    run = service.sync_job_run(world.session, a, job.id)
    assert run.status == "succeeded", run.error
    assert (run.rows_read, run.rows_inserted, run.rows_updated, run.rows_rejected) == (4, 3, 0, 1)
    assert run.rejects == [{"row": 3, "column": "csrq", "value": "not a date", "message": "not a date (YYYY-MM-DD)"}]
    rows = _table(world, entry)
    assert [r["name"] for r in rows] == ["赵六", "李四", "张三"]  # the bad row is not there, not even in part
    again = service.sync_job_run(world.session, a, job.id)
    assert (again.rows_read, again.rows_inserted, again.rows_updated) == (4, 0, 0)  # unchanged rows: no writes
    assert len(_table(world, entry)) == 3


def test_changed_rows_are_updated_by_key(world: Any, var: Path) -> None:
    entry = _entry(world)
    path = _sqlite_source(var)
    job = _job(world, _source(world, path), entry)
    a = world.actors["org_member_a"]
    service.sync_job_run(world.session, a, job.id)
    con = sqlite3.connect(path)
    con.execute("UPDATE people SET xm = '张三丰' WHERE seq = 1")
    con.execute("INSERT INTO people VALUES (5, '110101199912310018', '钱七', '1999-12-31', '3', '2026-01-05')")
    con.commit()
    con.close()
    run = service.sync_job_run(world.session, a, job.id)
    assert (run.rows_inserted, run.rows_updated) == (1, 1)
    names = {r["id_number"]: r["name"] for r in _table(world, entry)}
    assert names["110101199003074514"] == "张三丰" and names["110101199912310018"] == "钱七"


def test_incremental_reads_only_rows_past_the_watermark(world: Any, var: Path) -> None:
    entry = _entry(world)
    path = _sqlite_source(var)
    job = _job(world, _source(world, path), entry, mode="incremental", cursor_column="gx")
    a = world.actors["org_member_a"]
    first = service.sync_job_run(world.session, a, job.id)
    assert first.rows_read == 4 and job.watermark == {"type": "str", "value": "2026-01-04T00:00:00"}
    con = sqlite3.connect(path)
    con.execute("UPDATE people SET xm = '李四四', gx = '2026-02-01T00:00:00' WHERE seq = 2")
    con.commit()
    con.close()
    second = service.sync_job_run(world.session, a, job.id)
    assert (second.rows_read, second.rows_inserted, second.rows_updated) == (1, 0, 1)
    assert second.watermark_from == first.watermark_to
    assert service.sync_job_run(world.session, a, job.id).rows_read == 0


def test_failing_source_records_a_failed_run_writes_nothing_and_backs_off(world: Any, var: Path) -> None:
    entry = _entry(world)
    a = world.actors["org_member_a"]
    bad = service.sync_source_create(world.session, a, SourceCreate(
        org_id=world.orgs["dept_a"].id, name="down", kind="database", url="mysql+pymysql://u@127.0.0.1:1/x",
        password="s3cret-pw"))
    job = _job(world, bad, entry, schedule="0 3 * * *")
    run = service.sync_job_run(world.session, a, job.id)
    assert run.status == "failed" and "OperationalError" in run.error and "s3cret-pw" not in run.error
    assert job.failures == 1 and job.last_status == "failed"
    assert job.next_run_at is not None and job.next_run_at <= clock.now() + timedelta(seconds=61)
    assert service.resource_list(world.session, a, entry.id) == []  # the savepoint took the new table back


def test_scheduler_runs_due_jobs_and_one_failure_does_not_stop_the_others(world: Any, var: Path) -> None:
    entry = _entry(world)
    a = world.actors["org_member_a"]
    down = service.sync_source_create(world.session, a, SourceCreate(
        org_id=world.orgs["dept_a"].id, name="down", kind="database", url="postgresql://u@127.0.0.1:1/x"))
    good = _job(world, _source(world, _sqlite_source(var)), entry, schedule="*/5 * * * *")
    failing = _job(world, down, entry, schedule="*/5 * * * *")
    for j in (good, failing):
        j.next_run_at = clock.now() - timedelta(minutes=1)
    world.session.flush()
    due = service.sync_due_jobs(world.session)
    assert set(due) >= {good.id, failing.id}
    system = Actor.system("sync")
    for job_id in (failing.id, good.id):
        assert service.sync_job_claim(world.session, job_id)
        assert not service.sync_job_claim(world.session, job_id)  # claimed once
        service.sync_job_run(world.session, system, job_id, trigger="schedule")
    assert (failing.last_status, good.last_status) == ("failed", "succeeded")
    assert len(_table(world, entry)) == 3


def test_credentials_are_encrypted_never_shown_never_audited(world: Any, var: Path) -> None:
    a = world.actors["org_member_a"]
    src = service.sync_source_create(world.session, a, SourceCreate(
        org_id=world.orgs["dept_a"].id, name="hrdb", kind="database",
        url="mysql+pymysql://reader:pw-in-url@127.0.0.1:3306/test"))
    assert "pw-in-url" not in src.url and "pw-in-url" not in src.credentials_enc
    shown = Source.model_validate(src).model_dump_json()
    assert "pw-in-url" not in shown and '"has_credentials":true' in shown
    audit = world.session.scalars(select(AuditEntry).where(AuditEntry.action == "sync_source_create")).all()
    assert audit and all("pw-in-url" not in json.dumps(e.summary, ensure_ascii=False) for e in audit)


def test_source_urls_outside_the_allow_list_or_folder_are_refused(world: Any, var: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    a, org = world.actors["org_member_a"], world.orgs["dept_a"].id
    monkeypatch.setattr(get_settings(), "egress_allowed_hosts", "")
    for url in ("postgresql://u@127.0.0.1/db", "mysql://u@10.0.0.5/db", "postgresql://u@db.example.org/x"):
        with pytest.raises(EgressDenied) as e:
            service.sync_source_create(world.session, a, SourceCreate(org_id=org, name="x", kind="database",
                                                                            url=url))
        assert e.value.details[0]["field"] == "url"
    for url in ("sqlite:////etc/passwd", f"sqlite:///{var}/cityhub.db", "oracle://u@h/x",
                "mysql+pymysql://u@127.0.0.1/x?local_infile=1"):
        with pytest.raises(ValidationFailed):
            service.sync_source_create(world.session, a, SourceCreate(org_id=org, name="x", kind="database",
                                                                            url=url))
    with pytest.raises(EgressDenied):
        service.sync_source_create(world.session, a, SourceCreate(org_id=org, name="x", kind="http",
                                                                        url="http://127.0.0.1:9/api"))


def test_other_departments_neither_see_nor_run_a_units_sources(world: Any, var: Path) -> None:
    entry = _entry(world)
    src = _source(world, _sqlite_source(var))
    job = _job(world, src, entry)
    b = world.actors["org_member_b"]
    with pytest.raises(NotFound):
        service.sync_source_get(world.session, b, src.id)
    with pytest.raises(NotFound):
        service.sync_job_run(world.session, b, job.id)
    assert service.sync_job_list(world.session, b) == []
    with pytest.raises(Forbidden):
        service.sync_source_create(world.session, b, SourceCreate(
            org_id=world.orgs["dept_a"].id, name="x", kind="files"))
    with pytest.raises(ValidationFailed) as e:  # B's job may not point at A's source
        service.sync_job_create(world.session, b, JobCreate(
            name="steal", source_id=src.id, entry_id=entry.id, query="people", mapping=MAPPING, key=["id_number"]))
    assert e.value.details[0]["field"] == "source_id"


def test_job_validation_names_the_field(world: Any, var: Path) -> None:
    entry = _entry(world)
    src = _source(world, _sqlite_source(var))
    cases: list[tuple[dict[str, Any], str]] = [
             ({"mapping": {"nope": "x"}}, "mapping.nope"), ({"key": ["income"], "mapping": {"name": "xm"}}, "key"),
             ({"mode": "incremental"}, "cursor_column"), ({"query": "DELETE FROM people"}, "query"),
             ({"query": "SELECT 1; DROP TABLE people"}, "query"), ({"schedule": "every day"}, "schedule")]
    for over, field in cases:
        with pytest.raises(ValidationFailed) as e:
            _job(world, src, entry, **over)
        assert e.value.details[0]["field"] == field, over


def test_file_drop_csv_jsonl_parquet_incremental_by_file(world: Any, var: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    entry = _entry(world)
    a = world.actors["org_member_a"]
    for fmt in ("csv", "jsonl", "parquet"):
        src = service.sync_source_create(world.session, a, SourceCreate(
            org_id=world.orgs["dept_a"].id, name=f"drop-{fmt}", kind="files", options={"format": fmt}))
        folder = Path(Source.model_validate(src).drop_folder)
        assert folder.is_dir()
        job = _job(world, src, entry, query="", mode="incremental")
        recs = [{"sfzh": f"11010119900307{i:03d}X", "xm": f"人{i}", "csrq": "1990-03-07", "sr": str(i)}
                for i in range(3)]
        if fmt == "csv":
            (folder / "a.csv").write_text("sfzh,xm,csrq,sr\n" + "".join(
                f"{r['sfzh']},{r['xm']},{r['csrq']},{r['sr']}\n" for r in recs) + ",缺号,1990-01-01,1\n",
                encoding="utf-8")
        elif fmt == "jsonl":
            (folder / "a.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in recs))
        else:
            pq.write_table(pa.Table.from_pylist(recs), folder / "a.parquet")
        run = service.sync_job_run(world.session, a, job.id)
        assert run.status == "succeeded", run.error
        assert run.rows_read == (4 if fmt == "csv" else 3)
        if fmt == "csv":
            assert run.rejects[0] == {"row": 5, "column": "sfzh", "value": "", "message": "required",
                                      "file": "a.csv"}
        assert service.sync_job_run(world.session, a, job.id).rows_read == 0  # the file was taken already
    assert len(_table(world, entry)) == 3


class _Api(BaseHTTPRequestHandler):
    records: ClassVar[list[dict[str, Any]]] = [
        {"sfzh": f"11010119800101{i:04d}", "xm": f"员工{i}", "csrq": "1980-01-01", "sr": i}
               for i in range(25)]

    def do_GET(self) -> None:
        q = parse_qs(urlsplit(self.path).query)
        page, size = int(q["page"][0]), int(q["size"][0])
        if self.headers.get("X-Key") != "k-1":
            self.send_response(401)
            self.end_headers()
            return
        body = json.dumps({"data": self.records[(page - 1) * size:page * size]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def api_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/people"
    finally:
        server.shutdown()
        server.server_close()


def test_http_api_with_paging_and_header_credentials(world: Any, var: Path, api_server: str) -> None:
    entry = _entry(world)
    a = world.actors["org_member_a"]
    src = service.sync_source_create(world.session, a, SourceCreate(
        org_id=world.orgs["dept_a"].id, name="hr-api", kind="http", url=api_server, headers={"X-Key": "k-1"},
        options={"records": "data", "page_size": 10}))
    job = _job(world, src, entry, query="", batch_size=7)
    run = service.sync_job_run(world.session, a, job.id)
    assert run.status == "succeeded", run.error
    assert (run.rows_read, run.rows_inserted) == (25, 25)
    assert "k-1" not in Source.model_validate(src).model_dump_json()


def test_mariadb_source(world: Any, var: Path) -> None:
    need_service("MariaDB", "127.0.0.1", 3306)
    import pymysql

    table = f"people_{uuid.uuid4().hex[:8]}"
    con = pymysql.connect(host="127.0.0.1", user="root", database="test")
    try:
        with con.cursor() as cur:
            cur.execute(f"CREATE TABLE {table} (seq INT PRIMARY KEY, sfzh VARCHAR(18), xm VARCHAR(20), "
                        "csrq DATE, sr DECIMAL(10,2), gx DATETIME)")
            cur.executemany(f"INSERT INTO {table} VALUES (%s, %s, %s, %s, %s, %s)",
                            [(i, f"5001011990010{i:05d}", f"人{i}", "1990-01-01", i * 10,
                              f"2026-01-01 00:00:{i:02d}") for i in range(1, 21)])
        con.commit()
        entry = _entry(world)
        a = world.actors["org_member_a"]
        src = service.sync_source_create(world.session, a, SourceCreate(
            org_id=world.orgs["dept_a"].id, name="maria", kind="database", url="mariadb://root@127.0.0.1:3306/test"))
        job = _job(world, src, entry, query=table, mode="incremental", cursor_column="gx", batch_size=6)
        run = service.sync_job_run(world.session, a, job.id)
        assert run.status == "succeeded", run.error
        assert (run.rows_read, run.rows_inserted) == (20, 20)
        assert job.watermark == {"type": "datetime", "value": "2026-01-01T00:00:20"}
        with con.cursor() as cur:
            cur.execute(f"UPDATE {table} SET xm = '改名', gx = '2026-01-02' WHERE seq = 3")
        con.commit()
        again = service.sync_job_run(world.session, a, job.id)
        assert (again.rows_read, again.rows_updated) == (1, 1)
    finally:
        with con.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {table}")
        con.commit()
        con.close()


class _SameSession:
    """The CLI's database boundary, opened on the test's session (its transaction is rolled back afterwards)."""

    def __init__(self, session: Any) -> None:
        self.session = session

    @contextlib.contextmanager
    def session_scope(self) -> Iterator[Any]:
        yield self.session


def test_cli_sync_and_worker(world: Any, var: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import typer
    from typer.testing import CliRunner

    from cityhub.data import cli

    entry = _entry(world)
    job = _job(world, _source(world, _sqlite_source(var)), entry, name="hr-people", schedule="*/5 * * * *")
    monkeypatch.setattr(cli, "_db", lambda: _SameSession(world.session))
    app = typer.Typer()
    cli.register(app)
    out = CliRunner().invoke(app, ["data", "sync", "hr-people"])
    assert out.exit_code == 0, out.output
    assert "succeeded: read 4, inserted 3, updated 0, rejected 1" in out.output
    assert "row 3, csrq: not a date" in out.output
    job.next_run_at = clock.now() - timedelta(seconds=1)
    world.session.flush()
    out = CliRunner().invoke(app, ["data", "sync-worker", "--every", "0"])
    assert out.exit_code == 0, out.output
    assert service.sync_runs(world.session, world.actors["org_member_a"], job.id)[0].trigger == "schedule"
    assert job.next_run_at is not None and job.next_run_at > clock.now()
    assert CliRunner().invoke(app, ["data", "sync", "no-such-job"]).exit_code != 0


def test_collection_page_runs_a_job_and_shows_history(client: Any, world: Any, var: Path) -> None:
    from tests.web.test_pages import _csrf, login

    entry = _entry(world)
    job = _job(world, _source(world, _sqlite_source(var)), entry, name="人口库同步")
    login(client, "t-a-member")
    page = client.get("/data/collection")
    assert page.status_code == 200 and "人口库同步" in page.text and 'id="page-data"' in page.text
    r = client.post(f"/data/collection/jobs/{job.id}/run", data={"csrf_token": _csrf(page.text)},
                    follow_redirects=False)
    assert r.status_code == 303
    page = client.get("/data/collection")
    assert 'data-testid="sync-runs"' in page.text and "not a date" in page.text  # the reject, with its reason
    assert "hr.db" in page.text  # the SQLite file's path is shown to the owner; no password exists here
    login(client, "t-b-member")
    other = client.get("/data/collection")
    assert other.status_code == 200 and "人口库同步" not in other.text
    assert client.post(f"/data/collection/jobs/{job.id}/run", data={"csrf_token": _csrf(other.text)},
                       follow_redirects=False).status_code == 303  # refused as a flash message, nothing run
    assert len(service.sync_runs(world.session, world.actors["org_member_a"], job.id)) == 1


def test_sources_and_jobs_are_registered_from_the_page(client: Any, world: Any, var: Path) -> None:
    from tests.web.test_pages import _csrf, login

    entry = _entry(world)
    path = _sqlite_source(var)
    login(client, "t-a-member")
    page = client.get("/data/collection")
    assert 'data-testid="source-form"' in page.text
    org = str(world.orgs["dept_a"].id)
    r = client.post("/data/collection/sources", data={"csrf_token": _csrf(page.text), "org_id": org,
                                                       "name": "人事库", "kind": "database", "url": f"sqlite:///{path}"},
                    follow_redirects=False)
    assert r.status_code == 303 and "msg=" in r.headers["location"]
    src = next(s for s in service.sync_source_list(world.session, world.actors["org_member_a"]) if s.name == "人事库")
    page = client.get("/data/collection")
    bad = client.post("/data/collection/jobs", data={
        "csrf_token": _csrf(page.text), "name": "页面任务", "source_id": str(src.id), "entry_id": str(entry.id),
        "query": "people", "mapping": "name xm", "key": "id_number"}, follow_redirects=False)
    assert bad.status_code == 303 and service.sync_job_list(world.session, world.actors["org_member_a"]) == []
    ok = client.post("/data/collection/jobs", data={
        "csrf_token": _csrf(page.text), "name": "页面任务", "source_id": str(src.id), "entry_id": str(entry.id),
        "query": "people", "mapping": "id_number = sfzh\nname = xm", "key": "id_number"}, follow_redirects=False)
    assert ok.status_code == 303
    [job] = service.sync_job_list(world.session, world.actors["org_member_a"])
    assert job.mapping == {"id_number": "sfzh", "name": "xm"} and job.key == ["id_number"]
    login(client, "t-b-member")  # B may not register a source for A's unit
    other = client.get("/data/collection")
    client.post("/data/collection/sources", data={"csrf_token": _csrf(other.text), "org_id": org, "name": "x",
                                                   "kind": "files"}, follow_redirects=False)
    assert len(service.sync_source_list(world.session, world.actors["org_member_a"])) == 1


def test_the_platforms_own_database_is_not_a_source(world: Any, var: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "database_url", "postgresql+psycopg://cityhub@db.internal:5432/cityhub")
    monkeypatch.setattr(get_settings(), "egress_allowed_hosts", "127.0.0.1,db.internal")
    for url in ("postgresql://reader@127.0.0.1/cityhub", "postgresql+psycopg://x@db.internal:5432/cityhub"):
        with pytest.raises(ValidationFailed) as e:
            service.sync_source_create(world.session, world.actors["org_member_a"], SourceCreate(
                org_id=world.orgs["dept_a"].id, name="own", kind="database", url=url))
        assert e.value.details[0]["field"] == "url"
    ok = service.sync_source_create(world.session, world.actors["org_member_a"], SourceCreate(
        org_id=world.orgs["dept_a"].id, name="hr", kind="database", url="postgresql://reader@127.0.0.1/hr"))
    assert ok.url.endswith("/hr")


def test_converter_shortcuts_agree_with_convert() -> None:
    from datetime import UTC, date, datetime
    from decimal import Decimal

    from cityhub.data.collection.rows import _converter
    from cityhub.data.datastore._parse import convert

    items: list[dict[str, Any]] = [{"name_en": "c", "data_type": "C", "length": 3, "required": True},
             {"name_en": "m", "data_type": "M"}, {"name_en": "d", "data_type": "D"},
             {"name_en": "y", "data_type": "Y"}, {"name_en": "n", "data_type": "N", "required": True},
             {"name_en": "t", "data_type": "T"}, {"name_en": "i", "data_type": "I"}]
    from zoneinfo import ZoneInfo

    values = [None, "", "  ", " ab ", "abcd", "2026-01-02", date(2026, 1, 2), datetime(2026, 1, 2, 3, tzinfo=UTC),
              datetime(2026, 1, 2, 3, tzinfo=ZoneInfo("Asia/Shanghai")), datetime(2026, 1, 2, 3),
              "2026-02-30", "2026-1-02", "2026/01/02", "2026-W01-1", "20260102",
              Decimal("1.005"), Decimal("NaN"), Decimal("-3"), 7, 2.5, "x1", True,
              "1E+99", Decimal("1E+99"), Decimal("1E-20"), "1E+999999", 2**70]
    for item in items:
        conv = _converter(item)
        for v in values:
            try:
                expected: Any = ("ok", convert(item, v))
            except ValueError as exc:
                expected = ("error", str(exc))
            try:
                got: Any = ("ok", conv(v))
            except ValueError as exc:
                got = ("error", str(exc))
            assert got == expected, (item["data_type"], v)


def test_huge_numbers_convert_to_their_value_or_a_clear_error() -> None:
    """'1E+99' is 10^99 in a NUMERIC item, a clear reject in an amount (18 digits), an integer or a float item
    whose range it leaves — never an exception a run would fail on."""
    from decimal import Decimal

    from cityhub.data.datastore._parse import convert

    assert convert({"data_type": "N"}, "1E+99") == Decimal("1E+99")
    assert convert({"data_type": "Y"}, "999999999999999999.99") == Decimal("999999999999999999.99")
    for t, raw, message in (("Y", "1E+99", "out of range"), ("Y", "999999999999999999.995", "out of range"),
                            ("N", "1E+999999", "out of range"), ("I", "1E+99", "not an integer"),
                            ("I", str(2**63), "out of range"), ("I", 1e99, "out of range"),
                            ("F", "1E+999", "out of range"), ("B", "nan", "out of range")):
        with pytest.raises(ValueError, match=message):
            convert({"data_type": t}, raw)


def test_first_load_of_an_empty_table_keeps_the_last_row_of_a_key(world: Any, var: Path) -> None:
    """A first full load (COPY straight into the empty table on PostgreSQL, the key index built at the end) and
    the batch-by-batch merge agree: a key repeated in a later batch keeps its last row and counts as an update."""
    from cityhub.data.collection.sync import key_columns

    rows = [(1, "110101199003074514", "张三", "1990-03-07", "1", "2026-01-01T00:00:00"),
            (2, "110101198505052316", "李四", "1985-05-05", "2", "2026-01-02T00:00:00"),
            (3, "110101197001010031", "赵六", "1970-01-01", "3", "2026-01-03T00:00:00"),
            (4, "110101199003074514", "张三改", "1990-03-07", "4", "2026-01-04T00:00:00")]
    entry = _entry(world)
    job = _job(world, _source(world, _sqlite_source(var, rows)), entry, batch_size=2)
    a = world.actors["org_member_a"]
    run = service.sync_job_run(world.session, a, job.id)
    assert run.status == "succeeded", run.error
    assert (run.rows_read, run.rows_inserted, run.rows_updated) == (4, 3, 1)
    table = _table(world, entry)
    assert [(r["id_number"], r["name"]) for r in table] == [
        ("110101197001010031", "赵六"), ("110101198505052316", "李四"), ("110101199003074514", "张三改")]
    res = service.resource_list(world.session, a, entry.id)[0]
    assert key_columns(world.session, res.table_name or "") == ["id_number"]  # the key index is back
    if world.session.get_bind().dialect.name == "postgresql":  # pages keep room for the next syncs' updates
        options = world.session.execute(text("SELECT reloptions FROM pg_class WHERE relname = :t"),
                                        {"t": res.table_name}).scalar()
        assert options == ["fillfactor=90"]
    again = service.sync_job_run(world.session, a, job.id)  # batch by batch now: the key flips and flips back
    assert again.rows_inserted == 0 and _table(world, entry) == table


def test_every_data_type_round_trips_through_both_write_paths(world: Any, var: Path) -> None:
    """Each information-item type is written (binary COPY on PostgreSQL: the first load straight into the table,
    then the staged merge) and reads back as the value `convert` made."""
    from datetime import date, datetime
    from decimal import Decimal

    types = [("code", "C"), ("memo", "M"), ("geo", "G"), ("num", "N"), ("money", "Y"), ("count", "I"), ("ratio", "B"),
             ("flt", "F"), ("day", "D"), ("at", "T"), ("flag", "L")]
    items: list[dict[str, Any]] = [{"name_cn": f"项{i}", "name_en": n, "data_type": t}
                                   for i, (n, t) in enumerate(types)]
    items[0].update(length=10, required=True)
    folder = connectors.sources_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "types.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE t (code, memo, geo, num, money, count, ratio, flt, day, at, flag)")
    con.execute("INSERT INTO t VALUES ('a1', '多行\t文本\\\\', '{\"type\": \"Point\"}', '3.14159', '¥1,234.5', 42, "
                "'0.25', '-1e3', '2026-02-28', '2026-03-01 08:00:00', '是')")
    con.commit()
    con.close()
    entry = published_entry(world, title="类型", items=items)
    source = service.sync_source_create(world.session, world.actors["org_member_a"], SourceCreate(
        org_id=world.orgs["dept_a"].id, name="types", kind="database", url=f"sqlite:///{path}"))
    job = _job(world, source, entry, query="t", mapping={it["name_en"]: it["name_en"] for it in items},
               key=["code"])
    a = world.actors["org_member_a"]
    assert service.sync_job_run(world.session, a, job.id).status == "succeeded"
    con = sqlite3.connect(path)
    con.execute("UPDATE t SET count = 43, flag = '否'")
    con.commit()
    con.close()
    run = service.sync_job_run(world.session, a, job.id)
    assert (run.status, run.rows_updated) == ("succeeded", 1), run.error
    res = service.resource_list(world.session, a, entry.id)[0]
    row = dict(world.session.execute(text(f'SELECT * FROM "{res.table_name}"')).one()._mapping)
    pg = world.session.get_bind().dialect.name == "postgresql"
    expected = {"code": "a1", "memo": "多行\t文本\\\\", "geo": '{"type": "Point"}', "count": 43, "ratio": 0.25,
                "flt": -1000.0}
    assert {k: row[k] for k in expected} == expected
    assert Decimal(str(row["num"])) == Decimal("3.14159") and Decimal(str(row["money"])) == Decimal("1234.50")
    if pg:
        assert row["day"] == date(2026, 2, 28) and row["flag"] is False
        assert row["at"] == datetime.fromisoformat("2026-03-01T08:00:00+08:00")
    else:
        assert row["day"] == "2026-02-28" and row["flag"] == 0
