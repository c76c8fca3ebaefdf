"""The NGSI-LD temporal API under /ngsi-ld/v1/temporal (clauses 6.18–6.24), mounted with `api.py`'s router.

Reads: one entity's history, a query's (GET with parameters, or `POST /temporal/entityOperations/query` with a
Query body: both build the same `Query` and `TemporalQuery` and answer through one function). Writes: temporal
entities and instances of the past, and the attribute instance operations (PATCH / DELETE one instance by its
`instanceId`, DELETE an attribute's history) — on the broker's own history only, never on connect's telemetry.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from cityhub.context import params
from cityhub.context import service as context
from cityhub.context.deps import Incoming, NgsiRoute, answer, negotiate, no_content, read_body, request_context
from cityhub.context.jsonld import LdContext
from cityhub.context.problems import bad, not_found
from cityhub.core.deps import OptionalActor
from cityhub.kit.web import DbSession

router = APIRouter(prefix="/ngsi-ld/v1", tags=["NGSI-LD"], route_class=NgsiRoute)
T = "/ngsi-ld/v1/temporal/entities"


async def _body(request: Request) -> Incoming:
    return await read_body(request)


async def _patch_body(request: Request) -> Incoming:
    return await read_body(request, patch=True)


Body = Annotated[Incoming, Depends(_body)]
PatchBody = Annotated[Incoming, Depends(_patch_body)]


def _aggregated(options: str | None, fmt: str | None) -> bool:
    return "aggregatedValues" in params.options(options) or fmt == "aggregatedValues"


def _temporal(timerel: str | None, timeAt: str | None, endTimeAt: str | None, timeproperty: str | None,
              lastN: int | None, attrs: list[str], request: Request, options: str | None, fmt: str | None
              ) -> context.TemporalQuery:
    tq = context.TemporalQuery(timerel=timerel, time_at=timeAt, end_time_at=endTimeAt,
                               timeproperty=timeproperty or "observedAt", last_n=lastN, attrs=attrs)
    if _aggregated(options, fmt):
        tq.aggr_methods = context.aggr_methods(request.query_params.get("aggrMethods"))
        tq.aggr_period = context.aggr_period(request.query_params.get("aggrPeriodDuration"))
    return tq


def _answer_query(session: Any, actor: Any, request: Request, query: context.Query, tq: context.TemporalQuery,
                  ctx: LdContext, options: str | None, fmt: str | None, lang: str | None) -> Response:
    """The temporal representations of the entities `query` selects: GET /temporal/entities and the POST query."""
    media = negotiate(request)
    rows, total = context.entity_query(session, actor, query, ctx, params.tenant(session, request))
    view = params.view(ctx, options, None, None, None, None, lang)
    values = "temporalValues" in params.options(options) or fmt == "temporalValues"
    headers = {"NGSILD-Results-Count": str(total)} if total is not None else {}
    data, content_range = context.temporal_query_page(session, actor, rows, tq, view, values)
    if content_range is None:
        return answer(data, media, ctx, headers=headers)
    # the instance cap cut the entities' history: 206 with the time range it covers (clause 6.3.10)
    return answer(data, media, ctx, status=206, headers={**headers, "Content-Range": content_range})


@router.get("/temporal/entities/{entity_id}")
def temporal_get(session: DbSession, actor: OptionalActor, request: Request, entity_id: str,
                 timerel: str | None = Query(None, max_length=20), timeAt: str | None = Query(None, max_length=40),
                 endTimeAt: str | None = Query(None, max_length=40),
                 timeproperty: str | None = Query(None, max_length=20), lastN: int | None = Query(None),
                 attrs: str | None = Query(None, max_length=2000), options: str | None = Query(None, max_length=200),
                 format: str | None = Query(None, max_length=30), lang: str | None = Query(None, max_length=35),
                 ) -> Response:
    """An entity's attribute history (timerel before|after|between, lastN, options=temporalValues)."""
    media = negotiate(request)
    ctx = request_context(request)
    tq = _temporal(timerel, timeAt, endTimeAt, timeproperty, lastN, params.names(attrs, "attrs"), request, options,
                   format)
    view = params.view(ctx, options, None, None, None, None, lang)
    values = "temporalValues" in params.options(options) or format == "temporalValues"
    tenant = params.tenant(session, request)
    data, content_range = context.temporal_entity_page(session, actor, entity_id, tenant, tq, view, values)
    if tq.attrs and not _attributes(data):
        _has_any(session, actor, entity_id, tenant, tq, ctx, attrs)
    if content_range is None:
        return answer(data, media, ctx)
    # the instance cap cut the answer: 206 with the time range it covers (clause 6.3.10)
    return answer(data, media, ctx, status=206, headers={"Content-Range": content_range})


