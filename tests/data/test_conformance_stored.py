"""Stored standards conformance (decision 0011): counted after syncs and uploads, read from the stored row, marked
stale when a standard changes, rechecked on demand by the provider and the bureau, the pages in both languages."""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from cityhub.core.models import AuditEntry
from cityhub.data import schemas, service
from cityhub.data.cli import _refresh
from cityhub.data.standards import conformance, stored
from cityhub.data.standards.models import ConformanceResult
from cityhub.data.standards.schemas import DataElementCreate
from cityhub.kit.errors import Forbidden, NotFound
from tests.data.helpers import bureau_setup, published_entry
from tests.data.test_collection import ITEMS, _job, _SameSession, _source, _sqlite_source, var  # noqa: F401  # var is a fixture
from tests.data.test_standards import STD_ITEMS, _people
from tests.web.test_pages import _csrf, login

S = "/api/v1/data/standards"
# the collection tests' people, their items following data elements
STD_SYNC_ITEMS = [{**ITEMS[0], "element": "DE00001"}, {**ITEMS[1], "element": "DE00010"},
                  {**ITEMS[2], "element": "DE00005"}, ITEMS[3]]


def _row(world: Any, res: Any) -> ConformanceResult | None:
    row: ConformanceResult | None = world.session.get(ConformanceResult, res.id)
    return row


def test_a_sync_run_stores_the_result_and_reads_do_not_scan(world: Any, var: Path) -> None:  # noqa: F811  # the fixture
    a = world.actors["org_member_a"]
    entry = published_entry(world, title="人口采集", items=STD_SYNC_ITEMS)
    job = _job(world, _source(world, _sqlite_source(var)), entry)
    run = service.sync_job_run(world.session, a, job.id)
    assert run.status == "succeeded", run.error
    res = service.resource_list(world.session, a, entry.id)[0]
    row = _row(world, res)
    assert row is not None and not row.stale and row.checked_at is not None
    assert (row.rows, row.fields_standardised, row.checked) == (3, 3, 9)
    assert row.standards["DE00001"]["version"] == "1.0"
    report = service.conformance_resource(world.session, a, res.id)
    assert (report.state, report.checked_at, report.checked) == ("current", row.checked_at, 9)
    # the report is the stored row: a value written behind the services' back shows only after a recount
    world.session.execute(text(f'UPDATE "{res.table_name}" SET name = NULL'))
    assert service.conformance_resource(world.session, a, res.id).checked == 9
    service.conformance_recheck(world.session, a, res.id)
    assert service.conformance_resource(world.session, a, res.id).checked == 6


def test_a_resource_following_no_element_costs_nothing(world: Any, var: Path) -> None:  # noqa: F811  # the fixture
    a = world.actors["org_member_a"]
    entry = published_entry(world, title="人口采集", items=ITEMS)
    job = _job(world, _source(world, _sqlite_source(var)), entry)
    assert service.sync_job_run(world.session, a, job.id).status == "succeeded"
    res = service.resource_list(world.session, a, entry.id)[0]
    assert _row(world, res) is None  # nothing counted, nothing stored
    report = service.conformance_resource(world.session, a, res.id)
    assert (report.state, report.rate, report.fields_standardised) == ("none", None, 0)
    assert res.id not in service.conformance_due(world.session, stale_only=True)


