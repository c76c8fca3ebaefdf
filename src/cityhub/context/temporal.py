"""The temporal API (clause 5.6.x / 6.18–6.22): the history of entities' attributes, written and read.

History is written by the store itself: every write appends the instances of the attributes it touched to
`context_attribute_instance` (`record`, called in the writing transaction next to the subscriptions' matching), so
there is one write path and the history cannot disagree with the entity. `POST /temporal/entities` and
`/temporal/entities/{id}/attrs` add instances of the past: the entity is created from the newest instance of each
attribute when it does not exist, and the older instances go to the history only.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from cityhub.context import aggregate, aggrsql, bridge, store, timeline
from cityhub.context import entities as ent
from cityhub.context.jsonld import LdContext
from cityhub.context.models import NO_DATASET, ContextAttributeInstance, ContextEntity
from cityhub.context.problems import bad
from cityhub.context.rows import insert_rows
from cityhub.context.subscriptions import Changed
from cityhub.core import service as core
from cityhub.core.actor import Actor
from cityhub.kit import clock

I = ContextAttributeInstance  # noqa: E741  # the table's one-letter alias, as E is the entity's
MAX_INSTANCES = 10_000  # per request; lastN narrows further
AGGR_MAX_INSTANCES = 200_000  # read for one aggregated answer
# the simplified temporal representation's member per attribute type (clause 4.5.9)
TEMPORAL_MEMBER = {"Property": "values", "GeoProperty": "values", "Relationship": "objects",
                   "LanguageProperty": "languageMaps", "VocabProperty": "vocabs", "JsonProperty": "jsons",
                   "ListProperty": "valueLists", "ListRelationship": "objectLists"}


def history_row(pk: uuid.UUID, iri: str, ds: str, modified: str, inst: dict[str, Any]) -> dict[str, Any]:
    """One history row: the instance, its times, and `at_ms` / `number` for aggregation in SQL."""
    at = inst.get("observedAt") or modified
    value = inst.get("value")
    number = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
    return {"entity_pk": pk, "attr": iri, "dataset_id": ds, "at": at, "modified_at": modified, "instance": inst,
            "at_ms": aggrsql.text_ms(at), "number": number}


def record(session: Session, changes: list[Changed]) -> None:
    """Append the touched attributes' instances, as the write left them, to the history (one executemany)."""
    rows = []
    for c in changes:
        for iri in (c.attrs if c.touched is None else c.touched):
            for ds, inst in c.attrs.get(iri, {}).items():
                rows.append(history_row(c.pk, iri, ds, inst.get("modifiedAt") or ent.time_text(c.modified_at),
                                        inst))
    insert_rows(session, I, rows)


@dataclass
class TemporalQuery:
    """timerel / timeAt / endTimeAt / timeproperty / lastN / attrs, as the API parsed them."""

    timerel: str | None = None
    time_at: str | None = None
    end_time_at: str | None = None
    timeproperty: str = "observedAt"
    last_n: int | None = None
    attrs: list[str] = field(default_factory=list)
    aggr_methods: list[str] | None = None  # options=aggregatedValues (aggregate.methods checked them)
    aggr_period: Any = None  # aggrPeriodDuration (aggregate.period); None: the whole window

    @property
    def cap(self) -> int:
        """At most this many instances are read (an aggregation reads the window whole)."""
        return AGGR_MAX_INSTANCES if self.aggr_methods is not None else MAX_INSTANCES

    def clauses(self) -> list[ColumnElement[bool]]:
        """The SQL of the time window (times compare as fixed-width strings)."""
        if self.timeproperty not in ("observedAt", "modifiedAt", "createdAt"):
            raise bad("timeproperty is observedAt, modifiedAt or createdAt", "timeproperty")
        col = I.at if self.timeproperty == "observedAt" else I.modified_at
        if self.timerel is None:
            if self.time_at is not None or self.end_time_at is not None:
                raise bad("timeAt needs timerel", "timerel")
            return []
        if self.time_at is None:
            raise bad("timerel needs timeAt", "timeAt")
        at = ent.parse_time(self.time_at, "timeAt")
        if self.timerel == "before":
            return [col < at]
        if self.timerel == "after":
            return [col > at]
        if self.timerel == "between":
            if self.end_time_at is None:
                raise bad("timerel=between needs endTimeAt", "endTimeAt")
            end = ent.parse_time(self.end_time_at, "endTimeAt")
            if end <= at:
                raise bad("endTimeAt must be after timeAt", "endTimeAt")
            return [col >= at, col < end]
        raise bad("timerel is before, after or between", "timerel")


