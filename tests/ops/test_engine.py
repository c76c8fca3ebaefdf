"""Rule semantics on crafted series with a controlled clock: duration, repeat, clear, rate, no-data, anomaly;
one open alarm per (originator, type); state that survives a restart; isolation of a failing rule."""

from __future__ import annotations

import math
import time
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from cityhub.connect.schemas import TELEMETRY_STORED
from cityhub.kit import clock, events
from cityhub.kit.errors import ValidationFailed
from cityhub.kit.pagination import PageParams
from cityhub.ops import service as ops
from cityhub.ops.models import Alarm, AlarmScope, OutboxMessage, Rule, RuleState
from cityhub.ops.rules import engine, state
from cityhub.ops.rules import service as rule_service
from tests.ops.helpers import T0, Series, all_alarms, at, open_alarms, rule


def test_threshold_fires_at_once_and_clears_with_its_own_condition(world: Any, session: Any) -> None:
    r = rule(world, session, condition={"op": ">", "value": 100}, clear_condition={"op": "<", "value": 80})
    s = Series(world)
    s.send(session, (0, 50), (1, 120))
    [alarm] = open_alarms(session, s.device_id)
    assert alarm.rule_id == r.id and alarm.severity == "major" and alarm.count == 1
    assert alarm.start_ts == T0 + timedelta(minutes=1)
    s.send(session, (2, 90))  # between clear and fire: stays open (hysteresis), not a re-trigger
    assert open_alarms(session, s.device_id)[0].count == 1
    s.send(session, (3, 130), (4, 140))
    assert open_alarms(session, s.device_id)[0].count == 3  # re-triggers update the one open alarm and count
    s.send(session, (5, 70))
    assert open_alarms(session, s.device_id) == []
    [cleared] = all_alarms(session, s.device_id)
    assert cleared.cleared and cleared.clear_ts == T0 + timedelta(minutes=5)


def test_duration_fires_only_after_the_condition_held_for_n_minutes(world: Any, session: Any) -> None:
    rule(world, session, condition={"op": ">", "value": 100}, duration_s=300)
    s = Series(world)
    s.send(session, (0, 120), (2, 130), (4, 125))
    assert open_alarms(session, s.device_id) == []
    s.send(session, (4.5, 90))  # drops below: the pending period starts over
    s.send(session, (5, 140), (9, 150))
    assert open_alarms(session, s.device_id) == []
    s.send(session, (10, 150))  # held 5 minutes since minute 5
    [alarm] = open_alarms(session, s.device_id)
    assert alarm.start_ts == T0 + timedelta(minutes=10)


def test_duration_fires_from_the_tick_when_the_device_goes_quiet(world: Any, session: Any) -> None:
    rule(world, session, condition={"op": ">", "value": 100}, duration_s=600)
    s = Series(world)
    s.send(session, (0, 120))
    at(9)
    assert ops.tick(session).raised == 0
    at(10.5)
    out = ops.tick(session)
    assert out.raised == 1
    [alarm] = open_alarms(session, s.device_id)
    assert alarm.start_ts == T0 + timedelta(minutes=10)  # fired at the end of the pending period
    assert alarm.details["value"] == 120


def test_repeat_count_needs_n_violations_in_a_row(world: Any, session: Any) -> None:
    rule(world, session, condition={"op": ">=", "value": 10}, repeat_count=3)
    s = Series(world)
    s.send(session, (0, 11), (1, 12), (2, 5), (3, 13), (4, 14))
    assert open_alarms(session, s.device_id) == []
    s.send(session, (5, 10))
    assert len(open_alarms(session, s.device_id)) == 1


