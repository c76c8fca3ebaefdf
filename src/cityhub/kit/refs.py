"""Ids named in a write are references: each must be an object the caller may use.

`reference(field, load)` loads the object through its domain's own visibility rule — a loader that raises
`NotFound` (or returns None) for unknown and invisible ids alike — and answers 422 naming the field instead, so a
write neither takes another unit's object nor tells whether it exists. Whether the caller may *use* a visible object
(a role in its unit) is the domain policy's question, asked next; it raises `Forbidden` (403).

Every write route's id fields are swapped for another unit's objects by `tests/test_cross_unit_refs.py`, which
fails for a route whose id field declares no swap.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from cityhub.kit.errors import NotFound, ValidationFailed
from cityhub.kit.i18n import gettext as _

T = TypeVar("T")


def reference(field: str, load: Callable[[], T | None], message: str | None = None) -> T:
    """The object `load` finds through its visibility rule; unknown or invisible → 422 naming `field`."""
    try:
        obj = load()
    except NotFound:
        obj = None
    if obj is None:
        raise ValidationFailed(message or _("Unknown id, or not one you may use"), field=field)
    return obj
