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
from collections.abc import Callable, Iterator
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
    copy_files: list[tuple[Path, str]] = field(default_factory=list)  # COPY each (path, encoding) instead of fill


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


def _plain_csv(path: Path) -> tuple[list[str], str] | None:
    """(header, PostgreSQL encoding) of a CSV that PostgreSQL's COPY reads exactly as Python's csv reader does.

    That is a file without any quote character (the two readers differ on quotes inside unquoted fields), NUL,
    backslash-dot (COPY's end marker), blank line (csv skips it unnumbered, COPY fails) or carriage return outside
    a CRLF, whose header has two columns or more. One pass over the bytes at memchr speed; None: use the reader.
    """
    enc = c.csv_encoding(path)
    counts = {b'"': 0, b"\x00": 0, b"\\.": 0, b"\n\n": 0, b"\n\r\n": 0, b"\r": 0, b"\r\n": 0}
    tail = b""
    try:
        with path.open("rb") as f:
            first = f.readline()
            f.seek(0)
            while block := f.read(BLOCK):
                data = tail + block  # patterns across the block boundary: the last two bytes come again
                for pat in counts:
                    counts[pat] += data.count(pat) - tail.count(pat)
                tail = data[-2:]
    except OSError:
        return None
    if counts[b'"'] or counts[b"\x00"] or counts[b"\\."] or counts[b"\n\n"] or counts[b"\n\r\n"] \
            or counts[b"\r"] != counts[b"\r\n"] or first.startswith((b"\n", b"\r")):
        return None
    try:
        header = first.decode(enc).rstrip("\r\n").split(",")
    except UnicodeDecodeError:
        return None
    if len(header) < 2:
        return None
    return header, "GB18030" if enc == "gb18030" else "UTF8"


def file_plan(folder: Path, files: list[tuple[int, str]], columns: list[str]) -> Plan:
    """The CSV drop's files in order, read by Python's csv reader with the row path's encoding and row numbers.

    When every file is plain (`_plain_csv`) and all have one header, the files go to PostgreSQL's COPY as they are
    (`Plan.copy_files`, the stage's columns the header's): no Python per row.
    """
    names = [name for _m, name in files]
    plain = [_plain_csv(folder / name) for name in names]
    if names and all(plain) and len({tuple(p[0]) for p in plain if p}) == 1:
        header = plain[0][0] if plain[0] else []
        return Plan(header, lambda cp: None, files=names,
                    copy_files=[(folder / name, p[1]) for name, p in zip(names, plain, strict=True) if p])

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


_ASCII_WS = " \t\n\r\f\v"
def _lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


# code points Python's str.strip removes beyond ASCII whitespace
_PY_ONLY_WS = ", ".join(str(n) for n in (*range(28, 32), 133, 160, 5760, *range(8192, 8203), 8232, 8233, 8239, 8287,
                                         12288))


def _edges_ok(t: str) -> str:
    """SQL: the trimmed text neither starts nor ends with a character Python's str.strip would also remove."""
    return f"ascii({t}) NOT IN ({_PY_ONLY_WS}) AND ascii(right({t}, 1)) NOT IN ({_PY_ONLY_WS})"


def _pushed(item: dict[str, Any], x: str, oid: int, t: str) -> tuple[str, str]:
    """SQL on the source (ok, value) for a typed source column `x` (`t`: it ASCII-trimmed) feeding the item.

    Typed values need no parsing, only the checks `convert` makes: length, empty, range, ties of half-even
    rounding, non-finite values.
    """
    dt = item["data_type"]
    finite = f"{x}::text NOT IN ('NaN', 'Infinity', '-Infinity')"
    if dt in ("C", "M", "G"):
        if oid in _INT:
            return "true", f"{x}::text"
        ok = _edges_ok(t)  # Python-only whitespace at an edge: convert decides
        if dt == "C" and item.get("length"):
            ok += f" AND char_length({t}) <= {int(item['length'])}"
        return ok, f"nullif({t}, '')"
    if dt in ("N", "Y"):
        num = f"{x}::text::numeric" if oid in _FLOAT else f"{x}::numeric"
        if dt == "N":
            return ("true" if oid in _INT else finite), num
        tie = f"abs({num} * 100 - trunc({num} * 100)) = 0.5"  # half-even (convert) and half-up differ on ties only
        ok = f"abs({num}) < 999999999999999999.995" + ("" if oid in _INT else f" AND NOT {tie}")
        return (ok if oid in _INT else f"CASE WHEN {finite} THEN {ok} ELSE false END"), f"round({num}, 2)"
    if dt == "I":
        if oid in _INT:
            return "true", x
        return f"{x}::text ~ '^-?[0-9]{{1,18}}$'", f"{x}::int8"  # convert reads '5.0' as not an integer
    if dt in ("B", "F"):
        return ("true" if oid in _INT | _NUM else finite), f"{x}::float8"
    if dt == "D":
        return f"isfinite({x}) AND {x} >= '0001-01-01'", x
    if dt == "T":
        if oid == 1114:  # naive: Asia/Shanghai's, a fixed +08:00 since 1992
            return f"isfinite({x}) AND {x} >= '1992-01-01'", f"{x} AT TIME ZONE INTERVAL '08:00'"
        return f"isfinite({x}) AND {x} >= '0001-01-01'", x
    return "true", x  # L from boolean


