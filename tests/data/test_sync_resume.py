"""A sync run killed mid-way (issue 20: "runs are resumable and idempotent").

A real `cityhub data sync JOB` process reads a paging HTTP API into a committed database of each backend; the API
holds its third page until the process has been killed with SIGKILL, by which time two batches have been merged
into the datastore table inside the run's transaction. Afterwards nothing of the killed run is there (no row, no
watermark, no run marked succeeded, the job's lock released), and running the job again loads every row exactly
once; a further run with new rows at the source reads only those.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select, text

from cityhub.core import service as core
from cityhub.core.schemas import OrganizationCreate
from cityhub.data import schemas, service
from cityhub.data.collection.schemas import JobCreate, SourceCreate
from cityhub.data.models import SyncJob, SyncRun
from cityhub.kit.db import Database, make_engine
from cityhub.kit.migrate import upgrade
from cityhub.kit.settings import get_settings
from tests.conftest import drop_pg_database, pg_database

ITEMS: list[dict[str, Any]] = [
    {"name_cn": "编号", "name_en": "code", "data_type": "C", "length": 20, "required": True},
    {"name_cn": "姓名", "name_en": "name", "data_type": "C", "length": 20, "required": True},
    {"name_cn": "更新序号", "name_en": "seq", "data_type": "I"},
]
PAGE = 10


class _Api(BaseHTTPRequestHandler):
    """`records` pages of PAGE rows; page `hold` waits for `release` (set when the client has been killed)."""

    rows: ClassVar[list[dict[str, Any]]] = []
    hold: ClassVar[int] = 0
    reached: ClassVar[threading.Event] = threading.Event()
    release: ClassVar[threading.Event] = threading.Event()

    def do_GET(self) -> None:
        q = parse_qs(urlsplit(self.path).query)
        page = int(q["page"][0])
        if page == self.hold:
            self.reached.set()
            self.release.wait(60)
            return  # the client is gone: no answer
        body = json.dumps({"records": self.rows[(page - 1) * PAGE:page * PAGE]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def api() -> Iterator[str]:
    _Api.rows = [{"code": f"P{i:04d}", "name": f"人{i}", "seq": i} for i in range(1, 46)]  # 5 pages, the last short
    _Api.hold, _Api.reached, _Api.release = 3, threading.Event(), threading.Event()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/people"
    finally:
        _Api.release.set()
        server.shutdown()
        server.server_close()


@pytest.fixture(params=["sqlite", "postgresql"])
def committed(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated database of each backend whose commits another process sees (not the suite's test transaction)."""
    url = f"sqlite:///{tmp_path / 'resume.db'}" if request.param == "sqlite" else pg_database("cityhub_resume")
    engine = make_engine(url)
    with engine.begin() as conn:
        upgrade(connection=conn)
    engine.dispose()
    try:
        yield url
    finally:
        if request.param == "postgresql":
            from sqlalchemy.engine import make_url

            drop_pg_database(str(make_url(url).database))


def _setup(db: Database, api: str) -> tuple[Any, Any]:
    system = core.Actor.system("test")
    with db.session_scope() as s:
        org = core.organization_create(s, system, OrganizationCreate(name="续传局", code="t-resume", kind="department"))
        entry = service.catalog_entry_create(s, system, schemas.EntryCreate.model_validate({
            "title": "续传", "abstract": "中断重跑", "provider_org_id": org.id, "classification": "department",
            "format_category": "database", "items": ITEMS, "share_type": "unconditional", "open_type": "none",
            "update_cycle": "daily", "security_grade": "general"}))
        src = service.sync_source_create(s, system, SourceCreate(org_id=org.id, name="api", kind="http", url=api,
                                                                 options={"page_size": PAGE}))
        job = service.sync_job_create(s, system, JobCreate(
            name="resume-job", source_id=src.id, entry_id=entry.id, mapping={"code": "code", "name": "name",
                                                                              "seq": "seq"},
            key=["code"], mode="incremental", cursor_column="seq", batch_size=PAGE))
        return job.id, entry.id


def _table_rows(db: Database, entry_id: Any) -> list[tuple[Any, ...]] | None:
    with db.session_scope() as s:
        res = service.resource_list(s, core.Actor.system("test"), entry_id)
        if not res or not res[0].table_name:
            return None
        return [tuple(r) for r in s.execute(text(f'SELECT code, name, seq FROM "{res[0].table_name}" ORDER BY code'))]


def test_a_killed_run_leaves_nothing_and_the_next_run_loads_every_row_once(
        committed: str, api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "egress_allowed_hosts", "127.0.0.1")
    monkeypatch.setattr(get_settings(), "var_dir", tmp_path / "var")
    env = {**os.environ, "CITYHUB_DATABASE_URL": committed, "CITYHUB_VAR_DIR": str(tmp_path / "var"),
           "CITYHUB_EGRESS_ALLOWED_HOSTS": "127.0.0.1", "PYTHONPATH": os.pathsep.join(sys.path)}
    db = Database(engine=make_engine(committed))
    try:
        job_id, entry_id = _setup(db, api)
        child = subprocess.Popen([sys.executable, "-m", "cityhub.cli", "data", "sync", "resume-job"], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            assert _Api.reached.wait(120), "the sync never asked for the third page"
        finally:
            child.send_signal(signal.SIGKILL)  # two batches are merged, uncommitted, when the process dies
            child.wait(30)
        _Api.hold = 0  # from now on every page answers
        _Api.release.set()
        assert child.returncode == -signal.SIGKILL
        assert not _table_rows(db, entry_id)  # no row of the killed run, not even the merged batches
        with db.session_scope() as s:
            job = s.get(SyncJob, job_id)
            assert job is not None and job.watermark is None and job.last_status == "" and job.last_run_at is None
            assert s.scalars(select(SyncRun).where(SyncRun.job_id == job_id)).all() == []

        system = core.Actor.system("test")
        with db.session_scope() as s:  # takes the job's lock: the killed run's transaction is gone
            run = service.sync_job_run(s, system, job_id)
            assert run.status == "succeeded", run.error
            assert (run.rows_read, run.rows_inserted, run.rows_updated, run.rows_rejected) == (45, 45, 0, 0)
        rows = _table_rows(db, entry_id)
        assert rows is not None and len(rows) == 45 == len({r[0] for r in rows})
        assert rows[0] == ("P0001", "人1", 1) and rows[-1] == ("P0045", "人45", 45)

        _Api.rows = [*_Api.rows, {"code": "P0046", "name": "人46", "seq": 46}]
        with db.session_scope() as s:  # the watermark moved with the successful run only
            run = service.sync_job_run(s, system, job_id)
            assert (run.status, run.rows_read, run.rows_inserted, run.rows_updated) == ("succeeded", 1, 1, 0)
        assert len(_table_rows(db, entry_id) or []) == 46
    finally:
        db.engine.dispose()

