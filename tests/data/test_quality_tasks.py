"""Quality tasks (整改任务, issue 20): a failing run opens one task to the provider (never two), the provider resolves
it with a note, the next run closes (verifies) or reopens it; overdue tasks show; tasks count in the 责任清单 KPI
and in the annual evaluation's indicator that reads it; who sees and resolves; audit rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from cityhub.apply import service as apply
from cityhub.apply.evaluation.schemas import IndicatorSpec, RunCreate, SchemeCreate
from cityhub.core.models import AuditEntry
from cityhub.data import service
from cityhub.data.quality.models import QualityTask
from cityhub.data.quality.schemas import QualityCheckCreate
from cityhub.kit import clock
from cityhub.kit.errors import Forbidden, InvalidTransition, NotFound, ValidationFailed
from tests.data.helpers import SYSTEM, load_people, published_entry

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _today() -> Any:
    clock.set_now(T0)
    yield
    clock.set_now(None)


def _failing(world: Any) -> tuple[Any, Any]:
    """Dept A's loaded entry with a check that fails (one row has no income) and a check that passes."""
    entry = published_entry(world)
    load_people(world, entry)
    a = world.actors["org_member_a"]
    bad = service.quality_check_create(world.session, a, QualityCheckCreate(entry_id=entry.id, kind="not_null",
                                                                            column="income"))
    service.quality_check_create(world.session, a, QualityCheckCreate(entry_id=entry.id, kind="not_null",
                                                                      column="name"))
    return entry, bad


def _tasks(world: Any, entry: Any) -> list[QualityTask]:
    return list(world.session.scalars(select(QualityTask).where(QualityTask.entry_id == entry.id)
                                      .order_by(QualityTask.created_at)))


