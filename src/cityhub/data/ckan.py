"""The CKAN Action API mapped onto the catalog: packages are catalog entries, organisations are providers.

Every action reads and writes through the data service, so the catalog's visibility, grades, masking, review
workflow and audit apply unchanged; this module only translates parameters and shapes (see docs/open-portal.md for
the field mapping). Errors are raised as `CkanError` carrying CKAN's `__type` and status code.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

from pydantic import ValidationError
from sqlalchemy import ColumnElement, and_, not_, or_, select
from sqlalchemy.orm import Session

from cityhub import __version__
from cityhub.core import service as core
from cityhub.core.service import Actor
from cityhub.data import policies, portal, service, sqlguard
from cityhub.data.models import CatalogEntry, CatalogSearch, EntryStatus, Resource
from cityhub.data.schemas import BASE_DBS, CLASSIFICATIONS, FORMATS, GRADES, OPEN_TYPES, SHARE_TYPES, UPDATE_CYCLES
from cityhub.kit import clock, context, safejson
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
                    errors.setdefault(_ckan_field(key), []).append(str(d.get("message") or exc.message))
        if not errors:
            errors[_ckan_field((exc.field or "message").split(".")[0])] = [exc.message]
        return CkanError(409, "Validation Error", dict(errors))
    if isinstance(exc, Conflict):
        field_name = exc.details.get("field") if isinstance(exc.details, dict) else None
        return CkanError(409, "Validation Error", {_ckan_field(str(field_name or "message")): [exc.message]})
    if exc.status_code >= 500:  # e.g. public SQL without its database role: the caller did nothing wrong
        # The caller gets a generic message with the request id (kit.errors.public_envelope); the log the reason.
        rid = context.current().request_id
        logging.getLogger("cityhub.data").warning("CKAN %s (request id %s): %s %s", exc.code, rid, exc.message,
                                                  exc.details)
        return CkanError(exc.status_code, "Service Unavailable",
                         {"message": public_envelope(exc, rid)["error"]["message"], "request_id": rid})
    return CkanError(409, "Validation Error", {"message": [exc.message]})


_FIELD_BACK = {"abstract": "notes", "provider_org_id": "owner_org", "title": "title", "upstream_url": "url"}


def _ckan_field(name: str) -> str:
    return _FIELD_BACK.get(name, name)


# ---------------------------------------------------------------- parameters


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
            if isinstance(v, bool) or isinstance(v, float) and not v.is_integer():
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


# ---------------------------------------------------------------- dictization


def _ts(value: datetime | None) -> str | None:
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
        "description": org.name_en or "", "image_url": "", "image_display_url": "", "created": _ts(org.created_at),
        "is_organization": True, "approval_status": "approved", "state": "active",
    }
    if package_count is not None:
        out["package_count"] = package_count
    return out


def theme_slug(theme: str) -> str:
    """The URL-safe group name of a theme (pinyin)."""
    from pypinyin import lazy_pinyin

    return "theme-" + (re.sub(r"[^a-z0-9]+", "-", "-".join(lazy_pinyin(theme)).lower()).strip("-") or "x")


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
        "hash": res.file_sha256, "created": _ts(res.created_at), "last_modified": _ts(res.loaded_at),
        "metadata_modified": _ts(res.updated_at), "position": position, "state": "active", "resource_type": res.kind,
        "cityhub_rows": res.row_count if res.kind == "table" else None,
    }


_EXTRA_FIELDS = ("classification", "base_db", "theme", "format_category", "share_type", "share_condition",
                 "share_mode", "open_type", "open_condition", "update_cycle", "security_grade", "source_system",
                 "legal_basis")


def package_dict(c: Call, entry: CatalogEntry, resources: list[Resource] | None = None) -> dict[str, Any]:
    """A CKAN package dict of a catalog entry."""
    org = c.orgs().get(entry.provider_org_id)
    if resources is None:
        resources = list(c.session.scalars(select(Resource).where(Resource.entry_id == entry.id)
                                           .order_by(Resource.created_at)))
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
        "state": state, "private": entry.open_type == "none" or entry.status != EntryStatus.PUBLISHED,
        "owner_org": str(entry.provider_org_id), "organization": org_dict(org) if org else None,
        "author": org.name if org else None, "author_email": None, "maintainer": org.name if org else None,
        "maintainer_email": None, "license_id": lic["id"], "license_title": lic["title"],
        "license_url": lic["url"], "isopen": lic["isopen"], "url": f"{c.base_url}/dataset/{entry.name}",
        "version": str(entry.version), "metadata_created": _ts(entry.created_at),
        "metadata_modified": _ts(entry.updated_at), "creator_user_id": None,
        "num_resources": len(resources), "num_tags": len(tags), "tags": tags, "groups": _groups(entry),
        "extras": extras, "resources": [resource_dict(c, r, entry, i) for i, r in enumerate(resources)],
        "relationships_as_object": [], "relationships_as_subject": [],
    }


def _public_items(c: Call, entry: CatalogEntry) -> list[dict[str, Any]]:
    """Information items as metadata (names, types, masking) — never data; all are listed, masked ones marked."""
    return [{"name_cn": i.get("name_cn"), "name_en": i.get("name_en"), "data_type": i.get("data_type"),
             "masked": bool(service.item_mask(i)) or i.get("security_level") == "core"} for i in entry.items or []]


# ---------------------------------------------------------------- search


_FQ = re.compile(r'\s*([+-]?)([A-Za-z_][\w.]*):("(?:[^"\\]|\\.)*"|\((?:[^()"]|"[^"]*")*\)|\[[^\]]*\]|[^\s()"\[\]]+)')
_RANGE = re.compile(r"^\[\s*(\S+)\s+TO\s+(\S+)\s*\]$", re.I)
FACET_FIELDS = {"organization": "provider_org_id", "owner_org": "provider_org_id", "groups": "groups",
                "tags": "tags", "license_id": "open_type", "res_format": "res_format",
                **{f: f for f in ("classification", "base_db", "share_type", "open_type", "format_category",
                                  "update_cycle", "security_grade", "theme")}}
FQ_FIELDS = {*FACET_FIELDS, "name", "id", "metadata_modified", "metadata_created", "dataset_type", "type", "state",
             "private", "code", "resource_code", "text", "title", "capacity", "site_id"}
SORTS = {"score desc": "relevance", "score": "relevance", "metadata_modified desc": "updated",
         "metadata_modified asc": "updated_asc", "metadata_modified": "updated_asc", "title_string asc": "title",
         "title_string desc": "title_desc", "title_string": "title", "name asc": "name", "name desc": "name_desc",
         "name": "name", "metadata_created desc": "created", "metadata_created asc": "created_asc",
         "views_recent desc": "views", "views_total desc": "views", "id asc": "id", "id": "id",
         "code asc": "code"}


def _values(raw: str) -> list[str]:
    raw = raw.strip()
    if raw.startswith("(") and raw.endswith(")"):
        parts = re.split(r"\s+OR\s+", raw[1:-1].strip())
        return [_unquote(p) for p in parts if p.strip()]
    return [_unquote(raw)]


def _unquote(v: str) -> str:
    v = v.strip()
    if len(v) >= 2 and v[0] == v[-1] == '"':
        return re.sub(r"\\(.)", r"\1", v[1:-1])
    return re.sub(r"\\(.)", r"\1", v)


def _when(v: str, param: str) -> datetime | None:
    if v == "*":
        return None
    s = v.strip().upper()
    if s.startswith("NOW"):
        base = clock.now()
        m = re.match(r"^NOW(?:-(\d+)(DAYS?|HOURS?|MINUTES?))?(?:/DAY)?$", s)
        if not m:
            raise invalid(param, f"Invalid date {v!r}")
        if m.group(1):
            from datetime import timedelta

            unit = m.group(2)[0]
            n = int(m.group(1))
            base -= timedelta(days=n) if unit == "D" else timedelta(hours=n) if unit == "H" else timedelta(minutes=n)
        return base
    try:
        dt = datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        raise invalid(param, f"Invalid date {v!r}") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


@dataclass
class _Query:
    filters: dict[str, list[str]] = field(default_factory=dict)
    extra: list[ColumnElement[bool]] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    states: list[str] | None = None


def _org_ids(c: Call, values: list[str], by_code: bool) -> list[str]:
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


def _entry_cond(clause: ColumnElement[bool]) -> ColumnElement[bool]:
    return CatalogSearch.entry_id.in_(select(CatalogEntry.id).where(clause))


def _term(c: Call, q: _Query, neg: bool, name: str, raw: str, param: str) -> None:
    if name not in FQ_FIELDS:
        raise invalid(param, f"Unknown field '{name}' in {param}")
    if name in ("metadata_modified", "metadata_created"):
        m = _RANGE.match(raw.strip())
        if not m:
            raise invalid(param, f"{name} takes a range [FROM TO TO]")
        lo, hi = _when(m.group(1), param), _when(m.group(2), param)
        col: Any = CatalogSearch.updated_at if name == "metadata_modified" else None
        conds = []
        if name == "metadata_modified":
            if lo:
                conds.append(col >= lo)
            if hi:
                conds.append(col <= hi)
        else:
            if lo:
                conds.append(_entry_cond(CatalogEntry.created_at >= lo))
            if hi:
                conds.append(_entry_cond(CatalogEntry.created_at <= hi))
        if conds:
            q.extra.append(not_(and_(*conds)) if neg else and_(*conds))
        return
    values = _values(raw)
    if name in ("text",):
        q.text.extend(values)
        return
    if name in ("dataset_type", "type"):
        if ("dataset" in values) == neg:
            q.extra.append(CatalogSearch.entry_id.is_(None))  # no other dataset types exist
        return
    if name in ("site_id", "capacity"):
        return  # CKAN's internal terms: one site, public capacity
    if name == "state":
        mapped = [{"active": "published", "deleted": "offline"}.get(v, v) for v in values]
        q.states = mapped if not neg else [s for s in ("published", "draft", "pending_review", "rejected", "offline")
                                           if s not in mapped]
        return
    if name == "private":
        want_private = values[0].lower() == "true"
        if neg:
            want_private = not want_private
        q.extra.append(CatalogSearch.open_type == "none" if want_private else CatalogSearch.open_type != "none")
        return
    cond: ColumnElement[bool]
    if name in ("organization", "owner_org"):
        cond = CatalogSearch.provider_org_id.in_([uuid.UUID(x) for x in _org_ids(c, values, name == "organization")])
    elif name == "license_id":
        cond = CatalogSearch.open_type.in_([LICENSE_BY_ID[v]["open_type"] for v in values if v in LICENSE_BY_ID]
                                           or ["-"])
    elif name == "groups":
        base = [v for v in values if v in BASE_DBS]
        themes = [v for v in values if v not in BASE_DBS]
        parts: list[ColumnElement[bool]] = []
        if base:
            parts.append(CatalogSearch.base_db.in_(base))
        if themes:
            names = _theme_names(c, themes)
            parts.append(_entry_cond(CatalogEntry.theme.in_(names or ["\x01"])))
        cond = or_(*parts)
    elif name == "tags":
        if not neg and len(values) == 1:
            q.filters.setdefault("tags", []).append(values[0])
            return
        cond = or_(*[_entry_cond(_tag_clause(c, v)) for v in values])
    elif name == "name":
        cond = _entry_cond(CatalogEntry.name.in_(values))
    elif name == "title":
        cond = _entry_cond(or_(*[CatalogEntry.title.contains(v) for v in values]))
    elif name == "id":
        ids = []
        for v in values:
            try:
                ids.append(uuid.UUID(v))
            except ValueError:
                raise invalid(param, f"Invalid id {v!r}") from None
        cond = CatalogSearch.entry_id.in_(ids)
    elif name in ("code", "resource_code"):
        cond = CatalogSearch.code.in_(values)
    elif name == "res_format":
        kinds = {"CSV": "table", "JSON": "table", "XLSX": "table", "API": "api"}
        want = [kinds.get(v.upper(), "file") for v in values]
        cond = CatalogSearch.entry_id.in_(select(Resource.entry_id).where(Resource.kind.in_(want)))
    elif name == "theme":
        cond = _entry_cond(CatalogEntry.theme.in_(values))
    else:
        if not neg:
            q.filters.setdefault(FACET_FIELDS[name], []).extend(values)
            return
        cond = getattr(CatalogSearch, FACET_FIELDS[name]).in_(values)
    q.extra.append(not_(cond) if neg else cond)


def _tag_clause(c: Call, tag: str) -> ColumnElement[bool]:
    from sqlalchemy import String, cast, literal
    from sqlalchemy.dialects.postgresql import JSONB

    from cityhub.kit.db import is_postgres

    if is_postgres(c.session):
        return CatalogEntry.tags.op("@>")(cast(literal(json.dumps([tag], ensure_ascii=False), String), JSONB))
    return CatalogEntry.search_text.contains(f"tag:{tag.lower().replace(' ', '')}")


def _theme_names(c: Call, slugs: list[str]) -> list[str]:
    themes = c.session.scalars(select(CatalogEntry.theme).where(CatalogEntry.theme != "").distinct()).all()
    wanted = set(slugs)
    return [t for t in themes if theme_slug(t) in wanted or t in wanted]


def _parse_terms(c: Call, text: str, param: str, q: _Query, free_text_ok: bool) -> None:
    """Solr-style `field:value` terms (`-` negates, `(a OR b)` lists, `[A TO B]` ranges); free text in q."""
    pos = 0
    rest: list[str] = []
    text = text.strip()
    while pos < len(text):
        m = _FQ.match(text, pos)
        if m and (m.group(2) in FQ_FIELDS or not free_text_ok):
            _term(c, q, m.group(1) == "-", m.group(2), m.group(3), param)  # unknown fields in fq: 409
            pos = m.end()
            continue
        word = re.match(r"\s*(\S+)", text[pos:])
        if not word:
            break
        if not free_text_ok:
            if word.group(1) in ("AND", "&&"):
                pos += word.end()
                continue
            raise invalid(param, f"Cannot parse {param} near {text[pos:pos + 40].strip()!r}: use field:value terms")
        rest.append(word.group(1))
        pos += word.end()
    if rest:
        q.text.append(" ".join(rest))


def _search(c: Call, *, rows: int, start: int, facets: list[str], facet_limit: int,
            sort: str) -> tuple[list[CatalogEntry], int, dict[str, dict[str, int]]]:
    q = _Query()
    raw_q = c.get_str("q", max_len=1000).strip()
    if raw_q in ("*:*", "*"):
        raw_q = ""
    _parse_terms(c, raw_q, "q", q, free_text_ok=True)
    fqs = [c.get_str("fq", max_len=4000)]
    fq_list = c.params.get("fq_list")
    if fq_list is not None:
        fqs += c.get_list("fq_list")
    for fq in fqs:
        if fq:
            _parse_terms(c, fq, "fq", q, free_text_ok=False)
    include_private = c.get_bool("include_private") and policies.is_insider(c.actor)
    include_drafts = c.get_bool("include_drafts") and policies.is_insider(c.actor)
    if not include_private:
        q.extra.append(CatalogSearch.open_type != "none")
    filters = dict(q.filters)
    if q.states is not None:
        allowed = q.states if include_drafts or c.actor.is_platform_admin else \
            [s for s in q.states if s == "published"] or ["-"]
        filters["status"] = allowed if policies.is_insider(c.actor) else [s for s in allowed if s == "published"] \
            or ["-"]
    elif include_drafts:
        filters["status"] = ["published", "draft", "pending_review", "rejected"]
    mapped_facets = []
    for f in facets:
        m = FACET_FIELDS.get(f)
        if m in ("groups",):
            mapped_facets += ["base_db", "theme"]
        elif m and m != "res_format":
            mapped_facets.append(m)
    order = SORTS.get(re.sub(r"\s+", " ", sort.strip().lower()).split(",")[0].strip()) if sort else None
    if sort and order is None:
        raise invalid("sort", f"Unknown sort {sort!r}; use e.g. 'metadata_modified desc', 'title_string asc'")
    if order == "relevance" and not q.text:
        order = "updated"
    return service.catalog_search(c.session, c.actor, " ".join(q.text), filters, list(dict.fromkeys(mapped_facets)),
                                  order or "", rows, start, extra=q.extra, facet_limit=facet_limit)


def _facet_output(c: Call, facets: list[str], counts: dict[str, dict[str, int]], limit: int
                  ) -> tuple[dict[str, dict[str, int]], dict[str, Any]]:
    out: dict[str, dict[str, int]] = {}
    rich: dict[str, Any] = {}
    labels = {"classification": CLASSIFICATIONS, "base_db": BASE_DBS, "share_type": SHARE_TYPES,
              "open_type": OPEN_TYPES, "format_category": FORMATS, "update_cycle": UPDATE_CYCLES,
              "security_grade": GRADES}
    for f in facets:
        m = FACET_FIELDS.get(f)
        values: dict[str, int] = {}
        display: dict[str, str] = {}
        if m == "provider_org_id":
            for oid, n in counts.get("provider_org_id", {}).items():
                org = c.orgs().get(uuid.UUID(oid))
                key = org.code if f == "organization" and org else oid
                values[key] = n
                display[key] = org.name if org else oid
        elif m == "open_type" and f == "license_id":
            for ot, n in counts.get("open_type", {}).items():
                lic = LICENSE_BY_OPEN.get(ot)
                if lic:
                    values[str(lic["id"])] = n
                    display[str(lic["id"])] = str(lic["title"])
        elif m == "groups":
            for b, n in counts.get("base_db", {}).items():
                if b:
                    values[b] = n
                    display[b] = BASE_DBS.get(b, b)
            for t, n in counts.get("theme", {}).items():
                values[theme_slug(t)] = n
                display[theme_slug(t)] = t
        elif m and m in counts:
            for v, n in counts[m].items():
                if v == "":
                    continue
                values[v] = n
                display[v] = labels.get(m, {}).get(v, v)
        values = dict(sorted(values.items(), key=lambda kv: (-kv[1], kv[0]))[:limit])
        out[f] = values
        rich[f] = {"title": f, "items": [{"name": k, "display_name": display.get(k, k), "count": n}
                                         for k, n in values.items()]}
    return out, rich


def package_search(c: Call) -> dict[str, Any]:
    """Search packages: q, fq (field:value terms), facet.field, facet.limit, rows, start, sort, include_private."""
    rows = c.get_int("rows", 10, 0, MAX_ROWS)
    start = c.get_int("start", 0, 0, MAX_START)
    want_facets = c.get_bool("facet", True)
    facets = c.get_json("facet.field", []) if want_facets else []
    if not isinstance(facets, list) or not all(isinstance(f, str) for f in facets):
        raise invalid("facet.field", "Must be a JSON list of field names")
    facet_limit = c.get_int("facet.limit", 50, -1, 10_000)
    if facet_limit < 0:
        facet_limit = 10_000
    sort = c.get_str("sort", max_len=200)
    entries, total, counts = _search(c, rows=rows, start=start, facets=facets, facet_limit=facet_limit, sort=sort)
    res_by_entry: dict[uuid.UUID, list[Resource]] = {e.id: [] for e in entries}
    if entries:
        for r in c.session.scalars(select(Resource).where(Resource.entry_id.in_(list(res_by_entry)))
                                   .order_by(Resource.created_at)):
            res_by_entry[r.entry_id].append(r)
    plain, rich = _facet_output(c, facets, counts, facet_limit)
    return {"count": total, "results": [package_dict(c, e, res_by_entry[e.id]) for e in entries],
            "facets": plain, "search_facets": rich, "sort": sort or "score desc, metadata_modified desc"}


# ---------------------------------------------------------------- read actions


def _entry(c: Call, param: str = "id") -> CatalogEntry:
    ref = c.get_str(param, required=True, max_len=200)
    try:
        return portal.open_entry(c.session, c.actor, ref)
    except NotFound:
        raise not_found(_("Dataset not found")) from None


def _entry_public(c: Call, entry: CatalogEntry) -> CatalogEntry:
    """Private (不予开放) and unpublished entries exist only for insiders who may see them."""
    if (entry.open_type == "none" or entry.status != EntryStatus.PUBLISHED) and not policies.is_insider(c.actor):
        raise not_found(_("Dataset not found"))
    return entry


def status_show(c: Call) -> dict[str, Any]:
    """Site status: CKAN version emulated, site title and URL, extensions."""
    s = get_settings()
    return {"ckan_version": CKAN_VERSION, "site_title": s.portal_site_title, "site_description": "cityhub 开放数据",
            "site_url": c.base_url, "locale_default": "zh_Hans_CN", "error_emails_to": None,
            "extensions": ["datastore", "dcat", "datapackage", "cityhub"], "cityhub_version": __version__}


def site_read(c: Call) -> bool:
    """The site may be read."""
    return True


def package_list(c: Call) -> list[str]:
    """Names of the open datasets (limit/offset)."""
    limit = c.get_int("limit", MAX_START, 0, MAX_START)
    offset = c.get_int("offset", 0, 0, MAX_START)
    stmt = (select(CatalogEntry.name).join(CatalogSearch, CatalogSearch.entry_id == CatalogEntry.id)
            .where(CatalogSearch.status == EntryStatus.PUBLISHED, CatalogSearch.open_type != "none")
            .order_by(CatalogEntry.name).limit(limit).offset(offset))
    return list(c.session.scalars(stmt))


def package_show(c: Call) -> dict[str, Any]:
    """One package by id or name."""
    return package_dict(c, _entry_public(c, _entry(c)))


def current_package_list_with_resources(c: Call) -> list[dict[str, Any]]:
    """Recently modified open packages with their resources (limit, offset or page)."""
    limit = c.get_int("limit", 10, 0, MAX_ROWS)
    offset = c.get_int("offset", 0, 0, MAX_START)
    page = c.get_int("page", 0, 0, MAX_START)
    if page:
        offset = (page - 1) * limit
    entries, _t, _f = service.catalog_search(c.session, c.actor, "", {}, [], "updated", limit, offset,
                                             extra=[CatalogSearch.open_type != "none"])
    return [package_dict(c, e) for e in entries]


def resource_show(c: Call) -> dict[str, Any]:
    """One resource by id."""
    rid = _uuid_param(c, "id")
    try:
        res, entry = portal.open_resource(c.session, c.actor, rid)
    except NotFound:
        raise not_found(_("Resource not found")) from None
    _entry_public(c, entry)
    pos = [r.id for r in c.session.scalars(select(Resource).where(Resource.entry_id == entry.id)
                                           .order_by(Resource.created_at))].index(res.id)
    return resource_dict(c, res, entry, pos)


def _uuid_param(c: Call, name: str) -> uuid.UUID:
    raw = c.get_str(name, required=True, max_len=100)
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise not_found(f"{name} {raw[:40]}") from None


def resource_search(c: Call) -> dict[str, Any]:
    """Resources of open datasets matching `query` terms (name:, format:, description:)."""
    raw = c.params.get("query")
    terms = c.get_list("query") if isinstance(raw, list) else ([c.get_str("query", max_len=500)] if raw else [])
    limit = c.get_int("limit", 100, 0, MAX_ROWS)
    offset = c.get_int("offset", 0, 0, MAX_START)
    stmt = (select(Resource, CatalogEntry).join(CatalogEntry, CatalogEntry.id == Resource.entry_id)
            .where(CatalogEntry.status == EntryStatus.PUBLISHED, CatalogEntry.open_type != "none"))
    for t in terms:
        key, sep, value = t.partition(":")
        if not sep or not value:
            raise invalid("query", "Use field:term, e.g. name:人口")
        key = key.strip().lower()
        value = value.strip()
        if key == "name":
            stmt = stmt.where(Resource.title.contains(value))
        elif key == "format":
            kinds = {"CSV": "table", "JSON": "table", "XLSX": "table", "API": "api"}
            stmt = stmt.where(Resource.kind == kinds.get(value.upper(), "file"))
        elif key in ("description", "url", "id"):
            if key == "id":
                try:
                    stmt = stmt.where(Resource.id == uuid.UUID(value))
                except ValueError:
                    raise invalid("query", "Invalid id") from None
            elif key == "description":
                stmt = stmt.where(CatalogEntry.abstract.contains(value))
        else:
            raise invalid("query", f"Unknown field '{key}'")
    from sqlalchemy import func

    total = c.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    found = c.session.execute(stmt.order_by(Resource.created_at, Resource.id).limit(limit).offset(offset)).all()
    return {"count": int(total), "results": [resource_dict(c, r, e) for r, e in found]}


def _open_counts(c: Call) -> dict[str, int]:
    _rows, _total, counts = service.catalog_search(c.session, c.actor, "", {}, ["provider_org_id"], "", 0, 0,
                                                   extra=[CatalogSearch.open_type != "none"])
    return counts.get("provider_org_id", {})


def organization_list(c: Call) -> list[Any]:
    """Provider organisations (codes, or dicts with `all_fields`), public-user organisation excluded."""
    all_fields = c.get_bool("all_fields")
    sort = c.get_str("sort", "name asc", max_len=60).strip().lower()
    limit = c.get_int("limit", 1000, 0, 1000)
    offset = c.get_int("offset", 0, 0, MAX_START)
    wanted = set(c.get_list("organizations"))
    counts = _open_counts(c)
    orgs = [o for o in c.orgs().values() if o.code != portal.PUBLIC_ORG_CODE and (not wanted or o.code in wanted)]
    key, _sp, direction = sort.partition(" ")
    if key not in ("name", "title", "package_count"):
        raise invalid("sort", "Sort by name, title or package_count")
    orgs.sort(key=lambda o: (counts.get(str(o.id), 0) if key == "package_count" else
                             (o.name if key == "title" else o.code)), reverse=direction == "desc")
    page = orgs[offset:offset + limit]
    if not all_fields:
        return [o.code for o in page]
    return [org_dict(o, counts.get(str(o.id), 0)) for o in page]


def _org(c: Call) -> Any:
    ref = c.get_str("id", required=True, max_len=100)
    for o in c.orgs().values():
        if (str(o.id) == ref or o.code == ref) and o.code != portal.PUBLIC_ORG_CODE:
            return o
    raise not_found(_("Organization not found"))


def organization_show(c: Call) -> dict[str, Any]:
    """One organisation by id or name, with package_count (and its open datasets with `include_datasets`)."""
    org = _org(c)
    out = org_dict(org, _open_counts(c).get(str(org.id), 0))
    if c.get_bool("include_datasets"):
        entries, _t, _f = service.catalog_search(c.session, c.actor, "", {"provider_org_id": [str(org.id)]}, [],
                                                 "updated", 1000, 0, extra=[CatalogSearch.open_type != "none"])
        out["packages"] = [package_dict(c, e) for e in entries]
    out["users"] = []
    return out


def _group_counts(c: Call) -> dict[str, tuple[str, str, int]]:
    _rows, _total, counts = service.catalog_search(c.session, c.actor, "", {}, ["base_db", "theme"], "", 0, 0,
                                                   extra=[CatalogSearch.open_type != "none"], facet_limit=10_000)
    out: dict[str, tuple[str, str, int]] = {}
    for b, n in counts.get("base_db", {}).items():
        if b:
            out[b] = (BASE_DBS.get(b, b), "基础库", n)
    for t, n in counts.get("theme", {}).items():
        out[theme_slug(t)] = (t, "主题库", n)
    return out


def _group_dict(name: str, title: str, kind: str, n: int) -> dict[str, Any]:
    return {"id": name, "name": name, "title": title, "display_name": title, "description": kind,
            "type": "group", "is_organization": False, "state": "active", "approval_status": "approved",
            "image_url": "", "image_display_url": "", "package_count": n}


def group_list(c: Call) -> list[Any]:
    """Groups: the base databases (基础库) and themes (主题库) of the open catalog."""
    groups = _group_counts(c)
    names = sorted(groups)
    if c.get_str("sort", max_len=60).strip().lower().startswith("package_count"):
        names.sort(key=lambda n: -groups[n][2])
    names = names[c.get_int("offset", 0):][:c.get_int("limit", 1000, 0, 1000)]
    if not c.get_bool("all_fields"):
        return names
    return [_group_dict(n, *groups[n]) for n in names]


def group_show(c: Call) -> dict[str, Any]:
    """One group by name."""
    name = c.get_str("id", required=True, max_len=200)
    groups = _group_counts(c)
    if name not in groups:
        raise not_found(_("Group not found"))
    out = _group_dict(name, *groups[name])
    if c.get_bool("include_datasets"):
        q = _Query()
        _term(c, q, False, "groups", json.dumps(name), "id")
        entries, _t, _f = service.catalog_search(c.session, c.actor, "", {}, [], "updated", 1000, 0,
                                                 extra=[CatalogSearch.open_type != "none", *q.extra])
        out["packages"] = [package_dict(c, e) for e in entries]
    return out


def tag_list(c: Call) -> list[Any]:
    """Tags of the open catalog (`query` filters by substring; `all_fields` gives dicts)."""
    _rows, _total, counts = service.catalog_search(c.session, c.actor, "", {}, ["tags"], "", 0, 0,
                                                   extra=[CatalogSearch.open_type != "none"], facet_limit=100_000)
    query = c.get_str("query", max_len=100).lower()
    tags = sorted(t for t in counts.get("tags", {}) if query in t.lower())
    if c.get_bool("all_fields"):
        return [{"id": t, "name": t, "display_name": t, "vocabulary_id": None, "state": "active"} for t in tags]
    return tags


def license_list(c: Call) -> list[dict[str, Any]]:
    """The licences: one per open type (无条件开放, 有条件开放, 不予开放)."""
    return [{"id": lic["id"], "title": lic["title"], "url": lic["url"], "status": "active",
             "od_conformance": "approved" if lic["isopen"] else "not reviewed",
             "osd_conformance": "not reviewed", "is_okd_compliant": lic["isopen"], "is_osi_compliant": False,
             "domain_content": True, "domain_data": True, "domain_software": False, "family": "",
             "maintainer": "", "is_generic": False} for lic in LICENSES]


def package_activity_list(c: Call) -> list[dict[str, Any]]:
    """The published versions of a package as an activity stream, newest first."""
    entry = _entry_public(c, _entry(c))
    limit = c.get_int("limit", 31, 0, 1000)
    offset = c.get_int("offset", 0, 0, MAX_START)
    versions = service.catalog_entry_versions(c.session, c.actor, entry.id)[offset:offset + limit]
    return [{"id": str(v.id), "timestamp": _ts(v.created_at), "user_id": None, "object_id": str(entry.id),
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
        if isinstance(v, dict) or isinstance(v, list) and any(isinstance(x, dict | list) for x in v):
            raise invalid("filters", f"Invalid value for {k}")
    return f


def datastore_search(c: Call) -> dict[str, Any]:
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
        cols, recs, total, _next, entry, res = portal.rows(c.session, c.actor, rid, _filters(c), q, fields, sort,
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
    rid = _uuid_param(c, "id") if c.params.get("id") else _uuid_param(c, "resource_id")
    try:
        res, entry = portal.open_resource(c.session, c.actor, rid)
    except NotFound:
        raise not_found(f"Resource \"{rid}\" was not found.") from None
    _entry_public(c, entry)
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


def help_show(c: Call) -> str:
    """The documentation of an action."""
    name = c.get_str("name", required=True, max_len=100)
    fn = ACTIONS.get(name)
    if fn is None:
        raise not_found(f"Action {name!r}")
    return (fn.__doc__ or name).strip()


# ---------------------------------------------------------------- write actions


_CATALOG_KEYS = {"classification", "base_db", "theme", "format_category", "share_type", "share_condition",
                 "legal_basis", "share_mode", "open_type", "open_condition", "update_cycle", "security_grade",
                 "source_system", "items", "related_entry_ids"}
_IGNORED_EXTRAS = {"resource_code", "version", "change_status"}  # read-only facts we publish ourselves
_PACKAGE_KEYS = {"id", "name", "title", "notes", "owner_org", "tags", "tag_string", "private", "license_id",
                 "extras", "groups", "resources", "state", "type", "url", "author", "author_email", "maintainer",
                 "maintainer_email", "version", "metadata_created", "metadata_modified", "organization",
                 "num_resources", "num_tags", "license_title", "license_url", "isopen", "creator_user_id",
                 "relationships_as_object", "relationships_as_subject", "revision_id", "notes_rendered"}


def _package_values(c: Call, existing: CatalogEntry | None) -> dict[str, Any]:
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
                themes = _theme_names(c, [name])
                v["theme"] = themes[0] if themes else name.removeprefix("theme-")
            else:
                raise invalid("groups", "Each group has a name")
    if "license_id" in p and p["license_id"]:
        lic = LICENSE_BY_ID.get(str(p["license_id"]))
        if lic is None:
            raise invalid("license_id", "Unknown licence; one of " + ", ".join(str(k) for k in LICENSE_BY_ID))
        v.setdefault("open_type", lic["open_type"])
    if "private" in p:
        private = c.get_bool("private")
        if private:
            v["open_type"] = "none"
        elif (v.get("open_type") or (existing.open_type if existing else "none")) == "none":
            v["open_type"] = "unconditional"
    return v


def _pydantic_error(exc: ValidationError) -> CkanError:
    errors: dict[str, list[str]] = {}
    for e in exc.errors():
        loc = [str(x) for x in e.get("loc", ())]
        key = _ckan_field(loc[0]) if loc else "message"
        errors.setdefault(key, []).append(("/".join(loc[1:]) + ": " if len(loc) > 1 else "") + e.get("msg", ""))
    return CkanError(409, "Validation Error", dict(errors))


def _publish_or_queue(c: Call, entry: CatalogEntry) -> None:
    """Send the entry (or its changes) to review; a caller who may review publishes at once."""
    if entry.status == EntryStatus.PUBLISHED and not entry.pending_changes:
        return
    service.catalog_entry_submit(c.session, c.actor, entry.id)
    if policies.is_bureau(c.actor) and c.actor.allows_scope("data:write"):
        service.catalog_entry_review(c.session, c.actor, entry.id, True, "CKAN API: published by the bureau")


def package_create(c: Call) -> dict[str, Any]:
    """Create a catalog entry from a package; it lands as a draft for review unless the caller may publish."""
    from cityhub.data.schemas import EntryCreate

    values = _package_values(c, None)
    org_ref = c.get_str("owner_org", required=True, max_len=100)
    ids = _org_ids(c, [org_ref], by_code=False)
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
    entry = service.catalog_entry_create(c.session, c.actor, body)
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
    from cityhub.data.schemas import EntryUpdate

    entry = _existing(c)
    policies.catalog_entry_update(c.actor, entry.provider_org_id)
    values = _package_values(c, entry)
    if "name" in c.params and c.get_str("name") not in (entry.name, str(entry.id)):
        raise invalid("name", "A dataset's name (its URL) cannot change")
    if "owner_org" in c.params and _org_ids(c, [c.get_str("owner_org")], False)[0] != str(entry.provider_org_id):
        raise invalid("owner_org", "A dataset cannot move to another organization")
    changed = {k: val for k, val in values.items()
               if (entry.pending_changes or {}).get(k, getattr(entry, k, None)) != val}
    if changed:
        try:
            body = EntryUpdate.model_validate(changed)
        except ValidationError as exc:
            raise _pydantic_error(exc) from None
        service.catalog_entry_update(c.session, c.actor, entry.id, body)
        _publish_or_queue(c, entry)
    return package_dict(c, entry)


def package_update(c: Call) -> dict[str, Any]:
    """Update a package: like patch for catalog fields (required guideline fields are never cleared)."""
    return package_patch(c)


def package_delete(c: Call) -> None:
    """Take a published package offline (CKAN state 'deleted'); the entry and its history stay."""
    entry = _existing(c)
    if entry.status != EntryStatus.PUBLISHED:
        policies.catalog_entry_update(c.actor, entry.provider_org_id)
        raise invalid("state", f"Only published datasets can be deleted (state is {entry.status})")
    service.catalog_entry_offline(c.session, c.actor, entry.id, "CKAN API package_delete")
    return None


def _resource_from_url(c: Call, entry: CatalogEntry, r: dict[str, Any], field_name: str) -> Resource:
    from cityhub.data.schemas import ResourceApiCreate

    url = r.get("url")
    if not isinstance(url, str) or not url:
        raise invalid(field_name, "A resource needs an upload or a url")
    try:
        body = ResourceApiCreate(title=str(r.get("name") or url)[:200], upstream_url=url)
    except ValidationError as exc:
        raise invalid("url", "; ".join(e.get("msg", "") for e in exc.errors())) from None
    return service.resource_api_create(c.session, c.actor, entry.id, body)


def _upload(c: Call, entry: CatalogEntry, resource_id: uuid.UUID | None, title: str) -> Resource:
    name, stream, media = c.files["upload"]
    lower = name.lower()
    if lower.endswith((".csv", ".xlsx", ".xlsm")):
        res, load = service.resource_table_upload(c.session, c.actor, entry.id, name, stream, title, resource_id)
        if not load.accepted or res is None:
            first = "; ".join(f"row {e.get('row')} {e.get('column')}: {e.get('message')}" for e in load.errors[:5])
            raise CkanError(409, "Validation Error", {"upload": [f"{load.rows_bad} bad rows, nothing loaded. {first}"],
                                                      "errors": load.errors[:200]})
        return res
    return service.resource_file_upload(c.session, c.actor, entry.id, title, name, media, stream, resource_id)


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
    rid = _uuid_param(c, "id")
    try:
        res, entry = portal.open_resource(c.session, c.actor, rid)
    except NotFound:
        raise not_found(_("Resource not found")) from None
    policies.resource_manage(c.actor, entry.provider_org_id)
    if "upload" in c.files:
        res = _upload(c, entry, res.id, c.get_str("name", res.title, max_len=200))
    elif c.params.get("name"):
        res = service.resource_update(c.session, c.actor, res.id, c.get_str("name", max_len=200))
    if c.params.get("url") and res.kind != "api":
        raise invalid("url", "Only API resources have an upstream url; upload a file instead")
    return resource_dict(c, res, entry)


def resource_update(c: Call) -> dict[str, Any]:
    """Same as resource_patch (a resource's kind never changes)."""
    return resource_patch(c)


def resource_delete(c: Call) -> None:
    """Remove a resource (its datastore table or file goes with it)."""
    rid = _uuid_param(c, "id")
    try:
        service.resource_delete(c.session, c.actor, rid)
    except NotFound:
        raise not_found(_("Resource not found")) from None
    return None


ACTIONS: dict[str, Callable[[Call], Any]] = {
    f.__name__: f for f in (
        status_show, site_read, package_list, package_show, package_search, current_package_list_with_resources,
        resource_show, resource_search, organization_list, organization_show, group_list, group_show, tag_list,
        license_list, package_activity_list, datastore_search, datastore_search_sql, datastore_info, help_show,
        package_create, package_update, package_patch, package_delete, resource_create, resource_update,
        resource_patch, resource_delete)
}
WRITE_ACTIONS = frozenset({"package_create", "package_update", "package_patch", "package_delete", "resource_create",
                           "resource_update", "resource_patch", "resource_delete"})


def call(session: Session, actor: Actor, name: str, params: dict[str, Any], base_url: str,
         files: dict[str, tuple[str, IO[bytes], str]] | None = None) -> Any:
    """Run one action; raises CkanError (domain errors translated); writes run in a savepoint (all or nothing)."""
    fn = ACTIONS.get(name)
    if fn is None:
        raise bad_request(f"Action name not known: {name}")
    if name in WRITE_ACTIONS and not actor.is_authenticated:
        raise denied(_("Send the API token of a department user in the Authorization header"))
    c = Call(session=session, actor=actor, params=params, base_url=base_url, files=files or {})
    try:
        if name in WRITE_ACTIONS:
            with session.begin_nested():
                return fn(c)
        return fn(c)
    except CityhubError as exc:
        raise translate(exc) from exc
