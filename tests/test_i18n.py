"""Every user-facing message used in templates and code has a zh_CN translation (zh-CN is the default UI)."""

from __future__ import annotations

import re
from pathlib import Path

from cityhub.kit import i18n

SRC = Path(__file__).resolve().parents[1] / "src" / "cityhub"
CALL = re.compile(r"""\b_\(\s*(?P<q>['"])(?P<msg>(?:(?!(?P=q)).)+)(?P=q)\s*[,)]""")
NAV = re.compile(r"""NavItem\(\s*['"]\w+['"]\s*,\s*(?P<q>['"])(?P<msg>(?:(?!(?P=q)).)+)(?P=q)""")


def used_messages() -> dict[str, str]:
    found: dict[str, str] = {}
    for path in [*SRC.rglob("*.html"), *SRC.rglob("*.py")]:
        text = path.read_text(encoding="utf-8")
        for rx in (CALL, NAV):
            for m in rx.finditer(text):
                found.setdefault(m.group("msg"), str(path.relative_to(SRC)))
    return found


def test_every_message_has_a_chinese_translation() -> None:
    catalogue = i18n.catalogue("zh_CN")
    missing = {msg: where for msg, where in used_messages().items()
               if msg not in catalogue and not re.search(r"[\u4e00-\u9fff]", msg)}
    assert not missing, "add to <package>/locale/zh_CN.po:\n" + "\n".join(
        f"{where}: {msg!r}" for msg, where in sorted(missing.items(), key=lambda kv: kv[1]))


def test_english_is_the_message_id() -> None:
    assert i18n.gettext("Log in", "en") == "Log in"
    assert i18n.gettext("Log in", "zh_CN") == "登录"
    assert i18n.normalize("zh-CN") == "zh_CN" and i18n.normalize("en-US") == "en"


def test_no_message_id_is_translated_differently_in_two_catalogues() -> None:
    """The package catalogues merge into one table, so a message id translated two ways shows one of them on the
    other package's pages too (the later file wins): "Code" read 资源代码 on the organisations page. A package
    that means something else by the same English gives its own message id ("Cloud provider", "Ratio history")."""
    from collections import defaultdict

    from babel.messages.pofile import read_po

    seen: dict[tuple[str, str], dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for locale in i18n.LOCALES:
        for po in sorted(SRC.glob(f"*/locale/{locale}.po")):
            with po.open("rb") as fh:
                for msg in read_po(fh, locale=locale):
                    if msg.id and msg.string and isinstance(msg.id, str) and isinstance(msg.string, str):
                        seen[(locale, msg.id)][msg.string].append(po.parent.parent.name)
    clashes = {key: dict(strings) for key, strings in seen.items() if len(strings) > 1}
    assert not clashes, "one message id, two translations (give one package its own message id):\n" + "\n".join(
        f"{locale} {msgid!r}: " + "; ".join(f"{s} ({', '.join(pkgs)})" for s, pkgs in strings.items())
        for (locale, msgid), strings in sorted(clashes.items()))
