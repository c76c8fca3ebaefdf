"""The context layer's public façade: what api, pages, cli, the demo and other domains call.

The broker's capabilities keep their own modules (`store` entities, `query` queries and type/attribute listings,
`batch` batch operations, `grants` read grants; `jsonld`, `entities` and `qlang` the formats); this module
re-exports their actions so callers import one name and the modules can move without breaking them.
"""

from __future__ import annotations

from cityhub.context.aggregate import methods as aggr_methods
from cityhub.context.aggregate import period as aggr_period
from cityhub.context.batch import (
    MAX_BATCH,
    BatchResult,
    batch_create,
    batch_delete,
    batch_merge,
    batch_update,
    batch_upsert,
)
from cityhub.context.bridge import entity as bridged_entity
from cityhub.context.grants import grant_create, grant_delete, grant_list
from cityhub.context.instances import instance_delete, instance_patch, temporal_attr_delete
from cityhub.context.query import (
    MAX_LIMIT,
    GeoQuery,
    Query,
    attribute_details,
    entity_query,
    geo_query,
    type_counts,
    type_details,
)
from cityhub.context.store import (
    attr_delete,
    attr_patch,
    attr_replace,
    attrs_append,
    attrs_update,
    entity_create,
    entity_delete,
    entity_get,
    entity_merge,
    entity_replace,
    tenant_org,
    visible,
)
from cityhub.context.subscriptions import render as subscription_render
from cityhub.context.subscriptions import (
    subscription_create,
    subscription_delete,
    subscription_get,
    subscription_list,
    subscription_update,
)
from cityhub.context.temporal import (
    TemporalQuery,
    temporal_attrs_append,
    temporal_entity,
    temporal_entity_page,
    temporal_query,
    temporal_query_page,
    temporal_upsert,
)

__all__ = [
    "MAX_BATCH",
    "MAX_LIMIT",
    "BatchResult",
    "GeoQuery",
    "Query",
    "TemporalQuery",
    "aggr_methods",
    "aggr_period",
    "attr_delete",
    "attr_patch",
    "attr_replace",
    "attribute_details",
    "attrs_append",
    "attrs_update",
    "batch_create",
    "batch_delete",
    "batch_merge",
    "batch_update",
    "batch_upsert",
    "bridged_entity",
    "entity_create",
    "entity_delete",
    "entity_get",
    "entity_merge",
    "entity_query",
    "entity_replace",
    "geo_query",
    "grant_create",
    "grant_delete",
    "grant_list",
    "instance_delete",
    "instance_patch",
    "subscription_create",
    "subscription_delete",
    "subscription_get",
    "subscription_list",
    "subscription_render",
    "subscription_update",
    "temporal_attr_delete",
    "temporal_attrs_append",
    "temporal_entity",
    "temporal_entity_page",
    "temporal_query",
    "temporal_query_page",
    "temporal_upsert",
    "tenant_org",
    "type_counts",
    "type_details",
    "visible",
]
