"""UTC-aware clock that tests can set and advance."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

_frozen: datetime | None = None


def now() -> datetime:
    """Current time, UTC-aware (or the frozen test time)."""
    return _frozen if _frozen is not None else datetime.now(UTC)


def set_now(value: datetime | None) -> None:
    """Freeze the clock at `value` (aware), or unfreeze with None."""
    global _frozen
    if value is not None and value.tzinfo is None:
        raise ValueError("clock needs an aware datetime")
    _frozen = value.astimezone(UTC) if value is not None else None


def advance(delta: timedelta) -> datetime:
    """Move a frozen clock forward; returns the new time."""
    if _frozen is None:
        raise RuntimeError("advance() needs a frozen clock; call set_now() first")
    set_now(_frozen + delta)
    return now()


@contextmanager
def frozen(at: datetime) -> Iterator[None]:
    """Freeze the clock for a block."""
    previous = _frozen
    set_now(at)
    try:
        yield
    finally:
        set_now(previous)


def as_utc(value: datetime) -> datetime:
    """Make a datetime UTC-aware; naive values are taken as UTC (SQLite returns naive)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
