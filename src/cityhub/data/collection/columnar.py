"""The set-based load path: a PostgreSQL source table or a CSV drop into a PostgreSQL datastore table.

The row path (`sync.execute`) converts every cell in Python. Here the source's text goes into a temporary table
of text columns with `COPY … FROM STDIN` — a PostgreSQL source relays its own `COPY (query) TO STDOUT` blocks
unparsed; a drop file is read by Python's csv reader (the row path's parser, so rows, row numbers and quoting are
the same) and written back as fully quoted CSV — and the whole table is converted and checked in one
`INSERT … SELECT` per column expression (`_sql`). The rules stay one: a cell passes in SQL only in a canonical
form PostgreSQL reads exactly as `datastore._parse.convert` does (an ISO date whose day exists in its month, a plain
decimal whose rounding is not a tie, a timestamp with an offset or a naive one since 1992 …); every other row is
handed to `convert` one by one for its value or its reject message (`test_columnar_and_row_paths_agree_*`).

Memory is bounded by design: no table passes through Python, only `BLOCK` bytes of COPY text at a time and the
rows the SQL checks did not pass. A source it cannot read like the row path (a column type outside `_PG_OK`, a
mapped column the source lacks, a ragged CSV row) raises `Unsupported` and the run is done on the row path.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from cityhub.data.collection import connectors as c

BLOCK = 1 << 20  # bytes of COPY text sent at a time
ENABLED = True  # tests switch the path off to compare it with the row path

# PostgreSQL source column types (OIDs) whose text form the SQL checks read as the row path reads the value
_TEXT, _INT, _NUM, _FLOAT = {25, 1043, 1042}, {20, 21, 23}, {1700}, {701}
_PG_OK: dict[str, set[int]] = {
    "C": _TEXT | _INT, "M": _TEXT | _INT, "G": _TEXT | _INT, "N": _INT | _NUM | _FLOAT, "Y": _INT | _NUM | _FLOAT,
    "I": _INT | _NUM, "B": _INT | _NUM | _FLOAT, "F": _INT | _NUM | _FLOAT, "D": {1082}, "T": {1184, 1114},
    "L": {16}}
# characters Python's str.strip removes beyond ASCII whitespace: a cell starting or ending with one goes to convert
_PY_WS = r"\u001c-\u001f\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_REST = r"^(\.[0-9]{1,6})?(Z|[+-](0[0-9]|1[0-4])(:[0-5][0-9])?)?$"  # after YYYY-MM-DD HH:MM:SS: fraction, zone
_TRUE = ("1", "true", "t", "y", "yes", "是", "真")  # datastore._parse's words
_FALSE = ("0", "false", "f", "n", "no", "否", "假")


class Unsupported(Exception):
    """The source has something the set-based path would not read as the row path does: use the row path."""


@dataclass
class Plan:
    """How to fill the text stage: its source columns, a filler given a COPY sink, the files it read."""

    columns: list[str]
    fill: Callable[[Any], None]  # given psycopg's Copy into the stage, writes every row
    numbered: bool = True  # rows come with (_row, _file) before the columns; else their order numbers them
    files: list[str] = field(default_factory=list)
    mark: list[Any] = field(default_factory=list)  # the cursor's largest value (incremental first runs)


class _Sink:
    """A file-like target for csv.writer that forwards COPY text in blocks."""

    def __init__(self, cp: Any) -> None:
        self.cp, self.size = cp, 0
        self.parts: list[str] = []

    def write(self, s: str) -> None:
        self.parts.append(s)
        self.size += len(s)
        if self.size >= BLOCK:
            self.flush()

    def flush(self) -> None:
        if self.parts:
            self.cp.write("".join(self.parts))
            self.parts, self.size = [], 0


def file_plan(folder: Path, files: list[tuple[int, str]], columns: list[str]) -> Plan:
    """The CSV drop's files in order, read by Python's csv reader with the row path's encoding and row numbers."""
    names = [name for _m, name in files]

    def fill(cp: Any) -> None:
        sink = _Sink(cp)
        out = csv.writer(sink, quoting=csv.QUOTE_ALL)  # `\\.` or an empty string quoted: never COPY's markers
        for fno, name in enumerate(names):
            path = folder / name
            try:
                with path.open(encoding=c.csv_encoding(path), newline="") as f:
                    reader = csv.reader(f)
                    header = next(reader, None)
                    if header is None:
                        continue
                    where = {h: i for i, h in enumerate(header)}  # a repeated name: its last column, as DictReader
                    width = len(header)
                    idx = [where.get(col, width) for col in columns]
                    get = itemgetter(*idx, width)  # width: past the end, so a short row raises IndexError
                    pad = [None]
                    n = 1
                    for r in reader:
                        if not r:
                            continue  # DictReader skips blank lines and does not number them
                        n += 1
                        if len(r) != width:
                            raise Unsupported("a row of another width")
                        out.writerow((n, fno, *get(r + pad)[:-1]))
            except (OSError, UnicodeDecodeError, csv.Error) as exc:
                raise c.SourceError(f"{name}: {type(exc).__name__}: {exc}") from exc
        sink.flush()

    return Plan(columns, fill, files=names)


