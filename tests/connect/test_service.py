from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from cityhub.connect import service
from cityhub.connect.schemas import TELEMETRY_STORED, AssetCreate, DeviceCreate, DeviceUpdate
from cityhub.kit import clock, events
from cityhub.kit.errors import Conflict, Forbidden, InvalidTransition, NotFound, Unauthorized, ValidationFailed
from cityhub.kit.pagination import PageParams
from tests.connect.helpers import SYSTEM, build_connect, message

T0 = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)


@pytest.fixture
def cw(world: Any) -> Any:
    clock.set_now(T0 + timedelta(hours=1))
    return build_connect(world)


def test_device_refs_follow_the_asset_tree(world: Any, cw: Any) -> None:
    s = world.session
    ref = service.device_ref(s, cw["dev_a"].id)
    assert ref is not None
    assert ref.profile_code == "bridge-health" and ref.org_id == world.orgs["dept_a"].id
    assert ref.asset_path == (cw["span"].id, cw["bridge"].id)
    assert ref.district_id == world.orgs["district"].id  # inherited from the bridge
    assert (ref.lon, ref.lat) == (None, None)  # the span has no coordinates of its own
    assert service.device_ref(s, uuid.uuid4()) is None
    under_bridge = service.device_refs(s, asset_id=cw["bridge"].id)
    assert [r.device_id for r in under_bridge] == [cw["dev_a"].id]
    assert [r.device_id for r in service.device_refs(s, profile_code="air-noise")] == [cw["dev_b"].id]
    assert [r.device_id for r in service.device_refs(s, district_id=world.orgs["district"].id)] == [cw["dev_a"].id]
    assert service.device_refs(s, org_ids=[world.orgs["dept_b"].id])[0].lon == 106.57
    aref = service.asset_ref(s, cw["span"].id)
    assert aref is not None and aref.path == (cw["span"].id, cw["bridge"].id) and aref.parent_id == cw["bridge"].id
    assert aref.district_id == world.orgs["district"].id


def test_visible_device_refs_by_role(world: Any, cw: Any) -> None:
    s = world.session

    def ids(who: str) -> set[Any]:
        return {r.device_id for r in service.visible_device_refs(s, world.actors[who])}

    assert ids("platform_admin") == ids("auditor") == ids("operator") == {cw["dev_a"].id, cw["dev_b"].id}
    assert ids("org_member_a") == {cw["dev_a"].id}
    assert ids("org_member_b") == {cw["dev_b"].id}
    assert ids("district_admin") == set()


def test_ingest_stores_queries_and_absorbs_duplicates(world: Any, cw: Any) -> None:
    s = world.session
    dev = cw["dev_a"].id
    recs = [{"ts": (T0 + timedelta(minutes=i)).isoformat(), "values": {"strain": 100.0 + i, "temperature": 20 + i}}
            for i in range(10)]
    r = service.ingest_messages(s, [message(dev, recs, clock.now())])
    assert (r.stored, r.duplicates, r.quarantined) == (20, 0, 0)
    again = service.ingest_messages(s, [message(dev, recs[:3], clock.now())])
    assert (again.stored, again.duplicates) == (0, 6)
    pts = list(service.telemetry_points(s, device_ids=[dev], keys=["strain"], start=T0, end=T0 + timedelta(minutes=5)))
    assert [p.value for p in pts] == [100.0, 101.0, 102.0, 103.0, 104.0]
    assert pts[0].asset_path == (cw["span"].id, cw["bridge"].id) and pts[0].profile_code == "bridge-health"
    assert all(p.ts.tzinfo is not None for p in pts)
    latest = service.latest_values(s, [dev])
    assert latest[dev]["strain"][1] == 109.0 and latest[dev]["strain"][0] == T0 + timedelta(minutes=9)
    assert set(service.latest_values(s, [dev], ["temperature"])[dev]) == {"temperature"}
    # an older point arriving late does not move the latest value back
    service.ingest_messages(s, [message(dev, {"ts": (T0 - timedelta(hours=1)).isoformat(),
                                             "values": {"strain": 1.0}}, clock.now())])
    assert service.latest_values(s, [dev])[dev]["strain"][1] == 109.0

    def agg(a: str) -> Any:
        return service.telemetry_aggregate(s, device_ids=[dev], key="strain", agg=a, start=T0,
                                           end=T0 + timedelta(hours=1))

    assert (agg("avg"), agg("min"), agg("max"), agg("sum"), agg("count")) == (104.5, 100.0, 109.0, 1045.0, 10.0)
    with pytest.raises(ValidationFailed):
        agg("median")
    series = service.telemetry_series(s, world.actors["org_member_a"], dev, keys=["strain"], agg="avg",
                                      interval="5m", start=T0, end=T0 + timedelta(minutes=10))
    assert series == [("strain", T0, 102.0), ("strain", T0 + timedelta(minutes=5), 107.0)]
    with pytest.raises(NotFound):  # another department's device is invisible
        service.telemetry_series(s, world.actors["org_member_b"], dev, keys=[], agg="avg", interval="5m",
                                 start=T0, end=T0 + timedelta(minutes=10))


