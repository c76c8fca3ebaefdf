"""Processes `make run` keeps alive next to the server: the cloud job worker (with its daily tasks)."""

from __future__ import annotations

import sys

from cityhub.kit.settings import Settings


def commands(settings: Settings) -> list[list[str]]:
    """The cloud worker."""
    return [[sys.executable, "-m", "cityhub.cli", "cloud", "worker"]]
