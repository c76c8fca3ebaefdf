"""The capability hub's public façade: what api, pages, cli, the demo and other domains call.

Each capability keeps its own service module (`registry`, `access`, `gateway`, `metering`, `builtins`); this module
re-exports their actions so callers import one name and the packages can move without breaking them.
"""

from __future__ import annotations

from typing import Any

from cityhub.compute.access.service import (
    NOTE_OPEN_TO_ALL,
    app_create,
    app_disable,
    app_get,
    app_key_create,
    app_key_revoke,
    app_key_rotate,
    app_keys,
    app_list,
    decision_note_text,
    key_hash,
    subscription_create,
    subscription_decide,
    subscription_get,
    subscription_list,
    subscription_queue,
    subscription_revoke,
)
from cityhub.compute.analytics.analyses import (
    analysis_create,
    analysis_delete,
    analysis_get,
    analysis_list,
    analysis_run,
    analysis_run_cancel,
    analysis_run_csv,
    analysis_run_get,
    analysis_run_parquet,
    analysis_run_publish,
    analysis_runs,
    analysis_update,
)
from cityhub.compute.analytics.decisions import dispatch_decide, dispatch_decisions
from cityhub.compute.analytics.scenarios import road_graph, scenario_get, scenario_list, scenario_run
from cityhub.compute.analytics.schedules import due as analysis_schedules_due
from cityhub.compute.analytics.schedules import run_due as analysis_schedule_run
from cityhub.compute.analytics.service import engine as analytics_engine
from cityhub.compute.analytics.service import lake_export as analytics_lake_export
from cityhub.compute.analytics.service import run_builtin as analytics_run_builtin
from cityhub.compute.builtins import service as _builtins
from cityhub.compute.gateway.service import Gateway, GatewayError, gateway_for, identity_headers
from cityhub.compute.gateway.service import shutdown as gateway_shutdown
from cityhub.compute.jobs.service import (
    job_cancel,
    job_claim,
    job_components,
    job_create,
    job_get,
    job_list,
    job_run,
    job_work_once,
)
from cityhub.compute.metering.service import (
    Meter,
    calls_recent,
    usage_csv,
    usage_report,
    usage_series,
    usage_xlsx,
)
from cityhub.compute.registry.service import (
    TRANSITIONS,
    component_by_code,
    component_consumers,
    component_create,
    component_delete,
    component_dependencies,
    component_deprecate,
    component_get,
    component_list,
    component_reinstate,
    component_retire,
    component_review,
    component_review_queue,
    component_submit,
    component_update,
    component_version_create,
    component_version_get,
    component_version_publish,
    component_version_queue,
    component_versions,
    subcategories,
    validate_openapi,
)
from cityhub.compute.stub import feed_token as demo_licence_feed_token

__all__ = [
    "NOTE_OPEN_TO_ALL",
    "TRANSITIONS",
    "Gateway",
    "GatewayError",
    "Meter",
    "analysis_create",
    "analysis_delete",
    "analysis_get",
    "analysis_list",
    "analysis_run",
    "analysis_run_cancel",
    "analysis_run_csv",
    "analysis_run_get",
    "analysis_run_parquet",
    "analysis_run_publish",
    "analysis_runs",
    "analysis_schedule_run",
    "analysis_schedules_due",
    "analysis_update",
    "analytics_engine",
    "analytics_lake_export",
    "analytics_run_builtin",
    "app_create",
    "app_disable",
    "app_get",
    "app_key_create",
    "app_key_revoke",
    "app_key_rotate",
    "app_keys",
    "app_list",
    "builtin_catalogue",
    "calls_recent",
    "component_by_code",
    "component_consumers",
    "component_create",
    "component_delete",
    "component_dependencies",
    "component_deprecate",
    "component_get",
    "component_list",
    "component_reinstate",
    "component_retire",
    "component_review",
    "component_review_queue",
    "component_submit",
    "component_update",
    "component_version_create",
    "component_version_get",
    "component_version_publish",
    "component_version_queue",
    "component_versions",
    "decision_note_text",
    "demo_licence_feed_token",
    "dispatch_decide",
    "dispatch_decisions",
    "gateway_for",
    "gateway_shutdown",
    "identity_headers",
    "job_cancel",
    "job_claim",
    "job_components",
    "job_create",
    "job_get",
    "job_list",
    "job_run",
    "job_work_once",
    "key_hash",
    "road_graph",
    "scenario_get",
    "scenario_list",
    "scenario_run",
    "subcategories",
    "subscription_create",
    "subscription_decide",
    "subscription_get",
    "subscription_list",
    "subscription_queue",
    "subscription_revoke",
    "usage_csv",
    "usage_report",
    "usage_series",
    "usage_xlsx",
    "validate_openapi",
]


def builtin_catalogue() -> list[dict[str, Any]]:
    """Every built-in handler: name, title, OpenAPI document."""
    return [{"name": n, "title": p.title, "openapi": p.openapi()}
            for n in _builtins.builtin_names() if (p := _builtins.builtin_get(n)) is not None]


def builtin_openapi(name: str) -> dict[str, Any]:
    """A built-in's OpenAPI document (for registering it as a component)."""
    plugin = _builtins.builtin_get(name)
    if plugin is None:
        raise KeyError(name)
    return plugin.openapi()
