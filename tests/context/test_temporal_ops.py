"""The temporal API's POST query (`/temporal/entityOperations/query`: the answer of GET /temporal/entities with the
same parameters) and its attribute instance operations (PATCH / DELETE one instance by its instanceId, DELETE an
attribute's history): history only, the owner's writes, audited, nothing half-written, connect's devices refused."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from cityhub.context import service as context
from cityhub.context.models import ContextAttributeInstance
from cityhub.context.schemas import GrantCreate
from cityhub.core.models import AuditEntry
from tests.connect.helpers import build_connect
from tests.context.helpers import E, entity_body, headers, problem

T = "/ngsi-ld/v1/temporal/entities"
TQ = "/ngsi-ld/v1/temporal/entityOperations/query"
AQ = "urn:ngsi-ld:AirQualityObserved:ops1"
AQ2 = "urn:ngsi-ld:AirQualityObserved:ops2"
PREFIX = "urn:ngsi-ld:attribute:instance:"


def _observe(client: Any, h: dict[str, str], eid: str, value: float, at: str, **extra: Any) -> None:
    resp = client.patch(f"{E}/{eid}/attrs/pm25", json={"value": value, "observedAt": at, **extra}, headers=h)
    assert resp.status_code == 204, resp.text


def _history(client: Any, world: Any) -> dict[str, str]:
    """Two entities of dept A with pm25 observed at 08:00 (create), 09:00, 10:00 and 11:00."""
    h = headers(world, "org_member_a")
    for eid, base in ((AQ, 10), (AQ2, 50)):
        assert client.post(E, json=entity_body(eid, pm25=base), headers=h).status_code == 201
        for i, hour in enumerate(("09", "10", "11")):
            _observe(client, h, eid, base + 1 + i, f"2026-12-01T{hour}:00:00Z")
    return h


def _series(client: Any, h: dict[str, str], eid: str = AQ, attr: str = "pm25") -> list[dict[str, Any]]:
    resp = client.get(f"{T}/{eid}", params={"attrs": attr}, headers=h)
    assert resp.status_code == 200, resp.text
    out: list[dict[str, Any]] = resp.json().get(attr, [])
    return out


def _audits(world: Any, action: str) -> int:
    world.session.expire_all()
    return int(world.session.scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.action == action)) or 0)


# ---- POST /temporal/entityOperations/query


def test_post_query_answers_as_the_get(client: Any, world: Any) -> None:
    h = _history(client, world)
    cases: list[tuple[dict[str, Any], dict[str, Any]]] = [
        ({"type": "AirQualityObserved", "attrs": "pm25"},
         {"entities": [{"type": "AirQualityObserved"}], "attrs": ["pm25"]}),
        ({"id": AQ2, "attrs": "pm25", "timerel": "between", "timeAt": "2026-12-01T09:00:00Z",
          "endTimeAt": "2026-12-01T11:00:00Z"},
         {"entities": [{"id": AQ2, "type": "AirQualityObserved"}], "attrs": ["pm25"],
          "temporalQ": {"timerel": "between", "timeAt": "2026-12-01T09:00:00Z", "endTimeAt": "2026-12-01T11:00:00Z"}}),
        ({"type": "AirQualityObserved", "q": "pm25>20", "lastN": 2, "attrs": "pm25"},
         {"entities": [{"type": "AirQualityObserved"}], "q": "pm25>20", "attrs": ["pm25"],
          "temporalQ": {"lastN": 2}}),
        ({"idPattern": ".*ops1$", "type": "AirQualityObserved", "timerel": "before", "timeAt": "2026-12-01T10:00:00Z",
          "timeproperty": "observedAt"},
         {"entities": [{"idPattern": ".*ops1$", "type": "AirQualityObserved"}],
          "temporalQ": {"timerel": "before", "timeAt": "2026-12-01T10:00:00Z", "timeproperty": "observedAt"}}),
        ({"georel": "near;maxDistance==2000", "geometry": "Point", "coordinates": "[106.58,29.56]", "attrs": "pm25"},
         {"geoQ": {"georel": "near;maxDistance==2000", "geometry": "Point", "coordinates": [106.58, 29.56]},
          "attrs": ["pm25"]}),
    ]
    for get_params, body in cases:
        got = client.get(T, params={**get_params, "count": "true"}, headers=h)
        posted = client.post(TQ, params={"count": "true"}, json={"type": "Query", **body}, headers=h)
        assert got.status_code == posted.status_code == 200, (got.text, posted.text)
        assert posted.json() == got.json() and posted.json(), body
        assert posted.headers["NGSILD-Results-Count"] == got.headers["NGSILD-Results-Count"]
    # limit / offset / options as query parameters, as for the non-temporal POST query
    body = {"type": "Query", "entities": [{"type": "AirQualityObserved"}], "attrs": ["pm25"]}
    page = client.post(TQ, params={"limit": 1, "offset": 1, "count": "true", "options": "temporalValues"},
                       json=body, headers=h)
    assert page.status_code == 200 and page.headers["NGSILD-Results-Count"] == "2"
    assert [e["id"] for e in page.json()] == [AQ2]
    assert page.json()[0]["pm25"]["values"][0] == [50, "2026-12-01T08:00:00.000Z"]
    # lang in the body picks a language, as the lang parameter does
    named = client.post(TQ, json={"type": "Query", "entities": [{"id": AQ, "type": "AirQualityObserved"}],
                                  "attrs": ["name"], "lang": "en"}, headers=h).json()
    assert named[0]["name"][0]["value"] == "Jiefangbei"
    # aggregation as for the GET: options=aggregatedValues with aggrMethods
    aggr = client.post(TQ, params={"options": "aggregatedValues", "aggrMethods": "max"},
                       json={**body, "entities": [{"id": AQ, "type": "AirQualityObserved"}]}, headers=h)
    assert aggr.status_code == 200 and aggr.json()[0]["pm25"]["max"][0][0] == 13
    # another unit sees nothing of dept A's private entities
    other = client.post(TQ, json=body, headers=headers(world, "org_member_b"))
    assert other.status_code == 200 and other.json() == []


def test_post_query_refuses_what_is_not_a_query(client: Any, world: Any) -> None:
    h = _history(client, world)
    q = {"type": "Query", "entities": [{"type": "AirQualityObserved"}]}
    bad_bodies = [
        ([q], "type"), ({**q, "type": "Subscription"}, "type"), ({"type": "Query"}, "entities"),
        ({**q, "temporalQ": []}, "temporalQ"), ({**q, "temporalQ": {"lastN": 0}}, "lastN"),
        ({**q, "temporalQ": {"lastN": "2"}}, "lastN"),
        ({**q, "temporalQ": {"lastN": 10**30}}, "lastN"), ({**q, "temporalQ": {"timerel": "before"}}, "timeAt"),
        ({**q, "temporalQ": {"timerel": "around", "timeAt": "2026-12-01T09:00:00Z"}}, "timerel"),
        ({**q, "temporalQ": {"timerel": "after", "timeAt": "yesterday"}}, "timeAt"),
        ({**q, "temporalQ": {"timeproperty": "deletedAt"}}, "timeproperty"), ({**q, "attrs": "pm25"}, "attrs"),
        ({**q, "q": 5}, "q"), ({**q, "scopeQ": ["/a"]}, "scopeQ"), ({**q, "scopeQ": "a/b"}, "scopeQ"),
        ({**q, "geoQ": "near"}, "geoQ"), ({**q, "lang": 7}, "lang"),
    ]
    for body, field in bad_bodies:
        resp = client.post(TQ, json=body, headers=h)
        assert resp.status_code == 400, (body, resp.text)
        assert field in problem(resp)["detail"], (body, resp.json())
    mixed = client.post(TQ, json={"type": "Query", "entities": [{"id": AQ, "type": "A"}, {"idPattern": ".*",
                                                                                        "type": "A"}]}, headers=h)
    assert mixed.status_code == 422 and problem(mixed)["type"].endswith("OperationNotSupported")
    assert client.post(TQ, json=q, params={"limit": -1}, headers=h).status_code == 400
    assert client.post(TQ, content=b"{", headers={**h, "Content-Type": "application/json"}).status_code == 400


# ---- instanceId and the instance operations


def test_instances_carry_an_instance_id(client: Any, world: Any) -> None:
    h = _history(client, world)
    series = _series(client, h)
    ids = [i["instanceId"] for i in series]
    assert len(set(ids)) == 4 and all(i.startswith(PREFIX) for i in ids)
    assert _series(client, h) == series  # stable
    concise = client.get(f"{T}/{AQ}", params={"attrs": "pm25", "options": "concise"}, headers=h).json()
    assert [i["instanceId"] for i in concise["pm25"]] == ids
    values = client.get(f"{T}/{AQ}", params={"attrs": "pm25", "options": "temporalValues"}, headers=h).json()
    assert "instanceId" not in str(values)
    # the entity's current state is no temporal instance: no instanceId
    assert "instanceId" not in client.get(f"{E}/{AQ}", headers=h).json()["pm25"]
    lastn = client.get(f"{T}/{AQ}", params={"attrs": "pm25", "lastN": 1}, headers=h).json()
    assert lastn["pm25"][0]["instanceId"] == ids[-1]


def test_patch_an_instance(client: Any, world: Any) -> None:
    h = _history(client, world)
    before = _series(client, h)
    target = before[1]  # 09:00, value 11
    current = client.get(f"{E}/{AQ}", headers=h).json()
    url = f"{T}/{AQ}/attrs/pm25/{target['instanceId']}"
    resp = client.patch(url, json={"value": 99, "observedAt": "2026-12-01T09:30:00Z",
                                   "quality": {"type": "Property", "value": "checked"}}, headers=h)
    assert resp.status_code == 204, resp.text
    after = _series(client, h)
    changed = next(i for i in after if i["instanceId"] == target["instanceId"])
    assert changed["value"] == 99 and changed["observedAt"] == "2026-12-01T09:30:00.000Z"
    assert changed["quality"]["value"] == "checked" and changed["unitCode"] == "GQ"  # members not given are kept
    assert [i for i in after if i["instanceId"] != target["instanceId"]] == [
        i for i in before if i["instanceId"] != target["instanceId"]]
    # the time window and aggregation see the changed instance (its time and number columns follow)
    window = client.get(f"{T}/{AQ}", params={"attrs": "pm25", "timerel": "between", "timeAt": "2026-12-01T09:15:00Z",
                                              "endTimeAt": "2026-12-01T09:45:00Z"}, headers=h).json()
    assert [i["value"] for i in window["pm25"]] == [99]
    aggr = client.get(f"{T}/{AQ}", params={"attrs": "pm25", "options": "aggregatedValues", "aggrMethods": "max"},
                      headers=h).json()
    assert aggr["pm25"]["max"][0][0] == 99
    # the history only: the entity's current state is unchanged
    assert client.get(f"{E}/{AQ}", headers=h).json() == current
    # the {"<attr>": {...}} form, and the attribute's type kept when not given
    assert client.patch(url, json={"pm25": {"value": 98}}, headers=h).status_code == 204
    assert next(i for i in _series(client, h) if i["instanceId"] == target["instanceId"])["value"] == 98
    assert _audits(world, "context_temporal_instance_patch") == 2


def test_patch_an_instance_refused(client: Any, world: Any) -> None:
    h = _history(client, world)
    before = _series(client, h)
    iid = before[1]["instanceId"]
    other_attr = _series(client, h, attr="refDevice")[0]["instanceId"]
    other_entity = _series(client, h, eid=AQ2)[0]["instanceId"]
    url = f"{T}/{AQ}/attrs/pm25/{iid}"
    for body, field in [([1], "fragment"), ({}, "fragment"), ({"datasetId": "urn:ds:1", "value": 1}, "datasetId"),
                        ({"instanceId": f"{PREFIX}1", "value": 1}, "instanceId"),
                        ({"type": "Relationship"}, "pm25"), ({"type": "Unknown", "value": 1}, "pm25"),
                        ({"value": None}, "pm25"), ({"observedAt": "noon"}, "observedAt"), ({"a b": 1}, "a b")]:
        resp = client.patch(url, json=body, headers=h)
        assert resp.status_code == 400, (body, resp.text)
        assert field in problem(resp)["detail"], (body, problem(resp))
    assert client.patch(f"{T}/{AQ}/attrs/pm25/not a uri", json={"value": 1}, headers=h).status_code == 400
    missing = [f"{PREFIX}999999999", f"{PREFIX}x1", "urn:ngsi-ld:attribute:instance:00000000-0000-4000",
               f"{PREFIX}99999999999999999999999", other_entity]
    for unknown in missing:
        resp = client.patch(f"{T}/{AQ}/attrs/pm25/{unknown}", json={"value": 1}, headers=h)
        assert resp.status_code == 404 and problem(resp)["type"].endswith("ResourceNotFound"), unknown
    assert client.patch(f"{T}/{AQ}/attrs/pm25/{other_attr}", json={"value": 1}, headers=h).status_code == 404
    assert client.patch(f"{T}/{AQ}/attrs/no2/{iid}", json={"value": 1}, headers=h).status_code == 404
    assert client.patch(f"{T}/urn:ngsi-ld:X:none/attrs/pm25/{iid}", json={"value": 1}, headers=h).status_code == 404
    # who: another unit does not see it (404); a grant lets it read, not write (403); those who read all do not
    # write (403); anonymous callers log in first (401)
    assert client.patch(url, json={"value": 1}, headers=headers(world, "org_member_b")).status_code == 404
    context.grant_create(world.session, world.actors["org_admin_a"], GrantCreate(
        owner_org_id=world.orgs["dept_a"].id, grantee_org_id=world.orgs["dept_b"].id, entity_type=""))
    world.session.commit()
    assert client.get(f"{T}/{AQ}", headers=headers(world, "org_member_b")).status_code == 200
    assert client.patch(url, json={"value": 1}, headers=headers(world, "org_member_b")).status_code == 403
    assert client.patch(url, json={"value": 1}, headers=headers(world, "auditor")).status_code == 403
    assert client.patch(url, json={"value": 1}).status_code == 401
    assert client.delete(url, headers=headers(world, "org_member_b")).status_code == 403
    # nothing was written, nothing audited
    assert _series(client, h) == before
    assert _audits(world, "context_temporal_instance_patch") == 0
    assert _audits(world, "context_temporal_instance_delete") == 0


def test_delete_an_instance(client: Any, world: Any) -> None:
    h = _history(client, world)
    before = _series(client, h)
    gone = before[2]["instanceId"]
    assert client.delete(f"{T}/{AQ}/attrs/pm25/{gone}", headers=h).status_code == 204
    assert _series(client, h) == [i for i in before if i["instanceId"] != gone]
    again = client.delete(f"{T}/{AQ}/attrs/pm25/{gone}", headers=h)
    assert again.status_code == 404 and problem(again)["type"].endswith("ResourceNotFound")
    assert client.patch(f"{T}/{AQ}/attrs/pm25/{gone}", json={"value": 1}, headers=h).status_code == 404
    assert client.get(f"{E}/{AQ}", headers=h).json()["pm25"]["value"] == 13  # the entity keeps its state
    assert _audits(world, "context_temporal_instance_delete") == 1


def test_delete_an_attribute_history(client: Any, world: Any) -> None:
    h = _history(client, world)
    ds = "urn:ngsi-ld:dataset:b"
    assert client.post(f"{E}/{AQ}/attrs", json={"pm25": [{"type": "Property", "value": 1, "datasetId": ds,
                                                          "observedAt": "2026-12-01T12:00:00Z"}]},
                       headers=h).status_code == 204
    full = _series(client, h)
    assert len(full) == 6  # 4 default, and the append wrote both instances again (default and ds)
    # the default instances only
    assert client.delete(f"{T}/{AQ}/attrs/pm25", headers=h).status_code == 204
    assert {i.get("datasetId") for i in _series(client, h)} == {ds}
    missing = client.delete(f"{T}/{AQ}/attrs/pm25", headers=h)
    assert missing.status_code == 404 and problem(missing)["type"].endswith("ResourceNotFound")
    # a dataset's instances
    assert client.delete(f"{T}/{AQ}/attrs/pm25", params={"datasetId": ds}, headers=h).status_code == 204
    assert _series(client, h) == []
    assert client.delete(f"{T}/{AQ}/attrs/pm25", params={"datasetId": ds}, headers=h).status_code == 404
    # deleteAll: every instance of the attribute; other attributes and entities keep theirs
    assert client.delete(f"{T}/{AQ2}/attrs/pm25", params={"deleteAll": "true"}, headers=h).status_code == 204
    assert _series(client, h, eid=AQ2) == [] and _series(client, h, eid=AQ2, attr="refDevice")
    assert client.delete(f"{T}/{AQ2}/attrs/pm25", params={"deleteAll": "true"}, headers=h).status_code == 404
    assert client.delete(f"{T}/{AQ2}/attrs/pm25", params={"datasetId": "not a uri"}, headers=h).status_code == 400
    assert client.delete(f"{T}/{AQ2}/attrs/a%20b", headers=h).status_code == 400
    assert client.delete(f"{T}/urn:x:none/attrs/pm25", headers=h).status_code == 404
    # the entity itself is unchanged: its attribute's instances are still there
    assert [i["value"] for i in client.get(f"{E}/{AQ}", headers=h).json()["pm25"]] == [13, 1]
    assert _audits(world, "context_temporal_attr_delete") == 3
    # others
    assert client.delete(f"{T}/{AQ}/attrs/refDevice", headers=headers(world, "org_member_b")).status_code == 404
    assert client.delete(f"{T}/{AQ}/attrs/refDevice", headers=headers(world, "auditor")).status_code == 403
    assert client.delete(f"{T}/{AQ}/attrs/refDevice").status_code == 401
    assert len(_series(client, h, attr="refDevice")) == 1


def test_audit_rows_of_instance_operations(world: Any) -> None:
    from cityhub.context.jsonld import core

    w = world
    member = w.actors["org_member_a"]
    context.entity_create(w.session, member, entity_body("urn:au:t1"), core(), None)
    key = w.session.scalar(select(ContextAttributeInstance.id).where(ContextAttributeInstance.attr.like("%pm25")))
    iid = f"{PREFIX}{key}"
    context.instance_patch(w.session, member, "urn:au:t1", "pm25", iid, {"value": 2}, core(), None)
    context.instance_delete(w.session, member, "urn:au:t1", "pm25", iid, core(), None)
    context.temporal_attr_delete(w.session, member, "urn:au:t1", "refDevice", core(), None, delete_all=True)
    rows = w.session.scalars(select(AuditEntry).where(AuditEntry.target_id == "urn:au:t1")
                             .order_by(AuditEntry.at, AuditEntry.id)).all()
    assert [r.action for r in rows][1:] == ["context_temporal_instance_patch", "context_temporal_instance_delete",
                                            "context_temporal_attr_delete"]
    assert all(r.org_id == w.orgs["dept_a"].id for r in rows)


def test_device_history_is_not_editable(client: Any, world: Any) -> None:
    cw = build_connect(world)
    dev = f"urn:ngsi-ld:Device:{cw['dev_a'].id}"
    h = headers(world, "org_admin_a")
    for resp in (client.patch(f"{T}/{dev}/attrs/temperature/{PREFIX}1", json={"value": 1}, headers=h),
                 client.delete(f"{T}/{dev}/attrs/temperature/{PREFIX}1", headers=h),
                 client.delete(f"{T}/{dev}/attrs/temperature", headers=h)):
        assert resp.status_code == 422 and problem(resp)["type"].endswith("OperationNotSupported"), resp.text
