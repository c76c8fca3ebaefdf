"""Long-running workers that ride out database and broker outages.

Every worker process (the MQTT ingest worker, `cityhub ops worker`, `cityhub cloud worker`, `cityhub data sla-check
--every N`) runs its work through this module:

- `outage_of(exc)` tells a transient outage of the database or the broker (connection refused or lost, the server
  starting up or shutting down, a pool timeout) from everything else; `configuration_error(exc)` picks out the
  failures retrying cannot cure (unknown database or role, refused credentials, a `ConfigurationError`).
- `Watch` holds one worker's health: its state (`running`, `waiting_for_database`, `waiting_for_broker`, `stopped`,
  `failed`), last success, consecutive failures and a `Backoff` per outage kind. It logs once per change of state
  ("waiting for database", "database back") and writes a heartbeat file `<var_dir>/health/<worker>.json`, which
  `cityhub health` reads.
- `run_forever(step, watch)` calls `step()` until stopped: an outage waits (exponential backoff with jitter, capped
  at 30 s) and retries, a configuration error exits with status 78 (EX_CONFIG), any other exception is logged with
  its traceback and exits with status 1, so a supervisor (`make run`, systemd `Restart=always`) restarts the worker.

The backoff and the loop are written out here rather than taken from a retry library (tenacity, stamina): those
retry one call until it succeeds, while a worker waits between calls forever, keeps its MQTT connection alive
during the wait (the ingest worker pumps the network instead of sleeping) and reports every wait in its heartbeat.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import signal
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import exc as sa_exc

from cityhub.kit.settings import Settings, get_settings

log = logging.getLogger("cityhub.worker")
T = TypeVar("T")

DATABASE = "database"
BROKER = "broker"
RUNNING = "running"
STOPPED = "stopped"
FAILED = "failed"
WAITING = {DATABASE: "waiting_for_database", BROKER: "waiting_for_broker"}
EXIT_UNEXPECTED = 1
EXIT_CONFIG = 78  # sysexits EX_CONFIG: systemd's RestartPreventExitStatus=78 can stop a restart loop on it
BACKOFF_CAP_S = 30.0
HEARTBEAT_EVERY_S = 5.0
STALE_AFTER_S = 120.0

# Messages of a server that answered and refused us for good (libpq gives no SQLSTATE for a failed connection).
_CONFIG_MESSAGES = re.compile(
    r"database \S+ does not exist|role \S+ does not exist|authentication failed|no pg_hba\.conf entry|"
    r"permission denied for database",
    re.IGNORECASE)
_SQLITE_TRANSIENT = ("locked", "busy", "disk i/o error", "unable to open database file")


class ConfigurationError(Exception):
    """A setting is wrong (bad URL, refused credentials, …): retrying cannot help, the worker exits with 78."""


class BrokerUnavailable(ConnectionError):
    """The MQTT broker cannot be reached at the moment."""


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        # SQLAlchemy's DBAPIError wraps the driver's exception as `orig` (and `__cause__`). Not `__context__`: a bug
        # raised while handling an outage is a bug, not an outage.
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else current.__cause__


def configuration_error(exc: BaseException) -> bool:
    """True when retrying cannot help: a `ConfigurationError`, or a database refusing who or where we are."""
    for e in _chain(exc):
        if isinstance(e, ConfigurationError):
            return True
        if _is_driver_error(e, "OperationalError", "InterfaceError") and _CONFIG_MESSAGES.search(str(e)):
            return True
    return False


def _is_driver_error(e: BaseException, *names: str) -> bool:
    """Is `e` a psycopg (or another DB-API driver's) error of one of these class names?"""
    return any(cls.__name__ in names and cls.__module__.split(".")[0] in {"psycopg", "psycopg2"}
               for cls in type(e).__mro__)


def outage_of(exc: BaseException) -> str | None:
    """`DATABASE` or `BROKER` when `exc` is a transient outage of that service, else None (a bug or a bad setting)."""
    if configuration_error(exc):
        return None
    for e in _chain(exc):
        if isinstance(e, sa_exc.DBAPIError) and e.connection_invalidated:
            return DATABASE
        if isinstance(e, sa_exc.DisconnectionError | sa_exc.TimeoutError):
            return DATABASE  # a pool that cannot hand out a connection in time: the database is not answering
        if isinstance(e, sqlite3.OperationalError):
            return DATABASE if any(m in str(e).lower() for m in _SQLITE_TRANSIENT) else None
        if isinstance(e, sqlite3.Error):
            return None
        if _is_driver_error(e, "OperationalError", "InterfaceError"):
            return DATABASE  # connection refused or lost, the server starting up or shutting down, a deadlock victim
        if isinstance(e, BrokerUnavailable):
            return BROKER
        if isinstance(e, ConnectionError | TimeoutError | socket.gaierror):
            return BROKER  # a raw socket failing: in a worker, the database's errors arrive wrapped (above)
    return None


class Backoff:
    """Exponential backoff: `initial`, doubling, at most `cap`; with jitter each delay is drawn from [d/2, d]."""

    def __init__(self, initial: float = 0.5, cap: float = BACKOFF_CAP_S, *, factor: float = 2.0, jitter: bool = True,
                 rng: Callable[[], float] = random.random) -> None:
        if initial <= 0 or cap < initial or factor < 1:
            raise ValueError("backoff needs 0 < initial <= cap and factor >= 1")
        self.initial, self.cap, self.factor, self.jitter, self._rng = initial, cap, factor, jitter, rng
        self.attempts = 0

    def next(self) -> float:
        """The delay before the next attempt (and count this one)."""
        delay = min(self.cap, self.initial * self.factor ** min(self.attempts, 64))
        self.attempts += 1
        # "equal jitter": workers that lost the database together do not come back in lockstep, yet never retry
        # sooner than half the nominal delay
        return delay * (0.5 + 0.5 * self._rng()) if self.jitter else delay

    def reset(self) -> None:
        """Start again from `initial` (after a success)."""
        self.attempts = 0


def heartbeat_dir(settings: Settings | None = None) -> Path:
    """Folder of the workers' heartbeat files: `<var_dir>/health`."""
    return (settings or get_settings()).var_dir / "health"


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, UTC).isoformat() if ts is not None else None


