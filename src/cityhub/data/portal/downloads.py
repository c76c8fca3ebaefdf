"""Data Package descriptors and streamed CSV/TSV/JSON/XLSX downloads of datastore tables (open portal)."""

from __future__ import annotations

import csv
import io
import json
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from cityhub.core.service import Actor
from cityhub.data import policies
from cityhub.data.catalog import service as catalog
from cityhub.data.datastore import service as datastore
from cityhub.data.datastore.reads import item_mask
from cityhub.data.portal import service as portal
from cityhub.data.sharing.grants import usable_grant
from cityhub.kit.db import Database
from cityhub.kit.errors import Forbidden, NotFound, RateLimited
from cityhub.kit.i18n import gettext as _

if TYPE_CHECKING:
    from cityhub.data.models import CatalogEntry, Resource

PAGE = 1000
# Table Schema types of the information item data types (GB/T 21063.4 type letters).
TABLE_SCHEMA_TYPES = {"C": "string", "M": "string", "G": "string", "N": "number", "Y": "number", "I": "integer",
                      "B": "number", "F": "number", "D": "date", "T": "datetime", "L": "boolean"}
LICENSES = {"unconditional": {"name": "CC-BY-4.0", "path": "https://creativecommons.org/licenses/by/4.0/",
                              "title": "Creative Commons Attribution 4.0"},
            "conditional": {"name": "cityhub-conditional", "title": "有条件开放数据使用协议"}}


def _public_entry(session: Session, actor: Actor, name: str) -> CatalogEntry:
    """An entry by name as the catalog's visibility rule shows it to the caller (the public: the open catalog)."""
    try:
        return portal.open_entry(session, actor, name)
    except NotFound:
        raise NotFound(_("Dataset not found")) from None


def table_schema(items: list[dict[str, Any]]) -> dict[str, Any]:
    """A Frictionless Table Schema of information items (plus the datastore `_id` primary key)."""
    fields: list[dict[str, Any]] = [{"name": "_id", "type": "integer", "title": "行号",
                                     "constraints": {"required": True, "unique": True}}]
    for it in items:
        f: dict[str, Any] = {"name": it["name_en"], "type": TABLE_SCHEMA_TYPES.get(it["data_type"], "string"),
                             "title": it.get("name_cn", it["name_en"])}
        if it.get("description"):
            f["description"] = it["description"]
        constraints: dict[str, Any] = {}
        if it.get("required"):
            constraints["required"] = True
        if it["data_type"] == "C" and it.get("length"):
            constraints["maxLength"] = int(it["length"])
        if constraints:
            f["constraints"] = constraints
        if f["type"] == "boolean":
            f["trueValues"], f["falseValues"] = ["true", "True"], ["false", "False"]
        if f["type"] == "datetime":
            f["format"] = "any"
        fields.append(f)
    return {"fields": fields, "primaryKey": ["_id"], "missingValues": [""]}


def datapackage(session: Session, actor: Actor, base: str, name: str) -> dict[str, Any]:
    """The Data Package (v1, tabular) of an open dataset: one resource per datastore table the caller may read."""
    entry = _public_entry(session, actor, name)
    resources = catalog.resources_of(session, [entry.id])[entry.id]
    items = portal.readable_items(session, actor, entry)
    out_res: list[dict[str, Any]] = []
    for i, res in enumerate(resources):
        if res.kind != "table" or not res.table_name:
            continue
        cols = set(res.columns)
        out_res.append({
            "name": f"{entry.name}-{i + 1}"[:100], "title": res.title, "profile": "tabular-data-resource",
            "path": f"{base}/datastore/dump/{res.id}?format=csv", "format": "csv", "mediatype": "text/csv",
            "encoding": "utf-8", "schema": table_schema([it for it in items if it["name_en"] in cols]),
        })
    lic = LICENSES.get(entry.open_type)
    pkg: dict[str, Any] = {
        "profile": "tabular-data-package", "name": entry.name, "id": str(entry.id), "title": entry.title,
        "description": entry.abstract, "homepage": f"{base}/dataset/{entry.name}", "version": f"{entry.version}.0.0",
        "keywords": list(entry.tags or []), "created": (entry.published_at or entry.created_at).isoformat(),
        "resources": out_res, "cityhub": {"resource_code": entry.code, "open_type": entry.open_type,
                                          "update_cycle": entry.update_cycle},
    }
    if lic:
        pkg["licenses"] = [lic]
    return pkg


