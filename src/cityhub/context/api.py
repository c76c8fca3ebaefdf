"""The NGSI-LD API under /ngsi-ld/v1 (entities, batch operations, types, attributes) and /api/v1/context (grants).

NGSI-LD clients send a cityhub API token as `Authorization: Bearer …` (anonymous callers read public entities);
`NGSILD-Tenant` names the owning organisation by its code. Collection paths answer with and without a trailing
slash (no redirect: several clients add one). Errors are ProblemDetails (`deps.NgsiRoute`).
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from cityhub.context import entities as ent
from cityhub.context import params, paths, schemas, temporal_api
from cityhub.context import service as context
from cityhub.context.deps import (
    GEO,
    JSON,
    LD,
    Incoming,
    NgsiRoute,
    answer,
    multi_status,
    negotiate,
    no_content,
    one_statement_read,
    page_links,
    read_body,
    request_context,
)
from cityhub.context.jsonld import LdContext
from cityhub.context.jsonld import core as core_context
from cityhub.context.problems import bad, not_found
from cityhub.core.deps import CurrentActor, OptionalActor
from cityhub.kit.web import DbSession, SessionRoute

router = APIRouter(prefix="/ngsi-ld/v1", tags=["NGSI-LD"], route_class=NgsiRoute)
grants = APIRouter(prefix="/api/v1/context", tags=["context"], route_class=SessionRoute)
extra_routers = [grants, temporal_api.router]  # the temporal API: temporal_api.py
fast_paths = [(paths.PREFIX, paths.ngsi_app)]  # ids with encoded slashes (paths.py), the plain GET (fast.py)
BASE = "/ngsi-ld/v1"


async def _body(request: Request) -> Incoming:
    return await read_body(request)


async def _patch_body(request: Request) -> Incoming:
    return await read_body(request, patch=True)


Body = Annotated[Incoming, Depends(_body)]
PatchBody = Annotated[Incoming, Depends(_patch_body)]


_tenant = params.tenant
_names = params.names
_options = params.options
_view = params.view
_rendered = params.rendered
_feature = params.feature


# ---- entities


@router.post("/entities", status_code=201)
@router.post("/entities/", status_code=201, include_in_schema=False)
def entity_create(session: DbSession, actor: OptionalActor, request: Request, body: Body) -> Response:
    """Create an entity: 201 with its Location; 409 AlreadyExists; 400 for invalid content."""
    row = context.entity_create(session, actor, body.body, body.ctx, _tenant(session, request))
    return Response(status_code=201, headers={"Location": f"{BASE}/entities/{quote(row.entity_id, safe=':')}"})


@router.get("/entities")
@router.get("/entities/", include_in_schema=False)
def entity_query(session: DbSession, actor: OptionalActor, request: Request,
                 type: str | None = Query(None, max_length=2000), id: str | None = Query(None, max_length=20000),
                 idPattern: str | None = Query(None, max_length=500), attrs: str | None = Query(None, max_length=2000),
                 pick: str | None = Query(None, max_length=2000), omit: str | None = Query(None, max_length=2000),
                 q: str | None = Query(None, max_length=2000), georel: str | None = Query(None, max_length=200),
                 geometry: str | None = Query(None, max_length=40),
                 coordinates: str | None = Query(None, max_length=20000),
                 geoproperty: str | None = Query(None, max_length=256),
                 geometryProperty: str | None = Query(None, max_length=256), limit: int = Query(20),
                 offset: int = Query(0), count: bool = False, options: str | None = Query(None, max_length=200),
                 format: str | None = Query(None, max_length=30), lang: str | None = Query(None, max_length=35),
                 scopeQ: str | None = Query(None, max_length=2000),
                 datasetId: str | None = Query(None, max_length=2000)) -> Response:
    """Query entities: type expression, ids, idPattern, attrs, q, scopeQ, geo-query; count → NGSILD-Results-Count."""
    media = negotiate(request, geo=True)
    ctx = request_context(request)
    tenant = _tenant(session, request)
    attr_names = _names(attrs, "attrs")
    if {"id", "type"} & set(attr_names):  # ETSI TP 019_03_03
        raise bad("attrs names attributes: id and type are not attributes (pick selects them)", "attrs")
    query = context.Query(type=type, ids=params.ids(id), id_pattern=idPattern, attrs=attr_names, q=q,
                          scope_q=scopeQ, limit=limit, offset=offset, count=count)
    if georel or geometry or coordinates:
        query.geo = context.geo_query(georel or "", geometry, coordinates, geoproperty, ctx)
    if query.empty:
        raise bad("Name at least one of type, id, idPattern, attrs, q, scopeQ or a geo-query", "type")
    view = _view(ctx, options, format, attrs, pick, omit, lang)
    if datasetId is not None:
        view = dataclasses.replace(view, datasets=frozenset(params.dataset_ids(datasetId)))
    rows, total = context.entity_query(session, actor, query, ctx, tenant)
    headers = {"NGSILD-Results-Count": str(total)} if total is not None else None
    data = [_rendered(r, view) for r in rows]
    if media == GEO:
        features = [_feature(d, r, view, geometryProperty or geoproperty) for d, r in zip(data, rows, strict=True)]
        return answer({"type": "FeatureCollection", "features": features}, GEO, ctx, headers=headers)
    return answer(data, media, ctx, headers=headers)


@router.get("/entities/{entity_id}")
def entity_get(session: DbSession, actor: OptionalActor, request: Request, entity_id: str,
               attrs: str | None = Query(None, max_length=2000), pick: str | None = Query(None, max_length=2000),
               omit: str | None = Query(None, max_length=2000), options: str | None = Query(None, max_length=200),
               format: str | None = Query(None, max_length=30), lang: str | None = Query(None, max_length=35),
               geoproperty: str | None = Query(None, max_length=256),
               geometryProperty: str | None = Query(None, max_length=256)) -> Response:
    """Retrieve an entity (404 ResourceNotFound for an unknown id or one the caller may not see)."""
    media = negotiate(request, geo=True)
    ctx = request_context(request)
    row: Any = context.bridged_entity(session, actor, entity_id)  # a connect device or asset, read through
    if row is None:
        if "ngsild-tenant" not in request.headers:
            one_statement_read(session)  # the entity's row is the only statement
        row = context.entity_get(session, actor, entity_id, _tenant(session, request))
    view = _view(ctx, options, format, attrs, pick, omit, lang)
    data = _rendered(row, view)
    if not data:
        raise not_found(f"Nothing of {entity_id} is left after pick and omit")  # clause 4.21, ETSI TP 018_19
    if media == GEO:
        return answer(_feature(data, row, view, geometryProperty or geoproperty), GEO, ctx)
    return answer(data, media, ctx)


@router.delete("/entities/{entity_id}", status_code=204)
def entity_delete(session: DbSession, actor: OptionalActor, request: Request, entity_id: str) -> Response:
    """Delete an entity."""
    context.entity_delete(session, actor, entity_id, _tenant(session, request))
    return no_content()


@router.put("/entities/{entity_id}", status_code=204)
def entity_replace(session: DbSession, actor: OptionalActor, request: Request, entity_id: str, body: Body
                   ) -> Response:
    """Replace an entity's attributes."""
    context.entity_replace(session, actor, entity_id, body.body, body.ctx, _tenant(session, request))
    return no_content()


