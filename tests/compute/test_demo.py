"""The hub's demo step: built through the services, idempotent, and its load is real metered gateway calls."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from cityhub import demo
from cityhub.compute import service as compute
from cityhub.compute.models import Call, Component, Subscription, UsageHourly
from cityhub.core import service as core
from cityhub.demo.compute import CALLS, resident_id
from cityhub.kit.db import Database


def test_demo_step_publishes_subscribes_and_meters_real_calls(db: Database) -> None:
    first = demo.build(db, "demo-pass-123", log=lambda _m: None, only=("core", "compute"))
    assert first.counts["compute"] == {"components": 9, "apps": 4, "subscriptions": 12, "calls": CALLS,
                                       "jobs": 0}  # no data step: no table to run a job over
    again = demo.build(db, "demo-pass-123", log=lambda _m: None, only=("core", "compute"))
    assert again.counts["compute"] == {"components": 0, "apps": 0, "subscriptions": 0, "calls": 0,
                                       "jobs": 0}
    with db.session_scope() as s:
        statuses = dict(s.execute(select(Component.code, Component.status)).all())
        assert statuses.pop("address-district") == "in_review"  # the bureau's review queue is not empty
        assert set(statuses.values()) == {"published"}
        subs = dict(s.execute(select(Subscription.status, func.count()).group_by(Subscription.status)).all())
        assert subs == {"active": 11, "pending": 1}  # one request waits for market regulation's chief
        by_status = dict(s.execute(select(Call.status, func.count()).group_by(Call.status)).all())
        assert sum(by_status.values()) == CALLS and by_status[200] > CALLS // 2
        assert set(by_status) <= {200, 429}  # answered, or refused by the per-minute quota of the id checks
        assert s.scalar(select(func.sum(UsageHourly.calls))) == CALLS
        days = {h.date() for h in s.scalars(select(UsageHourly.hour))}
        assert len(days) >= 10  # spread over the last two weeks: the component pages' daily charts show days
        bureau = core.actor_for_username(s, "dsj-reviewer")
        rows = compute.usage_report(s, bureau)
        assert {r.component_code for r in rows} >= {"coord-convert", "id-check", "licence-credit-verify",
                                                    "report-classify", "ts-forecast", "ts-anomaly"}
        assert sum(r.calls for r in rows) == CALLS and sum(r.cost for r in rows) > 0


def test_the_demo_runs_one_batch_job_and_queues_another(db: Database, tmp_path: Any,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from cityhub.compute.models import Job
    from cityhub.data import service as data
    from cityhub.kit.settings import get_settings

    monkeypatch.setattr(get_settings(), "var_dir", tmp_path)
    monkeypatch.setattr(get_settings(), "compute_upstream_allowed_hosts", "127.0.0.1")  # the stub's component
    built = demo.build(db, "demo-pass-123", log=lambda _m: None, only=("core", "data", "compute"))
    assert built.counts["compute"]["jobs"] == 3
    with db.session_scope() as s:
        jobs = {j.name: j for j in s.scalars(select(Job))}
        done, waiting = jobs["人口库身份号码批量核验"], jobs["身份证电子证照号码批量核验"]
        assert (done.status, waiting.status) == ("succeeded", "queued")
        lookup = jobs["外资企业营业执照批量查询"]  # the stub's upstream version, over the commission's granted table
        assert lookup.status == "queued" and lookup.rows_total == 1200 and lookup.request["app_id"]
        staff = core.actor_for_username(s, "gaj-staff")
        assert done.result_resource_id is not None and done.result_entry_id is not None
        fields, rows, total, _n = data.datastore_query(s, staff, done.result_resource_id, limit=1000)
        assert total == done.rows_total == 3000 and "out_valid" in fields
        assert {r["out_valid"] for r in rows} <= {True, False} and any(r["out_valid"] for r in rows)
        assert data.catalog_entry_get(s, staff, done.result_entry_id).security_grade == "important"


def test_synthetic_resident_ids_pass_or_fail_the_check_as_meant() -> None:
    import random

    from cityhub.compute.builtins.idcheck import resident_id as check

    rng = random.Random(7)
    for _ in range(50):
        good, bad = resident_id(rng), resident_id(rng, valid=False)
        assert check(good)["valid"], good
        result: Any = check(bad)
        assert not result["valid"] and any(e["code"] == "check_character" for e in result["errors"]), result


def test_with_the_stub_allow_listed_the_demo_registers_its_upstream_component(db: Database,
                                                                               monkeypatch: pytest.MonkeyPatch
                                                                               ) -> None:
    from cityhub.compute.models import ComponentVersion
    from cityhub.kit.settings import get_settings

    monkeypatch.setattr(get_settings(), "compute_upstream_allowed_hosts", "127.0.0.1")
    got = demo.build(db, "demo-pass-123", log=lambda _m: None, only=("core", "compute"))
    assert got.counts["compute"]["components"] == 10 and got.counts["compute"]["calls"] == CALLS
    with db.session_scope() as s:
        v = s.execute(select(ComponentVersion).join(Component, Component.id == ComponentVersion.component_id)
                      .where(Component.code == "licence-registry")).scalar_one()
        port = get_settings().compute_demo_upstream_port
        assert (v.kind, v.upstream_url) == ("upstream", f"http://127.0.0.1:{port}/api")
