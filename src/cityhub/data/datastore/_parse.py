"""Reading uploads: CSV (UTF-8 or GBK/GB18030) and XLSX, bounded; cells converted to their items' data types.

Rows, columns and the unpacked size of a workbook are bounded; a bad cell is a readable error per row and column.

Internal to the datastore capability (not re-exported by the domain's service façade).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation, localcontext
from typing import IO, Any
from zoneinfo import ZoneInfo

from cityhub.kit.errors import ValidationFailed
from cityhub.kit.i18n import gettext as _
from cityhub.kit.settings import get_settings

MAX_REPORTED_ERRORS = 200
_TZ_LOCAL = "Asia/Shanghai"
_TRUE = {"1", "true", "t", "y", "yes", "是", "真"}
_FALSE = {"0", "false", "f", "n", "no", "否", "假"}


def _to_date(v: Any) -> date:
    if isinstance(v, datetime):
        return v.date()
    if isinstance(v, date):
        return v
    s = str(v).strip()
    if len(s) == 10 and s[4] == "-" and s[7] == "-":  # YYYY-MM-DD: the C parser (strptime is ~20x slower)
        try:
            return date.fromisoformat(s)
        except ValueError:
            pass
    for fmt in ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y.%m.%d", "%Y年%m月%d日"):
        try:
            return datetime.strptime(s, fmt).date()
        except ValueError:
            continue
    raise ValueError("not a date (YYYY-MM-DD)")


def _to_datetime(v: Any) -> datetime:
    if isinstance(v, datetime):
        dt = v
    else:
        s = str(v).strip().replace("/", "-")
        try:
            dt = datetime.fromisoformat(s)
        except ValueError as exc:
            raise ValueError("not a date-time (YYYY-MM-DD HH:MM:SS)") from exc
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=ZoneInfo(_TZ_LOCAL))
    return dt.astimezone(UTC)


MONEY_DIGITS = 18  # NUMERIC(20,2): 18 digits before the decimal point
_NUMERIC_DIGITS, _NUMERIC_SCALE = 131072, 16383  # PostgreSQL NUMERIC's limits (SQLite keeps text)
_CENTS = Decimal("0.01")


def _money(d: Decimal) -> Decimal:
    """An amount (Y) rounded to cents; more than 18 digits before the point is out of range (never an overflow)."""
    if d.adjusted() >= MONEY_DIGITS:
        raise ValueError(f"out of range (at most {MONEY_DIGITS} digits before the decimal point)")
    with localcontext() as ctx:
        ctx.prec = MONEY_DIGITS + 4
        q = d.quantize(_CENTS)
    if q.adjusted() >= MONEY_DIGITS:  # 999…9.995 rounds up to 10^18
        raise ValueError(f"out of range (at most {MONEY_DIGITS} digits before the decimal point)")
    return q


def _numeric(d: Decimal) -> Decimal:
    """A number (N) within PostgreSQL NUMERIC's range: '1E+99' is 10^99, '1E+999999' is out of range."""
    exponent = d.as_tuple().exponent  # an int for a finite number ('n', 'N', 'F' only for NaN and infinity)
    if d.adjusted() >= _NUMERIC_DIGITS or (isinstance(exponent, int) and -exponent > _NUMERIC_SCALE):
        raise ValueError("out of range")
    return d