@router.patch("/entities/{entity_id}", status_code=204)
def entity_merge(session: DbSession, actor: OptionalActor, request: Request, entity_id: str, body: PatchBody
                 ) -> Response:
    """Merge-patch an entity (`urn:ngsi-ld:null` deletes an attribute)."""
    context.entity_merge(session, actor, entity_id, body.body, body.ctx, _tenant(session, request))
    return no_content()


def _partial(updated: list[str], not_updated: list[dict[str, str]]) -> Response:
    if not_updated:
        return multi_status({"updated": updated, "notUpdated": not_updated})
    return no_content()


@router.post("/entities/{entity_id}/attrs", status_code=204)
@router.post("/entities/{entity_id}/attrs/", status_code=204, include_in_schema=False)
def attrs_append(session: DbSession, actor: OptionalActor, request: Request, entity_id: str, body: Body,
                 options: str | None = Query(None, max_length=200)) -> Response:
    """Append attributes (existing ones replaced unless options=noOverwrite: then 207 lists them)."""
    updated, not_updated = context.attrs_append(session, actor, entity_id, body.body, body.ctx,
                                                _tenant(session, request),
                                                overwrite="noOverwrite" not in _options(options))
    return _partial(updated, not_updated)


@router.patch("/entities/{entity_id}/attrs", status_code=204)
@router.patch("/entities/{entity_id}/attrs/", status_code=204, include_in_schema=False)
def attrs_update(session: DbSession, actor: OptionalActor, request: Request, entity_id: str, body: PatchBody
                 ) -> Response:
    """Update existing attributes (207 lists those that do not exist)."""
    updated, not_updated = context.attrs_update(session, actor, entity_id, body.body, body.ctx,
                                                _tenant(session, request))
    return _partial(updated, not_updated)