def test_an_upload_stores_the_result_a_large_one_waits_for_the_worker(world: Any,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    a = world.actors["org_member_a"]
    monkeypatch.setattr(stored, "INLINE_MAX_ROWS", 0)  # every table is "large"
    entry, res = _people(world)
    assert _row(world, res) is None
    never = service.conformance_resource(world.session, a, res.id)
    assert (never.state, never.checked_at, never.rate, never.checked) == ("never", None, None, 0)
    assert res.id in service.conformance_due(world.session, stale_only=True)
    monkeypatch.setattr(stored, "INLINE_MAX_ROWS", 50_000)
    service.resource_table_upload(world.session, a, entry.id, "std.csv", io.BytesIO(
        "name,id_number,sex,division,birth,lon,phone\n张三,500101199001011234,1,500101,1990-01-01,106.5,1\n"
        .encode()), resource_id=res.id)
    row = _row(world, res)
    assert row is not None and (row.rows, row.checked, row.nonconforming) == (1, 6, 0)
    assert res.id not in service.conformance_due(world.session, stale_only=True)
    monkeypatch.setattr(stored, "INLINE_MAX_ROWS", 0)  # a write to a large table marks the result stale
    service.resource_table_upload(world.session, a, entry.id, "std.csv", io.BytesIO(
        "name,id_number,sex,division,birth,lon,phone\n李四,1,男,500300,1990/01/02,106.5,1\n".encode()),
        resource_id=res.id)
    report = service.conformance_resource(world.session, a, res.id)
    assert (report.state, report.stale_reason, report.nonconforming) == ("stale", "data", 0)  # the old counts
    assert res.id in service.conformance_due(world.session, stale_only=True)
    db: Any = _SameSession(world.session)  # the worker's pass, in the test's transaction
    assert _refresh(db, [res.id], logging.getLogger("test")) == {"checked": 1, "failed": 0}
    again = service.conformance_resource(world.session, a, res.id)
    assert (again.state, again.nonconforming) == ("current", 4)


def test_a_standard_changing_marks_the_results_that_follow_it_stale(world: Any) -> None:
    _entry, res = _people(world)
    a, b = world.actors["org_member_a"], world.actors["bureau_member"]
    first = service.conformance_resource(world.session, a, res.id)
    sex = next(f for f in first.fields if f.item == "sex")
    assert (first.state, sex.bad_code) == ("current", 1)
    lists = {cl.identifier: cl for cl in service.code_list_list(world.session, b)}
    service.code_list_import(world.session, b, lists["GB/T 2261.1"].id, "code,label_zh\n男,男性（文字）\n".encode())
    report = service.conformance_resource(world.session, a, res.id)
    assert (report.state, report.stale_reason) == ("stale", "code_list")
    assert report.checked_at == first.checked_at and res.id in service.conformance_due(world.session)
    service.conformance_refresh_one(world.session, res.id)
    fresh = service.conformance_resource(world.session, a, res.id)
    assert fresh.state == "current" and next(f for f in fresh.fields if f.item == "sex").bad_code == 0
    assert fresh.standards["DE00003"]["codes"] == 5
    service.data_element_retire(world.session, b, "DE00010")  # an element the entry's name follows
    assert service.conformance_resource(world.session, a, res.id).stale_reason == "element"
    unrelated = service.conformance_resource(world.session, a, res.id)
    service.data_element_retire(world.session, b, "DE00014")  # followed by nobody: nothing else changes
    assert service.conformance_resource(world.session, a, res.id).stale_reason == unrelated.stale_reason


def test_an_entrys_items_changing_marks_its_results_stale(world: Any) -> None:
    entry, res = _people(world)
    a = world.actors["org_member_a"]
    items = [*STD_ITEMS[:-1], {**STD_ITEMS[-1], "element": "DE00006"}]  # the phone now follows 联系电话
    service.catalog_entry_update(world.session, a, entry.id, schemas.EntryUpdate.model_validate({"items": items}))
    assert service.conformance_resource(world.session, a, res.id).state == "current"  # pending review: no change
    service.catalog_entry_submit(world.session, a, entry.id)
    service.catalog_entry_review(world.session, world.actors["bureau_member"], entry.id, True, "ok")
    report = service.conformance_resource(world.session, a, res.id)
    assert (report.state, report.stale_reason) == ("stale", "items")
    service.conformance_refresh_one(world.session, res.id)
    assert service.conformance_resource(world.session, a, res.id).fields_standardised == 7


def test_the_per_unit_totals_add_up_stored_results_and_show_what_is_out_of_date(world: Any) -> None:
    _people(world)
    bureau = world.actors["bureau_member"]
    departments, _resources = service.conformance_report(world.session, bureau)
    mine = next(d for d in departments if d.org_id == world.orgs["dept_a"].id)
    assert (mine.resources, mine.checked, mine.nonconforming, mine.stale, mine.unchecked) == (1, 18, 6, 0, 0)
    assert mine.last_checked_at is not None
    service.data_element_retire(world.session, bureau, "DE00003")
    departments, resources = service.conformance_report(world.session, bureau)
    mine = next(d for d in departments if d.org_id == world.orgs["dept_a"].id)
    assert (mine.checked, mine.stale) == (18, 1) and resources[0].state == "stale"
    assert service.conformance_report(world.session, world.actors["org_member_b"]) == ([], [])  # another unit's


def test_who_may_recheck(world: Any) -> None:
    _entry, res = _people(world)
    for who in ("org_member_a", "org_admin_a", "bureau_member", "platform_admin"):
        assert service.conformance_recheck(world.session, world.actors[who], res.id).state == "current", who
    for who in ("auditor", "org_member_b", "district_admin"):  # auditors read it; others not even that
        with pytest.raises(Forbidden):
            service.conformance_recheck(world.session, world.actors[who], res.id)
    with pytest.raises(NotFound):
        service.conformance_recheck(world.session, world.actors["org_member_a"], world.orgs["dept_a"].id)
    rows = list(world.session.scalars(select(AuditEntry).where(AuditEntry.action == "conformance_recheck")))
    assert len(rows) == 4 and {r.target_id for r in rows} == {str(res.id)}


def test_recheck_over_the_api_and_the_page(client: Any, world: Any) -> None:
    _entry, res = _people(world)
    url = f"{S}/conformance/resources/{res.id}/recheck"
    mine = client.post(url, headers=world.headers("org_member_a"))
    assert mine.status_code == 200 and mine.json()["state"] == "current" and mine.json()["checked_at"]
    assert client.post(url, headers=world.headers("platform_admin")).status_code == 200
    assert client.post(url, headers=world.headers("auditor")).status_code == 403
    assert client.post(url, headers=world.headers("org_member_b")).status_code == 403
    assert client.post(url).status_code == 401
    assert client.post(f"{S}/conformance/resources/{world.orgs['city'].id}/recheck",
                       headers=world.headers("org_member_a")).status_code == 404
    login(client, "t-a-member")
    page = client.get(f"/data/standards/conformance/{res.id}")
    assert 'data-testid="conformance-recheck"' in page.text
    done = client.post(f"/data/standards/conformance/{res.id}/recheck", data={"csrf_token": _csrf(page.text)},
                       follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"].startswith(f"/data/standards/conformance/{res.id}")
    client.cookies.clear()
    login(client, "t-auditor")  # reads the report, has no button
    assert 'data-testid="conformance-recheck"' not in client.get(f"/data/standards/conformance/{res.id}").text


def test_the_pages_show_when_a_result_was_checked_and_whether_it_is_stale(client: Any, world: Any,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    _entry, res = _people(world)
    login(client, "t-a-member")
    page = client.get("/data/standards/conformance")
    assert 'data-state="current"' in page.text and "检查时间" in page.text and "66.7 %" in page.text
    one = client.get(f"/data/standards/conformance/{res.id}")
    assert 'data-state="current"' in one.text and "<time datetime=" in one.text
    service.data_element_retire(world.session, world.actors["bureau_member"], "DE00003")
    stale = client.get(f"/data/standards/conformance/{res.id}")
    assert 'data-state="stale"' in stale.text and "已过期" in stale.text and "所遵循的数据元已变更" in stale.text
    english = client.get("/data/standards/conformance", cookies={"cityhub_lang": "en"})
    assert "Out of date" in english.text and "a data element changed" in english.text
    # a resource never counted shows so, with no rate (not 100 %)
    monkeypatch.setattr(stored, "INLINE_MAX_ROWS", 0)
    other = published_entry(world, title="未检查资源", items=[{"name_cn": "邮编", "name_en": "zip", "data_type": "C",
                                                              "element": "DE00014"}])
    res2, load = service.resource_table_upload(world.session, world.actors["org_member_a"], other.id, "s.csv",
                                               io.BytesIO(b"zip\n400000\n"))
    assert load.accepted and res2 is not None
    never = client.get(f"/data/standards/conformance/{res2.id}")
    assert 'data-state="never"' in never.text and "从未检查" in never.text and "100.0 %" not in never.text
    listing = client.get("/data/standards/conformance").text
    row = next(line for line in listing.splitlines() if "未检查资源" in line)
    assert 'data-state="never"' in row and "%" not in row


def test_element_names_follow_the_page_language(client: Any, world: Any) -> None:
    bureau_setup(world)
    b = world.actors["bureau_member"]
    service.data_element_create(world.session, b, DataElementCreate(identifier="DE95001", name_zh="测试编码",
                                                                    data_type="string", format="n2"))
    service.data_element_publish(world.session, b, "DE95001")  # no English name
    entry = published_entry(world, title="名称测试", items=[
        {"name_cn": "姓名", "name_en": "name", "data_type": "C", "element": "DE00010"},
        {"name_cn": "编码", "name_en": "code", "data_type": "C", "element": "DE95001"}])
    res, load = service.resource_table_upload(world.session, world.actors["org_member_a"], entry.id, "n.csv",
                                              io.BytesIO("name,code\n张三,12\n李四,x1\n".encode()))
    assert load.accepted and res is not None
    login(client, "t-a-member")
    english = client.get(f"/data/standards/conformance/{res.id}", cookies={"cityhub_lang": "en"}).text
    assert '<span lang="en">Name of person</span>' in english
    assert '<span lang="zh-CN">测试编码</span>' in english  # no English name: the Chinese one, marked as Chinese
    chinese = client.get(f"/data/standards/conformance/{res.id}", cookies={"cityhub_lang": "zh_CN"}).text
    assert "Name of person" not in chinese and "测试编码" in chinese and "姓名" in chinese
    api = client.get(f"{S}/conformance/resources/{res.id}", headers=world.headers("org_member_a")).json()
    names = {f["element"]: (f["element_name"], f["element_name_en"]) for f in api["fields"]}
    assert names == {"DE00010": ("姓名", "Name of person"), "DE95001": ("测试编码", "")}


def test_the_cli_and_the_sync_worker_count_what_is_out_of_date(world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import typer
    from typer.testing import CliRunner

    from cityhub.data import cli

    monkeypatch.setattr(stored, "INLINE_MAX_ROWS", 0)  # the upload leaves the count to the worker
    _entry, res = _people(world)
    a = world.actors["org_member_a"]
    monkeypatch.setattr(cli, "_db", lambda: _SameSession(world.session))
    app = typer.Typer()
    cli.register(app)
    out = CliRunner().invoke(app, ["data", "conformance-refresh", "--stale-only"])
    assert out.exit_code == 0, out.output
    assert "data conformance: checked 1 · failed 0" in out.output
    assert service.conformance_resource(world.session, a, res.id).state == "current"
    service.data_element_retire(world.session, world.actors["bureau_member"], "DE00003")
    out = CliRunner().invoke(app, ["data", "sync-worker", "--every", "0"])  # no job is due: the stale pass runs
    assert out.exit_code == 0, out.output
    assert service.conformance_resource(world.session, a, res.id).state == "current"
    assert service.conformance_due(world.session, stale_only=True) == []
    assert CliRunner().invoke(app, ["data", "conformance-refresh"]).exit_code == 0  # every table resource


def test_a_failing_count_never_fails_the_write(world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any) -> Any:
        raise RuntimeError("a bug in counting")

    monkeypatch.setattr(conformance, "fields_report", broken)
    _entry, res = _people(world)  # the upload is accepted
    assert service.conformance_resource(world.session, world.actors["org_member_a"], res.id).state == "never"
    assert res.id in service.conformance_due(world.session, stale_only=True)  # the worker tries again
