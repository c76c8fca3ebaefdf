"""Data standards over HTTP (issue 20): the API's answers and permission edges, the pages in both languages."""

from __future__ import annotations

import re
import uuid
from typing import Any

from cityhub.data import service
from tests.data.helpers import entry_data
from tests.data.test_standards import STD_ITEMS, _people
from tests.web.test_pages import _csrf, login

S = "/api/v1/data/standards"


def _list_id(client: Any, identifier: str) -> str:
    return str(next(cl["id"] for cl in client.get(f"{S}/code-lists").json() if cl["identifier"] == identifier))


def test_the_api_reads_writes_and_refuses(client: Any, world: Any) -> None:
    anon = client.get(f"{S}/elements", params={"q": "性别"}).json()
    assert anon["total"] == 1 and anon["items"][0]["code_list_identifier"] == "GB/T 2261.1"
    admin = world.headers("platform_admin")
    made = client.post(f"{S}/elements", headers=admin, json={
        "identifier": "DE70001", "name_zh": "学历代码", "data_type": "string", "format": "n2"})
    assert made.status_code == 201 and made.json()["status"] == "draft"
    assert client.get(f"{S}/elements/DE70001").status_code == 404  # drafts are not public
    assert client.get(f"{S}/elements/DE70001", headers=world.headers("org_member_b")).json()["status"] == "draft"
    assert client.post(f"{S}/elements", headers=admin, json={
        "identifier": "DE70001", "name_zh": "重复", "data_type": "string"}).status_code == 409
    bad = client.post(f"{S}/elements", headers=admin, json={"identifier": "DE70002", "name_zh": "x",
                                                            "data_type": "string", "format": "zz"})
    assert bad.status_code == 422 and "format" in str(bad.json()["error"]["details"])
    assert client.post(f"{S}/elements", headers=world.headers("org_member_a"), json={
        "identifier": "DE70003", "name_zh": "x", "data_type": "string"}).status_code == 403
    assert client.post(f"{S}/elements/DE70001/publish", headers=admin).json()["status"] == "published"
    assert client.post(f"{S}/elements/DE70001/publish", headers=admin).status_code == 409
    assert client.post(f"{S}/elements/DE79999/publish", headers=admin).status_code == 404
    # code list import: each bad row named, nothing written; then a good file
    cl = client.post(f"{S}/code-lists", headers=admin, json={"identifier": "GB/T 4658", "name": "学历代码"}).json()
    refused = client.post(f"{S}/code-lists/{cl['id']}/values", headers={**admin, "Content-Type": "text/csv"},
                          content="code,label_zh\n10,研究生\n,无代码\n10,重复\n".encode())
    assert refused.status_code == 422
    assert [d["field"] for d in refused.json()["error"]["details"]] == ["rows.2.code", "rows.3.code"]
    assert client.get(f"{S}/code-lists/{cl['id']}", headers=admin).json()["values"] == []
    ok = client.post(f"{S}/code-lists/{cl['id']}/values", headers={**admin, "Content-Type": "text/csv"},
                     content="code,label_zh,parent_code\n10,研究生,\n11,博士研究生,10\n".encode())
    assert ok.json() == {"added": 2, "updated": 0, "errors": []}
    assert client.get(f"{S}/code-lists/{cl['id']}").status_code == 404  # a draft list is not public yet
    # a catalog item naming an unknown element: 422 naming the item's field
    body = entry_data(world).model_dump(mode="json")
    body["items"] = [*STD_ITEMS[:1], {**STD_ITEMS[1], "element": "DE79999"}]
    refused = client.post("/api/v1/data/catalog/entries", headers=world.headers("org_member_a"), json=body)
    assert refused.status_code == 422 and refused.json()["error"]["details"][0]["field"] == "items.1.element"


def test_conformance_over_the_api(client: Any, world: Any) -> None:
    _entry, res = _people(world)
    mine = client.get(f"{S}/conformance/resources/{res.id}", headers=world.headers("org_member_a")).json()
    assert (mine["checked"], mine["nonconforming"], mine["fields_standardised"]) == (18, 6, 6)
    assert client.get(f"{S}/conformance/resources/{res.id}", headers=world.headers("org_member_b")).status_code == 403
    assert client.get(f"{S}/conformance/resources/{res.id}").status_code == 401
    report = client.get(f"{S}/conformance", headers=world.headers("platform_admin")).json()
    assert [d["nonconforming"] for d in report["departments"]] == [6]
    assert client.get(f"{S}/conformance", headers=world.headers("org_member_b")).json()["resources"] == []