@router.patch("/entities/{entity_id}/attrs/{attr}", status_code=204)
def attr_patch(session: DbSession, actor: OptionalActor, request: Request, entity_id: str, attr: str,
               body: PatchBody) -> Response:
    """Partial attribute update."""
    context.attr_patch(session, actor, entity_id, attr, body.body, body.ctx, _tenant(session, request))
    return no_content()


@router.put("/entities/{entity_id}/attrs/{attr}", status_code=204)
def attr_replace(session: DbSession, actor: OptionalActor, request: Request, entity_id: str, attr: str,
                 body: Body) -> Response:
    """Replace an attribute."""
    context.attr_replace(session, actor, entity_id, attr, body.body, body.ctx, _tenant(session, request))
    return no_content()


@router.delete("/entities/{entity_id}/attrs/{attr}", status_code=204)
def attr_delete(session: DbSession, actor: OptionalActor, request: Request, entity_id: str, attr: str,
                datasetId: str | None = Query(None, max_length=512), deleteAll: bool = False) -> Response:
    """Delete an attribute (its default instance, the instance `datasetId` names, or all with deleteAll)."""
    context.attr_delete(session, actor, entity_id, attr, request_context(request), _tenant(session, request),
                        dataset_id=datasetId, delete_all=deleteAll)
    return no_content()


# ---- batch operations


def _batch_answer(result: context.BatchResult, created_status: bool) -> Response:
    if result.errors:
        return multi_status({"success": result.success, "errors": result.errors})
    if created_status and result.created:
        return answer(result.created, JSON, core_context(), status=201)  # ids only: no terms to compact
    return no_content()


@router.post("/entityOperations/create")
def batch_create(session: DbSession, actor: OptionalActor, request: Request, body: Body) -> Response:
    """Create entities: 201 with their ids, or 207 with per-entity errors."""
    result = context.batch_create(session, actor, body.body, body.ctx, _tenant(session, request), ld=body.ld)
    return _batch_answer(result, True)


@router.post("/entityOperations/upsert")
def batch_upsert(session: DbSession, actor: OptionalActor, request: Request, body: Body,
                 options: str | None = Query(None, max_length=200)) -> Response:
    """Create or replace (options=replace, the default) / update (options=update) entities: 201, 204 or 207."""
    opts = _options(options)
    if "replace" in opts and "update" in opts:
        raise bad("options=replace and options=update exclude each other", "options")
    result = context.batch_upsert(session, actor, body.body, body.ctx, _tenant(session, request),
                                  replace="update" not in opts, ld=body.ld)
    return _batch_answer(result, True)


@router.post("/entityOperations/update")
def batch_update(session: DbSession, actor: OptionalActor, request: Request, body: Body,
                 options: str | None = Query(None, max_length=200)) -> Response:
    """Append attributes to existing entities (options=noOverwrite keeps existing ones): 204 or 207."""
    result = context.batch_update(session, actor, body.body, body.ctx, _tenant(session, request),
                                  overwrite="noOverwrite" not in _options(options), ld=body.ld)
    return _batch_answer(result, False)


@router.post("/entityOperations/merge")
def batch_merge(session: DbSession, actor: OptionalActor, request: Request, body: Body) -> Response:
    """Merge-patch existing entities (urn:ngsi-ld:null deletes an attribute): 204 or 207."""
    result = context.batch_merge(session, actor, body.body, body.ctx, _tenant(session, request), ld=body.ld)
    return _batch_answer(result, False)