def test_rate_of_change_per_minute(world: Any, session: Any) -> None:
    rule(world, session, kind="rate", key="deflection", condition={"op": "abs>", "value": 5})
    s = Series(world)
    s.send(session, (0, 10), (1, 13), (2, 17), key="deflection")  # +3/min, +4/min
    assert open_alarms(session, s.device_id) == []
    s.send(session, (2.5, 10), key="deflection")  # -7 in half a minute = -14/min
    [alarm] = open_alarms(session, s.device_id)
    assert math.isclose(alarm.details["measure"], -14.0)
    s.send(session, (3.5, 11), key="deflection")  # +1/min clears
    assert open_alarms(session, s.device_id) == []


def test_no_data_fires_after_silence_and_clears_when_data_returns(world: Any, session: Any) -> None:
    rule(world, session, kind="no_data", key="", no_data_s=600, severity="warning")
    s = Series(world)
    s.send(session, (0, 1.0))
    at(10.5)  # silent for 10.5 minutes: inside the 10 % tolerance
    assert ops.tick(session).raised == 0
    at(11.1)
    assert ops.tick(session).raised == 1
    [alarm] = open_alarms(session, s.device_id)
    assert alarm.severity == "warning" and alarm.details["silent_s"] == 666
    at(12)
    s.send(session, (12, 2.0))
    assert open_alarms(session, s.device_id) == []


def test_no_data_keeps_quiet_while_points_arrive(world: Any, session: Any) -> None:
    rule(world, session, kind="no_data", key="", no_data_s=300)
    s = Series(world)
    for m in range(0, 30, 2):
        s.send(session, (m, float(m)))
        at(m + 1)
        assert ops.tick(session).raised == 0
    assert all_alarms(session, s.device_id) == []


def test_anomaly_matches_river_and_fires_on_a_spike(world: Any, session: Any) -> None:
    from river import stats

    rule(world, session, kind="anomaly", condition={"z": 4.0, "alpha": 0.1, "min_samples": 20},
         clear_condition={"op": "<", "value": 2.0})
    s = Series(world)
    values = [100 + 2 * math.sin(i / 3) for i in range(60)]
    s.send(session, *((i, v) for i, v in enumerate(values)))
    assert open_alarms(session, s.device_id) == []
    # the persisted EWMA equals river's exponentially weighted mean and variance of the same series
    st = session.get(RuleState, engine.state_id(session.scalar(select(Rule.id)), s.device_id))
    mean, var = stats.EWMean(fading_factor=0.1), stats.EWVar(fading_factor=0.1)
    for v in values:
        mean.update(v)
        var.update(v)
    assert math.isclose(st.data["mean"], mean.get(), rel_tol=1e-9)
    assert math.isclose(st.data["var"], var.get(), rel_tol=1e-6)
    s.send(session, (60, 140.0))
    [alarm] = open_alarms(session, s.device_id)
    assert alarm.details["measure"] > 4
    s.send(session, *((61 + i, 100.0 + (i % 2)) for i in range(40)))
    assert open_alarms(session, s.device_id) == []


def test_one_open_alarm_per_originator_and_type_is_enforced_by_the_database(world: Any, session: Any) -> None:
    s = Series(world)
    a, created = ops.alarm_raise(session, ops.ENGINE_ACTOR, originator_type="device", originator_id=s.device_id,
                                 alarm_type="high strain", severity="major", details={}, org_id=s.org_id)
    b, created2 = ops.alarm_raise(session, ops.ENGINE_ACTOR, originator_type="device", originator_id=s.device_id,
                                  alarm_type="high strain", severity="critical", details={}, org_id=s.org_id)
    assert created and not created2 and a.id == b.id and b.count == 2 and b.severity == "critical"
    nested = session.begin_nested()
    session.add(Alarm(org_id=s.org_id, originator_type="device", originator_id=s.device_id, type="high strain",
                      severity="minor", details={}))
    with pytest.raises(IntegrityError):
        session.flush()
    nested.rollback()
    ops.alarm_clear(session, world.actors["operator"], a.id)
    c, created3 = ops.alarm_raise(session, ops.ENGINE_ACTOR, originator_type="device", originator_id=s.device_id,
                                  alarm_type="high strain", severity="major", details={}, org_id=s.org_id)
    assert created3 and c.id != a.id  # a cleared alarm does not block the next one