def test_pages_render_in_both_languages(client: Any, world: Any) -> None:
    _entry, res = _people(world)
    browser = client.get("/data/standards")  # anonymous: published standards
    assert browser.status_code == 200 and "公民身份号码" in browser.text and "GB/T 2260" in browser.text
    assert 'data-testid="element-form"' not in browser.text
    element = client.get("/data/standards/elements/DE00003")
    assert "男性" in element.text and "未说明的性别" in element.text
    divisions = _list_id(client, "GB/T 2260")
    tree = client.get(f"/data/standards/code-lists/{divisions}")
    assert "渝中区" in tree.text and "市辖区" in tree.text and "彭水苗族土家族自治县" in tree.text
    assert client.get("/data/standards/conformance", follow_redirects=False).status_code in (302, 303, 401)
    login(client, "t-a-member")
    uses = client.get("/data/standards/elements/DE00003")
    assert "人口基础信息" in uses.text  # unit A's entry follows 性别代码
    page = client.get("/data/standards/conformance")
    assert page.status_code == 200 and "人口基础信息" in page.text and "conformance-chart" in page.text
    one = client.get(f"/data/standards/conformance/{res.id}")
    assert "不在代码表中" in one.text and "500300" in one.text and "未标准化" in one.text
    english = client.get(f"/data/standards/conformance/{res.id}", cookies={"cityhub_lang": "en"})
    assert "Not in the code list" in english.text and "Not standardised" in english.text
    assert not re.search(r"data\.element_type|StandardStatus", english.text)


def test_the_bureau_drafts_and_imports_from_the_pages(client: Any, world: Any) -> None:
    login(client, "t-admin")
    page = client.get("/data/standards")
    assert 'data-testid="element-form"' in page.text
    csrf = _csrf(page.text)
    made = client.post("/data/standards/code-lists", data={"csrf_token": csrf, "identifier": "T-PAGE",
                                                           "name": "页面代码表"}, follow_redirects=False)
    target = made.headers["location"]
    assert "/data/standards/code-lists/" in target
    list_id = target.split("?")[0].rsplit("/", 1)[1]
    bad = client.post(f"/data/standards/code-lists/{list_id}/values", data={"csrf_token": csrf},
                      files={"file": ("c.csv", "code,label_zh\n,空\n".encode(), "text/csv")})
    assert "第 1 行" in bad.text
    client.post(f"/data/standards/code-lists/{list_id}/values", data={"csrf_token": csrf},
                files={"file": ("c.csv", "code,label_zh\n1,一\n2,二\n".encode(), "text/csv")})
    client.post(f"/data/standards/code-lists/{list_id}/publish", data={"csrf_token": csrf})
    _head, values = service.code_list_get(world.session, world.actors["platform_admin"], uuid.UUID(list_id))
    assert [v.code for v in values] == ["1", "2"] and _head.status == "published"
    refused = client.post("/data/standards/elements", data={"csrf_token": csrf, "identifier": "DE60001",
                                                            "name_zh": "测试", "data_type": "string",
                                                            "format": "bad"}, follow_redirects=True)
    assert 'value="DE60001"' in refused.text  # the refused form comes back filled in


def test_the_items_editor_carries_each_items_element(client: Any, world: Any) -> None:
    from tests.data.test_pages import _form

    login(client, "t-a-member")
    page = client.get("/data/publish")
    assert 'list="data-elements"' in page.text and '<option value="DE00001">公民身份号码</option>' in page.text
    org = str(world.orgs["dept_a"].id)
    rows = [("姓名", "name", "C", "30", "important", "name"), ("性别", "sex", "C", "", "general", "")]
    data = _form(_csrf(page.text), org, rows)
    data["item_element"] = ["DE00010", "DE79999"]
    bad = client.post("/data/publish", data=data, follow_redirects=False)
    assert bad.status_code == 422 and "未知的数据元" in bad.text
    data["item_element"] = ["DE00010", "DE00003"]
    ok = client.post("/data/publish", data=data, follow_redirects=False)
    assert ok.status_code == 303
    shown = client.get(ok.headers["location"])
    assert 'href="/data/standards/elements/DE00003"' in shown.text
    entry_id = uuid.UUID(ok.headers["location"].split("?")[0].rsplit("/", 1)[1])
    edit = client.get(f"/data/entries/{entry_id}/edit")
    assert 'name="item_element" value="DE00003"' in edit.text  # editing keeps the references
