"""CKAN read actions on one package or resource: show, activity stream, datastore reads, site status, licences.

The datastore actions are datastore_search, datastore_info and datastore_search_sql (public SQL).
"""

from __future__ import annotations

import contextlib
import uuid
from typing import TYPE_CHECKING, Any

from cityhub import __version__
from cityhub.data.catalog import service as catalog
from cityhub.data.portal import service as portal
from cityhub.data.portal import sqlguard
from cityhub.data.portal.ckan_base import (
    CKAN_VERSION,
    LICENSES,
    MAX_ROWS,
    MAX_START,
    Call,
    entry_param,
    invalid,
    not_found,
    package_dict,
    resource_dict,
    ts,
    uuid_param,
)
from cityhub.kit import safejson
from cityhub.kit.errors import NotFound, ValidationFailed
from cityhub.kit.i18n import gettext as _
from cityhub.kit.settings import get_settings

if TYPE_CHECKING:
    from cityhub.data.models import CatalogEntry


def status_show(c: Call) -> dict[str, Any]:
    """Site status: CKAN version emulated, site title and URL, extensions."""
    s = get_settings()
    return {"ckan_version": CKAN_VERSION, "site_title": s.portal_site_title, "site_description": "cityhub 开放数据",
            "site_url": c.base_url, "locale_default": "zh_Hans_CN", "error_emails_to": None,
            "extensions": ["datastore", "dcat", "datapackage", "cityhub"], "cityhub_version": __version__}


def site_read(c: Call) -> bool:
    """The site may be read."""
    return True


def package_show(c: Call) -> dict[str, Any]:
    """One package by id or name."""
    return package_dict(c, entry_param(c))


def resource_show(c: Call) -> dict[str, Any]:
    """One resource by id."""
    rid = uuid_param(c, "id")
    try:
        res, entry = portal.open_resource(c.session, c.actor, rid)
    except NotFound:
        raise not_found(_("Resource not found")) from None
    pos = [r.id for r in catalog.resources_of(c.session, [entry.id])[entry.id]].index(res.id)
    return resource_dict(c, res, entry, pos)


def license_list(c: Call) -> list[dict[str, Any]]:
    """The licences: one per open type (无条件开放, 有条件开放, 不予开放)."""
    return [{"id": lic["id"], "title": lic["title"], "url": lic["url"], "status": "active",
             "od_conformance": "approved" if lic["isopen"] else "not reviewed",
             "osd_conformance": "not reviewed", "is_okd_compliant": lic["isopen"], "is_osi_compliant": False,
             "domain_content": True, "domain_data": True, "domain_software": False, "family": "",
             "maintainer": "", "is_generic": False} for lic in LICENSES]


def package_activity_list(c: Call) -> list[dict[str, Any]]:
    """The published versions of a package as an activity stream, newest first."""
    entry = entry_param(c)
    limit = c.get_int("limit", 31, 0, 1000)
    offset = c.get_int("offset", 0, 0, MAX_START)
    versions = catalog.catalog_entry_versions(c.session, c.actor, entry.id)[offset:offset + limit]
    return [{"id": str(v.id), "timestamp": ts(v.created_at), "user_id": None, "object_id": str(entry.id),
             "activity_type": "new package" if v.version == 1 else "changed package", "actor_name": v.actor_name,
             "data": {"package": {"id": str(entry.id), "name": entry.name, "title": v.snapshot.get("title"),
                                  "version": v.version}, "diff": v.diff}} for v in versions]


_DS_TYPES = {"C": "text", "M": "text", "G": "text", "N": "numeric", "Y": "numeric", "I": "int8", "B": "float8",
             "F": "float8", "D": "date", "T": "timestamp", "L": "bool"}


def _ds_fields(entry: CatalogEntry, cols: list[str]) -> list[dict[str, Any]]:
    by = {i["name_en"]: i for i in entry.items or []}
    out: list[dict[str, Any]] = [{"id": "_id", "type": "int"}]
    for col in cols:
        it = by.get(col, {})
        out.append({"id": col, "type": _DS_TYPES.get(it.get("data_type", "C"), "text"),
                    "info": {"label": it.get("name_cn", col), "notes": it.get("description", "")}})
    return out


def _filters(c: Call) -> dict[str, Any]:
    f = c.get_json("filters", {})
    if not isinstance(f, dict):
        raise invalid("filters", "Must be a JSON object")
    for k, v in f.items():
        if isinstance(v, dict) or (isinstance(v, list) and any(isinstance(x, dict | list) for x in v)):
            raise invalid("filters", f"Invalid value for {k}")
    return f


