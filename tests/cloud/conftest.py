"""Cloud test fixtures: the bureau is the world's `t-bureau`; a small dummy cloud per test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cityhub.kit.settings import get_settings
from tests.cloud.factories import build_cloud


@pytest.fixture(autouse=True)
def bureau_is_test_bureau(monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the cloud at the test world's bureau and a 5,000 yuan approval threshold."""
    monkeypatch.setattr(get_settings(), "bureau_code", "t-bureau")
    monkeypatch.setattr(get_settings(), "cloud_approval_threshold", 5000.0)


@pytest.fixture
def cw(world: Any, tmp_path: Path) -> dict[str, Any]:
    """The small cloud."""
    return build_cloud(world, tmp_path / "dummy")
