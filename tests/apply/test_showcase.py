"""The public scenario showcase (/showcase): no login needed; anonymous visitors and staff alike see accepted
scenarios only — declared, building and built ones stay internal —, with summary and lead unit, escaped."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from cityhub.apply import service as apply
from cityhub.apply.schemas import ScenarioCreate
from cityhub.core.models import AuditEntry
from cityhub.kit.errors import Forbidden, ValidationFailed
from tests.apply.test_pages import _csrf, _login

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


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def test_the_owner_unit_sets_a_picture_shown_publicly_only_once_accepted(client: TestClient, world: Any) -> None:
    s = _moved(world, "智慧停车", "livelihood", ["building", "built"])
    with pytest.raises(Forbidden):  # another unit does not set it
        sc.scenario_picture_set(world.session, world.actors["org_member_b"], s.id, "p.png", PNG)
    with pytest.raises(ValidationFailed) as e:  # a PDF is evidence, not a picture
        sc.scenario_picture_set(world.session, world.actors["org_member_a"], s.id, "p.png", b"%PDF-1.4 x")
    assert e.value.field == "file"
    with pytest.raises(ValidationFailed) as e:  # a renamed text file is refused by its bytes
        sc.scenario_picture_set(world.session, world.actors["org_member_a"], s.id, "p.png", b"<svg onload=x>")
    assert e.value.field == "file" and not sc.scenario_get(world.session, world.actors["auditor"], s.id).picture
    got = sc.scenario_picture_set(world.session, world.actors["org_member_a"], s.id, "../../p.png", PNG)
    assert got.picture
    row = world.session.scalars(select(AuditEntry).where(AuditEntry.action == "scenario_picture_set")).one()
    assert row.summary["after"]["type"] == "image/png"
    world.session.commit()
    assert client.get(f"/showcase/{s.id}/picture").status_code == 404  # built, not yet accepted: not public
    assert 'data-testid="showcase-picture"' not in client.get("/showcase").text
    sc.scenario_transition(world.session, world.actors["platform_admin"], s.id, "accepted")
    world.session.commit()
    r = client.get(f"/showcase/{s.id}/picture")  # anonymous
    assert r.status_code == 200 and r.content == PNG and r.headers["content-type"] == "image/png"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert f'src="/showcase/{s.id}/picture"' in client.get("/showcase").text
    assert client.get(f"/showcase/{world.orgs['dept_a'].id}/picture").status_code == 404


def test_the_picture_form_on_the_scenario_page(client: TestClient, world: Any) -> None:
    s = _moved(world, "智慧停车", "livelihood", [])
    world.session.commit()
    _login(client, "t-a-member")
    page = client.get(f"/apply/scenarios/{s.id}").text
    assert 'data-testid="picture-form"' in page
    bad = client.post(f"/apply/scenarios/{s.id}/picture", data={"csrf_token": _csrf(page)},
                      files={"file": ("x.pdf", b"%PDF-1.4 x", "application/pdf")}, follow_redirects=True)
    assert bad.status_code == 200 and "请上传 PNG 或 JPEG 图片" in bad.text
    ok = client.post(f"/apply/scenarios/{s.id}/picture", data={"csrf_token": _csrf(bad.text)},
                     files={"file": ("x.png", PNG, "image/png")}, follow_redirects=True)
    assert ok.status_code == 200 and 'data-testid="has-picture"' in ok.text
    client.cookies.clear()
    _login(client, "t-b-member")
    assert 'data-testid="picture-form"' not in client.get(f"/apply/scenarios/{s.id}").text
