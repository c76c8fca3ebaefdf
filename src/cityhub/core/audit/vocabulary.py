"""What the audit log's codes read as: actions, target kinds and field names, in English message ids.

Every domain writes audit rows (`audit_record(…, "request_approve", …)`), but the log is core's: its sentences
("张三 批准了云资源申请 #1a2b3c4d") are made here, so the action, target and field vocabularies are kept in one
place and translated by core's catalogue. An action label is the verb phrase with its object ("approved cloud
request"), so a sentence is the actor and the phrase with its `{target}` filled in, in either language.
`tests/core/test_audit_sentences.py` finds every action code the source writes and fails on one without a label;
a code added later and missed still reads as words (`kit.labels.humanize`), never as the raw code.
"""

from __future__ import annotations

from cityhub.kit import labels

ACTION = "audit.action"
TARGET = "audit.target"
FIELD = "audit.field"
OUTCOME = "audit.outcome"

labels.register(OUTCOME, {"ok": "Succeeded", "error": "Failed", "refused": "Refused by policy",
                          "denied": "Refused by policy"})

_PHRASES = {
    # core
    "organization_create": "created organisation", "organization_update": "changed organisation",
    "organization_delete": "deleted organisation", "bureau_set": "designated as the big-data bureau",
    "user_create": "created user", "user_update": "changed user", "user_lock": "locked user",
    "user_login": "signed in as", "user_logout": "signed out as", "user_password_set": "set the password of user",
    "role_binding_create": "granted a role binding", "role_binding_delete": "removed a role binding",
    "api_token_create": "created API token", "api_token_revoke": "revoked API token",
    "calendar_day_set": "set calendar day",
    # cloud
    "provider_account_create": "added cloud provider", "provider_reconcile": "reconciled cloud provider",
    "region_create": "added cloud region", "pool_create": "added resource pool", "pool_update": "changed resource pool",
    "catalog_item_create": "added cloud catalog item", "tenancy_create": "opened cloud tenancy",
    "tenancy_quota_update": "changed the quota of cloud tenancy", "request_create": "submitted cloud request",
    "request_approve": "approved cloud request", "request_reject": "rejected cloud request",
    "request_resize": "resized cloud request", "request_reclaim": "started reclaiming cloud request",
    "request_reclaimed": "finished reclaiming cloud request", "request_retry": "retried cloud request",
    "request_fail": "recorded the failed provisioning of cloud request",
    "request_provisioned": "provisioned cloud request",
    "job_attempt_fail": "recorded a failed attempt of provisioning job", "usage_collect": "collected cloud usage",
    "idle_case_remind": "sent an idle-resource reminder", "idle_case_escalate": "escalated idle-resource case",
    "idle_case_propose": "proposed a reduction for idle-resource case",
    "idle_case_resolve": "resolved idle-resource case", "system_create": "registered information system",
    "system_update": "changed information system", "system_transition": "moved the migration of information system",
    "drill_record": "recorded a DR drill of information system", "ratio_snapshot_take": "took a ratio snapshot",
    # compute
    "component_create": "created component", "component_update": "changed component",
    "component_delete": "deleted component", "component_submit": "submitted for review component",
    "component_review": "reviewed component", "component_deprecate": "deprecated component",
    "component_retire": "retired component", "component_reinstate": "reinstated component",
    "component_version_create": "added a version of component",
    "component_version_publish": "published a version of component", "app_create": "created application",
    "app_disable": "disabled application", "app_enable": "enabled application",
    "app_key_create": "issued a key of application", "app_key_revoke": "revoked a key of application",
    "subscription_create": "requested subscription", "subscription_decide": "decided on subscription",
    "subscription_revoke": "ended subscription",
    # connect
    "device_profile_create": "created device profile", "asset_create": "registered asset",
    "asset_update": "changed asset", "asset_delete": "deleted asset", "device_create": "registered device",
    "device_update": "changed device", "device_token_rotate": "rotated the token of device",
    "telemetry_archive": "archived telemetry",
    # data
    "catalog_entry_create": "created catalog entry", "catalog_entry_update": "changed catalog entry",
    "catalog_entry_submit": "submitted for review catalog entry", "catalog_entry_publish": "published catalog entry",
    "catalog_entry_reject": "sent back catalog entry", "catalog_entry_offline": "took offline catalog entry",
    "resource_create": "added data resource", "resource_update": "changed data resource",
    "resource_delete": "deleted data resource", "resource_upload": "uploaded data to",
    "resource_index": "indexed data resource", "share_request_create": "filed sharing request",
    "share_request_remind": "sent a reminder on sharing request",
    "share_request_escalate": "escalated sharing request", "share_request_draft": "returned to draft sharing request",
    "share_request_submitted": "submitted sharing request",
    "share_request_compliance_review": "sent to compliance review sharing request",
    "share_request_provider_review": "sent to the provider sharing request",
    "share_request_approved": "approved sharing request", "share_request_provisioning": "began provisioning sharing "
    "request", "share_request_active": "put into force sharing request",
    "share_request_rejected": "rejected sharing request", "share_request_coordination": "sent to coordination "
    "sharing request", "share_request_closed": "closed sharing request",
    "share_request_withdrawn": "withdrew sharing request", "share_request_expired": "expired sharing request",
    "share_request_revoked": "revoked sharing request", "grant_create": "granted data access",
    "open_application_create": "applied for open data", "open_application_activate": "activated open-data grant",
    "public_user_register": "registered portal account", "demand_create": "filed data need",
    "demand_assign": "assigned data need", "demand_answer": "answered data need",
    "objection_raise": "raised objection", "objection_handle": "handled objection",
    "objection_evaluate": "evaluated the handling of objection",
    # ops
    "rule_create": "created alarm rule", "rule_update": "changed alarm rule", "rule_delete": "deleted alarm rule",
    "alarm_raise": "raised alarm", "alarm_acknowledge": "acknowledged alarm", "alarm_assign": "assigned alarm",
    "alarm_clear": "cleared alarm", "routing_rule_create": "created dispatch rule",
    "routing_rule_delete": "deleted dispatch rule", "webhook_create": "added webhook",
    "webhook_delete": "deleted webhook", "incident_create": "opened incident",
    "citizen_report_create": "received citizen report", "incident_dispatch": "dispatched incident",
    "incident_accept": "accepted incident", "incident_start": "started work on incident",
    "incident_resolve": "resolved incident", "incident_close": "closed incident",
    "incident_reopen": "reopened incident", "incident_return": "returned for re-dispatch incident",
    "incident_comment": "commented on incident", "incident_share": "shared incident",
    "incident_attach": "attached a file to incident", "incident_escalate": "escalated incident",
    "indicator_create": "created indicator", "indicator_update": "changed indicator",
    "indicator_value_record": "recorded a value of indicator",
    # context
    "context_grant_create": "granted read access to context entities", "context_grant_delete":
    "withdrew read access to context entities",
    # compute analytics, data collection and quality, apply (issues 18, 20, 21)
    "analysis_create": "created saved analysis",
    "analysis_update": "changed saved analysis",
    "analysis_delete": "deleted saved analysis",
    "analysis_run": "ran saved analysis",
    "analysis_run_cancel": "cancelled a run of saved analysis",
    "analysis_publish": "published the answer of a run of saved analysis",
    "analysis_schedule_failed": "could not start the scheduled run of saved analysis",
    "dispatch_decision": "decided on a dispatch suggestion of scenario",
    "compute_job_create": "submitted batch job",
    "compute_job_cancel": "cancelled batch job",
    "compute_job_finish": "ended batch job",
    "scenario_run": "ran scenario",
    "sync_source_create": "registered data source",
    "sync_source_delete": "deleted data source",
    "sync_job_create": "created sync job",
    "sync_job_update": "changed sync job",
    "sync_job_delete": "deleted sync job",
    "sync_job_run": "ran sync job",
    "sync_source_harvest": "harvested catalogue",
    "catalog_entry_harvest_gone": "flagged as gone from its remote catalogue",
    "datastore_create": "created the datastore table of data resource",
    "datastore_upsert": "wrote rows into data resource",
    "datastore_delete": "deleted rows from data resource",
    "quality_check_create": "added quality check",
    "quality_check_delete": "deleted quality check",
    "quality_run": "ran the quality checks of catalog entry",
    "base_feed_set": "set a base-database feed", "base_merge": "merged the golden records of base database",
    "base_conflict_resolve": "resolved a golden-record conflict", "base_record_read": "looked up golden record",
    "target_create": "created programme target",
    "target_update": "changed programme target",
    "target_delete": "deleted programme target",
    "progress_refresh": "refreshed the computed progress of programme targets",
    "programme_seed": "loaded the programme's targets",
    "report_create": "reported progress",
    "report_review": "reviewed progress report",
    "evaluation_scheme_create": "created evaluation scheme",
    "evaluation_scheme_update": "changed evaluation scheme",
    "evaluation_run_compute": "computed annual evaluation",
    "evaluation_score_adjust": "adjusted the evaluation result",
    "evaluation_run_freeze": "froze annual evaluation",
    "base_station_create": "registered 5G base station",
    "base_station_import": "imported 5G base stations",
    "network_link_create": "registered network link",
    "scenario_create": "declared application scenario",
    "scenario_transition": "moved on application scenario",
    "digital_park_create": "registered digital-economy park",
    "enterprise_create": "registered enterprise",
}
# where the target does not simply follow the phrase (or is the actor themself)
_PLACED = {
    "user_lock": "locked user {target} after failed logins", "user_login": "signed in", "user_logout": "signed out",
    "bureau_set": "designated {target} as the big-data bureau", "role_binding_create": "granted a role to {target}",
    "role_binding_delete": "removed a role of {target}", "usage_collect": "collected cloud usage of {target}",
    "ratio_snapshot_take": "took a snapshot of the on-cloud and integration ratios",
    "telemetry_archive": "archived the telemetry of {target}", "public_user_register": "registered a portal account",
    "share_request_remind": "sent a reminder on sharing request {target}",
    "idle_case_remind": "sent an idle-resource reminder ({target})",
    "user_password_set": "set the password of user {target}",
    "component_submit": "submitted component {target} for review",
    "catalog_entry_submit": "submitted catalog entry {target} for review",
    "catalog_entry_offline": "took catalog entry {target} offline",
    "catalog_entry_harvest_gone": "flagged catalog entry {target} as gone from its remote catalogue",
    "share_request_draft": "returned sharing request {target} to draft",
    "share_request_compliance_review": "sent sharing request {target} to compliance review",
    "share_request_provider_review": "sent sharing request {target} to the provider",
    "share_request_active": "put sharing request {target} into force",
    "share_request_coordination": "sent sharing request {target} to coordination",
    "share_request_expired": "marked sharing request {target} expired",
    "incident_return": "returned incident {target} for re-dispatch",
    "progress_refresh": "refreshed the computed progress of programme targets",
    "programme_seed": "loaded the programme's targets",
    "report_create": "reported progress {target}",
    "base_station_import": "imported 5G base stations",
}
labels.register(ACTION, {code: _PLACED.get(code, f"{phrase} {{target}}") for code, phrase in _PHRASES.items()})
ACTIONS = frozenset(_PHRASES)