def test_epoch_ms_default_ts_and_boolean_and_text(world: Any, cw: Any) -> None:
    s = world.session
    from cityhub.connect.reference import PROFILES  # noqa: F401  # profiles exist via the fixture
    dev = cw["dev_b"].id
    ms = int(T0.timestamp() * 1000)
    r = service.ingest_messages(s, [message(dev, {"ts": ms, "values": {"pm25": 35}}, clock.now()),
                                    message(dev, {"values": {"noise": 55.5}}, clock.now())])
    assert r.stored == 2
    latest = service.latest_values(s, [dev])[dev]
    assert latest["pm25"][0] == T0 and latest["noise"][0] == clock.now()


def test_text_values_with_copy_special_characters_and_duplicates_inside_one_batch(world: Any, cw: Any) -> None:
    s = world.session
    from cityhub.connect.schemas import DeviceProfileCreate
    service.device_profile_create(s, SYSTEM, DeviceProfileCreate.model_validate({
        "code": "gate-status", "name": "闸门状态", "metrics": [
            {"key": "state", "name": "状态", "type": "string"}, {"key": "open", "name": "开启", "type": "boolean"}]}))
    dev, _token = service.device_create(s, SYSTEM, DeviceCreate(name="闸门 1", org_id=world.orgs["dept_a"].id,
                                                                profile_code="gate-status"))
    tricky = "tab\there\nnew line\\back\\slash \\N 中文\r"
    rec = {"ts": T0.isoformat(), "values": {"state": tricky, "open": True}}
    # the same record twice in one batch, and once more with a later point: the COPY fast path must fall back
    r = service.ingest_messages(s, [message(dev.id, rec, clock.now()), message(dev.id, [
        rec, {"ts": (T0 + timedelta(seconds=1)).isoformat(), "values": {"open": False}}], clock.now())])
    assert (r.stored, r.duplicates, r.quarantined) == (3, 2, 0)
    pts = list(service.telemetry_points(s, device_ids=[dev.id], keys=None, start=T0, end=T0 + timedelta(minutes=1)))
    assert sorted((p.key, p.ts, p.value, p.text) for p in pts) == sorted([
        ("state", T0, None, tricky), ("open", T0, 1.0, None), ("open", T0 + timedelta(seconds=1), 0.0, None)])
    latest = service.latest_values(s, [dev.id])[dev.id]
    assert latest["state"] == (T0, None, tricky) and latest["open"][1] == 0.0


