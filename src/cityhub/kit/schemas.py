"""Shared Pydantic bases: strict input models, id/timestamp read models."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

INT32_MAX = 2**31 - 1  # bound for fields stored in INTEGER columns


def _reject_nul(value: Any, path: str) -> None:
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError(f"{path or 'value'}: text may not contain NUL characters")
    elif isinstance(value, dict):
        for k, v in value.items():
            _reject_nul(k, path)
            _reject_nul(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _reject_nul(v, f"{path}[{i}]")


class InputModel(BaseModel):
    """Request bodies: unknown fields are an error, strings are trimmed, NUL characters are refused."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        # PostgreSQL text cannot hold NUL; refusing it here names the field instead of failing in the database.
        _reject_nul(data, "")
        return data


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