def convert(item: dict[str, Any], raw: Any) -> Any:  # noqa: C901  # one branch per data type of the information-item standard
    """One cell converted to the information item's data type; raises ValueError with a readable message."""
    if raw is None or (isinstance(raw, str) and raw.strip() == ""):
        if item.get("required"):
            raise ValueError("required")
        return None
    t = item["data_type"]
    if t in ("C", "M", "G"):
        s = raw if isinstance(raw, str) else (raw.isoformat() if isinstance(raw, date) else str(raw))
        if isinstance(raw, float) and raw.is_integer():
            s = str(int(raw))
        s = s.strip()
        if t == "C" and item.get("length") and len(s) > int(item["length"]):
            raise ValueError(f"longer than {item['length']} characters")
        return s
    if t in ("N", "Y"):
        try:
            d = Decimal(str(raw).strip().replace(",", "").replace("¥", ""))
        except InvalidOperation as exc:
            raise ValueError("not a number") from exc
        if not d.is_finite():
            raise ValueError("not a number")
        return _money(d) if t == "Y" else _numeric(d)
    if t == "I":
        if isinstance(raw, float):
            if not raw.is_integer():
                raise ValueError("not an integer")
            raw = int(raw)
        try:
            n = raw if isinstance(raw, int) else int(str(raw).strip())
        except ValueError as exc:
            raise ValueError("not an integer") from exc
        if not -(2**63) <= n < 2**63:
            raise ValueError("out of range (a 64-bit integer)")
        return n
    if t in ("B", "F"):
        try:
            f = float(str(raw).strip())
        except ValueError as exc:
            raise ValueError("not a number") from exc
        if not math.isfinite(f):  # '1E+999' reads as infinity: refused, as 'inf' and 'nan' are
            raise ValueError("out of range (not a finite number)")
        return f
    if t == "D":
        return _to_date(raw)
    if t == "T":
        return _to_datetime(raw)
    if t == "L":
        if isinstance(raw, bool):
            return raw
        s = str(raw).strip().lower()
        if s in _TRUE:
            return True
        if s in _FALSE:
            return False
        raise ValueError("not a yes/no value")
    raise ValueError(f"unknown data type {t}")  # pragma: no cover - schema restricts data types


def detect_encoding(sample: bytes) -> str:
    """UTF-8 (with or without BOM) or GB18030 (covers GBK/GB2312), via charset-normalizer; else an error."""
    if sample.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    cut = sample[: sample.rfind(b"\n") + 1] or sample  # do not split a multi-byte character at the end
    try:
        cut.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(cut).best()
    guess = (best.encoding if best else "").lower().replace("-", "_")
    if guess in ("gb2312", "gbk", "gb18030", "cp936", "hz") or not guess:
        pass
    try:
        cut.decode("gb18030")
        return "gb18030"
    except UnicodeDecodeError as exc:
        raise ValidationFailed(_("The file is neither UTF-8 nor GBK/GB18030 text"), field="file",
                               details=[{"field": "file", "message": f"detected {guess or 'unknown'}"}]) from exc


MAX_UPLOAD_COLUMNS = 1000  # an entry has far fewer information items; wider rows are cut, a wider header refused


def _too_many_rows(limit: int) -> ValidationFailed:
    return ValidationFailed(_("The file has more than {limit} rows", limit=limit), field="file")


def _check_unpacked_size(stream: IO[bytes]) -> None:
    """Refuse a workbook whose parts unpack to more than the configured total (a zip bomb), before reading it.

    The sizes are the ones the archive declares; zipfile never inflates a part past its declared size (it stops
    there and fails the CRC), so the sum bounds what openpyxl can be made to read.
    """
    import zipfile

    limit = get_settings().upload_max_unpacked_bytes
    try:
        with zipfile.ZipFile(stream) as archive:
            total = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ValidationFailed(_("Not a readable XLSX workbook"), field="file") from exc
    if total > limit:
        raise ValidationFailed(_("The workbook unpacks to more than {limit} bytes", limit=limit), field="file",
                               details=[{"field": "file", "message": f"{total} bytes uncompressed"}])


