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
