"""In-process publish/subscribe between domains, so a producer never imports its consumers.

Example: `connect` publishes `telemetry.stored` after each ingest batch is written (inside the batch's
transaction); `ops` subscribes its rule engine. Handlers run synchronously in the publisher's transaction; a
handler that raises is isolated and logged, never breaking the publisher or the other handlers — except one
marked `in_producer_transaction` (an outbox write that must commit with the producer's data or not at all).
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import pkgutil
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

log = logging.getLogger("cityhub.events")

Handler = Callable[[Session, Any], object]  # the return value is ignored
_handlers: dict[str, list[Handler]] = defaultdict(list)
_failures: dict[str, int] = defaultdict(int)


def subscribe(topic: str, handler: Handler) -> None:
    """Call `handler(session, payload)` for every `publish(topic, …)`; subscribing twice is a no-op."""
    if handler not in _handlers[topic]:
        _handlers[topic].append(handler)


def unsubscribe(topic: str, handler: Handler) -> None:
    """Stop calling `handler` for `topic`."""
    if handler in _handlers[topic]:
        _handlers[topic].remove(handler)


def publish(session: Session, topic: str, payload: Any) -> int:
    """Deliver `payload` to every handler of `topic` in a savepoint each; returns how many succeeded.

    A handler marked with `in_producer_transaction` runs without a savepoint and its failure fails the publisher.
    """
    ok = 0
    for handler in list(_handlers.get(topic, ())):
        if getattr(handler, _NO_SAVEPOINT, False):
            handler(session, payload)
            ok += 1
        elif isolated(session, topic, handler, payload):
            ok += 1
    return ok


def isolated(session: Session, topic: str, handler: Handler, payload: Any) -> bool:
    """Run one handler in a savepoint, logging and counting a failure instead of raising it; True on success."""
    try:
        with session.begin_nested():
            handler(session, payload)
        return True
    except Exception:  # a consumer's bug must not lose the producer's data
        _failures[topic] += 1
        log.exception("event handler %s failed on %s", getattr(handler, "__qualname__", handler), topic)
        return False


_NO_SAVEPOINT = "_cityhub_in_producer_transaction"


def in_producer_transaction(handler: Handler) -> Handler:
    """Mark a handler that must commit with the producer's data or not at all (a transactional outbox).

    `publish` calls it without a savepoint (two round trips fewer per event) and lets its exception fail the
    producer's transaction. A handler that does work which may fail on its own calls `isolated` for that part.
    """
    setattr(handler, _NO_SAVEPOINT, True)
    return handler


def failures(topic: str) -> int:
    """How many handler calls failed for `topic` since start."""
    return _failures.get(topic, 0)


def has_subscribers(topic: str) -> bool:
    """True when anyone listens (publishers may skip building payloads otherwise)."""
    return bool(_handlers.get(topic))


def load_subscribers() -> list[str]:
    """Import `cityhub.<domain>.subscribers` of every domain package and call its `register()`.

    Composition roots (app, CLI) call this, so a producer's process (e.g. the ingest worker) runs the consumers'
    handlers without importing them. Returns the modules registered.
    """
    import cityhub

    loaded = []
    for info in pkgutil.iter_modules(cityhub.__path__):
        name = f"cityhub.{info.name}.subscribers"
        if info.ispkg and info.name != "kit" and importlib.util.find_spec(name) is not None:
            importlib.import_module(name).register()
            loaded.append(name)
    return loaded