def _check_last_n(tq: TemporalQuery) -> None:
    if tq.last_n is not None and not 1 <= tq.last_n <= 2**31 - 1:  # past a 32-bit integer no database compares it
        raise bad("lastN must be a positive number (at most 2147483647)", "lastN")


def _attr_clauses(tq: TemporalQuery, ctx: LdContext) -> list[ColumnElement[bool]]:
    clauses = tq.clauses()
    if tq.attrs:
        clauses.append(I.attr.in_([ctx.expand(ent.check_name(a, "attrs")) for a in tq.attrs]))
    return clauses


def _history(session: Session, pks: list[uuid.UUID], tq: TemporalQuery, ctx: LdContext
             ) -> dict[uuid.UUID, dict[str, list[dict[str, Any]]]]:
    """Entities' history for the Python aggregation: each attribute oldest first (its last N with lastN)."""
    _check_last_n(tq)
    col = I.at if tq.timeproperty == "observedAt" else I.modified_at
    items = timeline.stored(session, pks, _attr_clauses(tq, ctx), col, tq.last_n, tq.cap)[:tq.cap]
    out: dict[uuid.UUID, dict[str, list[dict[str, Any]]]] = {}
    for it in reversed(items) if tq.last_n is not None else items:
        out.setdefault(cast(uuid.UUID, it.owner), {}).setdefault(it.attr, []).append(it.inst)
    return out


def _paged(session: Session, stored: list[uuid.UUID], devices: list[bridge.BridgedEntity], tq: TemporalQuery,
           ctx: LdContext) -> tuple[timeline.History, str | None]:
    """One page of the entities' history and devices' telemetry (`timeline`), and its Content-Range when cut.

    Without lastN: in time order across every entity and attribute, `date-time <first>-<last>/*`; with lastN
    (each attribute's last N): newest first across them, `date-time <newest>-<oldest>/<lastN>` (clause 6.3.10).
    """
    _check_last_n(tq)
    col = I.at if tq.timeproperty == "observedAt" else I.modified_at
    sources = [timeline.stored(session, stored, _attr_clauses(tq, ctx), col, tq.last_n, tq.cap)]
    if devices:
        if tq.timeproperty != "observedAt":
            raise bad("timeproperty must be observedAt for connect's devices (telemetry has one time)", "timeproperty")
        start, end = window(tq)
        keys = [ctx.compact(ctx.expand(ent.check_name(a, "attrs"))) for a in tq.attrs] or None
        sources.append(timeline.telemetry(session, devices, start=start, end=end, keys=keys, last_n=tq.last_n,
                                          cap=tq.cap))
    return timeline.page(sources, tq.cap, tq.last_n, start=_range_start(tq))


def _range_start(tq: TemporalQuery) -> str | None:
    """Where a cut answer's Content-Range starts when the query bounds it there (clause 6.3.10; ETSI TP 020_13).

    Forwards (no lastN) from `timeAt` of after / between; backwards (lastN) from `timeAt` of before and
    `endTimeAt` of between. Otherwise (None) the first instance returned, as `timeline.page` says.
    """
    if tq.timerel is None or tq.time_at is None:
        return None
    if tq.last_n is None:
        return ent.parse_time(tq.time_at, "timeAt") if tq.timerel in ("after", "between") else None
    if tq.timerel == "before":
        return ent.parse_time(tq.time_at, "timeAt")
    if tq.timerel == "between" and tq.end_time_at is not None:
        return ent.parse_time(tq.end_time_at, "endTimeAt")
    return None