class Watch:
    """One worker's health: state, last success, failures; logs each state change once, writes its heartbeat."""

    def __init__(self, name: str, *, heartbeat: Path | None = None, logger: logging.Logger | None = None,
                 backoff: Callable[[], Backoff] = Backoff, beat_every: float = HEARTBEAT_EVERY_S,
                 wall: Callable[[], float] = time.time) -> None:
        self.name = name
        self.heartbeat = heartbeat
        self.log = logger or log
        self._backoff_factory = backoff
        self._backoffs: dict[str, Backoff] = {}
        self.beat_every = beat_every
        self._wall = wall
        self.outages: dict[str, float] = {}  # kind -> since (wall time)
        self.last_success: float | None = None
        self.consecutive_failures = 0
        self.last_error = ""
        self.final: str | None = None  # STOPPED or FAILED once the worker ended
        self.since = wall()
        self._last_beat = 0.0

    @classmethod
    def for_worker(cls, name: str, settings: Settings | None = None, **kwargs: Any) -> Watch:
        """A watch writing `<var_dir>/health/<name>.json`."""
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
        return cls(name, heartbeat=heartbeat_dir(settings) / f"{safe}.json", **kwargs)

    @property
    def state(self) -> str:
        """`running`, `waiting_for_database` (before the broker: nothing is stored without it), … or final."""
        if self.final is not None:
            return self.final
        for kind in (DATABASE, BROKER):
            if kind in self.outages:
                return WAITING[kind]
        return RUNNING

    def down(self, kind: str, exc: BaseException | str) -> float:
        """Record a failed attempt against `kind`; returns the delay before the next one."""
        now = self._wall()
        self.consecutive_failures += 1
        self.last_error = _describe(exc)
        if kind not in self.outages:
            self.outages[kind] = now
            self.since = now
            self.log.warning("%s: waiting for %s (%s)", self.name, kind, self.last_error)
            self.beat(force=True)
        else:
            self.log.debug("%s: %s still down (%s)", self.name, kind, self.last_error)
            self.beat()
        backoff = self._backoffs.get(kind)
        if backoff is None:
            backoff = self._backoffs[kind] = self._backoff_factory()
        return backoff.next()

    def up(self, *kinds: str) -> None:
        """A pass succeeded: the outages of `kinds` (default: all) are over."""
        now = self._wall()
        for kind in kinds or tuple(self.outages):
            since = self.outages.pop(kind, None)
            backoff = self._backoffs.get(kind)
            if backoff is not None:
                backoff.reset()
            if since is not None:
                self.since = now
                self.log.info("%s: %s back after %.1f s", self.name, kind, now - since)
                self.beat(force=True)
        if not self.outages:
            self.consecutive_failures = 0
        self.last_success = now
        self.beat()

    def beat(self, *, force: bool = False) -> None:
        """Write the heartbeat file (at most every `beat_every` seconds unless forced)."""
        if self.heartbeat is None:
            return
        mono = time.monotonic()
        if not force and mono - self._last_beat < self.beat_every:
            return
        self._last_beat = mono
        data = {"worker": self.name, "pid": os.getpid(), "host": socket.gethostname(), "state": self.state,
                "since": _iso(self.since), "last_success": _iso(self.last_success),
                "consecutive_failures": self.consecutive_failures, "last_error": self.last_error,
                "updated_at": _iso(self._wall())}
        try:
            self.heartbeat.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.heartbeat.with_name(f".{self.heartbeat.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
            tmp.replace(self.heartbeat)  # atomic: `cityhub health` never reads half a file
        except OSError as exc:  # a full disk must not stop the worker; health will report the file as stale
            self.log.debug("%s: cannot write heartbeat %s: %s", self.name, self.heartbeat, exc)

    def wait(self, seconds: float, stop: threading.Event) -> bool:
        """Sleep up to `seconds`, keeping the heartbeat fresh; True when `stop` was set."""
        ends = time.monotonic() + max(seconds, 0.0)
        while True:
            left = ends - time.monotonic()
            if left <= 0:
                return stop.is_set()
            if stop.wait(min(left, self.beat_every)):
                return True
            self.beat()

    def stopped(self) -> None:
        """The worker ended cleanly (asked to stop)."""
        self.final = STOPPED
        self.since = self._wall()
        self.log.info("%s: stopped", self.name)
        self.beat(force=True)

    def crashed(self, exc: BaseException) -> int:
        """Log a fatal error (with its traceback unless it is a setting); returns the exit status to use."""
        self.final = FAILED
        self.since = self._wall()
        self.last_error = _describe(exc)
        if configuration_error(exc):
            self.log.error("%s: bad configuration, exiting: %s", self.name, self.last_error)
            code = EXIT_CONFIG
        else:
            self.log.critical("%s: unexpected error, exiting", self.name, exc_info=exc)
            code = EXIT_UNEXPECTED
        self.beat(force=True)
        return code


def _describe(exc: BaseException | str) -> str:
    if isinstance(exc, str):
        return exc[:500]
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:500]


