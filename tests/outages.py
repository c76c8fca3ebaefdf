"""Outages on loopback for the worker tests: a TCP proxy in front of PostgreSQL that can be cut, and a Mosquitto of
the test's own (persistent, on a free port) that can be stopped and started again. Never the shared services."""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import selectors
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from cityhub.kit.migrate import upgrade
from tests.conftest import drop_pg_database, pg_database

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def wait_for(check: Callable[[], Any], timeout: float, what: str, every: float = 0.05) -> Any:
    ends = time.monotonic() + timeout
    while time.monotonic() < ends:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target. `cut()` drops every connection and refuses new ones (the port is
    closed: connection refused, as when the server is down); `restore()` listens again on the same port."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._lock = threading.Lock()
        self._sel = selectors.DefaultSelector()
        self._listener: socket.socket | None = None
        self._pairs: dict[socket.socket, socket.socket] = {}
        self._stop = False
        self._wake_r, self._wake_w = socket.socketpair()
        self._sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        self.accepted = 0
        self._listen()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(64)
        sock.setblocking(False)
        self._listener = sock
        self._sel.register(sock, selectors.EVENT_READ, "accept")

    def _wake(self) -> None:
        self._wake_w.send(b"x")

    def cut(self) -> None:
        with self._lock:
            if self._listener is not None:
                self._sel.unregister(self._listener)
                self._listener.close()
                self._listener = None
            for a in list(self._pairs):
                self._drop(a)
        self._wake()

    def restore(self) -> None:
        with self._lock:
            if self._listener is None:
                self._listen()
        self._wake()

    def close(self) -> None:
        self._stop = True
        self.cut()
        self._thread.join(5)

    def _drop(self, a: socket.socket) -> None:
        b = self._pairs.pop(a, None)
        for s in (a, b):
            if s is None:
                continue
            self._pairs.pop(s, None)
            with contextlib.suppress(KeyError, ValueError):
                self._sel.unregister(s)
            s.close()

    def _run(self) -> None:
        while not self._stop:
            for key, _ev in self._sel.select(0.2):
                with self._lock:
                    if key.data == "wake":
                        self._wake_r.recv(64)
                    elif key.data == "accept":
                        if key.fileobj is not self._listener:
                            continue
                        try:
                            client, _addr = self._listener.accept()
                        except OSError:
                            continue
                        try:
                            upstream = socket.create_connection(self.target, timeout=2)
                        except OSError:
                            client.close()
                            continue
                        self.accepted += 1
                        for s in (client, upstream):
                            s.setblocking(True)
                            s.settimeout(2)
                        self._pairs[client], self._pairs[upstream] = upstream, client
                        self._sel.register(client, selectors.EVENT_READ, "data")
                        self._sel.register(upstream, selectors.EVENT_READ, "data")
                    else:
                        src = key.fileobj
                        assert isinstance(src, socket.socket)
                        dst = self._pairs.get(src)
                        if dst is None:
                            continue
                        try:
                            data = src.recv(65536)
                            if data:
                                dst.sendall(data)
                                continue
                        except OSError:
                            pass
                        self._drop(src)


def pg_scratch(prefix: str) -> Iterator[str]:
    """A migrated PostgreSQL database of its own whose transactions really commit; yields its app-role URL."""
    url = pg_database(prefix)
    upgrade(url)
    try:
        yield url
    finally:
        drop_pg_database(str(make_url(url).database))


def via_proxy(url: str, proxy: TcpProxy) -> str:
    return make_url(url).set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)


class Mosquitto:
    """A Mosquitto of the test's own on a free loopback port, persistent, that can be stopped and started again."""

    def __init__(self, workdir: Path) -> None:
        if not Path(MOSQUITTO).exists():
            pytest.skip("mosquitto is not installed")
        self.port = free_port()
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.conf = self.dir / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
            f"persistence_location {self.dir}/\nmax_queued_messages 100000\nlog_dest file {self.dir}/broker.log\n"
            # as root Mosquitto would switch to user `mosquitto`, which cannot write the test's folder
            f"user {getpass.getuser()}\n",
            encoding="utf-8")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_for(lambda: listening(self.port), 10, "mosquitto to listen")

    def stop(self) -> None:
        """SIGTERM: Mosquitto writes its persistence file (sessions, queued and in-flight messages) and exits."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None
        wait_for(lambda: not listening(self.port), 5, "mosquitto to stop listening")

    def log(self) -> str:
        path = self.dir / "broker.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""


def heartbeat(var_dir: Path, name: str) -> dict[str, Any]:
    path = var_dir / "health" / f"{name}.json"
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return {}


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYHUB_") or k in {
        "CITYHUB_TEST_POSTGRES_URL", "CITYHUB_REQUIRE_SERVICES"}}
    env.update(extra)
    return env
