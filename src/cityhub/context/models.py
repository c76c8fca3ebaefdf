"""Tables of the NGSI-LD context broker (context layer).

An entity is one row; its attributes live in one JSON document (JSONB on PostgreSQL) keyed by the *expanded*
attribute IRI and then by dataset id (`"@none"` for the default instance), so the `q` language compiles to JSON
path expressions on both backends. Types and GeoProperty bounding boxes are kept in side tables so that type
expressions and the geo-query prefilter are plain indexed SQL. Organisations belong to core (foreign key).

The side rows (types, boxes, numbers) and the history name their entity by `entity_pk` without a foreign key
(migration 0033): PostgreSQL checked each with a trigger per inserted row, a third of the database's work per
upserted entity. Every writer inserts them for the entity row it has just written or locked, readers reach them
through the entity row only, and `store.entity_delete` deletes them with it (`test_delete_leaves_no_side_rows`).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from cityhub.kit import clock
from cityhub.kit.db import Base, UUIDPk

BigId = BigInteger().with_variant(Integer, "sqlite")
NO_DATASET = "@none"  # the key of an attribute's default instance (JSON-LD's own name for "no index")


class ContextEntity(UUIDPk, Base):
    """One NGSI-LD entity, owned by an organisation (its NGSILD-Tenant)."""

    __tablename__ = "context_entity"

    # globally unique: a tenant selects and checks the owner, it does not make a second namespace (docs/context.md)
    entity_id: Mapped[str] = mapped_column(String(512), unique=True)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_organization.id"), index=True)
    types: Mapped[list[Any]] = mapped_column(default=list)  # expanded type IRIs, in the order given
    # {attribute IRI: {dataset id or "@none": instance}}; an instance keeps core terms short and sub-attribute
    # names expanded: {"type": "Property", "value": 21.5, "observedAt": …, "<sub-attribute IRI>": {…}}
    attrs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    modified_at: Mapped[datetime] = mapped_column(default=clock.now)
    # its scopes ("/Madrid/Gardens"), queried as side rows; the server default serves writers that omit it (COPY)
    scope: Mapped[list[Any]] = mapped_column(default=list, server_default=text("'[]'"))


class ContextEntityScope(Base):
    """An entity's scope: scopeQ is indexed SQL over these rows (`scopeq.to_sql`)."""

    __tablename__ = "context_entity_scope"
    __table_args__ = (Index("ix_context_entity_scope_scope", "scope", "entity_pk"),)

    entity_pk: Mapped[uuid.UUID] = mapped_column(primary_key=True)  # context_entity.id (no key check: above)
    scope: Mapped[str] = mapped_column(String(512), primary_key=True)


class ContextEntityType(Base):
    """An entity's type (expanded IRI): type expressions and `/types` are indexed SQL over these rows."""

    __tablename__ = "context_entity_type"
    __table_args__ = (Index("ix_context_entity_type_type", "type", "entity_pk"),)

    entity_pk: Mapped[uuid.UUID] = mapped_column(primary_key=True)  # context_entity.id (no key check: above)
    type: Mapped[str] = mapped_column(String(512), primary_key=True)


class ContextGeometry(Base):
    """The bounding box of one GeoProperty instance: the SQL prefilter in front of shapely's exact test."""

    __tablename__ = "context_geometry"
    __table_args__ = (Index("ix_context_geometry_box", "attr", "min_x", "max_x", "min_y", "max_y"),)

    entity_pk: Mapped[uuid.UUID] = mapped_column(primary_key=True)  # context_entity.id (no key check: above)
    attr: Mapped[str] = mapped_column(String(512), primary_key=True)
    dataset_id: Mapped[str] = mapped_column(String(512), primary_key=True)
    min_x: Mapped[float] = mapped_column(Float)
    min_y: Mapped[float] = mapped_column(Float)
    max_x: Mapped[float] = mapped_column(Float)
    max_y: Mapped[float] = mapped_column(Float)


class ContextNumber(Base):
    """The numeric value of an attribute's default instance: `q` ranges on it are an index scan, not a JSON walk."""

    __tablename__ = "context_number"
    __table_args__ = (Index("ix_context_number_attr_value", "attr", "value"),)

    entity_pk: Mapped[uuid.UUID] = mapped_column(primary_key=True)  # context_entity.id (no key check: above)
    attr: Mapped[str] = mapped_column(String(512), primary_key=True)
    value: Mapped[float] = mapped_column(Float)


