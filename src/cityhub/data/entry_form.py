"""The catalog entry form of the pages: fields as typed, information items as a table of rows, errors named.

The form arrives as plain strings (one list per item column, a row per index) so that nothing a person typed is
refused before we can say which row and which field is wrong; `validate` builds the service's `EntryCreate` /
`EntryUpdate` and raises `ValidationFailed` whose message names the row and the field in the person's language.
"""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cityhub.data import schemas
from cityhub.data.catalog.history import field_name
from cityhub.kit.errors import ValidationFailed
from cityhub.kit.i18n import gettext as _

ITEM_COLUMNS = ("name_cn", "name_en", "data_type", "length", "security_level", "masking_rule", "element")
COLUMN_NAMES = {"name_cn": "Chinese name", "name_en": "Field (English, lower case)", "data_type": "Type",
                "length": "Length", "security_level": "Security level", "masking_rule": "Sensitive kind (masking)",
                "description": "Description", "required": "Required", "element": "Data element"}
# What pydantic's error types mean, said the way the form says it.
MESSAGES = {"string_too_short": "is too short", "string_too_long": "is too long", "missing": "is required",
            "literal_error": "is not one of the choices", "int_parsing": "must be a whole number",
            "greater_than_equal": "must not be negative", "less_than_equal": "is too large",
            "too_short": "needs at least one row", "too_long": "has too many rows", "uuid_parsing": "is not valid"}
VALUE_ERRORS = {"use lower-case letters, digits and _ (start with a letter)":
                "use lower-case letters, digits and _, starting with a letter"}
Short: Any = Field("", max_length=4000)
Column: Any = Field(default_factory=list, max_length=500)


class EntryForm(BaseModel):
    """The publish / edit form as posted (strings only; `validate` does the checking)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    csrf_token: str = Field("", max_length=100)
    title: str = Field("", max_length=4000)
    provider_org_id: str = Field("", max_length=100)
    classification: str = Field("", max_length=40)
    base_db: str = Field("", max_length=40)
    format_category: str = Field("", max_length=40)
    share_type: str = Field("", max_length=40)
    open_type: str = Field("", max_length=40)
    update_cycle: str = Field("", max_length=40)
    security_grade: str = Field("", max_length=40)
    theme: str = Field("", max_length=400)
    tags: str = Field("", max_length=4000)
    share_condition: str = Short
    legal_basis: str = Short
    open_condition: str = Short
    source_system: str = Field("", max_length=400)
    abstract: str = Short
    item_name_cn: list[str] = Column
    item_name_en: list[str] = Column
    item_data_type: list[str] = Column
    item_length: list[str] = Column
    item_security_level: list[str] = Column
    item_masking_rule: list[str] = Column
    item_element: list[str] = Column

    def rows(self) -> list[dict[str, str]]:
        """The information item rows as typed; rows left entirely blank are dropped."""
        cols = {c: getattr(self, f"item_{c}") for c in ITEM_COLUMNS}
        n = max((len(v) for v in cols.values()), default=0)
        out = [{c: (cols[c][i].strip() if i < len(cols[c]) else "") for c in ITEM_COLUMNS} for i in range(n)]
        return [r for r in out if r["name_cn"] or r["name_en"]]


def _explain(err: Any) -> str:
    if err["type"] == "value_error":
        text = str(err.get("ctx", {}).get("error", err["msg"]))
        return _(VALUE_ERRORS.get(text, text))
    return _(MESSAGES.get(err["type"], err["msg"]))


def _items(rows: list[dict[str, str]]) -> list[schemas.InfoItem]:
    items: list[schemas.InfoItem] = []
    seen: dict[str, int] = {}
    for n, row in enumerate(rows, start=1):
        raw: dict[str, Any] = {k: v for k, v in row.items() if k != "length"}
        raw["security_level"] = raw["security_level"] or "general"
        length = row["length"]
        if length and not length.isdigit():
            raise ValidationFailed(_("Information item {row}, {field}: {message}").format(
                row=n, field=_(COLUMN_NAMES["length"]), message=_("must be a whole number")),
                field=f"items[{n}].length")
        raw["length"] = int(length or 0)
        try:
            item = schemas.InfoItem.model_validate(raw)
        except ValidationError as exc:
            err = exc.errors()[0]
            col = str(err["loc"][0]) if err["loc"] else "name_en"
            raise ValidationFailed(_("Information item {row}, {field}: {message}").format(
                row=n, field=_(COLUMN_NAMES.get(col, col)), message=_explain(err)), field=f"items[{n}].{col}") from None
        if item.name_en in seen:
            raise ValidationFailed(_("Information item {row}, {field}: {message}").format(
                row=n, field=_(COLUMN_NAMES["name_en"]),
                message=_("is the same as row {other}").format(other=seen[item.name_en])),
                field=f"items[{n}].name_en")
        seen[item.name_en] = n
        items.append(item)
    if not items:
        raise ValidationFailed(_("Add at least one information item"), field="items")
    return items


def _fields(form: EntryForm) -> dict[str, Any]:
    return {"title": form.title, "classification": form.classification, "base_db": form.base_db,
            "format_category": form.format_category, "share_type": form.share_type, "open_type": form.open_type,
            "update_cycle": form.update_cycle, "security_grade": form.security_grade, "theme": form.theme,
            "tags": [t.strip() for t in form.tags.replace("，", ",").replace("、", ",").split(",") if t.strip()],
            "share_condition": form.share_condition, "legal_basis": form.legal_basis,
            "open_condition": form.open_condition, "source_system": form.source_system, "abstract": form.abstract}


def _model(model: type[BaseModel], data: dict[str, Any]) -> Any:
    """The model of `data`, or a ValidationFailed naming the first wrong field in the person's language."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else ""
        name = _("Provider") if field == "provider_org_id" else field_name(field)
        raise ValidationFailed(_("{field}: {message}").format(field=name, message=_explain(err)),
                               field=field) from None


