"""The CKAN Action API: envelope, errors, package/organization/group/tag reads, search with fq and facets."""

from __future__ import annotations

import json
from typing import Any

from cityhub.data import service
from tests.data.helpers import published_entry
from tests.data.portal_helpers import MASKED_COLUMNS, OPEN_COLUMNS, open_entry

A = "/api/3/action"


def _open_world(world: Any) -> dict[str, Any]:
    e1, r1 = open_entry(world, "户籍人口统计")
    e2, _r2 = open_entry(world, "企业登记信息", open_type="conditional", rows=False, tags=["企业"])
    secret = published_entry(world, title="不动产登记明细")  # 不予开放 (open_type none)
    draft = service.catalog_entry_create(world.session, world.actors["org_member_a"],
                                         __import__("tests.data.helpers", fromlist=["entry_data"]).entry_data(
                                             world, title="草稿开放数据", open_type="unconditional",
                                             share_type="unconditional"))
    world.session.flush()
    return {"open": e1, "res": r1, "cond": e2, "secret": secret, "draft": draft}


def test_envelope_help_and_both_prefixes(client: Any, world: Any) -> None:
    for prefix in ("/api/3/action", "/api/action"):
        r = client.get(f"{prefix}/status_show")
        assert r.status_code == 200
        body = r.json()
        assert body["success"] is True
        assert body["help"].endswith("/api/3/action/help_show?name=status_show")
        assert body["result"]["ckan_version"].startswith("2.")
    assert client.get("/api/3").json() == {"version": 3}


