"""Error pages speak one language, the reader's (issue 16: the 404 page mixed English and Chinese)."""

from __future__ import annotations

from typing import Any

from tests.web.test_pages import login

HTML = {"accept": "text/html"}


def test_a_missing_page_is_explained_in_chinese_then_in_english(client: Any, world: Any) -> None:
    login(client, "t-a-member")
    zh = client.get("/no-such-page", headers=HTML)
    assert zh.status_code == 404
    assert "找不到该页面" in zh.text and "返回首页" in zh.text and "Not Found" not in zh.text
    client.get("/lang/en?next=/")
    en = client.get("/no-such-page", headers=HTML)
    assert "Page not found" in en.text and "返回首页" not in en.text and "找不到" not in en.text


def test_a_refusal_keeps_its_own_translated_message(client: Any, world: Any) -> None:
    login(client, "t-a-member")
    r = client.get("/admin/audit", headers=HTML)  # staff may not read the audit log
    assert r.status_code == 403 and "您无权打开此页面" in r.text and "Forbidden" not in r.text