def _audit(world: Any, action: str) -> list[AuditEntry]:
    return list(world.session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_a_failing_run_opens_one_task_and_the_next_runs_update_verify_and_reopen(world: Any) -> None:
    entry, bad = _failing(world)
    a = world.actors["org_member_a"]
    assert _tasks(world, entry) == []  # checks declared, not run yet
    service.quality_run(world.session, a, entry.id)
    [task] = _tasks(world, entry)
    assert task.status == "open" and task.org_id == world.orgs["dept_a"].id
    assert task.failed_checks == 1 and task.failed_rows == 1
    assert task.failures[0]["column"] == "income" and task.failures[0]["kind"] == "not_null"
    assert task.deadline_at > T0 + timedelta(days=10)  # 10 working days (the default) span two weekends
    service.quality_run(world.session, a, entry.id)
    assert len(_tasks(world, entry)) == 1  # the same task, never a duplicate
    assert len(_audit(world, "quality_task_open")) == 1
    with pytest.raises(ValidationFailed) as exc:
        service.quality_task_resolve(world.session, a, task.id, "  ")
    assert exc.value.details[0]["field"] == "note"
    service.quality_task_resolve(world.session, a, task.id, "补录了收入")
    assert task.status == "resolved" and task.resolved_by == "t-a-member"
    with pytest.raises(InvalidTransition):
        service.quality_task_resolve(world.session, a, task.id, "再次")
    service.quality_run(world.session, a, entry.id)  # still failing: reopened
    assert task.status == "open" and task.reopened == 1 and len(_tasks(world, entry)) == 1
    service.quality_task_resolve(world.session, a, task.id, "这次真的改了")
    service.quality_check_delete(world.session, a, bad.id)  # the failing rule retired: the next run passes
    service.quality_run(world.session, a, entry.id)
    assert task.status == "closed" and task.closed_at is not None and task.active_entry_id is None
    service.quality_check_create(world.session, a, QualityCheckCreate(entry_id=entry.id, kind="not_null",
                                                                      column="income"))
    service.quality_run(world.session, a, entry.id)  # a new failure after the close: a new task
    first, second = _tasks(world, entry)
    assert first.status == "closed" and second.status == "open"
    for action in ("quality_task_open", "quality_task_resolve", "quality_task_reopen", "quality_task_close"):
        assert _audit(world, action), action
    resolved = _audit(world, "quality_task_resolve")[0]
    assert resolved.org_id == world.orgs["dept_a"].id and resolved.target_id == str(task.id)


def test_who_sees_and_resolves_quality_tasks(world: Any) -> None:
    entry, _bad = _failing(world)
    service.quality_run(world.session, world.actors["org_member_a"], entry.id)
    [task] = _tasks(world, entry)
    s = world.session

    def listed(who: str) -> bool:
        rows, _total = service.quality_task_list(s, world.actors[who])
        return task.id in {t.id for t, _title, _late in rows}

    assert listed("org_member_a") and listed("org_admin_a") and listed("bureau_member") and listed("auditor")
    assert not listed("org_member_b") and not listed("district_admin")
    with pytest.raises(NotFound):
        service.quality_task_get(s, world.actors["org_member_b"], task.id)
    with pytest.raises(NotFound):
        service.quality_task_resolve(s, world.actors["org_member_b"], task.id, "不是我的")
    for who in ("auditor", "bureau_member"):  # they see it; the unit resolves it
        with pytest.raises(Forbidden):
            service.quality_task_resolve(s, world.actors[who], task.id, "代为处理")
    with pytest.raises(Forbidden):
        service.quality_task_list(s, SYSTEM.anonymous())
    with pytest.raises(ValidationFailed) as exc:
        service.quality_task_list(s, world.actors["bureau_member"], service.TaskFilter(status="later"))
    assert exc.value.details[0]["field"] == "status"
    rows, total = service.quality_task_list(s, world.actors["bureau_member"],
                                            service.TaskFilter(org_id=world.orgs["dept_b"].id))
    assert rows == [] and total == 0


def test_overdue_tasks_show_and_count_in_the_responsibility_kpi_and_the_evaluation(world: Any) -> None:
    entry, _bad = _failing(world)
    a = world.actors["org_member_a"]
    dept = world.orgs["dept_a"].id

    def kpi() -> dict[str, Any]:
        return {k["org_id"]: k for k in service.kpis(world.session, SYSTEM)}[dept]

    service.quality_run(world.session, a, entry.id)
    fresh = kpi()
    assert fresh["quality_tasks"] == 1 and fresh["quality_tasks_open"] == 1
    assert fresh["quality_tasks_overdue"] == 0 and fresh["quality_task_timeliness"] is None  # not due yet
    rows, _t = service.quality_task_list(world.session, a, service.TaskFilter(overdue=True))
    assert rows == []
    clock.set_now(T0 + timedelta(days=30))  # past the deadline, still open
    rows, total = service.quality_task_list(world.session, a, service.TaskFilter(overdue=True))
    assert total == 1 and rows[0][2] is True and rows[0][1] == entry.title
    late = kpi()
    assert late["quality_tasks_overdue"] == 1 and late["quality_task_timeliness"] == 0.0
    assert late["score"] < fresh["score"]
    _header, export = service.responsibility_list_rows(world.session, SYSTEM)
    assert next(r for r in export if r[0] == "甲局")[-3] == 1  # 逾期整改

    scheme = apply.evaluation.evaluation_scheme_create(world.session, world.actors["platform_admin"], SchemeCreate(
        code="t-quality-tasks", title_zh="指标", org_type="department",
        indicators=[IndicatorSpec(key="data.responsibility_kpi", weight=50),
                    IndicatorSpec(key="bureau.assessment", weight=50)]))
    run = apply.evaluation.evaluation_run_compute(world.session, world.actors["platform_admin"],
                                                  RunCreate(scheme_id=scheme.id, year=2026))
    card = apply.evaluation.scorecard(world.session, world.actors["platform_admin"], run.id, dept)
    assert {b.key: b for b in card.breakdown}["data.responsibility_kpi"].value == late["score"]


def test_a_task_resolved_in_time_counts_as_timely(world: Any) -> None:
    entry, _bad = _failing(world)
    a = world.actors["org_member_a"]
    service.quality_run(world.session, a, entry.id)
    [task] = _tasks(world, entry)
    service.quality_task_resolve(world.session, a, task.id, "已整改")
    clock.set_now(T0 + timedelta(days=30))  # resolved before the deadline: not overdue even now
    k = {k["org_id"]: k for k in service.kpis(world.session, SYSTEM)}[world.orgs["dept_a"].id]
    assert k["quality_tasks_overdue"] == 0 and k["quality_task_timeliness"] == 1.0


def test_quality_task_api(client: Any, world: Any) -> None:
    entry, _bad = _failing(world)
    service.quality_run(world.session, world.actors["org_member_a"], entry.id)
    [task] = _tasks(world, entry)
    r = client.get("/api/v1/data/quality/tasks", headers=world.headers("org_member_a"))
    assert r.status_code == 200 and r.json()["total"] == 1 and r.json()["items"][0]["entry_title"] == entry.title
    assert client.get("/api/v1/data/quality/tasks", headers=world.headers("org_member_b")).json()["total"] == 0
    assert client.get(f"/api/v1/data/quality/tasks/{task.id}",
                      headers=world.headers("org_member_b")).status_code == 404
    assert client.get("/api/v1/data/quality/tasks").status_code == 401
    deep = client.get("/api/v1/data/quality/tasks?offset=19122920848933832858521305088",  # the fuzzer's finding
                      headers=world.headers("org_member_a"))
    assert deep.status_code == 422 and "offset" in deep.text
    url = f"/api/v1/data/quality/tasks/{task.id}/resolve"
    assert client.post(url, json={"note": ""}, headers=world.headers("org_member_a")).status_code == 422
    assert client.post(url, json={"note": "改了"}, headers=world.headers("auditor")).status_code == 403
    r = client.post(url, json={"note": "改了"}, headers=world.headers("org_member_a"))
    assert r.status_code == 200 and r.json()["status"] == "resolved"
    assert client.post(url, json={"note": "改了"}, headers=world.headers("org_member_a")).status_code == 409


def test_quality_page_lists_tasks_with_filters_and_the_resolve_form(client: Any, world: Any) -> None:
    from tests.web.test_pages import _csrf, login

    entry, _bad = _failing(world)
    service.quality_run(world.session, world.actors["org_member_a"], entry.id)
    [task] = _tasks(world, entry)
    def tasks_table(url: str) -> str:
        text: str = client.get(url).text
        return text.split('data-testid="quality-tasks"', 1)[1].split("</table>", 1)[0]

    login(client, "t-b-member")  # another unit: no task of theirs, no form
    assert entry.title not in tasks_table("/data/collection/quality")
    login(client, "t-a-member")
    page = client.get("/data/collection/quality")
    assert entry.title in tasks_table("/data/collection/quality") and 'data-testid="resolve-form"' in page.text
    assert "待整改" in page.text
    assert entry.title not in tasks_table("/data/collection/quality?status=closed")
    assert entry.title not in tasks_table("/data/collection/quality?overdue=true")
    assert client.get("/data/collection/quality?status=later").status_code == 422
    assert client.get("/data/collection/quality?org_id=nope").status_code == 422
    url = f"/data/collection/quality/tasks/{task.id}/resolve"
    done = client.post(url, data={"csrf_token": _csrf(page.text), "note": "补录了收入"}, follow_redirects=False)
    assert done.status_code == 303, done.text
    world.session.expire_all()
    assert task.status == "resolved", done.headers.get("location")
    page = client.get("/data/collection/quality?status=resolved")
    assert "补录了收入" in page.text and 'data-testid="resolve-form"' not in page.text
    english = client.get("/data/collection/quality", cookies={"cityhub_lang": "en"})
    assert "Quality tasks" in english.text and "Resolved, awaiting the next run" in english.text
