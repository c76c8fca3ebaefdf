"""Data standards (数据标准): the registry of data elements and code lists, and catalog resources' conformance.

The big-data bureau drafts, publishes and retires data elements (GB/T 19488 / 18391: identifier, names,
definition, type, representation format, value domain, unit) and code lists (GB/T 2260, GB/T 2261.1 …, seeded by
migration 0035); a code list's values are imported from CSV, all rows or none. Catalog items name the element they
follow (`element`, checked on write by `standards.refs`). Published standards are public; signed-in staff see
drafts too. A resource's conformance report is read by its unit's staff and auditors and by the bureau.
"""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

from sqlalchemy import Select, Text, cast, func, or_, select
from sqlalchemy.orm import Session

from cityhub.core import service as core
from cityhub.core.service import Actor
from cityhub.data import policies
from cityhub.data.catalog import service as catalog
from cityhub.data.models import CatalogEntry
from cityhub.data.standards import stale
from cityhub.data.standards.models import CodeList, CodeListValue, DataElement, StandardStatus
from cityhub.data.standards.schemas import (
    DATE_FORMATS,
    FORMAT,
    CodeImportError,
    CodeListCreate,
    DataElementCreate,
    DataElementUpdate,
    ElementUse,
    ImportReport,
)
from cityhub.data.standards.schemas import CodeList as CodeListRead
from cityhub.data.standards.schemas import DataElement as DataElementRead
from cityhub.kit.errors import Conflict, NotFound, ValidationFailed, transition
from cityhub.kit.i18n import gettext as _

S = StandardStatus
TRANSITIONS = {S.DRAFT: {S.PUBLISHED}, S.PUBLISHED: {S.RETIRED}}
IMPORT_MAX_ROWS = 20_000
_HEADERS = {"code": "code", "代码": "code", "label_zh": "label_zh", "名称": "label_zh", "中文名称": "label_zh",
            "label_en": "label_en", "英文名称": "label_en", "parent_code": "parent_code", "上级代码": "parent_code"}


def _visible_statuses(actor: Actor) -> tuple[S, ...]:
    return tuple(S) if policies.standards_read_all(actor) else (S.PUBLISHED,)


# ---------------------------------------------------------------- code lists


def _code_list(session: Session, actor: Actor, list_id: uuid.UUID) -> CodeList:
    cl = session.get(CodeList, list_id)
    if cl is None or cl.status not in _visible_statuses(actor):
        raise NotFound(_("Code list not found"))
    return cl


def _list_read(cl: CodeList, count: int) -> CodeListRead:
    out = CodeListRead.model_validate(cl)
    out.values_count = count
    return out


def code_list_create(session: Session, actor: Actor, data: CodeListCreate) -> CodeList:
    """Draft a code list (its identifier is unique)."""
    policies.code_list_create(actor)
    if session.scalar(select(CodeList.id).where(CodeList.identifier == data.identifier)) is not None:
        raise Conflict(_("A code list with this identifier exists"),
                       details={"field": "identifier", "value": data.identifier})
    cl = CodeList(**data.model_dump(), status=S.DRAFT, owner_org_id=actor.org_id)
    session.add(cl)
    session.flush()
    core.audit_record(session, actor, "code_list_create", target_type="code_list", target_id=cl.id,
                      after={"identifier": cl.identifier, "name": cl.name})
    return cl


def code_list_list(session: Session, actor: Actor) -> list[CodeListRead]:
    """The code lists the caller may see, with how many codes each holds."""
    counts = dict(session.execute(select(CodeListValue.code_list_id, func.count())
                                  .group_by(CodeListValue.code_list_id)).tuples().all())
    rows = session.scalars(select(CodeList).where(CodeList.status.in_(_visible_statuses(actor)))
                           .order_by(CodeList.identifier))
    return [_list_read(cl, counts.get(cl.id, 0)) for cl in rows]


