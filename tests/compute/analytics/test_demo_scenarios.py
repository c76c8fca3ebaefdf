"""The demo's what-ifs (issue 18): a dispatch suggestion over the open incidents with departments' teams, and the
storm "暴雨 +50 %", stored once as the operator's runs (the 大屏 and the scenario pages show them); idempotent."""

from __future__ import annotations

from sqlalchemy import select

from cityhub import demo
from cityhub.compute.models import ScenarioRun
from cityhub.core import service as core
from cityhub.kit.db import Database


def test_the_demo_stores_the_storm_and_a_dispatch_suggestion_once(db: Database) -> None:
    first = demo.build(db, "demo-pass-123", log=lambda _m: None, only=("core", "ops"))
    assert first.counts["ops"]["scenarios"] == 2
    again = demo.build(db, "demo-pass-123", log=lambda _m: None, only=("core", "ops"))
    assert again.counts["ops"]["scenarios"] == 0
    with db.session_scope() as s:
        runs = {r.name: r for r in s.scalars(select(ScenarioRun))}
        assert set(runs) == {"暴雨 +50 %", "今日调度建议"}
        storm, dispatch = runs["暴雨 +50 %"], runs["今日调度建议"]
        assert (storm.kind, storm.inputs["intensity"], storm.created_by) == ("drainage", 1.5, "operator")
        teams = {t["name"]: t for t in dispatch.result["teams"]}
        housing = core.organization_by_code(s, "cq-zfcxjw")
        assert housing is not None and teams["管廊抢修一队"]["org_id"] == str(housing.id)
        assert teams["管廊抢修二队"]["shift_start"] == 20
        # the citizen report's incident has a place: the suggestion covers it
        assert dispatch.result["assignments"], dispatch.result
