"""Processes `make run` keeps alive next to the server: the ops worker (timers, SLAs, indicators, outbox)."""

from __future__ import annotations

import sys

from cityhub.kit.settings import Settings


def commands(settings: Settings) -> list[list[str]]:
    """The ops worker."""
    return [[sys.executable, "-m", "cityhub.cli", "ops", "worker"]]
