"""Access: applications, keys shown once and stored as keyed hashes, subscriptions decided by the owner."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, text

from cityhub.compute import service as compute
from cityhub.compute.models import AppKey
from cityhub.compute.schemas import AppCreate, SubscriptionCreate, SubscriptionDecision
from cityhub.kit import clock
from cityhub.kit.errors import Conflict, Forbidden, NotFound, ValidationFailed
from tests.compute.helpers import published


def test_keys_are_shown_once_and_stored_as_keyed_hashes(world: Any) -> None:
    w = world
    member = w.actors["org_member_b"]
    app = compute.app_create(w.session, member, AppCreate(org_id=w.orgs["dept_b"].id, name="审批系统"))
    key, raw = compute.app_key_create(w.session, member, app.id)
    assert raw.startswith(f"chk_{key.prefix}_") and len(raw) > 40
    stored = w.session.execute(text("SELECT key_hash FROM compute_app_key WHERE prefix = :p"),
                               {"p": key.prefix}).scalar_one()
    assert stored == compute.key_hash(raw) and raw not in stored and len(stored) == 64
    new, raw2 = compute.app_key_rotate(w.session, member, key.id)
    assert key.revoked_at is not None and new.revoked_at is None and raw2 != raw
    with pytest.raises(Conflict):
        compute.app_key_revoke(w.session, member, key.id)
    with pytest.raises(NotFound):  # another unit's application does not exist for it
        compute.app_keys(w.session, w.actors["org_member_a"], app.id)
    with pytest.raises(Forbidden):
        compute.app_create(w.session, member, AppCreate(org_id=w.orgs["dept_a"].id, name="x"))
    with pytest.raises(Conflict) as exc:
        compute.app_create(w.session, member, AppCreate(org_id=w.orgs["dept_b"].id, name="审批系统"))
    assert exc.value.details == [{"field": "name", "message": "taken"}]
    assert len(list(w.session.scalars(select(AppKey).where(AppKey.app_id == app.id)))) == 2


def test_subscriptions_are_decided_by_the_owner(world: Any) -> None:
    w = world
    comp = published(w, "coord")
    member_b = w.actors["org_member_b"]
    app = compute.app_create(w.session, member_b, AppCreate(org_id=w.orgs["dept_b"].id, name="网格系统"))
    sub = compute.subscription_create(w.session, member_b, SubscriptionCreate(
        app_id=app.id, component_code="coord", version="1.0.0", quota_per_minute=10, quota_per_day=1000))
    assert sub.status == "pending"
    with pytest.raises(Conflict):  # one open request per application and version
        compute.subscription_create(w.session, member_b, SubscriptionCreate(
            app_id=app.id, component_code="coord", version="1.0.0"))
    with pytest.raises(Forbidden):  # the consumer does not approve itself
        compute.subscription_decide(w.session, member_b, sub.id, SubscriptionDecision(approve=True))
    with pytest.raises(Forbidden):  # a member of the owner unit is not its administrator
        compute.subscription_decide(w.session, w.actors["org_member_a"], sub.id, SubscriptionDecision(approve=True))
    queue = compute.subscription_queue(w.session, w.actors["org_admin_a"])
    assert [r["subscription"].id for r in queue] == [sub.id]
    with pytest.raises(ValidationFailed) as exc:
        compute.subscription_decide(w.session, w.actors["org_admin_a"], sub.id, SubscriptionDecision(
            approve=True, quota_per_minute=5000))
    assert exc.value.field == "quota_per_minute"
    compute.subscription_decide(w.session, w.actors["org_admin_a"], sub.id, SubscriptionDecision(
        approve=True, quota_per_minute=5))
    assert (sub.status, sub.quota_per_minute, sub.quota_per_day) == ("active", 5, 1000)
    compute.subscription_revoke(w.session, member_b, sub.id, "no longer needed")
    assert sub.status == "revoked"
    assert [r["component_code"] for r in compute.subscription_list(w.session, w.actors["org_admin_a"])] == ["coord"]
    assert compute.subscription_list(w.session, w.actors["district_admin"]) == []
    del comp


def test_bad_subscriptions_name_the_field(world: Any) -> None:
    w = world
    published(w, "coord")
    open_comp = published(w, "idc", builtin="id-check", open_to_all=True)
    member_b = w.actors["org_member_b"]
    app = compute.app_create(w.session, member_b, AppCreate(org_id=w.orgs["dept_b"].id, name="a"))
    cases: list[tuple[dict[str, Any], str]] = [
        ({"component_code": "nope", "version": "1.0.0"}, "component_code"),
        ({"component_code": "coord", "version": "9.9.9"}, "component_code"),
        ({"component_code": "coord", "version": "1.0.0", "expires_at": clock.now() - timedelta(days=1)},
         "expires_at"),
        ({"component_code": "coord", "version": "1.0.0", "quota_per_day": 100, "quota_per_month": 10},
         "quota_per_day"),
    ]
    for body, field in cases:
        with pytest.raises(ValidationFailed) as exc:
            compute.subscription_create(w.session, member_b, SubscriptionCreate(app_id=app.id, **body))
        assert exc.value.field == field, body
    other = compute.app_create(w.session, w.actors["org_member_a"], AppCreate(org_id=w.orgs["dept_a"].id, name="b"))
    with pytest.raises(ValidationFailed) as exc:  # another unit's application
        compute.subscription_create(w.session, member_b, SubscriptionCreate(
            app_id=other.id, component_code="coord", version="1.0.0"))
    assert exc.value.field == "app_id"
    # open to all units: approved at once
    sub = compute.subscription_create(w.session, member_b, SubscriptionCreate(
        app_id=app.id, component_code="idc", version="1.0.0"))
    assert sub.status == "active"
    compute.component_deprecate(w.session, w.actors["org_member_a"], open_comp.id)
    with pytest.raises(Conflict):  # deprecated: no new subscriptions
        compute.subscription_create(w.session, member_b, SubscriptionCreate(
            app_id=compute.app_create(w.session, member_b, AppCreate(org_id=w.orgs["dept_b"].id, name="c")).id,
            component_code="idc", version="1.0.0"))


def test_a_component_reading_graded_data_is_approved_by_the_bureau_even_when_open(world: Any) -> None:
    from tests.data.helpers import published_entry

    w = world
    important = published_entry(w)  # 重要 (the people register)
    core_entry = published_entry(w, security_grade="core", title="核心人口库")
    published(w, "idc", builtin="id-check", open_to_all=True, catalog_entry_ids=[important.id])
    published(w, "coord", open_to_all=True, catalog_entry_ids=[important.id, core_entry.id])
    published(w, "plain", builtin="noop", open_to_all=True)
    member_b = w.actors["org_member_b"]
    app = compute.app_create(w.session, member_b, AppCreate(org_id=w.orgs["dept_b"].id, name="核验系统"))

    def ask(code: str) -> Any:
        return compute.subscription_create(w.session, member_b, SubscriptionCreate(
            app_id=app.id, component_code=code, version="1.0.0"))

    assert ask("plain").status == "active"  # open, reads no graded data: at once
    sub = ask("idc")
    assert sub.status == "pending"  # open to all units, but it reads 重要 data
    queue = {r["component_code"]: r for r in compute.subscription_queue(w.session, w.actors["org_admin_a"])}
    assert queue["idc"]["data_grade"] == "important"
    with pytest.raises(Forbidden):  # the owner's admin alone does not approve graded data
        compute.subscription_decide(w.session, w.actors["org_admin_a"], sub.id, SubscriptionDecision(approve=True))
    compute.subscription_decide(w.session, w.actors["bureau_member"], sub.id, SubscriptionDecision(approve=True))
    assert sub.status == "active"
    core_sub = ask("coord")
    with pytest.raises(Forbidden):  # 核心 data: a bureau administrator, not any of its staff
        compute.subscription_decide(w.session, w.actors["bureau_member"], core_sub.id,
                                    SubscriptionDecision(approve=True))
    compute.subscription_decide(w.session, w.actors["org_admin_a"], core_sub.id, SubscriptionDecision(
        approve=False, note="先走数据共享申请"))  # the owner may still refuse
    assert core_sub.status == "rejected"
    again = ask("coord")
    compute.subscription_decide(w.session, w.actors["bureau_admin"], again.id, SubscriptionDecision(approve=True))
    assert again.status == "active"
