"""Companion processes of the data domain: the sharing-deadline checker and the sync-job scheduler."""

from __future__ import annotations

import sys

from cityhub.kit.settings import Settings

SLA_CHECK_EVERY_S = 600
SYNC_EVERY_S = 30


def commands(settings: Settings) -> list[list[str]]:
    """`cityhub data sla-check --every 600` and `cityhub data sync-worker --every 30` next to the server."""
    return [[sys.executable, "-m", "cityhub.cli", "data", "sla-check", "--every", str(SLA_CHECK_EVERY_S)],
            [sys.executable, "-m", "cityhub.cli", "data", "sync-worker", "--every", str(SYNC_EVERY_S)]]
