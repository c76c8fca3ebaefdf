"""Companion processes of the capability hub under `make run`.

The demo's stub, the lake export, the analysis scheduler, job workers.
"""

from __future__ import annotations

import sys

from cityhub.kit.settings import Settings


def commands(settings: Settings) -> list[list[str]]:
    """The demo's stub, `lake-export --every N`, `analysis-scheduler --every N`, `job-worker --processes N`.

    Each unless its setting is 0.
    """
    out = []
    if settings.compute_demo_upstream_port > 0:
        out.append([sys.executable, "-m", "cityhub.cli", "compute", "demo-upstream", "--port",
                    str(settings.compute_demo_upstream_port)])
    if settings.analytics_export_s > 0:
        out.append([sys.executable, "-m", "cityhub.cli", "compute", "lake-export", "--every",
                    str(settings.analytics_export_s)])
    if settings.analytics_schedule_s > 0:
        out.append([sys.executable, "-m", "cityhub.cli", "compute", "analysis-scheduler", "--every",
                    str(settings.analytics_schedule_s)])
    if settings.compute_job_workers > 0:
        out.append([sys.executable, "-m", "cityhub.cli", "compute", "job-worker", "--processes",
                    str(settings.compute_job_workers)])
    return out
