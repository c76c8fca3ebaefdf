"""Forecast rules (预判预警): Holt's model against statsmodels, fitting, firing on the forecast before the threshold
is crossed, staying quiet on a flat series, scheduled refits, an explicit error for a series that cannot be fitted,
and bad definitions refused naming the field."""

from __future__ import annotations

import random
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select
from statsmodels.tsa.holtwinters import Holt  # type: ignore[import-untyped]  # statsmodels ships no type information

from cityhub.connect import service as connect
from cityhub.kit import clock
from cityhub.kit.errors import ValidationFailed
from cityhub.ops import service as ops
from cityhub.ops.models import Rule, RuleState
from cityhub.ops.rules import engine, forecast, refit, state
from cityhub.ops.schemas import RuleCreate
from tests.connect.helpers import build_connect, message
from tests.ops.helpers import T0, open_alarms, rule
from tests.web.test_pages import login

API = "/api/v1/ops"
THRESHOLD = 500.0


def _records(start: datetime, values: list[float]) -> list[dict[str, Any]]:
    return [{"ts": (start + timedelta(minutes=i)).isoformat(), "values": {"strain": v}} for i, v in enumerate(values)]


NOISE = np.random.default_rng(11).normal(0, 3.0, 1000)  # measurement noise, the same every run


def _wiggle(i: int) -> float:
    return float(NOISE[i])


def _forecast_rule(world: Any, session: Any, **kw: Any) -> Any:
    return rule(world, session, kind="forecast", name=kw.pop("name", "应变预判"),
                condition={"op": ">", "value": THRESHOLD, "horizon_s": 7200}, **kw)


def _ingest(session: Any, dev: Any, start: datetime, values: list[float]) -> None:
    clock.set_now(start + timedelta(minutes=len(values)))
    connect.ingest_messages(session, [message(dev, _records(start, values), clock.now())])


def _state(session: Any, rule_id: Any, device_id: Any) -> RuleState:
    row: RuleState = session.scalars(select(RuleState).where(RuleState.rule_id == rule_id,
                                                             RuleState.device_id == device_id)).one()
    return row


def test_the_numpy_holt_matches_statsmodels_with_the_same_parameters() -> None:
    rng = np.random.default_rng(7)
    ys = 100 + 0.8 * np.arange(60) + rng.normal(0, 2, 60)
    ts = 60.0 * np.arange(60)
    model: dict[str, Any] = {"alpha": 0.3, "beta": 0.1, "level": ys[0], "trend": (ys[1] - ys[0]) / 60.0,
                             "ts": ts[0], "sigma": 1.0, "step_s": 60.0}
    for t, y in zip(ts[1:], ys[1:], strict=True):
        model = forecast.advance(model, float(t), float(y)) or model
    # statsmodels' Holt over the points after the first, started from the same level and trend (per step)
    sm = Holt(ys[1:], initialization_method="known", initial_level=ys[0], initial_trend=ys[1] - ys[0]).fit(
        smoothing_level=0.3, smoothing_trend=0.1, optimized=False)
    expected = sm.forecast(10)
    ours = [model["level"] + model["trend"] * 60.0 * k for k in range(1, 11)]
    assert np.allclose(ours, expected, rtol=1e-9)


def test_fit_picks_parameters_that_track_a_trend_and_refuses_short_series() -> None:
    ts = (60.0 * np.arange(200)).astype(np.float64)
    rising = (50 + 2.0 * np.arange(200) + NOISE[:200]).astype(np.float64)
    [fit, short] = forecast.fit_many([(ts, rising), (ts[:5], rising[:5])])
    assert isinstance(fit, forecast.HoltFit)
    assert abs(fit.trend * 60 - 2.0) < 0.2  # two units per minute, recovered
    assert fit.n == 200 and fit.step_s == 60.0 and 0 < fit.sigma < 5
    assert isinstance(short, str) and "only 5 points" in short


