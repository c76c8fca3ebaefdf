"""Companion process of the context broker under `make run`: the subscriptions' notification worker."""

from __future__ import annotations

import sys

from cityhub.kit.settings import Settings


def commands(settings: Settings) -> list[list[str]]:
    """`cityhub context worker`."""
    return [[sys.executable, "-m", "cityhub.cli", "context", "worker"]]
