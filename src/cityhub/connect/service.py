"""The public face of connect (联): every function other modules call, from its capability.

Other domains call the contract functions of `docs/contracts.md` (device/asset references, telemetry reads,
`ingest_messages`) here, and so do connect's api, pages and cli, the demo, tests and benchmarks; system-level ones
take no actor. Nothing here commits. The code lives in the capability packages:

- `devices/`: device profiles and devices (`service`), assets (`assets`), tokens and broker password hashes
  (`credentials`), the references other domains get (`refs`);
- `ingest/`: the one ingest path (`service`), parsing and validation (`parse`), device facts cached per process
  (`facts`), storage and the COPY encoding (`store`), idempotency keys of payloads without `ts` (`keys`);
- `telemetry/`: the contract's reads, a device's series, raw points and CSV, what archiving needs;
- `mqtt/`: the read-ahead client and publishers (`client`), the ingest worker (`worker`), the broker's password
  and ACL files (`broker_files`) — commands reach these directly, not through this façade.
"""

from __future__ import annotations

from cityhub.connect.devices.assets import asset_create, asset_delete, asset_get, asset_list, asset_tree, asset_update
from cityhub.connect.devices.credentials import (
    BROKER_ITERATIONS,
    TOKEN_PREFIX,
    broker_accounts,
    broker_password_hash,
    device_authenticate,
    topic_for,
)
from cityhub.connect.devices.refs import (
    asset_ref,
    device_ref,
    device_refs,
    profile_refs,
    visible_asset_refs,
    visible_device_refs,
)
from cityhub.connect.devices.service import (
    DEVICE_FLOW,
    DEVICE_STATUSES,
    device_create,
    device_get,
    device_list,
    device_profile_by_code,
    device_profile_create,
    device_profile_list,
    device_profiles_ensure,
    device_query,
    device_status_counts,
    device_token_rotate,
    device_update,
    overview,
    profile_codes,
)
from cityhub.connect.ingest.service import (
    QUARANTINE_REASONS,
    ingest_http,
    ingest_keys_prune,
    ingest_keys_prune_due,
    ingest_messages,
    quarantine_counts,
    quarantine_list,
    quarantine_unexpected,
    simulate_history,
)
from cityhub.connect.telemetry.service import (
    AGGREGATES,
    MAX_BUCKETS,
    MAX_RAW_POINTS,
    device_latest,
    finite,
    last_seen,
    latest_values,
    parse_interval,
    series_points,
    telemetry_aggregate,
    telemetry_count,
    telemetry_csv,
    telemetry_days_before,
    telemetry_delete,
    telemetry_points,
    telemetry_raw,
    telemetry_rows,
    telemetry_series,
)
from cityhub.core.actor import Actor

__all__ = [  # noqa: RUF022  # grouped by capability (the comments), sorted within each group
    "Actor",
    # profiles and devices
    "DEVICE_FLOW", "DEVICE_STATUSES", "device_create", "device_get", "device_list", "device_profile_by_code",
    "device_profile_create", "device_profile_list", "device_profiles_ensure", "device_query", "device_status_counts",
    "device_token_rotate", "device_update", "overview", "profile_codes",
    # assets
    "asset_create", "asset_delete", "asset_get", "asset_list", "asset_tree", "asset_update",
    # credentials
    "BROKER_ITERATIONS", "TOKEN_PREFIX", "broker_accounts", "broker_password_hash", "device_authenticate", "topic_for",
    # references (contract)
    "asset_ref", "device_ref", "device_refs", "visible_device_refs", "profile_refs", "visible_asset_refs",
    # ingest (contract) and the quarantine
    "QUARANTINE_REASONS", "ingest_http", "ingest_keys_prune", "ingest_keys_prune_due", "ingest_messages",
    "quarantine_counts", "quarantine_list", "quarantine_unexpected", "simulate_history",
    # telemetry reads (contract) and retention
    "AGGREGATES", "MAX_BUCKETS", "MAX_RAW_POINTS", "device_latest", "finite", "last_seen", "latest_values",
    "parse_interval", "series_points", "telemetry_aggregate", "telemetry_count", "telemetry_csv",
    "telemetry_days_before", "telemetry_delete", "telemetry_points", "telemetry_raw", "telemetry_rows",
    "telemetry_series",
]
