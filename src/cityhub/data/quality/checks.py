"""Quality check evaluation: each kind of check over an entry's datastore table, in SQL where SQL can say it.

not_null, unique, in_list and range count failing rows in one statement; so do the identity-number checks
(GB 11643 公民身份号码, GB 32100 统一社会信用代码) on PostgreSQL, while SQLite and regex checks stream the column
(`yield_per`) and test each value in Python (kit.idcodes); freshness compares the resource's last load with the
allowed age; row_count_change compares the row count with the previous evaluation. Every evaluation returns
(checked, failed, sample of failing `_id`s, message).

Row checks (ROW_KINDS: each row passes or fails on its own) can also be counted over a scope — an SQL condition on
the table's rows — which is how a sync run checks only the rows it wrote (quality.service.RunDelta).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from cityhub.data.datastore.stores import quote
from cityhub.data.models import Resource
from cityhub.kit import clock
from cityhub.kit.db import is_postgres
from cityhub.kit.idcodes import (
    ID_CHECK,
    ID_WEIGHTS,
    PROVINCES,
    USCC_ALPHABET,
    USCC_WEIGHTS,
    credit_code_ok,
    resident_id_ok,
)

KINDS = ("not_null", "unique", "in_list", "range", "regex", "id_card", "credit_code", "freshness", "row_count_change")
TABLE_KINDS = ("freshness", "row_count_change")
ROW_KINDS = ("not_null", "in_list", "range", "regex", "id_card", "credit_code")  # each row passes or fails alone
SAMPLE = 10

# every month-day of a leap year, MMDD (a hashed IN list in PostgreSQL: one probe per row)
_MONTH_DAYS = ", ".join(f"'{m:02d}{d:02d}'" for m in range(1, 13)
                        for d in range(1, {2: 29, 4: 30, 6: 30, 9: 30, 11: 30}.get(m, 31) + 1))


# what Python's str.strip removes (resident_id_ok strips), as an SQL literal for btrim
_PY_SPACE = "'" + "".join(ch for ch in map(chr, range(0x3001)) if ch.isspace()) + "'"


def id_card_today() -> str:
    """The `:today` bind of the GB 11643 expression: today as YYYYMMDD (birth dates after it fail)."""
    return clock.now().date().strftime("%Y%m%d")


def _pg_id_card_valid(col: str) -> str:
    """GB 11643 in PostgreSQL SQL, the same rules as `resident_id_ok` (each CASE guards the casts after it).

    Written for speed, as this check reads every row after each full load: the shape is an ltrim of the digits
    (not a regex), the birth date compared as text (`COLLATE "C"`: a year from 1850, a month-day probed in a
    hashed list, Feb 29 only in leap years, not after `:today` — `id_card_today()`), the check sum read with
    get_byte. A value that is already 18 clean characters (as every converted cell is: stripped) is tested on
    the column itself; any other goes through the same rules on its trimmed, upper-cased form.
    """

    def rules(v: str) -> str:
        digits = " + ".join(f"(get_byte(textsend({v}), {i}) - 48) * {w}" for i, w in enumerate(ID_WEIGHTS))
        provinces = ", ".join(f"'{p}'" for p in sorted(PROVINCES))
        year = f'substr({v}, 7, 4) COLLATE "C"'
        leap = f"(substr({v}, 7, 4)::int % 4 = 0 AND (substr({v}, 7, 4)::int % 100 <> 0 " \
               f"OR substr({v}, 7, 4)::int % 400 = 0))"
        return (f"left({v}, 2) IN ({provinces}) AND {year} >= '1850' AND substr({v}, 11, 4) IN ({_MONTH_DAYS}) "
                f"AND (substr({v}, 11, 4) <> '0229' OR {leap}) AND substr({v}, 7, 8) COLLATE \"C\" <= :today "
                f"AND upper(right({v}, 1)) = substr('{ID_CHECK}', ({digits}) % 11 + 1, 1)")

    def shaped(v: str) -> str:  # 17 ASCII digits, then a digit or X (any case)
        return f"octet_length({v}) = 18 AND ltrim({v}, '0123456789') IN ('', 'X', 'x')"

    v, raw = f"upper(btrim({col}::text, {_PY_SPACE}))", f"{col}::text"
    return (f"CASE WHEN {shaped(raw)} THEN {rules(raw)} "
            f"WHEN {shaped(v)} THEN {rules(v)} ELSE false END")


def _pg_credit_code_valid(col: str) -> str:
    """GB 32100 in PostgreSQL SQL, the same rules as `credit_code_ok`."""
    v = f"upper(btrim({col}::text))"
    total = " + ".join(f"(position(substr({v}, {i + 1}, 1) IN '{USCC_ALPHABET}') - 1) * {w}"
                       for i, w in enumerate(USCC_WEIGHTS))
    return (f"CASE WHEN {v} ~ '^[0-9A-HJ-NPQRTUWXY]{{18}}$' AND substr({v}, 3, 6) ~ '^[0-9]{{6}}$' THEN "
            f"substr({v}, 18, 1) = substr('{USCC_ALPHABET}', (31 - ({total}) % 31) % 31 + 1, 1) ELSE false END")


@dataclass(frozen=True)
class Outcome:
    """What one evaluation found."""

    checked: int
    failed: int
    sample: list[int]
    message: str = ""


def _count(session: Session, sql: str, params: dict[str, Any] | None = None) -> int:
    return int(session.execute(text(sql), params or {}).scalar() or 0)


def _where(where: str, scope: str) -> str:
    return f"({where}) AND {scope}" if scope else where


def _sample(session: Session, table: str, where: str, params: dict[str, Any] | None = None) -> list[int]:
    binds = params or {}
    stmt = _bound(f'SELECT "_id" FROM {quote(table)} WHERE {where} ORDER BY "_id" LIMIT {SAMPLE}', binds)
    return [int(r[0]) for r in session.execute(stmt, binds)]


def _sql_failing(session: Session, table: str, where: str, params: dict[str, Any] | None,
                 scope: str) -> tuple[int, list[int]]:
    where = _where(where, scope)
    binds = params or {}
    failed = int(session.execute(_bound(f"SELECT COUNT(*) FROM {quote(table)} WHERE {where}", binds),
                                 binds).scalar() or 0)
    return failed, _sample(session, table, where, params) if failed else []


def _python_failing(session: Session, table: str, col: str, ok: Any, scope: str) -> tuple[int, list[int]]:
    failed = 0
    sample: list[int] = []
    result = session.execute(text(f'SELECT "_id", {quote(col)} FROM {quote(table)} '
                                  f'WHERE {_where(f"{quote(col)} IS NOT NULL", scope)} ORDER BY "_id"')
                             .execution_options(yield_per=5000))
    for rid, value in result:
        if not ok(str(value)):
            failed += 1
            if len(sample) < SAMPLE:
                sample.append(int(rid))
    return failed, sample


def condition(session: Session, kind: str, col: str, params: dict[str, Any],
              tag: str = "") -> tuple[str, dict[str, Any]] | None:
    """A row check's failing condition as SQL over the table's columns, with its binds; None in Python.

    Binds are named with `tag`, so several checks can share a statement; a list bind (`in_list`) is expanding.
    Regex checks, and the identity numbers on SQLite, are tested in Python (None).
    """
    c = quote(col)
    if kind == "not_null":
        return f"{c} IS NULL", {}
    if kind == "in_list":
        return f"{c} IS NOT NULL AND {c} NOT IN :vals{tag}", {f"vals{tag}": [str(v) for v in params["values"]]}
    if kind == "range":  # SQLite keeps decimals as text: compare as numbers
        c = f"CAST({c} AS {'DOUBLE PRECISION' if is_postgres(session) else 'REAL'})"
        conds, binds = [], {}
        if params.get("min") is not None:
            conds.append(f"{c} < :lo{tag}")
            binds[f"lo{tag}"] = params["min"]
        if params.get("max") is not None:
            conds.append(f"{c} > :hi{tag}")
            binds[f"hi{tag}"] = params["max"]
        return f"{c} IS NOT NULL AND ({' OR '.join(conds)})", binds
    if kind == "id_card" and is_postgres(session):  # one statement instead of streaming the column (parity tested)
        return (f"{c} IS NOT NULL AND NOT ({_pg_id_card_valid(c).replace(':today', f':today{tag}')})",
                {f"today{tag}": id_card_today()})
    if kind == "credit_code" and is_postgres(session):
        return f"{c} IS NOT NULL AND NOT ({_pg_credit_code_valid(c)})", {}
    return None


def _bound(sql: str, binds: dict[str, Any]) -> Any:
    stmt = text(sql)
    lists: list[Any] = [bindparam(k, expanding=True) for k, v in binds.items() if isinstance(v, list)]
    return stmt.bindparams(*lists) if lists else stmt


def count_where(session: Session, source: str, conds: list[tuple[str, dict[str, Any]]]) -> list[int]:
    """How many rows of `source` (a table or a parenthesised, aliased query) meet each condition: one scan."""
    if not conds:
        return []
    sums = ", ".join(f"COALESCE(SUM(CASE WHEN {w} THEN 1 ELSE 0 END), 0)" for w, _b in conds)
    binds: dict[str, Any] = {}
    for _w, b in conds:
        binds.update(b)
    row = session.execute(_bound(f"SELECT {sums} FROM {source}", binds), binds).one()
    return [int(v or 0) for v in row]


def failing(session: Session, table: str, kind: str, col: str, params: dict[str, Any],
            scope: str = "") -> tuple[int, list[int]]:
    """Rows failing a row check (ROW_KINDS) and a sample of their `_id`s.

    `scope`: an SQL condition on the table's rows that limits the check to them (one sync batch's rows); none
    for the whole table.
    """
    found = condition(session, kind, col, params)
    if found is not None:
        where, binds = found
        return _sql_failing(session, table, where, binds, scope)
    if kind == "regex":
        pattern = re.compile(str(params["pattern"]))
        return _python_failing(session, table, col, lambda v: pattern.fullmatch(v) is not None, scope)
    if kind == "id_card":
        return _python_failing(session, table, col, resident_id_ok, scope)
    if kind == "credit_code":
        return _python_failing(session, table, col, credit_code_ok, scope)
    raise ValueError(f"not a row check: {kind}")  # pragma: no cover - callers pass ROW_KINDS only


def evaluate(session: Session, res: Resource, kind: str, col: str, params: dict[str, Any],
             previous_rows: int | None, total: int | None = None, key: list[str] | None = None) -> Outcome:
    """Evaluate one check over the resource's whole table (`total`: its row count when known; `key`: its key)."""
    table = res.table_name or ""
    c = quote(col) if col else ""
    if total is None:
        total = _count(session, f"SELECT COUNT(*) FROM {quote(table)}")
    if kind in ROW_KINDS:
        failed, sample = failing(session, table, kind, col, params)
        return Outcome(total, failed, sample)
    if kind == "unique":
        if key == [col]:  # the table's unique index holds it already: no scan
            return Outcome(total, 0, [], "enforced by the table's key")
        failed, sample = _sql_failing(session, table, f"{c} IN (SELECT {c} FROM {quote(table)} WHERE {c} IS NOT "
                                                      f"NULL GROUP BY {c} HAVING COUNT(*) > 1)", None, "")
        return Outcome(total, failed, sample)
    if kind == "freshness":
        hours = float(params["max_age_hours"])
        fresh = res.loaded_at is not None and clock.now() - res.loaded_at <= timedelta(hours=hours)
        age = "never loaded" if res.loaded_at is None else f"loaded {res.loaded_at.isoformat(timespec='minutes')}"
        return Outcome(1, 0 if fresh else 1, [], age)
    # row_count_change
    if previous_rows is None or previous_rows == 0:
        return Outcome(total, 0, [], f"{total} rows (no earlier count)")
    change = abs(total - previous_rows) / previous_rows * 100
    bad = change > float(params["max_change_pct"])
    return Outcome(total, 1 if bad else 0, [], f"{previous_rows} → {total} rows ({change:.1f} %)")
