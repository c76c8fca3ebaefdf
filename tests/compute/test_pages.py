"""Capability hub pages: who may open each, what they show, and the forms (POST → redirect → GET with a message).

Each page as the bureau, the owner's and another unit's staff, and anonymously; the whole consumer flow through
the forms: register an application (its key shown once), subscribe, the owner approves, the key calls the gateway.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cityhub.compute import service as compute
from cityhub.compute.pages import interface_rows
from cityhub.compute.schemas import VersionCreate
from tests.compute.helpers import bureau_setup, component_data, published, subscribed
from tests.conftest import PASSWORD

HTML = {"Accept": "text/html"}
BUREAU_PASSWORD = "correct-horse-42"  # tests.compute.helpers.bureau_setup's member
PAGES = ("/compute", "/compute/components/coord", "/compute/apps", "/compute/approvals", "/compute/review",
         "/compute/usage")
CONVERT = "/hub/coord/1.0.0/convert?lng=106.55&lat=29.56&from=wgs84&to=gcj02"


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no CSRF token in the page"
    return m.group(1)


def _login(client: TestClient, username: str, password: str = PASSWORD) -> None:
    r = client.post("/login", data={"username": username, "password": password,
                                    "csrf_token": _csrf(client.get("/login").text)}, follow_redirects=False)
    assert r.status_code == 303, (username, r.status_code)


def _text(html: str) -> str:
    """What a reader sees: the page without tags, scripts and attributes."""
    html = re.sub(r"<script.*?</script>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _flash(html: str) -> str:
    m = re.search(r'data-testid="flash">([^<]*)<', html)
    return m.group(1) if m else ""


def _hub(w: Any, client: TestClient) -> dict[str, Any]:
    """A published component of unit A (approval needed), one of unit B in review, B's app with metered calls."""
    comp = published(w, "coord", open_to_all=False, price_per_call=0.5)
    member_b = w.actors["org_member_b"]
    draft = compute.component_create(w.session, member_b, component_data(w, "idc-b", "dept_b", "id-check",
                                                                        name_zh="乙局身份核验"))
    compute.component_version_create(w.session, member_b, draft.id, VersionCreate(
        version="0.1.0", kind="builtin", builtin="id-check"))
    compute.component_submit(w.session, member_b, draft.id)
    app, sub, key = subscribed(w, comp)
    for _ in range(3):
        assert client.get(CONVERT, headers={"X-Api-Key": key}).status_code == 200
    assert client.app.state.compute_gateway.meter.flush() == 3  # type: ignore[attr-defined]  # Starlette's app.state holds what start-up put there, untyped
    return {"comp": comp, "draft": draft, "app": app, "sub": sub, "key": key}


def test_the_bureau_sees_every_page_with_labels_not_codes(client: TestClient, world: Any) -> None:
    hub = _hub(world, client)
    _login(client, "t-bureau-member", BUREAU_PASSWORD)
    pages = {}
    for path in PAGES:
        r = client.get(path, headers=HTML)
        assert r.status_code == 200, (path, r.status_code)
        pages[path] = r.text
    catalogue = pages["/compute"]
    assert catalogue.count('data-testid="card"') == 2 and "坐标转换" in catalogue and "乙局身份核验" in catalogue
    assert "共性技术" in catalogue and "审核中" in _text(catalogue)
    page = pages["/compute/components/coord"]
    seen = _text(page)
    # the interface as a table of operations, not the raw document
    assert "/convert" in seen and "Convert one point" in seen and "Convert up to 10,000 points" in seen
    assert '"paths"' not in page and "lng" in seen
    assert "app-coord" in seen and "乙局" in seen  # who uses this
    assert "1.0.0" in seen and "99.9" in seen  # versions and SLA
    usage = json.loads(re.search(r'id="page-data">(.*?)</script>', page, re.S).group(1))  # type: ignore[union-attr]  # the page is known to contain it; None would fail the test
    assert len(usage["usage"]) in (30, 31) and sum(d["calls"] for d in usage["usage"]) == 3
    review = pages["/compute/review"]
    assert review.count('data-testid="in-review"') == 1 and "idc-b" in review
    usage_page = pages["/compute/usage"]
    assert "乙局" in _text(usage_page) and 'data-testid="total-calls">3<' in usage_page and "¥1.50" in usage_page
    csv_link = re.search(r'href="(/api/v1/compute/usage.csv[^"]*)"', usage_page).group(1)  # type: ignore[union-attr]  # the page is known to contain it; None would fail the test
    csv = client.get(csv_link.replace("&amp;", "&"))
    assert csv.status_code == 200 and "coord" in csv.text and ",3," in csv.text
    for path, html in pages.items():  # statuses and categories are shown by their labels
        text = _text(html)
        for code in ("in_review", "published", "pending", "active", "builtin", "common", "business"):
            assert not re.search(rf"(?<![\w/-]){code}(?![\w/-])", text), (path, code)
    del hub