def test_values_survive_the_binary_copy_and_the_latest_value_literals_exactly(world: Any, cw: Any) -> None:
    """Every value comes back bit for bit through COPY (binary) and the latest-value upsert (array literals)."""
    s = world.session
    from cityhub.connect.schemas import DeviceProfileCreate
    service.device_profile_create(s, SYSTEM, DeviceProfileCreate.model_validate({
        "code": "literal-check", "name": "字面量", "metrics": [
            {"key": "null", "name": "空", "type": "string"}, {"key": "x", "name": "数", "type": "number"},
            {"key": "on", "name": "开", "type": "boolean"}]}))
    dev, _token = service.device_create(s, SYSTEM, DeviceCreate(name="字面量 1", org_id=world.orgs["dept_a"].id,
                                                                profile_code="literal-check"))
    texts = ['NULL', 'say "hi", {braces}\\ and \\"', "", " leading, trailing ", "中文\t\n"]
    numbers = [1e-7, -2.5e-300, 12345678.123456789, 1.7976931348623157e308, -42]
    at = [datetime(2026, 3, 10, 7, 0, i, 123456 + i, tzinfo=UTC) for i in range(5)]
    # one message per second, each then the latest value; the first with a +08:00 offset, the last one a list
    for i in range(5):
        ts = at[i].astimezone(timezone(timedelta(hours=8))) if i == 0 else at[i]
        rec = {"ts": ts.isoformat(), "values": {"null": texts[i], "x": numbers[i], "on": i % 2 == 0}}
        older = {"ts": (at[i] - timedelta(hours=1)).isoformat(), "values": {"x": 0.5}}  # never the latest
        r = service.ingest_messages(s, [message(dev.id, [rec, older] if i == 4 else rec, clock.now())])
        assert (r.stored, r.duplicates, r.quarantined) == (4 if i == 4 else 3, 0, 0)
        latest = service.latest_values(s, [dev.id])[dev.id]
        assert latest == {"null": (at[i], None, texts[i]), "x": (at[i], float(numbers[i]), None),
                          "on": (at[i], 1.0 if i % 2 == 0 else 0.0, None)}
    pts = list(service.telemetry_points(s, device_ids=[dev.id], keys=None, start=at[0], end=at[4] + timedelta(1)))
    assert sorted((p.key, p.ts, p.value, p.text) for p in pts) == sorted(
        [("null", at[i], None, texts[i]) for i in range(5)] + [("x", at[i], float(numbers[i]), None) for i in range(5)]
        + [("on", at[i], 1.0 if i % 2 == 0 else 0.0, None) for i in range(5)])


@pytest.mark.parametrize(("payload", "reason"), [
    (b"{not json", "bad_json"),
    (b'"just a string"', "bad_format"),
    (b"[]", "bad_format"),
    (b'{"values": {}}', "bad_format"),
    (b'{"values": {"colour": 1}}', "unknown_key"),
    (b'{"values": {"strain": "high"}}', "wrong_type"),
    (b'{"values": {"strain": true}}', "wrong_type"),
    (b'{"values": {"strain": 99999}}', "out_of_range"),
    (b'{"ts": "yesterday", "values": {"strain": 1}}', "bad_timestamp"),
    (b'{"ts": "2099-01-01T00:00:00Z", "values": {"strain": 1}}', "future_timestamp"),
])
def test_each_quarantine_reason(world: Any, cw: Any, payload: Any, reason: Any) -> None:
    s = world.session
    before = service.quarantine_counts(s).get(reason, 0)
    r = service.ingest_messages(s, [message(cw["dev_a"].id, payload, clock.now())])
    assert r.stored == 0 and r.quarantined == 1
    items, total = service.quarantine_list(s, world.actors["org_member_a"], PageParams(), device_id=cw["dev_a"].id)
    assert total == 1 and items[0].reason == reason and items[0].payload == payload.decode()
    assert service.quarantine_counts(s)[reason] == before + 1
    assert service.quarantine_counts(s, cw["dev_a"].id) == {reason: 1}


def test_device_level_reasons_and_partial_messages(world: Any, cw: Any) -> None:
    s = world.session
    now = clock.now()
    service.device_update(s, SYSTEM, cw["dev_b"].id, DeviceUpdate(status="disabled"))
    r = service.ingest_messages(s, [
        message(uuid.uuid4(), {"values": {"strain": 1}}, now),
        RawMessage_bad_topic(now),
        message(cw["dev_b"].id, {"values": {"pm25": 1}}, now),
        message(cw["dev_a"].id, [{"values": {"strain": 5, "colour": 3}}, {"ts": "bad", "values": {"strain": 6}},
                                 {"ts": T0.isoformat(), "values": {"strain": 7}}], now),
    ])
    assert (r.stored, r.quarantined) == (2, 5)
    items, _ = service.quarantine_list(s, world.actors["platform_admin"], PageParams(limit=20))
    assert sorted(i.reason for i in items) == ["bad_timestamp", "bad_topic", "device_disabled", "unknown_device",
                                               "unknown_key"]
    # department A sees only its own device's rows; unknown devices are the platform team's
    mine, _ = service.quarantine_list(s, world.actors["org_member_a"], PageParams(limit=20))
    assert {i.reason for i in mine} == {"bad_timestamp", "unknown_key"}
    assert service.latest_values(s, [cw["dev_a"].id])[cw["dev_a"].id]["strain"][1] in (5.0, 7.0)


