"""The CKAN Action API's common parts: errors and their translation, the call and its parameters, dictization.

Packages are catalog entries and organisations are providers (see docs/open-portal.md for the field mapping);
everything here shapes what the catalog's service functions return, it queries nothing itself.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from cityhub.core import service as core
from cityhub.core.service import Actor
from cityhub.data.catalog import service as catalog
from cityhub.data.catalog.tiers import publisher_org_id
from cityhub.data.datastore.reads import item_mask
from cityhub.data.portal import service as portal
from cityhub.data.vocabulary import BASE_DBS
from cityhub.kit import context, safejson
from cityhub.kit.errors import (
    CityhubError,
    Conflict,
    Forbidden,
    NotFound,
    RateLimited,
    Unauthorized,
    ValidationFailed,
    public_envelope,
)
from cityhub.kit.i18n import gettext as _
from cityhub.kit.settings import get_settings

if TYPE_CHECKING:
    from cityhub.data.models import CatalogEntry, Resource


CKAN_VERSION = "2.10.4"  # the Action API behaviour emulated


MAX_ROWS = 1000


MAX_START = 10_000_000


class CkanError(Exception):
    """An Action API error: CKAN's `__type`, HTTP status and the rest of the error dict."""

    def __init__(self, status: int, type_: str, body: dict[str, Any], retry_after: int | None = None) -> None:
        super().__init__(type_)
        self.status = status
        self.error = {"__type": type_, **body}
        self.retry_after = retry_after


def not_found(message: str = "") -> CkanError:
    """404 Not Found Error."""
    return CkanError(404, "Not Found Error", {"message": "Not found" + (f": {message}" if message else "")})


def denied(message: str = "") -> CkanError:
    """403 Authorization Error."""
    return CkanError(403, "Authorization Error", {"message": "Access denied" + (f": {message}" if message else "")})


def invalid(field_name: str, message: str) -> CkanError:
    """409 Validation Error naming the parameter, CKAN-style `{field: [messages]}`."""
    return CkanError(409, "Validation Error", {field_name: [message]})


def bad_request(message: str) -> CkanError:
    """400 Bad request (unknown action, unreadable body)."""
    return CkanError(400, "Bad request", {"message": f"Bad request: {message}"})


def translate(exc: CityhubError) -> CkanError:
    """The CKAN error for a cityhub domain error."""
    if isinstance(exc, NotFound):
        return not_found(exc.message)
    if isinstance(exc, Forbidden | Unauthorized):
        return denied(exc.message)
    if isinstance(exc, RateLimited):
        return CkanError(429, "Rate Limit Error", {"message": exc.message}, retry_after=exc.retry_after)
    if isinstance(exc, ValidationFailed):
        errors: dict[str, list[str]] = {}
        if isinstance(exc.details, list) and exc.details:
            for d in exc.details:
                if isinstance(d, dict):
                    key = str(d.get("field") or exc.field or "message").split(".")[0]
                    errors.setdefault(ckan_field(key), []).append(str(d.get("message") or exc.message))
        if not errors:
            errors[ckan_field((exc.field or "message").split(".")[0])] = [exc.message]
        return CkanError(409, "Validation Error", dict(errors))
    if isinstance(exc, Conflict):
        field_name = exc.details.get("field") if isinstance(exc.details, dict) else None
        return CkanError(409, "Validation Error", {ckan_field(str(field_name or "message")): [exc.message]})
    if exc.status_code >= 500:  # e.g. public SQL without its database role: the caller did nothing wrong
        # The caller gets a generic message with the request id (kit.errors.public_envelope); the log the reason.
        rid = context.current().request_id
        logging.getLogger("cityhub.data").warning("CKAN %s (request id %s): %s %s", exc.code, rid, exc.message,
                                                  exc.details)
        return CkanError(exc.status_code, "Service Unavailable",
                         {"message": public_envelope(exc, rid)["error"]["message"], "request_id": rid})
    return CkanError(409, "Validation Error", {"message": [exc.message]})