def test_english_labels(client: TestClient, world: Any) -> None:
    _hub(world, client)
    _login(client, "t-bureau-member", BUREAU_PASSWORD)
    client.cookies.set("cityhub_lang", "en")
    text = _text(client.get("/compute", headers=HTML).text)
    assert "Capability hub" in text and "Common technology" in text and "In review" in text
    assert "Coordinate conversion" in text  # the English name of a component, in English
    assert "Geospatial" in text and "地理空间" not in text  # its sub-category too
    client.cookies.set("cityhub_lang", "zh_CN")
    assert "地理空间" in _text(client.get("/compute", headers=HTML).text)


def test_department_staff_and_other_units(client: TestClient, world: Any) -> None:
    hub = _hub(world, client)
    _login(client, "t-a-member")  # the owner's staff
    assert client.get("/compute/components/coord", headers=HTML).status_code == 200
    assert client.get("/compute/components/idc-b", headers=HTML).status_code == 404  # B's unpublished component
    assert client.get("/compute/components/nope", headers=HTML).status_code == 404
    assert client.get("/compute/review", headers=HTML).status_code == 403  # the bureau's queue
    assert client.get("/compute/approvals", headers=HTML).status_code == 403  # staff do not decide
    catalogue = client.get("/compute", headers=HTML).text
    assert catalogue.count('data-testid="card"') == 1 and "乙局身份核验" not in catalogue
    apps = client.get("/compute/apps", headers=HTML).text
    assert "app-coord" not in apps and 'data-testid="no-apps"' in apps  # B's application is not A's to see
    # A owns the component: its usage includes B's calls of it; B's usage page shows B's own calls
    assert 'data-testid="total-calls">3<' in client.get("/compute/usage", headers=HTML).text
    with TestClient(client.app) as other:
        _login(other, "t-d-admin")  # a district: neither owner nor consumer
        assert 'data-testid="total-calls">0<' in other.get("/compute/usage", headers=HTML).text
        page = other.get("/compute/components/coord", headers=HTML).text
        assert "app-coord" not in page  # who uses it: only what the district may see
        assert other.get(f"/compute/usage?org_id={world.orgs['dept_b'].id}", headers=HTML).status_code == 403
    with TestClient(client.app) as owner_admin:
        _login(owner_admin, "t-a-admin")
        assert owner_admin.get("/compute/approvals", headers=HTML).status_code == 200
    del hub


