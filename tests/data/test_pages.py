"""Data pages: search with facets, entry page with masked preview, request form, queues, 三清单 boards."""

from __future__ import annotations

import re
from typing import Any

from cityhub.data import service
from tests.data.helpers import active_grant, load_people, published_entry
from tests.web.test_pages import _csrf, login


def test_public_search_hides_closed_entries(client: Any, world: Any) -> None:
    published_entry(world)
    r = client.get("/data", params={"q": "人口"})
    assert r.status_code == 200 and 'data-testid="total"' in r.text and "人口基础信息" not in r.text


def test_entry_page_preview_is_masked_and_request_form_submits(client: Any, world: Any) -> None:
    entry = published_entry(world)
    load_people(world, entry)
    login(client, "t-b-member")
    page = client.get(f"/data/entries/{entry.id}")
    assert page.status_code == 200 and 'data-testid="request-form"' in page.text
    assert "18012341999" not in page.text  # B has no grant: no rows, and never clear values
    r = client.post(f"/data/entries/{entry.id}/request", data={
        "csrf_token": _csrf(page.text), "items": ["name", "phone"], "legal_basis": "依据", "purpose": "核验",
        "consuming_system": "核验系统", "quota": "0"}, follow_redirects=False)
    assert r.status_code == 303 and "msg=" in r.headers["location"]
    mine = client.get("/data/requests?box=mine")
    assert "合规审核中" in mine.text


def test_queues_and_lists_render(client: Any, world: Any) -> None:
    entry = published_entry(world)
    load_people(world, entry)
    login(client, "t-admin")
    for path in ("/data/publish", "/data/review", "/data/requests?box=compliance", "/data/lists",
                 f"/data/entries/{entry.id}"):
        r = client.get(path)
        assert r.status_code == 200, path
    page = client.get(f"/data/entries/{entry.id}").text
    assert re.search(r"5001\*{10}1234", page)  # the platform admin sees masked rows
    lists = client.get("/data/lists").text
    assert 'id="kpi-chart"' in lists and 'data-testid="kpi"' in lists and 'data-testid="catalog-row"' in lists


def _form(csrf: str, org_id: str, rows: list[tuple[str, str, str, str, str, str]], **over: str) -> dict[str, Any]:
    data: dict[str, Any] = {"csrf_token": csrf, "title": "低保对象名册", "provider_org_id": org_id,
                  "classification": "department",
                  "base_db": "", "format_category": "database", "share_type": "conditional",
                  "share_condition": "仅用于救助核验", "open_type": "none", "update_cycle": "monthly",
                  "security_grade": "important", "tags": "低保、救助", "abstract": "", "theme": "社会保障"}
    data.update(over)
    for i, col in enumerate(("name_cn", "name_en", "data_type", "length", "security_level", "masking_rule")):
        data[f"item_{col}"] = [r[i] for r in rows]
    return data


def test_publish_form_takes_items_as_a_table_and_names_the_wrong_row(client: Any, world: Any) -> None:
    login(client, "t-a-member")
    page = client.get("/data/publish")
    assert page.status_code == 200 and 'data-testid="items-editor"' in page.text and "目录编制" in page.text
    assert "My unit" not in page.text  # no English title on a Chinese page
    org = str(world.orgs["dept_a"].id)
    rows = [("姓名", "name", "C", "30", "important", "name"), ("", "", "C", "", "general", ""),
            ("身份证号", "ID-Number", "C", "18", "important", "id_number")]
    bad = client.post("/data/publish", data=_form(_csrf(page.text), org, rows), follow_redirects=False)
    assert bad.status_code == 422
    assert "第 2 个信息项的「字段名（英文小写）」" in bad.text  # the blank row is dropped: the 2nd item is named
    assert 'value="ID-Number"' in bad.text and 'value="低保对象名册"' in bad.text  # what was typed comes back
    dup = [("姓名", "name", "C", "30", "important", "name"), ("名字", "name", "C", "", "general", "")]
    bad = client.post("/data/publish", data=_form(_csrf(page.text), org, dup), follow_redirects=False)
    assert bad.status_code == 422 and "与第 1 行重复" in bad.text
    bad = client.post("/data/publish", data=_form(_csrf(page.text), org, dup[:1], title="x"), follow_redirects=False)
    assert bad.status_code == 422 and "「名称」太短" in bad.text
    good = [("姓名", "name", "C", "30", "important", "name"), ("救助金额", "amount", "Y", "", "general", "")]
    ok = client.post("/data/publish", data=_form(_csrf(page.text), org, good), follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"].startswith("/data/entries/")
    shown = client.get(ok.headers["location"])
    assert "救助金额" in shown.text and "货币型" in shown.text and "草稿" in shown.text
    assert "低保对象名册" in client.get("/data/publish").text


def test_edit_keeps_changes_for_review_and_history_reads_as_sentences(client: Any, world: Any) -> None:
    entry = published_entry(world)
    login(client, "t-a-member")
    page = client.get(f"/data/entries/{entry.id}/edit")
    assert page.status_code == 200 and 'value="公民身份号码"' in page.text
    rows = [(i["name_cn"], i["name_en"], i["data_type"], str(i.get("length") or ""), i.get("security_level", "general"),
             i.get("masking_rule", "")) for i in entry.items]
    rows.append(("住址", "address", "C", "100", "important", "address"))
    r = client.post(f"/data/entries/{entry.id}/edit", data=_form(
        _csrf(page.text), "", rows, title=entry.title, classification="base", base_db="population",
        share_condition=entry.share_condition, share_type="conditional", open_type="none", update_cycle="daily",
        tags="人口、住址", theme="", abstract=entry.abstract, source_system=entry.source_system),
        follow_redirects=False)
    assert r.status_code == 303, r.text
    world.session.refresh(entry)
    assert sorted(entry.pending_changes) == ["items", "tags"]  # only what changed waits for review
    service.catalog_entry_submit(world.session, world.actors["org_member_a"], entry.id)
    review = client.get("/data/review")
    assert review.status_code == 200
    login(client, "t-bureau-member")
    queue = client.get("/data/review").text
    assert "标签、信息项" in queue or "信息项、标签" in queue
    service.catalog_entry_review(world.session, world.actors["bureau_member"], entry.id, True, "ok")
    shown = client.get(f"/data/entries/{entry.id}").text
    assert "新增信息项：住址（字符型）" in shown and "标签：新增 住址；删除 身份" in shown
    assert "[" not in shown.split('data-testid="history"')[1].split("</ul>")[0]
    client.get("/lang/en?next=/")
    english = client.get(f"/data/entries/{entry.id}").text
    assert "Information item added: 住址 (Text)" in english and "Shared on conditions" in english
    assert "有条件共享" not in english and "Every day" in english


def test_requests_name_items_and_page_and_filter(client: Any, world: Any) -> None:
    entry = published_entry(world)
    active_grant(world, entry, ["name", "phone"])
    login(client, "t-b-member")
    page = client.get("/data/requests?box=mine")
    items = re.search(r'data-testid="request-items">([^<]+)<', page.text)
    assert items and "姓名、手机号码" in items.group(1) and "phone" not in items.group(1)
    assert "已生效" in page.text
    assert 'data-testid="request"' not in client.get("/data/requests?box=mine&status=rejected").text
    assert 'data-testid="request"' in client.get("/data/requests?box=mine&status=active").text
    assert client.get("/data/requests?box=mine&status=nonsense").status_code == 200
