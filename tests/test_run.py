"""`make run` (cityhub.run): companions that exit are restarted with backoff, SIGTERM stops everything."""

from __future__ import annotations

import functools
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from cityhub import run
from tests.outages import wait_for

PY = sys.executable


def _companion(tmp: Path, body: str) -> list[str]:
    """A tiny fake companion: appends its pid to a file, then runs `body`."""
    script = tmp / f"companion_{abs(hash(body))}.py"
    script.write_text("import os, sys, time\n"
                      "open(sys.argv[1], 'a').write(f'{os.getpid()}\\n')\n" + textwrap.dedent(body))
    return [PY, str(script), str(tmp / "starts.txt")]


def _pids(tmp: Path) -> list[int]:
    path = tmp / "starts.txt"
    return [int(x) for x in path.read_text().split()] if path.exists() else []


def _ended(pid: int) -> bool:
    return not _alive(pid)


def _alive(pid: int) -> bool:
    """Running (a zombie, exited but not yet reaped, counts as gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


def test_a_companion_that_exits_is_restarted_with_growing_backoff(tmp_path: Path,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "cityhub.run")
    sup = run.Supervisor([_companion(tmp_path, "time.sleep(0.2); sys.exit(3)")], initial=0.2, cap=1.0,
                         stable_after=60)
    sup.start()
    try:
        ends = time.monotonic() + 20
        while len(_pids(tmp_path)) < 4 and time.monotonic() < ends:
            sup.poll()
            time.sleep(0.02)
    finally:
        sup.stop()
    assert len(set(_pids(tmp_path))) >= 4  # started again and again, a new process each time
    c = sup.companions[0]
    assert [status for status, _up in c.history[:3]] == [3, 3, 3]
    exits = [r.getMessage() for r in caplog.records if "exited with status 3" in r.getMessage()]
    assert len(exits) >= 3 and "it failed" in exits[0] and "python" in exits[0]
    delays = [float(m.rsplit("restarting in ", 1)[1].split(" s")[0]) for m in exits]
    assert delays[:3] == [0.2, 0.4, 0.8]  # doubling


def test_a_killed_companion_is_restarted_and_the_log_says_so(tmp_path: Path,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "cityhub.run")
    sup = run.Supervisor([_companion(tmp_path, "time.sleep(60)")], initial=0.1, cap=1.0)
    sup.start()
    try:
        wait_for(lambda: _pids(tmp_path), 10, "the companion to start")
        first = _pids(tmp_path)[0]
        os.kill(first, signal.SIGKILL)
        ends = time.monotonic() + 10
        while len(_pids(tmp_path)) < 2 and time.monotonic() < ends:
            sup.poll()
            time.sleep(0.02)
        assert len(_pids(tmp_path)) == 2
        second = _pids(tmp_path)[1]
        assert _alive(second)
    finally:
        sup.stop()
    assert not _alive(second)
    assert any("killed by SIGKILL" in r.getMessage() for r in caplog.records)


class FakeProc:
    def __init__(self) -> None:
        self.status: int | None = None

    def poll(self) -> int | None:
        return self.status


def test_backoff_doubles_to_60_s_and_resets_after_a_minute_up() -> None:
    now = [0.0]
    procs: list[FakeProc] = []

    def popen(_cmd: list[str]) -> FakeProc:
        procs.append(FakeProc())
        return procs[-1]

    sup = run.Supervisor([["cityhub", "ops", "worker"]], popen=popen, monotonic=lambda: now[0])  # type: ignore[arg-type]  # FakeProc stands in for Popen with the methods the supervisor calls
    sup.start()
    c = sup.companions[0]
    delays = []
    for _ in range(8):  # dies at once, again and again: 1, 2, 4 … 60 s
        procs[-1].status = 1
        sup.poll()
        assert c.restart_at is not None
        delays.append(c.restart_at - now[0])
        now[0] = c.restart_at
        sup.poll()
        assert c.proc is procs[-1]  # type: ignore[comparison-overlap]  # the fake is what popen returned
    assert delays == [1, 2, 4, 8, 16, 32, 60, 60]
    now[0] += 61  # up for over a minute: healthy again, the next restart waits 1 s
    procs[-1].status = -9
    sup.poll()
    assert c.restart_at == pytest.approx(now[0] + 1)


def test_names_and_reasons() -> None:
    assert run.name_of([PY, "-m", "cityhub.cli", "data", "sla-check", "--every", "600"]) == "cityhub data sla-check"
    assert run.name_of([PY, "-m", "cityhub.cli", "ingest"]) == "cityhub ingest"
    assert run.name_of([PY, "-m", "cityhub.cli", "simulate", "--devices", "200"]) == "cityhub simulate"
    assert "configuration" in run.why(78) and "SIGTERM" in run.why(-15) and "by itself" in run.why(0)


def test_the_server_exiting_ends_the_run_with_its_status_and_stops_the_companions(tmp_path: Path) -> None:
    server = [PY, "-c", "import time, sys; time.sleep(1.0); sys.exit(5)"]
    status = run.serve_with_companions(server, [_companion(tmp_path, "time.sleep(60)")], tick=0.05)
    assert status == 5
    pids = _pids(tmp_path)
    assert len(pids) == 1 and not _alive(pids[0])


def test_sigterm_stops_the_server_and_every_companion(tmp_path: Path) -> None:
    companion = _companion(tmp_path, "time.sleep(60)")
    server = [PY, "-c", f"import os, time; open({str(tmp_path / 'server.pid')!r}, 'w').write(str(os.getpid())); "
                        "time.sleep(60)"]
    code = textwrap.dedent(f"""
        import signal, sys, threading
        from cityhub.run import serve_with_companions
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_a: stop.set())
        sys.exit(serve_with_companions({server!r}, [{companion!r}, {companion!r}], stop, tick=0.05))
    """)
    proc = subprocess.Popen([PY, "-c", code])
    try:
        wait_for(lambda: len(_pids(tmp_path)) == 2 and (tmp_path / "server.pid").exists(), 20, "everything up")
        children = [*_pids(tmp_path), int((tmp_path / "server.pid").read_text())]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    for pid in children:
        wait_for(functools.partial(_ended, pid), 5, f"process {pid} to end")


def test_make_run_starts_the_domains_companions() -> None:
    names = {run.name_of(cmd) for cmd in run.companions()}
    assert {"cityhub cloud worker", "cityhub data sla-check", "cityhub ops worker"} <= names



def test_companions_start_only_once_the_server_answers(tmp_path: Path) -> None:
    """The first page is not slowed by the companions: they start when the readiness probe first says yes."""
    server = [PY, "-c", "import time, sys; time.sleep(1.5); sys.exit(0)"]
    probes: list[bool] = []

    def ready() -> bool:
        probes.append(not _pids(tmp_path) and len(probes) >= 5)  # no companion ran while it said no
        return probes[-1]
    run.serve_with_companions(server, [_companion(tmp_path, "time.sleep(60)")], tick=0.05, ready=ready)
    assert probes[:5] == [False] * 5 and probes[5] is True and len(probes) == 6  # asked until yes, then never
    assert len(_pids(tmp_path)) == 1


def test_companions_start_after_the_wait_when_the_server_never_answers(tmp_path: Path) -> None:
    server = [PY, "-c", "import time, sys; time.sleep(1.5); sys.exit(0)"]
    now = [0.0]

    def clock() -> float:
        now[0] += 10.0  # each look at the clock is ten seconds later
        return now[0]
    run.serve_with_companions(server, [_companion(tmp_path, "time.sleep(60)")], tick=0.05, ready=lambda: False,
                              ready_wait=60, monotonic=clock)
    assert len(_pids(tmp_path)) == 1


def test_the_readiness_probe_says_whether_anything_answers() -> None:
    from tests.browser import free_port

    assert run.server_answers(f"http://127.0.0.1:{free_port()}/healthz", timeout=0.5)() is False