def code_list_get(session: Session, actor: Actor, list_id: uuid.UUID) -> tuple[CodeListRead, list[CodeListValue]]:
    """A code list and its codes in order."""
    cl = _code_list(session, actor, list_id)
    values = list(session.scalars(select(CodeListValue).where(CodeListValue.code_list_id == cl.id)
                                  .order_by(CodeListValue.position, CodeListValue.code)))
    return _list_read(cl, len(values)), values


def _read_csv(content: bytes) -> list[dict[str, str]]:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            body = content.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes any byte string
        raise ValidationFailed(_("The file is neither UTF-8 nor GB 18030 text"), field="file")
    reader = csv.reader(io.StringIO(body))
    header = next(reader, None)
    names = [_HEADERS.get((h or "").strip().lower(), "") for h in header or []]
    if "code" not in names or "label_zh" not in names:
        raise ValidationFailed(_("The file needs the columns code and label_zh"), field="file")
    rows = []
    for n, raw in enumerate(reader, start=1):
        if n > IMPORT_MAX_ROWS:
            raise ValidationFailed(_("Too many rows"), field="file")
        if any(cell.strip() for cell in raw):
            row = {k: (raw[i].strip() if i < len(raw) else "") for i, k in enumerate(names) if k}
            row["_row"] = str(n)
            rows.append(row)
    return rows


def _check_rows(rows: list[dict[str, str]], existing: set[str]) -> list[CodeImportError]:
    errors: list[CodeImportError] = []
    seen: set[str] = set()
    codes = existing | {r.get("code", "") for r in rows}
    for r in rows:
        n, code, label = int(r["_row"]), r.get("code", ""), r.get("label_zh", "")
        if not code or len(code) > 40:
            errors.append(CodeImportError(row=n, field="code", message=_("A code of 1-40 characters is needed")))
        elif code in seen:
            errors.append(CodeImportError(row=n, field="code", message=_("The code is repeated in the file")))
        seen.add(code)
        if not label or len(label) > 200:
            errors.append(CodeImportError(row=n, field="label_zh", message=_("A label of 1-200 characters is needed")))
        if len(r.get("label_en", "")) > 200:
            errors.append(CodeImportError(row=n, field="label_en", message=_("At most 200 characters")))
        parent = r.get("parent_code", "")
        if parent and (parent not in codes or parent == code):
            errors.append(CodeImportError(row=n, field="parent_code", message=_("The parent code is not in the list")))
    return errors


def code_list_import(session: Session, actor: Actor, list_id: uuid.UUID, content: bytes) -> ImportReport:
    """Add or relabel a code list's codes from CSV (code, label_zh, label_en, parent_code): all rows or none."""
    policies.code_list_import(actor)
    cl = _code_list(session, actor, list_id)
    if cl.status == S.RETIRED:
        raise Conflict(_("A retired code list does not change"))
    rows = _read_csv(content)
    if not rows:
        raise ValidationFailed(_("The file holds no codes"), field="file")
    current = {v.code: v for v in session.scalars(select(CodeListValue).where(CodeListValue.code_list_id == cl.id))}
    errors = _check_rows(rows, set(current))
    if errors:
        return ImportReport(errors=errors)
    added = updated = 0
    position = max((v.position for v in current.values()), default=-1)
    for r in rows:
        v = current.get(r["code"])
        fields = {"label_zh": r["label_zh"], "label_en": r.get("label_en", ""), "parent_code": r.get("parent_code", "")}
        if v is None:
            position += 1
            session.add(CodeListValue(code_list_id=cl.id, code=r["code"], position=position, **fields))
            added += 1
        elif any(getattr(v, k) != x for k, x in fields.items()):
            for k, x in fields.items():
                setattr(v, k, x)
            updated += 1
    session.flush()
    core.audit_record(session, actor, "code_list_import", target_type="code_list", target_id=cl.id,
                      after={"identifier": cl.identifier, "added": added, "updated": updated})
    if added or updated:
        stale.code_list_changed(session, cl.id)
    return ImportReport(added=added, updated=updated)