def RawMessage_bad_topic(now: Any) -> Any:
    from cityhub.connect.schemas import RawMessage
    return RawMessage(topic="cityhub/v1/devices/not-a-uuid/telemetry", payload=b"{}", received_at=now)


def test_telemetry_stored_event_carries_only_stored_points(world: Any, cw: Any) -> None:
    s = world.session
    got: list[Any] = []

    def handler(_session: Any, points: Any) -> None:
        got.append(points)

    events.subscribe(TELEMETRY_STORED, handler)
    try:
        dev = cw["dev_a"].id
        service.ingest_messages(s, [message(dev, {"ts": T0.isoformat(), "values": {"strain": 1, "vibration": 2}},
                                            clock.now())])
        service.ingest_messages(s, [message(dev, [{"ts": T0.isoformat(), "values": {"strain": 1}},
                                                  {"ts": (T0 + timedelta(seconds=1)).isoformat(),
                                                   "values": {"strain": 3, "colour": 1}}], clock.now())])
    finally:
        events.unsubscribe(TELEMETRY_STORED, handler)
    assert len(got) == 2
    assert sorted((p.key, p.value) for p in got[0]) == [("strain", 1.0), ("vibration", 2.0)]
    assert [(p.key, p.value, p.ts) for p in got[1]] == [("strain", 3.0, T0 + timedelta(seconds=1))]
    p = got[1][0]
    assert p.org_id == world.orgs["dept_a"].id and p.district_id == world.orgs["district"].id
    assert p.asset_path == (cw["span"].id, cw["bridge"].id)


def test_points_in_an_old_month_create_their_partition(world: Any, cw: Any) -> None:
    s = world.session
    old = datetime(2024, 2, 29, 23, 59, 59, 123456, tzinfo=UTC)
    r = service.ingest_messages(s, [message(cw["dev_a"].id, {"ts": old.isoformat(), "values": {"strain": 2}},
                                            clock.now())])
    assert r.stored == 1
    pts = list(service.telemetry_points(s, device_ids=[cw["dev_a"].id], keys=None, start=old,
                                        end=old + timedelta(seconds=1)))
    assert [p.ts for p in pts] == [old]


def test_device_lifecycle_and_permissions(world: Any, cw: Any) -> None:
    s = world.session
    a_member, b_member = world.actors["org_member_a"], world.actors["org_member_b"]
    dev, token = service.device_create(s, a_member, DeviceCreate(
        name="新设备", org_id=world.orgs["dept_a"].id, profile_code="bridge-health", asset_id=cw["bridge"].id))
    assert token.startswith("chdev_") and dev.broker_hash.startswith("$7$101$")
    assert service.device_authenticate(s, dev.id, token).id == dev.id
    with pytest.raises(Forbidden):
        service.device_create(s, b_member, DeviceCreate(name="x", org_id=world.orgs["dept_a"].id,
                                                         profile_code="bridge-health"))
    with pytest.raises(NotFound):
        service.device_update(s, b_member, dev.id, DeviceUpdate(name="y"))
    with pytest.raises(Forbidden):
        service.device_update(s, world.actors["auditor"], dev.id, DeviceUpdate(name="y"))
    with pytest.raises(ValidationFailed):
        service.device_create(s, a_member, DeviceCreate(name="x", org_id=world.orgs["dept_a"].id,
                                                         profile_code="nope"))
    with pytest.raises(ValidationFailed):  # another unit's asset is not there for A
        service.device_create(s, a_member, DeviceCreate(name="x", org_id=world.orgs["dept_a"].id,
                                                         profile_code="bridge-health", asset_id=cw["plaza"].id))
    _, new = service.device_token_rotate(s, a_member, dev.id)
    with pytest.raises(Unauthorized):
        service.device_authenticate(s, dev.id, token)
    assert service.device_authenticate(s, dev.id, new).id == dev.id
    service.device_update(s, a_member, dev.id, DeviceUpdate(status="decommissioned"))
    with pytest.raises(InvalidTransition):
        service.device_update(s, a_member, dev.id, DeviceUpdate(status="active"))
    with pytest.raises(Conflict):
        service.device_token_rotate(s, a_member, dev.id)