_FIELD_BACK = {"abstract": "notes", "provider_org_id": "owner_org", "title": "title", "upstream_url": "url"}


def ckan_field(name: str) -> str:
    """The CKAN name of a catalog field."""
    return _FIELD_BACK.get(name, name)


@dataclass
class Call:
    """One action call: session, caller, parameters and the site's base URL."""

    session: Session
    actor: Actor
    params: dict[str, Any]
    base_url: str
    files: dict[str, tuple[str, IO[bytes], str]] = field(default_factory=dict)
    _orgs: dict[uuid.UUID, Any] | None = None

    def orgs(self) -> dict[uuid.UUID, Any]:
        """Every organisation by id (loaded once per call)."""
        if self._orgs is None:
            self._orgs = {o.id: o for o in core.organization_all(self.session)}
        return self._orgs

    def get_str(self, name: str, default: str = "", required: bool = False, max_len: int = 1000) -> str:
        """A string parameter."""
        v = self.params.get(name)
        if v is None or v == "":
            if required:
                raise invalid(name, "Missing value")
            return default
        if isinstance(v, list) and len(v) == 1:
            v = v[0]
        if isinstance(v, bool) or not isinstance(v, str | int | float):
            raise invalid(name, "Must be a string")
        s = str(v)
        if len(s) > max_len or "\x00" in s:
            raise invalid(name, "Invalid value")
        return s

    def get_int(self, name: str, default: int, lo: int = 0, hi: int = MAX_START) -> int:
        """An integer parameter within [lo, hi]."""
        v = self.params.get(name)
        if v is None or v == "":
            return default
        if isinstance(v, list) and len(v) == 1:
            v = v[0]
        try:
            if isinstance(v, bool) or (isinstance(v, float) and not v.is_integer()):
                raise ValueError
            n = int(v)
        except (TypeError, ValueError):
            raise invalid(name, "Invalid integer") from None
        if n < lo or n > hi:
            raise invalid(name, f"Must be between {lo} and {hi}")
        return n

    def get_bool(self, name: str, default: bool = False) -> bool:
        """A boolean parameter (true/false, 1/0, yes/no)."""
        v = self.params.get(name)
        if v is None or v == "":
            return default
        if isinstance(v, bool):
            return v
        s = str(v).strip().lower()
        if s in ("true", "1", "yes", "on"):
            return True
        if s in ("false", "0", "no", "off"):
            return False
        raise invalid(name, "Must be a boolean")

    def get_json(self, name: str, default: Any = None) -> Any:
        """A parameter that is JSON in query strings and a value in JSON bodies."""
        v = self.params.get(name)
        if v is None or v == "":
            return default
        if isinstance(v, str):
            try:  # size- and depth-limited (a deep `filters` must be a validation error, not a RecursionError)
                return safejson.loads(v, max_bytes=get_settings().max_body_bytes, field=name)
            except ValidationFailed as exc:
                raise invalid(name, exc.message if exc.details[0]["type"] != "json_invalid" else "Invalid JSON"
                              ) from None
        return v

    def get_list(self, name: str, default: list[str] | None = None) -> list[str]:
        """A list of strings (JSON list, comma-separated string or repeated parameter)."""
        raw = self.params.get(name)
        if raw is None or raw == "":
            return list(default or [])
        if isinstance(raw, str) and raw.strip().startswith("["):
            raw = self.get_json(name)
        elif isinstance(raw, str):
            raw = [p.strip() for p in raw.split(",") if p.strip()]
        if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
            raise invalid(name, "Must be a list of strings")
        return [x for x in raw if x]


def uuid_param(c: Call, name: str) -> uuid.UUID:
    """A UUID parameter (an unreadable one is a 404, like an unknown id)."""
    raw = c.get_str(name, required=True, max_len=100)
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise not_found(f"{name} {raw[:40]}") from None