def test_anonymous_visitors_are_sent_to_login(client: TestClient, world: Any) -> None:
    published(world, "coord")
    for path in PAGES:
        r = client.get(path, headers=HTML, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next="), path
    r = client.post("/compute/apps", data={"org_id": str(world.orgs["dept_b"].id), "name": "x", "csrf_token": "x"},
                    headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_application_key_once_subscription_and_owner_approval(client: TestClient, world: Any) -> None:
    w = world
    published(w, "coord", open_to_all=False)
    _login(client, "t-b-member")
    page = client.get("/compute/apps", headers=HTML).text
    token = _csrf(page)
    assert client.post("/compute/apps", data={"csrf_token": "forged", "org_id": str(w.orgs["dept_b"].id),
                                              "name": "x"}).status_code == 403
    # another unit's organisation is refused (a message, nothing made)
    r = client.post("/compute/apps", data={"csrf_token": token, "org_id": str(w.orgs["dept_a"].id),
                                           "name": "越权应用"}, follow_redirects=True)
    assert _flash(r.text) and "越权应用" not in r.text and 'data-testid="key"' not in r.text
    r = client.post("/compute/apps", data={"csrf_token": token, "org_id": str(w.orgs["dept_b"].id),
                                           "name": "乙局业务系统"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/compute/apps?msg=")
    shown = client.get(r.headers["location"], headers=HTML)
    assert "请立即复制其密钥" in _flash(shown.text) and shown.headers["cache-control"] == "no-store"
    key = re.search(r'data-testid="key">(chk_[^<]+)<', shown.text).group(1)  # type: ignore[union-attr]  # the page is known to contain it; None would fail the test
    again = client.get("/compute/apps", headers=HTML).text
    assert key not in again and 'data-testid="key"' not in again and key[:16] in again  # once; the prefix stays
    app = next(a for a in compute.app_list(w.session, w.actors["org_member_b"]) if a.name == "乙局业务系统")
    # a bad quota is refused naming the field, and nothing is asked for
    r = client.post("/compute/subscriptions", data={"csrf_token": token, "app_id": str(app.id),
                                                    "target": "coord@1.0.0", "quota_per_minute": "lots"},
                    follow_redirects=True)
    assert "quota_per_minute" in _flash(r.text)
    assert not compute.subscription_list(w.session, w.actors["org_member_b"], app_id=app.id)
    r = client.post("/compute/subscriptions", data={"csrf_token": token, "app_id": str(app.id),
                                                    "target": "coord@1.0.0", "quota_per_minute": "20",
                                                    "back": "/compute/components/coord"}, follow_redirects=False)
    assert r.headers["location"].startswith("/compute/components/coord?msg=")
    assert "订阅申请已提交" in _flash(client.get(r.headers["location"]).text)
    assert "待审批" in _text(client.get("/compute/apps").text)
    refused = client.get(CONVERT, headers={"X-Api-Key": key})
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "no_subscription")
    sub = compute.subscription_list(w.session, w.actors["org_member_b"], app_id=app.id)[0]["subscription"]
    # the owner's admin approves from the queue, lowering the quota
    with TestClient(client.app) as owner:
        _login(owner, "t-a-admin")
        queue = owner.get("/compute/approvals", headers=HTML).text
        assert queue.count('data-testid="pending"') == 1 and "乙局业务系统" in queue
        r = owner.post(f"/compute/subscriptions/{sub.id}/decide", data={
            "csrf_token": _csrf(queue), "decision": "reject", "note": ""}, follow_redirects=True)
        assert "note" in _flash(r.text)  # a refusal needs its reason; the subscription is unchanged
        r = owner.post(f"/compute/subscriptions/{sub.id}/decide", data={
            "csrf_token": _csrf(queue), "decision": "approve", "quota_per_minute": "5"}, follow_redirects=True)
        assert _flash(r.text) == "订阅已批准" and r.text.count('data-testid="pending"') == 0
    w.session.refresh(sub)
    assert (sub.status, sub.quota_per_minute) == ("active", 5)
    assert "生效中" in _text(client.get("/compute/apps").text)
    assert client.get(CONVERT, headers={"X-Api-Key": key}).status_code == 200
    # rotation: the new key is shown once and works, the old one stops at once
    old = compute.app_keys(w.session, w.actors["org_member_b"], app.id)[0]
    r = client.post(f"/compute/keys/{old.id}/rotate", data={"csrf_token": token}, follow_redirects=True)
    new_key = re.search(r'data-testid="key">(chk_[^<]+)<', r.text).group(1)  # type: ignore[union-attr]  # the page is known to contain it; None would fail the test
    assert new_key != key
    assert client.get(CONVERT, headers={"X-Api-Key": key}).json()["error"]["code"] == "invalid_key"
    assert client.get(CONVERT, headers={"X-Api-Key": new_key}).status_code == 200


def test_the_bureau_publishes_from_the_review_queue_and_owners_deprecate(client: TestClient, world: Any) -> None:
    w = world
    bureau_setup(w)
    member = w.actors["org_member_a"]
    c = compute.component_create(w.session, member, component_data(w, "geo"))
    compute.component_version_create(w.session, member, c.id, VersionCreate(
        version="1.0.0", kind="builtin", builtin="coord-convert"))
    w.session.flush()
    _login(client, "t-a-member")
    page = client.get("/compute/components/geo", headers=HTML).text
    assert 'action="/compute/components/geo/submit"' in page
    r = client.post("/compute/components/geo/submit", data={"csrf_token": _csrf(page)}, follow_redirects=True)
    assert _flash(r.text) == "已提交大数据局审核"
    r = client.post("/compute/components/geo/review", data={"csrf_token": _csrf(page), "approve": "1"},
                    follow_redirects=True)
    assert _flash(r.text) and "审核中" in _text(r.text)  # staff of the owner may not publish
    with TestClient(client.app) as bureau:
        _login(bureau, "t-bureau-member", BUREAU_PASSWORD)
        queue = bureau.get("/compute/review", headers=HTML).text
        r = bureau.post("/compute/components/geo/review", data={"csrf_token": _csrf(queue), "approve": "0"},
                        headers={"referer": "http://testserver/compute/review"}, follow_redirects=True)
        assert "note" in _flash(r.text)  # sending back needs a reason
        r = bureau.post("/compute/components/geo/review", data={"csrf_token": _csrf(queue), "approve": "1",
                                                               "note": "ok"},
                        headers={"referer": "http://testserver/compute/review"}, follow_redirects=True)
        assert r.url.path == "/compute/review" and _flash(r.text) == "审核意见已记录"
        assert 'data-testid="in-review"' not in r.text
        # a new version of the published component waits in the version queue until the bureau publishes it
        v = compute.component_version_create(w.session, member, c.id, VersionCreate(
            version="1.1.0", kind="builtin", builtin="coord-convert"))
        w.session.flush()
        queue = bureau.get("/compute/review", headers=HTML).text
        assert "1.1.0" in queue
        r = bureau.post(f"/compute/versions/{v.id}/publish", data={"csrf_token": _csrf(queue)},
                        follow_redirects=True)
        assert _flash(r.text) == "版本已发布" and "1.1.0" not in r.text
    w.session.refresh(v)
    assert v.published_at is not None
    r = client.post("/compute/components/geo/deprecate", data={"csrf_token": _csrf(page), "note": "由 2.0 取代"},
                    follow_redirects=True)
    assert _flash(r.text) == "组件已弃用" and "已弃用" in _text(r.text)
    assert client.post("/compute/components/geo/explode", data={"csrf_token": _csrf(page)},
                       headers=HTML).status_code == 422


def test_interface_rows_read_paths_methods_parameters_and_bodies() -> None:
    doc = compute.builtin_openapi("coord-convert")
    rows = interface_rows(doc)
    assert [(r["method"], r["path"]) for r in rows] == [("GET", "/convert"), ("POST", "/convert")]
    get, post = rows
    assert {p["name"] for p in get["params"]} == {"lng", "lat", "from", "to"}
    assert all(p["in"] == "query" and p["required"] for p in get["params"])
    assert {p["name"]: p["in"] for p in post["params"]}["points"] == "body"
    assert get["responses"] == ["200", "422"]
    assert interface_rows({"openapi": "3.1.0", "paths": {"/x": {"parameters": "bad", "get": {}}}}) == [
        {"path": "/x", "method": "GET", "summary": "", "description": "", "params": [], "responses": []}]
    assert interface_rows({}) == []


@pytest.mark.parametrize("value", ["", "x@", "@1.0.0", "nope@1.0.0"])
def test_subscribe_form_refuses_a_bad_target(client: TestClient, world: Any, value: str) -> None:
    published(world, "coord")
    app = compute.app_create(world.session, world.actors["org_member_b"], _app(world))
    world.session.flush()
    _login(client, "t-b-member")
    token = _csrf(client.get("/compute/apps").text)
    r = client.post("/compute/subscriptions", data={"csrf_token": token, "app_id": str(app.id), "target": value},
                    follow_redirects=True)
    assert r.status_code == 200 and _flash(r.text)
    assert not compute.subscription_list(world.session, world.actors["org_member_b"], app_id=app.id)


def _app(w: Any) -> Any:
    from cityhub.compute.schemas import AppCreate

    return AppCreate(org_id=w.orgs["dept_b"].id, name="表单测试")
