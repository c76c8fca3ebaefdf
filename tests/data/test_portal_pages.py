"""Public portal pages (no login) and the public user's journey: register, apply, provider approves, token."""

from __future__ import annotations

import re
from typing import Any

from cityhub.data import schemas, service
from tests.data.helpers import published_entry
from tests.data.portal_helpers import open_entry


def _csrf(client: Any, url: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', client.get(url).text)
    assert m, url
    return m.group(1)


def test_public_pages_show_the_open_catalog_only(client: Any, world: Any) -> None:
    e, res = open_entry(world, "户籍人口统计")
    cond, _r = open_entry(world, "企业登记信息", open_type="conditional", rows=False, tags=["企业"])
    secret = published_entry(world, title="不动产登记明细")
    world.session.flush()
    home = client.get("/portal")
    assert home.status_code == 200 and 'data-testid="count-datasets">2<' in home.text
    assert "不动产登记明细" not in home.text and "户籍人口统计" in home.text
    found = client.get("/dataset", params={"q": "人口"})
    assert found.status_code == 200 and "户籍人口统计" in found.text and "不动产" not in found.text
    assert 'data-testid="facet-provider_org_id"' in found.text
    facet = client.get("/dataset", params={"tags": "企业"})
    assert "企业登记信息" in facet.text and "户籍人口统计" not in facet.text
    page = client.get(f"/dataset/{e.name}")
    assert page.status_code == 200
    for needle in ('data-testid="preview"', 'data-testid="quick-chart"', "datastore_search?resource_id=",
                   f"/datastore/dump/{res.id}?format=csv", "/datapackage.json", ".ttl"):
        assert needle in page.text, needle
    assert "张三" not in page.text and "500101199001011234" not in page.text  # masked items never shown
    assert page.text.count("不公开（个人或敏感信息）") == 3  # name, id_number, phone are marked withheld
    assert client.get(f"/dataset/{secret.name}").status_code == 404
    assert client.get(f"/dataset/{cond.name}").status_code == 200
    orgs = client.get("/organization")
    assert world.orgs["dept_a"].name in orgs.text
    org = client.get(f"/organization/{world.orgs['dept_a'].code}")
    assert "户籍人口统计" in org.text and "不动产" not in org.text
    assert client.get("/organization/public").status_code == 404


def test_public_user_applies_provider_reviews_token_reads(client: Any, world: Any) -> None:
    cond, res = open_entry(world, "企业登记信息", open_type="conditional")
    world.session.flush()
    rid = str(res.id)
    denied = client.get("/api/3/action/datastore_search", params={"resource_id": rid})
    assert denied.status_code == 403
    csrf = _csrf(client, "/portal/register")
    r = client.post("/portal/register", data={"csrf_token": csrf, "username": "citizen-li", "email": "li@example.org",
                                              "password": "correct-horse-42"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/portal/me")
    page = client.get(f"/dataset/{cond.name}")
    assert 'action="/portal/applications"' in page.text
    csrf = _csrf(client, f"/dataset/{cond.name}")
    r = client.post("/portal/applications", data={"csrf_token": csrf, "entry_id": str(cond.id),
                                                   "purpose": "研究企业分布"}, follow_redirects=False)
    assert r.status_code == 303
    # the provider sees it in its usual review queue (same workflow engine as sharing requests)
    queue, _n = service.share_request_list(world.session, world.actors["org_member_a"], box="provider")
    app = next(q for q in queue if q.entry_id == cond.id)
    assert app.status == "provider_review" and app.purpose == "研究企业分布"
    # a public user still sees no 不予开放 entries anywhere
    assert "不动产" not in client.get("/dataset").text
    service.share_request_provider_review(world.session, world.actors["org_member_a"], app.id, True, "同意")
    world.session.flush()
    csrf = _csrf(client, "/portal/me")
    r = client.post(f"/portal/applications/{app.id}/activate", data={"csrf_token": csrf})
    assert r.status_code == 200
    token = re.search(r'data-testid="token">([^<]+)<', r.text).group(1)  # type: ignore[union-attr]  # the page is known to contain it; None would fail the test
    ok = client.get("/api/3/action/datastore_search", params={"resource_id": rid}, headers={"Authorization": token})
    assert ok.status_code == 200, ok.text
    recs = ok.json()["result"]["records"]
    assert len(recs) == 3 and not {"name", "id_number", "phone"} & set(recs[0])
    # the token reads only that dataset and writes nothing
    _other, other_res = open_entry(world, "另一有条件数据", open_type="conditional")
    world.session.flush()
    r = client.get("/api/3/action/datastore_search", params={"resource_id": str(other_res.id)},
                   headers={"Authorization": token})
    assert r.status_code == 403
    r = client.post("/api/3/action/package_patch", json={"id": cond.name, "notes": "x"},
                    headers={"Authorization": token})
    assert r.status_code == 403


def _page_data(html: str) -> dict[str, Any]:
    import json

    m = re.search(r'<script type="application/json" id="page-data">(.*?)</script>', html, re.S)
    assert m
    return dict(json.loads(m.group(1)))


def test_home_charts_count_real_datasets_downloads_and_api_calls(client: Any, world: Any) -> None:
    from cityhub.data.portal import service as portal

    _e, res = open_entry(world, "户籍人口统计")
    open_entry(world, "户籍人口年报", rows=False)
    open_entry(world, "企业登记信息", open_type="conditional", rows=False)
    world.session.flush()
    portal.flush_api_calls(world.session)  # counts of earlier tests in this process are not ours
    before = _page_data(client.get("/portal").text)["usage_by_day"]
    assert client.get(f"/datastore/dump/{res.id}", params={"format": "csv"}).status_code == 200
    for _ in range(3):
        assert client.get("/api/3/action/package_list").status_code == 200
    data = _page_data(client.get("/portal").text)
    by_org = {row["name"]: row for row in data["by_org"]}
    dept_a = by_org[world.orgs["dept_a"].name]
    assert (dept_a["value"], dept_a["unconditional"], dept_a["conditional"]) == (3, 2, 1)
    usage = data["usage_by_day"]
    assert usage["downloads"][-1] == before["downloads"][-1] + 1
    assert usage["api_calls"][-1] == before["api_calls"][-1] + 3
    portal.flush_api_calls(world.session)  # written to the counter table, still counted once
    assert _page_data(client.get("/portal").text)["usage_by_day"]["api_calls"][-1] == usage["api_calls"][-1]


def test_api_resource_of_an_open_dataset_is_not_a_pending_download(client: Any, world: Any) -> None:
    e, _r = open_entry(world, "空气质量小时数据", rows=False)
    service.resource_api_create(world.session, world.actors["org_member_a"], e.id, schemas.ResourceApiCreate(
        title="空气质量接口", upstream_url="https://aqi.example.org/hourly"))
    page = client.get(f"/dataset/{e.name}").text
    rows = re.search(r'data-testid="rows">(.*?)</td>', page, re.S)
    access = re.search(r'data-testid="access">(.*?)</td>', page, re.S)
    assert rows and access and "0" not in rows.group(1) and "实时接口" in rows.group(1)
    assert "审核通过后" not in page and "after approval" not in access.group(1)
    assert "向所有人开放" in page


def test_api_and_dcat_pages_explain_and_link(client: Any, world: Any) -> None:
    e, res = open_entry(world, "户籍人口统计")
    api = client.get("/portal/api")
    assert api.status_code == 200 and 'href="/docs"' in api.text and "ckanapi.RemoteCKAN" in api.text
    assert f"resource_id={res.id}" in api.text and f"id={e.name}" in api.text
    dcat = client.get("/portal/dcat")
    assert dcat.status_code == 200 and 'href="/catalog.ttl"' in dcat.text and f"/dataset/{e.name}.ttl" in dcat.text
    nav = re.search(r'data-testid="portal-nav">(.*?)</nav>', client.get("/portal").text, re.S)
    assert nav and 'href="/portal/api"' in nav.group(1) and 'href="/portal/dcat"' in nav.group(1)
    assert "/api/3/action/status_show" not in nav.group(1) and "/catalog.ttl" not in nav.group(1)


def test_english_portal_shows_english_values(client: Any, world: Any) -> None:
    e, _res = open_entry(world, "户籍人口统计")
    client.get("/lang/en?next=/portal")
    page = client.get(f"/dataset/{e.name}").text
    for english in ("Open unconditionally", "Every day", "Base resource", "Population", "Text", "Date"):
        assert english in page, english
    for chinese in ("无条件开放", "每日", "字符型", "知识共享"):
        assert chinese not in page, chinese