_ENTITY_MEMBERS = frozenset({"id", "type", "@context", "scope", "createdAt", "modifiedAt", "deletedAt"})


def _attributes(data: Any) -> bool:
    """Whether a temporal representation holds any attribute."""
    return isinstance(data, dict) and any(key not in _ENTITY_MEMBERS for key in data)


def _has_any(session: Any, actor: Any, entity_id: str, tenant: Any, tq: context.TemporalQuery, ctx: LdContext,
             attrs: str | None) -> None:
    """404 when the entity has none of the attributes named, in its history or its current state.

    Called when the window holds no instance of them; an entity that has them keeps its answer, its id and type
    (clause 5.7.3, ETSI TP 020_08).
    """
    ever = context.TemporalQuery(timeproperty=tq.timeproperty, last_n=1, attrs=tq.attrs)
    plain = params.view(ctx, None, None, None, None, None, None)
    if _attributes(context.temporal_entity_page(session, actor, entity_id, tenant, ever, plain, False)[0]):
        return
    row: Any = context.bridged_entity(session, actor, entity_id)
    if row is None:
        row = context.entity_get(session, actor, entity_id, tenant)
    if not _attributes(params.rendered(row, params.view(ctx, None, None, attrs, None, None, None))):
        raise not_found(f"{entity_id} has none of the attributes named in attrs")


@router.get("/temporal/entities")
@router.get("/temporal/entities/", include_in_schema=False)
def temporal_query(session: DbSession, actor: OptionalActor, request: Request,
                   type: str | None = Query(None, max_length=2000), id: str | None = Query(None, max_length=20000),
                   idPattern: str | None = Query(None, max_length=500), q: str | None = Query(None, max_length=2000),
                   scopeQ: str | None = Query(None, max_length=2000),
                   georel: str | None = Query(None, max_length=200), geometry: str | None = Query(None, max_length=40),
                   coordinates: str | None = Query(None, max_length=20000),
                   geoproperty: str | None = Query(None, max_length=256),
                   timerel: str | None = Query(None, max_length=20), timeAt: str | None = Query(None, max_length=40),
                   endTimeAt: str | None = Query(None, max_length=40),
                   timeproperty: str | None = Query(None, max_length=20), lastN: int | None = Query(None),
                   attrs: str | None = Query(None, max_length=2000), limit: int = Query(20), offset: int = Query(0),
                   count: bool = False, options: str | None = Query(None, max_length=200),
                   format: str | None = Query(None, max_length=30), lang: str | None = Query(None, max_length=35),
                   ) -> Response:
    """The attribute history of the entities a query selects (type, id, idPattern, q, scopeQ, geo-query, attrs)."""
    ctx = request_context(request)
    names = params.names(attrs, "attrs")
    tq = _temporal(timerel, timeAt, endTimeAt, timeproperty, lastN, names, request, options, format)
    query = context.Query(type=type, ids=params.ids(id), id_pattern=idPattern, attrs=names, q=q, scope_q=scopeQ,
                          limit=limit, offset=offset, count=count)
    if georel or geometry or coordinates:
        query.geo = context.geo_query(georel or "", geometry, coordinates, geoproperty, ctx)
    if query.empty:
        raise bad("Name at least one of type, id, idPattern, attrs, q, scopeQ or a geo-query", "type")
    return _answer_query(session, actor, request, query, tq, ctx, options, format, lang)