def database_plan(url: str, password: str, query: str, cursor: str, types: list[tuple[str, str]]) -> Plan:
    """A PostgreSQL source's rows relayed COPY to COPY, in one read-only snapshot with its cursor's max.

    `types` pairs each mapped source column with the data type of the item it feeds; a column the source lacks
    or whose type is not one the checks read like the row path raises `Unsupported` before anything is copied.
    """
    import psycopg

    u = make_url(url)
    if not u.drivername.startswith("postgresql"):
        raise Unsupported("not a PostgreSQL source")
    sql = c.source_query(u.drivername, query)
    columns = list(dict.fromkeys(src for src, _t in types))
    order = f' ORDER BY "{cursor}"' if cursor else ""
    plan = Plan(columns, lambda cp: None, numbered=False)

    def fill(cp: Any) -> None:
        try:
            conn = psycopg.connect(host=u.host, port=u.port or 5432, user=u.username, password=password or None,
                                   dbname=u.database, connect_timeout=10)
        except psycopg.Error as exc:
            raise c.SourceError(str(exc)) from exc
        try:
            with conn.cursor() as cur:
                cur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                cur.execute("SET LOCAL client_encoding = 'UTF8'; SET LOCAL TIME ZONE 'UTC'; "
                            "SET LOCAL DateStyle = 'ISO, YMD'; SET LOCAL extra_float_digits = 1")
                cur.execute(f"SELECT * FROM ({sql}) AS src LIMIT 0")
                have = {d.name: d.type_code for d in cur.description or ()}
                for src, data_type in types:
                    if have.get(src) not in _PG_OK[data_type]:
                        raise Unsupported(f"column {src}")
                cols = ", ".join(f'"{col}"' for col in columns)
                with cur.copy(f"COPY (SELECT {cols} FROM ({sql}) AS src{order}) TO STDOUT (FORMAT csv)") as src_cp:
                    buf = bytearray()  # libpq hands COPY data over a row at a time: sent on in blocks
                    for block in src_cp:
                        buf += block
                        if len(buf) >= BLOCK:
                            cp.write(bytes(buf))
                            buf.clear()
                    cp.write(bytes(buf))
                if cursor:
                    row = cur.execute(f'SELECT max("{cursor}") FROM ({sql}) AS src').fetchone()
                    plan.mark.append(row[0] if row else None)
                cur.execute("COMMIT")
        except psycopg.Error as exc:
            raise c.SourceError(str(exc)) from exc
        finally:
            conn.close()

    plan.fill = fill
    return plan


# ---------------------------------------------------------------- the checks and conversions in SQL


def _days_ok(d: str) -> str:
    """SQL: the day of a YYYY-MM-DD text exists in its month (the text already matched the date pattern)."""
    y, m, day = f"substr({d}, 1, 4)::int", f"substr({d}, 6, 2)::int", f"substr({d}, 9, 2)::int"
    leap = f"(({y} % 4 = 0 AND {y} % 100 <> 0) OR {y} % 400 = 0)"
    return (f"(substr({d}, 9, 2) <= '28' OR {day} <= CASE WHEN {m} = 2 THEN CASE WHEN {leap} THEN 29 ELSE 28 END "
            f"WHEN {m} IN (4, 6, 9, 11) THEN 30 ELSE 31 END)")


def _shape(t: str, *shapes: str) -> str:
    """SQL: the text's digits, each read as 9, give one of the shapes (cheaper than a regex)."""
    return f"translate({t}, '012345678', '999999999') IN ({', '.join(repr(x) for x in shapes)})"