class DatabaseLoad:
    """A PostgreSQL source converted where it lives (the checks and casts pushed into its query).

    One read-only snapshot: the good rows as COPY text in the target's column types, relayed unparsed into the
    target's COPY; the rows the checks did not pass read typed, as the row path reads them, for `convert`. Row
    numbers (`_id` order, reject rows) are the rows' order in the query, the same in both reads (no synchronised
    or parallel scans).
    """

    def __init__(self, url: str, password: str, query: str, cursor: str, items: list[dict[str, Any]],
                 mapping: dict[str, str], key: list[str], after: Any = None) -> None:
        u = make_url(url)
        if not u.drivername.startswith("postgresql"):
            raise Unsupported("not a PostgreSQL source")
        self.u, self.password, self.items, self.mapping, self.key = u, password, items, mapping, key
        self.sql = c.source_query(u.drivername, query)
        self.cursor, self.after = cursor, after  # after: the watermark (rows past it only, as the row path)
        self.order = f' ORDER BY "{cursor}"' if cursor else ""
        self.where = ""
        self.conn: Any = None
        self.mark: Any = None
        self.columns: list[str] = []
        self.good = self.total = -1  # rows the relay sent, rows the query gives

    def open(self) -> None:
        """Connect, start the snapshot, check that every mapped column exists with a type the checks know."""
        import psycopg

        try:
            self.conn = psycopg.connect(host=self.u.host, port=self.u.port or 5432, user=self.u.username,
                                        password=self.password or None, dbname=self.u.database, connect_timeout=10)
            cur = self.conn.cursor()
            cur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            cur.execute("SET LOCAL client_encoding = 'UTF8'; SET LOCAL TIME ZONE 'UTC'; "
                        "SET LOCAL DateStyle = 'ISO, YMD'; SET LOCAL extra_float_digits = 1; "
                        "SET LOCAL synchronize_seqscans = off; SET LOCAL max_parallel_workers_per_gather = 0")
            cur.execute(f"SELECT * FROM ({self.sql}) AS src LIMIT 0")
            have = {d.name: d.type_code for d in cur.description or ()}
            if self.cursor and self.after is not None:  # COPY takes no parameters: the mark as a typed literal
                from psycopg import sql as pgsql

                self.where = f' WHERE "{self.cursor}" > ' + pgsql.Literal(self.after).as_string(self.conn)
        except psycopg.Error as exc:
            raise c.SourceError(str(exc)) from exc
        self.columns = list(have)
        oks, values, trims = [], [], []
        for i, it in enumerate(self.items):
            src = self.mapping[it["name_en"]]
            oid = have.get(src)
            if oid not in _PG_OK[it["data_type"]]:
                raise Unsupported(f"column {src}")
            x, t = '"' + src.replace('"', '""') + '"', f'"__t{i}"'
            if oid in _TEXT:
                trims.append(f", btrim({x}, {_lit(_ASCII_WS)}) AS {t}")
            ok, value = _pushed(it, x, int(oid or 0), t)
            need = it.get("required") or it["name_en"] in self.key
            empty = f"({x} IS NULL" + (f" OR {t} = '')" if oid in _TEXT else ")")
            oks.append(f"CASE WHEN {empty} THEN {'false' if need else 'true'} ELSE ({ok}) END")
            values.append(f"CASE WHEN {empty} THEN NULL ELSE {value} END")
        self.ok = " AND ".join(oks) or "true"
        self.values = values
        # numbered in the query's order, each text trimmed once (OFFSET 0: not inlined into every use)
        self.numbered = (f"SELECT *{''.join(trims)} FROM (SELECT row_number() OVER () AS _n, * FROM (SELECT * FROM "
                         f"({self.sql}) AS src{self.where}{self.order}) AS s) AS s2 OFFSET 0")

    def relay(self, cp: Any, base: int) -> int:
        """COPY the good rows (`_id` = base + row number, then the items' values) into the target's COPY.

        Returns how many rows the query gives in all (the same snapshot): when that is the number of good rows
        the COPY sent, no row failed a check and `bad_rows` need not read the source again.
        """
        import psycopg

        vals = ", ".join(f"CASE WHEN ok THEN v{i} END" for i in range(len(self.values)))
        inner = ", ".join(f"{v} AS v{i}" for i, v in enumerate(self.values))
        sql = (f"COPY (SELECT {base} + _n, {vals} FROM (SELECT _n, ({self.ok}) AS ok, {inner} "
               f"FROM ({self.numbered}) AS q OFFSET 0) AS r WHERE ok) TO STDOUT (FORMAT csv)")  # OFFSET 0: once
        try:
            self.good = _copy_out(self.conn, sql, cp.write)
            with self.conn.cursor() as cur:
                mark = f', max("{self.cursor}")' if self.cursor else ""
                row = cur.execute(f"SELECT count(*){mark} FROM ({self.sql}) AS src{self.where}").fetchone()
                self.total = int(row[0]) if row else 0
                self.mark = row[1] if row and self.cursor else None
        except psycopg.Error as exc:
            raise c.SourceError(str(exc)) from exc
        return self.total

    def bad_rows(self, size: int = 5000) -> Iterator[list[c.SourceRow]]:
        """The rows the checks did not pass, typed as the row path reads them, with their row numbers."""
        import psycopg

        if self.total == self.good:  # every row passed: nothing to read again
            return
        try:
            with self.conn.cursor(name="sync_bad") as cur:
                cols = ", ".join('"' + col.replace('"', '""') + '"' for col in self.columns)
                cur.execute(f"SELECT _n, {cols} FROM ({self.numbered}) AS q WHERE NOT ({self.ok})")
                while chunk := cur.fetchmany(size):
                    yield [c.SourceRow(int(r[0]), dict(zip(self.columns, r[1:], strict=True))) for r in chunk]
        except psycopg.Error as exc:
            raise c.SourceError(str(exc)) from exc

    def close(self) -> None:
        """End the snapshot and the connection."""
        if self.conn is not None:
            self.conn.close()