def _aggregated(session: Session, pks: list[uuid.UUID], tq: TemporalQuery, ctx: LdContext
                ) -> dict[uuid.UUID, dict[str, dict[str, Any]]] | None:
    """The aggregation computed by the database (`aggrsql`), or None when only the Python path can."""
    if tq.aggr_methods is None or not aggrsql.supported(tq.aggr_period, tq.last_n):
        return None
    attrs = [ctx.expand(ent.check_name(a, "attrs")) for a in tq.attrs]
    col = I.at if tq.timeproperty == "observedAt" else I.modified_at
    return aggrsql.aggregated(session, pks, attrs, tq.clauses(), col, tq.aggr_methods, tq.aggr_period,
                              *_bounds(tq))


def _render_aggregated(row: ContextEntity, aggs: dict[str, dict[str, Any]], view: ent.View) -> dict[str, Any]:
    out = ent.render(row.entity_id, row.types, {}, row.created_at, row.modified_at, view,
                     scope=getattr(row, "scope", None))
    for iri, rep in aggs.items():
        out[view.ctx.compact(iri)] = rep
    return out


def _render(row: ContextEntity | bridge.BridgedEntity, history: dict[str, list[dict[str, Any]]], view: ent.View,
            temporal_values: bool, tq: TemporalQuery) -> dict[str, Any]:
    out = ent.render(row.entity_id, row.types, {}, row.created_at, row.modified_at, view,
                     scope=getattr(row, "scope", None))
    timeproperty = tq.timeproperty
    bounds = _bounds(tq) if tq.aggr_methods is not None else (None, None)
    for iri, series in history.items():
        name = view.ctx.compact(iri)
        if tq.aggr_methods is not None:
            out[name] = aggregate.aggregate(series, tq.aggr_methods, tq.aggr_period,
                                            "observedAt" if timeproperty == "observedAt" else "modifiedAt", *bounds)
        elif temporal_values:
            kind = series[0].get("type", "Property")
            key = ent.VALUE_KEY.get(kind, "value")
            time_key = "observedAt" if timeproperty == "observedAt" else "modifiedAt"
            out[name] = {"type": kind, TEMPORAL_MEMBER.get(kind, "values"): [
                [i.get(key), i.get(time_key) or i.get("modifiedAt")] for i in series]}
        else:
            out[name] = [ent.render_instance(i, view) for i in series]
    return out


def window(tq: TemporalQuery) -> tuple[datetime, datetime]:
    """The time window of timerel / timeAt / endTimeAt as [start, end) instants (for connect's telemetry)."""
    tq.clauses()  # the same checks, the same errors
    if tq.timerel is None or tq.time_at is None:
        return datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)
    at = _instant(ent.parse_time(tq.time_at, "timeAt"))
    if tq.timerel == "before":
        return datetime.min.replace(tzinfo=UTC), at
    if tq.timerel == "after":  # strictly after the millisecond the answer shows (a point's observedAt)
        return at + timedelta(milliseconds=1), datetime.max.replace(tzinfo=UTC)
    return at, _instant(ent.parse_time(tq.end_time_at, "endTimeAt"))


def _bounds(tq: TemporalQuery) -> tuple[datetime | None, datetime | None]:
    """Where the aggregation periods start and the last one ends, when the query says (else the instances)."""
    if tq.timerel is None or tq.time_at is None:
        return None, None
    at = _instant(ent.parse_time(tq.time_at, "timeAt"))
    if tq.timerel == "before":
        return None, at
    if tq.timerel == "after":
        return at, None
    return at, _instant(ent.parse_time(tq.end_time_at, "endTimeAt"))


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _bridged(session: Session, found: bridge.BridgedEntity, tq: TemporalQuery, view: ent.View,
             temporal_values: bool) -> dict[str, Any]:
    """A connect device's aggregated temporal representation: its telemetry, read from connect's store."""
    _check_last_n(tq)
    if tq.timeproperty != "observedAt":
        raise bad("timeproperty must be observedAt for connect's devices (telemetry has one time)", "timeproperty")
    start, end = window(tq)
    keys = [view.ctx.compact(view.ctx.expand(ent.check_name(a, "attrs"))) for a in tq.attrs] or None
    series = bridge.history(session, found, start=start, end=end, keys=keys, last_n=tq.last_n, limit=tq.cap)
    return _render(found, series, view, temporal_values, tq)


