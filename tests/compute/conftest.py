"""Compute tests flush the metering buffer themselves: no flusher thread on the test's shared connection."""

from __future__ import annotations

import pytest

from cityhub.kit.settings import get_settings


@pytest.fixture(autouse=True)
def _meter_flushed_by_the_test(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "compute_meter_flush_s", 0.0)
