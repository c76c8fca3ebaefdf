"""Batch jobs: a built-in run over a datastore table or a device's telemetry, queued per unit, run by the worker's
own function (`job_work_once`, what `cityhub compute job-worker` loops over), cancelled, failing, refused across
units; the answer is a new datastore table of the caller's unit graded like its input."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from cityhub.compute.jobs import service as jobs
from cityhub.compute.models import Job, JobStatus
from cityhub.compute.schemas import JobCreate
from cityhub.connect import service as connect
from cityhub.data import service as data
from cityhub.kit import clock
from cityhub.kit.db import Database
from cityhub.kit.errors import Forbidden, NotFound, ValidationFailed
from cityhub.kit.settings import get_settings
from tests.compute.helpers import published
from tests.connect.helpers import build_connect, message
from tests.data.helpers import load_people, published_entry

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _jobs_dir(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "var_dir", tmp_path)


def _table(w: Any) -> Any:
    entry = published_entry(w)
    res = load_people(w, entry)
    return entry, res


def _id_job(w: Any, res: Any, org: str = "dept_a", **over: Any) -> JobCreate:
    return JobCreate.model_validate({"org_id": w.orgs[org].id, "component_code": "idc", "version": "1.0.0",
                                     "path": "/resident-id", "source_kind": "table", "resource_id": res.id,
                                     "fields": {"number": "id_number"}, **over})


def test_a_table_job_writes_a_graded_table_of_the_callers_unit(world: Any, db: Database) -> None:
    w = world
    entry, res = _table(w)
    published(w, "idc", builtin="id-check")
    job = jobs.job_create(w.session, w.actors["org_member_a"], _id_job(w, res, name="身份号码核验"))
    assert (job.status, job.rows_total, job.grade) == (JobStatus.QUEUED, 3, "important")
    w.session.commit()
    end = jobs.job_work_once(db, "w1")
    w.session.expire_all()
    done = w.session.get(Job, job.id)
    assert end == JobStatus.SUCCEEDED, done.error if done else None
    assert done is not None and done.status == JobStatus.SUCCEEDED and done.rows_done == 3 and done.worker == "w1"
    out = data.catalog_entry_get(w.session, w.actors["org_member_a"], done.result_entry_id)
    assert out.provider_org_id == w.orgs["dept_a"].id and out.security_grade == "important"
    by_name = {i["name_en"]: i for i in out.items}
    assert by_name["id_number"]["security_level"] == next(
        i for i in entry.items if i["name_en"] == "id_number")["security_level"]  # each column graded like its input
    fields, rows, total, _n = data.datastore_query(w.session, w.actors["org_member_a"], done.result_resource_id)
    assert total == 3 and "out_valid" in fields and "name" in fields
    # the built-in really checked each number: the first one's check digit is wrong, and the answer says so
    got = {r["name"]: r for r in rows}
    assert got["张三"]["out_valid"] is False or got["张三"]["out_valid"] in ("false", "False")


def test_another_unit_may_neither_read_the_input_nor_see_or_cancel_the_job(world: Any) -> None:
    w = world
    _entry, res = _table(w)
    published(w, "idc", builtin="id-check", open_to_all=True)
    with pytest.raises(Forbidden):  # dept_b holds no grant on dept_a's table
        jobs.job_create(w.session, w.actors["org_member_b"], _id_job(w, res, org="dept_b"))
    with pytest.raises(Forbidden):  # nor runs jobs for another unit
        jobs.job_create(w.session, w.actors["org_member_b"], _id_job(w, res, org="dept_a"))
    job = jobs.job_create(w.session, w.actors["org_member_a"], _id_job(w, res))
    with pytest.raises(Forbidden):
        jobs.job_get(w.session, w.actors["org_member_b"], job.id)
    with pytest.raises(Forbidden):
        jobs.job_cancel(w.session, w.actors["org_member_b"], job.id)
    from cityhub.kit.pagination import PageParams

    assert jobs.job_list(w.session, w.actors["org_member_b"], PageParams()).total == 0
    assert jobs.job_list(w.session, w.actors["auditor"], PageParams()).total == 1


def test_bad_requests_name_the_field(world: Any) -> None:
    w = world
    _entry, res = _table(w)
    published(w, "idc", builtin="id-check")
    with pytest.raises(ValidationFailed) as e:
        jobs.job_create(w.session, w.actors["org_member_a"], _id_job(w, res, fields={"number": "nope"}))
    assert e.value.field == "fields"
    with pytest.raises(ValidationFailed) as e:
        jobs.job_create(w.session, w.actors["org_member_a"], _id_job(w, res, path="/nowhere"))
    assert e.value.field == "path"
    with pytest.raises(ValueError, match="resource_id"):
        JobCreate.model_validate({"org_id": w.orgs["dept_a"].id, "component_code": "idc", "version": "1.0.0",
                                  "path": "/resident-id", "source_kind": "table", "fields": {"number": "x"}})
    # a field of the other kind is refused, not silently ignored (no one may think another unit's device was used)
    base = {"org_id": w.orgs["dept_a"].id, "component_code": "idc", "version": "1.0.0", "path": "/resident-id"}
    with pytest.raises(ValueError, match="device_id: only for a telemetry job"):
        JobCreate.model_validate({**base, "source_kind": "table", "resource_id": res.id, "fields": {"number": "x"},
                                  "device_id": uuid.uuid4()})
    with pytest.raises(ValueError, match="resource_id: only for a table job"):
        JobCreate.model_validate({**base, "source_kind": "telemetry", "resource_id": res.id, "device_id": uuid.uuid4(),
                                  "metric": "level", "start": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00Z"})


def test_cancel_a_queued_and_a_running_job(world: Any, db: Database) -> None:
    w = world
    _entry, res = _table(w)
    published(w, "idc", builtin="id-check")
    member = w.actors["org_member_a"]
    queued = jobs.job_create(w.session, member, _id_job(w, res))
    assert jobs.job_cancel(w.session, member, queued.id).status == JobStatus.CANCELLED
    running = jobs.job_create(w.session, member, _id_job(w, res))
    w.session.commit()
    with db.session_scope() as s:
        claimed = jobs.job_claim(s, "w1")
        assert claimed is not None and claimed.id == running.id  # the cancelled one is not claimed
    w.session.expire_all()
    assert jobs.job_cancel(w.session, member, running.id).status == JobStatus.CANCELLING
    w.session.commit()
    assert jobs.job_run(db, running.id) == JobStatus.CANCELLED  # stopped at its first progress write
    w.session.expire_all()
    ended = w.session.get(Job, running.id)
    assert ended is not None and ended.result_resource_id is None and ended.finished_at is not None


def test_a_unit_runs_at_most_its_limit_of_jobs_at_once(world: Any, db: Database,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "compute_job_concurrency", 1)
    w = world
    _entry, res = _table(w)
    published(w, "idc", builtin="id-check", open_to_all=True)
    b_entry = published_entry(w, "dept_b", title="企业名录")
    b_res = load_people(w, b_entry, "dept_b")
    a1 = jobs.job_create(w.session, w.actors["org_member_a"], _id_job(w, res))
    a2 = jobs.job_create(w.session, w.actors["org_member_a"], _id_job(w, res))
    b1 = jobs.job_create(w.session, w.actors["org_member_b"], _id_job(w, b_res, org="dept_b"))
    w.session.commit()
    claimed = []
    for worker in ("w1", "w2", "w3"):
        with db.session_scope() as s:
            job = jobs.job_claim(s, worker)
            claimed.append(job.id if job else None)
    assert claimed == [a1.id, b1.id, None]  # a2 waits: dept_a already runs its one job
    assert jobs.job_run(db, a1.id) == JobStatus.SUCCEEDED
    with db.session_scope() as s:
        job = jobs.job_claim(s, "w1")
        assert job is not None and job.id == a2.id


def test_a_job_whose_worker_died_ends_failed_and_frees_its_units_slot(world: Any, db: Database,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "compute_job_concurrency", 1)
    w = world
    _entry, res = _table(w)
    published(w, "idc", builtin="id-check")
    lost = jobs.job_create(w.session, w.actors["org_member_a"], _id_job(w, res))
    waiting = jobs.job_create(w.session, w.actors["org_member_a"], _id_job(w, res))
    w.session.commit()
    with db.session_scope() as s:
        claimed = jobs.job_claim(s, "host:1")  # its worker is then killed: nothing touches the job again
        assert claimed is not None and claimed.id == lost.id
    with db.session_scope() as s:  # a running job with a recent heartbeat is left alone (and holds the slot)
        assert jobs.job_claim(s, "host:2") is None
    with db.session_scope() as s:
        s.execute(update(Job).where(Job.id == lost.id).values(
            updated_at=clock.now() - timedelta(seconds=jobs.STALE_AFTER_S + 1)))
    with db.session_scope() as s:
        nxt = jobs.job_claim(s, "host:2")
        assert nxt is not None and nxt.id == waiting.id
    w.session.expire_all()
    dead = w.session.get(Job, lost.id)
    # the reason, in the platform language (zh-CN by default): no heartbeat for STALE_AFTER_S seconds
    assert dead is not None and dead.status == JobStatus.FAILED and str(int(jobs.STALE_AFTER_S)) in dead.error
    assert dead.finished_at is not None


def _telemetry_job(w: Any, dev: Any, path: str, params: dict[str, Any]) -> JobCreate:
    return JobCreate.model_validate({"org_id": w.orgs["dept_a"].id, "component_code": "tsx", "version": "1.0.0",
                                     "path": path, "source_kind": "telemetry", "device_id": dev.id,
                                     "metric": "strain", "start": T0, "end": T0 + timedelta(hours=2),
                                     "params": params})


def _ingest(w: Any, dev: Any, n: int) -> None:
    recs: list[dict[str, Any]] = [{"ts": (T0 + timedelta(minutes=i)).isoformat(), "values": {"strain": 100.0 + (i % 7)}}
                                  for i in range(n)]
    recs[n // 2]["values"]["strain"] = 900.0  # one reading far off
    connect.ingest_messages(w.session, [message(dev.id, recs, clock.now())])


def test_a_telemetry_job_scores_the_devices_stored_series(world: Any, db: Database) -> None:
    w = world
    cw = build_connect(w)
    _ingest(w, cw["dev_a"], 60)
    published(w, "tsx", builtin="anomaly", open_to_all=True)
    job = jobs.job_create(w.session, w.actors["org_member_a"], _telemetry_job(w, cw["dev_a"], "/score",
                                                                                 {"threshold": 0.99}))
    assert job.source == {"device_id": str(cw["dev_a"].id), "metric": "strain", "start": T0.isoformat(),
                          "end": (T0 + timedelta(hours=2)).isoformat()}
    w.session.commit()
    assert jobs.job_work_once(db) == JobStatus.SUCCEEDED
    w.session.expire_all()
    done = w.session.get(Job, job.id)
    assert done is not None
    _f, rows, _t, _n = data.datastore_query(w.session, w.actors["org_member_a"], done.result_resource_id)
    flagged = [r for r in rows if r["out_flagged"] in (True, "true")]
    assert len(rows) == 60 and [float(r["value"]) for r in flagged][:1] == [900.0]  # the reading far off is flagged
    assert all(r["out_scores"] is not None for r in rows)
    with pytest.raises(NotFound):  # dept_b may not see dept_a's device: read with the submitter's rights
        jobs.job_create(w.session, w.actors["org_member_b"], _telemetry_job(w, cw["dev_a"], "/score", {})
                        .model_copy(update={"org_id": w.orgs["dept_b"].id}))


def test_a_failing_job_ends_failed_with_the_reason(world: Any, db: Database) -> None:
    w = world
    cw = build_connect(w)
    _ingest(w, cw["dev_a"], 5)  # a forecast needs at least 8 points
    published(w, "tsx", builtin="forecast")
    job = jobs.job_create(w.session, w.actors["org_member_a"], _telemetry_job(w, cw["dev_a"], "/forecast",
                                                                                 {"horizon": 3}))
    w.session.commit()
    assert jobs.job_work_once(db) == JobStatus.FAILED
    w.session.expire_all()
    failed = w.session.get(Job, job.id)
    assert failed is not None and failed.status == JobStatus.FAILED and "series" in failed.error
    assert failed.result_resource_id is None


def test_the_jobs_page_shows_progress_and_cancels(client: Any, world: Any, db: Database,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.compute.test_pages import HTML, _csrf, _flash, _login, _text

    w = world
    _entry, res = _table(w)
    published(w, "idc", builtin="id-check")
    done = jobs.job_create(w.session, w.actors["org_member_a"], _id_job(w, res, name="已完成的核验"))
    waiting = jobs.job_create(w.session, w.actors["org_member_a"], _id_job(w, res, name="排队的核验"))
    w.session.commit()
    monkeypatch.setattr(get_settings(), "compute_job_concurrency", 1)
    assert jobs.job_work_once(db) == JobStatus.SUCCEEDED  # the older one
    _login(client, "t-a-member")
    page = client.get("/compute/jobs", headers=HTML).text
    text = _text(page)
    assert "已完成的核验" in text and "排队的核验" in text and "已完成" in text and "排队中" in text
    assert 'value="3"' in page and "3 / 3" in text  # the finished job's progress
    assert " queued " not in text and " succeeded " not in text  # states in words, never their codes
    assert page.count('data-testid="cancel"') == 1  # only the queued job can be cancelled
    r = client.post(f"/compute/jobs/{waiting.id}/cancel", data={"csrf_token": _csrf(page)}, headers=HTML)
    assert r.status_code == 200 and _flash(r.text) == "作业已取消"
    w.session.expire_all()
    assert w.session.get(Job, waiting.id).status == JobStatus.CANCELLED
    with type(client)(client.app) as other:
        _login(other, "t-b-member")  # another unit sees none of them and may not cancel
        assert "已完成的核验" not in other.get("/compute/jobs", headers=HTML).text
        r = other.post(f"/compute/jobs/{done.id}/cancel", data={"csrf_token": _csrf(other.get(
            "/compute/jobs", headers=HTML).text)}, headers=HTML, follow_redirects=False)
        assert r.status_code in (303, 403)
        assert w.session.get(Job, done.id).status == JobStatus.SUCCEEDED
        assert other.get(f"/api/v1/compute/jobs/{done.id}").status_code == 403


class _Dept:
    """A department system answering each call with what it got (the upstream of an upstream version)."""

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.calls: list[tuple[str, dict[str, str], dict[str, Any]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                import json

                sent = json.loads(self.rfile.read(int(self.headers["content-length"])))
                outer.calls.append((self.path, {k.lower(): v for k, v in self.headers.items()}, sent))
                ok = not str(sent.get("number", "")).endswith("3456")
                out = json.dumps({"registered": ok, "holder": sent.get("number", "")[:6]} if ok else
                                 {"error": {"code": "not_registered", "message": "no such licence"}}).encode()
                self.send_response(200 if ok else 404)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/api"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_an_upstream_job_calls_as_the_units_application_metered_and_within_its_quota(
        world: Any, db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy import func, select

    from cityhub.compute import service as compute
    from cityhub.compute.models import Call
    from cityhub.compute.schemas import AppCreate, VersionCreate
    from tests.compute.helpers import component_data, subscribed

    monkeypatch.setattr(get_settings(), "compute_upstream_allowed_hosts", "127.0.0.1")
    monkeypatch.setattr(get_settings(), "compute_meter_flush_s", 0)  # written when the job's gateway closes
    dept = _Dept()
    try:
        w = world
        _entry, res = _table(w)
        owner = w.actors["org_member_b"]  # the department system is dept_b's; dept_a runs the job over its table
        comp = compute.component_create(w.session, owner, component_data(w, "licence", org="dept_b", builtin="noop"))
        compute.component_version_create(w.session, owner, comp.id, VersionCreate(
            version="1.0.0", kind="upstream", upstream_url=dept.url))
        compute.component_submit(w.session, owner, comp.id)
        compute.component_review(w.session, w.actors["platform_admin"], comp.id, True)
        member = w.actors["org_member_a"]
        base = {"org_id": w.orgs["dept_a"].id, "component_code": "licence", "version": "1.0.0", "path": "/verify",
                "source_kind": "table", "resource_id": res.id, "fields": {"number": "id_number"}}
        with pytest.raises(ValidationFailed) as e:  # an upstream job runs as an application: which one
            jobs.job_create(w.session, member, JobCreate.model_validate(base))
        assert e.value.field == "app_id"
        bare = compute.app_create(w.session, member, AppCreate(org_id=w.orgs["dept_a"].id, name="未订阅系统"))
        b_app, _sub_b, _k = subscribed(w, comp, org="dept_b")
        for app_id in (bare.id, b_app.id):  # not subscribed; another unit's application
            with pytest.raises(ValidationFailed) as e:
                jobs.job_create(w.session, member, JobCreate.model_validate({**base, "app_id": app_id}))
            assert e.value.field == "app_id"
        app_, _sub, _key = subscribed(w, comp, org="dept_a", quota_per_day=4)
        job = jobs.job_create(w.session, member, JobCreate.model_validate({**base, "app_id": app_.id}))
        w.session.commit()
        assert jobs.job_work_once(db, "w1") == JobStatus.SUCCEEDED
        w.session.expire_all()
        done = w.session.get(Job, job.id)
        assert done is not None and (done.rows_done, done.rows_failed) == (3, 1)
        assert sorted(c[2]["number"] for c in dept.calls) == sorted(
            ["500101199001011234", "500103198505052345", "500112200012123456"])
        path, headers, _sent = dept.calls[0]
        assert path == "/api/verify" and headers["x-cityhub-app"] == str(app_.id)  # signed as the application
        _f, rows, _t, _n = data.datastore_query(w.session, member, done.result_resource_id)
        by_name = {r["name"]: r for r in rows}
        assert by_name["张三"]["out_holder"] == "500101" and by_name["欧阳娜娜"]["out_error"].startswith(
            "not_registered")
        metered = w.session.scalar(select(func.count()).select_from(Call).where(Call.app_id == app_.id))
        assert metered == 3  # every call is the application's, metered
        # the daily quota of 4 leaves room for one more call: the next job stops with the reason
        again = jobs.job_create(w.session, member, JobCreate.model_validate({**base, "app_id": app_.id}))
        w.session.commit()
        assert jobs.job_work_once(db, "w1") == JobStatus.FAILED
        w.session.expire_all()
        stopped = w.session.get(Job, again.id)
        assert stopped is not None and stopped.result_resource_id is None
        assert stopped.error and ("quota" in stopped.error or "配额" in stopped.error), stopped.error
        assert len(dept.calls) == 4  # exactly the quota: 3 + 1
    finally:
        dept.close()


def test_the_job_form_offers_named_choices_and_queues_a_job(client: Any, world: Any) -> None:
    from tests.compute.test_pages import HTML, _csrf, _flash, _login, _text

    w = world
    entry, res = _table(w)
    published(w, "idc", builtin="id-check", open_to_all=True)
    w.session.commit()
    _login(client, "t-a-member")
    page = client.get("/compute/jobs", headers=HTML).text
    assert 'data-testid="job-form"' in page
    what = "idc@1.0.0|POST /resident-id"
    assert f'value="{what}"' in page  # a built-in's operation, labelled by its summary, not its code alone
    tables = page.split('data-testid="job-tables"', 1)[1].split("</select>", 1)[0]
    assert str(res.id) in tables and entry.title in _text(tables) and "id_number" in tables
    base = {"csrf_token": _csrf(page), "org_id": str(w.orgs["dept_a"].id), "what": what, "source_kind": "table",
            "resource_id": str(res.id), "name": "表单提交的核验"}
    r = client.post("/compute/jobs", data={**base, "fields": "number id_number"}, headers=HTML)
    assert _flash(r.text) and "表单提交的核验" not in _text(r.text.split('data-testid="jobs"', 1)[1])  # refused
    assert 'value="表单提交的核验"' in r.text  # the form comes back filled in
    r = client.post("/compute/jobs", data={**base, "csrf_token": _csrf(r.text), "fields": "number = id_number"},
                    headers=HTML)
    assert _flash(r.text) == "作业已排队"
    w.session.expire_all()
    job = w.session.query(Job).filter(Job.name == "表单提交的核验").one()
    assert (job.status, job.rows_total, job.request["fields"], job.request["path"]) == (
        JobStatus.QUEUED, 3, {"number": "id_number"}, "resident-id")
    with type(client)(client.app) as other:  # another unit's member is not offered dept_a's table
        _login(other, "t-b-member")
        other_page = other.get("/compute/jobs", headers=HTML).text
        assert str(res.id) not in other_page.split('data-testid="job-tables"', 1)[1].split("</select>", 1)[0]
