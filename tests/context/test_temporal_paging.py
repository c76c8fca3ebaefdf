"""206 Partial Content for lastN (paged backwards) and for connect's devices (their telemetry paged like the broker's
own history, alone or merged with stored entities in one query): clause 6.3.10, `context/timeline.py`."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from cityhub.connect import service as connect
from cityhub.context import entities as ent
from cityhub.context import temporal
from cityhub.kit import clock
from tests.connect.helpers import build_connect, message
from tests.context.helpers import E, entity_body, headers

T = "/ngsi-ld/v1/temporal/entities"


@pytest.fixture
def cw(world: Any) -> Any:
    return build_connect(world)


def _values(entity: dict[str, Any], attr: str) -> list[Any]:
    return [i["value"] for i in entity.get(attr, [])]


def _entity_with_history(client: Any, h: dict[str, str], eid: str, **series: list[tuple[Any, str]]) -> None:
    assert client.post(E, json=entity_body(eid), headers=h).status_code == 201
    body = {attr: [{"type": "Property", "value": v, "observedAt": at} for v, at in points]
            for attr, points in series.items()}
    assert client.post(f"{T}/{eid}/attrs", json=body, headers=h).status_code == 204


def test_last_n_pages_backwards(client: Any, world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """lastN over more instances than the cap: 206, newest first across attributes, `<newest>-<oldest>/<lastN>`;
    `timerel=before&timeAt=<oldest>` is the page before; lastN within the cap is the whole answer (200)."""
    h = headers(world, "org_member_a")
    eid = "urn:ngsi-ld:AirQualityObserved:back1"
    _entity_with_history(client, h, eid,
                         pm25=[(i, f"2026-12-01T09:{i:02d}:00Z") for i in range(6)],
                         no2=[(i, f"2026-12-01T09:{i:02d}:30Z") for i in range(6)])
    monkeypatch.setattr(temporal, "MAX_INSTANCES", 5)
    first = client.get(f"{T}/{eid}", params={"attrs": "pm25,no2", "lastN": 4}, headers=h)
    assert first.status_code == 206, first.text
    assert first.headers["content-range"] == "date-time 2026-12-01T09:05:30.000Z-2026-12-01T09:03:30.000Z/4"
    got = first.json()
    assert _values(got, "pm25") == [4, 5] and _values(got, "no2") == [3, 4, 5]  # oldest first in each attribute
    before = client.get(f"{T}/{eid}", params={"attrs": "pm25,no2", "lastN": 4, "timerel": "before",
                                                "timeAt": "2026-12-01T09:03:30Z"}, headers=h)
    assert before.status_code == 206
    assert before.headers["content-range"] == "date-time 2026-12-01T09:03:30.000Z-2026-12-01T09:01:00.000Z/4"  # timeAt
    assert _values(before.json(), "pm25") == [1, 2, 3] and _values(before.json(), "no2") == [1, 2]
    # temporalValues pages the same way
    simple = client.get(f"{T}/{eid}", params={"attrs": "pm25,no2", "lastN": 4, "options": "temporalValues"},
                        headers=h)
    assert simple.status_code == 206 and [v[0] for v in simple.json()["pm25"]["values"]] == [4, 5]
    # lastN is the limit: 2 + 2 instances fit the cap, nothing is cut
    small = client.get(f"{T}/{eid}", params={"attrs": "pm25,no2", "lastN": 2}, headers=h)
    assert small.status_code == 200 and "content-range" not in small.headers
    assert _values(small.json(), "pm25") == [4, 5] and _values(small.json(), "no2") == [4, 5]
    # every attribute had its last N before the cap came near: a 200 with all of them
    monkeypatch.setattr(temporal, "MAX_INSTANCES", 100)
    whole = client.get(f"{T}/{eid}", params={"attrs": "pm25,no2", "lastN": 4}, headers=h)
    assert whole.status_code == 200 and _values(whole.json(), "pm25") == [2, 3, 4, 5]


def test_last_n_across_entities_keeps_an_instant_whole(client: Any, world: Any,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A temporal query with lastN: each entity's last N (not the first entities' only), one page newest first;
    instances at the page's oldest instant are not split between pages."""
    h = headers(world, "org_member_a")
    ids = ["urn:ngsi-ld:AirQualityObserved:ba", "urn:ngsi-ld:AirQualityObserved:bb"]
    for n, eid in enumerate(ids):
        _entity_with_history(client, h, eid, pm25=[(10 * n + i, f"2026-12-01T09:0{i}:00Z") for i in range(4)])
    monkeypatch.setattr(temporal, "MAX_INSTANCES", 5)
    query = {"type": "AirQualityObserved", "attrs": "pm25", "lastN": 3}
    first = client.get(T, params=query, headers=h)
    assert first.status_code == 206, first.text
    assert first.headers["content-range"] == "date-time 2026-12-01T09:03:00.000Z-2026-12-01T09:02:00.000Z/3"
    assert {e["id"]: _values(e, "pm25") for e in first.json()} == {ids[0]: [2, 3], ids[1]: [12, 13]}
    rest = client.get(T, params={**query, "timerel": "before", "timeAt": "2026-12-01T09:02:00Z"}, headers=h)
    # each entity's last 3 before 09:02 include its first instance (08:00, from its creation): 6 again, and the
    # two at 08:00 go whole to the next page
    assert rest.status_code == 206
    assert rest.headers["content-range"] == "date-time 2026-12-01T09:02:00.000Z-2026-12-01T09:00:00.000Z/3"  # timeAt
    assert {e["id"]: _values(e, "pm25") for e in rest.json()} == {ids[0]: [0, 1], ids[1]: [10, 11]}
    oldest = client.get(T, params={**query, "timerel": "before", "timeAt": "2026-12-01T09:00:00Z"}, headers=h)
    assert oldest.status_code == 200 and "content-range" not in oldest.headers
    assert {e["id"]: _values(e, "pm25") for e in oldest.json()} == {ids[0]: [35.5], ids[1]: [35.5]}
    # with a larger cap, each entity has its own last N (the cap once cut whole entities off)
    monkeypatch.setattr(temporal, "MAX_INSTANCES", 100)
    whole = client.get(T, params=query, headers=h)
    assert {e["id"]: _values(e, "pm25") for e in whole.json()} == {ids[0]: [1, 2, 3], ids[1]: [11, 12, 13]}


