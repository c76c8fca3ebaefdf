"""Portal limits and caches: per-IP rate limits (in-process and Redis), cached anonymous reads that a publish,
an offline or an approved change invalidates at once; streamed downloads and their counts."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from cityhub.data import cache, schemas, service
from cityhub.data.datastore.stores import indexed_columns
from cityhub.data.portal import service as portal
from cityhub.kit.settings import get_settings
from tests.conftest import need_service
from tests.data.helpers import published_entry
from tests.data.portal_helpers import MASKED_COLUMNS, OPEN_COLUMNS, open_entry

A = "/api/3/action"


@pytest.fixture
def env(monkeypatch: Any) -> Iterator[Any]:
    """Set CITYHUB_* variables for one test (settings are re-read)."""
    def set_(**values: str) -> None:
        for k, v in values.items():
            monkeypatch.setenv(f"CITYHUB_{k.upper()}", v)
        get_settings.cache_clear()

    yield set_
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.fixture
def redis_env(env: Any, monkeypatch: Any) -> Iterator[Any]:
    """Redis-backed portal store under a key prefix of this test only."""
    need_service("Redis", "127.0.0.1", 6379)
    monkeypatch.setattr(cache, "PREFIX", f"cityhub:test:{uuid.uuid4().hex}:")
    env(redis_url="redis://127.0.0.1:6379/0")
    client = cache.redis_client()
    assert client is not None
    yield client
    for key in client.scan_iter(match=cache.PREFIX + "*"):
        client.delete(key)


def _count(client: Any) -> tuple[int, str]:
    r = client.get(f"{A}/package_search", params={"rows": 0})
    return r.json()["result"]["count"], r.headers.get("x-cache", "")


def _invalidation_story(client: Any, world: Any) -> None:
    e, _res = open_entry(world, "户籍人口统计")
    world.session.commit()
    assert _count(client) == (1, "miss")
    assert _count(client) == (1, "hit")
    # publish: the very next read sees it
    second = published_entry(world, title="公交站点", open_type="unconditional", share_type="unconditional")
    world.session.commit()
    assert _count(client) == (2, "miss")
    assert _count(client) == (2, "hit")
    # an approved change of a published entry shows at once
    a, bureau = world.actors["org_member_a"], world.actors["bureau_member"]
    show = {"id": second.name}
    assert client.get(f"{A}/package_show", params=show).json()["result"]["title"] == "公交站点"
    service.catalog_entry_update(world.session, a, second.id, schemas.EntryUpdate(title="公交站点分布"))
    service.catalog_entry_submit(world.session, a, second.id)
    world.session.commit()
    assert client.get(f"{A}/package_show", params=show).json()["result"]["title"] == "公交站点"  # not yet reviewed
    service.catalog_entry_review(world.session, bureau, second.id, True, "ok")
    world.session.commit()
    assert client.get(f"{A}/package_show", params=show).json()["result"]["title"] == "公交站点分布"
    # offline: gone from every cached read
    service.catalog_entry_offline(world.session, a, e.id, "停用")
    world.session.commit()
    assert _count(client) == (1, "miss")
    assert client.get(f"{A}/package_show", params={"id": e.name}).status_code == 404
    assert e.name.encode() not in client.get("/catalog.ttl").content


def test_cached_reads_are_invalidated_in_process(client: Any, world: Any) -> None:
    _invalidation_story(client, world)


def test_cached_reads_are_invalidated_with_redis(client: Any, world: Any, redis_env: Any) -> None:
    _invalidation_story(client, world)
    assert int(redis_env.get(cache.PREFIX + "gen")) >= 4  # the generation lives in Redis (shared by workers)
    assert any(True for _k in redis_env.scan_iter(match=cache.PREFIX + "c:*"))


def test_authenticated_reads_are_never_cached(client: Any, world: Any) -> None:
    open_entry(world, "户籍人口统计")
    h = world.headers("org_member_b")
    for _ in range(2):
        r = client.get(f"{A}/package_search", headers=h)
        assert r.status_code == 200 and "x-cache" not in r.headers


def _limited(client: Any, world: Any, monkeypatch: Any) -> None:
    # a fixed window: pin the clock inside one, or the fourth request may open the next minute (a CI flake)
    monkeypatch.setattr(cache, "_clock", lambda: 1_800_000_030.0)
    for _ in range(3):
        assert client.get(f"{A}/site_read").status_code == 200
    r = client.get(f"{A}/site_read")
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) == 30  # the seconds left of the pinned minute
    body = r.json()
    assert body["success"] is False and body["error"]["__type"] == "Rate Limit Error"
    assert body["help"].endswith("help_show?name=site_read")
    assert client.get("/catalog.ttl").status_code == 429  # every portal document shares the budget
    # callers with credentials are not limited per IP
    assert client.get(f"{A}/site_read", headers=world.headers("org_member_b")).status_code == 200
    # the next minute opens a fresh budget
    monkeypatch.setattr(cache, "_clock", lambda: 1_800_000_090.0)
    assert client.get(f"{A}/site_read").status_code == 200


def test_rate_limit_in_process(client: Any, world: Any, env: Any, monkeypatch: Any) -> None:
    env(portal_rate_limit="3")
    _limited(client, world, monkeypatch)


def test_rate_limit_with_redis(client: Any, world: Any, env: Any, redis_env: Any, monkeypatch: Any) -> None:
    env(portal_rate_limit="3")
    _limited(client, world, monkeypatch)
    keys = list(redis_env.scan_iter(match=cache.PREFIX + "rl:*"))
    assert sorted(int(redis_env.get(k)) for k in keys) == [1, 5]  # one counter per minute, shared by workers


def test_dumps_stream_open_columns_and_count_downloads(client: Any, world: Any) -> None:
    e, res = open_entry(world, "户籍人口统计")
    world.session.flush()
    r = client.get(f"/datastore/dump/{res.id}")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == ["_id", *OPEN_COLUMNS] and len(rows) == 4
    assert "张三" not in r.text and "18012341999" not in r.text
    js = client.get(f"/datastore/dump/{res.id}", params={"format": "json"}).json()
    assert [f["id"] for f in js["fields"]] == ["_id", *OPEN_COLUMNS] and len(js["records"]) == 3
    tsv = client.get(f"/datastore/dump/{res.id}", params={"format": "tsv", "bom": True}).content
    assert tsv.startswith("\ufeff".encode()) and b"\t" in tsv
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(client.get(f"/datastore/dump/{res.id}", params={"format": "xlsx"}).content))
    sheet = list(wb.worksheets[0].iter_rows(values_only=True))
    assert list(sheet[0]) == ["_id", *OPEN_COLUMNS] and len(sheet) == 4
    assert portal.downloads_of(world.session, e.id) == 4
    assert portal.portal_stats(world.session)["downloads"] == 4
    _cond, cres = open_entry(world, "企业登记信息", open_type="conditional")
    assert client.get(f"/datastore/dump/{cres.id}").status_code == 403
    secret = published_entry(world, title="不动产登记明细")
    from tests.data.helpers import load_people

    sres = load_people(world, secret)
    assert client.get(f"/datastore/dump/{sres.id}").status_code == 404
    provider = client.get(f"/datastore/dump/{sres.id}", headers=world.headers("org_member_a"))
    assert provider.status_code == 200 and "张三" in provider.text  # the provider reads its own rows clear
    assert set(MASKED_COLUMNS) <= set(next(csv.reader(io.StringIO(provider.text))))


def test_streamed_dump_pages_through_large_tables(client: Any, world: Any) -> None:
    bureau = world.actors["org_member_a"]
    entry = published_entry(world, title="大表", open_type="unconditional", share_type="unconditional")
    n = 2500  # more than two pages of downloads.PAGE rows
    rows = [[f"人{i}", f"50010119900101{i:04d}", None, "男" if i % 2 else "女", "1990-01-01", i, True]
            for i in range(n)]
    res = service.datastore_bulk_load(world.session, bureau, entry.id, rows)
    world.session.flush()
    r = client.get(f"/datastore/dump/{res.id}")
    lines = r.text.strip().splitlines()
    assert len(lines) == n + 1 and lines[-1].startswith(f"{n},")
    body = client.get(f"/datastore/dump/{res.id}", params={"format": "json"}).json()
    assert len(body["records"]) == n and body["records"][-1][0] == n


def test_public_user_service_rules(session: Any, world: Any) -> None:
    from cityhub.kit.errors import Forbidden, ValidationFailed
    from tests.data.portal_helpers import approved_application, public_user

    cond, res = open_entry(world, "企业登记信息", open_type="conditional")
    unc, _r = open_entry(world, "户籍人口统计")
    citizen = public_user(world)
    assert citizen.roles == {} and citizen.org_id == portal.public_org_id(session)
    # public users see the open catalog only, like anonymous callers
    secret = published_entry(world, title="不动产登记明细")
    rows, _total, _f = service.catalog_search(session, citizen, "", {}, [], "", 50, 0)
    assert secret.id not in {r.id for r in rows}
    with pytest.raises(ValidationFailed):  # 无条件开放 needs no application
        portal.open_application_create(session, citizen, schemas.OpenApplicationCreate(
            entry_id=unc.id, purpose="研究人口结构"))
    with pytest.raises(Forbidden):  # staff use the sharing workflow
        portal.open_application_create(session, world.actors["org_member_b"], schemas.OpenApplicationCreate(
            entry_id=cond.id, purpose="研究企业分布"))
    grant, token = approved_application(world, cond, citizen)
    assert grant.user_id == citizen.user_id and grant.items == ["gender", "birth_date", "income", "employed"]
    with pytest.raises(ValidationFailed):  # one open application per dataset
        portal.open_application_create(session, citizen, schemas.OpenApplicationCreate(
            entry_id=cond.id, purpose="再次申请"))
    from cityhub.core import service as core

    token_actor = core.authenticate_token(session, token)
    cols, recs, _t, _n, _e, _r = portal.rows(session, token_actor, res.id)
    assert cols == OPEN_COLUMNS and len(recs) == 3
    from cityhub.kit.pagination import PageParams

    audit = {a.action for a in core.audit_list(session, core.Actor.system(), core.AuditFilter(),
                                               PageParams(limit=500, offset=0))[0]}
    assert {"public_user_register", "open_application_create", "share_request_submitted",
            "share_request_provider_review", "share_request_approved", "open_application_activate",
            "grant_create"} <= audit


def test_datastore_index_survives_reupload(session: Any, world: Any) -> None:
    from cityhub.kit.errors import Forbidden, ValidationFailed
    from tests.data.helpers import PEOPLE_CSV

    e, res = open_entry(world, "户籍人口统计")
    a = world.actors["org_member_a"]
    assert service.datastore_index(session, a, res.id, ["gender", "birth_date"]) == ["birth_date", "gender"]
    with pytest.raises(ValidationFailed):
        service.datastore_index(session, a, res.id, ["nope"])
    with pytest.raises(Forbidden):
        service.datastore_index(session, world.actors["org_member_b"], res.id, ["gender"])
    service.resource_table_upload(session, a, e.id, "people.csv", io.BytesIO(PEOPLE_CSV.encode()),
                                  resource_id=res.id)
    assert sorted(indexed_columns(session, str(res.table_name))) == ["birth_date", "gender"]
    service.resource_table_upload(session, a, e.id, "people.csv", io.BytesIO(PEOPLE_CSV.encode()),
                                  resource_id=res.id)  # twice: index names never collide
    assert sorted(indexed_columns(session, str(res.table_name))) == ["birth_date", "gender"]
