"""Reading a collection source in batches: databases (SQLAlchemy), file drop folders, HTTP JSON APIs with paging.

Every reader streams: a database through a server-side cursor (`stream_results`), files row by row (CSV, JSON
lines, XLSX in read-only mode, Parquet by record batch), an API page by page. Nothing holds a whole table. Each
yields batches of `SourceRow` (a row number people can find again, and the row as a dict of source columns).

URL checks live here too: a database host or an API host must be on the egress allow-list
(`CITYHUB_EGRESS_ALLOWED_HOSTS`, `kit.egress`), and a SQLite source must be a file under the sources folder.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlglot
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import NullPool

from cityhub.kit import egress, safejson
from cityhub.kit.errors import ValidationFailed
from cityhub.kit.i18n import gettext as _
from cityhub.kit.settings import get_settings

# driver names people write -> the driver this installation uses
_DRIVERS = {"postgresql": "postgresql+psycopg", "postgresql+psycopg": "postgresql+psycopg",
            "mysql": "mysql+pymysql", "mysql+pymysql": "mysql+pymysql", "mariadb": "mysql+pymysql",
            "mariadb+pymysql": "mysql+pymysql", "sqlite": "sqlite"}
_SQL_DIALECT = {"postgresql+psycopg": "postgres", "mysql+pymysql": "mysql", "sqlite": "sqlite"}
FILE_FORMATS = {"csv": (".csv",), "jsonl": (".jsonl", ".ndjson"), "xlsx": (".xlsx",), "parquet": (".parquet",)}
HTTP_MAX_BYTES = 16 * 1024 * 1024  # one page of an API answer
HTTP_MAX_PAGES = 100_000
HTTP_TRANSPORT: Any = None  # tests may put an httpx transport here; the demo and tests use a real loopback server
_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?$")


class SourceError(Exception):
    """The source could not be read (unreachable, refused, malformed): the run fails with this message."""


@dataclass(frozen=True, slots=True)
class SourceRow:
    """One source row: where it is (row number, and the file for drops) and its values by source column."""

    row: int
    values: dict[str, Any]
    file: str = ""


def sources_dir() -> Path:
    """Where SQLite source files must live (a department system's export, or the demo's)."""
    return get_settings().var_dir / "data" / "sources"


# ---------------------------------------------------------------- URL checks


def database_url(raw: str, password: str = "") -> tuple[str, str]:
    """Check a SQLAlchemy URL; return (the URL to store, without password, and the password to encrypt).

    Only the drivers above; no URL query options (they could switch on a driver's file access); a host on the
    egress allow-list; SQLite only for a file under the sources folder.
    """
    try:
        url = make_url(raw.strip())
    except ArgumentError as exc:
        raise ValidationFailed(_("Not a valid database URL"), field="url") from exc
    driver = _DRIVERS.get(url.drivername)
    if driver is None:
        raise ValidationFailed(_("Use a PostgreSQL, MySQL/MariaDB or SQLite URL"), field="url")
    if url.query:
        raise ValidationFailed(_("Database URL options are not accepted"), field="url")
    url = url.set(drivername=driver)
    if driver == "sqlite":
        path = Path(url.database or "")
        root = sources_dir().resolve()
        if not url.database or not path.resolve().is_relative_to(root):
            raise ValidationFailed(_("A SQLite source must be a file in the sources folder"), field="url",
                                   details=[{"field": "url", "message": f"under {root}"}])
        return url.render_as_string(hide_password=False), ""
    if not url.host:
        raise ValidationFailed(_("The database URL needs a host"), field="url")
    egress.check_url(f"http://{url.host}:{url.port or 1}/", field="url", listed_only=True)
    if _is_own_database(url):
        raise ValidationFailed(_("cityhub's own database is not a source"), field="url")
    secret = password or (url.password or "")
    bare = URL.create(driver, username=url.username, host=url.host, port=url.port, database=url.database)
    return bare.render_as_string(hide_password=False), str(secret)


def _is_own_database(url: URL) -> bool:
    """Whether a source URL names the platform's own database (an allow-listed host must not open it)."""
    own = make_url(get_settings().effective_database_url)
    if own.drivername.startswith("sqlite"):
        return False
    default_port = {"postgresql": 5432, "mysql": 3306}
    family = url.drivername.split("+")[0]

    def port(u: URL) -> int:
        return u.port or default_port.get(u.drivername.split("+")[0], 0)

    return (family == own.drivername.split("+")[0] and (url.database or "") == (own.database or "")
            and port(url) == port(own))


def http_url(raw: str) -> str:
    """An API source's URL: http(s) to a host on the egress allow-list."""
    return egress.check_url(raw.strip(), field="url", listed_only=True)


def source_query(driver: str, query: str) -> str:
    """A table name becomes `SELECT *`; otherwise exactly one SELECT statement (read only, checked by parsing)."""
    q = query.strip().rstrip(";").strip()
    if _TABLE.match(q):
        quoted = ".".join(_quote(driver, part) for part in q.split("."))
        return f"SELECT * FROM {quoted}"
    try:
        trees = [t for t in sqlglot.parse(q, read=_SQL_DIALECT.get(driver)) if t is not None]
    except sqlglot.errors.ParseError as exc:
        raise ValidationFailed(_("Not a table name or a SELECT statement"), field="query") from exc
    if len(trees) != 1 or not isinstance(trees[0], sqlglot.exp.Query):
        raise ValidationFailed(_("Not a table name or a SELECT statement"), field="query")
    return q


def _quote(driver: str, ident: str) -> str:
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$", ident):
        raise ValidationFailed(_("Not a column name"), field="cursor_column")
    return f"`{ident}`" if driver.startswith("mysql") else f'"{ident}"'


# ---------------------------------------------------------------- watermarks


def encode_mark(value: Any) -> dict[str, Any] | None:
    """A cursor value as JSON with its type, so the next run compares like with like."""
    if value is None:
        return None
    if isinstance(value, bool):
        return {"type": "int", "value": int(value)}
    if isinstance(value, int):
        return {"type": "int", "value": value}
    if isinstance(value, float):
        return {"type": "float", "value": value}
    if isinstance(value, Decimal):
        return {"type": "decimal", "value": str(value)}
    if isinstance(value, datetime):
        return {"type": "datetime", "value": value.isoformat()}
    if isinstance(value, date):
        return {"type": "date", "value": value.isoformat()}
    return {"type": "str", "value": str(value)}


def decode_mark(mark: dict[str, Any] | None) -> Any:
    """The cursor value of an encoded watermark."""
    if not mark:
        return None
    t, v = mark.get("type"), mark.get("value")
    if t == "datetime":
        return datetime.fromisoformat(str(v))
    if t == "date":
        return date.fromisoformat(str(v))
    if t == "decimal":
        return Decimal(str(v))
    return v


def after_mark(value: Any, mark: Any) -> bool:
    """Is a cursor value past the watermark (rows from files and APIs are filtered here)."""
    if mark is None:
        return True
    if value is None:
        return False
    try:
        if isinstance(mark, datetime) and not isinstance(value, datetime):
            value = datetime.fromisoformat(str(value))
        elif isinstance(mark, int | float | Decimal) and not isinstance(value, int | float | Decimal):
            value = Decimal(str(value))
        return bool(value > mark)
    except (TypeError, ValueError):
        return str(value) > str(mark)


# ---------------------------------------------------------------- readers


def read_database(url: str, password: str, query: str, cursor: str, mark: Any,
                  batch: int) -> Iterator[list[SourceRow]]:
    """Stream a table or SELECT, past the watermark and in cursor order when incremental."""
    u: URL = make_url(url)
    if password:
        u = u.set(password=password)
    driver = u.drivername
    sql = source_query(driver, query)
    params: dict[str, Any] = {}
    if cursor:
        col = _quote(driver, cursor)
        sql = f"SELECT * FROM ({sql}) AS src" + (f" WHERE {col} > :wm" if mark is not None else "") + \
            f" ORDER BY {col}"
        if mark is not None:
            params["wm"] = mark
    connect_args: dict[str, Any] = {"connect_timeout": 10} if driver != "sqlite" else {}
    if driver == "sqlite":
        u = u.set(database=f"file:{u.database}?mode=ro", query={"uri": "true"})
    engine = create_engine(u, poolclass=NullPool, connect_args=connect_args)
    n = 0
    try:
        with engine.connect() as conn:
            if driver.startswith("postgresql"):
                conn.execute(text("SET TRANSACTION READ ONLY"))
            elif driver.startswith("mysql"):
                conn.execute(text("SET SESSION TRANSACTION READ ONLY"))
            result = conn.execution_options(stream_results=True, yield_per=batch).execute(text(sql), params)
            keys = list(result.keys())
            for part in result.partitions(batch):
                out = []
                for r in part:
                    n += 1
                    out.append(SourceRow(n, dict(zip(keys, r, strict=True))))
                yield out
    finally:
        engine.dispose()


def csv_encoding(path: Path) -> str:
    """A dropped CSV's encoding: UTF-8 (a BOM dropped) unless its first 64 KB are not, then GB 18030."""
    with path.open("rb") as f:
        head = f.read(1 << 16)
    try:
        head.decode("utf-8")
        return "utf-8-sig"
    except UnicodeDecodeError as exc:  # a multi-byte character cut at the end of the sample is still UTF-8
        return "gb18030" if exc.start < len(head) - 4 else "utf-8-sig"


def _csv_rows(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding=csv_encoding(path), newline="") as f:
        yield from csv.DictReader(f)


def _jsonl_rows(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            obj = safejson.loads(line, field="file")
            yield obj if isinstance(obj, dict) else {"_": obj}


def _xlsx_rows(path: Path) -> Iterator[dict[str, Any]]:
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True, data_only=True)
    try:
        rows = wb.worksheets[0].iter_rows(values_only=True)
        header = [str(h).strip() if h is not None else "" for h in next(rows, ())]
        for r in rows:
            if any(v is not None for v in r):
                yield dict(zip(header, r, strict=False))
    finally:
        wb.close()


def _parquet_rows(path: Path) -> Iterator[dict[str, Any]]:
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    for rb in pf.iter_batches(batch_size=10_000):
        yield from rb.to_pylist()


_FILE_READERS = {"csv": _csv_rows, "jsonl": _jsonl_rows, "xlsx": _xlsx_rows, "parquet": _parquet_rows}


def drop_files(folder: Path, fmt: str, after: tuple[int, str] | None) -> list[tuple[int, str]]:
    """Files of the format in the folder newer than the watermark, oldest first, as (mtime_ns, name)."""
    if not folder.is_dir():
        return []
    exts = FILE_FORMATS[fmt]
    out = []
    for p in folder.iterdir():
        if p.is_file() and p.suffix.lower() in exts and not p.name.startswith("."):
            k = (p.stat().st_mtime_ns, p.name)
            if after is None or k > after:
                out.append(k)
    return sorted(out)


def read_files(folder: Path, fmt: str, files: list[tuple[int, str]], cursor: str, mark: Any,
               batch: int) -> Iterator[list[SourceRow]]:
    """Rows of the dropped files in order, a row number per file (the header is row 1 of a CSV or sheet)."""
    reader = _FILE_READERS[fmt]
    first = 2 if fmt in ("csv", "xlsx") else 1
    out: list[SourceRow] = []
    for _mtime, name in files:
        try:
            for i, values in enumerate(reader(folder / name), start=first):
                if cursor and not after_mark(values.get(cursor), mark):
                    continue
                out.append(SourceRow(i, values, name))
                if len(out) >= batch:
                    yield out
                    out = []
        except (OSError, UnicodeDecodeError, csv.Error, ValidationFailed, ValueError) as exc:
            raise SourceError(f"{name}: {type(exc).__name__}: {exc}") from exc
    if out:
        yield out


def read_http(url: str, headers: dict[str, str], options: dict[str, Any], cursor: str, mark: Any,
              batch: int) -> Iterator[list[SourceRow]]:
    """Page through a JSON API: `page_param`/`size_param` (defaults page, size), records under `records`."""
    import httpx

    page = int(options.get("first_page", 1))
    size = int(options.get("page_size", 100))
    key = str(options.get("records", "records"))
    page_param, size_param = str(options.get("page_param", "page")), str(options.get("size_param", "size"))
    n = 0
    out: list[SourceRow] = []
    egress.check_url(url, field="url", listed_only=True)
    with egress.client(timeout=30, listed_only=True, transport=HTTP_TRANSPORT) as client:
        for _ in range(HTTP_MAX_PAGES):
            try:
                with client.stream("GET", url, params={page_param: page, size_param: size},
                                   headers=headers) as resp:
                    resp.raise_for_status()
                    raw = bytearray()
                    for chunk in resp.iter_bytes():
                        raw += chunk
                        if len(raw) > HTTP_MAX_BYTES:
                            raise SourceError(f"page {page}: answer over {HTTP_MAX_BYTES} bytes")
                body = safejson.loads(bytes(raw), max_bytes=HTTP_MAX_BYTES, field="source")
            except (httpx.HTTPError, ValidationFailed) as exc:
                raise SourceError(f"page {page}: {type(exc).__name__}: {exc}") from exc
            records = body.get(key) if isinstance(body, dict) else body
            if not isinstance(records, list):
                raise SourceError(f"page {page}: no list under {key!r}")
            for rec in records:
                n += 1
                values = rec if isinstance(rec, dict) else {"_": rec}
                if cursor and not after_mark(values.get(cursor), mark):
                    continue
                out.append(SourceRow(n, values))
                if len(out) >= batch:
                    yield out
                    out = []
            if len(records) < size:
                break
            page += 1
    if out:
        yield out


def describe(exc: BaseException) -> str:
    """A run's error message: the exception's first line, without credentials in any URL it quotes."""
    msg = str(exc).splitlines()[0] if str(exc) else ""
    msg = re.sub(r"(\w+://)[^/@\s]+@", r"\1***@", msg)
    return f"{type(exc).__name__}: {msg}"[:1000]


def load_json_object(raw: str) -> dict[str, Any]:
    """A JSON object from text kept in the database (options, decrypted headers)."""
    obj = safejson.loads(raw, field="credentials") if raw else {}
    return obj if isinstance(obj, dict) else {}


__all__ = ["FILE_FORMATS", "SourceError", "SourceRow", "csv_encoding", "database_url", "decode_mark", "describe",
           "drop_files", "encode_mark", "http_url", "read_database", "read_files", "read_http", "source_query",
           "sources_dir"]
