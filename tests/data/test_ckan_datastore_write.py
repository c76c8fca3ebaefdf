"""CKAN DataStore write actions (issue 20): datastore_create / _upsert / _delete through the Action API."""

from __future__ import annotations

from typing import Any

from cityhub.core import service as core
from cityhub.core.schemas import ApiTokenCreate
from cityhub.data import service
from tests.data.helpers import published_entry

A = "/api/3/action"
P1 = {"name": "张三", "id_number": "11010519491231002X", "phone": "13900001111", "gender": "男",
      "birth_date": "1949-12-31", "income": "100", "employed": "是"}
P2 = {**P1, "name": "李四", "id_number": "110105194912310037"}


def _hdr(world: Any, key: str) -> dict[str, str]:
    _t, raw = core.api_token_create(world.session, core.Actor.system("test"), world.users[key].id,
                                    ApiTokenCreate(name="ckan"))
    return {"Authorization": raw}


def test_create_upsert_delete_with_per_row_errors(client: Any, world: Any) -> None:
    entry = published_entry(world)
    a = _hdr(world, "org_member_a")
    r = client.post(f"{A}/datastore_create", headers=a, json={
        "resource": {"package_id": entry.name}, "fields": [{"id": "name"}, {"id": "id_number"}],
        "primary_key": ["id_number"], "records": [P1, P2]})
    assert r.status_code == 200, r.text
    rid = r.json()["result"]["resource_id"]
    assert r.json()["result"]["primary_key"] == ["id_number"]
    res = service.resource_list(world.session, world.actors["org_member_a"], entry.id)[0]
    assert str(res.id) == rid and res.row_count == 2
    up = client.post(f"{A}/datastore_upsert", headers=a, json={
        "resource_id": rid, "method": "upsert",
        "records": [{**P1, "name": "张三丰"}, {**P1, "name": "王五", "id_number": "11010519491231004X"}]})
    assert up.status_code == 200, up.text
    assert (up.json()["result"]["inserted"], up.json()["result"]["updated"]) == (1, 1)
    bad = client.post(f"{A}/datastore_upsert", headers=a, json={
        "resource_id": rid, "records": [{**P1, "birth_date": "someday"}, {**P2, "income": "lots"}]})
    assert bad.status_code == 409, bad.text  # CKAN's ValidationError, one entry per bad record and column
    text_ = bad.text
    assert "record 0, birth_date: not a date" in text_ and "record 1, income: not a number" in text_
    dup = client.post(f"{A}/datastore_upsert", headers=a, json={"resource_id": rid, "method": "insert",
                                                                "records": [P2]})
    assert dup.status_code == 409
    missing = client.post(f"{A}/datastore_upsert", headers=a, json={
        "resource_id": rid, "method": "update", "records": [{**P1, "id_number": "110105194912310053"}]})
    assert missing.status_code == 404
    world.session.refresh(res)
    assert res.row_count == 3  # nothing of the refused calls was written
    gone = client.post(f"{A}/datastore_delete", headers=a, json={"resource_id": rid,
                                                                 "filters": {"name": ["张三丰", "李四"]}})
    assert gone.status_code == 200 and gone.json()["result"]["deleted"] == 2
    info = client.post(f"{A}/datastore_info", headers=a, json={"id": rid}).json()["result"]
    assert info["meta"]["count"] == 1


def test_only_the_provider_writes(client: Any, world: Any) -> None:
    entry = published_entry(world)
    r = client.post(f"{A}/datastore_create", headers=_hdr(world, "org_member_a"), json={
        "resource": {"package_id": entry.name}, "primary_key": "id_number", "records": [P1]})
    rid = r.json()["result"]["resource_id"]
    for headers in (_hdr(world, "org_member_b"), {}):
        out = client.post(f"{A}/datastore_upsert", headers=headers, json={"resource_id": rid, "records": [P2]})
        assert out.status_code == 403, out.text
        assert client.post(f"{A}/datastore_delete", headers=headers,
                           json={"resource_id": rid}).status_code == 403
