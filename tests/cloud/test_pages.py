"""Cloud pages render for a department user and the platform admin; the order form goes through CSRF."""

from __future__ import annotations

import re
from typing import Any

from cityhub.cloud import service as cloud
from cityhub.cloud.schemas import SystemCreate
from tests.cloud.factories import SYSTEM
from tests.web.test_pages import login

PAGES = ("/cloud", "/cloud/tenancies", "/cloud/migration", "/cloud/dr", "/cloud/scorecards")


def test_pages_render_for_admin(client: Any, world: Any, cw: dict[str, Any]) -> None:
    cloud.system_create(world.session, SYSTEM, SystemCreate(org_id=world.orgs["dept_a"].id, name="甲系统",
                                                            dr_required=4))
    login(client, "t-admin")
    for path in PAGES:
        r = client.get(path)
        assert r.status_code == 200, path
        assert 'data-testid="chart"' in r.text, path
    assert "甲系统" in client.get("/cloud/dr").text
    assert 'data-testid="ranking"' in client.get("/cloud/scorecards").text


def test_department_orders_through_the_form(client: Any, world: Any, cw: dict[str, Any]) -> None:
    login(client, "t-a-member")
    page = client.get("/cloud/tenancies")
    assert page.status_code == 200 and 'data-testid="order-form"' in page.text
    assert "乙局租户" not in page.text  # another department's tenancy is not shown
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]  # the page is known to contain it; None would fail the test
    form = {"tenancy_id": str(cw["tenancy_a"].id), "item_id": str(cw["small"].id), "quantity": "1"}
    assert client.post("/cloud/requests", data={**form, "csrf_token": "forged"}).status_code == 403
    r = client.post("/cloud/requests", data={**form, "csrf_token": csrf}, follow_redirects=True)
    assert r.status_code == 200 and "申请已提交" in r.text
    over = client.post("/cloud/requests", data={**form, "quantity": "20", "csrf_token": csrf}, follow_redirects=True)
    assert "instances" in over.text or "vcpus" in over.text
    assert 'data-testid="ranking"' not in client.get("/cloud/scorecards").text


def test_requests_are_paged_and_filtered_with_labels_and_money(client: Any, world: Any, cw: dict[str, Any]) -> None:
    from cityhub.cloud.schemas import Quota, RequestCreate

    cloud.tenancy_quota_update(world.session, world.actors["platform_admin"], cw["tenancy_a"].id,
                               Quota(instances=1000, vcpus=100_000, ram_mb=10_000_000, disk_gb=1_000_000))
    for _i in range(25):
        cloud.request_create(world.session, world.actors["org_member_a"], cw["tenancy_a"].id,
                             RequestCreate(item_id=cw["small"].id, quantity=1))
    world.session.flush()
    login(client, "t-admin")
    first = client.get("/cloud/tenancies")
    rows = first.text.split('data-testid="requests"')[1].split("</table>")[0]
    assert rows.count("<tr>") == 1 + 20 and 'rel="next"' in first.text  # header + one page of 20
    assert "待部门审批" in rows and ">submitted<" not in rows  # the status by its label
    assert re.search(r"¥[\d,]+\.\d\d", rows)  # money with two decimals
    second = client.get("/cloud/tenancies", params={"offset": 20})
    assert second.text.split('data-testid="requests"')[1].split("</table>")[0].count("<tr>") == 1 + 5
    none = client.get("/cloud/tenancies", params={"status": "rejected"})
    assert "没有符合筛选条件的申请" in none.text
    other = client.get("/cloud/tenancies", params={"org_id": str(world.orgs["dept_b"].id)})
    assert "没有符合筛选条件的申请" in other.text


def test_the_dr_gap_report_is_paged(client: Any, world: Any, cw: dict[str, Any]) -> None:
    for i in range(23):
        cloud.system_create(world.session, SYSTEM, SystemCreate(org_id=world.orgs["dept_a"].id, name=f"缺口系统{i:02d}",
                                                                dr_required=4))
    login(client, "t-admin")
    first = client.get("/cloud/dr").text.split('data-testid="dr-gaps"')[1].split("</table>")[0]
    assert first.count("缺口系统") == 20
    second = client.get("/cloud/dr", params={"offset": 20}).text.split('data-testid="dr-gaps"')[1].split("</table>")[0]
    assert second.count("缺口系统") == 3


def test_dr_levels_read_in_the_readers_language(client: Any, world: Any, cw: dict[str, Any]) -> None:
    """RPO/RTO were Chinese on the English DR page and in the API whatever the language asked."""
    login(client, "t-admin")
    zh = client.get("/cloud/dr").text
    assert "数小时至 1 天" in zh and "hours to 1 day" not in zh
    client.cookies.set("cityhub_lang", "en")
    en = client.get("/cloud/dr").text
    assert "hours to 1 day" in en and "数小时至 1 天" not in en and "数分钟" not in en
    levels = client.get("/api/v1/cloud/dr/levels", headers={"Accept-Language": "en"}).json()
    assert levels[4]["rpo_text"] == "0–30 minutes" and levels[4]["name_en"] == "Real-time transfer, full equipment"
    client.cookies.delete("cityhub_lang")
    levels = client.get("/api/v1/cloud/dr/levels", headers={"Accept-Language": "zh-CN"}).json()
    assert levels[4]["rpo_text"] == "0–30 分钟"
