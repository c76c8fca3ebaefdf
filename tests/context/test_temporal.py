"""The temporal API: history written by every store write, read with timerel / lastN / temporalValues; temporal
entities created from instances of the past; visibility as for entities."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from cityhub.context.models import ContextAttributeInstance
from tests.context.helpers import E, entity_body, headers, problem

T = "/ngsi-ld/v1/temporal/entities"
OPS = "/ngsi-ld/v1/entityOperations"
AQ = "urn:ngsi-ld:AirQualityObserved:t1"


def _observe(client: Any, h: dict[str, str], value: float, at: str) -> None:
    resp = client.patch(f"{E}/{AQ}/attrs/pm25", json={"value": value, "observedAt": at}, headers=h)
    assert resp.status_code == 204, resp.text


def test_history_of_writes_and_temporal_reads(client: Any, world: Any) -> None:
    h = headers(world, "org_member_a")
    assert client.post(E, json=entity_body(AQ, pm25=10), headers=h).status_code == 201  # observed 08:00
    for i, hour in enumerate(("09", "10", "11")):
        _observe(client, h, 20 + i, f"2026-12-01T{hour}:00:00Z")
    got = client.get(f"{T}/{AQ}", params={"attrs": "pm25"}, headers=h)
    assert got.status_code == 200, got.text
    series = got.json()["pm25"]
    assert [i["value"] for i in series] == [10, 20, 21, 22]
    assert series[1]["observedAt"] == "2026-12-01T09:00:00.000Z" and series[0]["unitCode"] == "GQ"
    between = client.get(f"{T}/{AQ}", params={"attrs": "pm25", "timerel": "between",
                                                "timeAt": "2026-12-01T09:00:00Z", "endTimeAt": "2026-12-01T11:00:00Z"},
                         headers=h).json()
    assert [i["value"] for i in between["pm25"]] == [20, 21]
    before = client.get(f"{T}/{AQ}", params={"attrs": "pm25", "timerel": "before", "timeAt": "2026-12-01T09:00:00Z"},
                        headers=h).json()
    assert [i["value"] for i in before["pm25"]] == [10]
    after = client.get(f"{T}/{AQ}", params={"attrs": "pm25", "timerel": "after", "timeAt": "2026-12-01T09:00:00Z",
                                              "lastN": 2}, headers=h).json()
    assert [i["value"] for i in after["pm25"]] == [21, 22]
    values = client.get(f"{T}/{AQ}", params={"attrs": "pm25", "options": "temporalValues", "lastN": 2},
                        headers=h).json()
    assert values["pm25"] == {"type": "Property", "values": [[21, "2026-12-01T10:00:00.000Z"],
                                                              [22, "2026-12-01T11:00:00.000Z"]]}
    # every attribute of the created entity has its first instance; unwatched ones are not rewritten by a patch
    full = client.get(f"{T}/{AQ}", headers=h).json()
    assert len(full["refDevice"]) == 1 and full["refDevice"][0]["object"] == "urn:ngsi-ld:Device:7"
    assert full["id"] == AQ and full["type"] == "AirQualityObserved"
    # a query over temporal entities
    q = client.get(T, params={"type": "AirQualityObserved", "attrs": "pm25", "lastN": 1, "count": "true"},
                   headers=h)
    assert q.status_code == 200 and q.headers["NGSILD-Results-Count"] == "1"
    assert q.json()[0]["pm25"][0]["value"] == 22
    # others do not see it; deleting the entity deletes its history
    assert client.get(f"{T}/{AQ}", headers=headers(world, "org_member_b")).status_code == 404
    assert client.delete(f"{T}/{AQ}", headers=headers(world, "org_member_b")).status_code == 404
    assert client.delete(f"{T}/{AQ}", headers=h).status_code == 204
    assert client.get(f"{T}/{AQ}", headers=h).status_code == 404
    world.session.expire_all()
    assert world.session.scalar(select(func.count()).select_from(ContextAttributeInstance)) == 0


def test_temporal_entities_of_the_past(client: Any, world: Any) -> None:
    h = headers(world, "org_member_a")
    body = {"id": "urn:ngsi-ld:Parking:t2", "type": "Parking", "free": [
        {"type": "Property", "value": 5, "observedAt": "2026-11-30T10:00:00Z"},
        {"type": "Property", "value": 7, "observedAt": "2026-11-30T12:00:00Z"},
        {"type": "Property", "value": 6, "observedAt": "2026-11-30T11:00:00Z"}]}
    resp = client.post(T, json=body, headers=h)
    assert resp.status_code == 201 and resp.headers["location"] == f"{T}/urn:ngsi-ld:Parking:t2"
    assert client.get(f"{E}/urn:ngsi-ld:Parking:t2", headers=h).json()["free"]["value"] == 7  # the newest
    more = {"id": "urn:ngsi-ld:Parking:t2", "type": "Parking",
            "free": {"type": "Property", "value": 4, "observedAt": "2026-11-30T09:00:00Z"}}
    assert client.post(T, json=more, headers=h).status_code == 204
    assert client.post(f"{T}/urn:ngsi-ld:Parking:t2/attrs", json={"free": [
        {"type": "Property", "value": 3, "observedAt": "2026-11-30T08:00:00Z"}]}, headers=h).status_code == 204
    series = client.get(f"{T}/urn:ngsi-ld:Parking:t2", headers=h).json()["free"]
    assert [i["value"] for i in series] == [3, 4, 5, 6, 7]
    # the current state did not move back in time
    assert client.get(f"{E}/urn:ngsi-ld:Parking:t2", headers=h).json()["free"]["value"] == 7
    assert client.post(f"{T}/urn:ngsi-ld:Parking:t2/attrs", json={"free": [{"value": 1}]},
                       headers=headers(world, "org_member_b")).status_code == 404
    # every append to an existing entity's history is audited: who, which attributes, how many
    from sqlalchemy import select

    from cityhub.core.models import AuditEntry

    world.session.expire_all()
    rows = world.session.scalars(select(AuditEntry).where(AuditEntry.action == "context_temporal_append",
                                                          AuditEntry.target_id == "urn:ngsi-ld:Parking:t2")).all()
    assert [r.summary.get("instances") for r in rows] == [1, 1]
    assert all(r.actor_id == world.users["org_member_a"].id for r in rows)


def test_batch_upserts_keep_history(client: Any, world: Any) -> None:
    h = headers(world, "org_member_a")
    for v in (1, 2):
        client.post(f"{OPS}/upsert", json=[entity_body(AQ, pm25=v)], headers=h)
    series = client.get(f"{T}/{AQ}", params={"attrs": "pm25"}, headers=h).json()["pm25"]
    assert [i["value"] for i in series] == [1, 2]


def test_bad_temporal_parameters_are_400(client: Any, world: Any) -> None:
    h = headers(world, "org_member_a")
    client.post(E, json=entity_body(AQ), headers=h)
    for params, field in (({"timerel": "before"}, "timeAt"), ({"timerel": "during", "timeAt": "2026-12-01T00:00:00Z"},
                                                             "timerel"),
                          ({"timerel": "between", "timeAt": "2026-12-01T00:00:00Z"}, "endTimeAt"),
                          ({"timeAt": "2026-12-01T00:00:00Z"}, "timerel"), ({"lastN": 0}, "lastN"),
                          ({"timerel": "after", "timeAt": "yesterday"}, "timeAt"),
                          ({"timeproperty": "deletedAt"}, "timeproperty")):
        resp = client.get(f"{T}/{AQ}", params=params, headers=h)
        assert resp.status_code == 400, (params, resp.text)
        assert field in problem(resp)["detail"], (params, problem(resp))
    assert client.post(T, json={"id": "not a uri", "type": "X"}, headers=h).status_code == 400
    assert client.get(T, headers=h).status_code == 400


def test_truncated_history_is_206_with_its_time_range(client: Any, world: Any,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """More instances than the cap: 206 Partial Content, `Content-Range: date-time <first>-<last>/*` covering every
    instance up to <last> in time order across attributes; `timerel=after&timeAt=<last>` is the next page."""
    from cityhub.context import temporal

    h = headers(world, "org_member_a")
    eid = "urn:ngsi-ld:AirQualityObserved:page1"
    assert client.post(E, json=entity_body(eid), headers=h).status_code == 201  # pm25 at 08:00 (and other attrs)
    body = {"pm25": [{"type": "Property", "value": i, "observedAt": f"2026-12-01T09:{i:02d}:00Z"} for i in range(6)],
            "no2": [{"type": "Property", "value": i, "observedAt": f"2026-12-01T09:{i:02d}:30Z"} for i in range(6)]}
    assert client.post(f"{T}/{eid}/attrs", json=body, headers=h).status_code == 204
    monkeypatch.setattr(temporal, "MAX_INSTANCES", 5)
    window = {"attrs": "pm25,no2", "timerel": "after", "timeAt": "2026-12-01T08:30:00Z"}
    first = client.get(f"{T}/{eid}", params=window, headers=h)
    assert first.status_code == 206
    assert first.headers["content-range"] == "date-time 2026-12-01T08:30:00.000Z-2026-12-01T09:02:00.000Z/*"  # timeAt
    got = first.json()
    assert [i["value"] for i in got["pm25"]] == [0, 1, 2] and [i["value"] for i in got["no2"]] == [0, 1]
    rest = client.get(f"{T}/{eid}", params={**window, "timeAt": "2026-12-01T09:02:00Z"}, headers=h)
    assert rest.status_code == 206 and rest.json()["no2"][0]["value"] == 2
    monkeypatch.setattr(temporal, "MAX_INSTANCES", 100)
    whole = client.get(f"{T}/{eid}", params=window, headers=h)
    assert whole.status_code == 200 and "content-range" not in whole.headers
    assert len(whole.json()["pm25"]) == 6 and len(whole.json()["no2"]) == 6


def test_truncated_query_history_is_206_across_entities(client: Any, world: Any,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A temporal query over several entities: one page in time order across them (it was cut silently at the cap,
    entity by entity), 206 with the range; every instance of every entity up to <last> is in it; the next page."""
    from cityhub.context import temporal

    h = headers(world, "org_member_a")
    ids = ["urn:ngsi-ld:AirQualityObserved:qa", "urn:ngsi-ld:AirQualityObserved:qb"]
    for n, eid in enumerate(ids):
        assert client.post(E, json=entity_body(eid), headers=h).status_code == 201
        body = {"pm25": [{"type": "Property", "value": 10 * n + i, "observedAt": f"2026-12-01T09:{i:02d}:{n}0Z"}
                         for i in range(4)]}
        assert client.post(f"{T}/{eid}/attrs", json=body, headers=h).status_code == 204
    monkeypatch.setattr(temporal, "MAX_INSTANCES", 5)
    query = {"type": "AirQualityObserved", "attrs": "pm25", "timerel": "after", "timeAt": "2026-12-01T08:30:00Z"}
    first = client.get(T, params=query, headers=h)
    assert first.status_code == 206, first.text
    assert first.headers["content-range"] == "date-time 2026-12-01T08:30:00.000Z-2026-12-01T09:02:00.000Z/*"  # timeAt
    got = {e["id"]: [i["value"] for i in e["pm25"]] for e in first.json()}
    assert got == {ids[0]: [0, 1, 2], ids[1]: [10, 11]}  # both entities up to 09:02:00, none after
    rest = client.get(T, params={**query, "timeAt": "2026-12-01T09:02:00Z"}, headers=h)
    assert rest.status_code == 200 and "content-range" not in rest.headers
    got = {e["id"]: [i["value"] for i in e.get("pm25", [])] for e in rest.json()}
    assert got == {ids[0]: [3], ids[1]: [12, 13]}