def temporal_entity(session: Session, actor: Actor, entity_id: str, tenant: uuid.UUID | None, tq: TemporalQuery,
                    view: ent.View, temporal_values: bool) -> dict[str, Any]:
    """One entity's temporal representation (ResourceNotFound when the caller does not see it)."""
    return temporal_entity_page(session, actor, entity_id, tenant, tq, view, temporal_values)[0]


def temporal_entity_page(session: Session, actor: Actor, entity_id: str, tenant: uuid.UUID | None,
                         tq: TemporalQuery, view: ent.View, temporal_values: bool
                         ) -> tuple[dict[str, Any], str | None]:
    """One entity's temporal representation and, when the instance cap cut it, its `Content-Range` (a 206).

    A connect device answers from connect's telemetry, paged by the same rules as the broker's own history.
    """
    found = bridge.entity(session, actor, entity_id)
    if found is not None:
        if tq.aggr_methods is not None:
            return _bridged(session, found, tq, view, temporal_values), None
        paged, content_range = _paged(session, [], [found], tq, view.ctx)
        return _render(found, paged.get(found.entity_id, {}), view, temporal_values, tq), content_range
    row = store.entity_get(session, actor, entity_id, tenant)
    aggs = _aggregated(session, [row.id], tq, view.ctx)
    if aggs is not None:
        return _render_aggregated(row, aggs.get(row.id, {}), view), None
    if tq.aggr_methods is None:
        page, content_range = _paged(session, [row.id], [], tq, view.ctx)
        return _render(row, page.get(row.id, {}), view, temporal_values, tq), content_range
    history = _history(session, [row.id], tq, view.ctx).get(row.id, {})
    return _render(row, history, view, temporal_values, tq), None


def temporal_query(session: Session, actor: Actor, rows: list[ContextEntity | bridge.BridgedEntity],
                   tq: TemporalQuery, view: ent.View, temporal_values: bool) -> list[dict[str, Any]]:
    """The temporal representation of entities a query selected (connect's devices from connect's telemetry)."""
    return temporal_query_page(session, actor, rows, tq, view, temporal_values)[0]


def temporal_query_page(session: Session, actor: Actor, rows: list[ContextEntity | bridge.BridgedEntity],
                        tq: TemporalQuery, view: ent.View, temporal_values: bool
                        ) -> tuple[list[dict[str, Any]], str | None]:
    """The entities' temporal representations and, when the instance cap cut their history, its `Content-Range`.

    Without aggregation the stored entities' history and the devices' telemetry are one page (`_paged`): in time
    order across all of them, or newest first with lastN, as for one entity.
    """
    stored = [r.id for r in rows if isinstance(r, ContextEntity)]
    devices = [r for r in rows if isinstance(r, bridge.BridgedEntity)]
    if tq.aggr_methods is not None:
        aggs = _aggregated(session, stored, tq, view.ctx) if stored else None
        if aggs is not None:
            return [_bridged(session, r, tq, view, temporal_values) if isinstance(r, bridge.BridgedEntity)
                    else _render_aggregated(r, aggs.get(r.id, {}), view) for r in rows], None
        history = _history(session, stored, tq, view.ctx) if stored else {}
        return [_bridged(session, r, tq, view, temporal_values) if isinstance(r, bridge.BridgedEntity)
                else _render(r, history.get(r.id, {}), view, temporal_values, tq) for r in rows], None
    paged, content_range = _paged(session, stored, devices, tq, view.ctx)
    return [_render(r, paged.get(r.id if isinstance(r, ContextEntity) else r.entity_id, {}), view, temporal_values,
                    tq) for r in rows], content_range


