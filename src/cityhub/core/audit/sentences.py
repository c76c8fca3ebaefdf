"""Audit rows as people read them: "张三 批准了云资源申请 #1a2b3c4d", each changed field named, values formatted.

A row keeps codes (the action, the target kind, field names, status values, ids, UTC times) for machines; this
module turns a page of rows into sentences in the current locale: the actor's name, the action's phrase with its
target (a name from the row where it carries one, else a short id), and `before → after` of each changed field
with money as ¥7,200.00, times in the display time zone, codes by their labels, ids of units and people by name.
The vocabularies are in `vocabulary.py`.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityhub.core.audit.vocabulary import (
    ACTION,
    ACTIONS,
    FIELD,
    MONEY_FIELDS,
    OUTCOME,
    TARGET,
    TIME_FIELDS,
    VALUE_VOCABULARY,
)
from cityhub.core.models import AuditEntry, Organization, User
from cityhub.kit import i18n, labels
from cityhub.kit.settings import get_settings

_UUID = re.compile(r"^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$", re.I)
_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:?\d{2}|Z)?$")
_CODE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)+$")  # snake_case: a code, never shown as it is
_NAME_KEYS = ("name", "title", "name_zh", "username", "user", "code", "number", "app", "component", "entry")
_MAX_ITEMS = 6  # list values: the first few, then "…"
_MAX_TEXT = 120


@dataclass(frozen=True)
class AuditLine:
    """One audit row as a sentence, with its changes and other facts in the reader's language."""

    entry: AuditEntry
    actor: str
    unit: str
    sentence: str
    outcome: str
    changes: list[tuple[str, str, str]] = field(default_factory=list)  # (field, before, after)
    details: list[tuple[str, str]] = field(default_factory=list)  # (field, value)


@dataclass
class _Names:
    orgs: dict[str, str]
    users: dict[str, tuple[str, str]]  # id → (username, display name)
    values: dict[str, list[tuple[str, str]]]  # code → [(vocabulary kind, English label)]

    def person(self, key: str) -> str | None:
        hit = self.users.get(key)
        return (hit[1] or hit[0]) if hit else None


def _hex(value: object) -> str:
    return str(value).replace("-", "").lower()


def _collect_ids(value: Any, out: set[str]) -> None:
    if isinstance(value, str):
        if _UUID.match(value):
            out.add(_hex(value))
    elif isinstance(value, Mapping):
        for v in value.values():
            _collect_ids(v, out)
    elif isinstance(value, list | tuple):
        for v in value:
            _collect_ids(v, out)


def _names(session: Session, rows: Sequence[AuditEntry], known: _Names | None = None) -> _Names:
    ids: set[str] = set()
    for r in rows:
        if r.actor_id:
            ids.add(_hex(r.actor_id))
        if r.target_id and _UUID.match(r.target_id):
            ids.add(_hex(r.target_id))
        _collect_ids(r.summary, ids)
    orgs = known.orgs if known else {_hex(o.id): o.name for o in session.scalars(select(Organization))}
    wanted = [uuid.UUID(i) for i in ids if i not in orgs]
    users: dict[str, tuple[str, str]] = {}
    for start in range(0, len(wanted), 500):
        for uid, username, display in session.execute(
                select(User.id, User.username, User.display_name).where(User.id.in_(wanted[start:start + 500]))):
            users[_hex(uid)] = (username, display)
    if known:
        return _Names(orgs, users, known.values)
    values: dict[str, list[tuple[str, str]]] = {}
    for kind, table in labels.vocabularies().items():
        if kind.startswith("audit."):
            continue
        for code, text in table.items():
            values.setdefault(code, []).append((kind, text))
    return _Names(orgs, users, values)


def _tokens(text: str) -> set[str]:
    return {t for t in re.split(r"[^a-z]+", text.lower()) if len(t) > 2}


def _code_label(code: str, name: str, target_type: str, names: _Names) -> str:
    """The label of a code value: the vocabulary named for (target, field), else the likeliest registered one."""
    candidates = names.values.get(code)
    kind = VALUE_VOCABULARY.get((target_type, name))
    named = [text for k, text in candidates or () if k == kind]
    if named:
        return i18n.gettext(named[0])
    if candidates:
        want_field, want_target = _tokens(name), _tokens(target_type)

        def score(c: tuple[str, str]) -> int:
            have = _tokens(c[0])
            return 2 * len(want_field & have) + len(want_target & have)

        best = max(candidates, key=score)
        if score(best) > 0 or len({text for _k, text in candidates}) == 1:
            return i18n.gettext(best[1])
    return labels.humanize(code)  # no vocabulary says what it is: its words, never a guess from another domain


