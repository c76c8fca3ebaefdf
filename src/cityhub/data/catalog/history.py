"""A version's changes as sentences people read, in the request's language.

Versions store a structural diff (`versions._diff`: field, change, before, after); this turns it into sentences at
render time — field names and coded values through their labels, added and removed tags and information items
named — so a page never shows a Python list or a dict ("标签 changed: ['人口', …] → […]").
"""

from __future__ import annotations

from typing import Any

from cityhub.data.vocabulary import FIELD_VOCAB
from cityhub.kit import labels
from cityhub.kit.i18n import gettext as _

FIELD_NAMES = {"title": "Name", "abstract": "Abstract", "classification": "Classification",
               "base_db": "Base database", "theme": "Theme", "tags": "Tags", "format_category": "Format",
               "items": "Information items", "share_type": "Share type", "share_condition": "Sharing condition",
               "legal_basis": "Legal basis", "share_mode": "Share mode", "open_type": "Open type",
               "open_condition": "Opening condition", "update_cycle": "Update cycle",
               "security_grade": "Security grade", "source_system": "Source system",
               "related_entry_ids": "Related entries"}
ITEM_PARTS = {"name_cn": "Chinese name", "name_en": "Field", "data_type": "Type", "length": "Length",
              "security_level": "Security level", "masking_rule": "Masking rule", "description": "Description",
              "required": "Required"}
ITEM_VOCAB = {"data_type": "data.data_type", "security_level": "data.grade", "masking_rule": "data.mask_rule"}
CLIP = 60


def field_name(field: str) -> str:
    """An entry field's name in the request's language."""
    return _(FIELD_NAMES[field]) if field in FIELD_NAMES else labels.humanize(field)


def _clip(text: str) -> str:
    return text if len(text) <= CLIP else text[:CLIP - 1] + "…"


def _value(field: str, value: Any, vocab: dict[str, str]) -> str:
    """One value as people read it: a code through its label, a yes/no, an empty value as —."""
    if value is None or value == "" or value == []:
        return "—"
    if field in vocab:
        return labels.label(value, vocab[field])
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    if isinstance(value, int | float):
        return str(value)
    return "「" + _clip(str(value)) + "」"


def _listed(values: list[Any]) -> str:
    return "、".join(str(v) for v in values)


def _item_change(before: dict[str, Any], after: dict[str, Any]) -> str:
    parts = [_("{part}: {old} → {new}").format(part=_(ITEM_PARTS.get(p, p)),
                                                old=_value(p, before.get(p), ITEM_VOCAB),
                                                new=_value(p, after.get(p), ITEM_VOCAB))
             for p in after if p in ITEM_PARTS]
    return "；".join(parts)


def _list_change(name: str, old: list[Any], new: list[Any]) -> str:
    added = [v for v in new if v not in old]
    removed = [v for v in old if v not in new]
    parts = []
    if added:
        parts.append(_("added {values}").format(values=_listed(added)))
    if removed:
        parts.append(_("removed {values}").format(values=_listed(removed)))
    if not parts:
        parts.append(_("reordered"))
    return _("{field}: {changes}").format(field=name, changes="；".join(parts))


def describe(diff: list[dict[str, Any]]) -> list[str]:
    """The sentences of one version's diff, in order."""
    out: list[str] = []
    for d in diff or []:
        field, change, before, after = d.get("field", ""), d.get("change"), d.get("before"), d.get("after")
        if field == "items":
            item = (after if change != "removed" else before) or {}
            # a changed item's before/after hold only the changed parts; its name is in the stored label
            name = item.get("name_cn") or str(d.get("label", "")).removeprefix("信息项 ") or item.get("name_en", "")
            if change == "added":
                out.append(_("Information item added: {name} ({type})").format(
                    name=name, type=labels.label((after or {}).get("data_type"), "data.data_type")))
            elif change == "removed":
                out.append(_("Information item removed: {name}").format(name=name))
            else:
                out.append(_("Information item {name} changed: {what}").format(
                    name=name, what=_item_change(before or {}, after or {})))
        elif field == "related_entry_ids":
            out.append(_("{field}: {old} → {new} entries").format(field=field_name(field), old=len(before or []),
                                                                   new=len(after or [])))
        elif isinstance(before, list) or isinstance(after, list):
            out.append(_list_change(field_name(field), list(before or []), list(after or [])))
        else:
            out.append(_("{field}: {old} → {new}").format(field=field_name(field),
                                                         old=_value(field, before, FIELD_VOCAB),
                                                         new=_value(field, after, FIELD_VOCAB)))
    return out


def pending_fields(changes: dict[str, Any] | None) -> str:
    """The names of the fields a pending change touches, for the review queue."""
    return "、".join(field_name(f) for f in (changes or {}))
