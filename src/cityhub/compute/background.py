"""Companion processes of the capability hub under `make run`: the stub department system, the lake export."""

from __future__ import annotations

import sys

from cityhub.kit.settings import Settings


def commands(settings: Settings) -> list[list[str]]:
    """The demo's stub (`demo-upstream`, unless its port is 0) and `lake-export --every N` (unless N is 0)."""
    out = []
    if settings.compute_demo_upstream_port > 0:
        out.append([sys.executable, "-m", "cityhub.cli", "compute", "demo-upstream", "--port",
                    str(settings.compute_demo_upstream_port)])
    if settings.analytics_export_s > 0:
        out.append([sys.executable, "-m", "cityhub.cli", "compute", "lake-export", "--every",
                    str(settings.analytics_export_s)])
    return out
