"""Human labels for the codes people read: statuses, kinds, categories, actions.

A code (an enum member, or a string value of a named vocabulary) is shown on a page or in a CSV meant for people
only through `label()`: the English label registered here is the message id, translated by the package catalogues
(`kit.i18n`). Each domain registers its vocabularies where it defines them, e.g. in `schemas.py`:

    labels.register(AlarmStatus, {AlarmStatus.ACTIVE_UNACK: "Active, not acknowledged", ...})
    labels.register("ops.asset_kind", {"bridge": "Bridge", "public_space": "Public space"})

`tests/kit/test_labels.py` checks that every registered code has a label and a zh_CN translation. A value that
nobody registered falls back to a readable form of the code ("pending_bureau" → "Pending bureau"), never to the raw
code, so a missed registration still reads as words on a page (and the visual browser check catches it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from enum import Enum

from cityhub.kit import i18n

_TABLES: dict[str, dict[str, str]] = {}
_ENUM_KINDS: dict[type[Enum], str] = {}


def _kind_of(vocabulary: type[Enum] | str) -> str:
    if isinstance(vocabulary, str):
        return vocabulary
    return f"{vocabulary.__module__}.{vocabulary.__qualname__}"


def _code(value: object) -> str:
    return str(value.value) if isinstance(value, Enum) else str(value)


def register(vocabulary: type[Enum] | str, table: Mapping[object, str]) -> None:
    """Register English labels (message ids) for the codes of one vocabulary (an Enum class or a name)."""
    kind = _kind_of(vocabulary)
    entries = _TABLES.setdefault(kind, {})
    for code, text in table.items():
        entries[_code(code)] = text
    if isinstance(vocabulary, type) and issubclass(vocabulary, Enum):
        _ENUM_KINDS[vocabulary] = kind
        missing = [m.value for m in vocabulary if str(m.value) not in entries]
        if missing:
            raise ValueError(f"labels for {kind} miss {missing}")


_MACHINE_CODE = re.compile(r"[a-z0-9]+(?:[_.-][a-z0-9]+)*")


def humanize(code: str) -> str:
    """A readable fallback for an unregistered code: 'pending_bureau' → 'Pending bureau'.

    Only machine codes (lower-case ASCII words joined by `_`, `-` or `.`) are rewritten; anything else is a name
    someone wrote (a theme such as 智慧交通, a title) and is shown exactly as written.
    """
    if not _MACHINE_CODE.fullmatch(code):
        return code
    words = code.replace("_", " ").replace("-", " ").replace(".", " ").strip()
    return (words[:1].upper() + words[1:].lower()) if words else ""


def label(value: object, vocabulary: type[Enum] | str | None = None, locale: str | None = None) -> str:
    """The label of `value` in the current (or given) locale; '' for None."""
    if value is None or value == "":
        return ""
    code = _code(value)
    kind = _kind_of(vocabulary) if vocabulary is not None else _ENUM_KINDS.get(type(value)) if isinstance(
        value, Enum) else None
    text = _TABLES.get(kind, {}).get(code) if kind else None
    if text is None:
        text = humanize(code)
    return i18n.gettext(text, locale)


def vocabularies() -> dict[str, dict[str, str]]:
    """Every registered vocabulary (kind → code → English label), for the completeness test and pickers."""
    return {k: dict(v) for k, v in _TABLES.items()}


def choices(vocabulary: type[Enum] | str, locale: str | None = None) -> list[tuple[str, str]]:
    """(code, label) pairs of a vocabulary in registration order, for select inputs."""
    return [(code, i18n.gettext(text, locale)) for code, text in _TABLES.get(_kind_of(vocabulary), {}).items()]


def money(value: float | Decimal | int | None, currency: str = "¥") -> str:
    """Money as people read it: '¥7,200.00' (thousands separators, two decimals)."""
    if value is None:
        return ""
    return f"{'-' if value < 0 else ''}{currency}{abs(Decimal(str(value))):,.2f}"


def number(value: float | Decimal | int | None, digits: int | None = None) -> str:
    """A number with thousands separators; `digits` fixes the decimals (default: as many as it has, at most 2)."""
    if value is None:
        return ""
    if digits is None:
        if isinstance(value, int) or float(value).is_integer():
            return f"{int(value):,}"
        return f"{float(value):,.2f}".rstrip("0").rstrip(".")
    return f"{float(value):,.{digits}f}"
