"""kit.resilience: backoff, telling outages from bugs, the worker loop, heartbeats and `cityhub health`."""

from __future__ import annotations

import json
import logging
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from cityhub.kit import resilience
from cityhub.kit.resilience import BROKER, DATABASE, Backoff, Watch
from cityhub.kit.settings import get_settings
from tests.conftest import need_service
from tests.outages import child_env, free_port


def test_backoff_doubles_to_the_cap_with_jitter_and_resets() -> None:
    plain = Backoff(0.5, 30, jitter=False)
    assert [plain.next() for _ in range(9)] == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]
    plain.reset()
    assert plain.next() == 0.5
    low, high = Backoff(0.5, 30, rng=lambda: 0.0), Backoff(0.5, 30, rng=lambda: 0.999999)
    for nominal in (0.5, 1, 2, 4, 8, 16, 30, 30):
        assert low.next() == pytest.approx(nominal / 2) and high.next() == pytest.approx(nominal, rel=1e-5)
    drawn = [Backoff(1, 30).next() for _ in range(200)]
    assert all(0.5 <= d <= 1 for d in drawn) and len(set(drawn)) > 100  # jittered, never below half
    with pytest.raises(ValueError, match="0 < initial <= cap"):
        Backoff(0, 30)


def _refused(url: str) -> BaseException:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        return exc
    finally:
        engine.dispose()
    raise AssertionError("expected a failure")


def _bug_while_handling(outage: BaseException) -> None:
    try:
        raise outage
    except OperationalError:
        raise ZeroDivisionError("oops") from None


def _reraised_with_cause(outage: BaseException) -> None:
    try:
        raise outage
    except OperationalError as exc:
        raise RuntimeError("store failed") from exc


def test_outages_are_told_from_bugs_and_bad_settings(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there: connection refused, as when the server is down
    down = _refused(f"postgresql+psycopg://nobody@127.0.0.1:{port}/x")
    assert isinstance(down, OperationalError)
    assert resilience.outage_of(down) == DATABASE and not resilience.configuration_error(down)
    with pytest.raises(psycopg.OperationalError) as raw:
        psycopg.connect(f"postgresql://nobody@127.0.0.1:{port}/x")
    assert resilience.outage_of(raw.value) == DATABASE
    locked = OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked"))
    assert resilience.outage_of(locked) == DATABASE
    no_table = OperationalError("SELECT", {}, sqlite3.OperationalError("no such table: x"))
    assert resilience.outage_of(no_table) is None  # the schema is missing: retrying cannot help
    assert resilience.outage_of(ConnectionRefusedError(111, "refused")) == BROKER
    assert resilience.outage_of(resilience.BrokerUnavailable("down")) == BROKER
    assert resilience.outage_of(ValueError("a bug")) is None
    assert resilience.outage_of(KeyError("x")) is None
    with pytest.raises(ZeroDivisionError) as bug:  # a bug raised while handling an outage is a bug
        _bug_while_handling(down)
    assert resilience.outage_of(bug.value) is None
    with pytest.raises(RuntimeError) as wrapped:  # but an outage re-raised with its cause is an outage
        _reraised_with_cause(down)
    assert resilience.outage_of(wrapped.value) == DATABASE
    assert resilience.configuration_error(resilience.ConfigurationError("bad"))


def test_a_database_that_does_not_exist_is_a_bad_setting_not_an_outage() -> None:
    admin = make_url(get_settings().test_postgres_url)
    need_service("PostgreSQL", admin.host or "127.0.0.1", admin.port or 5432)
    missing = _refused(admin.set(database="cityhub_no_such_database").render_as_string(hide_password=False))
    assert resilience.configuration_error(missing) and resilience.outage_of(missing) is None
    nobody = _refused(admin.set(username="cityhub_no_such_role", password=None).render_as_string(
        hide_password=False))
    assert resilience.configuration_error(nobody)


def _fast_watch(tmp_path: Path, name: str = "t-worker") -> Watch:
    return Watch(name, heartbeat=tmp_path / "health" / f"{name}.json",
                 backoff=lambda: Backoff(0.01, 0.05), beat_every=0.01)


def _read(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text(encoding="utf-8")))


