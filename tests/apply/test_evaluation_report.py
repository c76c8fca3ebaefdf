"""The printable evaluation report: the bureau and auditors get the whole run (indicators, ranking, every unit's
score per indicator, adjustments with their reasons, draft or frozen said plainly); a unit's staff get 403, an
unknown run 404; the print stylesheet lays it out on A4 in WenQuanYi Zen Hei."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cityhub.apply import service as apply
from cityhub.apply.evaluation.schemas import Adjustment, RunCreate
from cityhub.cloud import service as cloud
from cityhub.cloud.schemas import SystemCreate
from cityhub.core.actor import Actor
from cityhub.kit.errors import Forbidden
from tests.apply.test_pages import _login
from tests.compute.helpers import bureau_setup

SYSTEM = Actor.system("test")
CSS = Path(__file__).resolve().parents[2] / "src" / "cityhub" / "web" / "static" / "pages" / "apply-report.css"


def _run(world: Any) -> Any:
    bureau_setup(world)
    apply.evaluation.scheme_seed(world.session, SYSTEM)
    cloud.system_create(world.session, SYSTEM, SystemCreate(org_id=world.orgs["dept_a"].id, name="甲一",
                                                            hosting="cloud", integrated=True))
    dept = next(s for s in apply.evaluation.scheme_list(world.session, SYSTEM) if s.code == "dept-annual")
    admin = world.actors["platform_admin"]
    run = apply.evaluation.evaluation_run_compute(world.session, admin, RunCreate(scheme_id=dept.id, year=2026))
    apply.evaluation.evaluation_score_adjust(world.session, admin, run.id, world.orgs["dept_b"].id,
                                             Adjustment(adjustment=5, reason="承办全市现场会"))
    return run


def test_the_report_holds_the_whole_run_for_the_bureau_and_auditors(world: Any) -> None:
    run = _run(world)
    data = apply.evaluation.report(world.session, world.actors["auditor"], run.id)
    names = [u["name"] for u in data["units"]]
    ranks = [u["rank"] for u in data["units"]]
    assert {"甲局", "乙局"} <= set(names) and ranks == sorted(ranks)
    assert [(u["name"], u["adjustment"], u["reason"]) for u in data["adjusted"]] == [("乙局", 5.0, "承办全市现场会")]
    a = next(u for u in data["units"] if u["name"] == "甲局")
    assert a["scores"]["cloud.on_cloud"] == 100.0  # its one system is on the cloud, above its level's target
    assert set(data["indicator_means"]) == {i["key"] for i in data["indicators"]}
    with pytest.raises(Forbidden):
        apply.evaluation.report(world.session, world.actors["org_member_a"], run.id)


def test_the_report_page_prints_and_only_the_bureau_and_auditors_see_it(client: TestClient, world: Any) -> None:
    run = _run(world)
    world.session.commit()
    _login(client, "t-a-member")
    assert client.get(f"/apply/evaluation/runs/{run.id}/report").status_code == 403
    client.cookies.clear()
    _login(client, "t-admin")
    assert client.get(f"/apply/evaluation/runs/{uuid.uuid4()}/report").status_code == 404
    page = client.get(f"/apply/evaluation/runs/{run.id}/report").text
    assert "年度评比报告" in page and "承办全市现场会" in page and "草稿" in page
    assert 'data-testid="matrix"' in page and 'href="/static/pages/apply-report.css"' in page
    # the default scheme's indicators of every layer, titled in Chinese, and the rule for a time
    assert "共享申请提交至提供方答复的平均时长（小时）" in page and "责任清单考核得分" in page
    assert "本单位应用调用能力组件次数" in page and "到期应用场景按期交付率" in page and "时长类指标（越短越好" in page
    assert "/report\" data-testid=\"print-report\"" in client.get(f"/apply/evaluation/runs/{run.id}").text
    apply.evaluation.evaluation_run_freeze(world.session, world.actors["platform_admin"], run.id)
    world.session.commit()
    assert "已冻结" in client.get(f"/apply/evaluation/runs/{run.id}/report").text
    css = CSS.read_text(encoding="utf-8")
    assert "@page" in css and "size: A4" in css and "WenQuanYi Zen Hei" in css and "@media print" in css


def test_the_printed_report_lists_every_units_evidence(client: TestClient, world: Any) -> None:
    run = _run(world)
    pdf = b"%PDF-1.7\n%%EOF\n"
    ev = apply.evidence.evaluation_evidence_attach(world.session, world.actors["org_member_a"], run.id,
                                                   world.orgs["dept_a"].id, "cloud.on_cloud", "上云台账.pdf", pdf)
    assert [e.id for e in apply.evidence.run_evidence(world.session, world.actors["auditor"], run.id)] == [ev.id]
    with pytest.raises(Forbidden):  # the unit reads its own on the scorecard, not the whole run's
        apply.evidence.run_evidence(world.session, world.actors["org_member_a"], run.id)
    world.session.commit()
    _login(client, "t-admin")
    page = client.get(f"/apply/evaluation/runs/{run.id}/report").text
    row = page[page.index('data-testid="evidence"'):]
    assert "上云台账.pdf" in row and f"/apply/evaluation/evidence/{ev.id}" in row and ev.sha256[:16] in row
    assert "甲局" in row and "五、佐证材料" in page