class ContextGrant(UUIDPk, Base):
    """An owner's read grant on its entities: to another unit (and its subtree), or to everyone when public.

    `entity_type` (an expanded IRI) narrows the grant to entities of that type; empty means every entity.
    """

    __tablename__ = "context_grant"
    __table_args__ = (UniqueConstraint("owner_org_id", "grantee_org_id", "entity_type"),)

    owner_org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_organization.id"), index=True)
    grantee_org_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_organization.id"), index=True,
                                                             default=None)  # None: public (anonymous too)
    entity_type: Mapped[str] = mapped_column(String(512), default="")
    note: Mapped[str] = mapped_column(String(500), default="")
    created_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class ContextSubscription(UUIDPk, Base):
    """An NGSI-LD subscription of a tenant (organisation): what to watch, where to notify, and its status.

    `body` keeps the subscription's members as the client wrote them (names unexpanded) with `ld_context`, the
    @context they are expanded with when a change is matched; the status members are columns.
    """

    __tablename__ = "context_subscription"

    sub_id: Mapped[str] = mapped_column(String(512), unique=True)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_organization.id"), index=True)
    created_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
    body: Mapped[dict[str, Any]] = mapped_column(default=dict)
    ld_context: Mapped[list[Any]] = mapped_column(default=list)  # the user @context as a list ([]: the core)
    active: Mapped[bool] = mapped_column(default=True)  # isActive
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    throttling: Mapped[float] = mapped_column(Float, default=0.0)  # seconds between two notifications
    next_allowed_at: Mapped[datetime | None] = mapped_column(default=None)  # throttling: nothing queued before
    # timeInterval: when the periodic pass next notifies (None: not periodic); one indexed due query
    next_periodic_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    times_sent: Mapped[int] = mapped_column(Integer, default=0)
    last_notification: Mapped[datetime | None] = mapped_column(default=None)
    last_success: Mapped[datetime | None] = mapped_column(default=None)
    last_failure: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    modified_at: Mapped[datetime] = mapped_column(default=clock.now)


class ContextNotification(Base):
    """The notification outbox: queued in the transaction of the change, delivered by `cityhub context worker`."""

    __tablename__ = "context_notification"
    __table_args__ = (Index("ix_context_notification_due", "delivered", "failed", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subscription_pk: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("context_subscription.id", ondelete="CASCADE"), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the Notification, rendered at change time
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=clock.now)
    delivered: Mapped[bool] = mapped_column(default=False)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)
    failed: Mapped[bool] = mapped_column(default=False)
    last_error: Mapped[str] = mapped_column(Text, default="")


class ContextAttributeInstance(Base):
    """One past instance of an attribute (the temporal store of entities written through NGSI-LD).

    Appended by every store write for the attributes it touched; `at` is the instance's observedAt, else its
    modifiedAt, in the store's fixed-width time form (so it compares as a string on both backends). `at_ms` and
    `number` repeat `at` and the numeric value in the forms a GROUP BY reads without parsing (written with the row).
    """

    __tablename__ = "context_attribute_instance"
    __table_args__ = (Index("ix_context_attribute_instance_at", "entity_pk", "attr", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    entity_pk: Mapped[uuid.UUID] = mapped_column()  # context_entity.id (no key check: the module's docstring)
    attr: Mapped[str] = mapped_column(String(512))
    dataset_id: Mapped[str] = mapped_column(String(512), default=NO_DATASET)
    at: Mapped[str] = mapped_column(String(32))  # observedAt, else modifiedAt
    modified_at: Mapped[str] = mapped_column(String(32))
    instance: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # for aggregation in SQL (`aggrsql`): `at` as epoch milliseconds, and the value when it is a JSON number
    at_ms: Mapped[int | None] = mapped_column(BigInteger, default=None)
    number: Mapped[float | None] = mapped_column(Float, default=None)


class ContextTelemetryChange(Base):
    """A stored ingest batch's devices and metric keys: the change of connect's device entities, to be matched.

    Queued by the `telemetry.stored` handler in the ingest batch's transaction (one row per batch, nothing read),
    matched against change subscriptions and deleted by the worker's pass (`context/devicewatch.py`).
    """

    __tablename__ = "context_telemetry_change"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    devices: Mapped[str] = mapped_column(Text)  # JSON text {device uuid: [metric keys]}, written by orjson
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