def copy_files(cur: Any, table: str, cols: list[str], files: list[tuple[Path, str]]) -> None:
    """COPY plain CSV files (`_plain_csv`) into the text stage, numbering rows as the csv reader does.

    Each file's rows get `_file` (its position) and `_row` (2 for the first row under the header) from column
    defaults set before its COPY, a temporary sequence per file. A row of another width is COPY's format error:
    the run goes to the row path (`Unsupported`), as the reader's path does; so does text not in the encoding.
    """
    import psycopg

    for fno, (path, encoding) in enumerate(files):
        seq = f"{table}_r{fno}"
        cur.execute(f'CREATE TEMP SEQUENCE "{seq}" START 2')
        cur.execute(f'ALTER TABLE "{table}" ALTER COLUMN "_row" SET DEFAULT nextval(\'"{seq}"\'), '
                    f'ALTER COLUMN "_file" SET DEFAULT {fno}')
        try:
            with cur.copy(f'COPY "{table}" ({", ".join(cols)}) FROM STDIN (FORMAT csv, HEADER, '
                          f"ENCODING '{encoding}')") as cp, path.open("rb") as f:
                while block := f.read(BLOCK):
                    cp.write(block)
        except (psycopg.errors.BadCopyFileFormat, psycopg.errors.CharacterNotInRepertoire,
                psycopg.errors.UntranslatableCharacter) as exc:
            raise Unsupported(f"{path.name}: {exc}") from exc
        except OSError as exc:
            raise c.SourceError(f"{path.name}: {type(exc).__name__}: {exc}") from exc


def _copy_out(conn: Any, sql: str, write: Callable[[bytes], Any]) -> int:
    """Run `COPY … TO STDOUT` on a psycopg connection, handing its data to `write` in blocks; the rows copied.

    libpq gives COPY data a row at a time; psycopg's iterator costs a few generator steps per row, which at a
    million rows was a whole core's share of the load. This loop asks libpq for each row directly (blocking),
    gathers `BLOCK` bytes and passes them on.
    """
    import psycopg
    from psycopg import pq

    pgconn = conn.pgconn
    pgconn.send_query(sql.encode())
    res = pgconn.get_result()
    if res is None or res.status != pq.ExecStatus.COPY_OUT:
        while pgconn.get_result() is not None:
            pass
        raise psycopg.OperationalError((res.error_message if res is not None else b"").decode(errors="replace")
                                       or "COPY did not start")
    get = pgconn.get_copy_data
    buf = bytearray()
    while True:
        n, data = get(0)
        if n < 0:
            break
        buf += data
        if len(buf) >= BLOCK:
            write(bytes(buf))
            buf.clear()
    if buf:
        write(bytes(buf))
    res = pgconn.get_result()
    while pgconn.get_result() is not None:
        pass
    if n == -2 or res is None or res.status != pq.ExecStatus.COMMAND_OK:
        msg = res.error_message if res is not None else pgconn.error_message
        raise psycopg.OperationalError(msg.decode(errors="replace") or "COPY failed")
    return int(res.command_tuples or 0)


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


