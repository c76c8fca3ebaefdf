"""Batch operations `/entityOperations/create|upsert|update|delete`: each entity all or nothing, the batch partial.

Each entity runs in its own savepoint through the same single-entity operations (policy, audit, side rows), so
a refused entity leaves no trace and the others stand; the answer lists what succeeded and, per failed entity,
its ProblemDetails (the API answers 201 / 204 when nothing failed and 207 otherwise).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from cityhub.context import policies, store
from cityhub.context.bulk import bulk_write
from cityhub.context.jsonld import LdContext
from cityhub.context.problems import bad, from_cityhub
from cityhub.core.actor import Actor
from cityhub.kit.errors import CityhubError, Unauthorized
from cityhub.kit.i18n import gettext as _

MAX_BATCH = 1000


@dataclass
class BatchResult:
    """Ids that succeeded, those among them that were created, and one error per failed entity."""

    success: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)


def _items(body: Any) -> list[Any]:
    if not isinstance(body, list):
        raise bad("A batch operation takes a JSON array", "body")
    if not body:
        raise bad("A batch operation needs at least one element", "body")
    if len(body) > MAX_BATCH:
        raise bad(f"At most {MAX_BATCH} elements per batch", "body")
    return body


def _run(session: Session, result: BatchResult, entity_id: str, step: Callable[[], bool]) -> None:
    savepoint = session.begin_nested()
    try:
        created = step()
    except CityhubError as exc:
        savepoint.rollback()
        result.errors.append({"entityId": entity_id, "error": from_cityhub(exc).problem()})
        return
    savepoint.commit()
    result.success.append(entity_id)
    if created:
        result.created.append(entity_id)


def _entity_id(item: Any) -> str:
    return str(item.get("id", "")) if isinstance(item, dict) else ""


def _own_context(item: Any, ctx: LdContext, ld: bool) -> LdContext:
    """An element's context: in a JSON-LD batch each element carries its own `@context`."""
    from cityhub.context.jsonld import context_for

    if ld:
        if not isinstance(item, dict) or "@context" not in item:
            raise bad("Each element of a JSON-LD batch needs an @context", "@context")
        return context_for(item["@context"])
    if isinstance(item, dict) and "@context" in item:
        raise bad("@context in the body of an application/json request (use the Link header)", "@context")
    return ctx


def _require_account(actor: Actor) -> None:
    if not actor.is_authenticated:
        raise Unauthorized(_("Log in or send an API token"))
    policies.entity_batch(actor)


def batch_create(session: Session, actor: Actor, body: Any, ctx: LdContext, tenant: uuid.UUID | None,
                 ld: bool = False) -> BatchResult:
    """Create each entity; one that exists, or is invalid, is an error of its own (the bulk path)."""
    _require_account(actor)
    success, created, errors = bulk_write(session, actor, _items(body), lambda item: _own_context(item, ctx, ld),
                                          tenant, replace=False)
    return BatchResult(success, created, errors)


def batch_upsert(session: Session, actor: Actor, body: Any, ctx: LdContext, tenant: uuid.UUID | None, *,
                 replace: bool = True, ld: bool = False) -> BatchResult:
    """Create each entity, or replace it (`options=replace`, the default) / update its attributes (`update`)."""
    _require_account(actor)
    items = _items(body)
    if replace:
        success, created, errors = bulk_write(session, actor, items, lambda item: _own_context(item, ctx, ld),
                                              tenant, replace=True)
        return BatchResult(success, created, errors)
    result = BatchResult()
    existing = store.entities_by_ids(session, [_entity_id(i) for i in items])
    for item in items:
        def step(item: Any = item) -> bool:
            own = _own_context(item, ctx, ld)
            entity_id = _entity_id(item)
            if entity_id not in existing:
                existing[entity_id] = store.entity_create(session, actor, item, own, tenant)
                return True
            if replace:
                store.entity_replace(session, actor, entity_id, item, own, tenant)
            else:
                store.attrs_append(session, actor, entity_id, {k: v for k, v in item.items() if k != "@context"},
                                   own, tenant)
            return False

        _run(session, result, _entity_id(item), step)
    return result


def batch_update(session: Session, actor: Actor, body: Any, ctx: LdContext, tenant: uuid.UUID | None, *,
                 overwrite: bool = True, ld: bool = False) -> BatchResult:
    """Append attributes to existing entities (`options=noOverwrite` keeps existing ones)."""
    _require_account(actor)
    result = BatchResult()
    for item in _items(body):
        def step(item: Any = item) -> bool:
            if not isinstance(item, dict):
                raise bad("A batch element must be a JSON object", "body")
            own = _own_context(item, ctx, ld)
            # with noOverwrite, attributes that exist are left as they are: not an error of the entity; types the
            # entity lacks are added, as by an append (ETSI TP 005_05)
            store.attrs_append(session, actor, _entity_id(item),
                               {k: v for k, v in item.items() if k != "@context"}, own, tenant,
                               overwrite=overwrite)
            return False

        _run(session, result, _entity_id(item), step)
    return result


def batch_merge(session: Session, actor: Actor, body: Any, ctx: LdContext, tenant: uuid.UUID | None, *,
                ld: bool = False) -> BatchResult:
    """Merge-patch each existing entity (as PATCH /entities/{id}), each in its own savepoint."""
    _require_account(actor)
    result = BatchResult()
    for item in _items(body):
        def step(item: Any = item) -> bool:
            if not isinstance(item, dict):
                raise bad("A batch element must be a JSON object", "body")
            own = _own_context(item, ctx, ld)
            store.entity_merge(session, actor, _entity_id(item), {k: v for k, v in item.items() if k != "@context"},
                               own, tenant)
            return False

        _run(session, result, _entity_id(item), step)
    return result


def batch_delete(session: Session, actor: Actor, body: Any, tenant: uuid.UUID | None) -> BatchResult:
    """Delete each entity id."""
    _require_account(actor)
    result = BatchResult()
    for item in _items(body):
        entity_id = item if isinstance(item, str) else ""

        def step(entity_id: str = entity_id) -> bool:
            if not entity_id:
                raise bad("A batch delete takes an array of entity ids", "body")
            store.entity_delete(session, actor, entity_id, tenant)
            return False

        _run(session, result, entity_id, step)
    return result