def test_state_survives_a_restart_pending_timers_and_open_alarms(world: Any, session: Any) -> None:
    rule(world, session, name="dur", condition={"op": ">", "value": 100}, duration_s=600)
    rule(world, session, name="now", alarm_type="instant", condition={"op": ">", "value": 200})
    s = Series(world)
    s.send(session, (0, 250))  # "now" fires; "dur" starts pending
    assert len(open_alarms(session, s.device_id)) == 1
    session.commit()  # what a worker's batch boundary does
    # a restart: new process memory (cold rule and state caches), new session
    rule_service._rule_cache.clear()
    state.clear_cache()
    session.expire_all()
    s.send(session, (1, 260))  # must not re-fire the open alarm; re-trigger counts instead
    [instant] = open_alarms(session, s.device_id)
    assert instant.count == 2
    at(10.1)
    assert ops.tick(session).raised == 1  # the pending timer survived
    assert {a.type for a in open_alarms(session, s.device_id)} == {"instant", "dur"}


def test_a_rule_that_throws_is_isolated_and_reported(world: Any, session: Any) -> None:
    bad = rule(world, session, name="bad", kind="anomaly", condition={"z": 3.0, "min_samples": 2})
    good = rule(world, session, name="good", condition={"op": ">", "value": 10})
    s = Series(world)
    s.send(session, (0, 1.0))
    # a state row left unreadable (e.g. by a hand edit; every writer gives the row a new version)
    session.execute(update(RuleState).where(RuleState.id == engine.state_id(bad.id, s.device_id))
                    .values(data={"n": 5, "mean": "oops", "var": 1.0}, version=state.new_version()))
    failed = events.failures(TELEMETRY_STORED)
    assert s.send(session, (1, 50.0)) >= 1  # every handler succeeded: ops' (context queues devices' changes too)
    assert events.failures(TELEMETRY_STORED) == failed
    [alarm] = open_alarms(session, s.device_id)
    assert alarm.rule_id == good.id
    session.refresh(bad)
    assert bad.errors == 1 and "ValueError" in bad.last_error


def test_text_and_nan_values_are_skipped(world: Any, session: Any) -> None:
    r = rule(world, session, condition={"op": ">", "value": 10})
    s = Series(world)
    s.send(session, (0, None), (1, float("nan")), (2, float("inf")))
    assert open_alarms(session, s.device_id) == []
    session.refresh(r)
    assert r.errors == 0


def test_asset_rules_match_points_below_the_asset_and_alarms_propagate(world: Any, session: Any) -> None:
    from tests.connect.helpers import build_connect

    cw = build_connect(world)
    bridge, span = cw["bridge"].id, cw["span"].id
    rule(world, session, profile_code=None, asset_id=bridge, condition={"op": ">", "value": 10})
    s = Series(world, asset_path=(span, bridge))
    other = Series(world, asset_path=(uuid.uuid4(),))
    s.send(session, (0, 20))
    other.send(session, (0, 20))
    [alarm] = open_alarms(session, s.device_id)
    assert open_alarms(session, other.device_id) == []
    scopes = {(x.entity_id, x.entity_kind) for x in session.scalars(
        select(AlarmScope).where(AlarmScope.alarm_id == alarm.id))}
    assert scopes == {(span, "asset"), (bridge, "asset"), (world.orgs["district"].id, "district")}
    items, total = ops.alarm_list(session, world.actors["operator"], PageParams(limit=10, offset=0),
                                  entity_id=bridge)
    assert total == 1 and items[0].id == alarm.id


def test_alarm_events_go_to_the_outbox_not_the_network(world: Any, session: Any) -> None:
    rule(world, session, condition={"op": ">", "value": 10})
    s = Series(world)
    s.send(session, (0, 20), (1, 5))
    msgs = list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
    assert [m.payload["event"] for m in msgs] == ["created", "cleared"]
    assert msgs[0].target == f"cityhub/v1/alarms/{s.org_id}" and not msgs[0].delivered


