"""Companion processes of the capability hub under `make run`: the demo's stub, the lake export, job workers."""

from __future__ import annotations

import sys

from cityhub.kit.settings import Settings


def commands(settings: Settings) -> list[list[str]]:
    """The demo's stub, `lake-export --every N` and `job-worker --processes N`, each unless its setting is 0."""
    out = []
    if settings.compute_demo_upstream_port > 0:
        out.append([sys.executable, "-m", "cityhub.cli", "compute", "demo-upstream", "--port",
                    str(settings.compute_demo_upstream_port)])
    if settings.analytics_export_s > 0:
        out.append([sys.executable, "-m", "cityhub.cli", "compute", "lake-export", "--every",
                    str(settings.analytics_export_s)])
    if settings.compute_job_workers > 0:
        out.append([sys.executable, "-m", "cityhub.cli", "compute", "job-worker", "--processes",
                    str(settings.compute_job_workers)])
    return out
