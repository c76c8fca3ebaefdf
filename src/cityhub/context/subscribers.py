"""Event subscriptions of the context broker, registered in every process (the ingest worker included).

connect's `telemetry.stored` queues the stored batch's devices for change subscriptions (`devicewatch`): one row in
the batch's transaction (a transactional outbox, as ops' rule queue), matched later by `cityhub context worker`;
connect's `device.changed` (a device created, or changed through connect's actions) queues one row the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from cityhub.connect.schemas import DEVICE_CHANGED, TELEMETRY_STORED, DeviceChanged, SeriesPoint
from cityhub.context import devicewatch
from cityhub.kit import events


@events.in_producer_transaction
def on_telemetry_stored(session: Session, points: Sequence[SeriesPoint]) -> None:
    """Queue the batch's devices and metric keys; it commits with the telemetry or not at all."""
    devicewatch.on_telemetry_stored(session, points)


@events.in_producer_transaction
def on_device_changed(session: Session, change: DeviceChanged) -> None:
    """Queue a device created or changed through connect's actions; it commits with the change or not at all."""
    devicewatch.on_device_changed(session, change)


def register() -> None:
    """Subscribe the device change queue to stored telemetry and to devices changed through connect's actions."""
    events.subscribe(TELEMETRY_STORED, on_telemetry_stored)
    events.subscribe(DEVICE_CHANGED, on_device_changed)