def entry_param(c: Call, param: str = "id") -> CatalogEntry:
    """The dataset a parameter names (id or name), as the caller may see it (404 otherwise)."""
    ref = c.get_str(param, required=True, max_len=200)
    try:
        return portal.open_entry(c.session, c.actor, ref)
    except NotFound:
        raise not_found(_("Dataset not found")) from None


def org_ids(c: Call, values: list[str], by_code: bool) -> list[str]:
    """Organisation ids of codes (or ids); unknown ones map to the nil UUID, which matches nothing."""
    out = []
    for v in values:
        if by_code:
            org = next((o for o in c.orgs().values() if o.code == v), None)
            out.append(str(org.id) if org else str(uuid.UUID(int=0)))
        else:
            try:
                out.append(str(uuid.UUID(v)))
            except ValueError:
                org = next((o for o in c.orgs().values() if o.code == v), None)
                out.append(str(org.id) if org else str(uuid.UUID(int=0)))
    return out


def ts(value: datetime | None) -> str | None:
    """A timestamp as CKAN renders it."""
    # CKAN renders naive UTC timestamps with microseconds.
    return value.astimezone(UTC).replace(tzinfo=None).isoformat() if value else None


LICENSES = [
    {"id": "cc-by-4.0", "title": "知识共享署名 4.0 国际许可 (CC BY 4.0)", "url": "https://creativecommons.org/licenses/by/4.0/",
     "open_type": "unconditional", "isopen": True},
    {"id": "cityhub-conditional", "title": "有条件开放数据使用协议（须申请，经提供部门审核）", "url": "",
     "open_type": "conditional", "isopen": False},
    {"id": "other-closed", "title": "不予开放（不向公众授权）", "url": "",
     "open_type": "none", "isopen": False},
]


LICENSE_BY_OPEN = {lic["open_type"]: lic for lic in LICENSES}


LICENSE_BY_ID = {lic["id"]: lic for lic in LICENSES}


def org_dict(org: Any, package_count: int | None = None) -> dict[str, Any]:
    """A CKAN organization dict of a provider organisation (name = its code)."""
    out: dict[str, Any] = {
        "id": str(org.id), "name": org.code, "title": org.name, "display_name": org.name, "type": "organization",
        "description": org.name_en or "", "image_url": "", "image_display_url": "", "created": ts(org.created_at),
        "is_organization": True, "approval_status": "approved", "state": "active",
    }
    if package_count is not None:
        out["package_count"] = package_count
    return out


def theme_slug(theme: str) -> str:
    """The URL-safe group name of a theme (pinyin)."""
    from pypinyin import lazy_pinyin

    return "theme-" + (re.sub(r"[^a-z0-9]+", "-", "-".join(lazy_pinyin(theme)).lower()).strip("-") or "x")


def theme_names(c: Call, slugs: list[str]) -> list[str]:
    """Themes named by their group slug (or their own name)."""
    wanted = set(slugs)
    return [t for t in catalog.theme_names(c.session) if theme_slug(t) in wanted or t in wanted]


def _groups(entry: CatalogEntry) -> list[dict[str, Any]]:
    out = []
    if entry.base_db:
        out.append({"id": entry.base_db, "name": entry.base_db, "title": BASE_DBS.get(entry.base_db, entry.base_db),
                    "display_name": BASE_DBS.get(entry.base_db, entry.base_db), "description": "基础库",
                    "image_display_url": ""})
    if entry.theme:
        slug = theme_slug(entry.theme)
        out.append({"id": slug, "name": slug, "title": entry.theme, "display_name": entry.theme,
                    "description": "主题库", "image_display_url": ""})
    return out


_RES_FORMAT = {"table": "CSV", "api": "API"}


