"""Masked values cannot be recovered by filtering, sorting or searching (issue 13, item 2).

A caller compares values — filters (one value or a list of candidates), sort, free text `q` — only on the columns
`reads.clear_columns` says they read in clear: every column for the provider; for the bureau, platform admins
and grantees, the items without a masking rule; for the public, the open items. Each read path is tried here:
the service, the REST rows of a resource and of a grant (JSON and CSV), CKAN's `datastore_search` and the dump.
"""

from __future__ import annotations

import csv
import functools
import io
import json
from collections.abc import Callable
from typing import Any

import pytest

from cityhub.data import service
from cityhub.data.datastore import reads
from cityhub.kit.errors import ValidationFailed
from tests.data.helpers import PEOPLE_ITEMS, active_grant, load_people, published_entry
from tests.data.portal_helpers import MASKED_COLUMNS, OPEN_COLUMNS, open_entry

P = "/api/v1/data"
A = "/api/3/action"
ALL_COLUMNS = [it["name_en"] for it in PEOPLE_ITEMS]
HIDDEN_PHONE = "18012341999"  # 张三's phone in PEOPLE_CSV; readers other than the provider get 180****1999
CANDIDATES = ["13000000001", "13100000002", "13200000003", "13300000004", "13400000005", "13500000006",
              "13600000007", "13700000008", "13800000009", HIDDEN_PHONE, "15000000011", "15100000012",
              "15200000013", "15300000014", "15500000015", "15600000016"]


def _total(s: Any, actor: Any, resource_id: Any, filters: dict[str, Any]) -> int:
    """How many rows the actor's read with these filters counts."""
    return int(service.datastore_query(s, actor, resource_id, filters)[2] or 0)