def test_rule_changes_reload_the_cache(world: Any, session: Any) -> None:
    r = rule(world, session, condition={"op": ">", "value": 100})
    s = Series(world)
    s.send(session, (0, 50))
    from cityhub.ops.schemas import Condition, RuleUpdate

    ops.rule_update(session, world.actors["operator"], r.id, RuleUpdate(condition=Condition(op=">", value=40)))
    s.send(session, (1, 50))
    assert len(open_alarms(session, s.device_id)) == 1


@pytest.mark.parametrize(("bad", "field"), [
    ({"kind": "threshold"}, "condition"),
    ({"kind": "threshold", "condition": {"op": "~", "value": 1}}, "condition.op"),
    ({"kind": "threshold", "profile_code": None, "condition": {"op": ">", "value": 1}}, "profile_code"),
    ({"kind": "no_data", "key": ""}, "no_data_s"),
    ({"kind": "anomaly", "condition": {"op": ">", "value": 0}}, "condition.z"),
    ({"kind": "threshold", "condition": {"op": ">", "value": 10}, "clear_condition": {"op": "<", "value": 20}},
     "clear_condition"),
    ({"kind": "threshold", "key": "", "condition": {"op": ">", "value": 10}}, "key"),
])
def test_invalid_rules_name_the_field_and_save_nothing(world: Any, session: Any, bad: dict[str, Any],
                                                       field: str) -> None:
    before = session.scalar(select(func.count()).select_from(Rule))
    with pytest.raises(ValidationFailed) as err:
        rule(world, session, **bad)
    assert err.value.field == field
    assert session.scalar(select(func.count()).select_from(Rule)) == before


def test_series_are_evaluated_in_time_order_whatever_the_batch_order(world: Any, session: Any) -> None:
    rule(world, session, condition={"op": ">", "value": 10}, repeat_count=2)
    s = Series(world)
    pts = [s.point(T0 + timedelta(minutes=m), v) for m, v in ((2, 20), (0, 20), (1, 5))]
    events.publish(session, TELEMETRY_STORED, pts)  # in time order: 20, 5, 20 → never twice in a row
    assert open_alarms(session, s.device_id) == []
    assert clock.now() is not None


def test_running_statistics_are_checkpointed_and_decisions_written_at_once(world: Any, session: Any,
                                                                           monkeypatch: Any) -> None:
    now = [5000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])  # the clock state.py checkpoints by
    r = rule(world, session, kind="anomaly", condition={"z": 4.0, "alpha": 0.1, "min_samples": 20},
             clear_condition={"op": "<", "value": 2.0})
    s = Series(world)
    sid = engine.state_id(r.id, s.device_id)

    def stored() -> RuleState:
        session.expire_all()
        row: RuleState = session.get(RuleState, sid)
        return row

    s.send(session, *((i, 100.0 + (i % 3)) for i in range(20)))
    assert stored().data["n"] == 20  # a series' first change is written at once
    s.send(session, *((20 + i, 100.0 + (i % 3)) for i in range(10)))
    assert stored().data["n"] == 20  # statistics alone wait for the checkpoint ...
    now[0] += state.CHECKPOINT_S
    s.send(session, (30, 101.0))
    assert stored().data["n"] == 31  # ... and then carry every point evaluated meanwhile
    s.send(session, (31, 150.0))  # a decision (the alarm) is written with its batch, checkpoint or not
    assert stored().active and len(open_alarms(session, s.device_id)) == 1 and stored().data["n"] == 32
    state.clear_cache()  # a restart loses at most CHECKPOINT_S of statistics, never a decision
    s.send(session, (32, 101.0))  # evaluated on the stored state: the open alarm clears
    assert open_alarms(session, s.device_id) == [] and not stored().active and stored().data["n"] == 33