def _body_temporal(raw: Any, attrs: list[str], request: Request, options: str | None, fmt: str | None
                   ) -> context.TemporalQuery:
    """A Query body's `temporalQ` (timerel, timeAt, endTimeAt, timeproperty, lastN) as a TemporalQuery."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise bad("temporalQ must be an object", "temporalQ")
    texts = {}
    for key in ("timerel", "timeAt", "endTimeAt", "timeproperty"):
        value = raw.get(key)
        if value is not None and (not isinstance(value, str) or len(value) > 64):
            raise bad(f"temporalQ.{key} is a string", key)
        texts[key] = value
    last_n = raw.get("lastN")
    if last_n is not None and (not isinstance(last_n, int) or isinstance(last_n, bool)):
        raise bad("temporalQ.lastN is a positive integer", "lastN")
    return _temporal(texts["timerel"], texts["timeAt"], texts["endTimeAt"], texts["timeproperty"], last_n, attrs,
                     request, options, fmt)


@router.post("/temporal/entityOperations/query")
def temporal_batch_query(session: DbSession, actor: OptionalActor, request: Request, body: Body,
                         limit: int = Query(20), offset: int = Query(0), count: bool = False,
                         options: str | None = Query(None, max_length=200),
                         format: str | None = Query(None, max_length=30),
                         lang: str | None = Query(None, max_length=35)) -> Response:
    """Query temporal entities with a Query body: the answer of GET /temporal/entities with its parameters.

    The body's entities, attrs, q, geoQ, scopeQ, temporalQ and lang are that GET's parameters.
    """
    ctx = body.ctx
    query, attrs = params.query_body(body.body, ctx, limit, offset, count)
    tq = _body_temporal(body.body.get("temporalQ"), attrs, request, options, format)
    if query.empty:
        raise bad("Name at least one of entities, attrs, q, geoQ or scopeQ", "entities")
    return _answer_query(session, actor, request, query, tq, ctx, options, format, params.lang_of(body.body, lang))


@router.post("/temporal/entities", status_code=201)
@router.post("/temporal/entities/", status_code=201, include_in_schema=False)
def temporal_create(session: DbSession, actor: OptionalActor, request: Request, body: Body) -> Response:
    """Create a temporal entity (201; the newest instances are its current state) or add instances to it (204)."""
    created = context.temporal_upsert(session, actor, body.body, body.ctx, params.tenant(session, request))
    if created:
        return Response(status_code=201, headers={"Location": f"{T}/{quote(str(body.body['id']), safe=':')}"})
    return no_content()


@router.post("/temporal/entities/{entity_id}/attrs", status_code=204)
def temporal_attrs(session: DbSession, actor: OptionalActor, request: Request, entity_id: str,
                   body: Body) -> Response:
    """Add attribute instances to an entity's history."""
    context.temporal_attrs_append(session, actor, entity_id, body.body, body.ctx, params.tenant(session, request))
    return no_content()


@router.delete("/temporal/entities/{entity_id}", status_code=204)
def temporal_delete(session: DbSession, actor: OptionalActor, request: Request, entity_id: str) -> Response:
    """Delete the entity and its history."""
    context.entity_delete(session, actor, entity_id, params.tenant(session, request))
    return no_content()


@router.delete("/temporal/entities/{entity_id}/attrs/{attr}", status_code=204)
def temporal_attr_delete(session: DbSession, actor: OptionalActor, request: Request, entity_id: str, attr: str,
                         datasetId: str | None = Query(None, max_length=512), deleteAll: bool = False) -> Response:
    """Delete an attribute's history: its default instances, those of `datasetId`, or all with deleteAll=true."""
    context.temporal_attr_delete(session, actor, entity_id, attr, request_context(request),
                                 params.tenant(session, request), dataset_id=datasetId, delete_all=deleteAll)
    return no_content()


@router.patch("/temporal/entities/{entity_id}/attrs/{attr}/{instance_id}", status_code=204)
def temporal_instance_patch(session: DbSession, actor: OptionalActor, request: Request, entity_id: str, attr: str,
                            instance_id: str, body: PatchBody) -> Response:
    """Change one instance of an attribute's history (the members given replace the instance's)."""
    context.instance_patch(session, actor, entity_id, attr, instance_id, body.body, body.ctx,
                           params.tenant(session, request))
    return no_content()


@router.delete("/temporal/entities/{entity_id}/attrs/{attr}/{instance_id}", status_code=204)
def temporal_instance_delete(session: DbSession, actor: OptionalActor, request: Request, entity_id: str, attr: str,
                             instance_id: str) -> Response:
    """Delete one instance of an attribute's history."""
    context.instance_delete(session, actor, entity_id, attr, instance_id, request_context(request),
                            params.tenant(session, request))
    return no_content()
