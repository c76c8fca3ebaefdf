"""Base databases as data (issue 20): feeds from several units merged into golden records with provenance."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from cityhub.core.models import AuditEntry
from cityhub.data import service
from cityhub.data.base.merge import FeedRow, merge
from cityhub.data.base.schemas import BaseConflictResolve, BaseFeedSet
from cityhub.data.collection.schemas import JobCreate, SourceCreate
from cityhub.data.quality.schemas import QualityCheckCreate
from cityhub.kit.errors import Forbidden, ValidationFailed
from tests.data.helpers import published_entry
from tests.data.test_collection import ITEMS, MAPPING, var  # noqa: F401  # var is a fixture


def test_merge_takes_the_most_trusted_value_and_lists_disagreements() -> None:
    police = FeedRow("f1", "o1", 1, "2026-01-01T00:00:00+00:00", {"id": "K", "name": "张三", "phone": None})
    social = FeedRow("f2", "o2", 5, "2026-02-01T00:00:00+00:00", {"id": "K", "name": "张叁", "phone": "139"})
    newer = FeedRow("f3", "o3", 5, "2026-03-01T00:00:00+00:00", {"id": "K", "name": "张三", "phone": "138"})
    g = merge([social, police, newer], "id")
    assert g.fields == {"name": "张三", "phone": "138"}  # trust first; between equals the newer load
    assert g.provenance["name"]["feed"] == "f1" and g.provenance["phone"]["feed"] == "f3"
    assert [c["value"] for c in g.conflicts["name"]] == ["张三", "张三", "张叁"]
    assert [c["feed"] for c in g.conflicts["phone"]] == ["f3", "f2"]
    assert "id" not in g.fields
    assert merge([police], "id").conflicts == {}


def _department(world: Any, org: str, member: str, name: str, rows: list[tuple[Any, ...]]) -> Any:
    from cityhub.data.collection import connectors

    folder = connectors.sources_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE people (seq INTEGER, sfzh TEXT, xm TEXT, csrq TEXT, sr TEXT, gx TEXT)")
    con.executemany("INSERT INTO people VALUES (?, ?, ?, ?, ?, ?)", rows)
    con.commit()
    con.close()
    actor = world.actors[member]
    entry = published_entry(world, title=f"人口 {name}", items=ITEMS, org=org)
    source = service.sync_source_create(world.session, actor, SourceCreate(
        org_id=world.orgs[org].id, name=name, kind="database", url=f"sqlite:///{path}"))
    job = service.sync_job_create(world.session, actor, JobCreate(
        name=f"job-{name}", source_id=source.id, entry_id=entry.id, query="people", mapping=MAPPING,
        key=["id_number"]))
    return entry, job, path


def test_two_units_feed_the_population_database(world: Any, var: Path) -> None:  # noqa: F811  # the fixture
    from tests.data.helpers import bureau_setup

    bureau_setup(world)
    bureau = world.actors["bureau_member"]
    a, b = world.actors["org_member_a"], world.actors["org_member_b"]
    police, job_a, _ = _department(world, "dept_a", "org_member_a", "police", [
        (1, "110101199003074514", "张三", "1990-03-07", "", "2026-01-01"),
        (2, "110101198505052316", "李四", "1985-05-05", "", "2026-01-01")])
    social, job_b, _path = _department(world, "dept_b", "org_member_b", "social", [
        (1, "110101199003074514", "张叁", "1990-03-07", "8000", "2026-01-01"),
        (2, "110101197001010031", "赵六", "1970-01-01", "100", "2026-01-01")])
    with pytest.raises(Forbidden):
        service.base_feed_set(world.session, a, BaseFeedSet(
            base_db="population", entry_id=police.id, key_item="id_number", priority=1))
    with pytest.raises(ValidationFailed) as e:
        service.base_feed_set(world.session, bureau, BaseFeedSet(
            base_db="population", entry_id=police.id, key_item="nope", priority=1))
    assert e.value.details[0]["field"] == "key_item"
    service.base_feed_set(world.session, bureau, BaseFeedSet(
        base_db="population", entry_id=police.id, key_item="id_number", priority=1))
    service.base_feed_set(world.session, bureau, BaseFeedSet(
        base_db="population", entry_id=social.id, key_item="id_number", priority=5))
    assert service.sync_job_run(world.session, a, job_a.id).status == "succeeded"
    assert service.sync_job_run(world.session, b, job_b.id).status == "succeeded"  # each sync re-merges
    summary = service.base_summary(world.session, bureau, "population")
    assert summary["records"] == 3 and summary["open_conflicts"] == 1
    assert [f["title"] for f in summary["feeds"]] == ["人口 police", "人口 social"]
    zhang = service.base_record_get(world.session, a, "population", "110101199003074514")
    assert zhang.fields["name"] == "张三" and zhang.fields["income"] == "8000.00" and zhang.sources == 2
    assert zhang.provenance["name"]["org"] == str(world.orgs["dept_a"].id)
    assert zhang.provenance["income"]["org"] == str(world.orgs["dept_b"].id)
    assert world.session.query(AuditEntry).filter_by(action="base_record_read").count() == 1
    # the social unit reads its own income clear and the police's name masked by the item's rule (张*)
    seen_by_b = service.base_record_get(world.session, b, "population", "110101199003074514")
    assert seen_by_b.fields["name"] == "张*" and seen_by_b.fields["income"] == "8000.00"
    seen_by_bureau = service.base_record_get(world.session, bureau, "population", "110101199003074514")
    assert seen_by_bureau.fields["name"] == "张三"
    [b_view] = service.base_conflicts(world.session, b, "population")
    assert sorted(c["value"] for c in b_view.candidates) == ["张*", "张叁"]  # the other unit's candidate masked
    world.session.expire_all()  # the masked views never reach the stored record
    assert service.base_record_get(world.session, bureau, "population", "110101199003074514").fields["name"] == "张三"
    [conflict] = service.base_conflicts(world.session, bureau, "population")
    assert conflict.field == "name" and {c["value"] for c in conflict.candidates} == {"张三", "张叁"}
    with pytest.raises(ValidationFailed):
        service.base_conflict_resolve(world.session, bureau, conflict.id,
                                      BaseConflictResolve(value="王五"))
    with pytest.raises(Forbidden):
        service.base_conflict_resolve(world.session, a, conflict.id, BaseConflictResolve(value="张叁"))
    service.base_conflict_resolve(world.session, bureau, conflict.id, BaseConflictResolve(value="张叁"))
    stats = service.base_merge(world.session, bureau, "population")  # the choice stands while the feeds agree
    assert stats["conflicts"] == 0 and stats["records"] == 3
    assert service.base_record_get(world.session, bureau, "population", "110101199003074514").fields["name"] == "张叁"
    with pytest.raises(Forbidden):  # a unit feeding no base database reads golden records through grants
        service.base_summary(world.session, world.actors["district_admin"], "population")
    from sqlalchemy import text

    res = service.resource_list(world.session, b, social.id)[0]  # 赵六 leaves the only feed that held him
    world.session.execute(text(f'DELETE FROM "{res.table_name}" WHERE id_number = \'110101197001010031\''))
    assert service.base_merge(world.session, bureau, "population")["removed"] == 1
    assert service.base_summary(world.session, bureau, "population")["records"] == 2


def test_base_pages_show_feeds_lookup_conflicts_and_themes(client: Any, world: Any, var: Path) -> None:  # noqa: F811  # the fixture
    from tests.data.helpers import bureau_setup
    from tests.web.test_pages import login

    bureau_setup(world)
    a = world.actors["org_member_a"]
    police, job, _path = _department(world, "dept_a", "org_member_a", "police", [
        (1, "110101199003074514", "张三", "1990-03-07", "", "2026-01-01")])
    service.base_feed_set(world.session, world.actors["bureau_member"], BaseFeedSet(
        base_db="population", entry_id=police.id, key_item="id_number", priority=1))
    assert service.sync_job_run(world.session, a, job.id).status == "succeeded"
    login(client, "t-admin")
    page = client.get("/data/base")
    assert page.status_code == 200 and "基础库与主题库" in page.text and "政务服务" in page.text
    assert 'href="/data/base/population"' in page.text
    one = client.get("/data/base/population", params={"key": "110101199003074514"})
    assert one.status_code == 200 and "人口 police" in one.text and "张三" in one.text
    assert 'data-testid="base-record"' in one.text and "人口库" not in one.text
    assert client.get("/data/base/nope").status_code == 404
    english = client.get("/data/base", headers={"Accept-Language": "en"}, cookies={"lang": "en"})
    assert english.status_code == 200


def test_failing_checks_and_open_conflicts_wait_in_my_work(world: Any, var: Path) -> None:  # noqa: F811  # the fixture
    """A failing quality check is a task of the entry's unit on its landing page until it passes; open
    golden-record conflicts are the bureau's."""
    from cityhub.web import workbench
    from tests.data.helpers import bureau_setup

    bureau_setup(world)
    a, b, bureau = world.actors["org_member_a"], world.actors["org_member_b"], world.actors["bureau_member"]
    police, job_a, _p = _department(world, "dept_a", "org_member_a", "police", [
        (1, "110101199003074514", "张三", "", "", "2026-01-01")])
    social, job_b, _s = _department(world, "dept_b", "org_member_b", "social", [
        (1, "110101199003074514", "张叁", "1990-03-07", "1", "2026-01-01")])
    service.quality_check_create(world.session, a, QualityCheckCreate(
        entry_id=police.id, kind="not_null", column="birth_date"))
    for entry, prio in ((police, 1), (social, 5)):
        service.base_feed_set(world.session, bureau, BaseFeedSet(
            base_db="population", entry_id=entry.id, key_item="id_number", priority=prio))
    service.sync_job_run(world.session, a, job_a.id)
    service.sync_job_run(world.session, b, job_b.id)

    def queues(actor: Any) -> dict[str, Any]:
        return {q.key: q for q in workbench.my_work(world.session, actor)}

    mine = queues(a)["quality"]
    assert mine.count == 1 and mine.items[0].title == "人口 police" and mine.items[0].href == "/data/collection/quality"
    assert queues(b)["quality"].count == 0  # another unit's failing check is not its task
    golden = queues(bureau)["golden"]
    assert golden.count == 1 and golden.items[0].href == "/data/base/population"
    assert "golden" not in queues(a)


