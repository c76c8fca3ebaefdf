"""Tables of the NGSI-LD context broker (context layer).

An entity is one row; its attributes live in one JSON document (JSONB on PostgreSQL) keyed by the *expanded*
attribute IRI and then by dataset id (`"@none"` for the default instance), so the `q` language compiles to JSON
path expressions on both backends. Types and GeoProperty bounding boxes are kept in side tables so that type
expressions and the geo-query prefilter are plain indexed SQL. Organisations belong to core (foreign key).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cityhub.kit import clock
from cityhub.kit.db import Base, UUIDPk

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


class ContextEntityType(Base):
    """An entity's type (expanded IRI): type expressions and `/types` are indexed SQL over these rows."""

    __tablename__ = "context_entity_type"
    __table_args__ = (Index("ix_context_entity_type_type", "type", "entity_pk"),)

    entity_pk: Mapped[uuid.UUID] = mapped_column(ForeignKey("context_entity.id", ondelete="CASCADE"),
                                                 primary_key=True)
    type: Mapped[str] = mapped_column(String(512), primary_key=True)


class ContextGeometry(Base):
    """The bounding box of one GeoProperty instance: the SQL prefilter in front of shapely's exact test."""

    __tablename__ = "context_geometry"
    __table_args__ = (Index("ix_context_geometry_box", "attr", "min_x", "max_x", "min_y", "max_y"),)

    entity_pk: Mapped[uuid.UUID] = mapped_column(ForeignKey("context_entity.id", ondelete="CASCADE"),
                                                 primary_key=True)
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

    entity_pk: Mapped[uuid.UUID] = mapped_column(ForeignKey("context_entity.id", ondelete="CASCADE"),
                                                 primary_key=True)
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
