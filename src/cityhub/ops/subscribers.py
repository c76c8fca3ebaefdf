"""Event subscriptions of the operations center, registered in every process (the ingest worker included).

The ingest worker is a connect command that never imports ops; the composition root calls
`kit.events.load_subscribers()`, which finds this module by name and calls `register()`.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from cityhub.connect.schemas import TELEMETRY_STORED, SeriesPoint
from cityhub.kit import events
from cityhub.ops.rules import live, queue


@events.in_producer_transaction
def on_telemetry_stored(session: Session, points: Sequence[SeriesPoint]) -> None:
    """Queue a stored ingest batch for the ops worker, or run the rule engine on it now (`evaluation_mode`).

    Queueing is a transactional outbox: the queue row commits with the telemetry or not at all, so a stored batch
    is never left unevaluated (no savepoint: a failed enqueue fails the ingest batch, which the broker
    redelivers). The engine inline runs in a savepoint of its own: a rule bug must not lose the batch.
    """
    if queue.evaluation_mode(session) == "queue":
        queue.enqueue_telemetry(session, points)
    else:
        events.isolated(session, TELEMETRY_STORED, live.on_telemetry_stored, points)


def register() -> None:
    """Subscribe the rule engine to stored telemetry."""
    events.subscribe(TELEMETRY_STORED, on_telemetry_stored)
