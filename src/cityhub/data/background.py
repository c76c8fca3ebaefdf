"""Companion process of the data domain: the sharing-deadline checker (reminders, escalation, expiry)."""

from __future__ import annotations

import sys

from cityhub.kit.settings import Settings

SLA_CHECK_EVERY_S = 600


def commands(settings: Settings) -> list[list[str]]:
    """`cityhub data sla-check --every 600` next to the server."""
    return [[sys.executable, "-m", "cityhub.cli", "data", "sla-check", "--every", str(SLA_CHECK_EVERY_S)]]
