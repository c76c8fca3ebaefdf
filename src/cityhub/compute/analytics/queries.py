"""The built-in analytics queries: written once in DuckDB's dialect, run unchanged on DuckDB and (transpiled) Spark.

Every ORDER BY is total (ties broken down to the key) and nulls are placed explicitly, so the two engines answer
the same rows in the same order; `tests/compute/analytics/test_conformance.py` runs each one on both.
Parameters are integers in a declared range, rendered into the text only after the check.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cityhub.kit.errors import ValidationFailed
from cityhub.kit.i18n import gettext as _


@dataclass(frozen=True, slots=True)
class BuiltinQuery:
    """A named query over the lake's views, with integer parameters (name → (default, low, high))."""

    name: str
    title: str
    sql: str
    params: dict[str, tuple[int, int, int]] = field(default_factory=dict)

    def render(self, given: dict[str, Any] | None = None) -> str:
        """The SQL with the parameters checked and filled in (422 naming the parameter at fault)."""
        values: dict[str, int] = {}
        given = given or {}
        for key in given:
            if key not in self.params:
                raise ValidationFailed(_("Unknown parameter: {name}").format(name=str(key)[:40]), field=str(key))
        for key, (default, low, high) in self.params.items():
            raw = given.get(key, default)
            if isinstance(raw, bool) or not isinstance(raw, int | str):
                raise ValidationFailed(_("Must be a whole number"), field=key)
            try:
                value = int(raw)
            except ValueError:
                raise ValidationFailed(_("Must be a whole number"), field=key) from None
            if not low <= value <= high:
                raise ValidationFailed(_("Must be between {low} and {high}").format(low=low, high=high), field=key)
            values[key] = value
        return self.sql.format(**values)


DAILY_AGGREGATE = BuiltinQuery(
    "daily_aggregate", "Daily aggregate per device and metric",
    """SELECT device_id, key, day, count(*) AS points, avg(value) AS mean, min(value) AS value_min,
       max(value) AS value_max
FROM telemetry
WHERE value IS NOT NULL
GROUP BY device_id, key, day
ORDER BY day, device_id, key""")

TOPK_ANOMALY = BuiltinQuery(
    "topk_anomaly", "Top-k anomalous points (z-score within each device and metric)",
    """WITH s AS (
  SELECT device_id, key, avg(value) AS mu, stddev_samp(value) AS sd
  FROM telemetry WHERE value IS NOT NULL GROUP BY device_id, key
)
SELECT t.device_id, t.key, t.ts, t.value, abs(t.value - s.mu) / s.sd AS z
FROM telemetry AS t JOIN s ON t.device_id = s.device_id AND t.key = s.key
WHERE t.value IS NOT NULL AND s.sd > 0
ORDER BY z DESC, t.device_id, t.key, t.ts
LIMIT {k}""", {"k": (20, 1, 10_000)})

JOIN_REGISTRY = BuiltinQuery(
    "join_registry", "Daily points per device profile, district and metric (telemetry joined with the registry)",
    """SELECT d.profile_code, d.district_id, t.key, t.day, count(DISTINCT t.device_id) AS devices,
       count(*) AS points, avg(t.value) AS mean
FROM telemetry AS t JOIN devices AS d ON t.device_id = d.device_id
WHERE t.value IS NOT NULL
GROUP BY d.profile_code, d.district_id, t.key, t.day
ORDER BY t.day, d.profile_code, d.district_id NULLS LAST, t.key""")

ALARMS_DAILY = BuiltinQuery(
    "alarms_daily", "Alarms raised per day and severity",
    """SELECT CAST(start_ts AS DATE) AS day, severity, count(*) AS alarms,
       count(CASE WHEN cleared THEN 1 END) AS cleared
FROM alarms
GROUP BY CAST(start_ts AS DATE), severity
ORDER BY day, severity""")

BUILTINS: dict[str, BuiltinQuery] = {q.name: q for q in (DAILY_AGGREGATE, TOPK_ANOMALY, JOIN_REGISTRY, ALARMS_DAILY)}


def builtin(name: str) -> BuiltinQuery:
    """A built-in by name (422 naming `query` when unknown)."""
    q = BUILTINS.get(name)
    if q is None:
        raise ValidationFailed(_("Unknown built-in query: {name}").format(name=name[:60]), field="query")
    return q
