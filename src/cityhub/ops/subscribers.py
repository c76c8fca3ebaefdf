"""Event subscriptions of the operations center, registered in every process (the ingest worker included).

The ingest worker is a connect command that never imports ops; the composition root calls
`kit.events.load_subscribers()`, which finds this module by name and calls `register()`.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from cityhub.kit import events
from cityhub.ops import service


def on_telemetry_stored(session: Session, points: Sequence[events.SeriesPoint]) -> None:
    """Run the rule engine on a stored ingest batch, or queue it for the ops worker (`service.evaluation_mode`).

    Either way inside the ingest transaction, in the publisher's savepoint.
    """
    service.telemetry_stored(session, points)


def register() -> None:
    """Subscribe the rule engine to stored telemetry."""
    events.subscribe(events.TELEMETRY_STORED, on_telemetry_stored)
