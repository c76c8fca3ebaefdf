"""The organisation list from the push-cached directory gives exactly what the table gives."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from cityhub.core import service as core
from cityhub.core.organizations import service as organizations
from cityhub.core.schemas import OrganizationCreate, OrganizationUpdate
from cityhub.kit import pushcache
from cityhub.kit.pagination import PageParams

SYSTEM = core.Actor.system("test")


def _list(session: Any, **kw: Any) -> tuple[list[tuple[Any, ...]], int]:
    page = kw.pop("page", PageParams(limit=50, offset=0))
    rows, total = core.organization_list(session, SYSTEM, page, **kw)
    return [(r["id"], r["code"], r["name"], r["updated_at"]) for r in (dict(x._mapping) if hasattr(x, "_mapping")
                                                                        else x for x in rows)], total


@pytest.fixture
def cache(engine: Any) -> Iterator[pushcache.PushCache]:
    if engine.dialect.name != "postgresql":
        pytest.skip("the push cache listens for PostgreSQL notifications")
    started = pushcache.start(engine)
    assert started is not None and started.wait_listening()
    try:
        yield started
    finally:
        pushcache.stop_all()


QUERIES: list[dict[str, Any]] = [
    {}, {"kind": "department"}, {"kind": "district"}, {"q": "局"}, {"q": "T-DEPT"}, {"q": "_"}, {"q": "%"},
    {"q": "no such unit"}, {"page": PageParams(limit=2, offset=1)}, {"page": PageParams(limit=5, offset=500)},
]


def test_the_cached_directory_and_the_table_answer_alike(world: Any, session: Any, cache: Any,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    queries = [*QUERIES, {"parent_id": world.orgs["city"].id}, {"parent_id": world.orgs["dept_a"].id}]
    cached = [_list(session, **dict(q)) for q in queries]
    assert core.org_directory(session) is not None
    monkeypatch.setattr(organizations, "org_directory", lambda _s: None)  # where organization_list reads it
    from_table = [_list(session, **dict(q)) for q in queries]
    assert cached == from_table
    assert cached[0][1] >= 5 and cached[5] == ([], 0) and cached[6] == ([], 0)  # wildcards are plain characters


def test_the_directory_follows_creates_renames_and_deletes(world: Any, session: Any, cache: Any) -> None:
    assert core.org_directory(session) is not None
    new = core.organization_create(session, SYSTEM, OrganizationCreate(
        name="新设局", code="t-zz-new", kind="department", parent_id=world.orgs["city"].id))
    assert [r[1] for r in _list(session, q="t-zz")[0]] == ["t-zz-new"]
    core.organization_update(session, SYSTEM, new.id, OrganizationUpdate(name="更名局"))
    assert [r[2] for r in _list(session, q="t-zz")[0]] == ["更名局"]
    core.organization_delete(session, SYSTEM, new.id)
    assert _list(session, q="t-zz") == ([], 0)


def test_search_is_a_case_insensitive_substring_on_every_backend(world: Any, session: Any) -> None:
    codes = [r[1] for r in _list(session, q="T-DEPT")[0]]
    assert codes == ["t-dept-a", "t-dept-b"]
    assert _list(session, q="_") == ([], 0)  # not a LIKE wildcard
