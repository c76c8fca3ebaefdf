"""User-facing text through Babel catalogues: zh_CN (default) and en.

Message ids are English. Each package may ship `<package>/locale/<locale>.po`; all are merged at first use,
so domains keep their own catalogue and never edit a shared file.
"""

from __future__ import annotations

from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path

from babel.messages.pofile import read_po

LOCALES = ("zh_CN", "en")
LOCALE_LABELS = {"zh_CN": "中文", "en": "English"}
_ROOT = Path(__file__).resolve().parent.parent

_locale: ContextVar[str] = ContextVar("cityhub_locale", default="zh_CN")


def normalize(value: str | None, default: str = "zh_CN") -> str:
    """Map 'zh-CN', 'zh', 'en-US' … to a supported locale."""
    if not value:
        return default
    v = value.replace("-", "_").lower()
    if v.startswith("zh"):
        return "zh_CN"
    if v.startswith("en"):
        return "en"
    return default


def from_accept_language(header: str | None, default: str = "zh_CN") -> str:
    """Pick the first supported locale from an Accept-Language header."""
    if not header:
        return default
    for part in header.split(","):
        tag = part.split(";")[0].strip()
        if tag.lower().startswith(("zh", "en")):
            return normalize(tag)
    return default


@lru_cache
def catalogue(locale: str) -> dict[str, str]:
    """All translations for a locale, merged from every package's `locale/<locale>.po`."""
    messages: dict[str, str] = {}
    for po in sorted(_ROOT.glob(f"*/locale/{locale}.po")):
        with po.open("rb") as fh:
            cat = read_po(fh, locale=locale)
        for msg in cat:
            if msg.id and msg.string and isinstance(msg.id, str) and isinstance(msg.string, str):
                messages[msg.id] = msg.string
    return messages


def get_locale() -> str:
    """Locale of the current request."""
    return _locale.get()


def set_locale(locale: str) -> object:
    """Set the current locale; returns a token for reset."""
    return _locale.set(normalize(locale))


def gettext(message: str, locale: str | None = None, **params: object) -> str:
    """Translate `message` into the current (or given) locale, then format `{params}`."""
    text = catalogue(locale or get_locale()).get(message, message)
    return text.format(**params) if params else text


_ = gettext


def lazy(message: str) -> str:
    """Mark a message for extraction where it is translated later (e.g. in a table of data)."""
    return message


def reset_locale(token: object) -> None:
    """Restore the locale before `set_locale`."""
    _locale.reset(token)  # type: ignore[arg-type]  # token comes from set_locale
