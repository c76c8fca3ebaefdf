"""kit.events: handlers are isolated in savepoints, except outbox handlers, which share the producer's fate."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from cityhub.core.models import CalendarDay
from cityhub.kit import events

TOPIC = "test.topic"


def _write(session: Any, day: int) -> None:
    from datetime import date

    session.add(CalendarDay(day=date(2031, 1, day), working=False, name="t"))
    session.flush()


def _days(session: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(CalendarDay)) or 0)


def test_a_failing_handler_is_rolled_back_alone_and_counted(session: Any) -> None:
    def good(s: Any, _p: Any) -> None:
        _write(s, 1)

    def bad(s: Any, _p: Any) -> None:
        _write(s, 2)
        raise RuntimeError("consumer bug")

    events.subscribe(TOPIC, bad)
    events.subscribe(TOPIC, good)
    before, failed = _days(session), events.failures(TOPIC)
    try:
        assert events.publish(session, TOPIC, None) == 1
    finally:
        events.unsubscribe(TOPIC, bad)
        events.unsubscribe(TOPIC, good)
    assert _days(session) == before + 1  # bad's row went with its savepoint, good's stayed
    assert events.failures(TOPIC) == failed + 1


def test_an_outbox_handler_fails_the_producer(session: Any) -> None:
    @events.in_producer_transaction
    def outbox(s: Any, _p: Any) -> None:
        _write(s, 3)
        raise RuntimeError("outbox down")

    events.subscribe(TOPIC, outbox)
    try:
        with pytest.raises(RuntimeError, match="outbox down"):
            events.publish(session, TOPIC, None)
    finally:
        events.unsubscribe(TOPIC, outbox)