def _move(session: Session, actor: Actor, obj: CodeList | DataElement, target: S, action: str, kind: str) -> None:
    before = transition(obj, target, TRANSITIONS, kind)
    session.flush()
    if isinstance(obj, CodeList):  # the results counted against it are out of date
        stale.code_list_changed(session, obj.id)
    else:
        stale.elements_changed(session, {obj.identifier})
    core.audit_record(session, actor, action, target_type=kind, target_id=obj.id,
                      before={"status": str(before)}, after={"status": str(target), "identifier": obj.identifier})


def code_list_publish(session: Session, actor: Actor, list_id: uuid.UUID) -> CodeList:
    """Publish a draft code list that holds codes."""
    policies.code_list_publish(actor)
    cl = _code_list(session, actor, list_id)
    if cl.status == S.DRAFT and session.scalar(select(func.count()).where(CodeListValue.code_list_id == cl.id)) == 0:
        raise ValidationFailed(_("Import the codes before publishing"), field="values")
    _move(session, actor, cl, S.PUBLISHED, "code_list_publish", "code_list")
    return cl


def code_list_retire(session: Session, actor: Actor, list_id: uuid.UUID) -> CodeList:
    """Retire a published code list (published elements may not use it any more)."""
    policies.code_list_retire(actor)
    cl = _code_list(session, actor, list_id)
    in_use = session.scalar(select(DataElement.identifier).where(DataElement.code_list_id == cl.id,
                                                                 DataElement.status == S.PUBLISHED).limit(1))
    if in_use is not None and cl.status == S.PUBLISHED:
        raise Conflict(_("A published data element uses the code list"), details={"element": in_use})
    _move(session, actor, cl, S.RETIRED, "code_list_retire", "code_list")
    return cl


# ---------------------------------------------------------------- data elements


def _element(session: Session, actor: Actor, identifier: str) -> DataElement:
    el = session.scalar(select(DataElement).where(DataElement.identifier == identifier))
    if el is None or el.status not in _visible_statuses(actor):
        raise NotFound(_("Data element not found"))
    return el


def _element_read(el: DataElement, lists: dict[uuid.UUID, str]) -> DataElementRead:
    out = DataElementRead.model_validate(el)
    out.code_list_identifier = lists.get(el.code_list_id, "") if el.code_list_id else ""
    return out


def _list_identifiers(session: Session) -> dict[uuid.UUID, str]:
    return dict(session.execute(select(CodeList.id, CodeList.identifier)).tuples().all())


def _check_element(session: Session, actor: Actor, values: dict[str, Any]) -> None:
    """Cross-field rules: a format fits the type, a code list is one the caller sees and not retired."""
    fmt, data_type = values.get("format") or "", values["data_type"]
    if fmt in DATE_FORMATS and data_type not in ("date", "datetime", "string"):
        raise ValidationFailed(_("A date format needs a date or date-and-time element"), field="format")
    m = FORMAT.match(fmt)
    if m is not None and m.group(4) is not None and data_type != "decimal":
        raise ValidationFailed(_("Decimals need a decimal element"), field="format")
    if values.get("code_list_id") is not None:
        cl = session.get(CodeList, values["code_list_id"])
        if cl is None or cl.status not in _visible_statuses(actor):
            raise ValidationFailed(_("Code list not found"), field="code_list_id")
        if cl.status == S.RETIRED:
            raise ValidationFailed(_("The code list is retired"), field="code_list_id")


def data_element_create(session: Session, actor: Actor, data: DataElementCreate) -> DataElement:
    """Draft a data element (its identifier is unique)."""
    policies.data_element_create(actor)
    values = data.model_dump()
    _check_element(session, actor, values)
    if session.scalar(select(DataElement.id).where(DataElement.identifier == data.identifier)) is not None:
        raise Conflict(_("A data element with this identifier exists"),
                       details={"field": "identifier", "value": data.identifier})
    el = DataElement(**values, status=S.DRAFT, owner_org_id=actor.org_id)
    session.add(el)
    session.flush()
    core.audit_record(session, actor, "data_element_create", target_type="data_element", target_id=el.id,
                      after={"identifier": el.identifier, "name_zh": el.name_zh, "data_type": el.data_type,
                             "format": el.format})
    return el


