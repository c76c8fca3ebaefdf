"""The city overview names organisation kinds by their labels, in the reader's language (issue 16)."""

from __future__ import annotations

from typing import Any

from tests.web.test_pages import login


def test_organisation_kinds_read_as_words_in_both_languages(client: Any, world: Any) -> None:
    login(client, "t-admin")
    zh = client.get("/overview").text.split('id="page-data"')[1]
    assert '"\\u533a"' in zh and '"district"' not in zh  # 区, escaped by tojson
    client.get("/lang/en?next=/")
    en = client.get("/overview").text.split('id="page-data"')[1]
    assert "City department" in en and '"district"' not in en and '"department"' not in en