def test_asset_rules(world: Any, cw: Any) -> None:
    s = world.session
    with pytest.raises(Conflict):
        service.asset_delete(s, SYSTEM, cw["bridge"].id)  # it has a span
    with pytest.raises(ValidationFailed):
        service.asset_create(s, world.actors["org_member_b"], AssetCreate(
            name="x", kind="span", org_id=world.orgs["dept_b"].id, parent_id=cw["bridge"].id))
    lone = service.asset_create(s, world.actors["org_admin_a"], AssetCreate(
        name="待拆除", kind="other", org_id=world.orgs["dept_a"].id))
    with pytest.raises(Forbidden):
        service.asset_delete(s, world.actors["org_member_a"], lone.id)
    service.asset_delete(s, world.actors["org_admin_a"], lone.id)
    tree = service.asset_tree(s, world.actors["org_member_a"])
    assert [n["asset"].name for n in tree] == ["测试长江大桥"]
    assert [c["asset"].name for c in tree[0]["children"]] == ["主跨"] and tree[0]["children"][0]["devices"] == 1


def test_device_cache_reloads_only_when_another_process_changed_devices(world: Any, cw: Any, monkeypatch: Any) -> None:
    """The cache checks a change token every CACHE_TTL_S and keeps its entries while nothing moved."""
    from sqlalchemy import update

    from cityhub.connect.ingest import facts as ingest_mod
    from cityhub.connect.models import Device

    s = world.session
    cache = ingest_mod.DeviceCache()
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])  # the clock of the device cache
    loads: list[int] = []
    real_load = ingest_mod.load_device_infos

    def counting_load(sess: Any, ids: Any) -> Any:
        loads.append(len(ids))
        return real_load(sess, ids)

    monkeypatch.setattr(ingest_mod, "load_device_infos", counting_load)
    dev = cw["dev_a"]
    first_org = dev.org_id
    assert cache.get_many(s, [dev.id])[dev.id].org_id == first_org  # type: ignore[union-attr]  # the device exists
    now[0] += ingest_mod.CACHE_TTL_S + 1  # nothing changed: the token matches, no reload
    cache.get_many(s, [dev.id])
    assert loads == [1]
    # another process moves the device to another organisation (no in-process invalidation here)
    other = world.orgs["dept_b"].id
    s.execute(update(Device).where(Device.id == dev.id).values(org_id=other,
                                                                updated_at=clock.now() + timedelta(seconds=1)))
    assert cache.get_many(s, [dev.id])[dev.id].org_id == first_org  # type: ignore[union-attr]  # within the interval: still cached
    now[0] += ingest_mod.CACHE_TTL_S + 1
    assert cache.get_many(s, [dev.id])[dev.id].org_id == other  # type: ignore[union-attr]  # token moved: reloaded
    assert loads == [1, 1]
    now[0] += ingest_mod.FULL_RELOAD_S + 1  # the backstop reloads even with an unchanged token
    cache.get_many(s, [dev.id])
    assert loads == [1, 1, 1]


def test_an_asset_named_in_a_write_must_be_one_the_caller_manages(world: Any, cw: Any) -> None:
    """Seeing another unit's asset (an auditor does) is not managing it: 403; not seeing it: 422 naming the field."""
    from cityhub.core import service as core
    from tests.conftest import core_binding

    s = world.session
    core.role_binding_create(s, SYSTEM, core_binding(world.users["org_member_a"].id, world.orgs["city"].id,
                                                     "auditor"))
    world.refresh_actors()
    a, plaza = world.actors["org_member_a"], cw["plaza"]  # dept B's asset, visible to A's member as an auditor
    with pytest.raises(Forbidden):
        service.device_create(s, a, DeviceCreate(name="越权", org_id=world.orgs["dept_a"].id,
                                                 profile_code="air-noise", asset_id=plaza.id))
    with pytest.raises(Forbidden):
        service.device_update(s, a, cw["dev_a"].id, DeviceUpdate(asset_id=plaza.id))
    with pytest.raises(Forbidden):
        service.asset_create(s, a, AssetCreate(name="越权", kind="other", org_id=world.orgs["dept_a"].id,
                                               parent_id=plaza.id))
    with pytest.raises(ValidationFailed) as exc:  # dept B's own member cannot even see dept A's span
        service.device_update(s, world.actors["org_member_b"], cw["dev_b"].id, DeviceUpdate(asset_id=cw["span"].id))
    assert exc.value.field == "asset_id"
    assert service.device_get(s, SYSTEM, cw["dev_a"].id).asset_id == cw["span"].id