def data_element_update(session: Session, actor: Actor, identifier: str, data: DataElementUpdate) -> DataElement:
    """Change a draft data element (a published one is retired and replaced by a new version instead)."""
    policies.data_element_update(actor)
    el = _element(session, actor, identifier)
    if el.status != S.DRAFT:
        raise Conflict(_("Only a draft data element changes"), details={"status": str(el.status)})
    changes = data.model_dump(exclude_unset=True)
    fields = ("name_zh", "name_en", "definition", "data_type", "format", "code_list_id", "unit", "version")
    merged = {k: changes.get(k, getattr(el, k)) for k in fields}
    _check_element(session, actor, merged)
    before = {k: str(getattr(el, k)) for k in changes}
    for k, v in changes.items():
        setattr(el, k, v)
    session.flush()
    core.audit_record(session, actor, "data_element_update", target_type="data_element", target_id=el.id,
                      before=before, after={k: str(getattr(el, k)) for k in changes})
    stale.elements_changed(session, {el.identifier})
    return el


def data_element_publish(session: Session, actor: Actor, identifier: str) -> DataElement:
    """Publish a draft data element (its code list published first)."""
    policies.data_element_publish(actor)
    el = _element(session, actor, identifier)
    if el.status == S.DRAFT and el.code_list_id is not None:
        cl = session.get(CodeList, el.code_list_id)
        if cl is None or cl.status != S.PUBLISHED:
            raise ValidationFailed(_("Publish the code list first"), field="code_list_id")
    _move(session, actor, el, S.PUBLISHED, "data_element_publish", "data_element")
    return el


def data_element_retire(session: Session, actor: Actor, identifier: str) -> DataElement:
    """Retire a published data element: items already following it keep it, new items may not name it."""
    policies.data_element_retire(actor)
    el = _element(session, actor, identifier)
    _move(session, actor, el, S.RETIRED, "data_element_retire", "data_element")
    return el


def data_element_get(session: Session, actor: Actor, identifier: str) -> DataElementRead:
    """One data element by its identifier."""
    return _element_read(_element(session, actor, identifier), _list_identifiers(session))


def _search(stmt: Select[Any], q: str) -> Select[Any]:
    q = q.strip()[:100]
    if not q:
        return stmt
    like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return stmt.where(or_(*(c.ilike(like, escape="\\") for c in (
        DataElement.identifier, DataElement.name_zh, DataElement.name_en, DataElement.definition))))


def data_element_list(session: Session, actor: Actor, q: str = "", status: str = "", limit: int = 50,
                      offset: int = 0) -> tuple[list[DataElementRead], int]:
    """Data elements the caller may see, searched by identifier, names and definition; and how many match."""
    statuses = [s for s in _visible_statuses(actor) if not status or s == status]
    stmt = _search(select(DataElement).where(DataElement.status.in_(statuses)), q)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    lists = _list_identifiers(session)
    rows = session.scalars(stmt.order_by(DataElement.identifier).limit(limit).offset(offset))
    return [_element_read(el, lists) for el in rows], int(total)


def data_element_uses(session: Session, actor: Actor, identifier: str) -> list[ElementUse]:
    """The catalog entries (those the caller may see) whose items follow the data element."""
    el = _element(session, actor, identifier)
    stmt = (select(CatalogEntry.id, CatalogEntry.title, CatalogEntry.provider_org_id, CatalogEntry.items)
            .where(catalog.visible_clause(actor), cast(CatalogEntry.items, Text).contains(el.identifier))
            .order_by(CatalogEntry.title))
    out = []
    for entry_id, title, org_id, items in session.execute(stmt):
        for it in items or []:
            if it.get("element") == el.identifier:
                out.append(ElementUse(entry_id=entry_id, title=title, org_id=org_id, item=it["name_en"],
                                      item_name=it.get("name_cn", "")))
    return out
