"""Data REST API: uploads over HTTP, error envelopes, granted rows through the consuming-system token, exports."""

from __future__ import annotations

import io
from typing import Any

from openpyxl import load_workbook

from tests.data.helpers import PEOPLE_CSV, active_grant, entry_data, gbk_people_csv, published_entry

P = "/api/v1/data"


def test_create_search_and_lookup(client: Any, world: Any) -> None:
    published_entry(world)
    body = entry_data(world, title="法人基础信息", base_db="legal_person").model_dump(mode="json")
    r = client.post(f"{P}/catalog/entries", json=body, headers=world.headers("org_member_a"))
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["status"] == "draft" and created["code"].startswith("500000-102-")
    r = client.get(f"{P}/catalog", params={"q": "人口", "facet": ["base_db", "share_type"]},
                   headers=world.headers("org_member_b"))
    assert r.status_code == 200 and r.json()["total"] == 1
    assert r.json()["facets"]["share_type"] == {"conditional": 1}
    entry = r.json()["items"][0]
    assert client.get(f"{P}/catalog/by-name/{entry['name']}", headers=world.headers("org_member_b")).json()[
        "id"] == entry["id"]
    assert client.get(f"{P}/catalog/by-code/{entry['code']}", headers=world.headers("org_member_b")).status_code == 200
    assert client.get(f"{P}/catalog/entries/{entry['id']}").status_code == 404  # 不予开放: not public


def test_bad_input_names_the_field_and_illegal_transition_names_state(client: Any, world: Any) -> None:
    entry = published_entry(world)
    body = entry_data(world).model_dump(mode="json")
    body["items"][0]["data_type"] = "X"
    r = client.post(f"{P}/catalog/entries", json=body, headers=world.headers("org_member_a"))
    assert r.status_code == 422 and "items.0.data_type" in r.text
    r = client.post(f"{P}/catalog/entries/{entry.id}/submit", headers=world.headers("org_member_a"))
    assert r.status_code == 409 and r.json()["error"]["details"]["current"] == "none"
    r = client.get(f"{P}/catalog", params={"sort": "bogus"}, headers=world.headers("org_member_a"))
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "sort"


def test_upload_raw_body_gbk_and_error_report(client: Any, world: Any) -> None:
    entry = published_entry(world)
    h = world.headers("org_member_a")
    r = client.post(f"{P}/uploads/{entry.id}/table", params={"filename": "人口.csv"}, content=gbk_people_csv(),
                    headers={**h, "Content-Type": "text/csv"})
    assert r.status_code == 201, r.text
    assert r.json()["encoding"] == "gb18030" and r.json()["rows_total"] == 3
    res_id = r.json()["resource_id"]
    bad = PEOPLE_CSV + "王五,not-an-id-number-too-long,1,男,yesterday,,\n"
    r = client.post(f"{P}/uploads/{entry.id}/table", params={"filename": "p.csv", "resource_id": res_id},
                    content=bad.encode(), headers={**h, "Content-Type": "text/csv"})
    assert r.status_code == 422
    errs = r.json()["error"]["details"]["errors"]
    assert {(e["row"], e["column"]) for e in errs} == {(5, "id_number"), (5, "birth_date")}
    r = client.get(f"{P}/resources/{res_id}/rows", params={"limit": 10}, headers=h)
    assert r.json()["total"] == 3 and r.json()["records"][0]["id_number"] == "500101199001011234"
    r = client.get(f"{P}/kpis", headers=h)
    mine = next(k for k in r.json() if k["org_name"] == "甲局")
    assert mine["field_pass_rate"] == round(1 - 1 / 7, 4)  # the refused attempt counts


def test_grant_token_reads_masked_rows_only(client: Any, world: Any) -> None:
    entry = published_entry(world)
    client.post(f"{P}/uploads/{entry.id}/table", params={"filename": "p.csv"}, content=PEOPLE_CSV.encode(),
                headers={**world.headers("org_member_a"), "Content-Type": "text/csv"})
    grant, token, req = active_grant(world, entry, items=["name", "id_number", "gender"])
    bearer = {"Authorization": f"Bearer {token}"}
    r = client.get(f"{P}/grants/{grant.id}/rows", params={"filters": '{"gender": "女"}', "limit": 1}, headers=bearer)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["fields"] == ["name", "id_number", "gender"] and body["total"] == 2
    assert body["records"] == [{"name": "李**", "id_number": "5001**********2345", "gender": "女"}]
    assert body["next_after"] == 2
    r = client.get(f"{P}/grants/{grant.id}/rows", params={"after": 2}, headers=bearer)
    assert [x["name"] for x in r.json()["records"]] == ["欧***"]
    r = client.post(f"{P}/catalog/entries", json={}, headers=bearer)
    assert r.status_code in (403, 422)
    r = client.get(f"{P}/grants/{grant.id}/rows", params={"filters": '{"phone": "1"}'}, headers=bearer)
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "filters.phone"
    log = client.get(f"{P}/grants/{grant.id}/access-log", headers=world.headers("org_member_b")).json()
    assert [x["rows"] for x in log] == [1, 1]
    client.post(f"{P}/requests/{req.id}/revoke", json={"reason": "到期"}, headers=world.headers("org_member_a"))
    assert client.get(f"{P}/grants/{grant.id}/rows", headers=bearer).status_code == 401


def test_exports(client: Any, world: Any) -> None:
    published_entry(world)
    h = world.headers("org_member_b")
    r = client.get(f"{P}/lists/catalog", params={"format": "xlsx"}, headers=h)
    assert r.status_code == 200
    ws = load_workbook(io.BytesIO(r.content)).active
    assert ws.cell(1, 1).value == "资源代码" and ws.cell(2, 2).value == "人口基础信息"
    r = client.get(f"{P}/lists/responsibility", headers=h)
    assert r.status_code == 200 and r.content.decode("utf-8-sig").startswith("单位,")
    assert client.get(f"{P}/lists/nope", headers=h).status_code == 422
