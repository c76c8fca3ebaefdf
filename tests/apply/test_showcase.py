"""The public scenario showcase (/showcase): no login needed; anonymous visitors and staff alike see accepted
scenarios only — declared, building and built ones stay internal —, with summary and lead unit, escaped."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from cityhub.apply import service as apply
from cityhub.apply.schemas import ScenarioCreate
from tests.apply.test_pages import _login

sc = apply.scenarios


def _moved(w: Any, name: str, batch: str, steps: list[str], summary: str = "") -> Any:
    s = sc.scenario_create(w.session, w.actors["org_member_a"], ScenarioCreate(
        name=name, batch=batch, year=2026, owner_org_id=w.orgs["dept_a"].id, summary=summary))
    for to in steps:
        sc.scenario_transition(w.session, w.actors["platform_admin"], s.id, to)
    return s


def _names(html: str) -> list[str]:
    return re.findall(r'data-testid="showcase-item"><b>([^<]*)</b>', html)


def test_anonymous_visitors_see_only_accepted_scenarios(client: TestClient, world: Any) -> None:
    _moved(world, "智慧停车", "livelihood", ["building", "built", "accepted"], summary="<img src=x onerror=alert(1)>")
    _moved(world, "5G 远程医疗", "5g", ["building", "built", "accepted"])
    _moved(world, "刚申报", "livelihood", [])
    _moved(world, "建设中", "livelihood", ["building"])
    _moved(world, "已建成待验收", "livelihood", ["building", "built"])
    world.session.commit()
    r = client.get("/showcase")  # no login
    assert r.status_code == 200
    assert sorted(_names(r.text)) == sorted(["智慧停车", "5G 远程医疗"])
    assert "<img src=x" not in r.text and "&lt;img src=x onerror=alert(1)&gt;" in r.text
    assert world.orgs["dept_a"].name in r.text and "牵头单位" in r.text
    assert _names(client.get("/showcase?batch=5g").text) == ["5G 远程医疗"]
    assert client.get("/showcase?batch=nope").status_code == 422
    _login(client, "t-b-member")  # staff see the same public page, not the internal register
    assert sorted(_names(client.get("/showcase").text)) == sorted(["智慧停车", "5G 远程医疗"])
    client.cookies.set("cityhub_lang", "en")
    assert "Application scenario showcase" in client.get("/showcase").text


def test_an_empty_showcase_says_so(client: TestClient, world: Any) -> None:
    _moved(world, "刚申报", "livelihood", [])
    world.session.commit()
    r = client.get("/showcase")
    assert r.status_code == 200 and _names(r.text) == [] and "暂无已验收的应用场景" in r.text
