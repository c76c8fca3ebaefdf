"""The bulk path of batch create and upsert (replace): check every entity first, then write them all at once.

The per-entity path (`store`) costs about seven statements per entity (existence, insert, flush, type rows, geometry
rows, audit, savepoint). Here every element is parsed, checked (ids, values, geometry, visibility, policy) in Python
before anything is written, and the survivors are written with one executemany per table: entity rows, updates of
existing ones, type rows, geometry boxes, numeric values, and one audit row for the batch naming every entity. What
is refused is refused before any write, so nothing is half-written without a savepoint per entity; a batch that
fails in the database (a concurrent create of the same id) fails whole, as one statement does.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from cityhub.context import bridge, policies, store
from cityhub.context import entities as ent
from cityhub.context.jsonld import LdContext
from cityhub.context.models import ContextEntity, ContextEntityScope, ContextEntityType, ContextGeometry, ContextNumber
from cityhub.context.problems import NgsiError, from_cityhub, not_found
from cityhub.context.rows import insert_rows
from cityhub.core import service as core
from cityhub.core.actor import Actor
from cityhub.kit import clock
from cityhub.kit.errors import CityhubError

E = ContextEntity
Box = tuple[str, str, tuple[float, float, float, float]]


@dataclass
class _Pending:
    parsed: ent.Entity
    boxes: list[Box]
    pk: uuid.UUID
    existing: bool


def bulk_write(session: Session, actor: Actor, items: list[Any], context_of: Callable[[Any], LdContext],  # noqa: C901  # checks every element before any write; one branch per NGSI-LD error case
               tenant: uuid.UUID | None, *, replace: bool) -> tuple[list[str], list[str], list[dict[str, Any]]]:
    """Create (and with `replace`, replace existing) entities; (succeeded ids, created ids, errors)."""
    now = clock.now()
    stamp = ent.time_text(now)
    ids = [i.get("id") if isinstance(i, dict) else None for i in items]
    existing = store.entities_by_ids(session, [i for i in ids if isinstance(i, str)])
    seen = set(session.scalars(select(E.entity_id).where(E.entity_id.in_(list(existing)),
                                                         *store.scope(actor, tenant)))) if existing else set()
    org: uuid.UUID | None = None
    pending: dict[str, _Pending] = {}
    errors: list[dict[str, Any]] = []
    order: list[str] = []
    for item, raw_id in zip(items, ids, strict=True):
        entity_id = raw_id if isinstance(raw_id, str) else ""
        try:
            parsed = ent.entity(item, context_of(item), stamp)
            boxes = ent.geometries(parsed.attrs)
            row = existing.get(parsed.entity_id)
            if row is None and bridge.taken(session, parsed.entity_id):
                raise NgsiError("OperationNotSupported", f"{parsed.entity_id} is a connect device or asset: change "
                                "it through connect, not NGSI-LD")
            if row is not None:
                if not replace:
                    raise NgsiError("AlreadyExists", f"Entity {parsed.entity_id} already exists")
                if parsed.entity_id not in seen:
                    raise not_found(f"Entity {parsed.entity_id} not found")
                policies.entity_update(actor, row.org_id)
                pk, is_existing = row.id, True
            elif parsed.entity_id in pending:
                if not replace:
                    raise NgsiError("AlreadyExists", f"Entity {parsed.entity_id} is given twice in the batch")
                pk, is_existing = pending[parsed.entity_id].pk, pending[parsed.entity_id].existing
            else:
                org = org or store.write_org(actor, tenant)
                policies.entity_create(actor, org)
                pk, is_existing = uuid.uuid4(), False
        except CityhubError as exc:
            errors.append({"entityId": entity_id, "error": from_cityhub(exc).problem()})
            continue
        if parsed.entity_id not in pending:
            order.append(parsed.entity_id)
        pending[parsed.entity_id] = _Pending(parsed, boxes, pk, is_existing)
    created = [i for i in order if not pending[i].existing]
    replaced = [i for i in order if pending[i].existing]
    changes = _changes([pending[i] for i in order], existing, org, now)  # before the writes change `existing`
    if created:
        insert_rows(session, E, [{"id": pending[i].pk, "entity_id": i, "org_id": org,
                                     "types": pending[i].parsed.types, "attrs": pending[i].parsed.attrs,
                                     "created_at": now, "modified_at": now, "scope": pending[i].parsed.scope or []}
                                    for i in created])
    if replaced:
        pks = [pending[i].pk for i in replaced]
        session.execute(update(E), [{"id": pending[i].pk, "types": pending[i].parsed.types,
                                     "attrs": pending[i].parsed.attrs, "modified_at": now,
                                     "scope": pending[i].parsed.scope or []} for i in replaced])
        session.execute(delete(ContextEntityType).where(ContextEntityType.entity_pk.in_(pks)))
        session.execute(delete(ContextGeometry).where(ContextGeometry.entity_pk.in_(pks)))
        session.execute(delete(ContextNumber).where(ContextNumber.entity_pk.in_(pks)))
        session.execute(delete(ContextEntityScope).where(ContextEntityScope.entity_pk.in_(pks)))
    scope_rows = [{"entity_pk": p.pk, "scope": v} for p in pending.values() for v in p.parsed.scope or []]
    if scope_rows:
        insert_rows(session, ContextEntityScope, scope_rows)
    type_rows = [{"entity_pk": p.pk, "type": t} for p in pending.values() for t in p.parsed.types]
    if type_rows:
        insert_rows(session, ContextEntityType, type_rows)
    geo_rows = [{"entity_pk": p.pk, "attr": iri, "dataset_id": ds, "min_x": b[0], "min_y": b[1], "max_x": b[2],
                 "max_y": b[3]} for p in pending.values() for iri, ds, b in p.boxes]
    if geo_rows:
        insert_rows(session, ContextGeometry, geo_rows)
    number_rows = [{"entity_pk": p.pk, "attr": a, "value": v} for p in pending.values()
                   for a, v in ent.numbers(p.parsed.attrs)]
    if number_rows:
        insert_rows(session, ContextNumber, number_rows)
    if order:
        action = "context_entity_batch_upsert" if replace else "context_entity_batch_create"
        owner = org or existing[replaced[0]].org_id
        core.audit_record(session, actor, action, target_type="context_entity", target_id=f"{len(order)} entities",
                          org_id=owner, after={"created": created, "replaced": replaced})
    if changes:
        from cityhub.context import subscriptions, temporal  # both build on the store's reads

        temporal.record(session, changes)  # the batch's history: one executemany
        subscriptions.on_change(session, changes)  # its notifications: one query, one row per match
    if replaced:
        session.expire_all()  # the rows loaded above are stale after the bulk update
    return order, created, errors




def _changes(written: list[_Pending], existing: dict[str, ContextEntity], org: uuid.UUID | None, now: Any
             ) -> list[Any]:
    """The batch's entities as written, with the attributes each touched (all of them for a created one)."""
    from cityhub.context.subscriptions import Changed

    changes = []
    for p in written:
        old = existing.get(p.parsed.entity_id) if p.existing else None
        attrs = p.parsed.attrs
        touched = None if old is None else frozenset(
            k for k in {*old.attrs, *attrs} if old.attrs.get(k) != attrs.get(k))
        owner = old.org_id if old is not None else org
        if owner is not None:
            changes.append(Changed(p.pk, p.parsed.entity_id, owner, list(p.parsed.types), attrs,
                                   old.created_at if old is not None else now, now, touched,
                                   old.attrs if old is not None else None))
    return changes
