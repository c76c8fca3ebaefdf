"""The columnar load path: a PostgreSQL source table or a UTF-8 CSV drop into a PostgreSQL datastore table.

The row path (`sync.execute`) converts every cell in Python; here the source is read as CSV text in Arrow record
batches (a PostgreSQL source through `COPY (query) TO STDOUT` into a temporary file, a drop file directly), each
column is checked with `pyarrow.compute` against strict canonical forms, and the batch is written back as CSV text
with `COPY … FROM STDIN`. The rules stay one: a cell is passed vectorised only in a form whose value PostgreSQL
reads exactly as `datastore._parse.convert` would (an ISO date that survives a round trip, a plain decimal, a
timestamp with an offset …); any other row goes through `convert` one by one (its value or its reject message).
`test_columnar_and_row_paths_agree` loads the same awkward rows both ways.

Memory is bounded: Arrow reads `BLOCK_BYTES` at a time and every batch is written before the next is read.
Anything structural the row path would read differently (a ragged CSV row, a repeated header, a source column type
not in `_PG_OK`) raises `Unsupported` and the run is done again on the row path.
"""

from __future__ import annotations

import codecs
import csv
import io
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from cityhub.data.collection import connectors as c

BLOCK_BYTES = 4 << 20  # one Arrow record batch's CSV text (~50,000 rows of a narrow table)
ENABLED = True  # tests switch the path off to compare it with the row path

# PostgreSQL source column types (OIDs) whose text form the columnar checks read as the row path reads the value
_TEXT, _INT, _NUM, _FLOAT = {25, 1043, 1042}, {20, 21, 23}, {1700}, {701}
_PG_OK: dict[str, set[int]] = {
    "C": _TEXT | _INT, "M": _TEXT | _INT, "G": _TEXT | _INT, "N": _INT | _NUM | _FLOAT, "Y": _INT | _NUM | _FLOAT,
    "I": _INT | _NUM, "B": _INT | _NUM | _FLOAT, "F": _INT | _NUM | _FLOAT, "D": {1082}, "T": {1184, 1114},
    "L": {16}}
_ASCII_WS = " \t\n\r\f\v"
# characters Python's str.strip removes that an ASCII trim keeps: such a cell goes through `convert`
_PY_WS = "\\x{1c}-\\x{1f}\\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}"
_ODD_EDGE = f"^[{_PY_WS}]|[{_PY_WS}]$"
_DATE = r"^[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}$"
_TS = (r"^(?P<dt>[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.[0-9]{1,6})?"
       r"(?P<tz>Z|[+-](?:0[0-9]|1[0-4])(?::[0-5][0-9])?)?$")
_INT_RE = r"^[+-]?[0-9]{1,18}$"
_NUM_RE = r"^[+-]?[0-9]{1,200}(?:\.[0-9]{1,200})?$"
_MONEY_RE = r"^-?[0-9]{1,18}(?:\.[0-9]{1,18})?$"
_FLOAT_RE = r"^[+-]?(?:[0-9]{1,300}(?:\.[0-9]{0,300})?|\.[0-9]{1,300})(?:[eE][+-]?[0-9]{1,2})?$"
_TRUE = ["1", "true", "t", "y", "yes", "是", "真"]  # datastore._parse's words
_FALSE = ["0", "false", "f", "n", "no", "否", "假"]


class Unsupported(Exception):
    """The source has something the columnar path does not read as the row path does: use the row path."""


@dataclass
class Batch:
    """One Arrow record batch of source text, the row number of its first row, and its file (drops)."""

    data: Any  # pyarrow.RecordBatch
    first_row: int
    file: str = ""


@dataclass
class Source:
    """Columnar batches of a source and, for an incremental first run, the cursor's largest value read."""

    batches: Iterator[Batch]
    mark: list[Any] = field(default_factory=list)  # filled after the last batch (database sources)


