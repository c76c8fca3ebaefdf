"""Scheduled analyses and published answers (issue 18): a cron schedule runs an analysis as the user who set it,
a refusal stays visible on the analysis, and a run's answer becomes a graded draft datastore table, audited."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cityhub.compute import service as compute
from cityhub.compute.schemas import AnalysisCreate, AnalysisPublish, AnalysisRunStart, AnalysisUpdate
from cityhub.core import service as core
from cityhub.core.models import AuditEntry
from cityhub.data import service as data
from cityhub.kit import clock
from cityhub.kit.errors import Conflict, NotFound, ValidationFailed
from cityhub.kit.pagination import PageParams
from cityhub.kit.settings import get_settings
from tests.compute.analytics.helpers import synthetic_lake
from tests.data.helpers import load_people, published_entry


@pytest.fixture(autouse=True)
def var_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(get_settings(), "var_dir", tmp_path)
    monkeypatch.setattr(get_settings(), "engine", "duckdb")
    return tmp_path


def _people_analysis(world: Any, schedule: str = "") -> Any:
    entry = published_entry(world)  # graded "important"
    res = load_people(world, entry)
    return compute.analysis_create(world.session, world.actors["org_member_a"], AnalysisCreate(
        org_id=world.orgs["dept_a"].id, name="人口统计", sql=f'SELECT gender, count(*) AS "人数" FROM "{res.id}" '
        "GROUP BY gender ORDER BY gender", schedule=schedule))


def _actions(world: Any, action: str) -> list[AuditEntry]:
    return list(world.session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


@pytest.mark.parametrize("expr", ["every hour", "0 6 * *", "61 * * * *", "* * * * * *"])
def test_a_schedule_that_is_not_a_five_field_cron_is_refused_naming_it(world: Any, expr: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        _people_analysis(world, expr)
    assert err.value.field == "schedule"


def test_a_due_schedule_runs_once_as_its_owner_and_moves_on(world: Any) -> None:
    a = _people_analysis(world, "0 6 * * *")
    assert a.schedule_by == "t-a-member" and a.next_run_at is not None
    assert a.next_run_at.hour == 6 and a.next_run_at > clock.now()
    s = world.session
    assert compute.analysis_schedules_due(s) == []  # not yet
    later = a.next_run_at + timedelta(minutes=1)
    assert compute.analysis_schedules_due(s, later) == [a.id]
    assert compute.analysis_schedule_run(s, a.id, later) == "started"
    assert compute.analysis_schedule_run(s, a.id, later) == "skipped"  # claimed: next_run_at moved a day on
    assert a.next_run_at == datetime(later.year, later.month, later.day, 6, tzinfo=UTC) + timedelta(days=1)
    runs = compute.analysis_runs(s, world.actors["org_member_a"], a.id)
    assert len(runs) == 1 and runs[0]["trigger"] == "schedule" and runs[0]["status"] == "succeeded"
    assert runs[0]["started_by"] == "t-a-member"  # the owner's reads, not the scheduler's
    assert runs[0]["grade"] == "important"  # graded like the entry it read
    audit = _actions(world, "analysis_run")[-1]
    assert audit.summary["after"]["trigger"] == "schedule" and audit.actor_name == "t-a-member"


def test_a_schedule_whose_owner_lost_the_right_is_refused_visibly(world: Any) -> None:
    a = _people_analysis(world, "*/5 * * * *")
    s = world.session
    user = world.users["org_member_a"]
    for b in core.role_binding_list(s, world.actors["platform_admin"], PageParams(), user_id=user.id)[0]:
        core.role_binding_delete(s, world.actors["platform_admin"], b.id)
    later = a.next_run_at + timedelta(seconds=1)
    assert compute.analysis_schedule_run(s, a.id, later) == "refused"
    assert a.schedule_error  # kept on the analysis for its page and the API
    assert a.next_run_at > later  # not retried in a tight loop
    assert compute.analysis_runs(s, world.actors["platform_admin"], a.id) == []
    failed = _actions(world, "analysis_schedule_failed")
    assert failed and failed[-1].target_id == str(a.id)
    # clearing the schedule clears the refusal; setting it again makes the setter the owner
    compute.analysis_update(s, world.actors["platform_admin"], a.id, AnalysisUpdate(schedule=""))
    assert (a.schedule, a.schedule_by, a.next_run_at, a.schedule_error) == ("", "", None, "")


def test_a_run_is_published_as_a_graded_draft_table_once(world: Any) -> None:
    a = _people_analysis(world)
    s, member = world.session, world.actors["org_member_a"]
    run = compute.analysis_run(s, member, a.id, AnalysisRunStart(), wait=True)
    with pytest.raises(NotFound):  # another unit never sees the run
        compute.analysis_run_publish(s, world.actors["org_member_b"], run["id"], AnalysisPublish())
    with pytest.raises(NotFound):  # the operator reads the lake but no unit's saved analyses
        compute.analysis_run_publish(s, world.actors["operator"], run["id"], AnalysisPublish())
    out = compute.analysis_run_publish(s, member, run["id"], AnalysisPublish(title="人口性别统计"))
    assert out["published_resource_id"] is not None
    res, entry = data.resource_get(s, member, out["published_resource_id"])
    assert entry.title == "人口性别统计" and entry.provider_org_id == world.orgs["dept_a"].id
    assert entry.security_grade == "important" and entry.status == "draft" and entry.share_type == "none"
    assert [(i["name_cn"], i["name_en"], i["data_type"], i["security_level"]) for i in entry.items] == [
        ("gender", "gender", "C", "important"), ("人数", "col2", "I", "important")]
    _fields, rows, total, _after = data.datastore_query(s, member, res.id, limit=10)
    got = compute.analysis_run_get(s, member, run["id"])
    assert total == len(got["records"]) and [[r["gender"], r["col2"]] for r in rows] == got["records"]
    with pytest.raises(Conflict):
        compute.analysis_run_publish(s, member, run["id"], AnalysisPublish())
    audit = _actions(world, "analysis_publish")[-1]
    assert audit.summary["after"]["resource"] == str(res.id) and audit.summary["after"]["grade"] == "important"


def test_the_lake_is_published_as_important_and_an_unfinished_run_not_at_all(world: Any, var_dir: Path) -> None:
    synthetic_lake(var_dir / "lake")
    admin = world.actors["platform_admin"]
    a = compute.analysis_create(world.session, admin, AnalysisCreate(
        org_id=world.orgs["dept_a"].id, name="湖", sql="SELECT key, count(*) AS n FROM telemetry GROUP BY key"))
    run = compute.analysis_run(world.session, admin, a.id, AnalysisRunStart(), wait=True)
    assert run["grade"] == "important"
    bad = compute.analysis_create(world.session, admin, AnalysisCreate(
        org_id=world.orgs["dept_a"].id, name="坏", sql="SELECT CAST('x' AS INTEGER) AS n FROM devices"))
    failed = compute.analysis_run(world.session, admin, bad.id, AnalysisRunStart(), wait=True)
    with pytest.raises(Conflict):
        compute.analysis_run_publish(world.session, admin, failed["id"], AnalysisPublish())


def test_publish_and_schedule_through_the_api(client: Any, world: Any) -> None:
    a = _people_analysis(world)
    h = world.headers("org_member_a")
    r = client.patch(f"/api/v1/compute/analyses/{a.id}", headers=h, json={"schedule": "0 7 * * 1"})
    assert r.status_code == 200 and r.json()["schedule"] == "0 7 * * 1" and r.json()["next_run_at"]
    bad = client.patch(f"/api/v1/compute/analyses/{a.id}", headers=h, json={"schedule": "nope"})
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "schedule"
    run = client.post(f"/api/v1/compute/analyses/{a.id}/runs", headers=h, json={})
    assert run.status_code == 202
    rid = run.json()["id"]
    for _ in range(200):
        if client.get(f"/api/v1/compute/analyses/runs/{rid}", headers=h).json()["status"] != "running":
            break
        time.sleep(0.05)
    pub = client.post(f"/api/v1/compute/analyses/runs/{rid}/publish", headers=h, json={"title": "结果"})
    assert pub.status_code == 201, pub.text
    assert pub.json()["published_resource_id"]
    assert client.post(f"/api/v1/compute/analyses/runs/{rid}/publish", headers=h).status_code == 409
    assert client.post(f"/api/v1/compute/analyses/runs/{rid}/publish",
                       headers=world.headers("org_member_b")).status_code == 404