labels.register(TARGET, {
    "organization": "Organisation (unit)", "user": "User", "role_binding": "Role binding", "api_token": "API token",
    "calendar_day": "Calendar day", "cloud_provider": "Cloud provider", "cloud_region": "Cloud region",
    "cloud_pool": "Resource pool", "cloud_catalog_item": "Cloud catalog item", "cloud_tenancy": "Cloud tenancy",
    "cloud_request": "Cloud request", "cloud_job": "Provisioning job", "cloud_usage_day": "Cloud usage day",
    "cloud_idle_case": "Idle-resource case", "cloud_system": "Information system",
    "cloud_ratio_snapshot": "Ratio snapshot", "compute_component": "Component",
    "compute_component_version": "Component version", "compute_app": "Application",
    "compute_app_key": "Application key",
    "compute_subscription": "Subscription", "device_profile": "Device profile", "asset": "Asset", "device": "Device",
    "telemetry": "Telemetry", "catalog_entry": "Catalog entry", "resource": "Data resource",
    "share_request": "Sharing request", "grant": "Data grant", "demand": "Data need", "objection": "Objection",
    "ops_rule": "Alarm rule", "ops_alarm": "Alarm", "ops_routing_rule": "Dispatch rule", "ops_webhook": "Webhook",
    "ops_incident": "Incident", "ops_indicator": "Indicator", "context_grant": "Context access grant",
    "compute_analysis": "Saved analysis",
    "compute_job": "Batch job",
    "compute_scenario_run": "Scenario run",
    "sync_source": "Data source",
    "sync_job": "Sync job",
    "quality_check": "Quality check", "base_feed": "Base-database feed", "base_record": "Golden record",
    "base_conflict": "Golden-record conflict",
    "apply_target": "Programme target",
    "apply_report": "Progress report",
    "apply_eval_scheme": "Evaluation scheme",
    "apply_eval_run": "Annual evaluation",
    "apply_eval_score": "Evaluation result",
    "apply_base_station": "5G base station",
    "apply_network_link": "Network link",
    "apply_scenario": "Application scenario",
    "apply_digital_park": "Digital-economy park",
    "apply_enterprise": "Enterprise",
})