def read_table(stream: IO[bytes], filename: str) -> tuple[str, list[str], Iterator[tuple[int, list[Any]]]]:  # noqa: C901  # format and encoding sniffing (CSV, XLSX, BOMs) in one place
    """Encoding, header and a row iterator (row number, cells) of a CSV or XLSX upload."""
    stream.seek(0)
    head = stream.read(4)
    stream.seek(0)
    max_rows = get_settings().upload_max_rows
    if filename.lower().endswith((".xlsx", ".xlsm")) or head == b"PK\x03\x04":
        from openpyxl import load_workbook

        _check_unpacked_size(stream)
        stream.seek(0)
        try:
            wb = load_workbook(stream, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds on corrupt files
            raise ValidationFailed(_("Not a readable XLSX workbook"), field="file") from exc
        ws = wb.worksheets[0]
        # The <dimension> a file declares is not believed: "A1:XFD1048576" would pad every row to 16,384 cells.
        ws.reset_dimensions()
        rows = ws.iter_rows(values_only=True)
        header_row = next(rows, None)
        if header_row is None:
            raise ValidationFailed(_("The sheet is empty"), field="file")
        if len(header_row) > MAX_UPLOAD_COLUMNS:
            raise ValidationFailed(_("More than {limit} columns", limit=MAX_UPLOAD_COLUMNS), field="file")
        header = [str(c).strip() if c is not None else "" for c in header_row]

        def xl() -> Iterator[tuple[int, list[Any]]]:
            for n, r in enumerate(rows, start=2):
                if n > max_rows + 1:  # rows skipped as empty count too: each costs a step
                    raise _too_many_rows(max_rows)
                if r is None or all(c is None for c in r[:MAX_UPLOAD_COLUMNS]):
                    continue
                yield n, list(r[:MAX_UPLOAD_COLUMNS])
            wb.close()

        return "xlsx", header, xl()
    encoding = detect_encoding(stream.read(1 << 20))
    stream.seek(0)
    wrapper = io.TextIOWrapper(stream, encoding=encoding, newline="")
    reader = csv.reader(wrapper)
    try:
        header = [h.strip() for h in next(reader, [])]
    except UnicodeDecodeError as exc:
        raise ValidationFailed(_("The file is not valid text in the detected encoding"), field="file") from exc
    except csv.Error as exc:  # e.g. a field over csv.field_size_limit()
        raise ValidationFailed(_("The file is not readable CSV"), field="file",
                               details=[{"field": "file", "row": 1, "message": str(exc)[:200]}]) from exc
    if len(header) > MAX_UPLOAD_COLUMNS:
        wrapper.detach()
        raise ValidationFailed(_("More than {limit} columns", limit=MAX_UPLOAD_COLUMNS), field="file")
    if not header:
        wrapper.detach()
        raise ValidationFailed(_("The file is empty"), field="file")

    def rows_csv() -> Iterator[tuple[int, list[Any]]]:
        try:
            for n, r in enumerate(reader, start=1):
                if n > max_rows:
                    raise _too_many_rows(max_rows)
                if not any(c.strip() for c in r):
                    continue
                yield reader.line_num, r
        except UnicodeDecodeError as exc:
            raise ValidationFailed(_("The file is not valid text in the detected encoding"), field="file",
                                   details=[{"field": "file", "row": reader.line_num + 1,
                                             "message": f"bytes invalid as {encoding}"}]) from exc
        except csv.Error as exc:
            raise ValidationFailed(_("The file is not readable CSV"), field="file",
                                   details=[{"field": "file", "row": reader.line_num + 1,
                                             "message": str(exc)[:200]}]) from exc
        finally:
            wrapper.detach()

    return encoding, header, rows_csv()


def map_header(header: list[str], items: list[dict[str, Any]]) -> tuple[list[int | None], list[dict[str, Any]]]:
    """Column index of each item in the file (by English or Chinese name) and header errors."""
    index: dict[str, int] = {}
    for i, h in enumerate(header):
        index.setdefault(h, i)
        index.setdefault(h.lower(), i)
    errors: list[dict[str, Any]] = []
    known = {it["name_en"] for it in items} | {it["name_cn"] for it in items}
    for h in header:
        if h and h not in known and h.lower() not in known:
            errors.append({"row": 1, "column": h, "message": "column is not an information item of the entry"})
    positions: list[int | None] = []
    for it in items:
        pos = index.get(it["name_en"], index.get(it["name_cn"]))
        if pos is None and it.get("required"):
            errors.append({"row": 1, "column": it["name_en"], "message": "required column missing"})
        positions.append(pos)
    return positions, errors


def converted_rows(rows: Iterator[tuple[int, list[Any]]], items: list[dict[str, Any]],
                    positions: list[int | None], errors: list[dict[str, Any]] | None,
                    counter: dict[str, int]) -> Iterator[list[Any]]:
    for rownum, cells in rows:
        counter["total"] += 1
        out: list[Any] = []
        bad = False
        for it, pos in zip(items, positions, strict=True):
            raw = cells[pos] if pos is not None and pos < len(cells) else None
            try:
                out.append(convert(it, raw))
            except ValueError as exc:
                bad = True
                if errors is not None and len(errors) < MAX_REPORTED_ERRORS:
                    errors.append({"row": rownum, "column": it["name_en"], "value": str(raw)[:50],
                                   "message": str(exc)})
        if bad:
            counter["bad"] += 1
            continue
        yield out