def local_time(value: datetime, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A moment in the display time zone (Asia/Shanghai)."""
    return value.astimezone(ZoneInfo(get_settings().display_timezone)).strftime(fmt)


def format_value(name: str, value: Any, target_type: str, names: _Names) -> str:
    """A field's value as people read it (money, local time, label, name of a unit or person, yes/no)."""
    if value is None or value == "" or value == [] or value == {}:
        return "—"
    if value == "***":
        return i18n.gettext("(hidden)")
    if isinstance(value, bool):
        return i18n.gettext("Yes") if value else i18n.gettext("No")
    if isinstance(value, int | float):
        return labels.money(value) if name in MONEY_FIELDS else labels.number(value)
    if isinstance(value, list | tuple):
        shown = [format_value(name, v, target_type, names) for v in value[:_MAX_ITEMS]]
        sep = "、" if i18n.get_locale() == "zh_CN" else ", "
        return sep.join(shown) + ("…" if len(value) > _MAX_ITEMS else "")
    if isinstance(value, Mapping):
        return "; ".join(f"{labels.label(k, FIELD)}: {format_value(str(k), v, target_type, names)}"
                         for k, v in list(value.items())[:_MAX_ITEMS])
    text = str(value)
    if _UUID.match(text):
        key = _hex(text)
        return names.orgs.get(key) or names.person(key) or f"#{key[:8]}"
    if _ISO_TIME.match(text) or name in TIME_FIELDS:
        try:
            return local_time(datetime.fromisoformat(text.replace("Z", "+00:00")))
        except ValueError:
            pass
    if _CODE.match(text) or (name in {"status", "kind", "category", "severity", "role", "hosting", "strategy",
                                      "source", "type", "change_status"} and " " not in text):
        return _code_label(text, name, target_type, names)
    return text if len(text) <= _MAX_TEXT else text[:_MAX_TEXT - 1] + "…"


def _target(entry: AuditEntry, names: _Names) -> str:
    tid = entry.target_id or ""
    if _UUID.match(tid):
        key = _hex(tid)
        known = names.orgs.get(key) or names.person(key)
        if known:
            return known
    summary = entry.summary or {}
    for side in ("after", "before"):
        part = summary.get(side)
        if isinstance(part, Mapping):
            for k in _NAME_KEYS:
                if isinstance(part.get(k), str) and part[k]:
                    return str(part[k])
    for k in _NAME_KEYS:
        if isinstance(summary.get(k), str) and summary[k] and not _UUID.match(summary[k]):
            return str(summary[k])
    if _UUID.match(tid):
        return f"#{_hex(tid)[:8]}"
    return tid


def _actor(entry: AuditEntry, names: _Names) -> str:
    if entry.actor_id is not None:
        person = names.person(_hex(entry.actor_id))
        if person:
            return person
    if entry.actor_id is None and entry.actor_name not in ("", "anonymous"):
        return i18n.gettext("System ({name})", name=entry.actor_name)
    return entry.actor_name or i18n.gettext("Anonymous")


def _describe_one(entry: AuditEntry, names: _Names) -> AuditLine:
    target = _target(entry, names)
    phrase = labels.label(entry.action, ACTION)
    if "{target}" in phrase:
        phrase = phrase.replace("{target}", target)
    elif entry.action not in ACTIONS:  # an action nobody labelled yet: its words, then what it was done to
        phrase = f"{phrase} · {labels.label(entry.target_type, TARGET)} {target}".rstrip()
    summary: Mapping[str, Any] = entry.summary or {}
    tt = entry.target_type
    changes: list[tuple[str, str, str]] = []
    details: list[tuple[str, str]] = []
    before, after = summary.get("before"), summary.get("after")
    if isinstance(before, Mapping) and isinstance(after, Mapping) and "changed" in summary:
        for k in summary.get("changed") or []:
            changes.append((labels.label(k, FIELD), format_value(k, before.get(k), tt, names),
                            format_value(k, after.get(k), tt, names)))
    else:
        for part in (before, after):
            if isinstance(part, Mapping):
                details += [(labels.label(k, FIELD), format_value(k, v, tt, names)) for k, v in part.items()]
    for k, v in summary.items():
        if k not in ("before", "after", "changed"):
            details.append((labels.label(k, FIELD), format_value(k, v, tt, names)))
    who = _actor(entry, names)
    unit = names.orgs.get(_hex(entry.org_id), "") if entry.org_id else ""
    return AuditLine(entry=entry, actor=who, unit=unit, sentence=f"{who} {phrase}",
                     outcome=labels.label(entry.outcome, OUTCOME), changes=changes, details=details)


def describe(session: Session, rows: Iterable[AuditEntry]) -> list[AuditLine]:
    """The rows as sentences in the current locale (one query for the people they name)."""
    rows = list(rows)
    names = _names(session, rows)
    return [_describe_one(r, names) for r in rows]


def describe_stream(session: Session, rows: Iterable[AuditEntry], batch: int = 500) -> Iterator[AuditLine]:
    """`describe` over a long stream (an export), a batch at a time; units and vocabularies looked up once."""
    known: _Names | None = None
    chunk: list[AuditEntry] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= batch:
            known = _names(session, chunk, known)
            yield from (_describe_one(r, known) for r in chunk)
            chunk = []
    if chunk:
        known = _names(session, chunk, known)
        yield from (_describe_one(r, known) for r in chunk)


def action_choices() -> list[tuple[str, str]]:
    """(code, label) of every audit action for a filter, the label without its target, sorted by label."""
    out = []
    for code, text in labels.choices(ACTION):
        words = re.sub(r"\s+", " ", text.replace("({target})", "").replace("{target}", "")).strip(" ·")
        out.append((code, words[:1].upper() + words[1:]))  # a heading, not the middle of a sentence
    return sorted(out, key=lambda c: c[1])