def _csv_line(values: list[Any], delimiter: str) -> str:
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter).writerow(["" if v is None else v for v in values])
    return buf.getvalue()


def stream(db: Database, actor: Actor, resource_id: uuid.UUID, fmt: str, bom: bool = False) -> Iterator[bytes]:  # noqa: C901  # one generator per format, so the download streams page by page
    """Yield the table in keyset pages of PAGE rows, each read through `portal.rows`.

    Masking, grants and quotas apply per page; XLSX is spooled to a temporary file first (it needs the whole sheet).
    """
    def pages() -> Iterator[tuple[list[str], list[dict[str, Any]]]]:
        after: int | None = 0
        first = True
        while after is not None:
            try:
                with db.session_scope() as session:
                    cols, recs, _t, after, _e, _r = portal.rows(session, actor, resource_id, limit=PAGE,
                                                                include_total=False, after=after)
            except RateLimited:
                if first:
                    raise
                return  # the grant's quota ended mid-download: the file ends with the rows charged so far
            first = False
            yield ["_id", *cols], recs
            if len(recs) < PAGE:
                break

    if fmt in ("csv", "tsv"):
        delim = "," if fmt == "csv" else "\t"
        first = True
        for cols, recs in pages():
            chunk = io.StringIO()
            if first:
                chunk.write(("\ufeff" if bom else "") + _csv_line(cols, delim))
                first = False
            for r in recs:
                chunk.write(_csv_line([r.get(c) for c in cols], delim))
            yield chunk.getvalue().encode("utf-8")
        return
    if fmt == "json":
        first = True
        for cols, recs in pages():
            parts = []
            if first:
                fields = json.dumps([{"id": c} for c in cols], ensure_ascii=False)
                parts.append(f'{{"fields": {fields}, "records": [')
            for r in recs:
                parts.append(("" if first else ",") + json.dumps([r.get(c) for c in cols], ensure_ascii=False,
                                                                  default=str))
                first = False
            yield "".join(parts).encode("utf-8")
        yield (("{\"fields\": [], \"records\": [" if first else "") + "]}").encode()
        return
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("data")
    header_done = False
    for cols, recs in pages():
        if not header_done:
            ws.append(cols)
            header_done = True
        for r in recs:
            ws.append([r.get(c) for c in cols])
    with tempfile.TemporaryFile() as tmp:
        wb.save(tmp)
        tmp.seek(0)
        while block := tmp.read(1 << 16):
            yield block


def open_file(session: Session, actor: Actor, name: str, resource_id: uuid.UUID) -> tuple[Resource, Path, CatalogEntry]:
    """A file resource of an open dataset: 无条件开放 for anybody, 有条件开放 with the caller's grant."""
    entry = _public_entry(session, actor, name)
    res = catalog.entry_resource(session, entry, resource_id, "file")
    insider_ok = policies.is_insider(actor) and (policies.is_staff(actor, entry.provider_org_id)
                                                 or policies.is_bureau(actor))
    if not insider_ok and entry.open_type != "unconditional":
        grant = usable_grant(session, actor, entry.id)
        if grant is None:
            raise Forbidden(_("Open on conditions: apply for access on the dataset page first"), code="apply_first")
    if not insider_ok and any(item_mask(i) for i in entry.items or []) and entry.open_type == "unconditional":
        # A file cannot be masked column by column: files of entries with masked items go to grantees only.
        raise Forbidden(_("This file holds masked information items; request access"), code="masked_file")
    res2, path = datastore.resource_file_open(session, Actor.system("portal"), res.id)
    return res2, path, entry