def test_a_rising_series_fires_before_the_threshold_is_crossed(world: Any, session: Any) -> None:
    cw = build_connect(world)
    dev = cw["dev_a"].id
    r = _forecast_rule(world, session)
    history = [200 + 2.0 * i + _wiggle(i) for i in range(120)]  # +2 per minute, at 438 after two hours
    _ingest(session, dev, T0, history)
    assert open_alarms(session, dev) == []  # no model yet: the rule never fires on an unfitted series
    res = ops.forecast_refit(session, force=True)
    assert (res.fitted, res.failed, res.states) == (1, 0, 1)
    _ingest(session, dev, T0 + timedelta(minutes=120), [442.0, 444.0])
    [alarm] = open_alarms(session, dev)
    assert alarm.rule_id == r.id and max(history) < THRESHOLD and alarm.details["value"] < THRESHOLD
    fc = alarm.details["forecast"]
    assert fc["value"] > THRESHOLD and fc["lower"] < fc["value"] < fc["upper"]
    at = datetime.fromisoformat(fc["at"])
    # the line meets 500 about (500 - 444) / 2 ≈ 28 minutes after the point that fired
    assert timedelta(minutes=20) < at - (T0 + timedelta(minutes=121)) < timedelta(minutes=40)
    # the forecast stays stored on the series, drawn with its band
    [s] = ops.forecast_series(session, session.get(Rule, r.id))
    assert s["model"]["n"] == 120 and s["forecast"]["value"] > THRESHOLD and len(s["path"]) == 13


def test_a_flat_series_does_not_fire(world: Any, session: Any) -> None:
    cw = build_connect(world)
    dev = cw["dev_a"].id
    r = _forecast_rule(world, session)
    _ingest(session, dev, T0, [450 + _wiggle(i) for i in range(120)])  # close to 500, but not heading there
    ops.forecast_refit(session, force=True)
    _ingest(session, dev, T0 + timedelta(minutes=120), [450 + _wiggle(i) for i in range(120, 150)])
    assert open_alarms(session, dev) == []
    fc = _state(session, r.id, dev).data["forecast"]
    assert fc["value"] < THRESHOLD


