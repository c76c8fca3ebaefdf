"""Unit names in the reader's language: English pages name units by their English name (issue 16)."""

from __future__ import annotations

from typing import Any

from cityhub.core import service as core
from cityhub.core.schemas import OrganizationUpdate
from cityhub.kit.web import named
from tests.web.test_pages import login


def _english(world: Any) -> None:
    core.organization_update(world.session, core.Actor.system("test"), world.orgs["dept_a"].id,
                             OrganizationUpdate(name_en="Bureau A"))


def test_organization_names_follow_the_locale(world: Any) -> None:
    _english(world)
    zh = core.organization_names(world.session, "zh_CN")
    en = core.organization_names(world.session, "en")
    assert zh[world.orgs["dept_a"].id] == "甲局" and en[world.orgs["dept_a"].id] == "Bureau A"
    assert en[world.orgs["dept_b"].id] == "乙局"  # no English name: the Chinese one, never an empty cell
    assert set(zh) == set(en) == {o.id for o in core.organization_all(world.session)}


def test_named_filter_reads_name_en_only_in_english(world: Any) -> None:
    from cityhub.kit import i18n

    _english(world)
    org = world.orgs["dept_a"]
    token = i18n.set_locale("en")
    try:
        assert named(org) == "Bureau A" and named(world.orgs["dept_b"]) == "乙局"
    finally:
        i18n.reset_locale(token)
    assert named(org) == "甲局"


def test_english_pages_name_units_in_english(client: Any, world: Any) -> None:
    _english(world)
    login(client, "t-admin")
    assert "Bureau A" not in client.get("/ops/incidents").text
    client.cookies.set("cityhub_lang", "en")
    page = client.get("/ops/incidents").text
    assert "Bureau A" in page and "甲局" not in page


def test_maps_rename_the_chinese_outlines_on_english_pages(client: Any, world: Any) -> None:
    """The Chongqing outlines name districts in Chinese; English map pages carry the renaming (cityhub.chongqing)."""
    import json
    import re

    core.organization_update(world.session, core.Actor.system("test"), world.orgs["district"].id,
                             OrganizationUpdate(name_en="Bing District"))
    _english(world)
    assert core.district_name_map(world.session, "en") == {"丙区": "Bing District"}  # districts only
    assert core.district_name_map(world.session, "zh_CN") == {}

    def names(html: str) -> Any:
        m = re.search(r'id="district-names">(.*?)</script>', html, re.S)
        assert m, "the map page carries no district names"
        return json.loads(m.group(1))
    assert names(client.get("/ops/report").text) == {}
    client.cookies.set("cityhub_lang", "en")
    assert names(client.get("/ops/report").text) == {"丙区": "Bing District"}
    login(client, "t-admin")
    assert names(client.get("/ops/screen").text) == {"丙区": "Bing District"}
    assert names(client.get("/apply/stations").text) == {"丙区": "Bing District"}


def test_the_audit_unit_filter_names_units_in_english(client: Any, world: Any) -> None:
    _english(world)
    login(client, "t-admin")
    client.cookies.set("cityhub_lang", "en")
    page = client.get("/admin/audit").text
    assert ">Bureau A</option>" in page and ">甲局</option>" not in page
