"""The 大屏's forecasts (预判预警, issue 18): the most urgent forecast series of the rules the viewer sees, with its
path and band as a percentage of the threshold; series that could not be fitted are counted, not hidden."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from cityhub.connect import service as connect
from cityhub.connect.schemas import DeviceCreate
from cityhub.kit import clock
from cityhub.ops import schemas
from cityhub.ops import service as ops
from tests.connect.helpers import SYSTEM, build_connect, message
from tests.ops.helpers import T0, rule
from tests.web.test_pages import login

THRESHOLD = 500.0
NOISE = np.random.default_rng(5).normal(0, 3.0, 400)


def _ingest(session: Any, dev: Any, start: datetime, values: list[float]) -> None:
    clock.set_now(start + timedelta(minutes=len(values)))
    records = [{"ts": (start + timedelta(minutes=i)).isoformat(), "values": {"strain": v}}
               for i, v in enumerate(values)]
    connect.ingest_messages(session, [message(dev, records, clock.now())])


def test_the_screen_shows_the_most_urgent_forecasts_first(world: Any, session: Any, client: Any) -> None:
    cw = build_connect(world)
    rising = cw["dev_a"].id
    flat, _tok = connect.device_create(session, SYSTEM, DeviceCreate(
        name="主跨应变计 2", org_id=world.orgs["dept_a"].id, profile_code="bridge-health", asset_id=cw["span"].id))
    short, _tok = connect.device_create(session, SYSTEM, DeviceCreate(
        name="主跨应变计 3", org_id=world.orgs["dept_a"].id, profile_code="bridge-health", asset_id=cw["span"].id))
    rule(world, session, kind="forecast", name="应变预判",
         condition={"op": ">", "value": THRESHOLD, "horizon_s": 7200})
    empty = ops.dashboard_snapshot(session, world.actors["operator"])
    assert empty["forecasts"] == [] and empty["forecast_errors"] == 0
    _ingest(session, flat.id, T0, [300 + float(NOISE[i]) for i in range(120)])
    _ingest(session, short.id, T0, [100.0, 120.0, 900.0])  # too short to fit: an explicit error
    _ingest(session, rising, T0, [200 + 2.0 * i + float(NOISE[i]) for i in range(120)])
    ops.forecast_refit(session, force=True)
    _ingest(session, rising, T0 + timedelta(minutes=120), [442.0, 444.0])  # forecast to cross: fires

    snap = ops.dashboard_snapshot(session, world.actors["operator"])
    assert snap["forecast_errors"] == 1
    first, second = snap["forecasts"]
    assert (first["name"], first["active"], first["meets"]) == ("主跨应变计 1", True, True)
    assert (second["name"], second["active"], second["meets"]) == ("主跨应变计 2", False, False)
    assert first["rule"] == "应变预判" and first["threshold"] == THRESHOLD
    assert len(first["line"]) == 13 and first["line"][-1][1] > 100 > first["line"][0][1] > 80  # % of 500
    assert 55 < second["line"][-1][1] < 65  # flat at 300: 60 % of the threshold
    assert all(b >= 0 for _t, b in first["band"]) and first["band"][0][1] == 0  # the band widens from now
    schemas.DashboardSnapshot.model_validate(snap)  # what the stream sends
    # a unit that does not work on the rule's unit sees none of it
    assert ops.dashboard_snapshot(session, world.actors["org_member_b"])["forecasts"] == []

    login(client, "t-operator")
    page = client.get("/ops/screen").text
    assert 'data-testid="forecasts"' in page and "预判预警" in page
    data = json.loads(re.search(r'id="page-data">(.*?)</script>', page, re.S).group(1))  # type: ignore[union-attr]  # the screen carries its snapshot
    assert [f["name"] for f in data["snap"]["forecasts"]] == ["主跨应变计 1", "主跨应变计 2"]
    assert 'id="c-forecast"' in page and 'data-testid="scenario-line"' in page