@router.post("/entityOperations/query")
def batch_query(session: DbSession, actor: OptionalActor, request: Request, body: Body, limit: int = Query(20),
                offset: int = Query(0), count: bool = False, options: str | None = Query(None, max_length=200),
                format: str | None = Query(None, max_length=30), lang: str | None = Query(None, max_length=35),
                ) -> Response:
    """Query entities with a Query body (entities, attrs, q, geoQ, scopeQ): the answer of GET /entities."""
    media = negotiate(request)
    ctx = body.ctx
    query, attrs = params.query_body(body.body, ctx, limit, offset, count)
    if query.empty:
        raise bad("Name at least one of entities, attrs, q, geoQ or scopeQ", "entities")
    view = _view(ctx, options, format, ",".join(attrs) if attrs else None, None, None,
                 params.lang_of(body.body, lang))
    rows, total = context.entity_query(session, actor, query, ctx, _tenant(session, request))
    headers = {"NGSILD-Results-Count": str(total)} if total is not None else None
    return answer([_rendered(r, view) for r in rows], media, ctx, headers=headers)



@router.post("/entityOperations/delete")
def batch_delete(session: DbSession, actor: OptionalActor, request: Request, body: Body) -> Response:
    """Delete entities by id: 204 or 207."""
    result = context.batch_delete(session, actor, body.body, _tenant(session, request))
    return _batch_answer(result, False)


# ---- types and attributes


def _list_id(kind: str) -> str:
    return f"urn:ngsi-ld:{kind}:{uuid.uuid4()}"


@router.get("/types")
@router.get("/types/", include_in_schema=False)
def types(session: DbSession, actor: OptionalActor, request: Request, details: bool = False) -> Response:
    """Entity types of the visible entities (EntityTypeList; with details=true, EntityType objects)."""
    media = negotiate(request)
    ctx = request_context(request)
    tenant = _tenant(session, request)
    if not details:
        names = [ctx.compact(t) for t in context.type_counts(session, actor, tenant)]
        return answer({"id": _list_id("EntityTypeList"), "type": "EntityTypeList", "typeList": names}, media, ctx)
    out = [{"id": t, "type": "EntityType", "typeName": ctx.compact(t),
            "attributeNames": [ctx.compact(a) for a in sorted(info["attrs"])]}
           for t, info in context.type_details(session, actor, tenant).items()]
    return answer(out, media, ctx)


@router.get("/types/{type_name}")
def type_info(session: DbSession, actor: OptionalActor, request: Request, type_name: str) -> Response:
    """One type: entity count and its attributes with their attribute types (EntityTypeInfo)."""
    media = negotiate(request)
    ctx = request_context(request)
    iri = ctx.expand(ent.check_name(type_name, "type"))
    info = context.type_details(session, actor, _tenant(session, request)).get(iri)
    if info is None:
        raise not_found(f"No entity of type {type_name}")
    details = [{"id": a, "type": "Attribute", "attributeName": ctx.compact(a), "attributeTypes": sorted(k)}
               for a, k in sorted(info["attrs"].items())]
    return answer({"id": iri, "type": "EntityTypeInfo", "typeName": ctx.compact(iri),
                   "entityCount": info["count"], "attributeDetails": details}, media, ctx)


def _attribute(iri: str, info: dict[str, Any], ctx: LdContext) -> dict[str, Any]:
    return {"id": iri, "type": "Attribute", "attributeName": ctx.compact(iri), "attributeCount": info["count"],
            "attributeTypes": info["types"], "typeNames": [ctx.compact(t) for t in info["typeNames"]]}


@router.get("/attributes")
@router.get("/attributes/", include_in_schema=False)
def attributes(session: DbSession, actor: OptionalActor, request: Request, details: bool = False) -> Response:
    """Attributes of the visible entities (AttributeList; with details=true, Attribute objects)."""
    media = negotiate(request)
    ctx = request_context(request)
    found = context.attribute_details(session, actor, _tenant(session, request))
    if details:
        return answer([_attribute(i, info, ctx) for i, info in found.items()], media, ctx)
    return answer({"id": _list_id("AttributeList"), "type": "AttributeList",
                   "attributeList": [ctx.compact(i) for i in found]}, media, ctx)