def test_run_forever_waits_out_an_outage_logging_once_per_change(tmp_path: Path,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    watch = _fast_watch(tmp_path)
    down = _refused(f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/x")
    stop = threading.Event()
    calls: list[str] = []
    seen: list[dict[str, Any]] = []

    def step() -> float:
        calls.append("call")
        n = len(calls)
        if 3 <= n <= 12:  # ten failures in a row, the first two passes succeed
            if n == 12:
                seen.append(_read(watch.heartbeat))  # type: ignore[arg-type]  # the watch was made with a heartbeat path (Path | None in general)
            raise down
        if n == 15:
            stop.set()
        return 0.0

    caplog.set_level(logging.DEBUG, "cityhub.worker")
    resilience.run_forever(step, watch, stop)
    assert len(calls) == 15
    assert seen[0]["state"] == "waiting_for_database" and seen[0]["consecutive_failures"] == 9
    assert seen[0]["pid"] > 0 and seen[0]["last_success"] is not None
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert sum("waiting for database" in m for m in messages) == 1
    assert sum("database back" in m for m in messages) == 1
    final = _read(watch.heartbeat)  # type: ignore[arg-type]  # the watch was made with a heartbeat path (Path | None in general)
    assert final["state"] == "stopped" and final["consecutive_failures"] == 0


def test_run_forever_exits_non_zero_on_a_bug_and_78_on_a_bad_setting(tmp_path: Path,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    def bug() -> float:
        raise ZeroDivisionError("a bug in the step")

    caplog.set_level(logging.INFO, "cityhub.worker")
    watch = _fast_watch(tmp_path, "buggy")
    with pytest.raises(SystemExit) as ended:
        resilience.run_forever(bug, watch)
    assert ended.value.code == 1
    crit = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert crit and crit[0].exc_info is not None  # logged with its traceback first
    assert _read(watch.heartbeat)["state"] == "failed"  # type: ignore[arg-type]  # the watch was made with a heartbeat path (Path | None in general)

    def misconfigured() -> float:
        raise resilience.ConfigurationError("CITYHUB_MQTT_URL is not set")

    with pytest.raises(SystemExit) as ended:
        resilience.run_forever(misconfigured, _fast_watch(tmp_path, "misconfigured"))
    assert ended.value.code == resilience.EXIT_CONFIG


def test_a_long_pause_keeps_the_heartbeat_fresh(tmp_path: Path) -> None:
    watch = _fast_watch(tmp_path, "sleepy")
    stop = threading.Event()
    threading.Timer(0.6, stop.set).start()
    resilience.run_forever(lambda: 600.0, watch, stop)  # `--every 600`: sleeps, beating, and stops at once
    data = _read(watch.heartbeat)  # type: ignore[arg-type]  # the watch was made with a heartbeat path (Path | None in general)
    assert data["state"] == "stopped"


def _write(var: Path, name: str, state: str, age: float) -> None:
    health = var / "health"
    health.mkdir(parents=True, exist_ok=True)
    stamp = resilience._iso(time.time() - age)
    (health / f"{name}.json").write_text(json.dumps({
        "worker": name, "pid": 1, "state": state, "since": stamp, "last_success": stamp,
        "consecutive_failures": 0 if state == "running" else 4, "last_error": "", "updated_at": stamp}))


def test_read_heartbeats_flags_stale_waiting_and_stopped(tmp_path: Path) -> None:
    _write(tmp_path, "fresh", "running", 1)
    _write(tmp_path, "old", "running", 500)
    _write(tmp_path, "waiting", "waiting_for_database", 1)
    (tmp_path / "health" / "garbage.json").write_text("{")
    reports = {r.path.stem: r for r in resilience.read_heartbeats(tmp_path / "health", stale_after=120)}
    assert reports["fresh"].healthy
    assert "stale" in reports["old"].problem
    assert reports["waiting"].problem.startswith("waiting_for_database")
    assert "unreadable" in reports["garbage"].problem


def _health(var: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cityhub.cli", "health", *args], capture_output=True, text=True,
                          env=child_env(CITYHUB_VAR_DIR=str(var)), timeout=60)


def test_cityhub_health_exits_non_zero_when_a_worker_is_stale_or_waiting(tmp_path: Path) -> None:
    _write(tmp_path, "ops-worker", "running", 2)
    ok = _health(tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "ops-worker" in ok.stdout and "running" in ok.stdout
    _write(tmp_path, "ingest-a", "waiting_for_database", 2)
    waiting = _health(tmp_path)
    assert waiting.returncode == 1 and "waiting_for_database" in waiting.stdout
    (tmp_path / "health" / "ingest-a.json").unlink()
    _write(tmp_path, "cloud-worker", "running", 600)
    stale = _health(tmp_path, "--stale-after", "300")
    assert stale.returncode == 1 and "stale" in stale.stdout
    assert _health(tmp_path, "--stale-after", "900").returncode == 0
    missing = _health(tmp_path, "--stale-after", "900", "--expect", "data-sla-check")
    assert missing.returncode == 1 and "data-sla-check" in missing.stdout


def test_a_server_that_never_answers_is_an_outage_not_a_hang(tmp_path: Path) -> None:
    from cityhub.kit.db import make_engine

    silent = socket.socket()  # accepts the TCP connection (the kernel does), never says a word
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    port = silent.getsockname()[1]
    try:
        url = f"postgresql+psycopg://nobody@127.0.0.1:{port}/x"
        engine = make_engine(url)
        params: dict[str, Any] = {}

        def capture(_dialect: object, _rec: object, _cargs: object, cparams: dict[str, Any]) -> None:
            params.update(cparams)
            raise LookupError("captured")  # stop before connecting

        event.listen(engine, "do_connect", capture)
        with pytest.raises(Exception, match="captured"):
            engine.connect()
        assert params["connect_timeout"] == 10 and params["keepalives_idle"] == 30  # the defaults of every engine
        engine.dispose()
        quick = make_engine(url, connect_args={"connect_timeout": 1})  # a caller's value wins; 1 s for the test
        started = time.monotonic()
        with pytest.raises(OperationalError) as failed, quick.connect():
            pass
        assert time.monotonic() - started < 5
        assert resilience.outage_of(failed.value) == DATABASE
        quick.dispose()
    finally:
        silent.close()