def _date_ok(t: str) -> str:
    """SQL: the first ten characters are a date YYYY-MM-DD (years 1000 to 9999) that exists."""
    ranges = (f"left({t}, 1) <> '0' AND substr({t}, 6, 2) BETWEEN '01' AND '12' "
              f"AND substr({t}, 9, 2) BETWEEN '01' AND '31'")
    return f"CASE WHEN {ranges} THEN {_days_ok(t)} ELSE false END"


def _typed(item: dict[str, Any], t: str) -> tuple[str, str]:
    """SQL (ok, value) for a non-empty trimmed text `t`; `value` is evaluated only where `ok` holds."""
    dt = item["data_type"]
    if dt in ("C", "M", "G"):
        ok = f"{t} !~ '^[{_PY_WS}]|[{_PY_WS}]$'"
        if dt == "C" and item.get("length"):
            ok += f" AND char_length({t}) <= {int(item['length'])}"
        return ok, t
    if dt == "D":
        return f"CASE WHEN {_shape(t, '9999-99-99')} THEN {_date_ok(t)} ELSE false END", f"{t}::date"
    if dt == "T":
        head, rest = f"left({t}, 19)", f"substr({t}, 20)"
        aware = f"{rest} ~ '[-+Z]'"
        clock = (f"substr({t}, 12, 2) <= '23' AND substr({t}, 15, 2) <= '59' AND substr({t}, 18, 2) <= '59' "
                 f"AND {rest} ~ '{_REST}'")
        # a naive time is Asia/Shanghai's, a fixed +08:00 since 1992 (its summer times before: convert decides)
        ok = (f"CASE WHEN {_shape(head, '9999-99-99 99:99:99', '9999-99-99T99:99:99')} AND {clock} "
              f"AND ({aware} OR {t} >= '1992') THEN {_date_ok(t)} ELSE false END")
        return ok, f"(CASE WHEN {aware} THEN {t} ELSE {t} || '+08:00' END)::timestamptz"
    if dt == "N":
        return rf"octet_length({t}) <= 400 AND {t} ~ '^[+-]?[0-9]+(\.[0-9]+)?$'", f"{t}::numeric"
    if dt == "Y":  # half-even ties ('…x5', '…x50…') go to convert: PostgreSQL rounds them away from zero
        # at most 18 digits before the point, and none that rounds up to 10^18
        ok = (rf"octet_length({t}) <= 120 AND {t} ~ '^-?[0-9]+(\.[0-9]+)?$' AND {t} !~ '^-?[0-9]{{19}}' "
              rf"AND {t} !~ '\.[0-9][0-9]50*$' AND {t} !~ '^-?9{{18}}\.99[5-9]'")
        return ok, f"round({t}::numeric, 2)"
    if dt == "I":
        return f"{t} ~ '^[+-]?[0-9]{{1,18}}$'", f"{t}::int8"
    if dt in ("B", "F"):
        pattern = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9][0-9]?)?$"  # 200 digits: 1e-299 to 1e299
        return f"octet_length({t}) <= 200 AND {t} ~ '{pattern}'", f"{t}::float8"
    words = ", ".join(f"'{w}'" for w in (*_TRUE, *_FALSE))
    return f"lower({t}) IN ({words})", f"lower({t}) IN ({', '.join(repr(w) for w in _TRUE)})"


def convert_sql(items: list[dict[str, Any]], sources: list[str | None],
                key: list[str]) -> list[tuple[str, str]]:
    """Per item, SQL (ok, value) over the stage's trimmed text: `value` is to be evaluated only where `ok` holds.

    Item i reads `t{i}` (its source column trimmed); a None source means the item has no column.
    """
    out = []
    for i, (it, src) in enumerate(zip(items, sources, strict=True)):
        may_be_empty = str(not it.get("required") and it["name_en"] not in key).lower()
        if src is None:
            out.append((may_be_empty, "NULL"))
            continue
        t = f"t{i}"
        ok, value = _typed(it, t)
        empty = f"{t} IS NULL OR {t} = ''"
        out.append((f"CASE WHEN {empty} THEN {may_be_empty} ELSE ({ok}) END",
                    f"CASE WHEN {empty} THEN NULL ELSE {value} END"))
    return out


__all__ = ["BLOCK", "Plan", "Unsupported", "convert_sql", "database_plan", "file_plan"]
