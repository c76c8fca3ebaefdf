"""The 5G base-station register: bureau-only writes, CSV import all-or-nothing with each row's problems named,
density per district, and the 5G target's computed progress."""

from __future__ import annotations

from typing import Any

import pytest

from cityhub.apply import service as apply
from cityhub.apply.progress import service as progress
from cityhub.apply.schemas import LinkCreate, StationCreate
from cityhub.core.actor import Actor
from cityhub.kit.errors import Conflict, Forbidden, ValidationFailed
from cityhub.kit.pagination import PageParams

SYSTEM = Actor.system("test")
HEADER = "carrier,site_code,district,address,lon,lat,band,status,commissioned_on\n"
st = apply.stations


def _count(w: Any) -> int:
    return st.station_list(w.session, w.actors["auditor"], PageParams(limit=1))[1]


def test_only_the_bureau_registers_and_bad_fields_are_named(world: Any) -> None:
    d = world.orgs["district"].id
    body = StationCreate(carrier="cmcc", site_code="CQ-001", district_org_id=d, band="n41", status="active",
                         commissioned_on="2026-03-01")
    for who in ("org_admin_a", "district_admin", "operator"):
        with pytest.raises(Forbidden):
            st.base_station_create(world.session, world.actors[who], body)
    st.base_station_create(world.session, world.actors["platform_admin"], body)
    with pytest.raises(Conflict):
        st.base_station_create(world.session, world.actors["platform_admin"], body)
    with pytest.raises(ValidationFailed) as e:
        st.base_station_create(world.session, world.actors["platform_admin"], body.model_copy(update={
            "site_code": "CQ-002", "band": "n99", "district_org_id": world.orgs["dept_a"].id}))
    assert {x["field"] for x in e.value.details} == {"band", "district_org_id"}
    with pytest.raises(ValueError, match="commissioned_on"):
        StationCreate(carrier="cmcc", site_code="x", district_org_id=d, band="n41", status="active")


def test_an_import_with_any_bad_row_writes_nothing_and_names_row_and_field(world: Any) -> None:
    admin = world.actors["platform_admin"]
    good = "cmcc,S1,t-district,解放碑,106.58,29.56,n41,active,2026-01-05\n"
    bad = (HEADER + good
           + "xyz,S2,t-district,,106.5,29.5,n41,planned,\n"  # row 3: unknown operator
           + "ctcc,S3,不存在区,,106.5,29.5,n78,planned,\n"  # row 4: unknown district
           + "cucc,S4,丙区,,200,29.5,n78,active,\n"  # row 5: longitude out of Chongqing, active without a date
           + "cmcc,S1,丙区,,,,n41,building,\n")  # row 6: repeats row 2
    with pytest.raises(ValidationFailed) as e:
        st.base_station_import(world.session, admin, bad.encode())
    found = {(x["row"], x["field"]) for x in e.value.details}
    assert {(3, "carrier"), (4, "district"), (5, "lon"), (5, "commissioned_on"), (6, "site_code")} <= found
    assert (2, "carrier") not in found and all(x["message"] for x in e.value.details)
    assert _count(world) == 0  # nothing half-written
    with pytest.raises(ValidationFailed) as e:
        st.base_station_import(world.session, admin, b"carrier,site_code\ncmcc,S1\n")
    assert e.value.field == "file"
    with pytest.raises(Forbidden):
        st.base_station_import(world.session, world.actors["district_admin"], (HEADER + good).encode())
    out = st.base_station_import(world.session, admin, (HEADER + good + "cucc,S9,丙区,,,,n78,building,\n").encode())
    assert (out.created, out.updated) == (2, 0)
    again = st.base_station_import(world.session, admin, (HEADER + "cucc,S9,丙区,,,,n78,active,2026-06-01\n")
                                   .encode("utf-8-sig"))
    assert (again.created, again.updated) == (0, 1)
    assert _count(world) == 2


def test_density_per_district_and_the_5g_target_count_stations_in_service(world: Any) -> None:
    admin = world.actors["platform_admin"]
    rows = "".join(f"ctcc,D{i},丙区,,,,n78,{'active' if i < 3 else 'building'},{'2026-02-01' if i < 3 else ''}\n"
                   for i in range(5))
    st.base_station_import(world.session, admin, (HEADER + rows).encode())
    dens = {d.name: (d.active, d.total) for d in st.density(world.session, world.actors["org_member_b"])}
    assert dens == {"丙区": (3, 5)}
    assert progress.source_value(world.session, "connect.base_stations_active") == 3.0
    assert st.station_list(world.session, admin, PageParams(limit=10), status="active")[1] == 3


def test_links_in_service_feed_the_backbone_interconnect_and_direct_city_targets(world: Any) -> None:
    admin = world.actors["platform_admin"]

    def link(name: str, kind: str, b: str, gbps: float, status: str = "active") -> Any:
        return st.network_link_create(world.session, admin, LinkCreate(
            name=name, kind=kind, endpoint_a="重庆", endpoint_b=b, capacity_gbps=gbps, status=status,
            commissioned_on="2026-01-01" if status == "active" else None))

    with pytest.raises(Forbidden):
        st.network_link_create(world.session, world.actors["org_admin_a"], LinkCreate(
            name="x", kind="interconnect", endpoint_a="a", endpoint_b="b", capacity_gbps=1))
    link("出口一", "backbone_egress", "北京", 4000)
    link("出口二", "backbone_egress", "上海", 2500)
    link("出口三", "backbone_egress", "广州", 9000, "building")  # not in service: not counted
    link("直联点", "interconnect", "国家直联点", 40)
    for i, city in enumerate(("成都", "贵阳", "成都")):
        link(f"直联{i}", "direct_city", city, 10)
    with pytest.raises(Conflict):
        link("直联点", "interconnect", "国家直联点", 40)
    with pytest.raises(ValueError, match="commissioned_on"):
        LinkCreate(name="y", kind="interconnect", endpoint_a="a", endpoint_b="b", capacity_gbps=1, status="active")
    assert progress.source_value(world.session, "connect.backbone_egress_tbps") == 6.5
    assert progress.source_value(world.session, "connect.interconnect_g") == 40.0
    assert progress.source_value(world.session, "connect.direct_cities") == 2.0  # 成都 twice is one city
    assert len(st.link_list(world.session, world.actors["org_member_b"])) == 7
