"""Shared Pydantic bases: strict input models, id/timestamp read models."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict


class InputModel(BaseModel):
    """Request bodies: unknown fields are an error, strings are trimmed."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ReadModel(BaseModel):
    """Response bodies built from ORM objects."""

    model_config = ConfigDict(from_attributes=True)


class IDSchema(ReadModel):
    """Anything with a UUID id."""

    id: uuid.UUID


class Timestamped(IDSchema):
    """Anything with id and created/updated times."""

    created_at: datetime
    updated_at: datetime