def _csv_batches(f: Any, name: str, first: int = 2) -> Iterator[Batch]:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    head = f.read(1 << 16)
    f.seek(0)
    try:
        header = next(csv.reader(io.StringIO(codecs.decode(head, "utf-8-sig", errors="ignore"))))
    except StopIteration:
        return
    if len(set(header)) != len(header) or any(not h for h in header):
        raise Unsupported("a repeated or empty column name")

    def ragged(_row: Any) -> str:
        return "error"

    row = first  # a drop's header is row 1 (its first row 2); a database's first row is 1, as on the row path
    try:
        reader = pcsv.open_csv(
            f, read_options=pcsv.ReadOptions(block_size=BLOCK_BYTES, use_threads=False),
            parse_options=pcsv.ParseOptions(newlines_in_values=True, invalid_row_handler=ragged),
            convert_options=pcsv.ConvertOptions(column_types=dict.fromkeys(header, pa.string()),
                                                strings_can_be_null=False))
        for rb in reader:
            if rb.num_rows:
                yield Batch(rb, row, name)
                row += rb.num_rows
    except pa.ArrowInvalid as exc:
        raise Unsupported(str(exc)) from exc


def file_source(folder: Path, files: list[tuple[int, str]]) -> Source:
    """A CSV drop's files in order; a file that is not UTF-8 sends the run to the row path."""
    for _mtime, name in files:
        with (folder / name).open("rb") as f:
            head = f.read(1 << 16)
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(head) - 4:  # GB 18030 (the row path decodes it)
                raise Unsupported("not UTF-8") from exc

    def gen() -> Iterator[Batch]:
        for _mtime, name in files:
            try:
                with (folder / name).open("rb") as f:
                    yield from _csv_batches(f, name)
            except OSError as exc:
                raise c.SourceError(f"{name}: {type(exc).__name__}: {exc}") from exc

    return Source(gen())


def database_source(url: str, password: str, query: str, cursor: str, mapping: dict[str, str],
                    types: list[tuple[str, str]]) -> Source:
    """A PostgreSQL source read with COPY into a temporary file, in one read-only snapshot with its cursor's max.

    `types` maps each source column to the data type of the item it feeds: a column whose PostgreSQL type is not
    one the checks read like the row path raises `Unsupported` before anything is copied.
    """
    import psycopg

    u = make_url(url)
    if not u.drivername.startswith("postgresql"):
        raise Unsupported("not a PostgreSQL source")
    sql = c.source_query(u.drivername, query)
    order = ""
    if cursor:
        order = f' ORDER BY "{cursor}"'
    out = Source(iter(()))

    def gen() -> Iterator[Batch]:
        try:
            conn = psycopg.connect(host=u.host, port=u.port or 5432, user=u.username, password=password or None,
                                   dbname=u.database, connect_timeout=10)
        except psycopg.Error as exc:
            raise c.SourceError(str(exc)) from exc
        try:
            with conn.cursor() as cur:
                cur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                cur.execute("SET LOCAL TIME ZONE 'UTC'; SET LOCAL DateStyle = 'ISO, YMD'; "
                            "SET LOCAL extra_float_digits = 1")
                cur.execute(f"SELECT * FROM ({sql}) AS src LIMIT 0")  # a parsed SELECT or table
                cols = {d.name: d.type_code for d in cur.description or ()}
                for src, data_type in types:
                    if src in cols and cols[src] not in _PG_OK[data_type]:
                        raise Unsupported(f"column {src}")
                with tempfile.TemporaryFile() as f:
                    with cur.copy(f"COPY (SELECT * FROM ({sql}) AS src{order}) TO STDOUT (FORMAT csv, HEADER)") as cp:
                        for block in cp:
                            f.write(block)
                    if cursor:
                        row = cur.execute(f'SELECT max("{cursor}") FROM ({sql}) AS src').fetchone()
                        out.mark.append(row[0] if row else None)
                    cur.execute("COMMIT")
                    f.seek(0)
                    yield from _csv_batches(f, "", first=1)
        except psycopg.Error as exc:
            raise c.SourceError(str(exc)) from exc
        finally:
            conn.close()

    out.batches = gen()
    return out


# ---------------------------------------------------------------- vectorised checks


