"""Cloud service: tenancy rules, quotas, approvals, placement, provisioning jobs, reclaim, reconciler, metering.

idle rule, systems and ratios, DR, scorecards.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from cityhub.cloud import service as cloud
from cityhub.cloud.models import ProviderAccount, Resource
from cityhub.cloud.plugins import dummy
from cityhub.cloud.schemas import DrillCreate, Quota, RequestCreate, SystemCreate, SystemUpdate, TenancyCreate
from cityhub.core.models import AuditEntry
from cityhub.kit import clock
from cityhub.kit.errors import Conflict, Forbidden, InvalidTransition, NotFound, ValidationFailed
from cityhub.kit.pagination import PageParams
from tests.cloud.factories import SYSTEM

PAGE = PageParams(limit=500, offset=0)


def _order(w: Any, cw: dict[str, Any], item: str = "small", qty: int = 1, who: str = "org_member_a",
           tenancy: str = "tenancy_a", **kw: Any) -> Any:
    return cloud.request_create(w.session, w.actors[who], cw[tenancy].id,
                                RequestCreate(item_id=cw[item].id, quantity=qty, **kw))


def _active(w: Any, cw: dict[str, Any], **kw: Any) -> Any:
    req = _order(w, cw, **kw)
    cloud.request_approve(w.session, w.actors["org_admin_a"], req.id)
    cloud.jobs_run(w.session, SYSTEM)
    return req


def test_credentials_are_encrypted_at_rest_and_never_in_the_audit(world: Any, cw: dict[str, Any]) -> None:
    acc = world.session.get(ProviderAccount, cw["account"].id)
    assert "SK-very-secret" not in acc.credentials_enc and acc.credentials_enc
    rows = world.session.scalars(select(AuditEntry).where(AuditEntry.action == "provider_account_create")).all()
    assert rows and all("SK-very-secret" not in str(r.summary) for r in rows)


def test_one_tenancy_per_department(world: Any, cw: dict[str, Any]) -> None:
    with pytest.raises(Conflict):
        cloud.tenancy_create(world.session, SYSTEM, TenancyCreate(org_id=world.orgs["dept_a"].id, name="第二个"))


def test_departments_see_only_their_tenancy(world: Any, cw: dict[str, Any]) -> None:
    seen = {t.id for t in cloud.tenancy_list(world.session, world.actors["org_member_b"])}
    assert seen == {cw["tenancy_b"].id}
    with pytest.raises(NotFound):
        cloud.tenancy_get(world.session, world.actors["org_member_b"], cw["tenancy_a"].id)
    with pytest.raises(NotFound):
        _order(world, cw, who="org_member_b")


def test_quota_exceeded_names_the_quota(world: Any, cw: dict[str, Any]) -> None:
    _order(world, cw, item="large", qty=2)  # 16 of 24 vcpus
    with pytest.raises(Conflict) as exc:
        _order(world, cw, item="large", qty=2)
    assert exc.value.details["quota"] == "vcpus"
    assert exc.value.code == "quota_exceeded"


def test_small_request_needs_only_the_department_head(world: Any, cw: dict[str, Any]) -> None:
    req = _order(world, cw)
    with pytest.raises(Forbidden):
        cloud.request_approve(world.session, world.actors["org_member_a"], req.id)
    cloud.request_approve(world.session, world.actors["head_a"], req.id)
    assert req.status == "provisioning" and req.pool_id is not None
    out = cloud.jobs_run(world.session, SYSTEM)
    assert out["done"] == 1 and req.status == "active"
    res = world.session.scalars(select(Resource).where(Resource.request_id == req.id)).all()
    assert len(res) == 1 and res[0].external_id and res[0].status == "active"
    assert res[0].external_id in {n.external_id for n in cloud.provider_for(world.session, cw["account"]).nodes()}


def test_expensive_request_goes_to_the_bureau(world: Any, cw: dict[str, Any]) -> None:
    req = _order(world, cw, item="large", qty=2)  # 6,000 yuan/month > 5,000
    cloud.request_approve(world.session, world.actors["org_admin_a"], req.id)
    assert req.status == "pending_bureau"
    with pytest.raises(Forbidden):
        cloud.request_approve(world.session, world.actors["org_admin_a"], req.id)
    queue = {r.id for r in cloud.approval_queue(world.session, world.actors["bureau_admin"])}
    assert req.id in queue
    cloud.request_approve(world.session, world.actors["bureau_admin"], req.id)
    assert req.status == "provisioning"


def test_reject_and_invalid_transition(world: Any, cw: dict[str, Any]) -> None:
    req = _order(world, cw)
    cloud.request_reject(world.session, world.actors["org_admin_a"], req.id, "不需要")
    assert req.status == "rejected"
    with pytest.raises(InvalidTransition):
        cloud.request_approve(world.session, world.actors["org_admin_a"], req.id)


def test_placement_respects_security_level_and_region(world: Any, cw: dict[str, Any]) -> None:
    req = _order(world, cw, security_level=3)
    cloud.request_approve(world.session, world.actors["org_admin_a"], req.id)
    assert req.pool_id == cw["pools"][1].id  # only p2 is accredited for level 3
    req2 = _order(world, cw, region_code="local-1")
    cloud.request_approve(world.session, world.actors["org_admin_a"], req2.id)
    assert req2.pool_id == cw["pools"][0].id
    req3 = _order(world, cw, security_level=4)
    with pytest.raises(Conflict):
        cloud.request_approve(world.session, world.actors["org_admin_a"], req3.id)


def test_provisioning_retries_with_backoff_then_fails_tracked(world: Any, cw: dict[str, Any]) -> None:
    clock.set_now(datetime(2026, 3, 2, 9, tzinfo=UTC))
    prov = cloud.provider_for(world.session, cw["account"])
    assert isinstance(prov, dummy.DummyProvider)
    prov.driver.set_failures(1)
    req = _order(world, cw)
    cloud.request_approve(world.session, world.actors["org_admin_a"], req.id)
    out = cloud.jobs_run(world.session, SYSTEM)
    assert out["retrying"] == 1 and req.status == "provisioning"
    assert cloud.jobs_run(world.session, SYSTEM)["run"] == 0  # backoff: not due yet
    clock.advance(timedelta(seconds=31))
    assert cloud.jobs_run(world.session, SYSTEM)["done"] == 1 and req.status == "active"
    # Every attempt fails: the job gives up, the rows stay tracked (error), the pool is released.
    prov.driver.set_failures(100)
    pool = cw["pools"][0]
    used_before = pool.vcpus_used
    req2 = _order(world, cw, region_code="local-1")
    cloud.request_approve(world.session, world.actors["org_admin_a"], req2.id)
    for _ in range(6):
        cloud.jobs_run(world.session, SYSTEM)
        clock.advance(timedelta(hours=1))
    assert req2.status == "failed"
    rows = world.session.scalars(select(Resource).where(Resource.request_id == req2.id)).all()
    assert [r.status for r in rows] == ["error"]
    assert pool.vcpus_used == used_before
    assert not [n for n in prov.nodes() if n.name == rows[0].name]


def test_provisioning_adopts_a_node_created_by_a_lost_attempt(world: Any, cw: dict[str, Any]) -> None:
    req = _order(world, cw)
    cloud.request_approve(world.session, world.actors["org_admin_a"], req.id)
    res = world.session.scalars(select(Resource).where(Resource.request_id == req.id)).one()
    prov = cloud.provider_for(world.session, cw["account"])
    made = prov.node_create(res.name, "ecs.s1", "img")  # as if a worker died after the provider call
    cloud.jobs_run(world.session, SYSTEM)
    assert res.external_id == made.external_id
    assert len([n for n in prov.nodes() if n.name == res.name]) == 1


def test_resize_and_reclaim(world: Any, cw: dict[str, Any]) -> None:
    req = _active(world, cw)
    cloud.request_resize(world.session, world.actors["org_admin_a"], req.id, cw["large"].id)
    assert req.status == "resizing"
    cloud.jobs_run(world.session, SYSTEM)
    res = world.session.scalars(select(Resource).where(Resource.request_id == req.id)).one()
    assert req.status == "active" and res.vcpus == 8 and res.size_id == "ecs.l1"
    with pytest.raises(Forbidden):
        cloud.request_reclaim(world.session, world.actors["org_member_a"], req.id)
    cloud.request_reclaim(world.session, world.actors["org_admin_a"], req.id)
    cloud.jobs_run(world.session, SYSTEM)
    assert req.status == "reclaimed" and res.status == "reclaimed" and res.last_backup.startswith("final-backup")
    prov = cloud.provider_for(world.session, cw["account"])
    assert res.external_id not in {n.external_id for n in prov.nodes()}
    assert cloud.tenancy_usage(world.session, cw["tenancy_a"].id)["vcpus"] == 0


def test_buckets_on_local_storage(world: Any, cw: dict[str, Any]) -> None:
    req = _active(world, cw, item="oss")
    prov = cloud.provider_for(world.session, cw["account"])
    res = world.session.scalars(select(Resource).where(Resource.request_id == req.id)).one()
    assert res.name in {b.name for b in prov.buckets()}
    cloud.request_reclaim(world.session, world.actors["org_admin_a"], req.id)
    cloud.jobs_run(world.session, SYSTEM)
    assert res.name not in {b.name for b in prov.buckets()}


def test_reconciler_flags_orphans_drift_and_missing(world: Any, cw: dict[str, Any]) -> None:
    req = _active(world, cw, qty=2)
    rows = world.session.scalars(select(Resource).where(Resource.request_id == req.id).order_by(Resource.name)).all()
    prov = cloud.provider_for(world.session, cw["account"])
    prov.node_create("hand-made", "ecs.s1", "img")
    prov.node_stop(rows[0].external_id)
    prov.node_destroy(rows[1].external_id)
    found = cloud.reconcile(world.session, SYSTEM, cw["account"].id)
    assert sorted(f.kind for f in found) == ["drift", "missing", "orphan"]
    again = cloud.reconcile(world.session, SYSTEM, cw["account"].id)
    assert len(again) == 3
    assert len(cloud.finding_list(world.session, world.actors["auditor"], cw["account"].id)) == 3


def test_metering_chargeback_and_idle_rule(world: Any, cw: dict[str, Any]) -> None:
    clock.set_now(datetime(2026, 3, 2, 1, tzinfo=UTC))
    req = _active(world, cw, qty=3)
    rows = world.session.scalars(select(Resource).where(Resource.request_id == req.id)).all()
    # Make every node idle: the dummy curve is deterministic per external id; pick ids a fifth of which idle.
    idle_ids = [f"idle-{i}" for i in range(200) if dummy.daily_curve(f"idle-{i}", date(2026, 3, 3))[12] < 8][:3]
    for r, ext in zip(rows, idle_ids, strict=True):
        r.external_id = ext
    for d in range(1, 29):
        assert cloud.usage_collect(world.session, SYSTEM, date(2026, 3, d)) in (0, 3)
    assert cloud.usage_collect(world.session, SYSTEM, date(2026, 3, 5)) == 0  # idempotent
    bill = cloud.chargeback(world.session, world.actors["org_admin_a"], "2026-03")
    assert len(bill) == 1 and 800 < bill[0].amount <= 900

    def at(when: datetime) -> dict[str, int]:
        clock.set_now(when)
        day = date(2026, 3, 29)
        while day < when.date():
            cloud.usage_collect(world.session, SYSTEM, day)
            day += timedelta(days=1)
        return cloud.idle_check(world.session, SYSTEM)

    assert at(datetime(2026, 3, 29, 1, tzinfo=UTC))["reminded"] == 1
    assert at(datetime(2026, 3, 29, 2, tzinfo=UTC))["reminded"] == 0  # idempotent
    assert at(datetime(2026, 4, 28, 1, tzinfo=UTC))["escalated"] == 0  # not a month yet
    assert at(datetime(2026, 4, 29, 2, tzinfo=UTC))["escalated"] == 1  # Wednesday
    assert at(datetime(2026, 5, 6, 3, tzinfo=UTC))["proposed"] == 0  # within the 5th working day
    out = at(datetime(2026, 5, 7, 2, tzinfo=UTC))  # the 5 working days have passed (no holidays in the test world)
    assert out["proposed"] == 1
    case = cloud.idle_case_list(world.session, world.actors["org_admin_a"])[0]
    assert case.status == "reduction_proposed" and len(case.proposal["reclaim"]) == 3
    assert cloud.idle_case_list(world.session, world.actors["org_member_b"]) == []


def _system(w: Any, org: str = "dept_a", **kw: Any) -> Any:
    return cloud.system_create(w.session, SYSTEM, SystemCreate(org_id=w.orgs[org].id, name=kw.pop("name", "系统"),
                                                               **kw))


def test_systems_ratios_exclude_classified(world: Any, cw: dict[str, Any]) -> None:
    clock.set_now(datetime(2019, 12, 1, tzinfo=UTC))
    a1 = _system(world, name="甲一", hosting="cloud", integrated=True)
    _system(world, name="甲二")
    _system(world, name="甲三", classified=True, hosting="own_room")
    a4 = _system(world, name="甲四")
    cloud.system_update(world.session, world.actors["org_member_a"], a4.id, SystemUpdate(merged_into_id=a1.id))
    _system(world, org="dept_b", name="乙一", hosting="cloud")
    city, units = cloud.ratios(world.session, world.actors["platform_admin"])
    assert city is not None and city.systems == 4 and city.on_cloud == 2
    a = next(u for u in units if u.org_id == world.orgs["dept_a"].id)
    assert (a.systems, a.on_cloud, a.integrated) == (3, 1, 2)
    assert cloud.ratios(world.session, world.actors["org_member_b"])[0] is None
    assert [u.org_id for u in cloud.ratios(world.session, world.actors["org_member_b"])[1]] == [world.orgs["dept_b"].id]
    assert cloud.ratio_snapshot_take(world.session, SYSTEM) == 3
    assert cloud.ratio_snapshot_take(world.session, SYSTEM) == 3  # same day replaced
    assert len(cloud.ratio_history(world.session, world.actors["org_admin_a"], world.orgs["dept_a"].id)) == 1
    assert a.on_cloud_target == 0.75 and a.integration_target == 0.75 and a.level == "city"


def test_district_integration_target_is_the_district_level(world: Any, cw: dict[str, Any]) -> None:
    """整合率: 市级 75 %, 区县 50 % in every year (issue 21: a district was held to 75 % from 2020 on)."""
    _system(world, org="district", name="丙一", integrated=True)
    _system(world, org="dept_a", name="甲一", integrated=True)
    for year in (2019, 2020, 2026):
        clock.set_now(datetime(year, 6, 1, tzinfo=UTC))
        _city, units = cloud.ratios(world.session, world.actors["platform_admin"])
        by_org = {u.org_id: u for u in units}
        district, dept = by_org[world.orgs["district"].id], by_org[world.orgs["dept_a"].id]
        assert (district.level, district.integration_target) == ("district", 0.5)
        assert (dept.level, dept.integration_target) == ("city", 0.75)
        assert district.on_cloud_target == dept.on_cloud_target == 0.75
    card = cloud.scorecard(world.session, world.actors["platform_admin"], world.orgs["district"].id)
    assert card.ratios.integration_target == 0.5


def test_system_migration_flow(world: Any, cw: dict[str, Any]) -> None:
    s = _system(world)
    with pytest.raises(InvalidTransition):
        cloud.system_transition(world.session, world.actors["org_member_a"], s.id, "done")
    for st in ("planned", "migrating", "verifying", "done"):
        cloud.system_transition(world.session, world.actors["org_member_a"], s.id, st)
    assert s.hosting == "cloud" and s.tenancy_id == cw["tenancy_a"].id
    with pytest.raises(NotFound):
        cloud.system_get(world.session, world.actors["org_member_b"], s.id)
    with pytest.raises(ValidationFailed):
        cloud.system_update(world.session, world.actors["org_member_a"], s.id, SystemUpdate(merged_into_id=s.id))


def test_dr_drills_and_gaps(world: Any, cw: dict[str, Any]) -> None:
    s = _system(world, dr_required=5, dr_actual=2, dr_roles=["primary", "remote_dr"])
    gaps = cloud.dr_gaps(world.session, world.actors["org_admin_a"])
    assert [g.system_id for g in gaps] == [s.id]
    drill = cloud.drill_record(world.session, world.actors["org_member_a"], s.id,
                               DrillCreate(scenario="主中心断电", rpo_minutes=10, rto_minutes=90))
    assert drill.level_achieved == 5 and s.dr_actual == 5
    assert cloud.dr_gaps(world.session, world.actors["org_admin_a"]) == []
    assert cloud.dr_matrix(world.session, world.actors["org_admin_a"])[4][4] == 1


def test_scorecard_and_ranking(world: Any, cw: dict[str, Any]) -> None:
    _system(world, hosting="cloud", integrated=True)
    _system(world, org="dept_b")
    _order(world, cw)
    card = cloud.scorecard(world.session, world.actors["head_a"], world.orgs["dept_a"].id)
    assert card.open_requests == 1 and card.ratios.on_cloud_ratio == 1.0
    with pytest.raises(NotFound):
        cloud.scorecard(world.session, world.actors["org_member_b"], world.orgs["dept_a"].id)
    ranking = cloud.ranking(world.session, world.actors["bureau_admin"])
    assert ranking[0].org_id == world.orgs["dept_a"].id and ranking[0].rank == 1
    with pytest.raises(Forbidden):
        cloud.ranking(world.session, world.actors["org_admin_a"])


def test_quota_update_is_platform_only(world: Any, cw: dict[str, Any]) -> None:
    with pytest.raises(Forbidden):
        cloud.tenancy_quota_update(world.session, world.actors["org_admin_a"], cw["tenancy_a"].id, Quota(vcpus=999))
    t = cloud.tenancy_quota_update(world.session, SYSTEM, cw["tenancy_a"].id, Quota(vcpus=100))
    assert t.quota_vcpus == 100
