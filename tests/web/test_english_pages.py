"""An English page shows no Chinese where the page itself writes the words (issue 16): search placeholders gave
Chinese examples on English pages. Data people wrote (names, titles) stays as written; this looks only at the
placeholders the templates write."""

from __future__ import annotations

import re
from typing import Any

from tests.web.test_pages import login

CJK = re.compile(r"[\u4e00-\u9fff]")
PLACEHOLDER = re.compile(r'placeholder="([^"]*)"')


def test_english_placeholders_are_english(client: Any, world: Any) -> None:
    login(client, "t-admin")
    client.cookies.set("cityhub_lang", "en")
    for path in ("/compute", "/data", "/portal", "/dataset", "/compute/components/new"):
        page = client.get(path, headers={"Accept": "text/html"})
        if page.status_code == 403:  # the registration form is for a unit's staff
            continue
        assert page.status_code == 200, path
        chinese = [p for p in PLACEHOLDER.findall(page.text) if CJK.search(p)]
        assert not chinese, f"{path}: {chinese}"
    client.cookies.set("cityhub_lang", "zh_CN")
    assert "例如" in client.get("/compute", headers={"Accept": "text/html"}).text  # and Chinese ones in Chinese
