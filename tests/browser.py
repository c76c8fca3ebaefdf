"""Shared pieces of the browser tests: a real uvicorn server in a thread, and Debian's chromium or a clear skip."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from cityhub.app import create_app
from cityhub.kit.db import Database
from cityhub.kit.settings import get_settings
from tests.conftest import REQUIRE_SERVICES

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def live_app(db: Database) -> Iterator[str]:
    """Serve the app over `db` with uvicorn on a free port; yields its base URL, stops it on exit."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(get_settings(), db), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def need_chromium() -> str:
    """Debian's chromium binary; skips (fails under CITYHUB_REQUIRE_SERVICES=1) when it is missing."""
    if not Path(CHROMIUM).exists():
        if REQUIRE_SERVICES:
            pytest.fail("Debian chromium is missing (make browser installs it)")
        pytest.skip("Debian chromium is not installed")
    return CHROMIUM


def wait_js(page: Any, expression: str, timeout: int = 10_000) -> None:
    """Wait until a JavaScript expression is truthy on the page, polling from Python.

    Playwright's `wait_for_function` evaluates a string expression with `eval` once it has to poll, which the
    pages' CSP (`script-src 'self'`, no 'unsafe-eval') refuses: on a busy machine, where the first check is false,
    it fails with an EvalError. `page.evaluate` goes through the DevTools protocol, which the CSP does not govern.
    """
    for _ in range(max(1, timeout // 50)):
        if page.evaluate(expression):
            return
        page.wait_for_timeout(50)
    raise AssertionError(f"never true within {timeout} ms: {expression}")
