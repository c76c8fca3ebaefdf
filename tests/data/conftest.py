"""Portal test fixtures: fresh in-process cache and rate-limit counters per test, a live server for real clients."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from cityhub.data import cache


@pytest.fixture(autouse=True)
def _fresh_portal_cache() -> Iterator[None]:
    # The test transaction is rolled back without a commit, so the catalog generation does not move between
    # tests: forget cached answers and per-IP counters on both sides of each test.
    cache.reset_local()
    yield
    cache.reset_local()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live_server(app: Any) -> Iterator[str]:
    """The app served by uvicorn on a free loopback port (a thread), for real HTTP clients such as ckanapi."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