def _column(pc: Any, item: dict[str, Any], raw: Any) -> tuple[Any, Any]:
    """(text PostgreSQL reads as `convert`'s value, null for empty; whether the vectorised form holds)."""
    import pyarrow as pa

    t, required = item["data_type"], bool(item.get("required"))
    s = pc.utf8_trim(raw, characters=_ASCII_WS)
    empty = pc.equal(pc.binary_length(s), 0)
    odd = pc.match_substring_regex(s, _ODD_EDGE)
    null = pa.scalar(None, pa.string())
    if t in ("C", "M", "G"):
        ok = pc.invert(odd)
        if t == "C" and item.get("length"):
            ok = pc.and_(ok, pc.less_equal(pc.utf8_length(s), int(item["length"])))
        value = s
    elif t == "D":
        p = pc.strptime(s, format="%Y-%m-%d", unit="s", error_is_null=True)
        same = pc.fill_null(pc.equal(pc.strftime(p, format="%Y-%m-%d"), s), False)
        ok, value = pc.and_(pc.match_substring_regex(s, _DATE), same), s
    elif t == "T":
        m = pc.extract_regex(s, _TS)
        dt = pc.replace_substring(pc.struct_field(m, "dt"), "T", " ")
        p = pc.strptime(dt, format="%Y-%m-%d %H:%M:%S", unit="s", error_is_null=True)
        same = pc.fill_null(pc.equal(pc.strftime(p, format="%Y-%m-%d %H:%M:%S"), dt), False)
        aware = pc.fill_null(pc.greater(pc.binary_length(pc.struct_field(m, "tz")), 0), False)
        # a naive time is Asia/Shanghai's, a fixed +08:00 since 1992 (earlier years had summer time: row path)
        recent = pc.fill_null(pc.greater_equal(pc.utf8_slice_codeunits(dt, 0, 4), "1992"), False)
        ok = pc.and_(same, pc.or_(aware, recent))
        value = pc.if_else(aware, s, pc.binary_join_element_wise(s, "+08:00", ""))
    elif t in ("N", "I", "B", "F"):
        pattern = {"N": _NUM_RE, "I": _INT_RE}.get(t, _FLOAT_RE)
        ok, value = pc.match_substring_regex(s, pattern), s
    elif t == "Y":
        m = pc.match_substring_regex(s, _MONEY_RE)
        d = pc.cast(pc.if_else(m, s, "0"), pa.decimal128(38, 18))
        r = pc.round(d, ndigits=2, round_mode="half_to_even")
        value = pc.cast(pc.cast(r, pa.decimal128(38, 2)), pa.string())
        ok = pc.and_(m, pc.invert(pc.match_substring_regex(value, "^-?[0-9]{19}")))  # 999…9.995 → 10^18
    else:  # L
        low = pc.utf8_lower(s)
        yes, no = pc.is_in(low, value_set=pa.array(_TRUE)), pc.is_in(low, value_set=pa.array(_FALSE))
        ok = pc.or_(yes, no)
        value = pc.if_else(yes, "t", "f")
    ok = pc.or_(pc.and_(empty, pa.scalar(not required)), pc.and_(pc.invert(empty), pc.fill_null(ok, False)))
    return pc.if_else(empty, null, value), ok


def convert_batch(rb: Any, items: list[dict[str, Any]], mapping: dict[str, str],
                  key: list[str]) -> tuple[list[Any], Any]:
    """The batch's item columns as PostgreSQL-ready text, and which rows passed every vectorised check."""
    import pyarrow as pa
    import pyarrow.compute as pc

    names = set(rb.schema.names)
    n = rb.num_rows
    cols, ok = [], pa.array([True] * n)
    for it in items:
        src = mapping.get(it["name_en"], "")
        raw = rb.column(src) if src in names else pa.array([""] * n, pa.string())
        value, good = _column(pc, it, raw)
        if it["name_en"] in key:
            good = pc.and_(good, pc.is_valid(value))
        cols.append(value)
        ok = pc.and_(ok, good)
    return cols, ok


def render(item: dict[str, Any], value: Any) -> str | None:
    """A converted value as the text COPY reads back as the same value (rows that went through `convert`)."""
    if value is None:
        return None
    t = item["data_type"]
    if t == "L":
        return "t" if value else "f"
    if t in ("D", "T"):
        return str(value.isoformat())
    if t in ("B", "F"):
        return repr(value)
    return str(value)


__all__ = ["BLOCK_BYTES", "Batch", "Source", "Unsupported", "convert_batch", "database_source", "file_source",
           "render"]
