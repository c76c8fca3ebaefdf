"""Companion process of the programme cockpit under `make run`: the worker that keeps the 全景 screen computed."""

from __future__ import annotations

import sys

from cityhub.kit.settings import Settings


def commands(settings: Settings) -> list[list[str]]:
    """`cityhub apply panorama-worker`."""
    return [[sys.executable, "-m", "cityhub.cli", "apply", "panorama-worker"]]