def _halving_attack(count: Callable[[dict[str, Any]], int]) -> str:
    """The bureau's attack: which candidate is the man's phone? Ask whether it is in one half, then halve again.

    16 candidates take 4 calls; a real list of a few thousand numbers takes 14.
    """
    candidates = list(CANDIDATES)
    while len(candidates) > 1:
        half = candidates[: len(candidates) // 2]
        candidates = half if count({"gender": "男", "phone": half}) else candidates[len(half):]
    return candidates[0]


def _refused(exc: pytest.ExceptionInfo[ValidationFailed], field: str, column: str) -> None:
    assert exc.value.field == field, exc.value.field
    assert column in exc.value.message and "脱敏" in exc.value.message, exc.value.message  # zh-CN, names it


def _grant_world(w: Any) -> tuple[Any, Any, Any]:
    entry = published_entry(w)
    res = load_people(w, entry)
    grant, _token, _req = active_grant(w, entry, items=["name", "id_number", "phone", "gender"])
    return entry, res, grant


# ---------------------------------------------------------------- the one set


def test_clear_columns_per_reader(world: Any) -> None:
    entry = published_entry(world)
    assert reads.clear_columns(entry, None, False) == set(ALL_COLUMNS)  # the provider: everything clear
    assert reads.clear_columns(entry, None, True) == set(OPEN_COLUMNS)  # bureau, platform admin: masked ones not
    assert reads.clear_columns(entry, ["name", "phone", "gender"], True) == {"gender"}  # a grantee's items
    assert reads.clear_columns(entry, reads.open_items(entry), True) == set(OPEN_COLUMNS)  # the public
    assert reads.clear_columns(entry, ["nope", "gender"], True) == {"gender"}  # unknown names are never clear
    core_item = {"name_cn": "病历", "name_en": "record", "data_type": "C", "length": 20, "security_level": "core"}
    secret = published_entry(world, title="就诊记录", items=[*PEOPLE_ITEMS, core_item])
    assert "record" not in reads.clear_columns(secret, None, True)  # 核心 without a rule is fully masked


# ---------------------------------------------------------------- service paths


def test_grantee_cannot_compare_masked_items(world: Any) -> None:
    s, b = world.session, world.actors["org_member_b"]
    _entry, _res, grant = _grant_world(world)
    used = grant.used
    with pytest.raises(ValidationFailed) as exc:
        service.grant_rows(s, b, grant.id, {"name": "张三"})
    _refused(exc, "filters.name", "name")
    with pytest.raises(ValidationFailed) as exc:
        _halving_attack(lambda f: service.grant_rows(s, b, grant.id, f)[2] or 0)
    _refused(exc, "filters.phone", "phone")
    for sort in ("phone", "phone desc", "id_number asc"):
        with pytest.raises(ValidationFailed) as exc:
            service.grant_rows(s, b, grant.id, sort=sort)
        _refused(exc, "sort", sort.split()[0])
    with pytest.raises(ValidationFailed) as exc:
        service.grant_rows(s, b, grant.id, q={"name": "张"})
    _refused(exc, "q", "name")
    assert grant.used == used  # refusals read nothing and count nothing
    # the clear item compares as before, and plain q searches it only
    _f, recs, total, _n = service.grant_rows(s, b, grant.id, {"gender": "女"}, sort="gender desc")
    assert total == 2 and [r["name"] for r in recs] == ["李**", "欧***"]
    assert service.grant_rows(s, b, grant.id, q="张")[2] == 0
    assert service.grant_rows(s, b, grant.id, q="女")[2] == 2
    assert service.grant_rows(s, b, grant.id, q={"gender": "男"})[2] == 1


def test_bureau_and_platform_admin_read_masked_so_cannot_compare(world: Any) -> None:
    s = world.session
    entry = published_entry(world)
    res = load_people(world, entry)
    for who in ("bureau_member", "platform_admin"):
        actor = world.actors[who]
        with pytest.raises(ValidationFailed) as exc:
            _halving_attack(functools.partial(_total, s, actor, res.id))
        _refused(exc, "filters.phone", "phone")
        with pytest.raises(ValidationFailed) as exc:
            service.datastore_query(s, actor, res.id, {"id_number": "500101199001011234"})
        _refused(exc, "filters.id_number", "id_number")
        with pytest.raises(ValidationFailed) as exc:
            service.datastore_query(s, actor, res.id, sort="name desc")
        _refused(exc, "sort", "name")
        with pytest.raises(ValidationFailed) as exc:
            service.datastore_query(s, actor, res.id, q={"phone": "1999"})
        _refused(exc, "q", "phone")
        assert service.datastore_query(s, actor, res.id, q="张三")[2] == 0
        _f, recs, total, _n = service.datastore_query(s, actor, res.id, {"gender": "男"}, sort="income desc")
        assert total == 1 and recs[0]["phone"] == "180****1999"


def test_provider_reads_clear_so_may_compare_everything(world: Any) -> None:
    s, a = world.session, world.actors["org_member_a"]
    entry = published_entry(world)
    res = load_people(world, entry)
    assert _halving_attack(lambda f: service.datastore_query(s, a, res.id, f)[2] or 0) == HIDDEN_PHONE
    _f, recs, _t, _n = service.datastore_query(s, a, res.id, sort="phone desc")
    assert [r["phone"] for r in recs] == ["18012341999", "13900001111", "13512345678"]
    assert service.datastore_query(s, a, res.id, q={"name": "张"})[2] == 1
    assert service.datastore_query(s, a, res.id, q="张三")[2] == 1


def test_search_names_text_columns_only(world: Any) -> None:
    s, a = world.session, world.actors["org_member_a"]
    entry = published_entry(world)
    res = load_people(world, entry)
    with pytest.raises(ValidationFailed) as exc:
        service.datastore_query(s, a, res.id, q={"income": "8000"})
    assert exc.value.field == "q" and "income" in exc.value.message
    with pytest.raises(ValidationFailed) as exc:
        service.datastore_query(s, world.actors["platform_admin"], res.id, q={"nope": "x"})
    assert exc.value.field == "q"


# ---------------------------------------------------------------- REST


def _error(r: Any) -> dict[str, Any]:
    assert r.status_code == 422, r.text
    detail: dict[str, Any] = r.json()["error"]["details"][0]
    return detail


def test_rest_resource_rows_refuse_masked_comparisons(client: Any, world: Any) -> None:
    entry = published_entry(world)
    res = load_people(world, entry)
    active_grant(world, entry, items=["name", "phone", "gender"])
    url = f"{P}/resources/{res.id}/rows"
    for who in ("platform_admin", "org_member_b"):  # masked for the admin; granted but masked for unit B
        h = world.headers(who)
        d = _error(client.get(url, params={"filters": json.dumps({"name": "张三"}, ensure_ascii=False)}, headers=h))
        assert d["field"] == "filters.name" and "name" in d["message"]
        d = _error(client.get(url, params={"filters": json.dumps({"phone": CANDIDATES[:8]})}, headers=h))
        assert d["field"] == "filters.phone"
        assert _error(client.get(url, params={"sort": "phone desc"}, headers=h))["field"] == "sort"
        r = client.get(url, params={"q": "张三"}, headers=h)
        assert r.status_code == 200 and r.json()["total"] == 0
        r = client.get(url, params={"filters": '{"gender": "女"}', "sort": "gender"}, headers=h)
        assert r.status_code == 200 and r.json()["total"] == 2
    d = _error(client.get(url, params={"sort": "phone"}, headers={**world.headers("platform_admin"),
                                                                   "Cookie": "cityhub_lang=en"}))
    assert d["message"] == "Cannot sort on phone: it is masked for you"
    r = client.get(url, params={"filters": json.dumps({"phone": HIDDEN_PHONE})}, headers=world.headers("org_member_a"))
    assert r.status_code == 200 and r.json()["total"] == 1  # the provider reads it clear


def test_rest_grant_rows_and_csv_refuse_masked_comparisons(client: Any, world: Any) -> None:
    entry = published_entry(world)
    res = load_people(world, entry)
    grant, token, _req = active_grant(world, entry, items=["name", "phone", "gender"])
    bearer = {"Authorization": f"Bearer {token}"}
    url = f"{P}/grants/{grant.id}/rows"

    def count(filters: dict[str, Any]) -> int:
        r = client.get(url, params={"filters": json.dumps(filters, ensure_ascii=False)}, headers=bearer)
        if r.status_code == 422:
            raise ValidationFailed(r.json()["error"]["message"], field=_error(r)["field"])
        return int(r.json()["total"])

    with pytest.raises(ValidationFailed) as exc:
        _halving_attack(count)
    assert exc.value.field == "filters.phone"
    assert _error(client.get(url, params={"sort": "name"}, headers=bearer))["field"] == "sort"
    assert _error(client.get(url, params={"filters": '{"phone": {"gte": "139"}}'}, headers=bearer))[
        "field"] == "filters.phone"  # no ranges either
    assert client.get(url, params={"q": "1999"}, headers=bearer).json()["total"] == 0
    assert count({"gender": "男"}) == 1
    csv_url = f"{P}/grants/{grant.id}/rows.csv"
    d = _error(client.get(csv_url, params={"filters": json.dumps({"phone": HIDDEN_PHONE})}, headers=bearer))
    assert d["field"] == "filters.phone" and "phone" in d["message"]
    r = client.get(csv_url, params={"filters": '{"gender": "男"}'}, headers=bearer)
    assert r.status_code == 200
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows == [["name", "phone", "gender"], ["张*", "180****1999", "男"]]
    assert client.get(f"{P}/resources/{res.id}/rows", headers=world.headers("org_member_a")).json()["total"] == 3


# ---------------------------------------------------------------- CKAN datastore_search and the dump


def _ckan_refused(r: Any, param: str, column: str) -> None:
    assert r.status_code == 409, r.text
    err = r.json()["error"]
    assert err["__type"] == "Validation Error" and param in err, err
    assert any(column in m for m in err[param]), err


def test_ckan_datastore_search_refuses_masked_comparisons(client: Any, world: Any) -> None:
    entry = published_entry(world)
    res = load_people(world, entry)
    active_grant(world, entry, items=["name", "id_number", "phone", "gender"])
    rid = str(res.id)
    for who in ("org_member_b", "platform_admin"):  # a unit holding a grant; an insider reading masked
        h = world.headers(who)

        def search(body: dict[str, Any], h: dict[str, str] = h) -> Any:
            return client.post(f"{A}/datastore_search", json={"resource_id": rid, **body}, headers=h)

        _ckan_refused(search({"filters": {"name": "张三"}}), "filters", "name")
        _ckan_refused(search({"filters": {"phone": CANDIDATES[:8]}}), "filters", "phone")
        _ckan_refused(search({"sort": "phone desc"}), "sort", "phone")
        _ckan_refused(search({"sort": "id_number, gender"}), "sort", "id_number")
        _ckan_refused(search({"q": {"name": "张三"}}), "q", "name")
        r = client.get(f"{A}/datastore_search", params={"resource_id": rid, "q": '{"phone": "1999"}'}, headers=h)
        _ckan_refused(r, "q", "phone")
        assert search({"q": "张三"}).json()["result"]["total"] == 0  # q searches the columns read in clear
        assert search({"q": {"gender": "女"}}).json()["result"]["total"] == 2
        out = search({"filters": {"gender": "男"}, "sort": "gender desc"}).json()["result"]
        assert out["total"] == 1 and out["records"][0]["phone"] == "180****1999"
    provider = world.headers("org_member_a")
    out = client.post(f"{A}/datastore_search", json={"resource_id": rid, "filters": {"phone": HIDDEN_PHONE},
                                                     "q": {"name": "张"}, "sort": "id_number"},
                      headers=provider).json()["result"]
    assert out["total"] == 1 and out["records"][0]["name"] == "张三"
    assert client.get(f"{A}/datastore_search", params={"resource_id": rid, "q": "{not json"},
                      headers=provider).json()["result"]["total"] == 0  # text that is not JSON stays text


def test_public_reads_open_items_only_and_dump_takes_no_comparison(client: Any, world: Any) -> None:
    _e, res = open_entry(world, "户籍人口统计")
    world.session.flush()
    rid = str(res.id)
    for body, param in (({"filters": {"name": "张三"}}, "filters"), ({"sort": "phone"}, "sort"),
                        ({"q": {"id_number": "5001"}}, "q")):
        r = client.post(f"{A}/datastore_search", json={"resource_id": rid, **body})
        assert r.status_code == 409 and param in r.json()["error"], r.text
    assert client.post(f"{A}/datastore_search", json={"resource_id": rid, "q": "张三"}).json()["result"][
        "total"] == 0
    # the dump streams the open items whatever is asked of it: no filter, sort or q reaches its SQL
    r = client.get(f"/datastore/dump/{rid}", params={"filters": json.dumps({"name": "张三"}, ensure_ascii=False),
                                                      "sort": "phone", "q": "张三"})
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == ["_id", *OPEN_COLUMNS] and len(rows) == 4
    assert not set(rows[0]) & set(MASKED_COLUMNS)
