"""Companion process of the capability hub under `make run`: the demo's stub department system (stub.py)."""

from __future__ import annotations

import sys

from cityhub.kit.settings import Settings


def commands(settings: Settings) -> list[list[str]]:
    """`cityhub compute demo-upstream` when CITYHUB_COMPUTE_DEMO_UPSTREAM_PORT is not 0."""
    if settings.compute_demo_upstream_port <= 0:
        return []
    return [[sys.executable, "-m", "cityhub.cli", "compute", "demo-upstream", "--port",
             str(settings.compute_demo_upstream_port)]]
