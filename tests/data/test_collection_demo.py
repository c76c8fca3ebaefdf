"""The demo city's collection (issue 20): department systems registered, synced and checked by `cityhub demo`."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, text

from tests.test_cli import run


def test_demo_registers_sources_syncs_them_and_checks_quality(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cityhub.db'}"
    env = {"CITYHUB_VAR_DIR": str(tmp_path / "var")}
    assert run(["db", "upgrade"], url, **env).returncode == 0
    built = run(["demo", "--only", "core", "--only", "data"], url, **env)
    assert built.returncode == 0, built.stderr
    assert "demo: collection — 3 sources, 3 sync jobs, 1260 rows collected" in built.stdout + built.stderr
    eng = create_engine(url)
    with eng.connect() as conn:
        runs = conn.execute(text("SELECT j.name, r.status, r.rows_inserted, r.rows_rejected FROM data_sync_run r "
                                 "JOIN data_sync_job j ON j.id = r.job_id ORDER BY j.name")).all()
        assert {r[0]: tuple(r[1:]) for r in runs} == {"户籍人口增量同步": ("succeeded", 800, 0),
                                                     "法人登记全量同步": ("succeeded", 400, 0),
                                                     "区县上报文件": ("succeeded", 60, 1)}
        scores = conn.execute(text("SELECT kind, last_score FROM data_quality_check")).all()
        assert len(scores) == 7 and all(s == 1.0 for _k, s in scores)  # generated IDs and codes are valid
        assert conn.execute(text("SELECT COUNT(*) FROM data_sync_job WHERE schedule != '' "
                                 "AND next_run_at IS NOT NULL")).scalar() == 3
        golden: dict[str, int] = {str(k): int(v) for k, v in conn.execute(text(
            "SELECT base_db, COUNT(*) FROM data_base_record GROUP BY base_db")).all()}
        assert golden == {"population": 800, "legal_person": 460}  # the feeds filled the base databases
    eng.dispose()
    again = run(["data", "sync", "区县上报文件"], url, **env)
    assert again.returncode == 0 and "succeeded: read 0" in again.stdout, again.stderr  # the file was taken
