"""`make run`: serve the app and keep each domain's background companions (ingest worker, simulator …) alive.

A domain adds `background.py` with `commands(settings) -> list[list[str]]`; each command runs as a child
process for as long as the server runs. A companion that exits, whatever its status, is started again after a
backoff (1 s, doubling to 60 s; back to 1 s once it had stayed up 60 s), and the log says which one, its exit status
and why. SIGTERM or SIGINT stops the server and every companion (SIGTERM, then SIGKILL after 10 s).
In production let the service manager do the same (README, "Keeping the workers up": systemd `Restart=always`).
"""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from cityhub.cli import DOMAINS
from cityhub.kit.resilience import EXIT_CONFIG, Backoff
from cityhub.kit.settings import get_settings

log = logging.getLogger("cityhub.run")
RESTART_INITIAL_S = 1.0
RESTART_CAP_S = 60.0
STABLE_AFTER_S = 60.0  # a companion up this long is healthy again: its next restart waits 1 s
STOP_TIMEOUT_S = 10.0
READY_WAIT_S = 60.0  # companions start once the server answers, or after this long whatever it does


def companions() -> list[list[str]]:
    """Background commands the domains want running next to the server."""
    out: list[list[str]] = []
    for domain in DOMAINS:
        name = f"cityhub.{domain}.background"
        if importlib.util.find_spec(f"cityhub.{domain}") and importlib.util.find_spec(name):
            out.extend(importlib.import_module(name).commands(get_settings()))
    return out


def name_of(cmd: Sequence[str]) -> str:
    """A short name for a companion: `cityhub ops worker`, `cityhub ingest`, … (else the program's name)."""
    args = list(cmd)
    if "cityhub.cli" in args:
        words = list(itertools.takewhile(lambda a: not a.startswith("-"), args[args.index("cityhub.cli") + 1:]))
        return " ".join(["cityhub", *words[:2]])
    return " ".join([os.path.basename(args[0]), *args[1:2]]) if args else "?"


def why(status: int) -> str:
    """What an exit status says about the companion's end."""
    if status < 0:
        try:
            sig = signal.Signals(-status).name
        except ValueError:
            sig = f"signal {-status}"
        return f"killed by {sig}" + (" (out of memory, or killed by hand?)" if sig == "SIGKILL" else "")
    if status == 0:
        return "it exited by itself, which a companion should not"
    if status == EXIT_CONFIG:
        return "a configuration error (see its log); it is retried in case the setting or service is fixed"
    return "it failed (see its log)"


@dataclass
class Companion:
    """One supervised child process."""

    name: str
    cmd: list[str]
    backoff: Backoff
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restart_at: float | None = None
    starts: int = 0
    history: list[tuple[int, float]] = field(default_factory=list)  # (exit status, seconds it had run)


class Supervisor:
    """Starts companions and restarts each one that exits, with backoff; `stop` ends them all."""

    def __init__(self, commands: Sequence[Sequence[str]], *, initial: float = RESTART_INITIAL_S,
                 cap: float = RESTART_CAP_S, stable_after: float = STABLE_AFTER_S,
                 popen: Callable[[list[str]], subprocess.Popen[bytes]] | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.stable_after = stable_after
        self._popen = popen or (lambda cmd: subprocess.Popen(cmd))
        self._now = monotonic
        self.companions = [Companion(name_of(cmd), list(cmd), Backoff(initial, cap, jitter=False))
                           for cmd in commands]

    def start(self) -> None:
        """Start every companion."""
        for c in self.companions:
            self._start(c)

    def _start(self, c: Companion) -> None:
        c.restart_at = None
        c.starts += 1
        c.started_at = self._now()
        try:
            c.proc = self._popen(c.cmd)
        except OSError as exc:  # the program itself is missing or not executable: try again later all the same
            c.proc = None
            delay = c.backoff.next()
            c.restart_at = self._now() + delay
            log.error("companion %s could not start (%s); trying again in %.1f s", c.name, exc, delay)

    def poll(self) -> None:
        """Notice companions that exited and start again those whose backoff has passed."""
        now = self._now()
        for c in self.companions:
            if c.proc is not None:
                status = c.proc.poll()
                if status is None:
                    continue
                c.proc = None
                uptime = now - c.started_at
                c.history.append((status, uptime))
                if uptime >= self.stable_after:
                    c.backoff.reset()
                delay = c.backoff.next()
                c.restart_at = now + delay
                log.warning("companion %s exited with status %d after %.1f s: %s; restarting in %.1f s",
                            c.name, status, uptime, why(status), delay)
            elif c.restart_at is not None and now >= c.restart_at:
                log.warning("restarting companion %s (start %d)", c.name, c.starts + 1)
                self._start(c)

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM every companion, SIGKILL those still running after `timeout`."""
        running = [c.proc for c in self.companions if c.proc is not None and c.proc.poll() is None]
        for proc in running:
            proc.terminate()
        ends = time.monotonic() + timeout
        for proc in running:
            try:
                proc.wait(max(0.0, ends - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for c in self.companions:
            c.proc, c.restart_at = None, None


def server_answers(url: str, timeout: float = 2.0) -> Callable[[], bool]:
    """A probe: whether the server at `url` answers (any HTTP status) right now."""
    import urllib.error
    import urllib.request

    def probe() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=timeout):  # our own server's http:// URL
                return True
        except urllib.error.HTTPError:
            return True  # it answered
        except (OSError, ValueError):
            return False
    return probe


def serve_with_companions(server_cmd: Sequence[str], commands: Sequence[Sequence[str]],
                          stop: threading.Event | None = None, *, tick: float = 0.5,
                          initial: float = RESTART_INITIAL_S, cap: float = RESTART_CAP_S,
                          stable_after: float = STABLE_AFTER_S, ready: Callable[[], bool] | None = None,
                          ready_wait: float = READY_WAIT_S, monotonic: Callable[[], float] = time.monotonic) -> int:
    """Run the server and supervise the companions until the server exits or `stop` is set; the exit status.

    With `ready`, the companions start once it says the server answers (or after `ready_wait` seconds), so the
    first page is not slowed by a dozen workers importing and connecting on the same cores; without, at once.
    The server is not restarted: when it ends, `make run` ends with its status (after stopping the companions).
    """
    stop = stop or threading.Event()
    sup = Supervisor(commands, initial=initial, cap=cap, stable_after=stable_after)
    server = subprocess.Popen(list(server_cmd))
    began = monotonic()
    started = False
    status = 0
    try:
        while not stop.is_set():
            code = server.poll()
            if code is not None:
                log.error("the server exited with status %d: stopping the companions", code)
                status = code
                break
            if not started:
                answered = ready is None or ready()
                if answered or monotonic() - began >= ready_wait:
                    if ready is not None:
                        log.info("starting %d companions (%s)", len(sup.companions),
                                 "the server answers" if answered else f"the server is silent after {ready_wait:.0f} s")
                    sup.start()
                    started = True
            else:
                sup.poll()
            stop.wait(tick)
    finally:
        sup.stop()
        if server.poll() is None:
            server.terminate()
            try:
                server.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    return status


def main() -> None:
    """Serve in the foreground with the companions supervised; SIGTERM/SIGINT stop everything."""
    logging.basicConfig(level=get_settings().log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_a: stop.set())
    settings = get_settings()
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host  # a wildcard bind: ask on loopback
    probe = server_answers(f"http://{host}:{settings.port}/healthz")
    sys.exit(serve_with_companions([sys.executable, "-m", "cityhub.cli", "serve"], companions(), stop, ready=probe))


if __name__ == "__main__":
    main()