def test_a_grantee_of_a_feeding_entry_looks_up_only_its_granted_fields_masked(world: Any, var: Path) -> None:  # noqa: F811  # the fixture
    """A unit feeding nothing but holding a sharing grant on a feeding entry reads the golden record's fields its
    grant covers, masked by the entry's rules; each lookup is charged to the grant and logged; without quota left
    (or without a grant) it is refused."""
    from cityhub.data.models import AccessLog
    from tests.data.helpers import active_grant, bureau_setup

    bureau_setup(world)
    a, b = world.actors["org_member_a"], world.actors["org_member_b"]
    police, job, _ = _department(world, "dept_a", "org_member_a", "police", [
        (1, "110101199003074514", "张三", "1990-03-07", "8000", "2026-01-01")])
    service.base_feed_set(world.session, world.actors["bureau_member"], BaseFeedSet(
        base_db="population", entry_id=police.id, key_item="id_number", priority=1))
    assert service.sync_job_run(world.session, a, job.id).status == "succeeded"
    with pytest.raises(Forbidden):  # no grant yet
        service.base_record_get(world.session, b, "population", "110101199003074514")
    grant, _token, _req = active_grant(world, police, items=["name", "id_number"], quota=1)
    rec = service.base_record_get(world.session, b, "population", "110101199003074514")
    assert rec.fields == {"name": "张*"} and set(rec.provenance) == {"name"}  # income, birth date: not granted
    assert world.session.query(AccessLog).filter_by(grant_id=grant.id, kind="golden").count() == 1
    with pytest.raises(Forbidden):  # the quota of one row is used up
        service.base_record_get(world.session, b, "population", "110101199003074514")
    assert service.base_record_get(world.session, a, "population", "110101199003074514").fields["income"] == "8000.00"
