"""Connect pages render for owners and the platform; registration and rotation show the token once."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cityhub.connect import service
from cityhub.kit import clock
from tests.connect.helpers import build_connect, message
from tests.web.test_pages import login


def _csrf(text: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', text).group(1)  # type: ignore[union-attr]  # the page is known to contain it; None would fail the test


def test_pages_render_with_tree_latest_and_quarantine(client: Any, world: Any) -> None:
    cw = build_connect(world)
    s = world.session
    now = clock.now()
    service.ingest_messages(s, [message(cw["dev_a"].id, {"values": {"strain": 123.5}}, now),
                                message(cw["dev_a"].id, {"values": {"colour": 1}}, now)])
    login(client, "t-admin")
    page = client.get("/connect")
    assert page.status_code == 200
    assert 'data-testid="asset-tree"' in page.text and "测试长江大桥" in page.text and "主跨" in page.text
    assert "主跨应变计 1" in page.text and "广场微站" in page.text
    filtered = client.get("/connect", params={"profile": "air-noise"}).text
    assert "广场微站" in filtered and "主跨应变计 1" not in filtered
    dev = client.get(f"/connect/devices/{cw['dev_a'].id}").text
    assert "123.5" in dev and 'data-testid="chart"' in dev and "未知指标 1" in dev  # zh-CN reason label
    q = client.get("/connect/quarantine").text
    assert 'data-testid="quarantine"' in q and "未知指标" in q


def test_department_registers_and_rotates_through_the_forms(client: Any, world: Any) -> None:
    cw = build_connect(world)
    login(client, "t-a-member")
    page = client.get("/connect")
    assert 'data-testid="register-form"' in page.text and "广场微站" not in page.text
    csrf = _csrf(page.text)
    form = {"name": "千厮门嘉陵江大桥 主跨 应变-09", "org_id": str(world.orgs["dept_a"].id),
            "profile_code": "bridge-health", "asset_id": str(cw["span"].id), "csrf_token": csrf}
    assert client.post("/connect/devices", data={**form, "csrf_token": "forged"}).status_code == 403
    r = client.post("/connect/devices", data=form)
    assert r.status_code == 200 and 'data-testid="token"' in r.text
    token = re.search(r"<code>(chdev_[^<]+)</code>", r.text).group(1)  # type: ignore[union-attr]  # the page is known to contain it; None would fail the test
    device_id = re.search(r"<code>([0-9a-f-]{36})</code>", r.text).group(1)  # type: ignore[union-attr]  # the page is known to contain it; None would fail the test
    assert token not in client.get(f"/connect/devices/{device_id}").text  # shown once
    assert service.device_authenticate(world.session, __import__("uuid").UUID(device_id), token)
    rotated = client.post(f"/connect/devices/{device_id}/token", data={"csrf_token": csrf})
    new = re.search(r"<code>(chdev_[^<]+)</code>", rotated.text).group(1)  # type: ignore[union-attr]  # the page is known to contain it; None would fail the test
    assert new != token
    done = client.post(f"/connect/devices/{device_id}/status", data={"csrf_token": csrf, "status": "disabled"},
                       follow_redirects=True)
    assert "停用" in done.text
    # a refusal comes back as a quoted flash message naming the field: '&' and '#' in it survive the redirect
    bad = client.post(f"/connect/devices/{device_id}/status", data={"csrf_token": csrf, "status": "off&on#x"},
                      follow_redirects=False)
    assert bad.status_code == 303
    msg = parse_qs(urlsplit(bad.headers["location"]).query)["msg"][0]
    assert "status" in msg and "#" not in bad.headers["location"]
    # department B cannot open A's device
    login(client, "t-b-member")
    assert client.get(f"/connect/devices/{cw['dev_a'].id}").status_code == 404


def test_quarantine_is_labelled_filtered_paged_and_names_devices(client: Any, world: Any) -> None:
    """Issue 16: reasons read as words in both languages, the reason filter and the pager work, devices by name."""
    cw = build_connect(world)
    now = clock.now()
    service.ingest_messages(world.session, [message(cw["dev_a"].id, {"values": {"colour": i}}, now)
                                            for i in range(55)]
                            + [message(cw["dev_a"].id, {"values": {"strain": 99_999}}, now)])
    login(client, "t-admin")
    page = client.get("/connect/quarantine").text
    assert "主跨应变计 1" in page and "(56)" in page and 'rel="next"' in page  # 50 a page, then the next
    assert ">unknown_key<" not in page and "未知指标" in page
    second = client.get("/connect/quarantine", params={"offset": 50}).text
    assert 'rel="prev"' in second and second.count('<span class="badge err">') == 6
    only = client.get("/connect/quarantine", params={"reason": "out_of_range"}).text
    assert "(1)" in only and "超出有效范围" in only and "未知指标" not in only.split('data-testid="quarantine"')[1]
    mine = client.get("/connect/quarantine", params={"device_id": str(cw["dev_b"].id)}).text
    assert "广场微站" in mine and "(0)" in mine
    client.get("/lang/en")
    english = client.get("/connect/quarantine", params={"reason": "out_of_range"}).text
    assert "Out of valid range" in english and "out_of_range</" not in english


def test_device_pages_read_in_the_page_language(client: Any, world: Any) -> None:
    cw = build_connect(world)
    login(client, "t-admin")
    client.get("/lang/en")
    listing = client.get("/connect").text
    assert "In service" in listing and ">bridge-health<" not in listing and "Bridge structural health" in listing
    device = client.get(f"/connect/devices/{cw['dev_a'].id}").text
    assert "Bridge structural health" in device and "Strain" in device
    assert client.get("/connect", params={"org_id": str(world.orgs["dept_a"].id)}).text.count("/connect/devices/") == 1
