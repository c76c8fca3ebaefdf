"""Database shortcuts of the broker: `rows.insert_rows` (COPY on PostgreSQL) stores exactly what the ORM's insert
stores, awkward text included; `deps.one_statement_read` drops BEGIN / COMMIT around a lone SELECT."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Engine, insert, select, text
from sqlalchemy.orm import Session

from cityhub.context.deps import one_statement_read
from cityhub.context.models import ContextAttributeInstance, ContextEntity, ContextEntityType
from cityhub.context.rows import insert_rows
from cityhub.kit import clock
from cityhub.kit.db import Database

AWKWARD = {"text": "tab\there, new\nline, back\\slash, \\N, quote \" and 中文 🌧", "nested": {"a": [1, 2.5, None]},
           "empty": "", "big": 2**53, "neg": -0.001, "flag": False}


def _entity(session: Session, world: Any, n: int) -> dict[str, Any]:
    now = clock.now()
    return {"id": uuid.uuid4(), "entity_id": f"urn:ngsi-ld:T:{n}\\x", "org_id": world.orgs["dept_a"].id,
            "types": ["https://example.org/T\tab"], "attrs": {"https://example.org/a": {"@none": AWKWARD}},
            "created_at": now, "modified_at": now}


def test_copy_and_insert_store_the_same(session: Session, world: Any) -> None:
    copied, inserted = _entity(session, world, 1), _entity(session, world, 2)
    insert_rows(session, ContextEntity, [copied])
    session.execute(insert(ContextEntity), [inserted])
    for row in (copied, inserted):
        insert_rows(session, ContextEntityType, [{"entity_pk": row["id"], "type": "urn:x:\\type\n"}])
    insert_rows(session, ContextAttributeInstance, [
        {"entity_pk": copied["id"], "attr": "a", "dataset_id": "@none", "at": "2026-12-01T08:00:00.000Z",
         "modified_at": "2026-12-01T08:00:00.000Z", "instance": {"type": "Property", "value": AWKWARD}},
        {"entity_pk": copied["id"], "attr": "a", "dataset_id": "@none", "at": "2026-12-01T09:00:00.000Z",
         "modified_at": "2026-12-01T09:00:00.000Z", "instance": {"type": "Property", "value": None}}])
    session.flush()
    got = {r.id: r for r in session.scalars(select(ContextEntity).where(
        ContextEntity.id.in_([copied["id"], inserted["id"]])).execution_options(populate_existing=True))}
    for row in (copied, inserted):
        stored = got[row["id"]]
        assert (stored.entity_id, stored.types, stored.attrs, stored.created_at) == (
            row["entity_id"], row["types"], row["attrs"], row["created_at"])
    types = session.scalars(select(ContextEntityType.type).where(ContextEntityType.entity_pk == copied["id"])).all()
    assert types == ["urn:x:\\type\n"]
    history = session.execute(select(ContextAttributeInstance.at, ContextAttributeInstance.instance).where(
        ContextAttributeInstance.entity_pk == copied["id"]).order_by(ContextAttributeInstance.at)).all()
    assert [h.instance["value"] for h in history] == [AWKWARD, None]
    insert_rows(session, ContextEntityType, [])  # nothing to write: no statement, no error


def test_one_statement_read(engine: Engine) -> None:
    """A single-entity GET's SELECT runs without BEGIN / COMMIT on PostgreSQL; the pooled connection is reset."""
    db = Database(engine=engine)
    pg = engine.dialect.name == "postgresql"
    session = db.sessionmaker()
    one_statement_read(session)
    assert session.execute(text("SELECT 1")).scalar() == 1
    assert _autocommit(session) is pg
    session.commit()
    session.close()
    fresh = db.sessionmaker()
    assert _autocommit(fresh) is False  # the next user of the pooled connection gets a transaction again
    fresh.close()
    joined = db.sessionmaker()
    joined.execute(text("SELECT 1"))  # already in a transaction: left as it is
    one_statement_read(joined)
    assert _autocommit(joined) is False
    joined.close()


def _autocommit(session: Session) -> bool:
    """Does the session's DBAPI connection run each statement on its own (no BEGIN)?"""
    raw: Any = session.connection().connection.driver_connection
    if hasattr(raw, "autocommit"):  # psycopg
        return bool(raw.autocommit)
    return bool(session.connection().get_execution_options().get("isolation_level") == "AUTOCOMMIT")
