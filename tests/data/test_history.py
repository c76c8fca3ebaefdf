"""Version history as sentences: field names and coded values labelled, tags and items named, in either language."""

from __future__ import annotations

from typing import Any

from cityhub.data.catalog.history import describe, pending_fields
from cityhub.kit import i18n


def _in(locale: str, diff: list[dict[str, Any]]) -> list[str]:
    token = i18n.set_locale(locale)
    try:
        return describe(diff)
    finally:
        i18n._locale.reset(token)  # type: ignore[arg-type]  # the token from set_locale is the ContextVar's token (typed loosely there)


TAGS = {"field": "tags", "label": "标签", "change": "changed", "before": ["人口", "身份"], "after": ["人口", "住址"]}
OPEN = {"field": "open_type", "label": "开放类型", "change": "changed", "before": "none", "after": "conditional"}
ITEM_ADDED = {"field": "items", "label": "信息项 住址", "change": "added", "before": None,
              "after": {"name_cn": "住址", "name_en": "address", "data_type": "C"}}
ITEM_CHANGED = {"field": "items", "label": "信息项 姓名", "change": "changed",
                "before": {"security_level": "general", "length": 20}, "after": {"security_level": "important",
                                                                                  "length": 30}}


def test_tags_are_named_as_added_and_removed_not_as_lists() -> None:
    zh = _in("zh_CN", [TAGS])
    assert zh == ["标签：新增 住址；删除 身份"]
    en = _in("en", [TAGS])
    assert en == ["Tags: added 住址；removed 身份"]
    assert not any("[" in line or "'" in line for line in zh + en)


def test_coded_values_read_as_labels_in_each_language() -> None:
    assert _in("zh_CN", [OPEN]) == ["开放类型：不予开放 → 有条件开放"]
    assert _in("en", [OPEN]) == ["Open type: Not open → Open on conditions"]


def test_information_items_added_and_changed_are_sentences() -> None:
    zh = _in("zh_CN", [ITEM_ADDED, ITEM_CHANGED])
    assert zh[0] == "新增信息项：住址（字符型）"
    assert zh[1].startswith("信息项「姓名」修改：") and "一般数据 → 重要数据" in zh[1] and "长度：20 → 30" in zh[1]
    assert zh[1].endswith("长度：20 → 30")
    en = _in("en", [ITEM_ADDED, ITEM_CHANGED])
    assert en[0] == "Information item added: 住址 (Text)"
    assert "Security level: General data → Important data" in en[1]


def test_pending_fields_are_named_not_coded() -> None:
    token = i18n.set_locale("zh_CN")
    try:
        assert pending_fields({"open_type": "conditional", "share_mode": "api"}) == "开放类型、共享方式"
    finally:
        i18n._locale.reset(token)  # type: ignore[arg-type]  # the token from set_locale is the ContextVar's token (typed loosely there)