labels.register(FIELD, {
    "account_id": "Provider account", "app": "Application", "asset_id": "Asset", "assigned_org_id": "Assigned unit",
    "assignee_id": "Assignee", "attempt": "Attempt", "buckets": "Buckets", "builtin": "Built-in handler",
    "by": "By", "category": "Category", "change_status": "Change status", "classified": "Classified",
    "cleared": "Cleared", "code": "Short code", "component": "Component", "condition": "Condition",
    "config": "Configuration", "credentials": "Credentials", "critical": "Critical threshold",
    "deadline": "Deadline", "decision_note": "Decision note", "disabled": "Disabled", "disk_gb": "Disk (GB)",
    "disk_gb_total": "Disk total (GB)", "display_name": "Display name", "district_id": "District",
    "division_code": "Division code", "dr_actual": "Actual DR level", "dr_required": "Required DR level",
    "dr_roles": "DR topology", "duration_s": "Duration (s)", "email": "Email", "enabled": "Enabled",
    "entry": "Catalog entry", "error": "Error", "expires_at": "Expires at", "final": "Final attempt",
    "head_user_id": "Cloud chief", "hosting": "Hosting", "idle_ratio": "Idle share", "instances": "Instances",
    "integrated": "Integrated", "item_id": "Catalog item", "items": "Information items", "key": "Metric",
    "kind": "Kind", "lat": "Latitude", "lon": "Longitude", "merged_into_id": "Merged into",
    "metrics": "Metrics", "monthly_cost": "Monthly cost", "monthly_price": "Monthly price", "name": "Name",
    "name_en": "English name", "name_zh": "Chinese name", "no_data_s": "No-data timeout (s)", "nodes": "Nodes",
    "note": "Note", "number": "Number", "on_time": "On time", "org_id": "Unit", "originator_id": "Originator",
    "parent_id": "Parent unit", "pending_fields": "Pending fields", "pool_id": "Resource pool",
    "prefix": "Prefix", "price_factor": "Price factor", "priority": "Priority", "profile": "Device profile",
    "profile_code": "Device profile", "quantity": "Quantity", "quota": "Quota", "quota_per_day": "Quota per day",
    "quota_per_minute": "Quota per minute", "quota_per_month": "Quota per month", "ram_mb": "RAM (MB)",
    "ram_mb_total": "RAM total (MB)", "rating": "Rating", "readiness": "Readiness", "reason": "Reason",
    "region_id": "Region", "repeat_count": "Repeat count", "reply": "Reply", "resources": "Resources",
    "review_note": "Review note", "revoked_at": "Revoked at", "role": "Role", "rows": "Rows", "rpo": "RPO (min)",
    "rto": "RTO (min)", "scopes": "Scopes", "security_level": "Security level", "severity": "Severity",
    "size_id": "Size", "source": "Source", "status": "Status", "storage_gb": "Storage (GB)",
    "storage_gb_total": "Storage total (GB)", "strategy": "Strategy", "success": "Succeeded", "target": "Target",
    "target_org_id": "Target unit", "tenancy_id": "Tenancy", "title": "Title", "token_prefix": "Token prefix",
    "ts": "Time", "type": "Type of event", "units": "Units", "upstream_url": "Upstream URL", "url": "URL",
    "use_asset_owner": "Dispatch to the asset owner", "user": "User", "username": "Username", "uscc": "USCC",
    "value": "Value", "vcpus": "vCPUs", "vcpus_total": "vCPU total", "version": "Version",
    "warning": "Warning threshold", "wave": "Wave", "working": "Working day", "retain": "Retain",
    "retire": "Retire", "upstream": "Upstream", "changelog": "Change log", "description": "Description",
    "quota_instances": "Instance quota", "quota_vcpus": "vCPU quota", "quota_ram_mb": "RAM quota (MB)",
    "quota_storage_gb": "Storage quota (GB)", "grantee_org_id": "Grantee unit", "entity_type": "Entity type",
    "quota_disk_gb": "Disk quota (GB)", "quota_buckets": "Bucket quota",
})

