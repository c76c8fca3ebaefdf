"""Attribute instance operations of the temporal API (clauses 5.6.14–5.6.16).

Change or delete one instance of an attribute's history by its `instanceId`, or delete an attribute's history.

An instance's `instanceId` is its history row's key (`timeline.instance_id`: `urn:ngsi-ld:attribute:instance:<key>`),
so no column holds it and it never changes. These operations change the history only: the entity's current state
is the store's (`DELETE /entities/{id}/attrs/{attr}` changes that), and connect's telemetry, read through, has no
instances to change (a device or asset answers OperationNotSupported, as every NGSI-LD write to it). Each checks
visibility and the owner's policy as every entity write (`store.check_write`), and leaves an audit row.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from cityhub.context import entities as ent
from cityhub.context import store
from cityhub.context.jsonld import LdContext
from cityhub.context.models import NO_DATASET, ContextAttributeInstance, ContextEntity
from cityhub.context.problems import bad, not_found
from cityhub.context.temporal import history_row
from cityhub.context.timeline import INSTANCE_PREFIX
from cityhub.core import service as core
from cityhub.core.actor import Actor
from cityhub.kit import clock

I = ContextAttributeInstance  # noqa: E741  # the table's one-letter alias, as in temporal.py
MAX_KEY = 2**63 - 1


def _key(instance_id: str) -> int | None:
    """The history row key an instanceId names (None: not one of ours, so no instance has it)."""
    ent.check_uri(instance_id, "instanceId")
    digits = instance_id[len(INSTANCE_PREFIX):] if instance_id.startswith(INSTANCE_PREFIX) else ""
    if not digits.isascii() or not digits.isdigit() or int(digits) > MAX_KEY:
        return None
    return int(digits)


def _found(session: Session, row: ContextEntity, iri: str, name: str, instance_id: str) -> ContextAttributeInstance:
    key = _key(instance_id)
    found = None if key is None else session.scalar(
        select(I).where(I.id == key, I.entity_pk == row.id, I.attr == iri))
    if found is None:
        raise not_found(f"No instance {instance_id[:80]} of {name} in {row.entity_id}")
    return found


def _audit(session: Session, actor: Actor, action: str, row: ContextEntity, **extra: Any) -> None:
    core.audit_record(session, actor, action, target_type="context_entity", target_id=row.entity_id,
                      org_id=row.org_id, extra=extra)


def _fragment(body: Any, name: str) -> dict[str, Any]:
    """The PATCH body: the instance's members, or `{"<attr>": {…}}` as some clients send it."""
    if isinstance(body, dict) and name in body and len([k for k in body if k not in ("@context", "id")]) == 1:
        body = body[name]
    if not isinstance(body, dict) or not body:
        raise bad("An attribute instance fragment is a non-empty JSON object", "body")
    return {k: v for k, v in body.items() if k != "@context"}


def instance_patch(session: Session, actor: Actor, entity_id: str, name: str, instance_id: str, body: Any,
                   ctx: LdContext, tenant: uuid.UUID | None) -> None:
    """Replace the members of one history instance the fragment gives (value, observedAt, sub-attributes, …).

    The instance keeps its instanceId, datasetId and createdAt; its modifiedAt is now. A changed attribute type
    needs its own value member.
    """
    row = store.check_write(session, actor, entity_id, tenant)
    iri = ctx.expand(ent.check_name(name))
    found = _found(session, row, iri, name, instance_id)
    fragment = _fragment(body, name)
    if fragment.pop("instanceId", instance_id) != instance_id:
        raise bad("The instanceId in the body differs from the one in the path", "instanceId")
    old = dict(found.instance)
    if "datasetId" in fragment and fragment["datasetId"] != old.get("datasetId"):
        raise bad("An instance's datasetId cannot change", "datasetId")
    now = ent.time_text(clock.now())
    raw = {**({"type": old.get("type", "Property")} if "type" not in fragment else {}), **fragment}
    new = ent.instance(raw, name, ctx, now, patch=True)
    merged = {**old, **{k: v for k, v in new.items() if k != "createdAt"}}
    kind = merged.get("type", "Property")
    if kind != old.get("type", "Property"):  # the old value member means nothing for another type
        for member in set(ent.VALUE_KEY.values()) - {ent.VALUE_KEY[kind]}:
            merged.pop(member, None)
    if ent.VALUE_KEY[kind] not in merged:
        raise bad(f"{kind} {name} needs '{ent.VALUE_KEY[kind]}'", name)
    values = history_row(row.id, iri, found.dataset_id, now, merged)
    session.execute(update(I).where(I.id == found.id).values(
        at=values["at"], modified_at=now, instance=merged, at_ms=values["at_ms"], number=values["number"]))
    _audit(session, actor, "context_temporal_instance_patch", row, attr=name, instance_id=instance_id)
    session.flush()


def instance_delete(session: Session, actor: Actor, entity_id: str, name: str, instance_id: str, ctx: LdContext,
                    tenant: uuid.UUID | None) -> None:
    """Delete one instance of an attribute's history."""
    row = store.check_write(session, actor, entity_id, tenant, deleting=True)
    iri = ctx.expand(ent.check_name(name))
    found = _found(session, row, iri, name, instance_id)
    session.execute(delete(I).where(I.id == found.id))
    _audit(session, actor, "context_temporal_instance_delete", row, attr=name, instance_id=instance_id)
    session.flush()


def temporal_attr_delete(session: Session, actor: Actor, entity_id: str, name: str, ctx: LdContext,
                         tenant: uuid.UUID | None, *, dataset_id: str | None = None, delete_all: bool = False
                         ) -> int:
    """Delete an attribute's history: its default instances, those of `dataset_id`, or every one; how many."""
    row = store.check_write(session, actor, entity_id, tenant, deleting=True)
    iri = ctx.expand(ent.check_name(name))
    ds = ent.check_uri(dataset_id, "datasetId") if dataset_id else NO_DATASET
    where = [I.entity_pk == row.id, I.attr == iri, *(() if delete_all else (I.dataset_id == ds,))]
    keys = list(session.scalars(select(I.id).where(*where)))
    if not keys:
        shown = "" if delete_all or not dataset_id else f" (datasetId {ds})"
        raise not_found(f"No history of attribute {name}{shown} in {entity_id}")
    session.execute(delete(I).where(*where))
    _audit(session, actor, "context_temporal_attr_delete", row, attr=name, dataset_id=dataset_id or "",
           delete_all=delete_all, instances=len(keys))
    session.flush()
    return len(keys)