def test_unknown_action_and_bad_json_are_400(client: Any, world: Any) -> None:
    r = client.get(f"{A}/no_such_action")
    assert r.status_code == 400
    assert r.json()["success"] is False and "no_such_action" in r.json()["error"]["message"]
    r = client.post(f"{A}/package_search", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "JSON" in r.json()["error"]["message"]


def test_package_show_by_id_and_name_and_private_is_404(client: Any, world: Any) -> None:
    w = _open_world(world)
    e = w["open"]
    by_id = client.get(f"{A}/package_show", params={"id": str(e.id)}).json()["result"]
    by_name = client.get(f"{A}/package_show", params={"id": e.name}).json()["result"]
    assert by_id == by_name
    assert by_id["name"] == e.name and by_id["title"] == e.title and by_id["notes"] == e.abstract
    assert by_id["owner_org"] == str(world.orgs["dept_a"].id)
    assert by_id["organization"]["name"] == world.orgs["dept_a"].code
    assert by_id["private"] is False and by_id["state"] == "active" and by_id["license_id"] == "cc-by-4.0"
    assert by_id["num_resources"] == 1 and by_id["resources"][0]["datastore_active"] is True
    assert {t["name"] for t in by_id["tags"]} == {"人口", "统计"} and by_id["num_tags"] == 2
    assert {x["key"]: x["value"] for x in by_id["extras"]}["resource_code"] == e.code
    for hidden in (w["secret"], w["draft"]):
        r = client.get(f"{A}/package_show", params={"id": str(hidden.id)})
        assert r.status_code == 404
        assert r.json()["error"]["__type"] == "Not Found Error" and r.json()["success"] is False
    # a department user sees the 不予开放 entry as private through the same action
    r = client.get(f"{A}/package_show", params={"id": str(w["secret"].id)}, headers=world.headers("org_member_b"))
    assert r.status_code == 200 and r.json()["result"]["private"] is True


def test_post_json_body_equals_get(client: Any, world: Any) -> None:
    _open_world(world)
    get = client.get(f"{A}/package_search", params={"q": "人口", "facet.field": '["organization"]'}).json()
    post = client.post(f"{A}/package_search", json={"q": "人口", "facet.field": ["organization"]}).json()
    assert get["result"]["count"] == post["result"]["count"] == 2  # both abstracts speak of 人口
    assert get["result"]["facets"] == post["result"]["facets"]


def test_package_search_open_catalog_only_with_facets(client: Any, world: Any) -> None:
    w = _open_world(world)
    r = client.get(f"{A}/package_search", params={"facet.field": json.dumps(["organization", "tags", "license_id"]),
                                                  "rows": 10}).json()["result"]
    names = {p["name"] for p in r["results"]}
    assert names == {w["open"].name, w["cond"].name}
    assert r["count"] == 2
    code = world.orgs["dept_a"].code
    assert r["facets"]["organization"] == {code: 2}
    assert r["facets"]["license_id"] == {"cc-by-4.0": 1, "cityhub-conditional": 1}
    assert r["facets"]["tags"]["人口"] == 1 and "企业" in r["facets"]["tags"]
    items = r["search_facets"]["organization"]["items"]
    assert items == [{"name": code, "display_name": world.orgs["dept_a"].name, "count": 2}]
    # 不予开放 and drafts never counted, whatever the filter
    secret_hits = client.get(f"{A}/package_search", params={"q": "不动产"}).json()["result"]
    assert secret_hits["count"] == 0 and secret_hits["results"] == []


def test_package_search_fq_terms_rows_start_sort(client: Any, world: Any) -> None:
    w = _open_world(world)
    code = world.orgs["dept_a"].code
    r = client.get(f"{A}/package_search", params={"fq": f"organization:{code} +license_id:cityhub-conditional"})
    assert [p["name"] for p in r.json()["result"]["results"]] == [w["cond"].name]
    r = client.get(f"{A}/package_search", params={"fq": "-tags:企业"}).json()["result"]
    assert [p["name"] for p in r["results"]] == [w["open"].name]
    r = client.get(f"{A}/package_search", params={"fq": 'tags:("人口" OR "企业")', "sort": "name asc",
                                                  "rows": 1, "start": 1}).json()["result"]
    assert r["count"] == 2 and len(r["results"]) == 1
    assert r["results"][0]["name"] == sorted([w["open"].name, w["cond"].name])[1]
    r = client.get(f"{A}/package_search", params={"fq": "metadata_modified:[2000-01-01T00:00:00Z TO *]"})
    assert r.json()["result"]["count"] == 2
    r = client.get(f"{A}/package_search", params={"fq": "metadata_modified:[* TO 2000-01-01T00:00:00Z]"})
    assert r.json()["result"]["count"] == 0
    r = client.get(f"{A}/package_search", params={"q": f"name:{w['open'].name}"})
    assert r.json()["result"]["count"] == 1


def test_malformed_search_parameters_are_409_naming_the_parameter(client: Any, world: Any) -> None:
    _open_world(world)
    cases = [({"fq": "nosuchfield:1"}, "fq"), ({"fq": "organization:"}, "fq"), ({"fq": "just words"}, "fq"),
             ({"fq": "metadata_modified:[yesterday TO *]"}, "fq"), ({"sort": "bogus desc"}, "sort"),
             ({"rows": "ten"}, "rows"), ({"rows": "5000"}, "rows"), ({"start": "-1"}, "start"),
             ({"facet.field": "organization"}, "facet.field"), ({"facet.field": '{"a": 1}'}, "facet.field")]
    for params, name in cases:
        r = client.get(f"{A}/package_search", params=params)
        assert r.status_code == 409, (params, r.text)
        err = r.json()["error"]
        assert err["__type"] == "Validation Error" and name in err, (params, err)


def test_lists_organizations_groups_tags_licenses(client: Any, world: Any) -> None:
    w = _open_world(world)
    names = client.get(f"{A}/package_list").json()["result"]
    assert set(names) == {w["open"].name, w["cond"].name}
    orgs = client.get(f"{A}/organization_list", params={"all_fields": "true", "sort": "package_count desc"})
    first = orgs.json()["result"][0]
    assert first["name"] == world.orgs["dept_a"].code and first["package_count"] == 2
    assert world.orgs["dept_a"].code in client.get(f"{A}/organization_list").json()["result"]
    show = client.get(f"{A}/organization_show", params={"id": world.orgs["dept_a"].code,
                                                        "include_datasets": "true"}).json()["result"]
    assert show["package_count"] == 2 and {p["name"] for p in show["packages"]} == names_set(w)
    assert client.get(f"{A}/organization_show", params={"id": "nope"}).status_code == 404
    groups = client.get(f"{A}/group_list", params={"all_fields": True}).json()["result"]
    assert {"name": "population", "package_count": 2}.items() <= groups[0].items()
    g = client.get(f"{A}/group_show", params={"id": "population", "include_datasets": True}).json()["result"]
    assert g["package_count"] == 2 and len(g["packages"]) == 2
    tags = client.get(f"{A}/tag_list").json()["result"]
    assert set(tags) == {"人口", "统计", "企业"}
    assert client.get(f"{A}/tag_list", params={"query": "企"}).json()["result"] == ["企业"]
    lic = client.get(f"{A}/license_list").json()["result"]
    assert {x["id"] for x in lic} >= {"cc-by-4.0", "cityhub-conditional"}
    recent = client.get(f"{A}/current_package_list_with_resources", params={"limit": 5}).json()["result"]
    assert {p["name"] for p in recent} == names_set(w)


def names_set(w: dict[str, Any]) -> set[str]:
    return {w["open"].name, w["cond"].name}


def test_resource_show_search_activity_and_datastore_info(client: Any, world: Any) -> None:
    w = _open_world(world)
    rid = str(w["res"].id)
    res = client.get(f"{A}/resource_show", params={"id": rid}).json()["result"]
    assert res["package_id"] == str(w["open"].id) and res["url"].endswith(f"/datastore/dump/{rid}")
    found = client.get(f"{A}/resource_search", params={"query": "format:CSV"}).json()["result"]
    assert found["count"] == 1 and found["results"][0]["id"] == rid
    assert client.get(f"{A}/resource_search", params={"query": "bogus"}).status_code == 409
    act = client.get(f"{A}/package_activity_list", params={"id": w["open"].name}).json()["result"]
    assert act[0]["activity_type"] == "new package" and act[0]["object_id"] == str(w["open"].id)
    info = client.get(f"{A}/datastore_info", params={"id": rid}).json()["result"]
    assert info["meta"]["count"] == 3
    assert [f["id"] for f in info["fields"]] == OPEN_COLUMNS  # masked items are not even described


def test_datastore_search_open_rows_never_masked_columns(client: Any, world: Any) -> None:
    w = _open_world(world)
    rid = str(w["res"].id)
    r = client.get(f"{A}/datastore_search", params={"resource_id": rid}).json()["result"]
    assert r["total"] == 3 and len(r["records"]) == 3
    assert [f["id"] for f in r["fields"]] == ["_id", *OPEN_COLUMNS]
    for rec in r["records"]:
        assert not set(rec) & set(MASKED_COLUMNS)
    assert "张三" not in json.dumps(r, ensure_ascii=False)
    r = client.post(f"{A}/datastore_search", json={"resource_id": rid, "filters": {"gender": "女"},
                                                   "sort": "birth_date desc", "limit": 1}).json()["result"]
    assert r["total"] == 2 and r["records"][0]["birth_date"] == "2000-12-12"
    for params, name in [({"filters": '{"name": "张三"}'}, "filters"), ({"filters": "[1]"}, "filters"),
                         ({"sort": "phone"}, "sort"), ({"fields": "id_number"}, "fields")]:
        r = client.get(f"{A}/datastore_search", params={"resource_id": rid, **params})
        assert r.status_code == 409, (params, r.text)
        assert name in r.json()["error"], (params, r.json())
    assert client.get(f"{A}/datastore_search", params={"resource_id": "nope"}).status_code == 404
    # free text never searches masked columns: a name finds nothing, a clear value does
    assert client.get(f"{A}/datastore_search", params={"resource_id": rid, "q": "张三"}).json()["result"]["total"] == 0
    assert client.get(f"{A}/datastore_search", params={"resource_id": rid, "q": "女"}).json()["result"]["total"] == 2


def test_conditional_data_needs_an_application(client: Any, world: Any) -> None:
    e, res = open_entry(world, "企业登记信息", open_type="conditional")
    r = client.get(f"{A}/datastore_search", params={"resource_id": str(res.id)})
    assert r.status_code == 403 and r.json()["error"]["__type"] == "Authorization Error"
    assert client.get(f"{A}/package_show", params={"id": e.name}).status_code == 200  # metadata is open