# fields whose value is money (yuan), a moment, or a code of a known vocabulary of a target kind
MONEY_FIELDS = frozenset({"monthly_cost", "monthly_price", "amount", "price", "cost"})
TIME_FIELDS = frozenset({"deadline", "expires_at", "revoked_at", "ts", "at", "until", "since"})
# (target type, field) → vocabulary kind, where the same code means different things in different domains
# ("active" is a cloud request in service, a sharing request in force …). Kinds of enums are their dotted paths;
# the domain registers the vocabulary itself, core only names it (no import).
VALUE_VOCABULARY: dict[tuple[str, str], str] = {
    ("cloud_request", "status"): "cityhub.cloud.models.RequestStatus",
    ("cloud_system", "status"): "cityhub.cloud.models.SystemStatus",
    ("cloud_system", "hosting"): "cityhub.cloud.schemas.Hosting",
    ("cloud_system", "strategy"): "cityhub.cloud.schemas.Strategy",
    ("cloud_idle_case", "status"): "cityhub.cloud.models.IdleStatus",
    ("cloud_provider", "kind"): "cityhub.cloud.schemas.ProviderKind",
    ("cloud_catalog_item", "kind"): "cloud.item_kind",
    ("compute_component", "status"): "cityhub.compute.models.ComponentStatus",
    ("compute_component", "category"): "cityhub.compute.models.Category",
    ("compute_component_version", "kind"): "cityhub.compute.models.VersionKind",
    ("compute_subscription", "status"): "cityhub.compute.models.SubscriptionStatus",
    ("organization", "kind"): "cityhub.core.models.OrgKind",
    ("role_binding", "role"): "cityhub.core.models.Role",
    ("share_request", "status"): "cityhub.data.models.RequestStatus",
    ("catalog_entry", "status"): "cityhub.data.models.EntryStatus",
    ("catalog_entry", "change_status"): "cityhub.data.models.ChangeStatus",
    ("objection", "status"): "cityhub.data.models.ObjectionStatus",
    ("demand", "status"): "cityhub.data.models.DemandStatus",
}
