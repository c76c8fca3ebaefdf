"""Connect pages render for owners and the platform; registration and rotation show the token once."""

from __future__ import annotations

import re
from typing import Any

from cityhub.connect import service
from cityhub.kit import clock
from tests.connect.helpers import build_connect, message
from tests.web.test_pages import login


def _csrf(text: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', text).group(1)  # type: ignore[union-attr]


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
    token = re.search(r"<code>(chdev_[^<]+)</code>", r.text).group(1)  # type: ignore[union-attr]
    device_id = re.search(r"<code>([0-9a-f-]{36})</code>", r.text).group(1)  # type: ignore[union-attr]
    assert token not in client.get(f"/connect/devices/{device_id}").text  # shown once
    assert service.device_authenticate(world.session, __import__("uuid").UUID(device_id), token)
    rotated = client.post(f"/connect/devices/{device_id}/token", data={"csrf_token": csrf})
    new = re.search(r"<code>(chdev_[^<]+)</code>", rotated.text).group(1)  # type: ignore[union-attr]
    assert new != token
    done = client.post(f"/connect/devices/{device_id}/status", data={"csrf_token": csrf, "status": "disabled"},
                       follow_redirects=True)
    assert "停用" in done.text
    # department B cannot open A's device
    login(client, "t-b-member")
    assert client.get(f"/connect/devices/{cw['dev_a'].id}").status_code == 404