def test_the_schedule_refits_a_model_that_is_due(world: Any, session: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    cw = build_connect(world)
    dev = cw["dev_a"].id
    r = _forecast_rule(world, session)
    _ingest(session, dev, T0, [300 + _wiggle(i) for i in range(60)])
    ops.forecast_refit(session, force=True)
    first = _state(session, r.id, dev).data["model"]
    assert abs(first["trend"] * 60) < 0.5  # flat
    _ingest(session, dev, T0 + timedelta(minutes=60), [300 + 3.0 * i for i in range(30)])  # then rising
    refit._checked.clear()
    assert ops.forecast_refit(session).series == 0  # fitted 30 minutes ago: not due yet (default: every hour)
    clock.set_now(T0 + timedelta(minutes=125))
    refit._checked.clear()
    assert ops.forecast_refit(session).fitted == 1
    second = _state(session, r.id, dev).data["model"]
    assert second["fitted_at"] != first["fitted_at"] and second["n"] == 90
    assert second["trend"] * 60 > 1.0  # the new model sees the rise


def test_the_model_is_checkpointed_per_batch_and_a_restart_continues_from_it(
        world: Any, session: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The per-point path moves the model in memory and rebuilds the stored forecast only when the row is written:
    what is stored, and what a restarted process goes on from, is what advancing the model point by point gives."""
    now = [5000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])  # the clock state.py checkpoints by
    cw = build_connect(world)
    dev = cw["dev_a"].id
    r = _forecast_rule(world, session)
    _ingest(session, dev, T0, [450 + _wiggle(i) for i in range(120)])
    ops.forecast_refit(session, force=True)
    model = dict(_state(session, r.id, dev).data["model"])
    fitted_ts = model["ts"]

    def expect(start: datetime, values: list[float]) -> None:
        nonlocal model
        for i, v in enumerate(values):
            model = forecast.advance(model, (start + timedelta(minutes=i)).timestamp(), v) or model

    quiet = [450 + _wiggle(i) for i in range(120, 130)]
    _ingest(session, dev, T0 + timedelta(minutes=120), quiet)
    session.expire_all()
    assert _state(session, r.id, dev).data["model"]["ts"] == fitted_ts  # the model waits for the checkpoint ...
    now[0] += state.CHECKPOINT_S
    expect(T0 + timedelta(minutes=120), quiet)
    more = [450 + _wiggle(i) for i in range(130, 135)]
    _ingest(session, dev, T0 + timedelta(minutes=130), more)
    expect(T0 + timedelta(minutes=130), more)
    session.expire_all()
    stored = _state(session, r.id, dev).data
    # ... then carry every point evaluated meanwhile, and the forecast is the stored model's, not an older one
    assert stored["model"] == model and model["ts"] > fitted_ts
    assert stored["forecast"] == forecast.forecast(model, ">", THRESHOLD, 7200)
    assert open_alarms(session, dev) == []
    state.clear_cache()  # a restart: the next process evaluates from the stored row
    rise = [452.0, 458.0, 464.0, 470.0]
    _ingest(session, dev, T0 + timedelta(minutes=135), rise)
    [alarm] = open_alarms(session, dev)
    fired = next(i for i in range(1, len(rise) + 1)
                 if forecast.forecast(forecast_after(model, T0 + timedelta(minutes=135), rise[:i]), ">", THRESHOLD,
                                      7200)["value"] > THRESHOLD)
    assert alarm.details["value"] == rise[fired - 1]  # the same point fires as without the restart
    assert alarm.details["forecast"] == forecast.forecast(  # the evidence: the forecast of the model at that point
        forecast_after(model, T0 + timedelta(minutes=135), rise[:fired]), ">", THRESHOLD, 7200)


def forecast_after(model: dict[str, Any], start: datetime, values: list[float]) -> dict[str, Any]:
    for i, v in enumerate(values):
        model = forecast.advance(model, (start + timedelta(minutes=i)).timestamp(), v) or model
    return model


def test_a_series_that_cannot_be_fitted_is_an_explicit_error(world: Any, session: Any) -> None:
    cw = build_connect(world)
    dev = cw["dev_a"].id
    r = _forecast_rule(world, session)
    _ingest(session, dev, T0, [100.0, 120.0, 900.0])
    res = ops.forecast_refit(session, force=True)
    assert res.failed == 1
    st = _state(session, r.id, dev)
    assert "only 3 points" in st.data["model_error"]["reason"] and "model" not in st.data
    row = session.get(Rule, r.id)
    session.refresh(row)
    assert row.errors == 1 and "主跨应变计 1" in row.last_error
    _ingest(session, dev, T0 + timedelta(minutes=3), [950.0])
    assert open_alarms(session, dev) == []  # nothing fitted, nothing forecast (and not silently "fine": see above)


@pytest.mark.parametrize(("condition", "field"), [
    ({"op": ">", "value": 500}, "condition.horizon_s"),
    ({"op": "==", "value": 500, "horizon_s": 3600}, "condition.op"),
    ({"op": ">", "horizon_s": 3600}, "condition.value"),
])
def test_bad_forecast_rules_name_the_field(world: Any, session: Any, condition: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationFailed) as exc:
        rule(world, session, kind="forecast", condition=condition)
    assert exc.value.field == field
    assert session.scalars(select(Rule)).all() == []


def test_the_api_refuses_a_bad_horizon_with_422_naming_the_field(client: Any, world: Any) -> None:
    body = {"name": "水位预判", "kind": "forecast", "profile_code": "bridge-health", "key": "strain",
            "condition": {"op": ">", "value": 3, "horizon_s": 5}, "org_id": str(world.orgs["dept_a"].id)}
    r = client.post(f"{API}/rules", json=body, headers=world.headers("operator"))
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "condition.horizon_s"
    r = client.post(f"{API}/rules", json={**body, "condition": {"op": ">", "value": 3, "horizon_s": 7200}},
                    headers=world.headers("operator"))
    assert r.status_code == 201, r.text
    assert r.json()["condition"] == {"op": ">", "value": 3.0, "horizon_s": 7200}


def test_the_engine_compiles_the_horizon() -> None:
    row = Rule(id=uuid.uuid4(), org_id=uuid.uuid4(), name="x", kind="forecast",
               profile_code="p", asset_id=None, key="k", alarm_type="x", severity="major",
               condition={"op": ">", "value": 3.0, "horizon_s": 7200}, clear_condition=None, duration_s=0,
               repeat_count=1, no_data_s=0, auto_incident=False, category="")
    assert engine.CompiledRule.of(row).horizon_s == 7200.0


def test_the_alarm_and_rule_pages_show_the_forecast_in_words_and_a_chart(client: Any, world: Any,
                                                                          session: Any) -> None:
    cw = build_connect(world)
    dev = cw["dev_a"].id
    r = _forecast_rule(world, session, asset_id=None)
    _ingest(session, dev, T0, [200 + 2.0 * i + _wiggle(i) for i in range(120)])
    ops.forecast_refit(session, force=True)
    _ingest(session, dev, T0 + timedelta(minutes=120), [442.0])
    assert len(open_alarms(session, dev)) == 1
    login(client, "t-operator")
    alarms = client.get("/ops/alarms").text
    assert "预测" in alarms and "95% 区间" in alarms and "阈值：大于 500" in alarms
    page = client.get(f"/ops/rules/{r.id}").text
    assert 'data-testid="forecast"' in page and "Holt 模型于" in page and "预测 2 小时 内：" in page
    assert '"forecasts"' in page and "主跨应变计 1" in page
    client.get("/lang/en")
    alarms = client.get("/ops/alarms").text
    assert "Forecast to reach" in alarms and "95 % interval" in alarms


def test_spiky_series_are_warned_before_the_threshold() -> None:
    """The demo simulator's gallery level (20 ± 2 mm, 1 % spikes of +120, every 5 minutes): the fit must not let the
    spikes choose a model too sluggish to warn of a genuine rise before it crosses 100 mm (uncapped: at ~170 mm)."""
    rng = random.Random(5)

    def level() -> float:
        return max(0.0, 20 + rng.gauss(0, 2) + (120 if rng.random() < 0.01 else 0))

    warned_at = []
    false_warnings = 0
    for _ in range(20):
        ts = (300.0 * np.arange(288)).astype(np.float64)
        [fit] = forecast.fit_many([(ts, np.array([level() for _ in range(288)], dtype=np.float64))])
        assert isinstance(fit, forecast.HoltFit)
        model = fit.as_data(T0)
        run = 0
        for k in range(1, 25):  # two more hours of the same: warned twice in a row is a false warning
            model = forecast.advance(model, ts[-1] + 300 * k, level()) or model
            run = run + 1 if forecast.forecast(model, ">", 100, 7200)["value"] > 100 else 0
            false_warnings += run >= 2
        run = 0
        for k in range(1, 60):  # then it rises 1.2 mm a minute from 25 mm
            value = 25 + 6.0 * k
            model = forecast.advance(model, ts[-1] + 300 * (24 + k), value) or model
            run = run + 1 if forecast.forecast(model, ">", 100, 7200)["value"] > 100 else 0
            if run >= 2:
                warned_at.append(value)
                break
    assert len(warned_at) == 20 and float(np.median(warned_at)) < 100
    assert false_warnings <= 1


def test_the_preview_replays_a_forecast_rule_from_a_model_fitted_on_the_day_before(world: Any, session: Any) -> None:
    cw = build_connect(world)
    dev = cw["dev_a"].id
    day_before = [200 + _wiggle(i % 1000) for i in range(0, 1440, 10)]  # flat, one point every 10 minutes
    records = [{"ts": (T0 + timedelta(minutes=10 * i)).isoformat(), "values": {"strain": v}}
               for i, v in enumerate(day_before)]
    records += [{"ts": (T0 + timedelta(days=1, minutes=10 * i)).isoformat(), "values": {"strain": 200 + 4.0 * i}}
                for i in range(100)]  # then a rise of 4 per 10 minutes, past 500 after 75 of them
    clock.set_now(T0 + timedelta(days=2))
    connect.ingest_messages(session, [message(dev, records, clock.now())])
    data = RuleCreate(name="预演", kind="forecast", profile_code="bridge-health", key="strain",
                      org_id=world.orgs["dept_a"].id, condition={"op": ">", "value": THRESHOLD, "horizon_s": 7200})
    p = ops.rule_preview(session, world.actors["operator"], data, hours=24)
    assert p.points == 100 and p.fired == 1 and p.firings[0].value is not None and p.firings[0].value < THRESHOLD


def test_a_one_device_rule_forecasts_that_series_only_and_the_page_says_what_it_forecasts(
        client: Any, world: Any, session: Any) -> None:
    from cityhub.connect.schemas import DeviceCreate
    from tests.connect.helpers import SYSTEM

    cw = build_connect(world)
    other, _token = connect.device_create(session, SYSTEM, DeviceCreate(
        name="主跨应变计 2", org_id=world.orgs["dept_a"].id, profile_code="bridge-health", asset_id=cw["span"].id))
    session.flush()
    one = _forecast_rule(world, session, name="单点预判", device_id=cw["dev_a"].id)
    every = _forecast_rule(world, session, name="全型号预判")
    _ingest(session, cw["dev_a"].id, T0, [300 + _wiggle(i) for i in range(60)])
    _ingest(session, other.id, T0, [300 + _wiggle(i) for i in range(60)])
    ops.forecast_refit(session, force=True)
    fitted = {(r, d) for r, d in session.execute(select(RuleState.rule_id, RuleState.device_id))
              if r in (one.id, every.id)}
    assert fitted == {(one.id, cw["dev_a"].id), (every.id, cw["dev_a"].id), (every.id, other.id)}
    assert ops.forecast_coverage(session, session.get(Rule, one.id)) == {
        "key": "strain", "series": 1, "fitted": 1, "failed": 0, "waiting": 0, "names": ["主跨应变计 1"]}
    assert ops.forecast_coverage(session, session.get(Rule, every.id))["series"] == 2
    login(client, "t-operator")
    page = client.get(f"/ops/rules/{one.id}").text
    assert "本规则预测 1 条 应变 序列：已拟合 1，无法拟合 0，尚未拟合 0" in page and "主跨应变计 2" not in page
