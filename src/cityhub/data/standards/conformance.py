"""Conformance of a table resource to its fields' data elements, counted in SQL over the datastore table.

For every information item naming a data element, one statement over the table counts, among the non-null
values: those of the wrong type (a text column holding an integer, decimal, date or yes/no element is checked
value by value; a typed column of an incompatible type fails whole, except for a text element, which any value's
text form may satisfy), those outside the representation format
(GB/T 18391: character class and length, decimals) and those outside the element's code list (a subquery on the
code list's values). The counts of every field come from one scan (`quality.checks.count_where`), and a few
offending values per failing field from one small query each. SQLite has no regular expressions: character
classes are GLOB there and `~` on PostgreSQL; both answer the same (tested on both backends).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from cityhub.data.datastore.stores import quote
from cityhub.data.quality.checks import count_where
from cityhub.data.standards.schemas import FORMAT, FieldConformance

SAMPLES = 5

# element type → the datastore item types (data.vocabulary.DATA_TYPES) that hold it as declared
COMPATIBLE = {"string": {"C", "M", "G"}, "integer": {"I", "N"}, "decimal": {"N", "Y", "B", "F", "I"},
              "date": {"D"}, "datetime": {"T"}, "boolean": {"L"}}
TEXT_TYPES = {"C", "M", "G"}
_BOOLEAN_TEXT = "('true', 'false', 't', 'f', '1', '0', 'y', 'n', 'yes', 'no', '是', '否')"
# a date or datetime format → (PostgreSQL regular expression, SQLite GLOB) of its text
_DATE_SHAPES = {
    "YYYY-MM-DD": ("^[0-9]{4}-[0-9]{2}-[0-9]{2}$", "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]"),
    "YYYYMMDD": ("^[0-9]{8}$", "[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]"),
    "YYYY-MM-DDThh:mm:ss": ("^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}",
                            "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9][T ][0-9][0-9]:[0-9][0-9]:[0-9][0-9]*"),
    "YYYYMMDDhhmmss": ("^[0-9]{14}$", "[0-9]" * 14),
}
_CLASSES = {"n": "0-9", "a": "A-Za-z", "an": "A-Za-z0-9"}


@dataclass(frozen=True)
class Element:
    """What the checks need of a data element."""

    identifier: str
    name: str
    data_type: str
    format: str
    code_list: str  # the code list's identifier, "" for none


class _Sql:
    """The few expressions that differ between PostgreSQL and SQLite."""

    def __init__(self, pg: bool) -> None:
        self.pg = pg

    def other_than(self, expr: str, cls: str) -> str:
        """`expr` holds a character outside the class (e.g. "0-9")."""
        return f"{expr} ~ '[^{cls}]'" if self.pg else f"{expr} GLOB '*[^{cls}]*'"

    def shaped(self, expr: str, fmt: str) -> str:
        """`expr` has the shape of a date or datetime format."""
        regex, glob = _DATE_SHAPES[fmt]
        return f"{expr} ~ '{regex}'" if self.pg else f"{expr} GLOB '{glob}'"

    def position(self, expr: str, ch: str) -> str:
        return f"strpos({expr}, '{ch}')" if self.pg else f"instr({expr}, '{ch}')"


def _numeric_parts(v: str) -> tuple[str, str]:
    """The unsigned text of a number and its digits (the sign and one decimal point removed)."""
    unsigned = f"(CASE WHEN substr({v}, 1, 1) IN ('-', '+') THEN substr({v}, 2) ELSE {v} END)"
    return unsigned, f"replace({unsigned}, '.', '')"


def _not_a_number(sql: _Sql, v: str, decimals: bool) -> str:
    unsigned, digits = _numeric_parts(v)
    bad = f"{digits} = '' OR {sql.other_than(digits, '0-9')}"
    if decimals:
        return f"({bad} OR length({unsigned}) - length({digits}) > 1)"
    return f"({bad} OR length({unsigned}) <> length({digits}))"


def _type_condition(sql: _Sql, item_type: str, el: Element, v: str) -> str | None:
    """Values of the wrong type (None: the column's type guarantees it)."""
    if item_type in COMPATIBLE[el.data_type] or el.data_type == "string":
        return None  # every value has a text form: a string element checks it by format and code list only
    if item_type not in TEXT_TYPES:
        return "1 = 1"  # a typed column of another type: every value is of the wrong type
    if el.data_type == "integer":
        return _not_a_number(sql, v, False)
    if el.data_type == "decimal":
        return _not_a_number(sql, v, True)
    if el.data_type == "boolean":
        return f"lower({v}) NOT IN {_BOOLEAN_TEXT}"
    fmt = el.format if el.format in _DATE_SHAPES else ("YYYY-MM-DD" if el.data_type == "date"
                                                       else "YYYY-MM-DDThh:mm:ss")
    return f"NOT ({sql.shaped(v, fmt)})"


def _format_condition(sql: _Sql, item_type: str, el: Element, v: str) -> str | None:
    """Values outside the representation format (None: no format, or one the column's type guarantees)."""
    m = FORMAT.match(el.format)
    if m is None or el.data_type in ("date", "datetime", "boolean") or item_type in ("D", "T", "L"):
        return None
    kind, first, upto, decimals = m.groups()
    lo, hi = (int(first), int(first)) if upto is None else (int(first or 1), int(upto))
    numeric = kind == "n" and (el.data_type in ("integer", "decimal") or decimals is not None)
    if numeric:
        unsigned, digits = _numeric_parts(v)
        conds = [_not_a_number(sql, v, decimals is not None), f"length({digits}) < {lo}",
                 f"length({digits}) > {hi}"]
        if decimals is not None:
            point = sql.position(unsigned, ".")
            conds.append(f"(CASE WHEN {point} > 0 THEN length({unsigned}) - {point} ELSE 0 END) > {int(decimals)}")
    else:
        conds = [f"length({v}) < {lo}", f"length({v}) > {hi}"]
        if kind in _CLASSES:
            conds.append(sql.other_than(v, _CLASSES[kind]))
    return "(" + " OR ".join(conds) + ")"


def _code_condition(el: Element, v: str, tag: str) -> tuple[str, dict[str, Any]] | None:
    if not el.code_list:
        return None
    return (f"{v} NOT IN (SELECT cv.code FROM data_code_list_value cv JOIN data_code_list cl "
            f"ON cl.id = cv.code_list_id WHERE cl.identifier = :cl{tag})", {f"cl{tag}": el.code_list})


def field_conditions(pg: bool, item: dict[str, Any], el: Element,
                     tag: str) -> tuple[dict[str, str], dict[str, Any], bool]:
    """One field's failing conditions by reason (type, format, code), their binds, and whether its type fits.

    Each condition applies to non-null values only.
    """
    sql = _Sql(pg)
    col = quote(item["name_en"])
    v = f"CAST({col} AS TEXT)"
    conds: dict[str, str] = {}
    binds: dict[str, Any] = {}
    t = _type_condition(sql, item["data_type"], el, v)
    if t is not None:
        conds["type"] = t
    f = _format_condition(sql, item["data_type"], el, v)
    if f is not None:
        conds["format"] = f
    c = _code_condition(el, v, tag)
    if c is not None:
        conds["code"], binds = c
    return conds, binds, item["data_type"] in COMPATIBLE[el.data_type]


def fields_report(session: Session, table: str | None, items: list[dict[str, Any]], elements: dict[str, Element],
                  pg: bool, mask: Callable[[dict[str, Any], str], str]) -> list[FieldConformance]:
    """Every item of a resource against its element: counts in one scan of the table, then a few samples."""
    out: list[FieldConformance] = []
    plans: list[tuple[FieldConformance, dict[str, Any], dict[str, str], dict[str, Any]]] = []
    for i, item in enumerate(items):
        ident = str(item.get("element") or "")
        el = elements.get(ident)
        fc = FieldConformance(item=item["name_en"], item_name=item.get("name_cn", ""), element=ident,
                              element_name=el.name if el else "", standardised=el is not None)
        out.append(fc)
        if el is not None:
            conds, binds, type_ok = field_conditions(pg, item, el, f"_{i}")
            fc.type_ok = type_ok
            plans.append((fc, item, conds, binds))
    if not plans or not table:
        return out
    queries: list[tuple[str, dict[str, Any]]] = []
    for _fc, item, conds, binds in plans:
        col = quote(item["name_en"])
        queries.append((f"{col} IS NOT NULL", {}))
        for reason in ("type", "format", "code"):
            queries.append((f"{col} IS NOT NULL AND {conds[reason]}", binds) if reason in conds else ("1 = 0", {}))
        queries.append((f"{col} IS NOT NULL AND ({' OR '.join(conds.values())})" if conds else "1 = 0", binds))
    counts = count_where(session, quote(table), queries)
    for n, (fc, item, conds, binds) in enumerate(plans):
        checked, bad_type, bad_format, bad_code, bad = counts[5 * n: 5 * n + 5]
        fc.checked, fc.bad_type, fc.bad_format, fc.bad_code = checked, bad_type, bad_format, bad_code
        fc.nonconforming, fc.conforming = bad, checked - bad
        if bad:
            col = quote(item["name_en"])
            rows = session.execute(text(f"SELECT DISTINCT CAST({col} AS TEXT) FROM {quote(table)} WHERE {col} IS "
                                        f"NOT NULL AND ({' OR '.join(conds.values())}) ORDER BY 1 LIMIT {SAMPLES}"),
                                   binds)
            fc.samples = [mask(item, str(r[0])) for r in rows]
    return out