def _plain_decimal(t: str) -> str:
    """SQL: `t` is digits with an optional leading minus and one inner point.

    String functions, not a regex: PostgreSQL's regex engine costs microseconds per row.
    """
    marks = f"translate({t}, '0123456789', '')"  # what is not a digit, in order
    return (f"CASE {marks} WHEN '' THEN true WHEN '.' THEN left({t}, 1) <> '.' AND right({t}, 1) <> '.' "
            f"WHEN '-' THEN left({t}, 1) = '-' AND {t} <> '-' "
            f"WHEN '-.' THEN left({t}, 1) = '-' AND substr({t}, 2, 1) <> '.' AND right({t}, 1) <> '.' "
            f"ELSE false END")


# what may follow `YYYY-MM-DD HH:MM:SS` (digits as 9, '-' as '+'): a fraction of 1-6 digits, a zone Z, ±HH or ±HH:MM
_RESTS = tuple(f + z for f in ("", *("." + "9" * n for n in range(1, 7))) for z in ("", "Z", "+99", "+99:99"))


def _rest_ok(rest: str) -> str:
    """SQL: the text after the seconds is a fraction of 1-6 digits, then Z, ±HH or ±HH:MM, each optional.

    The zone's hour is at most 14, its minutes at most 59.
    """
    zone = f"split_part(translate({rest}, '-', '+'), '+', 2)"  # '', 'HH' or 'HH:MM'
    return (f"translate({rest}, '012345678-', '999999999+') IN ({', '.join(repr(x) for x in _RESTS)}) "
            f"AND left({zone}, 2) <= '14' AND right({zone}, 2) <= '59'")


def _date_ok(t: str) -> str:
    """SQL: the first ten characters are a date YYYY-MM-DD (years 1000 to 9999) that exists."""
    ranges = (f"left({t}, 1) <> '0' AND substr({t}, 6, 2) BETWEEN '01' AND '12' "
              f"AND substr({t}, 9, 2) BETWEEN '01' AND '31'")
    return f"CASE WHEN {ranges} THEN {_days_ok(t)} ELSE false END"


def _typed(item: dict[str, Any], t: str) -> tuple[str, str]:
    """SQL (ok, value) for a non-empty trimmed text `t`; `value` is evaluated only where `ok` holds."""
    dt = item["data_type"]
    if dt in ("C", "M", "G"):
        ok = _edges_ok(t)
        if dt == "C" and item.get("length"):
            ok += f" AND char_length({t}) <= {int(item['length'])}"
        return ok, t
    if dt == "D":
        return f"CASE WHEN {_shape(t, '9999-99-99')} THEN {_date_ok(t)} ELSE false END", f"{t}::date"
    if dt == "T":
        head, rest = f"left({t}, 19)", f"substr({t}, 20)"
        aware = f"translate({rest}, '+-Z', '') <> {rest}"
        clock = (f"substr({t}, 12, 2) <= '23' AND substr({t}, 15, 2) <= '59' AND substr({t}, 18, 2) <= '59' "
                 f"AND {_rest_ok(rest)}")
        # a naive time is Asia/Shanghai's, a fixed +08:00 since 1992 (its summer times before: convert decides)
        ok = (f"CASE WHEN {_shape(head, '9999-99-99 99:99:99', '9999-99-99T99:99:99')} AND {clock} "
              f"AND ({aware} OR {t} >= '1992') THEN {_date_ok(t)} ELSE false END")
        return ok, f"(CASE WHEN {aware} THEN {t} ELSE {t} || '+08:00' END)::timestamptz"
    if dt == "N":
        return rf"octet_length({t}) <= 400 AND {t} ~ '^[+-]?[0-9]+(\.[0-9]+)?$'", f"{t}::numeric"
    if dt == "Y":  # half-even ties ('…x5', '…x50…') go to convert: PostgreSQL rounds them away from zero
        # at most 18 digits before the point, and none that rounds up to 10^18
        whole, frac = f"split_part(ltrim({t}, '-'), '.', 1)", f"split_part({t}, '.', 2)"
        ok = (f"octet_length({t}) <= 120 AND {_plain_decimal(t)} AND length({whole}) < 19 "
              f"AND rtrim(substr({frac}, 3), '0') <> '5' AND NOT ({whole} = '{'9' * 18}' AND left({frac}, 3) >= '995')")
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


__all__ = ["BLOCK", "DatabaseLoad", "Plan", "Unsupported", "convert_sql", "copy_files", "file_plan"]
