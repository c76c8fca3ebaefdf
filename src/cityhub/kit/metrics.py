"""Prometheus registry shared by the app and every domain's own counters."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.metrics_core import Metric
from sqlalchemy.orm import Session

log = logging.getLogger("cityhub.metrics")

REGISTRY = CollectorRegistry(auto_describe=True)

HTTP_REQUESTS = Counter(
    "cityhub_http_requests_total", "HTTP requests by route template, method and status.",
    ["method", "route", "status"], registry=REGISTRY,
)
HTTP_LATENCY = Histogram(
    "cityhub_http_request_duration_seconds", "HTTP request latency by route template.",
    ["method", "route"], registry=REGISTRY,
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


# Metrics whose truth is in the database (written by other processes, e.g. an ingest worker): each domain
# registers a function that reads them; `/metrics` calls them with the app's session, at most every few seconds.
DbMetricsReader = Callable[[Session], Iterable[Metric]]
_DB_READERS: list[DbMetricsReader] = []
_DB_CACHE: dict[int, tuple[float, bytes]] = {}
DB_METRICS_TTL_S = 5.0


def register_db_metrics(reader: DbMetricsReader) -> None:
    """Add a reader of database-held metrics to `/metrics` (idempotent)."""
    if reader not in _DB_READERS:
        _DB_READERS.append(reader)


def db_metrics(key: int, session_scope: Callable[[], AbstractContextManager[Session]]) -> bytes:
    """Exposition text of every registered reader (cached per database for DB_METRICS_TTL_S)."""
    now = time.monotonic()
    hit = _DB_CACHE.get(key)
    if hit is not None and now - hit[0] < DB_METRICS_TTL_S:
        return hit[1]
    metrics: list[Metric] = []
    try:
        with session_scope() as session:
            for reader in _DB_READERS:
                metrics.extend(reader(session))
    except Exception:  # metrics must not fail the scrape (e.g. before the schema exists)
        log.warning("database metrics unavailable", exc_info=True)

    class _Snapshot:
        def collect(self) -> Iterable[Metric]:
            return metrics

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot())
    body = generate_latest(registry)
    _DB_CACHE[key] = (now, body)
    return body
