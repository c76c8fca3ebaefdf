"""Converting a sync run's source rows against the entry's items: the row path's conversion and its rejects.

Every cell goes through `datastore._parse.convert` (the upload path's rules) or a shortcut that agrees with it for
values that already have the item's type (`_converter`, `test_converter_shortcuts_agree_with_convert`); a row
either converts completely or is a reject `{row, column, value, message}` (and `file` for drops), never half.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from cityhub.data.collection import connectors as c
from cityhub.data.datastore._parse import MONEY_DIGITS, convert
from cityhub.data.models import SyncRun

MAX_REJECTS = 200  # rejects kept with a run (the count is exact)


def _iso_date(raw: Any) -> date | None:
    """A YYYY-MM-DD string's date by the C parser (None for anything else: `convert` decides)."""
    if type(raw) is str and len(raw) == 10 and raw[4] == "-" and raw[7] == "-":
        try:
            return date.fromisoformat(raw)
        except ValueError:
            return None
    return None


def _converter(item: dict[str, Any]) -> Callable[[Any], Any]:
    """`convert` for one item, with shortcuts for values that already have the item's type.

    Database sources hand dates, decimals and text over as such; anything else goes through `convert`, so the
    rules stay one (`test_converter_shortcuts_agree_with_convert`).
    """
    t, required, length = item["data_type"], bool(item.get("required")), int(item.get("length") or 0)

    def text_cell(raw: Any) -> Any:
        if type(raw) is str:
            s = raw.strip()
            if not s:
                if required:
                    raise ValueError("required")
                return None
            if t == "C" and length and len(s) > length:
                raise ValueError(f"longer than {length} characters")
            return s
        return convert(item, raw)

    def date_cell(raw: Any) -> Any:
        if type(raw) is date:
            return raw
        return _iso_date(raw) or convert(item, raw)

    def time_cell(raw: Any) -> Any:  # an aware datetime is the same instant in any zone: convert's UTC equals it
        return raw if type(raw) is datetime and raw.tzinfo is not None else convert(item, raw)

    def money_cell(raw: Any) -> Any:
        if type(raw) is Decimal and raw.is_finite() and -16 < raw.adjusted() < MONEY_DIGITS - 1:  # no round-up to 10^18
            return raw.quantize(_CENT) if t == "Y" else raw
        return convert(item, raw)

    if t in ("C", "M", "G"):
        return text_cell
    if t == "D":
        return date_cell
    if t == "T":
        return time_cell
    if t in ("N", "Y"):
        return money_cell
    return lambda raw: convert(item, raw)


_CENT = Decimal("0.01")


def _reject(sr: c.SourceRow, plan: list[tuple[str, str | None, Callable[[Any], Any], bool]]) -> dict[str, Any]:
    """Where a row that failed conversion went wrong: its first bad cell (row, column, value, reason)."""
    values = sr.values
    for name, src, conv, is_key in plan:
        raw = values.get(src) if src else None
        try:
            value = conv(raw)
            if value is None and is_key:
                raise ValueError("the key is empty")
        except ValueError as exc:
            bad = {"row": sr.row, "column": src or name, "value": str(raw)[:100] if raw is not None else "",
                   "message": str(exc)}
            if sr.file:
                bad["file"] = sr.file
            return bad
    raise AssertionError("the row converts")  # pragma: no cover - called for rows that did not


def _convert_batch(batch: list[c.SourceRow], items: list[dict[str, Any]], mapping: dict[str, str],
                   key: list[str], run: SyncRun) -> list[list[Any]]:
    """Converted rows of a batch (the last row of a key wins); bad rows counted and reported on the run.

    A row converts in one comprehension; only a row that fails is gone through again, cell by cell, to say where.
    """
    key_pos = [i for i, it in enumerate(items) if it["name_en"] in key]
    plan = [(it["name_en"], mapping.get(it["name_en"]), _converter(it), it["name_en"] in key) for it in items]
    cells = [(src or "", conv) for _name, src, conv, _key in plan]
    good: dict[tuple[Any, ...], list[Any]] = {}
    for sr in batch:
        get = sr.values.get
        try:
            row = [conv(get(src)) for src, conv in cells]
            k = tuple(row[p] for p in key_pos)
            if None in k:
                raise ValueError("the key is empty")
        except ValueError:
            run.rows_rejected += 1
            if len(run.rejects) < MAX_REJECTS:
                run.rejects = [*run.rejects, _reject(sr, plan)]
            continue
        good[k] = row
    return list(good.values())


def _convert_bad(rows: list[tuple[int, c.SourceRow]],
                 plan_rows: list[tuple[str, str | None, Callable[[Any], Any], bool]], run: SyncRun) -> list[list[Any]]:
    """Rows (with their `_id`) the set-based checks did not pass, through `convert`; rejects go on the run."""
    out = []
    for row_id, sr in rows:
        try:
            row = [conv(sr.values.get(src) if src else None) for _n, src, conv, _k in plan_rows]
            if any(v is None for v, p in zip(row, plan_rows, strict=True) if p[3]):
                raise ValueError("the key is empty")
        except ValueError:
            run.rows_rejected += 1
            if len(run.rejects) < MAX_REJECTS:
                run.rejects = [*run.rejects, _reject(sr, plan_rows)]
            continue
        out.append([row_id, *row])
    return out


__all__ = ["MAX_REJECTS", "_convert_bad", "_convert_batch", "_converter"]
