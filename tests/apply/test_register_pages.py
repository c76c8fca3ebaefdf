"""The digital-economy and the data-channel / data-centre pages: figures and chart data from the registers, a park's
own page (404 for an unknown one), the bureau's forms (a bad credit code comes back named and kept, nothing written),
staff read without forms; zh-CN first, English on the switch."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from fastapi.testclient import TestClient

from cityhub.apply import service as apply
from cityhub.apply.schemas import EnterpriseCreate, ParkCreate
from cityhub.kit.idcodes import credit_code_check_char
from tests.apply.test_pages import _csrf, _login


def _code(first17: str) -> str:
    return first17 + credit_code_check_char(first17)


def _data(html: str) -> Any:
    return json.loads(re.search(r'id="page-data">(.*?)</script>', html, re.S).group(1))  # type: ignore[union-attr]  # the block is there


def test_economy_page_charts_park_page_and_the_bureau_form(client: TestClient, world: Any) -> None:
    admin = world.actors["platform_admin"]
    park = apply.economy.digital_park_create(world.session, admin, ParkCreate(code="lj", name="两江数字经济产业园"))
    for i, sector in enumerate(("ai", "ai", "ic")):
        apply.economy.enterprise_create(world.session, admin, EnterpriseCreate(
            credit_code=_code(f"91500000MA5U000{i}A"), name=f"企业{i}", sector=sector, size="small", park_id=park.id))
    world.session.commit()
    _login(client, "t-b-member")
    page = client.get("/apply/economy").text
    assert "数字经济" in page and "两江数字经济产业园" in page and 'data-testid="enterprise-form"' not in page
    chart = _data(page)
    assert chart["counts"] == [3] and {s["value"] for s in chart["sectors"]} == {2, 1}
    assert "人工智能" in page or "集成电路" in page  # sectors in words, not codes
    detail = client.get(f"/apply/economy/parks/{park.id}")
    assert detail.status_code == 200 and _data(detail.text)["size_counts"][2] == 3  # small
    assert client.get(f"/apply/economy/parks/{uuid.uuid4()}").status_code == 404
    forbidden = client.post("/apply/economy/parks", data={"csrf_token": _csrf(page), "code": "x", "name": "园"},
                            follow_redirects=True)
    assert forbidden.status_code == 200 and len(apply.economy.park_list(world.session, admin)) == 1
    client.cookies.clear()
    _login(client, "t-admin")
    page = client.get("/apply/economy").text
    form = {"csrf_token": _csrf(page), "credit_code": "91500000MA5U0009A0", "name": "坏码科技", "sector": "ai",
            "size": "micro", "park_id": str(park.id)}
    bad = client.post("/apply/economy/enterprises", data=form, follow_redirects=True)
    assert "坏码科技" in bad.text and apply.economy.enterprise_count(world.session) == 3  # kept, not written
    ok = client.post("/apply/economy/enterprises", data={**form, "credit_code": _code("91500000MA5U0009A")},
                     follow_redirects=True)
    assert ok.status_code == 200 and apply.economy.enterprise_count(world.session) == 4
    client.cookies.set("cityhub_lang", "en")
    assert "Digital economy" in client.get("/apply/economy").text


def test_facilities_page_registers_through_the_forms(client: TestClient, world: Any) -> None:
    _login(client, "t-b-member")
    page = client.get("/apply/facilities").text
    assert "数据通道" in page and 'data-testid="channel-user-form"' not in page
    client.cookies.clear()
    _login(client, "t-admin")
    page = client.get("/apply/facilities").text
    form = {"csrf_token": _csrf(page), "name": "跨境金融用户", "sector": "finance", "bandwidth_mbps": "二十",
            "status": "active", "commissioned_on": "2025-05-01"}
    bad = client.post("/apply/facilities/channel-users", data=form, follow_redirects=True)
    assert "跨境金融用户" in bad.text
    assert apply.facilities.channel_user_list(world.session, world.actors["auditor"]) == []
    ok = client.post("/apply/facilities/channel-users", data={**form, "bandwidth_mbps": "20"}, follow_redirects=True)
    assert 'data-testid="channel-users">1<' in ok.text
    dc = {"csrf_token": _csrf(page), "code": "lj-1", "name": "两江一号", "operator": "中国移动", "tier": "A",
          "role": "production", "liangjiang_park": "true", "servers": "12000", "racks": "600", "pue": "1.3",
          "status": "active", "commissioned_on": "2025-01-01"}
    ok = client.post("/apply/facilities/data-centres", data=dc, follow_redirects=True)
    assert ok.status_code == 200 and 'data-testid="liangjiang-servers">12,000<' in ok.text
    client.cookies.set("cityhub_lang", "en")
    assert "Data channel and data centres" in client.get("/apply/facilities").text


def test_the_enterprise_import_form_lists_bad_rows_and_writes_nothing(client: TestClient, world: Any) -> None:
    _login(client, "t-admin")
    page = client.get("/apply/economy").text
    assert 'data-testid="enterprise-import-form"' in page
    good = _code("91500000MA5U0300D")
    body = f"credit_code,name,sector,size,park\n{good},甲科技,ai,small,\n{good},乙科技,ai,small,\n".encode()
    bad = client.post("/apply/economy/enterprises/import", data={"csrf_token": _csrf(page)},
                      files={"file": ("e.csv", body, "text/csv")})
    assert bad.status_code == 422 and 'data-testid="import-errors"' in bad.text and "credit_code" in bad.text
    assert apply.economy.enterprise_count(world.session) == 0
    ok = client.post("/apply/economy/enterprises/import", data={"csrf_token": _csrf(page)},
                     files={"file": ("e.csv", body.rsplit(b"\n", 2)[0] + b"\n", "text/csv")}, follow_redirects=True)
    assert ok.status_code == 200 and apply.economy.enterprise_count(world.session) == 1
