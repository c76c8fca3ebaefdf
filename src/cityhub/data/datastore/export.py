"""Tables as files: CSV with a BOM (Excel reads Chinese text right) and one-sheet XLSX; a refused upload's report.

Internal to the data domain (the list exports and grant downloads use it); not on the service façade.
"""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

from cityhub.data.models import DataLoad


def to_csv(header: list[str], rows: list[list[Any]]) -> bytes:
    """CSV bytes with a UTF-8 BOM (Excel opens Chinese text correctly)."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(rows)
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def to_xlsx(title: str, header: list[str], rows: list[list[Any]]) -> bytes:
    """An XLSX workbook of one sheet."""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title[:31])
    ws.append(header)
    for r in rows:
        ws.append([str(v) if isinstance(v, uuid.UUID) else v for v in r])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def load_errors_csv(load: DataLoad) -> str:
    """The error report of a refused upload as CSV text."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["row", "column", "value", "message"])
    for e in load.errors:
        w.writerow([e.get("row"), e.get("column"), e.get("value", ""), e.get("message")])
    return buf.getvalue()