def datastore_search(c: Call) -> dict[str, Any]:  # noqa: C901  # CKAN's parameter set and four records formats, checked in CKAN's order
    """Rows of a datastore table: filters, q, fields, sort, limit, offset, include_total, records_format."""
    rid_raw = c.get_str("resource_id") or c.get_str("id", required=True)
    try:
        rid = uuid.UUID(rid_raw)
    except ValueError:
        raise not_found(f"Resource \"{rid_raw[:40]}\" was not found.") from None
    limit = min(c.get_int("limit", 100, 0, 1_000_000), MAX_ROWS)
    offset = c.get_int("offset", 0, 0, MAX_START)
    q_raw = c.params.get("q")
    if isinstance(q_raw, str) and q_raw.lstrip().startswith("{") and len(q_raw) <= 4000:  # the dict form in a GET
        with contextlib.suppress(ValidationFailed):  # like CKAN: text that is not JSON stays text
            q_raw = safejson.loads(q_raw, field="q")  # size- and depth-limited (never a RecursionError)
    q: str | dict[str, str] | None = None
    if isinstance(q_raw, dict):
        # CKAN searches each named column for its text; the service checks each is one the caller reads in clear.
        if not all(isinstance(k, str) and isinstance(v, str | int | float) and not isinstance(v, bool)
                   and len(str(v)) <= 100 and "\x00" not in str(v) for k, v in q_raw.items()):
            raise invalid("q", "Must be text, or an object of column names to text")
        q = {k: str(v) for k, v in q_raw.items()}
    elif q_raw:
        q = c.get_str("q", max_len=100)
    fields = c.get_list("fields") or None
    sort = c.get_str("sort", max_len=200) or None
    if sort and "," in sort:
        sort = sort.split(",")[0].strip()
    fmt = c.get_str("records_format", "objects", max_len=10)
    if fmt not in ("objects", "lists", "csv", "tsv"):
        raise invalid("records_format", "One of objects, lists, csv, tsv")
    include_total = c.get_bool("include_total", True)
    try:
        cols, recs, total, _next, entry, _res = portal.rows(c.session, c.actor, rid, _filters(c), q, fields, sort,
                                                            max(limit, 1), offset, include_total)
    except NotFound:
        raise not_found(f"Resource \"{rid}\" was not found.") from None
    except ValidationFailed as exc:
        if exc.field and exc.field.startswith("fields."):
            raise invalid("fields", exc.message) from None
        raise
    if limit == 0:
        recs = []
    out_fields = _ds_fields(entry, cols)
    records: Any = recs
    if fmt == "lists":
        records = [[r.get(f["id"]) for f in out_fields] for r in recs]
    elif fmt in ("csv", "tsv"):
        import csv
        import io

        buf = io.StringIO()
        w = csv.writer(buf, delimiter="," if fmt == "csv" else "\t")
        for r in recs:
            w.writerow([r.get(f["id"]) for f in out_fields])
        records = buf.getvalue()
    base = f"/api/3/action/datastore_search?resource_id={rid}"
    out: dict[str, Any] = {"resource_id": str(rid), "fields": out_fields, "records": records, "limit": limit,
                           "offset": offset, "include_total": include_total, "records_format": fmt,
                           "_links": {"start": base, "next": f"{base}&offset={offset + limit}"}}
    if total is not None:
        out["total"] = total
        out["total_was_estimated"] = False
    for k in ("filters", "q", "sort"):
        if c.params.get(k):
            out[k] = c.params[k]
    return out


def datastore_info(c: Call) -> dict[str, Any]:
    """Columns and row count of a datastore table (only the columns the caller may read)."""
    rid = uuid_param(c, "id") if c.params.get("id") else uuid_param(c, "resource_id")
    try:
        res, entry = portal.open_resource(c.session, c.actor, rid)
    except NotFound:
        raise not_found(f"Resource \"{rid}\" was not found.") from None
    if res.kind != "table" or not res.table_name:
        raise not_found(f"Resource \"{rid}\" has no datastore table.")
    names = [i["name_en"] for i in portal.readable_items(c.session, c.actor, entry)]
    cols = [col for col in res.columns if col in names]
    fields = _ds_fields(entry, cols)
    return {"meta": {"count": res.row_count, "table_type": "BASE TABLE", "aliases": []},
            "fields": [{**f, "schema": {"native_type": f["type"]}} for f in fields[1:]],
            "schema": {f["id"]: f["type"] for f in fields}}


def datastore_search_sql(c: Call) -> dict[str, Any]:
    """One read-only SELECT over datastore tables of 无条件开放 resources (parsed, checked, time/row-limited)."""
    sql = c.get_str("sql", required=True, max_len=sqlguard.MAX_SQL_LENGTH)
    s = get_settings()
    return sqlguard.run(c.session, sql, timeout_ms=s.portal_sql_timeout_ms, max_rows=s.portal_sql_max_rows)