def _ingest(world: Any, device_id: Any, at: datetime, **values: float) -> None:
    r = connect.ingest_messages(world.session, [message(device_id, {"ts": at.isoformat(), "values": values},
                                                        clock.now())])
    assert r.stored == len(values), r
    world.session.flush()


def test_device_history_pages_forwards_and_backwards(client: Any, world: Any, cw: Any,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A device's telemetry over the cap: 206 with the same ranges as stored history, forwards and with lastN."""
    dev = cw["dev_a"]
    eid = f"urn:ngsi-ld:Device:{dev.id}"
    h = headers(world, "org_member_a")
    base = clock.now().replace(microsecond=123456) - timedelta(minutes=60)
    times = [base + timedelta(minutes=10 * i) for i in range(4)]
    for i, at in enumerate(times):
        _ingest(world, dev.id, at, strain=100.0 + i, temperature=20.0 + i)
    text = [ent.time_text(t) for t in times]
    monkeypatch.setattr(temporal, "MAX_INSTANCES", 5)
    params = {"attrs": "strain,temperature"}
    first = client.get(f"{T}/{eid}", params=params, headers=h)
    assert first.status_code == 206, first.text
    # five instances would split the third instant: the page ends at the second, whole
    assert first.headers["content-range"] == f"date-time {text[0]}-{text[1]}/*"
    assert _values(first.json(), "strain") == [100.0, 101.0] and _values(first.json(), "temperature") == [20.0, 21.0]
    nxt = client.get(f"{T}/{eid}", params={**params, "timerel": "after", "timeAt": text[1]}, headers=h)
    assert nxt.status_code == 200 and "content-range" not in nxt.headers  # strictly after the shown millisecond
    assert _values(nxt.json(), "strain") == [102.0, 103.0] and _values(nxt.json(), "temperature") == [22.0, 23.0]
    back = client.get(f"{T}/{eid}", params={**params, "lastN": 3}, headers=h)
    assert back.status_code == 206
    assert back.headers["content-range"] == f"date-time {text[3]}-{text[2]}/3"
    assert _values(back.json(), "strain") == [102.0, 103.0]
    earlier = client.get(f"{T}/{eid}", params={**params, "lastN": 3, "timerel": "before", "timeAt": text[2]},
                         headers=h)
    assert earlier.status_code == 200 and _values(earlier.json(), "temperature") == [20.0, 21.0]
    # within the cap: a 200 without a range
    one = client.get(f"{T}/{eid}", params={"attrs": "strain", "lastN": 2}, headers=h)
    assert one.status_code == 200 and "content-range" not in one.headers
    assert _values(one.json(), "strain") == [102.0, 103.0]
    # others still do not see the device
    assert client.get(f"{T}/{eid}", params=params, headers=headers(world, "org_member_b")).status_code == 404


def test_query_pages_devices_and_stored_entities_together(client: Any, world: Any, cw: Any,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A temporal query selecting a device and a stored entity: one page in time order across both (the device is
    cut to the page's range like the stored entity); the next page holds the rest of both."""
    dev = cw["dev_a"]
    device = f"urn:ngsi-ld:Device:{dev.id}"
    stored = "urn:ngsi-ld:Device:zz"
    h = headers(world, "org_admin_a")
    base = clock.now().replace(microsecond=0) - timedelta(minutes=60)
    for i in range(4):
        _ingest(world, dev.id, base + timedelta(minutes=10 * i), strain=100.0 + i)
    body = {"id": stored, "type": "Device", "strain": [
        {"type": "Property", "value": float(i), "observedAt": ent.time_text(base + timedelta(minutes=10 * i + 5))}
        for i in range(3)]}
    assert client.post(T, json=body, headers=h).status_code == 201  # the newest is its current strain
    monkeypatch.setattr(temporal, "MAX_INSTANCES", 5)
    query = {"type": "Device", "attrs": "strain"}
    first = client.get(T, params=query, headers=h)
    assert first.status_code == 206, first.text
    last = ent.time_text(base + timedelta(minutes=20))
    assert first.headers["content-range"] == f"date-time {ent.time_text(base)}-{last}/*"
    got = {e["id"]: _values(e, "strain") for e in first.json()}
    assert got == {device: [100.0, 101.0, 102.0], stored: [0.0, 1.0]}
    rest = client.get(T, params={**query, "timerel": "after", "timeAt": last}, headers=h)
    assert rest.status_code == 200, rest.text
    assert {e["id"]: _values(e, "strain") for e in rest.json()} == {device: [103.0], stored: [2.0]}
    # lastN across both: newest first
    back = client.get(T, params={**query, "lastN": 2}, headers=h)
    assert back.status_code == 200  # 2 + 2 within the cap
    assert {e["id"]: _values(e, "strain") for e in back.json()} == {device: [102.0, 103.0], stored: [1.0, 2.0]}
    # a device selected with timeproperty other than observedAt is still a 400 naming it
    bad = client.get(T, params={**query, "timeproperty": "modifiedAt"}, headers=h)
    assert bad.status_code == 400 and "timeproperty" in bad.json()["detail"]
