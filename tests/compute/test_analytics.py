"""Forecast and anomaly built-ins on a real series: Box & Jenkins' monthly airline passengers, 1949–1960."""

from __future__ import annotations

import itertools
from typing import Any

import orjson
import pytest

from cityhub.compute.builtins.analytics import AnomalyScoring, Forecast
from cityhub.compute.builtins.base import BuiltinError, BuiltinRequest
from cityhub.compute.builtins.service import is_blocking
from tests.compute.helpers import published, subscribed

# International airline passengers, thousands per month (Box, Jenkins & Reinsel, series G)
AIRLINE = [112, 118, 132, 129, 121, 135, 148, 148, 136, 119, 104, 118, 115, 126, 141, 135, 125, 149, 170, 170, 158,
           133, 114, 140, 145, 150, 178, 163, 172, 178, 199, 199, 184, 162, 146, 166, 171, 180, 193, 181, 183, 218,
           230, 242, 209, 191, 172, 194, 196, 196, 236, 235, 229, 243, 264, 272, 237, 211, 180, 201, 204, 188, 235,
           227, 234, 264, 302, 293, 259, 229, 203, 229, 242, 233, 267, 269, 270, 315, 364, 347, 312, 274, 237, 278,
           284, 277, 317, 313, 318, 374, 413, 405, 355, 306, 271, 306, 315, 301, 356, 348, 355, 422, 465, 467, 404,
           347, 305, 336, 340, 318, 362, 348, 363, 435, 491, 505, 404, 359, 310, 337, 360, 342, 406, 396, 420, 472,
           548, 559, 463, 407, 362, 405, 417, 391, 419, 461, 472, 535, 622, 606, 508, 461, 390, 432]


def _post(plugin: Any, path: str, body: dict[str, Any]) -> dict[str, Any]:
    return dict(getattr(plugin, path)(BuiltinRequest("POST", path, body=orjson.dumps(body))))


@pytest.mark.parametrize("model", ["auto_ets", "auto_arima"])
def test_the_forecast_of_the_last_year_is_within_a_few_percent(model: str) -> None:
    train, actual = AIRLINE[:-12], AIRLINE[-12:]
    got = _post(Forecast(), "forecast", {"series": train, "horizon": 12, "season_length": 12, "model": model,
                                         "level": 95})
    assert len(got["mean"]) == len(got["lo"]) == len(got["hi"]) == 12
    mape = sum(abs(m - a) / a for m, a in zip(got["mean"], actual, strict=True)) / 12
    assert mape < 0.10, mape  # a seasonal naive forecast is off by about 10 % here
    inside = sum(lo <= a <= hi for lo, a, hi in zip(got["lo"], actual, got["hi"], strict=True))
    assert inside >= 9 and all(lo <= m <= hi for lo, m, hi in zip(got["lo"], got["mean"], got["hi"], strict=True))


def test_forecast_input_is_checked_field_by_field() -> None:
    f = Forecast()
    for body, field in (({"series": [1, 2]}, "series"), ({"series": [1] * 20 + ["x"]}, "series[20]"),
                        ({"series": AIRLINE, "horizon": 0}, "horizon"), ({"series": AIRLINE, "model": "x"}, "model"),
                        ({"series": AIRLINE[:20], "season_length": 12}, "season_length")):
        with pytest.raises(BuiltinError) as e:
            _post(f, "forecast", body)
        assert (e.value.status, e.value.field) == (422, field)
    assert is_blocking("forecast") and is_blocking("anomaly") and not is_blocking("noop")


def test_anomaly_scoring_flags_a_corrupted_month_of_the_airline_series() -> None:
    changes = [b - a for a, b in itertools.pairwise(AIRLINE)]  # month-over-month change
    corrupted = list(changes)
    corrupted[100] += 400  # a data-entry error: 400 thousand passengers too many
    points = [{"ts": f"m{i}", "value": v} for i, v in enumerate(corrupted)]
    got = _post(AnomalyScoring(), "score", {"series": points, "threshold": 0.999, "warmup": 12})
    assert 100 in got["anomalies"] and "m100" in got["anomaly_ts"]
    assert len(got["anomalies"]) <= 3 and len(got["scores"]) == len(points)
    clean = _post(AnomalyScoring(), "score", {"series": changes, "threshold": 0.999, "warmup": 12})
    assert 100 not in clean["anomalies"]


def test_forecast_through_the_gateway(client: Any, world: Any) -> None:
    comp = published(world, "fcst", builtin="forecast")
    _app, _sub, key = subscribed(world, comp)
    r = client.post("/hub/fcst/1.0.0/forecast", headers={"X-Api-Key": key},
                    json={"series": AIRLINE, "horizon": 3, "season_length": 12})
    assert r.status_code == 200 and len(r.json()["mean"]) == 3
    r = client.post("/hub/fcst/1.0.0/forecast", headers={"X-Api-Key": key}, json={"series": "x"})
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "series"


def test_forecast_and_anomaly_over_a_devices_stored_telemetry(client: Any, world: Any) -> None:
    """The built-ins read a device's stored series from the connect store, as the calling application's unit."""
    from datetime import UTC, datetime, timedelta

    from cityhub.connect import service as connect
    from cityhub.kit import clock
    from tests.connect.helpers import build_connect, message

    w = world
    cw = build_connect(w)
    t0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    recs: list[dict[str, Any]] = [{"ts": (t0 + timedelta(hours=i)).isoformat(), "values": {"strain": float(v)}}
                                  for i, v in enumerate(AIRLINE[:48])]
    recs[40]["values"]["strain"] = 2000.0  # one reading far off
    connect.ingest_messages(w.session, [message(cw["dev_a"].id, recs, clock.now())])
    stored = {"device_id": str(cw["dev_a"].id), "metric": "strain", "start": t0.isoformat(),
              "end": (t0 + timedelta(days=3)).isoformat()}
    score = published(w, "anom", builtin="anomaly", open_to_all=True)
    fcst = published(w, "fcst", builtin="forecast", open_to_all=True)
    _a, _s, key_a = subscribed(w, score, org="dept_a")  # the device's own unit
    _f, _s2, key_fa = subscribed(w, fcst, org="dept_a")
    r = client.post("/hub/anom/1.0.0/score", headers={"X-Api-Key": key_a}, json={**stored, "threshold": 0.99})
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["scores"]) == 48 and recs[40]["ts"].replace("+00:00", "") in " ".join(body["anomaly_ts"])
    r = client.post("/hub/fcst/1.0.0/forecast", headers={"X-Api-Key": key_fa}, json={**stored, "horizon": 4})
    assert r.status_code == 200 and len(r.json()["mean"]) == 4
    # another unit's application may not read dept A's device: the gateway's 404, naming the field
    _b, _s3, key_b = subscribed(w, score, org="dept_b")
    r = client.post("/hub/anom/1.0.0/score", headers={"X-Api-Key": key_b}, json=stored)
    assert r.status_code == 404 and r.json()["error"]["details"][0]["field"] == "device_id"
    # a range with too few points, and a bad time, name their fields
    r = client.post("/hub/fcst/1.0.0/forecast", headers={"X-Api-Key": key_fa},
                    json={**stored, "end": (t0 + timedelta(hours=3)).isoformat()})
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "series"
    r = client.post("/hub/anom/1.0.0/score", headers={"X-Api-Key": key_a}, json={**stored, "start": "yesterday"})
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "start"