def resource_dict(c: Call, res: Resource, entry: CatalogEntry, position: int = 0) -> dict[str, Any]:
    """A CKAN resource dict: datastore tables download from the datastore dump (never credentials)."""
    fmt = _RES_FORMAT.get(res.kind) or (res.file_name.rsplit(".", 1)[-1].upper() if "." in res.file_name else "")
    if res.kind == "table":
        url = f"{c.base_url}/datastore/dump/{res.id}"
    elif res.kind == "file":
        url = f"{c.base_url}/dataset/{entry.name}/resource/{res.id}/download/{res.file_name or 'file'}"
    else:
        url = f"{c.base_url}/dataset/{entry.name}"  # the upstream URL is served to grantees only
    return {
        "id": str(res.id), "package_id": str(entry.id), "name": res.title, "description": "",
        "format": fmt, "mimetype": res.media_type or ("text/csv" if res.kind == "table" else None),
        "url": url, "url_type": "datastore" if res.kind == "table" else ("upload" if res.kind == "file" else None),
        "datastore_active": res.kind == "table" and bool(res.table_name), "size": res.file_size or None,
        "hash": res.file_sha256, "created": ts(res.created_at), "last_modified": ts(res.loaded_at),
        "metadata_modified": ts(res.updated_at), "position": position, "state": "active", "resource_type": res.kind,
        "cityhub_rows": res.row_count if res.kind == "table" else None,
    }


_EXTRA_FIELDS = ("classification", "base_db", "theme", "format_category", "share_type", "share_condition",
                 "share_mode", "open_type", "open_condition", "update_cycle", "security_grade", "source_system",
                 "legal_basis")


def package_dict(c: Call, entry: CatalogEntry, resources: list[Resource] | None = None) -> dict[str, Any]:
    """A CKAN package dict of a catalog entry."""
    org = c.orgs().get(publisher_org_id(entry))  # a district's entry: the district (decision 0012)
    if resources is None:
        resources = catalog.resources_of(c.session, [entry.id])[entry.id]
    lic = LICENSE_BY_OPEN.get(entry.open_type, LICENSES[-1])
    extras = [{"key": "resource_code", "value": entry.code}, {"key": "version", "value": str(entry.version)}]
    extras += [{"key": f, "value": str(getattr(entry, f) or "")} for f in _EXTRA_FIELDS if getattr(entry, f)]
    extras.append({"key": "items", "value": json.dumps(_public_items(c, entry), ensure_ascii=False)})
    if entry.change_status:
        extras.append({"key": "change_status", "value": entry.change_status})
    tags = [{"id": t, "name": t, "display_name": t, "state": "active", "vocabulary_id": None} for t in entry.tags or []]
    state = {"published": "active", "offline": "deleted"}.get(entry.status, "draft")
    return {
        "id": str(entry.id), "name": entry.name, "title": entry.title, "notes": entry.abstract, "type": "dataset",
        "state": state, "private": not catalog.is_public(entry),
        "owner_org": str(org.id if org else entry.provider_org_id), "organization": org_dict(org) if org else None,
        "author": org.name if org else None, "author_email": None, "maintainer": org.name if org else None,
        "maintainer_email": None, "license_id": lic["id"], "license_title": lic["title"],
        "license_url": lic["url"], "isopen": lic["isopen"], "url": f"{c.base_url}/dataset/{entry.name}",
        "version": str(entry.version), "metadata_created": ts(entry.created_at),
        "metadata_modified": ts(entry.updated_at), "creator_user_id": None,
        "num_resources": len(resources), "num_tags": len(tags), "tags": tags, "groups": _groups(entry),
        "extras": extras, "resources": [resource_dict(c, r, entry, i) for i, r in enumerate(resources)],
        "relationships_as_object": [], "relationships_as_subject": [],
    }


def _public_items(c: Call, entry: CatalogEntry) -> list[dict[str, Any]]:
    """Information items as metadata (names, types, masking) — never data; all are listed, masked ones marked."""
    return [{"name_cn": i.get("name_cn"), "name_en": i.get("name_en"), "data_type": i.get("data_type"),
             "masked": bool(item_mask(i)) or i.get("security_level") == "core"} for i in entry.items or []]
