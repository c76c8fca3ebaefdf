"""Pydantic models of the context layer's own API (grants); NGSI-LD bodies are JSON-LD, checked in `entities`."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from cityhub.kit.schemas import IDSchema, InputModel


class GrantCreate(InputModel):
    """A read grant: the owner unit's entities (of one type, or all) to another unit, or to everyone."""

    owner_org_id: uuid.UUID
    grantee_org_id: uuid.UUID | None = None  # None: public, anonymous callers included
    entity_type: str = Field("", max_length=256, description="type name (core @context) or IRI; empty: all")
    note: str = Field("", max_length=500)


class Grant(IDSchema):
    """A read grant as stored (`entity_type` expanded)."""

    owner_org_id: uuid.UUID
    grantee_org_id: uuid.UUID | None
    entity_type: str
    note: str
    created_at: datetime
