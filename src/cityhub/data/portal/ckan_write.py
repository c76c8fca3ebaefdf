"""CKAN write actions: packages (create, patch/update, delete = offline) and resources (upload, url, rename, delete).

They go through the catalog's and the datastore's actions, so the review workflow, policies and audit apply.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from cityhub.data import policies
from cityhub.data.catalog import service as catalog
from cityhub.data.collection import service as collection
from cityhub.data.datastore import service as datastore
from cityhub.data.portal import service as portal
from cityhub.data.portal.ckan_base import (
    LICENSE_BY_ID,
    Call,
    CkanError,
    ckan_field,
    entry_param,
    invalid,
    not_found,
    org_ids,
    package_dict,
    resource_dict,
    theme_names,
    uuid_param,
)
from cityhub.data.schemas import EntryCreate, EntryUpdate, ResourceApiCreate
from cityhub.data.vocabulary import BASE_DBS
from cityhub.kit import safejson
from cityhub.kit.errors import NotFound, ValidationFailed
from cityhub.kit.i18n import gettext as _
from cityhub.kit.settings import get_settings

if TYPE_CHECKING:
    from cityhub.data.models import CatalogEntry, Resource


_CATALOG_KEYS = {"classification", "base_db", "theme", "format_category", "share_type", "share_condition",
                 "legal_basis", "share_mode", "open_type", "open_condition", "update_cycle", "security_grade",
                 "source_system", "items", "related_entry_ids"}


_IGNORED_EXTRAS = {"resource_code", "version", "change_status"}  # read-only facts we publish ourselves


_PACKAGE_KEYS = {"id", "name", "title", "notes", "owner_org", "tags", "tag_string", "private", "license_id",
                 "extras", "groups", "resources", "state", "type", "url", "author", "author_email", "maintainer",
                 "maintainer_email", "version", "metadata_created", "metadata_modified", "organization",
                 "num_resources", "num_tags", "license_title", "license_url", "isopen", "creator_user_id",
                 "relationships_as_object", "relationships_as_subject", "revision_id", "notes_rendered"}


def _package_values(c: Call, existing: CatalogEntry | None) -> dict[str, Any]:  # noqa: C901  # one branch per CKAN package key (extras, tags, groups, licence)
    """Catalog fields from a CKAN package dict (top-level keys, extras, tags, groups, private, license_id)."""
    p = c.params
    unknown = [k for k in p if k not in _PACKAGE_KEYS | _CATALOG_KEYS]
    if unknown:
        raise invalid(unknown[0], f"Unknown field '{unknown[0]}'")
    v: dict[str, Any] = {}
    if "title" in p:
        v["title"] = c.get_str("title", max_len=200)
    if "notes" in p:
        v["abstract"] = c.get_str("notes", max_len=4000)
    extras = p.get("extras") or []
    if not isinstance(extras, list):
        raise invalid("extras", "Must be a list of {key, value}")
    for ex in extras:
        if not isinstance(ex, dict) or "key" not in ex:
            raise invalid("extras", "Each extra is {key, value}")
        key = str(ex["key"])
        if key in _IGNORED_EXTRAS:
            continue
        if key not in _CATALOG_KEYS:
            raise invalid("extras", f"Unknown extra '{key}': catalog fields are {', '.join(sorted(_CATALOG_KEYS))}")
        v[key] = ex.get("value")
    for k in _CATALOG_KEYS:
        if k in p:
            v[k] = p[k]
    if isinstance(v.get("items"), str):
        try:
            v["items"] = safejson.loads(v["items"], max_bytes=get_settings().max_body_bytes, field="items")
        except ValidationFailed:
            raise invalid("items", "Must be a JSON list of information items") from None
    if "tags" in p or "tag_string" in p:
        tags = p.get("tags")
        names: list[str] = []
        if isinstance(tags, list):
            for t in tags:
                name = t.get("name") if isinstance(t, dict) else t
                if not isinstance(name, str) or not name.strip():
                    raise invalid("tags", "Each tag has a name")
                names.append(name.strip())
        elif tags is not None:
            raise invalid("tags", "Must be a list of {name}")
        if isinstance(p.get("tag_string"), str):
            names += [t.strip() for t in p["tag_string"].split(",") if t.strip()]
        v["tags"] = list(dict.fromkeys(names))
    if "groups" in p:
        groups = p.get("groups") or []
        if not isinstance(groups, list):
            raise invalid("groups", "Must be a list of {name}")
        for g in groups:
            name = g.get("name") if isinstance(g, dict) else g
            if name in BASE_DBS:
                v["base_db"] = name
                v.setdefault("classification", "base")
            elif isinstance(name, str) and name:
                themes = theme_names(c, [name])
                v["theme"] = themes[0] if themes else name.removeprefix("theme-")
            else:
                raise invalid("groups", "Each group has a name")
    if p.get("license_id"):
        lic = LICENSE_BY_ID.get(str(p["license_id"]))
        if lic is None:
            raise invalid("license_id", "Unknown licence; one of " + ", ".join(str(k) for k in LICENSE_BY_ID))
        v.setdefault("open_type", lic["open_type"])
    if "private" in p:
        private = c.get_bool("private")
        if private:
            v["open_type"] = "none"
        elif not catalog.opens_to_public(v.get("open_type") or (existing.open_type if existing else "none")):
            v["open_type"] = "unconditional"
    return v


def _pydantic_error(exc: ValidationError) -> CkanError:
    errors: dict[str, list[str]] = {}
    for e in exc.errors():
        loc = [str(x) for x in e.get("loc", ())]
        key = ckan_field(loc[0]) if loc else "message"
        errors.setdefault(key, []).append(("/".join(loc[1:]) + ": " if len(loc) > 1 else "") + e.get("msg", ""))
    return CkanError(409, "Validation Error", dict(errors))


def _publish_or_queue(c: Call, entry: CatalogEntry) -> None:
    """Send the entry (or its changes) to review; a caller who may review publishes at once."""
    if catalog.is_published(entry) and not entry.pending_changes:
        return
    catalog.catalog_entry_submit(c.session, c.actor, entry.id)
    if policies.is_tier_reviewer(c.actor, entry.tier_org_id) and c.actor.allows_scope("data:write"):
        catalog.catalog_entry_review(c.session, c.actor, entry.id, True, "CKAN API: published by the bureau")


def package_create(c: Call) -> dict[str, Any]:
    """Create a catalog entry from a package; it lands as a draft for review unless the caller may publish."""
    values = _package_values(c, None)
    org_ref = c.get_str("owner_org", required=True, max_len=100)
    ids = org_ids(c, [org_ref], by_code=False)
    if ids[0] == str(uuid.UUID(int=0)):
        raise invalid("owner_org", "Organization does not exist")
    data = {"title": values.pop("title", None) or c.get_str("name"),
            "name": c.get_str("name", required=True, max_len=120), "provider_org_id": ids[0], **values}
    data.setdefault("classification", "department")
    data.setdefault("format_category", "database")
    data.setdefault("update_cycle", "irregular")
    data.setdefault("open_type", "unconditional")
    if data.get("open_type") == "unconditional":
        data.setdefault("share_type", "unconditional")  # open to everybody implies shareable among departments
    try:
        body = EntryCreate.model_validate(data)
    except ValidationError as exc:
        raise _pydantic_error(exc) from None
    entry = catalog.catalog_entry_create(c.session, c.actor, body)
    for i, r in enumerate(c.params.get("resources") or []):
        if isinstance(r, dict):
            _resource_from_url(c, entry, r, f"resources[{i}]")
    _publish_or_queue(c, entry)
    return package_dict(c, entry)


def _existing(c: Call) -> CatalogEntry:
    ref = c.get_str("id") or c.get_str("name", required=True)
    try:
        return portal.open_entry(c.session, c.actor, ref)
    except NotFound:
        raise not_found(_("Dataset not found")) from None


def package_patch(c: Call) -> dict[str, Any]:
    """Change the given fields of a package (published entries collect the change for re-review)."""
    entry = _existing(c)
    policies.catalog_entry_update(c.actor, entry.provider_org_id)
    values = _package_values(c, entry)
    if "name" in c.params and c.get_str("name") not in (entry.name, str(entry.id)):
        raise invalid("name", "A dataset's name (its URL) cannot change")
    if "owner_org" in c.params and org_ids(c, [c.get_str("owner_org")], False)[0] != str(entry.provider_org_id):
        raise invalid("owner_org", "A dataset cannot move to another organization")
    changed = {k: val for k, val in values.items()
               if (entry.pending_changes or {}).get(k, getattr(entry, k, None)) != val}
    if changed:
        try:
            body = EntryUpdate.model_validate(changed)
        except ValidationError as exc:
            raise _pydantic_error(exc) from None
        catalog.catalog_entry_update(c.session, c.actor, entry.id, body)
        _publish_or_queue(c, entry)
    return package_dict(c, entry)


def package_update(c: Call) -> dict[str, Any]:
    """Update a package: like patch for catalog fields (required guideline fields are never cleared)."""
    return package_patch(c)


def package_delete(c: Call) -> None:
    """Take a published package offline (CKAN state 'deleted'); the entry and its history stay."""
    entry = _existing(c)
    if not catalog.is_published(entry):
        policies.catalog_entry_update(c.actor, entry.provider_org_id)
        raise invalid("state", f"Only published datasets can be deleted (state is {entry.status})")
    catalog.catalog_entry_offline(c.session, c.actor, entry.id, "CKAN API package_delete")
    return None


def _resource_from_url(c: Call, entry: CatalogEntry, r: dict[str, Any], field_name: str) -> Resource:
    url = r.get("url")
    if not isinstance(url, str) or not url:
        raise invalid(field_name, "A resource needs an upload or a url")
    try:
        body = ResourceApiCreate(title=str(r.get("name") or url)[:200], upstream_url=url)
    except ValidationError as exc:
        raise invalid("url", "; ".join(e.get("msg", "") for e in exc.errors())) from None
    return datastore.resource_api_create(c.session, c.actor, entry.id, body)


def _upload(c: Call, entry: CatalogEntry, resource_id: uuid.UUID | None, title: str) -> Resource:
    name, stream, media = c.files["upload"]
    lower = name.lower()
    if lower.endswith((".csv", ".xlsx", ".xlsm")):
        res, load = datastore.resource_table_upload(c.session, c.actor, entry.id, name, stream, title, resource_id)
        if not load.accepted or res is None:
            first = "; ".join(f"row {e.get('row')} {e.get('column')}: {e.get('message')}" for e in load.errors[:5])
            raise CkanError(409, "Validation Error", {"upload": [f"{load.rows_bad} bad rows, nothing loaded. {first}"],
                                                      "errors": load.errors[:200]})
        return res
    return datastore.resource_file_upload(c.session, c.actor, entry.id, title, name, media, stream, resource_id)


def resource_create(c: Call) -> dict[str, Any]:
    """Add a resource: an upload (CSV/XLSX → datastore table, else a file) or a url (a proxied API)."""
    pid = c.get_str("package_id", required=True, max_len=200)
    try:
        entry = portal.open_entry(c.session, c.actor, pid)
    except NotFound:
        raise not_found(_("Dataset not found")) from None
    policies.resource_manage(c.actor, entry.provider_org_id)
    title = c.get_str("name", max_len=200)
    if "upload" in c.files:
        res = _upload(c, entry, None, title)
    else:
        res = _resource_from_url(c, entry, {"url": c.get_str("url", max_len=500), "name": title}, "url")
    return resource_dict(c, res, entry)


def resource_patch(c: Call) -> dict[str, Any]:
    """Rename a resource, or replace its rows/bytes atomically with a new upload."""
    rid = uuid_param(c, "id")
    try:
        res, entry = portal.open_resource(c.session, c.actor, rid)
    except NotFound:
        raise not_found(_("Resource not found")) from None
    policies.resource_manage(c.actor, entry.provider_org_id)
    if "upload" in c.files:
        res = _upload(c, entry, res.id, c.get_str("name", res.title, max_len=200))
    elif c.params.get("name"):
        res = datastore.resource_update(c.session, c.actor, res.id, c.get_str("name", max_len=200))
    if c.params.get("url") and res.kind != "api":
        raise invalid("url", "Only API resources have an upstream url; upload a file instead")
    return resource_dict(c, res, entry)


def resource_update(c: Call) -> dict[str, Any]:
    """Same as resource_patch (a resource's kind never changes)."""
    return resource_patch(c)


def resource_delete(c: Call) -> None:
    """Remove a resource (its datastore table or file goes with it)."""
    rid = uuid_param(c, "id")
    try:
        datastore.resource_delete(c.session, c.actor, rid)
    except NotFound:
        raise not_found(_("Resource not found")) from None
    return None


# ---- DataStore writes (issue 20): the table's primary key is a unique index; records are checked against the
# entry's information items and written all or none.


def _records(c: Call) -> list[Any]:
    records = c.get_json("records", [])
    if not isinstance(records, list) or len(records) > 10_000:
        raise invalid("records", "Must be a list of at most 10000 objects")
    return records


def datastore_create(c: Call) -> dict[str, Any]:
    """Create (or keep) a resource's datastore table: `fields` of the entry's items, `primary_key`, `records`."""
    if c.params.get("resource_id"):
        _res, entry = catalog.resource_get(c.session, c.actor, uuid_param(c, "resource_id"))
        entry_id = entry.id
    else:
        spec = c.get_json("resource", {})
        if not isinstance(spec, dict) or not spec.get("package_id"):
            raise invalid("resource_id", "Give resource_id, or resource with package_id")
        entry_id = entry_param(Call(session=c.session, actor=c.actor, params={"id": str(spec["package_id"])},
                                    base_url=c.base_url, files={}), "id").id
    fields = c.get_json("fields", [])
    if not isinstance(fields, list) or any(not isinstance(f, dict) or "id" not in f for f in fields):
        raise invalid("fields", "Must be a list of {\"id\": …} objects")
    pk = c.get_list("primary_key", [])
    res, key, _n = collection.datastore_create(c.session, c.actor, entry_id, [str(f["id"]) for f in fields], pk,
                                               _records(c))
    return {"resource_id": str(res.id), "fields": [{"id": f["id"], "type": f.get("type", "")} for f in fields],
            "primary_key": key, "method": "insert"}


def datastore_upsert(c: Call) -> dict[str, Any]:
    """Insert, update or upsert (`method`) records by the table's primary key, all or none."""
    rid = uuid_param(c, "resource_id")
    method = c.get_str("method", "upsert", max_len=10)
    ins, upd = collection.datastore_upsert(c.session, c.actor, rid, _records(c), method)
    return {"resource_id": str(rid), "method": method, "inserted": ins, "updated": upd}


def datastore_delete(c: Call) -> dict[str, Any]:
    """Delete the rows matching `filters` (every row without filters; the table stays)."""
    rid = uuid_param(c, "resource_id")
    filters = c.get_json("filters", {})
    if not isinstance(filters, dict):
        raise invalid("filters", "Must be a JSON object")
    n = collection.datastore_delete(c.session, c.actor, rid, filters)
    return {"resource_id": str(rid), "filters": filters, "deleted": n}