def _instances(body: dict[str, Any], ctx: LdContext, now: str) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for name, raw in body.items():
        if name in ent.ENTITY_KEYS:
            continue
        ent.check_name(name)
        items = raw if isinstance(raw, list) else [raw]
        if not items:
            raise bad(f"{name} has no instances", name)
        out[ctx.expand(name)] = [ent.instance(i, name, ctx, now) for i in items]
    return out


def _append(session: Session, pk: uuid.UUID, instances: dict[str, list[dict[str, Any]]]) -> int:
    rows = [history_row(pk, iri, inst.get("datasetId", NO_DATASET), inst["modifiedAt"], inst)
            for iri, items in instances.items() for inst in items]
    insert_rows(session, I, rows)
    return len(rows)


def temporal_upsert(session: Session, actor: Actor, body: Any, ctx: LdContext, tenant: uuid.UUID | None
                    ) -> bool:
    """Create a temporal entity (True) or add instances to an existing one (False)."""
    if not isinstance(body, dict):
        raise bad("A temporal entity is a JSON object", "body")
    entity_id = ent.check_uri(body.get("id"), "id")
    now = ent.time_text(clock.now())
    instances = _instances(body, ctx, now)
    existing = store.entities_by_ids(session, [entity_id]).get(entity_id)
    if existing is not None:
        row = store.check_write(session, actor, entity_id, tenant)
        _audited_append(session, actor, row, instances)
        return False
    # the newest instance of each attribute and dataset is the entity's current state; the others are history
    latest: dict[str, dict[str, Any]] = {}
    older: dict[str, list[dict[str, Any]]] = {}
    for iri, items in instances.items():
        by_ds: dict[str, dict[str, Any]] = {}
        for inst in sorted(items, key=lambda i: i.get("observedAt") or ""):
            ds = inst.get("datasetId", NO_DATASET)
            if ds in by_ds:
                older.setdefault(iri, []).append(by_ds[ds])
            by_ds[ds] = inst
        latest[iri] = by_ds
    current = {k: v for k, v in body.items() if k in ent.ENTITY_KEYS}
    for iri, by_ds in latest.items():
        name = ctx.compact(iri)
        shown = [_raw(i, ctx) for i in by_ds.values()]
        current[name] = shown[0] if len(shown) == 1 else shown
    row = store.entity_create(session, actor, current, ctx, tenant)
    _append(session, row.id, older)
    return True


def _raw(inst: dict[str, Any], ctx: LdContext) -> dict[str, Any]:
    """A stored instance back in the input form (for creating the entity from it)."""
    out: dict[str, Any] = ent.render_instance(inst, ent.View(ctx))  # normalized: always an object
    return out


def temporal_attrs_append(session: Session, actor: Actor, entity_id: str, body: Any, ctx: LdContext,
                          tenant: uuid.UUID | None) -> int:
    """Add attribute instances to an entity's history; how many."""
    row = store.check_write(session, actor, entity_id, tenant)
    if not isinstance(body, dict):
        raise bad("The attributes must be a JSON object", "body")
    return _audited_append(session, actor, row, _instances({k: v for k, v in body.items() if k != "id"}, ctx,
                                                           ent.time_text(clock.now())))


def _audited_append(session: Session, actor: Actor, row: ContextEntity,
                    instances: dict[str, list[dict[str, Any]]]) -> int:
    """Append instances to an existing entity's history, with its audit row (the attributes and how many)."""
    n = _append(session, row.id, instances)
    core.audit_record(session, actor, "context_temporal_append", target_type="context_entity",
                      target_id=row.entity_id, org_id=row.org_id,
                      extra={"attrs": sorted(instances), "instances": n})
    return n
