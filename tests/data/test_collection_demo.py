"""The demo city's collection (issue 20): department systems registered, synced and checked by `cityhub demo`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import create_engine, text

from tests.test_cli import run


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_demo_registers_sources_syncs_them_and_checks_quality(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cityhub.db'}"
    # the licence feed is read over HTTP from the registry stub that `make run` serves
    env = {"CITYHUB_VAR_DIR": str(tmp_path / "var"), "CITYHUB_EGRESS_ALLOWED_HOSTS": "127.0.0.1",
           "CITYHUB_COMPUTE_DEMO_UPSTREAM_PORT": str(_free_port())}
    assert run(["db", "upgrade"], url, **env).returncode == 0
    built = run(["demo", "--only", "core", "--only", "data"], url, **env)
    assert built.returncode == 0, built.stderr
    assert ("demo: collection — 4 sources, 4 sync jobs, 1260 rows collected, the licence feed's first run when make "
            "run serves the registry") in built.stdout + built.stderr
    # as `make run` does: the registry up, then the sync worker's run of the due feed (here the CLI's)
    port = env["CITYHUB_COMPUTE_DEMO_UPSTREAM_PORT"]
    stub = subprocess.Popen([sys.executable, "-m", "cityhub.cli", "compute", "demo-upstream", "--port", port],
                            env={**os.environ, "CITYHUB_DATABASE_URL": url, **env})
    try:
        deadline = time.monotonic() + 60
        while not _listening(int(port)):
            assert time.monotonic() < deadline and stub.poll() is None, "the registry stub did not start"
            time.sleep(0.1)
        feed = run(["data", "sync", "电子证照接口增量同步"], url, **env)
        assert feed.returncode == 0 and "succeeded: read 400" in feed.stdout, feed.stdout + feed.stderr
        again = run(["data", "sync", "电子证照接口增量同步"], url, **env)
        assert again.returncode == 0 and "succeeded: read 0" in again.stdout  # incremental: nothing newer
    finally:
        stub.terminate()
        stub.wait(10)
    eng = create_engine(url)
    with eng.connect() as conn:
        runs = conn.execute(text("SELECT j.name, r.status, r.rows_inserted, r.rows_rejected FROM data_sync_run r "
                                 "JOIN data_sync_job j ON j.id = r.job_id ORDER BY j.name, r.started_at")).all()
        first: dict[str, tuple[object, ...]] = {}
        for r in runs:
            first.setdefault(r[0], tuple(r[1:]))
        assert first == {"户籍人口增量同步": ("succeeded", 800, 0),
                                                     "法人登记全量同步": ("succeeded", 400, 0),
                                                     "区县上报文件": ("succeeded", 60, 1),
                                                     "电子证照接口增量同步": ("succeeded", 400, 0)}
        scores = conn.execute(text("SELECT kind, last_score FROM data_quality_check")).all()
        assert len(scores) == 8 and all(s == 1.0 for _k, s in scores)  # generated IDs and codes are valid
        assert conn.execute(text("SELECT COUNT(*) FROM data_sync_job WHERE schedule != '' "
                                 "AND next_run_at IS NOT NULL")).scalar() == 4
        # the API token is stored encrypted, never in the clear
        assert conn.execute(text("SELECT COUNT(*) FROM data_sync_source WHERE kind = 'http' "
                                 "AND credentials_enc NOT LIKE '%Bearer%'")).scalar() == 1
        golden: dict[str, int] = {str(k): int(v) for k, v in conn.execute(text(
            "SELECT base_db, COUNT(*) FROM data_base_record GROUP BY base_db")).all()}
        assert golden == {"population": 800, "legal_person": 460, "license": 400, "geo": 600}  # the feeds filled them
        # the place register's points and park areas, every geometry valid
        kinds: dict[str, int] = dict(conn.execute(text(
            "SELECT CASE WHEN geometry LIKE '%Polygon%' THEN 'area' ELSE 'point' END, COUNT(*) FROM data_base_record "
            "WHERE base_db = 'geo' AND geometry IS NOT NULL AND min_x IS NOT NULL GROUP BY 1")).all())
        assert kinds["area"] > 50 and kinds["area"] + kinds["point"] == 600, kinds
        holders = conn.execute(text("SELECT COUNT(*) FROM data_base_record l JOIN data_base_record p "
                                    "ON p.base_db = 'legal_person' AND l.base_db = 'license' "
                                    "AND 'YYZZ' || p.key = l.key")).scalar()
        assert holders == 400  # every licence is of a legal person the register holds
        linked = conn.execute(text("SELECT COUNT(*) FROM data_base_record l JOIN data_base_record p "
                                   "ON p.base_db = 'legal_person' AND l.base_db = 'license' AND p.key = l.holder"))
        assert linked.scalar() == 400  # and links to its holder's golden record by the holder column
    eng.dispose()
    again = run(["data", "sync", "区县上报文件"], url, **env)
    assert again.returncode == 0 and "succeeded: read 0" in again.stdout, again.stderr  # the file was taken
    # without the registry the run fails with the reason (and the schedule retries with backoff)
    down = run(["data", "sync", "电子证照接口增量同步"], url, **env)
    assert down.returncode != 0 and "ConnectError" in down.stdout + down.stderr
