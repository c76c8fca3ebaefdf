"""The public face of the operations center (一网统管): every function other modules call, from its capability.

Other domains, the api, pages and cli, the demo, tests and benchmarks call `cityhub.ops.service.X`; the code lives
in the capability packages:

- `rules/`: rule definitions and the 24-hour preview (`service`), the engine (`engine`, `state`), live
  evaluation and the tick (`live`), the telemetry queue (`queue`), forecast models (`forecast`, `refit`);
- `alarms/`: alarms, the routing table, webhooks and the outbox (`service`), delivery (`delivery`);
- `incidents/`: incidents, dispatch, SLAs, comments, shares, attachments, citizen reports;
- `indicators/`: city indicators and their values;
- `screen/`: the 大屏 snapshot.
"""

from __future__ import annotations

from cityhub.core.actor import Actor
from cityhub.ops.alarms.service import (
    alarm_acknowledge,
    alarm_assign,
    alarm_clear,
    alarm_create,
    alarm_get,
    alarm_list,
    alarm_raise,
    alarm_stats,
    alarm_status,
    outbox_stats,
    routing_rule_create,
    routing_rule_delete,
    routing_rule_list,
    webhook_create,
    webhook_delete,
    webhook_list,
)
from cityhub.ops.common import ENGINE_ACTOR
from cityhub.ops.incidents.service import (
    attachment_open,
    citizen_report_create,
    citizen_report_status,
    incident_assign,
    incident_attach,
    incident_comment,
    incident_create,
    incident_detail,
    incident_get,
    incident_list,
    incident_moves,
    incident_share,
    incident_transition,
    sla_check,
)
from cityhub.ops.indicators.service import (
    indicator_create,
    indicator_get,
    indicator_list,
    indicator_update,
    indicator_value_record,
    indicator_values,
    indicators_compute,
)
from cityhub.ops.rules.live import BatchResult, on_telemetry_stored, tick
from cityhub.ops.rules.queue import (
    QUEUE_CHANNEL,
    DrainResult,
    drain_telemetry_queue,
    enqueue_telemetry,
    evaluation_mode,
    telemetry_queue_depth,
)
from cityhub.ops.rules.refit import RefitResult, forecast_coverage, forecast_refit, forecast_series
from cityhub.ops.rules.service import (
    RULE_OPS,
    rule_create,
    rule_delete,
    rule_get,
    rule_list,
    rule_preview,
    rule_update,
    rule_versions,
)
from cityhub.ops.screen.service import SPARK_KEYS, dashboard_snapshot

__all__ = [  # noqa: RUF022  # grouped by capability (the comments), sorted within each group
    # the system actor the engine raises alarms as; `Actor` for callers that name another system actor by it
    "ENGINE_ACTOR", "Actor",
    # rules
    "RULE_OPS", "rule_create", "rule_delete", "rule_get", "rule_list", "rule_preview", "rule_update",
    "rule_versions",
    # live evaluation, the tick and the telemetry queue
    "BatchResult", "DrainResult", "QUEUE_CHANNEL", "drain_telemetry_queue", "enqueue_telemetry", "evaluation_mode",
    "on_telemetry_stored", "telemetry_queue_depth", "tick",
    # forecast rules: the models refitted on a schedule, their series and forecasts
    "RefitResult", "forecast_coverage", "forecast_refit", "forecast_series",
    # alarms, routing, webhooks, the outbox
    "alarm_acknowledge", "alarm_assign", "alarm_clear", "alarm_create", "alarm_get", "alarm_list", "alarm_raise",
    "alarm_stats", "alarm_status", "outbox_stats", "routing_rule_create", "routing_rule_delete", "routing_rule_list",
    "webhook_create", "webhook_delete", "webhook_list",
    # incidents and citizen reports
    "attachment_open", "citizen_report_create", "citizen_report_status", "incident_assign", "incident_attach",
    "incident_comment",
    "incident_create", "incident_detail", "incident_get", "incident_list", "incident_moves", "incident_share",
    "incident_transition", "sla_check",
    # indicators
    "indicator_create", "indicator_get", "indicator_list", "indicator_update", "indicator_value_record",
    "indicator_values", "indicators_compute",
    # the 大屏
    "SPARK_KEYS", "dashboard_snapshot",
]
