"""Import every domain's models so Base.metadata is complete (for Alembic and the drift test)."""

from __future__ import annotations

import importlib
import pkgutil

from sqlalchemy import MetaData

import cityhub
from cityhub.kit.db import Base


def load_all_models() -> MetaData:
    """Import `cityhub.<domain>.models` for every domain package; return the full metadata."""
    for info in pkgutil.iter_modules(cityhub.__path__):
        if info.ispkg and info.name != "kit":
            try:
                importlib.import_module(f"cityhub.{info.name}.models")
            except ModuleNotFoundError as exc:
                if exc.name != f"cityhub.{info.name}.models":
                    raise
    return Base.metadata