def entry_create(form: EntryForm) -> schemas.EntryCreate:
    """The new entry the form describes, or a ValidationFailed naming the row and field."""
    items = _items(form.rows())
    try:
        provider = uuid.UUID(form.provider_org_id)
    except ValueError:
        raise ValidationFailed(_("{field}: {message}").format(field=_("Provider"), message=_("is required")),
                               field="provider_org_id") from None
    created: schemas.EntryCreate = _model(schemas.EntryCreate,
                                          {**_fields(form), "provider_org_id": provider, "items": items})
    return created


def entry_update(form: EntryForm, entry: Any) -> schemas.EntryUpdate:
    """The fields the edit form changes (against the entry with its pending changes), or a ValidationFailed."""
    items = _items(form.rows())
    full: schemas.EntryUpdate = _model(schemas.EntryUpdate, {**_fields(form), "items": items})
    current = {**{f: getattr(entry, f) for f in full.model_fields_set}, **(entry.pending_changes or {})}
    posted = full.model_dump(mode="json", exclude_unset=True)
    changed = {k: v for k, v in posted.items() if v != current.get(k)}
    return schemas.EntryUpdate.model_validate(changed)


def values_of(entry: Any) -> dict[str, Any]:
    """The form's values of an entry (its pending changes over its published fields), items as rows."""
    merged = {**{f: getattr(entry, f) for f in ("title", "classification", "base_db", "format_category",
                                                "share_type", "open_type", "update_cycle", "security_grade",
                                                "theme", "tags", "share_condition", "legal_basis",
                                                "open_condition", "source_system", "abstract", "items")},
              **(getattr(entry, "pending_changes", None) or {})}
    rows = [{c: str(i.get(c) or "") for c in ITEM_COLUMNS} for i in merged.pop("items") or []]
    for r in rows:
        r["length"] = "" if r["length"] in ("", "0") else r["length"]
    merged["tags"] = "、".join(merged.get("tags") or [])
    merged["provider_org_id"] = str(entry.provider_org_id)
    return {"values": merged, "rows": rows}


def values_posted(form: EntryForm) -> dict[str, Any]:
    """The form's values as posted, to show them again next to the error."""
    values = form.model_dump(exclude={"csrf_token", *(f"item_{c}" for c in ITEM_COLUMNS)})
    return {"values": values, "rows": form.rows()}
