"""Merging one key's rows from several feeds into a golden record: field-level provenance and conflicts.

Pure: no database. A field's value comes from the most trusted feed (lowest priority number) that has one, the
newest load breaking a tie; feeds holding different non-empty values for a field make a conflict listing every
candidate, most trusted first. Values are compared as the text the datastore renders (`render`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class FeedRow:
    """One feed's row for a key: which feed, how trusted, when loaded, and its values by item."""

    feed: str
    org: str
    priority: int
    at: str  # the feed table's last load, ISO
    values: dict[str, Any]


@dataclass
class Golden:
    """The merged record: values, where each came from, and the fields the feeds disagree on."""

    fields: dict[str, str] = field(default_factory=dict)
    provenance: dict[str, dict[str, Any]] = field(default_factory=dict)
    conflicts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def render(value: Any) -> str | None:
    """A cell as the golden record keeps it (None and blank text are no value)."""
    if value is None:
        return None
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    s = str(value).strip()
    return s or None


def merge(rows: list[FeedRow], key_item: str | None = None) -> Golden:
    """One key's golden record from its feeds' rows (the key item itself is left out)."""
    ordered = sorted(rows, key=lambda r: (r.priority, _desc(r.at)))
    out = Golden()
    names: list[str] = []
    for r in ordered:
        names.extend(n for n in r.values if n not in names and n != key_item)
    for name in names:
        candidates = [(r, v) for r in ordered if (v := render(r.values.get(name))) is not None]
        if not candidates:
            continue
        best, value = candidates[0]
        out.fields[name] = value
        out.provenance[name] = {"feed": best.feed, "org": best.org, "at": best.at}
        if len({v for _r, v in candidates}) > 1:
            out.conflicts[name] = [{"feed": r.feed, "org": r.org, "priority": r.priority, "value": v, "at": r.at}
                                   for r, v in candidates]
    return out


def _desc(at: str) -> tuple[int, ...]:
    """Sort key putting newer ISO times first."""
    return tuple(-ord(ch) for ch in at)