@contextmanager
def exit_on_fatal(watch: Watch) -> Iterator[None]:
    """Turn an exception escaping a worker into a logged exit: 78 for a bad setting, 1 for anything else."""
    try:
        yield
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:
        raise SystemExit(watch.crashed(exc)) from exc


def stop_on_signals(stop: threading.Event | None = None) -> threading.Event:
    """An event SIGTERM and SIGINT set (the worker finishes its step, then stops); main thread only."""
    event = stop or threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_a: event.set())
    return event


def until_up(fn: Callable[[], T], watch: Watch, stop: threading.Event) -> T | None:
    """Call `fn` until it gets through an outage; None when stopped first. Other errors propagate."""
    while not stop.is_set():
        try:
            value = fn()
        except Exception as exc:
            kind = outage_of(exc)
            if kind is None:
                raise
            watch.wait(watch.down(kind, exc), stop)
            continue
        watch.up()
        return value
    return None


def run_forever(step: Callable[[], float | None], watch: Watch, stop: threading.Event | None = None) -> None:
    """Call `step()` until `stop` is set, waiting the seconds it returns between calls.

    An outage (see `outage_of`) waits with backoff and calls `step` again; its state and recovery are logged once
    and written to the heartbeat. Any other exception is logged and ends the process: `SystemExit(78)` for a bad
    setting, `SystemExit(1)` otherwise. The heartbeat says `stopped` after a clean stop.
    """
    stop = stop or threading.Event()
    failing: set[str] = set()
    with exit_on_fatal(watch):
        watch.beat(force=True)
        while not stop.is_set():
            try:
                pause = step()
            except Exception as exc:
                kind = outage_of(exc)
                if kind is None:
                    raise
                failing.add(kind)
                watch.wait(watch.down(kind, exc), stop)
                continue
            if failing:
                watch.up(*failing)
                failing.clear()
            else:
                watch.up(DATABASE)
            if pause:
                watch.wait(pause, stop)
    watch.stopped()


@dataclass(frozen=True)
class HeartbeatReport:
    """One heartbeat file as `cityhub health` judges it."""

    path: Path
    data: dict[str, Any]
    problem: str  # empty when healthy

    @property
    def healthy(self) -> bool:
        """Running and fresh."""
        return not self.problem


def read_heartbeats(directory: Path, stale_after: float = STALE_AFTER_S, now: float | None = None
                    ) -> list[HeartbeatReport]:
    """Every heartbeat in `directory`, each judged: stale, waiting, stopped or failed is a problem."""
    now = time.time() if now is None else now
    out: list[HeartbeatReport] = []
    for path in sorted(directory.glob("*.json")) if directory.is_dir() else []:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            updated = datetime.fromisoformat(data["updated_at"]).timestamp()
        except (OSError, ValueError, KeyError, TypeError) as exc:
            out.append(HeartbeatReport(path, {"worker": path.stem}, f"unreadable heartbeat: {exc}"))
            continue
        age = now - updated
        state = str(data.get("state", ""))
        if state != RUNNING:
            problem = f"{state} since {data.get('since')}" + (f": {data['last_error']}" if data.get("last_error")
                                                              else "")
        elif age > stale_after:
            problem = f"stale: no heartbeat for {age:.0f} s"
        else:
            problem = ""
        out.append(HeartbeatReport(path, data, problem))
    return out


def run_every(step: Callable[[], float | None], every: float, worker: str) -> None:
    """A CLI worker's loop: `step()` once when `every` is 0, else as the worker `worker` until a signal stops it.

    The loop is `run_forever` with a heartbeat named `worker` and logging set up from the settings; `step` returns
    the seconds to wait before its next call (the commands pass `every`).
    """
    if not every:
        step()
        return
    settings = get_settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run_forever(step, Watch.for_worker(worker, settings), stop_on_signals())
