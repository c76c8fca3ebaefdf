"""Quality check evaluation: each kind of check over an entry's datastore table, in SQL where SQL can say it.

not_null, unique, in_list and range count failing rows in one statement; regex and the identity-number checks
(GB 11643 公民身份号码, GB 32100 统一社会信用代码) stream the column (`yield_per`) and test each value in Python;
freshness compares the resource's last load with the allowed age; row_count_change compares the row count with
the previous evaluation. Every evaluation returns (checked, failed, sample of failing `_id`s, message).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from cityhub.data.datastore.stores import quote
from cityhub.data.models import Resource
from cityhub.kit import clock
from cityhub.kit.db import is_postgres

KINDS = ("not_null", "unique", "in_list", "range", "regex", "id_card", "credit_code", "freshness", "row_count_change")
TABLE_KINDS = ("freshness", "row_count_change")
SAMPLE = 10

_PROVINCES = {"11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41", "42",
              "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65", "71", "81", "82"}
_ID_WEIGHTS = [pow(2, 17 - i, 11) for i in range(17)]
_ID_CHECK = "10X98765432"
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = [pow(3, i, 31) for i in range(17)]


def resident_id_ok(value: str) -> bool:
    """GB 11643-1999: 17 digits (province in GB/T 2260, a calendar birth date) and the MOD 11-2 check character."""
    n = value.strip().upper()
    if len(n) != 18 or not n[:17].isdigit() or n[:2] not in _PROVINCES:
        return False
    try:
        born = date(int(n[6:10]), int(n[10:12]), int(n[12:14]))
    except ValueError:
        return False
    if born > clock.now().date() or born.year < 1850:
        return False
    return n[17] == _ID_CHECK[sum(int(c) * w for c, w in zip(n[:17], _ID_WEIGHTS, strict=True)) % 11]


def resident_id_check_char(first17: str) -> str:
    """The check character of a 公民身份号码's first 17 digits (the demo generates valid numbers with it)."""
    return _ID_CHECK[sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def credit_code_check_char(first17: str) -> str:
    """The GB 32100 check character (MOD 31 over the alphabet without I, O, Z, S, V)."""
    total = sum(USCC_ALPHABET.index(ch) * w for ch, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def credit_code_ok(value: str) -> bool:
    """GB 32100-2015: 18 characters of its alphabet, a six-digit region code, the MOD 31 check character."""
    c = value.strip().upper()
    if len(c) != 18 or any(ch not in USCC_ALPHABET for ch in c) or not c[2:8].isdigit():
        return False
    return c[17] == credit_code_check_char(c[:17])


def _pg_id_card_valid(col: str) -> str:
    """GB 11643 in PostgreSQL SQL, the same rules as `resident_id_ok` (each CASE guards the casts after it)."""
    v = f"upper(btrim({col}::text))"
    digits = " + ".join(f"substr({v}, {i + 1}, 1)::int * {w}" for i, w in enumerate(_ID_WEIGHTS))
    provinces = ", ".join(f"'{p}'" for p in sorted(_PROVINCES))
    y, m, d = f"substr({v}, 7, 4)::int", f"substr({v}, 11, 2)::int", f"substr({v}, 13, 2)::int"
    return (f"CASE WHEN {v} ~ '^[0-9]{{17}}[0-9X]$' AND substr({v}, 1, 2) IN ({provinces}) THEN "
            f"CASE WHEN {y} >= 1850 AND {m} BETWEEN 1 AND 12 AND {d} >= 1 THEN "
            f"{d} <= extract(day FROM make_date({y}, {m}, 1) + interval '1 month - 1 day') "
            f"AND (make_date({y}, {m}, 1) + ({d} - 1)) <= :today "
            f"AND substr({v}, 18, 1) = substr('{_ID_CHECK}', ({digits}) % 11 + 1, 1) "
            "ELSE false END ELSE false END")


def _pg_credit_code_valid(col: str) -> str:
    """GB 32100 in PostgreSQL SQL, the same rules as `credit_code_ok`."""
    v = f"upper(btrim({col}::text))"
    total = " + ".join(f"(position(substr({v}, {i + 1}, 1) IN '{USCC_ALPHABET}') - 1) * {w}"
                       for i, w in enumerate(_USCC_WEIGHTS))
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


def _sample(session: Session, table: str, where: str, params: dict[str, Any] | None = None) -> list[int]:
    stmt = text(f'SELECT "_id" FROM {quote(table)} WHERE {where} ORDER BY "_id" LIMIT {SAMPLE}')
    if params and "vals" in params:
        stmt = stmt.bindparams(bindparam("vals", expanding=True))
    return [int(r[0]) for r in session.execute(stmt, params or {})]


def _sql_check(session: Session, table: str, where: str, params: dict[str, Any] | None = None,
               total: int | None = None) -> Outcome:
    if total is None:
        total = _count(session, f"SELECT COUNT(*) FROM {quote(table)}")
    stmt = text(f"SELECT COUNT(*) FROM {quote(table)} WHERE {where}")
    if params and "vals" in params:
        stmt = stmt.bindparams(bindparam("vals", expanding=True))
    failed = int(session.execute(stmt, params or {}).scalar() or 0)
    return Outcome(total, failed, _sample(session, table, where, params) if failed else [])


def _python_check(session: Session, table: str, col: str, ok: Any) -> Outcome:
    checked = failed = 0
    sample: list[int] = []
    result = session.execute(text(f'SELECT "_id", {quote(col)} FROM {quote(table)} ORDER BY "_id"')
                             .execution_options(yield_per=5000))
    for rid, value in result:
        checked += 1
        if value is not None and not ok(str(value)):
            failed += 1
            if len(sample) < SAMPLE:
                sample.append(int(rid))
    return Outcome(checked, failed, sample)


def evaluate(session: Session, res: Resource, kind: str, col: str, params: dict[str, Any],
             previous_rows: int | None, total: int | None = None, key: list[str] | None = None) -> Outcome:
    """Evaluate one check over the resource's table (`total`: its row count when known; `key`: its unique key)."""
    table = res.table_name or ""
    c = quote(col) if col else ""
    if kind == "not_null":
        return _sql_check(session, table, f"{c} IS NULL", total=total)
    if kind == "unique":
        if key == [col] and total is not None:  # the table's unique index holds it already: no scan
            return Outcome(total, 0, [], "enforced by the table's key")
        return _sql_check(session, table, f"{c} IN (SELECT {c} FROM {quote(table)} WHERE {c} IS NOT NULL "
                                          f"GROUP BY {c} HAVING COUNT(*) > 1)", total=total)
    if kind == "in_list":
        return _sql_check(session, table, f"{c} IS NOT NULL AND {c} NOT IN :vals",
                          {"vals": [str(v) for v in params["values"]]}, total=total)
    if kind == "range":  # SQLite keeps decimals as text: compare as numbers
        c = f"CAST({c} AS {'DOUBLE PRECISION' if is_postgres(session) else 'REAL'})"
        conds, binds = [], {}
        if params.get("min") is not None:
            conds.append(f"{c} < :lo")
            binds["lo"] = params["min"]
        if params.get("max") is not None:
            conds.append(f"{c} > :hi")
            binds["hi"] = params["max"]
        return _sql_check(session, table, f"{c} IS NOT NULL AND ({' OR '.join(conds)})", binds, total=total)
    if kind == "regex":
        pattern = re.compile(str(params["pattern"]))
        return _python_check(session, table, col, lambda v: pattern.fullmatch(v) is not None)
    if kind == "id_card":
        if is_postgres(session):  # one statement instead of streaming the column (same rules, tested for parity)
            return _sql_check(session, table, f"{c} IS NOT NULL AND NOT ({_pg_id_card_valid(c)})",
                              {"today": clock.now().date()}, total=total)
        return _python_check(session, table, col, resident_id_ok)
    if kind == "credit_code":
        if is_postgres(session):
            return _sql_check(session, table, f"{c} IS NOT NULL AND NOT ({_pg_credit_code_valid(c)})", total=total)
        return _python_check(session, table, col, credit_code_ok)
    if kind == "freshness":
        hours = float(params["max_age_hours"])
        fresh = res.loaded_at is not None and clock.now() - res.loaded_at <= timedelta(hours=hours)
        age = "never loaded" if res.loaded_at is None else f"loaded {res.loaded_at.isoformat(timespec='minutes')}"
        return Outcome(1, 0 if fresh else 1, [], age)
    # row_count_change
    rows = total if total is not None else _count(session, f"SELECT COUNT(*) FROM {quote(table)}")
    if previous_rows is None or previous_rows == 0:
        return Outcome(rows, 0, [], f"{rows} rows (no earlier count)")
    change = abs(rows - previous_rows) / previous_rows * 100
    bad = change > float(params["max_change_pct"])
    return Outcome(rows, 1 if bad else 0, [], f"{previous_rows} → {rows} rows ({change:.1f} %)")
