"""The cloud's public façade: what api, pages, cli, the demo, benchmarks and other domains call.

Each capability keeps its own service module — `providers` (accounts, regions, pools, catalog, reconciler),
`tenancies` (tenancies, quotas, requests and approval, placement, jobs, metering, idle rule), `systems` (inventory,
migration, 上云率/整合率, DR) and `scores` (云长 scorecards, ranking); this module re-exports their public functions so
callers import one name and the packages can move without breaking them. Nothing here commits.
"""

from __future__ import annotations

from cityhub.cloud.providers.service import (
    catalog_item_create,
    catalog_list,
    finding_list,
    overview,
    pool_create,
    pool_list,
    pool_update,
    pools_by_provider,
    provider_account_create,
    provider_account_get,
    provider_account_list,
    provider_for,
    reconcile,
    region_create,
    region_list,
)
from cityhub.cloud.scores.service import my_units, ranking, scorecard, scorecards
from cityhub.cloud.systems.service import (
    SYSTEM_STATUSES,
    dr_gaps,
    dr_matrix,
    drill_list,
    drill_record,
    ratio_history,
    ratio_snapshot_take,
    ratios,
    system_create,
    system_get,
    system_list,
    system_transition,
    system_update,
)
from cityhub.cloud.tenancies.jobs import job_execute, job_list, jobs_due, jobs_run
from cityhub.cloud.tenancies.metering import chargeback, idle_case_list, idle_check, usage_collect, usage_series
from cityhub.cloud.tenancies.service import (
    QUOTA_KEYS,
    REQUEST_STATUSES,
    approval_queue,
    request_approve,
    request_create,
    request_get,
    request_list,
    request_reclaim,
    request_reject,
    request_resize,
    request_retry,
    resource_get,
    resource_list,
    tenancy_create,
    tenancy_for_org,
    tenancy_get,
    tenancy_list,
    tenancy_quota_update,
    tenancy_usage,
)

__all__ = [
    "QUOTA_KEYS", "REQUEST_STATUSES", "SYSTEM_STATUSES", "approval_queue", "catalog_item_create", "catalog_list",
    "chargeback", "dr_gaps", "dr_matrix", "drill_list", "drill_record", "finding_list", "idle_case_list",
    "idle_check", "job_execute", "job_list", "jobs_due", "jobs_run", "my_units", "overview", "pool_create",
    "pool_list", "pool_update", "pools_by_provider", "provider_account_create", "provider_account_get",
    "provider_account_list", "provider_for", "ranking", "ratio_history", "ratio_snapshot_take", "ratios",
    "reconcile", "region_create", "region_list", "request_approve", "request_create", "request_get", "request_list",
    "request_reclaim", "request_reject", "request_resize", "request_retry", "resource_get", "resource_list",
    "scorecard", "scorecards",
    "system_create", "system_get", "system_list", "system_transition", "system_update", "tenancy_create",
    "tenancy_for_org", "tenancy_get", "tenancy_list", "tenancy_quota_update", "tenancy_usage", "usage_collect",
    "usage_series",
]
