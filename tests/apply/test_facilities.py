"""The data-channel and data-centre registers: bureau-only writes, audited; field-named problems with nothing
written; a data centre's cloud pools checked through the cloud façade and hosted once; the channel-user and 两江
server targets computed from what is in service."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from cityhub.apply import service as apply
from cityhub.apply.models import StationStatus
from cityhub.apply.schemas import ChannelUserCreate, DataCentreCreate
from cityhub.cloud import service as cloud
from cityhub.cloud.schemas import PoolCreate, ProviderAccountCreate, RegionCreate
from cityhub.core.actor import Actor
from cityhub.core.models import AuditEntry
from cityhub.kit.errors import Conflict, Forbidden, ValidationFailed
from cityhub.kit.idcodes import credit_code_check_char

SYSTEM = Actor.system("test")
fa = apply.facilities
DAY = date(2025, 6, 1)


def _audit(w: Any, action: str) -> int:
    return len(list(w.session.scalars(select(AuditEntry).where(AuditEntry.action == action))))


def _pools(w: Any, tmp_path: Any) -> list[Any]:
    acc = cloud.provider_account_create(w.session, SYSTEM, ProviderAccountCreate(
        name="测试云", kind="dummy", config={"root": str(tmp_path)},
        credentials={"access_key": "a", "secret_key": "b"}))
    r = cloud.region_create(w.session, SYSTEM, RegionCreate(account_id=acc.id, code="r1", name="一区"))
    return [cloud.pool_create(w.session, SYSTEM, PoolCreate(region_id=r.id, name=n)) for n in ("两江一池", "两江二池")]


def test_channel_users_bureau_only_audited_and_counted_when_in_service(world: Any) -> None:
    admin = world.actors["platform_admin"]
    apply.programme_seed(world.session, SYSTEM)
    body = ChannelUserCreate(name="重庆某跨境金融公司", sector="finance", bandwidth_mbps=20, status="active",
                             commissioned_on=DAY, district_org_id=world.orgs["district"].id)
    for who in ("org_admin_a", "org_member_a", "auditor", "district_admin"):
        with pytest.raises(Forbidden):
            fa.channel_user_create(world.session, world.actors[who], body)
    fa.channel_user_create(world.session, admin, body)
    fa.channel_user_create(world.session, admin, body.model_copy(update={"name": "游戏公司", "bandwidth_mbps": 50}))
    fa.channel_user_create(world.session, admin, body.model_copy(update={
        "name": "在建用户", "status": StationStatus.BUILDING}))
    with pytest.raises(Conflict):
        fa.channel_user_create(world.session, admin, body)
    assert _audit(world, "channel_user_create") == 3
    assert len(fa.channel_user_list(world.session, world.actors["org_member_b"])) == 3
    t = fa.totals(world.session)
    assert (t.channel_users_active, t.channel_bandwidth_mbps) == (2, 70.0)  # the one being built does not count
    apply.progress_refresh(world.session, SYSTEM)
    target = apply.target_by_code(world.session, SYSTEM, "connect.channel_users")
    assert target.method == "computed" and target.current_value == 2.0


def test_channel_user_bad_fields_are_named_and_nothing_is_written(world: Any) -> None:
    admin = world.actors["platform_admin"]
    with pytest.raises(ValueError, match="credit_code"):
        ChannelUserCreate(name="甲公司", credit_code="91500000MA5U0000AX", sector="finance", bandwidth_mbps=1)
    with pytest.raises(ValueError, match="commissioned_on"):
        ChannelUserCreate(name="甲公司", sector="finance", bandwidth_mbps=1, status="active")
    first17 = "91500000MA5U0000A"
    ok = ChannelUserCreate(name="甲公司", credit_code=(first17 + credit_code_check_char(first17)).lower(),
                           sector="mining", bandwidth_mbps=1, district_org_id=world.orgs["dept_a"].id)
    assert ok.credit_code == ok.credit_code.upper()  # normalised before the check
    with pytest.raises(ValidationFailed) as e:
        fa.channel_user_create(world.session, admin, ok)
    assert [d["field"] for d in e.value.details] == ["district_org_id", "sector"]
    assert fa.channel_user_list(world.session, admin) == [] and _audit(world, "channel_user_create") == 0


def test_data_centres_host_pools_once_and_feed_the_liangjiang_target(world: Any, tmp_path: Any) -> None:
    admin = world.actors["platform_admin"]
    apply.programme_seed(world.session, SYSTEM)
    p1, p2 = _pools(world, tmp_path)
    body = DataCentreCreate(code="lj-1", name="两江一号数据中心", operator="中国电信", tier="A", role="production",
                            liangjiang_park=True, racks=2000, servers=40_000, pue=1.3, status="active",
                            commissioned_on=DAY, pool_ids=[p1.id])
    with pytest.raises(Forbidden):
        fa.data_centre_create(world.session, world.actors["org_admin_a"], body)
    dc = fa.data_centre_create(world.session, admin, body)
    assert [p["name"] for p in dc.pools] == ["两江一池"]
    with pytest.raises(Conflict) as c:  # the pool is hosted already
        fa.data_centre_create(world.session, admin, body.model_copy(update={"code": "lj-2", "name": "二号"}))
    assert c.value.details == [{"field": "pool_ids", "message": "taken"}]
    fa.data_centre_create(world.session, admin, body.model_copy(update={
        "code": "lj-2", "name": "两江二号数据中心", "pool_ids": [p2.id], "servers": 10_000, "pue": 1.5}))
    fa.data_centre_create(world.session, admin, body.model_copy(update={  # elsewhere: not the 两江 park
        "code": "xy-1", "name": "西永数据中心", "pool_ids": [], "liangjiang_park": False, "servers": 5_000}))
    fa.data_centre_create(world.session, admin, body.model_copy(update={  # in the park but not in service yet
        "code": "lj-3", "name": "两江三号数据中心", "pool_ids": [], "status": StationStatus.BUILDING,
        "servers": 99_000}))
    listed = fa.data_centre_list(world.session, world.actors["org_member_b"])
    assert [d.code for d in listed] == ["lj-1", "lj-2", "lj-3", "xy-1"] and listed[1].pools[0]["id"] == p2.id
    t = fa.totals(world.session)
    assert (t.liangjiang_servers, t.servers_active, t.data_centres_active) == (50_000, 55_000, 3)
    assert _audit(world, "data_centre_create") == 4
    apply.progress_refresh(world.session, SYSTEM)
    target = apply.target_by_code(world.session, SYSTEM, "cloud.liangjiang_servers")
    assert target.method == "computed" and target.current_value == 50_000.0


def test_data_centre_bad_fields_are_named(world: Any) -> None:
    admin = world.actors["platform_admin"]
    body = DataCentreCreate(code="x-1", name="某中心", operator="运营商", tier="Z", role="backup",
                            district_org_id=world.orgs["dept_a"].id, pool_ids=[world.orgs["dept_a"].id])
    with pytest.raises(ValidationFailed) as e:
        fa.data_centre_create(world.session, admin, body)
    assert [d["field"] for d in e.value.details] == ["district_org_id", "tier", "role", "pool_ids"]
    with pytest.raises(ValueError, match="pue"):
        DataCentreCreate(code="x-1", name="某中心", operator="运营商", tier="A", role="production", pue=0.8)
    assert fa.data_centre_list(world.session, admin) == []
