"""The aggregated temporal representation (options=aggregatedValues), after the ETSI conformance suite's
TemporalEntity cases (aggrMethods each alone and together, aggrPeriodDuration, timerel windows, bad parameters),
on the broker's own history and on a connect device's telemetry."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cityhub.connect import service as connect
from cityhub.context.aggregate import Step, period
from cityhub.kit import clock
from tests.connect.helpers import build_connect, message
from tests.context.helpers import E, entity_body, headers, problem

T = "/ngsi-ld/v1/temporal/entities"
AQ = "urn:ngsi-ld:AirQualityObserved:aggr1"
# pm25 observed at 08:00 (the entity's own, 35.5) then 08:10 … 09:40 every 30 min
VALUES = [(f"2026-12-01T{h}:{m}:00Z", v) for (h, m), v in zip(
    [("08", "10"), ("08", "40"), ("09", "10"), ("09", "40")], [10.0, 20.0, 30.0, 50.0], strict=True)]


def _setup(client: Any, world: Any) -> dict[str, str]:
    h = headers(world, "org_member_a")
    assert client.post(E, json=entity_body(AQ, pm25=35.5), headers=h).status_code == 201
    body = {"pm25": [{"type": "Property", "value": v, "observedAt": at} for at, v in VALUES]}
    assert client.post(f"{T}/{AQ}/attrs", json=body, headers=h).status_code == 204
    return h


def _aggr(client: Any, h: dict[str, str], **params: Any) -> Any:
    resp = client.get(f"{T}/{AQ}", params={"options": "aggregatedValues", "attrs": "pm25", **params}, headers=h)
    assert resp.status_code == 200, resp.text
    return resp.json()["pm25"]


def test_each_method_over_hour_periods(client: Any, world: Any) -> None:
    h = _setup(client, world)
    window = {"timerel": "between", "timeAt": "2026-12-01T08:00:00Z", "endTimeAt": "2026-12-01T10:00:00Z",
              "aggrPeriodDuration": "PT1H"}
    got = _aggr(client, h, aggrMethods="totalCount,distinctCount,sum,avg,min,max,stddev,sumsq", **window)
    first, second = ("2026-12-01T08:00:00.000Z", "2026-12-01T09:00:00.000Z"), ("2026-12-01T09:00:00.000Z",
                                                                             "2026-12-01T10:00:00.000Z")
    assert got["type"] == "Property"
    # 08:00–09:00 holds 35.5 (08:00), 10, 20; 09:00–10:00 holds 30, 50
    assert got["totalCount"] == [[3, *first], [2, *second]]
    assert got["distinctCount"] == [[3, *first], [2, *second]]
    assert got["sum"] == [[65.5, *first], [80.0, *second]]
    assert got["min"] == [[10.0, *first], [30.0, *second]] and got["max"] == [[35.5, *first], [50.0, *second]]
    assert got["sumsq"] == [[35.5 ** 2 + 100 + 400, *first], [900 + 2500, *second]]
    assert got["avg"][1] == [40.0, *second] and math.isclose(got["avg"][0][0], 65.5 / 3)
    assert math.isclose(got["stddev"][1][0], 10.0)  # population standard deviation of 30 and 50
    # one method alone answers only that member
    only = _aggr(client, h, aggrMethods="max", **window)
    assert set(only) == {"type", "max"}


def test_whole_window_and_open_windows(client: Any, world: Any) -> None:
    h = _setup(client, world)
    whole = _aggr(client, h, aggrMethods="totalCount,avg")
    assert whole["totalCount"] == [[5, "2026-12-01T08:00:00.000Z", "2026-12-01T09:40:00.000Z"]]
    after = _aggr(client, h, aggrMethods="totalCount,max", timerel="after", timeAt="2026-12-01T09:00:00Z",
                  aggrPeriodDuration="PT0S")  # zero: the whole window
    assert after["totalCount"] == [[2, "2026-12-01T09:00:00.000Z", "2026-12-01T09:40:00.000Z"]]
    assert after["max"][0][0] == 50.0
    before = _aggr(client, h, aggrMethods="sum", timerel="before", timeAt="2026-12-01T08:30:00Z",
                   aggrPeriodDuration="PT15M")
    assert before["sum"] == [[45.5, "2026-12-01T08:00:00.000Z", "2026-12-01T08:15:00.000Z"]]  # 08:00 and 08:10
    # empty periods are left out: 15-minute periods from 08:00 hold 08:00 + 08:10, 08:40, 09:10, 09:40
    quarter = _aggr(client, h, aggrMethods="totalCount", aggrPeriodDuration="PT15M")
    assert [p[0] for p in quarter["totalCount"]] == [2, 1, 1, 1]
    assert [p[1][11:16] for p in quarter["totalCount"]] == ["08:00", "08:30", "09:00", "09:30"]
    # a query over temporal entities aggregates each entity
    q = client.get(T, params={"type": "AirQualityObserved", "attrs": "pm25", "options": "aggregatedValues",
                              "aggrMethods": "min"}, headers=h)
    assert q.status_code == 200 and q.json()[0]["pm25"]["min"][0][0] == 10.0


@pytest.mark.parametrize(("params", "field"), [
    ({}, "aggrMethods"),
    ({"aggrMethods": "median"}, "aggrMethods"),
    ({"aggrMethods": "sum", "aggrPeriodDuration": "1 hour"}, "aggrPeriodDuration"),
    ({"aggrMethods": "sum", "aggrPeriodDuration": "PT"}, "aggrPeriodDuration"),
])
def test_bad_aggregation_parameters(client: Any, world: Any, params: dict[str, str], field: str) -> None:
    h = _setup(client, world)
    resp = client.get(f"{T}/{AQ}", params={"options": "aggregatedValues", **params}, headers=h)
    assert resp.status_code == 400
    assert field in problem(resp)["detail"] and problem(resp)["type"].endswith("BadRequestData")


def test_durations() -> None:
    assert period("P1M") == Step(1, timedelta(0)) and period("P1Y2M") == Step(14, timedelta(0))
    assert period("P1W") == Step(0, timedelta(days=7)) and period("PT1.5S") == Step(0, timedelta(seconds=1.5))
    assert period("P1DT2H") == Step(0, timedelta(days=1, hours=2)) and period("P0D") is None
    jan31 = datetime(2026, 1, 31, tzinfo=UTC)
    assert Step(1, timedelta(0)).after(jan31) == datetime(2026, 2, 28, tzinfo=UTC)
    assert Step(12, timedelta(hours=1)).after(jan31) == datetime(2027, 1, 31, 1, tzinfo=UTC)


def test_device_telemetry_aggregated(client: Any, world: Any) -> None:
    cw = build_connect(world)
    dev = cw["dev_a"].id
    base = clock.now().replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    recs = [{"ts": (base + timedelta(minutes=20 * i)).isoformat(), "values": {"strain": float(i)}} for i in range(6)]
    assert connect.ingest_messages(world.session, [message(dev, recs, clock.now())]).stored == 6
    world.session.flush()
    resp = client.get(f"{T}/urn:ngsi-ld:Device:{dev}", params={
        "options": "aggregatedValues", "aggrMethods": "sum,totalCount", "aggrPeriodDuration": "PT1H",
        "timerel": "after", "timeAt": (base - timedelta(microseconds=1)).isoformat()},
        headers=headers(world, "org_member_a"))
    assert resp.status_code == 200, resp.text
    strain = resp.json()["strain"]
    assert [p[0] for p in strain["totalCount"]] == [3, 3] and [p[0] for p in strain["sum"]] == [3.0, 12.0]


@pytest.mark.parametrize(("step", "window"), [
    ("PT7M", {}),
    ("PT1H", {"timerel": "after", "timeAt": "2026-12-01T08:05:00Z"}),
    ("", {"timerel": "between", "timeAt": "2026-12-01T07:00:00Z", "endTimeAt": "2026-12-01T11:00:00Z"}),
    ("PT25M", {"timerel": "before", "timeAt": "2026-12-01T10:30:00Z"}),
])
def test_database_aggregation_agrees_with_the_definition(client: Any, world: Any, step: str,
                                                         window: dict[str, str]) -> None:
    """The GROUP BY of `aggrsql` answers exactly like `aggregate.aggregate` over the same instances, with
    numbers, strings, booleans and repeated values mixed, over each kind of window."""
    import random

    from cityhub.context.aggregate import METHODS, aggregate
    from cityhub.context.temporal import TemporalQuery, _bounds

    h = _setup(client, world)
    rnd = random.Random(7)
    mixed = [rnd.choice([rnd.randint(0, 5), round(rnd.uniform(-10, 10), 3), "high", True, False, 2.0])
             for _ in range(60)]
    body = {"pm25": [{"type": "Property", "value": v,
                      "observedAt": f"2026-12-01T{8 + i // 20:02d}:{(i * 3) % 60:02d}:{i % 7:02d}.{i:03d}Z"}
                     for i, v in enumerate(mixed)]}
    assert client.post(f"{T}/{AQ}/attrs", json=body, headers=h).status_code == 204
    got = _aggr(client, h, aggrMethods=",".join(METHODS), aggrPeriodDuration=step, **window)
    plain = client.get(f"{T}/{AQ}", params={"attrs": "pm25", **window}, headers=h)
    assert plain.status_code == 200
    tq = TemporalQuery(timerel=window.get("timerel"), time_at=window.get("timeAt"),
                       end_time_at=window.get("endTimeAt"))
    expected = aggregate(plain.json()["pm25"], list(METHODS), period(step), "observedAt", *_bounds(tq))
    assert got["type"] == expected["type"] == "Property"
    assert len(got["totalCount"]) > 1 or not step  # several periods, empty ones between
    # every attribute at once (the statement grouping by entity and attribute) answers pm25 the same
    every = client.get(f"{T}/{AQ}", params={"options": "aggregatedValues", "aggrMethods": ",".join(METHODS),
                                            "aggrPeriodDuration": step, **window}, headers=h)
    assert every.status_code == 200
    _same(every.json()["pm25"], got)
    _same(got, expected)


def _same(got: dict[str, Any], expected: dict[str, Any]) -> None:
    """Two aggregated representations agree: the same periods, values equal up to float summation order."""
    from cityhub.context.aggregate import METHODS

    for m in METHODS:
        assert len(got[m]) == len(expected[m]), m
        for (gv, *gt), (ev, *et) in zip(got[m], expected[m], strict=True):
            assert gt == et, m
            assert (gv is None and ev is None) or math.isclose(gv, ev, rel_tol=1e-9, abs_tol=1e-9), (m, gv, ev)
