"""Ops fixtures: the rule engine subscribed to stored telemetry, webhook hosts for tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cityhub.kit import events
from cityhub.kit.settings import get_settings
from cityhub.ops.rules import service as rule_service
from cityhub.ops.rules import state


@pytest.fixture(autouse=True)
def engine_subscribed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Subscribe every domain's consumers (as the app and CLI do) and start each test with a cold rule cache."""
    events.load_subscribers()
    rule_service._rule_cache.clear()
    state.clear_cache()
    monkeypatch.setattr(get_settings(), "ops_webhook_allowed_hosts", "127.0.0.1,hooks.example.gov.cn")
    monkeypatch.setattr(get_settings(), "ops_fallback_org_code", "t-bureau")
    yield
    rule_service._rule_cache.clear()
