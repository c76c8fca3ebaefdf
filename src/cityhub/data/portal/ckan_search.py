"""CKAN search actions: package_search (Solr-style `q`/`fq` terms), lists of packages, organisations, groups, tags.

resource_search too; all over the catalog's search and queries, the open catalog only unless the caller may see
more.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cityhub.data import policies
from cityhub.data.catalog import public as catalog_public
from cityhub.data.catalog import service as catalog
from cityhub.data.catalog.search import Term, catalog_search
from cityhub.data.portal import service as portal
from cityhub.data.portal.ckan_base import (
    LICENSE_BY_ID,
    LICENSE_BY_OPEN,
    MAX_ROWS,
    MAX_START,
    Call,
    invalid,
    not_found,
    org_dict,
    org_ids,
    package_dict,
    resource_dict,
    theme_names,
    theme_slug,
)
from cityhub.data.vocabulary import BASE_DBS, CLASSIFICATIONS, FORMATS, GRADES, OPEN_TYPES, SHARE_TYPES, UPDATE_CYCLES
from cityhub.kit import clock
from cityhub.kit.i18n import gettext as _

if TYPE_CHECKING:
    from cityhub.data.models import CatalogEntry


_FQ = re.compile(r'\s*([+-]?)([A-Za-z_][\w.]*):("(?:[^"\\]|\\.)*"|\((?:[^()"]|"[^"]*")*\)|\[[^\]]*\]|[^\s()"\[\]]+)')


_RANGE = re.compile(r"^\[\s*(\S+)\s+TO\s+(\S+)\s*\]$", re.I)


# a district's entries are published by the district (decision 0012): CKAN's organization is the publisher
FACET_FIELDS = {"organization": "publisher_org_id", "owner_org": "publisher_org_id", "groups": "groups",
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
    terms: list[Term] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    states: list[str] | None = None


def _term(c: Call, q: _Query, neg: bool, name: str, raw: str, param: str) -> None:  # noqa: C901  # one branch per CKAN field
    if name not in FQ_FIELDS:
        raise invalid(param, f"Unknown field '{name}' in {param}")
    if name in ("metadata_modified", "metadata_created"):
        m = _RANGE.match(raw.strip())
        if not m:
            raise invalid(param, f"{name} takes a range [FROM TO TO]")
        lo, hi = _when(m.group(1), param), _when(m.group(2), param)
        q.terms.append(Term("modified" if name == "metadata_modified" else "created", (lo, hi), neg))
        return
    values = _values(raw)
    if name in ("text",):
        q.text.extend(values)
        return
    if name in ("dataset_type", "type"):
        if ("dataset" in values) == neg:
            q.terms.append(Term("nothing"))  # no other dataset types exist
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
        q.terms.append(Term("private", (want_private != neg,)))
        return
    term: Term
    if name in ("organization", "owner_org"):
        term = Term("publisher_org_id", tuple(uuid.UUID(x) for x in org_ids(c, values, name == "organization")))
    elif name == "license_id":
        term = Term("open_type", tuple([LICENSE_BY_ID[v]["open_type"] for v in values if v in LICENSE_BY_ID] or ["-"]))
    elif name == "groups":
        base = [v for v in values if v in BASE_DBS]
        themes = [v for v in values if v not in BASE_DBS]
        parts = ([Term("base_db", tuple(base))] if base else []) + \
            ([Term("theme", tuple(theme_names(c, themes)))] if themes else [])
        term = Term("any", tuple(parts))
    elif name == "tags":
        if not neg and len(values) == 1:
            q.filters.setdefault("tags", []).append(values[0])
            return
        term = Term("tags_any", tuple(values))
    elif name in ("name", "theme"):
        term = Term(name, tuple(values))
    elif name == "title":
        term = Term("title_contains", tuple(values))
    elif name == "id":
        ids = []
        for v in values:
            try:
                ids.append(uuid.UUID(v))
            except ValueError:
                raise invalid(param, f"Invalid id {v!r}") from None
        term = Term("id", tuple(ids))
    elif name in ("code", "resource_code"):
        term = Term("code", tuple(values))
    elif name == "res_format":
        kinds = {"CSV": "table", "JSON": "table", "XLSX": "table", "API": "api"}
        term = Term("resource_kind", tuple(kinds.get(v.upper(), "file") for v in values))
    else:
        if not neg:
            q.filters.setdefault(FACET_FIELDS[name], []).extend(values)
            return
        term = Term(FACET_FIELDS[name], tuple(values))
    q.terms.append(Term(term.field, term.values, neg))


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
    return catalog_search(c.session, c.actor, " ".join(q.text), filters, list(dict.fromkeys(mapped_facets)),
                          order or "", rows, start, terms=q.terms, open_only=not include_private,
                          facet_limit=facet_limit)


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
        if m == "publisher_org_id":
            for oid, n in counts.get("publisher_org_id", {}).items():
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
    res_by_entry = catalog.resources_of(c.session, [e.id for e in entries])
    plain, rich = _facet_output(c, facets, counts, facet_limit)
    return {"count": total, "results": [package_dict(c, e, res_by_entry[e.id]) for e in entries],
            "facets": plain, "search_facets": rich, "sort": sort or "score desc, metadata_modified desc"}


def package_list(c: Call) -> list[str]:
    """Names of the open datasets (limit/offset)."""
    limit = c.get_int("limit", MAX_START, 0, MAX_START)
    offset = c.get_int("offset", 0, 0, MAX_START)
    return catalog_public.public_entry_names(c.session, limit, offset)


def current_package_list_with_resources(c: Call) -> list[dict[str, Any]]:
    """Recently modified open packages with their resources (limit, offset or page)."""
    limit = c.get_int("limit", 10, 0, MAX_ROWS)
    offset = c.get_int("offset", 0, 0, MAX_START)
    page = c.get_int("page", 0, 0, MAX_START)
    if page:
        offset = (page - 1) * limit
    entries, _t, _f = catalog_search(c.session, c.actor, "", {}, [], "updated", limit, offset, open_only=True)
    return [package_dict(c, e) for e in entries]


def resource_search(c: Call) -> dict[str, Any]:
    """Resources of open datasets matching `query` terms (name:, format:, description:)."""
    raw = c.params.get("query")
    terms = c.get_list("query") if isinstance(raw, list) else ([c.get_str("query", max_len=500)] if raw else [])
    limit = c.get_int("limit", 100, 0, MAX_ROWS)
    offset = c.get_int("offset", 0, 0, MAX_START)
    names: list[str] = []
    kinds: list[str] = []
    ids: list[uuid.UUID] = []
    descriptions: list[str] = []
    for t in terms:
        key, sep, value = t.partition(":")
        if not sep or not value:
            raise invalid("query", "Use field:term, e.g. name:人口")
        key = key.strip().lower()
        value = value.strip()
        if key == "name":
            names.append(value)
        elif key == "format":
            kinds.append({"CSV": "table", "JSON": "table", "XLSX": "table", "API": "api"}.get(value.upper(), "file"))
        elif key == "id":
            try:
                ids.append(uuid.UUID(value))
            except ValueError:
                raise invalid("query", "Invalid id") from None
        elif key == "description":
            descriptions.append(value)
        elif key != "url":
            raise invalid("query", f"Unknown field '{key}'")
    found, total = catalog.public_resource_search(c.session, names=names, kinds=kinds, ids=ids,
                                                  descriptions=descriptions, limit=limit, offset=offset)
    return {"count": total, "results": [resource_dict(c, r, e) for r, e in found]}


def _open_counts(c: Call) -> dict[str, int]:
    _rows, _total, counts = catalog_search(c.session, c.actor, "", {}, ["publisher_org_id"], "", 0, 0,
                                                   open_only=True)
    return counts.get("publisher_org_id", {})


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
        entries, _t, _f = catalog_search(c.session, c.actor, "", {"publisher_org_id": [str(org.id)]}, [],
                                                 "updated", 1000, 0, open_only=True)
        out["packages"] = [package_dict(c, e) for e in entries]
    out["users"] = []
    return out


def _group_counts(c: Call) -> dict[str, tuple[str, str, int]]:
    _rows, _total, counts = catalog_search(c.session, c.actor, "", {}, ["base_db", "theme"], "", 0, 0,
                                                   open_only=True, facet_limit=10_000)
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
        entries, _t, _f = catalog_search(c.session, c.actor, "", {}, [], "updated", 1000, 0, terms=q.terms,
                                         open_only=True)
        out["packages"] = [package_dict(c, e) for e in entries]
    return out


def tag_list(c: Call) -> list[Any]:
    """Tags of the open catalog (`query` filters by substring; `all_fields` gives dicts)."""
    _rows, _total, counts = catalog_search(c.session, c.actor, "", {}, ["tags"], "", 0, 0,
                                                   open_only=True, facet_limit=100_000)
    query = c.get_str("query", max_len=100).lower()
    tags = sorted(t for t in counts.get("tags", {}) if query in t.lower())
    if c.get_bool("all_fields"):
        return [{"id": t, "name": t, "display_name": t, "vocabulary_id": None, "state": "active"} for t in tags]
    return tags
