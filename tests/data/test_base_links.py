"""电子证照 linked to people and legal persons (issue 20): a licence's golden record links to its holder's record in
the 法人 or 自然人 base database, a holder's record lists its licences — only where the reader may look up the other
base database, one query per lookup."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from cityhub.data import service
from cityhub.data.base.schemas import BaseFeedSet
from cityhub.data.collection.schemas import JobCreate, SourceCreate
from cityhub.kit.errors import Forbidden
from tests.data.helpers import published_entry
from tests.data.test_collection import var  # noqa: F401  # var is a fixture

USCC = "91500000MA5U000001"
PERSON = "110101199003074514"


def _c(cn: str, en: str, length: int = 40) -> dict[str, Any]:
    return {"name_cn": cn, "name_en": en, "data_type": "C", "length": length}


def _feed(world: Any, org: str, name: str, base_db: str, key: str, items: list[dict[str, Any]],
          rows: list[tuple[Any, ...]]) -> None:
    """`org`'s register (a SQLite table with the items' columns) feeding `base_db`, synced."""
    from cityhub.data.collection import connectors

    folder = connectors.sources_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.db"
    con = sqlite3.connect(path)
    cols = [it["name_en"] for it in items]
    con.execute(f"CREATE TABLE t ({', '.join(c + ' TEXT' for c in cols)})")
    con.executemany(f"INSERT INTO t VALUES ({', '.join('?' for _ in cols)})", rows)
    con.commit()
    con.close()
    actor = world.actors["org_member_a" if org == "dept_a" else "org_member_b"]
    entry = published_entry(world, title=name, items=items, org=org)
    source = service.sync_source_create(world.session, actor, SourceCreate(
        org_id=world.orgs[org].id, name=name, kind="database", url=f"sqlite:///{path}"))
    job = service.sync_job_create(world.session, actor, JobCreate(
        name=f"job-{name}", source_id=source.id, entry_id=entry.id, query="t", mapping={c: c for c in cols},
        key=[key]))
    service.base_feed_set(world.session, world.actors["bureau_member"], BaseFeedSet(
        base_db=base_db, entry_id=entry.id, key_item=key, priority=1))
    assert service.sync_job_run(world.session, actor, job.id).status == "succeeded"


def _world(world: Any) -> None:
    """Unit A feeds 法人 and 自然人; unit B the licences: two of the firm's, one of the person's, one unknown's."""
    from tests.data.helpers import bureau_setup

    bureau_setup(world)
    _feed(world, "dept_a", "firms", "legal_person", "uscc", [_c("统一社会信用代码", "uscc", 18),
                                                            _c("企业名称", "ent_name")],
          [(USCC, "重庆某某科技有限公司")])
    _feed(world, "dept_a", "people", "population", "id_number", [_c("公民身份号码", "id_number", 18),
                                                                 _c("姓名", "name")], [(PERSON, "张三")])
    _feed(world, "dept_b", "licences", "license", "license_no", [
        _c("证照编号", "license_no"), _c("证照类型", "license_type"), _c("统一社会信用代码", "uscc", 18),
        _c("公民身份号码", "id_number", 18)], [
        ("YYZZ1", "营业执照", USCC, None), ("SPJY1", "食品经营许可证", USCC, None), ("JSZ1", "驾驶证", None, PERSON),
        ("YYZZ9", "营业执照", "91500000MA5U999999", None)])


def test_a_licence_links_to_its_holder_and_a_holder_lists_its_licences(world: Any, var: Path) -> None:  # noqa: F811  # `var` is the fixture imported above
    _world(world)
    bureau = world.actors["bureau_member"]
    firm = service.base_record_get(world.session, bureau, "legal_person", USCC)
    assert [(x["key"], x["label"]) for x in firm.links] == [("SPJY1", "食品经营许可证"), ("YYZZ1", "营业执照")]
    assert {x["base_db"] for x in firm.links} == {"license"}
    person = service.base_record_get(world.session, bureau, "population", PERSON)
    assert [x["key"] for x in person.links] == ["JSZ1"]
    lic = service.base_record_get(world.session, bureau, "license", "YYZZ1")
    assert lic.links == [{"base_db": "legal_person", "key": USCC, "role": "holder", "label": ""}]
    assert service.base_record_get(world.session, bureau, "license", "JSZ1").links[0]["base_db"] == "population"
    assert service.base_record_get(world.session, bureau, "license", "YYZZ9").links == []  # holder not registered


def test_links_only_where_the_reader_may_look_up(world: Any, var: Path) -> None:  # noqa: F811  # `var` is the fixture imported above
    """Unit B feeds only the licences: no link to the 法人 record it may not read; unit A feeds only 法人 and 自然人:
    no licences listed; others are refused the lookup itself."""
    from cityhub.core.actor import Actor

    _world(world)
    a, b = world.actors["org_member_a"], world.actors["org_member_b"]
    assert service.base_record_get(world.session, b, "license", "YYZZ1").links == []
    assert service.base_record_get(world.session, a, "legal_person", USCC).links == []
    assert service.base_record_get(world.session, world.actors["platform_admin"], "license", "YYZZ1").links
    for actor in (world.actors["district_admin"], Actor.anonymous()):
        with pytest.raises(Forbidden):
            service.base_record_get(world.session, actor, "license", "YYZZ1")
    with pytest.raises(Forbidden):
        service.base_record_get(world.session, b, "legal_person", USCC)


def test_the_licence_list_is_one_query_however_many_licences(world: Any, var: Path) -> None:  # noqa: F811  # `var` is the fixture imported above
    _world(world)
    bureau = world.actors["bureau_member"]
    statements: list[str] = []
    engine = world.session.get_bind()

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "data_base_record" in statement and "holder" in statement:
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        service.base_record_get(world.session, bureau, "legal_person", USCC)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len([s for s in statements if "WHERE" in s and ".holder =" in s]) == 1


def test_pages_link_licences_and_holders(client: Any, world: Any, var: Path) -> None:  # noqa: F811  # `var` is the fixture imported above
    from tests.web.test_pages import login

    _world(world)
    login(client, "t-admin")
    firm = client.get("/data/base/legal_person", params={"key": USCC})
    assert firm.status_code == 200 and 'href="/data/base/license?key=YYZZ1"' in firm.text
    assert "持有的电子证照" in firm.text
    lic = client.get("/data/base/license", params={"key": "YYZZ1"})
    assert lic.status_code == 200 and f'href="/data/base/legal_person?key={USCC}"' in lic.text
    api = client.get("/api/v1/data/base/license/records/YYZZ1", headers=world.headers("platform_admin"))
    assert api.status_code == 200 and api.json()["links"][0]["key"] == USCC
    assert client.get("/api/v1/data/base/license/records/YYZZ1",
                      headers=world.headers("org_member_b")).json()["links"] == []