@router.get("/attributes/{attr}")
def attribute_info(session: DbSession, actor: OptionalActor, request: Request, attr: str) -> Response:
    """One attribute: how many entities have it, its attribute types, the entity types using it."""
    media = negotiate(request)
    ctx = request_context(request)
    iri = ctx.expand(ent.check_name(attr))
    info = context.attribute_details(session, actor, _tenant(session, request)).get(iri)
    if info is None:
        raise not_found(f"No entity has attribute {attr}")
    return answer(_attribute(iri, info, ctx), media, ctx)



# ---- subscriptions


@router.post("/subscriptions", status_code=201)
@router.post("/subscriptions/", status_code=201, include_in_schema=False)
def subscription_create(session: DbSession, actor: OptionalActor, request: Request, body: Body) -> Response:
    """Create a subscription: 201 with its Location; 409 AlreadyExists; 400 naming what is wrong."""
    row = context.subscription_create(session, actor, body.body, body.ctx, _tenant(session, request))
    return Response(status_code=201, headers={"Location": f"{BASE}/subscriptions/{quote(row.sub_id, safe=':')}"})


@router.get("/subscriptions")
@router.get("/subscriptions/", include_in_schema=False)
def subscription_list(session: DbSession, actor: OptionalActor, request: Request, limit: int = Query(20),
                      offset: int = Query(0), count: bool = False,
                      options: str | None = Query(None, max_length=200)) -> Response:
    """The subscriptions of the caller's units (every unit's for those who read all)."""
    media = negotiate(request)
    rows, total = context.subscription_list(session, actor, _tenant(session, request), limit, offset)
    sys_attrs = "sysAttrs" in _options(options)
    headers = {"NGSILD-Results-Count": str(total)} if count else {}
    headers.update(page_links(f"{BASE}/subscriptions", limit, offset, total, media))
    return answer([context.subscription_render(r, sys_attrs) for r in rows], media, request_context(request),
                  headers=headers)


@router.get("/subscriptions/{sub_id}")
def subscription_get(session: DbSession, actor: OptionalActor, request: Request, sub_id: str,
                     options: str | None = Query(None, max_length=200)) -> Response:
    """One subscription with its status (timesSent, lastNotification, lastSuccess, lastFailure)."""
    media = negotiate(request)
    row = context.subscription_get(session, actor, sub_id, _tenant(session, request))
    return answer(context.subscription_render(row, "sysAttrs" in _options(options)), media,
                  request_context(request))


@router.patch("/subscriptions/{sub_id}", status_code=204)
def subscription_update(session: DbSession, actor: OptionalActor, request: Request, sub_id: str,
                        body: PatchBody) -> Response:
    """Change members of a subscription (null removes one); the whole is checked again."""
    context.subscription_update(session, actor, sub_id, body.body, body.ctx, _tenant(session, request))
    return no_content()


@router.delete("/subscriptions/{sub_id}", status_code=204)
def subscription_delete(session: DbSession, actor: OptionalActor, request: Request, sub_id: str) -> Response:
    """Delete a subscription."""
    context.subscription_delete(session, actor, sub_id, _tenant(session, request))
    return no_content()


# ---- cityhub's own API: read grants


@grants.get("/grants", response_model=list[schemas.Grant])
def grant_list(session: DbSession, actor: CurrentActor) -> list[schemas.Grant]:
    """Grants of the caller's units and to them."""
    return [schemas.Grant.model_validate(g) for g in context.grant_list(session, actor)]


@grants.post("/grants", response_model=schemas.Grant, status_code=201)
def grant_create(session: DbSession, actor: CurrentActor, body: schemas.GrantCreate) -> schemas.Grant:
    """Let another unit (grantee_org_id) or everyone (null) read the owner's entities, of one type or all."""
    return schemas.Grant.model_validate(context.grant_create(session, actor, body))


@grants.delete("/grants/{grant_id}", status_code=204)
def grant_delete(session: DbSession, actor: CurrentActor, grant_id: uuid.UUID) -> Response:
    """Withdraw a grant."""
    context.grant_delete(session, actor, grant_id)
    return Response(status_code=204)


__all__ = ["JSON", "LD", "extra_routers", "router"]
