"""The data domain's public surface: the actions and queries other modules call, from its capabilities.

Other domains, the API and pages, the CLI, the demo, tests and benchmarks call `cityhub.data.service.X`; each `X`
lives in one capability package (`catalog/`, `datastore/`, `sharing/`, `lists/`, `portal/`), whose `service.py`
holds its actions and queries (the catalog's also the one visibility rule). Internals (parsing, segmentation, CSV
writers, row queries) stay in their capability and are not listed here.
"""

from __future__ import annotations

from cityhub.data.catalog.index import (
    reindex_all,
)
from cityhub.data.catalog.search import (
    catalog_search,
)
from cityhub.data.catalog.service import (
    catalog_entries_by_ids,
    catalog_entry_by_code,
    catalog_entry_by_name,
    catalog_entry_create,
    catalog_entry_get,
    catalog_entry_list_owned,
    catalog_entry_offline,
    catalog_entry_page_owned,
    catalog_entry_review,
    catalog_entry_stats,
    catalog_entry_submit,
    catalog_entry_update,
    catalog_entry_versions,
    catalog_entry_view,
    catalog_review_queue,
    resource_get,
    resource_list,
    resource_list_view,
)
from cityhub.data.collection.connectors import sources_dir as sync_sources_dir
from cityhub.data.collection.service import (
    sync_due_jobs,
    sync_job_claim,
    sync_job_create,
    sync_job_delete,
    sync_job_find,
    sync_job_get,
    sync_job_list,
    sync_job_run,
    sync_job_update,
    sync_runs,
    sync_runs_recent,
    sync_source_create,
    sync_source_delete,
    sync_source_get,
    sync_source_list,
)
from cityhub.data.datastore.service import (
    datastore_bulk_load,
    datastore_index,
    datastore_query,
    resource_api_create,
    resource_delete,
    resource_file_open,
    resource_file_upload,
    resource_table_upload,
    resource_update,
)
from cityhub.data.lists.service import (
    catalog_list_entries,
    catalog_list_rows,
    data_counts,
    demand_answer,
    demand_assign,
    demand_create,
    demand_get,
    demand_list,
    demand_list_rows,
    kpis,
    list_export,
    objection_accept,
    objection_evaluate,
    objection_list,
    objection_raise,
    objection_reply,
    responsibility_list_rows,
)
from cityhub.data.portal.service import (
    flush_api_calls,
    open_application_activate,
    open_application_create,
    open_application_list,
    open_application_withdraw,
    public_user_register,
    record_api_call,
    record_download,
)
from cityhub.data.quality.service import (
    quality_check_create,
    quality_check_delete,
    quality_checks,
    quality_run,
    quality_scores,
)
from cityhub.data.sharing.deadlines import (
    sla_check,
)
from cityhub.data.sharing.grants import (
    access_log,
    grant_api_call,
    grant_get,
    grant_rows,
    grant_rows_csv,
    grants_for_requests,
)
from cityhub.data.sharing.service import (
    share_request_activate,
    share_request_arbitrate,
    share_request_close,
    share_request_compliance_review,
    share_request_coordinate,
    share_request_create,
    share_request_events,
    share_request_get,
    share_request_list,
    share_request_provider_review,
    share_request_revoke,
    share_request_submit,
    share_request_withdraw,
)

__all__ = [
    "access_log", "catalog_entries_by_ids", "catalog_entry_by_code", "catalog_entry_by_name",
    "catalog_entry_create", "catalog_entry_get", "catalog_entry_list_owned", "catalog_entry_offline",
    "catalog_entry_page_owned", "catalog_entry_review", "catalog_entry_stats", "catalog_entry_submit",
    "catalog_entry_update", "catalog_entry_versions", "catalog_entry_view", "catalog_list_entries",
    "catalog_list_rows", "catalog_review_queue", "catalog_search", "data_counts", "datastore_bulk_load",
    "datastore_index", "datastore_query", "demand_answer", "demand_assign", "demand_create", "demand_get",
    "demand_list", "demand_list_rows", "flush_api_calls", "grant_api_call", "grant_get", "grant_rows",
    "grant_rows_csv", "grants_for_requests", "kpis", "list_export", "objection_accept", "objection_evaluate",
    "objection_list", "objection_raise", "objection_reply", "open_application_activate", "open_application_create",
    "open_application_list", "open_application_withdraw", "public_user_register", "record_api_call",
    "record_download", "reindex_all", "resource_api_create", "resource_delete", "resource_file_open",
    "resource_file_upload", "resource_get", "resource_list", "resource_list_view", "resource_table_upload",
    "resource_update", "responsibility_list_rows", "share_request_activate", "share_request_arbitrate",
    "share_request_close", "share_request_compliance_review", "share_request_coordinate", "share_request_create",
    "share_request_events", "share_request_get", "share_request_list", "share_request_provider_review",
    "share_request_revoke", "share_request_submit", "share_request_withdraw", "sla_check",
]
# issue 20: collection (sources, sync jobs, runs) and quality
__all__ += [
    "quality_check_create", "quality_check_delete", "quality_checks", "quality_run", "quality_scores",
    "sync_due_jobs", "sync_job_claim", "sync_job_create", "sync_job_delete", "sync_job_find", "sync_job_get",
    "sync_job_list", "sync_job_run", "sync_job_update", "sync_runs", "sync_runs_recent", "sync_source_create",
    "sync_source_delete", "sync_source_get", "sync_source_list", "sync_sources_dir",
]
