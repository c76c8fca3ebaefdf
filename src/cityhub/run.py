"""`make run`: serve the app and keep each domain's background companions (ingest worker, simulator …) alive.

A domain adds `background.py` with `commands(settings) -> list[list[str]]`; each command runs as a child
process for as long as the server runs.
"""

from __future__ import annotations

import importlib
import importlib.util
import signal
import subprocess
import sys

from cityhub.cli import DOMAINS
from cityhub.kit.settings import get_settings


def companions() -> list[list[str]]:
    """Background commands the domains want running next to the server."""
    out: list[list[str]] = []
    for domain in DOMAINS:
        name = f"cityhub.{domain}.background"
        if importlib.util.find_spec(f"cityhub.{domain}") and importlib.util.find_spec(name):
            out.extend(importlib.import_module(name).commands(get_settings()))
    return out


def main() -> None:
    """Start companions, serve in the foreground, stop companions on exit."""
    children = [subprocess.Popen(cmd) for cmd in companions()]
    server = subprocess.Popen([sys.executable, "-m", "cityhub.cli", "serve"])

    def stop(*_args: object) -> None:
        for proc in [server, *children]:
            if proc.poll() is None:
                proc.terminate()

    signal.signal(signal.SIGTERM, stop)
    try:
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stop()
        for proc in [server, *children]:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    main()
