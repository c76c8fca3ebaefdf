"""The 全景 screen: every layer's city-wide figures and the programme's own (targets by status per layer, scenarios,
enterprises) for any member of staff; a layer that fails shows as unavailable and the screen still answers; the page
renders its first reading in Chinese and English."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cityhub.apply import reference
from cityhub.apply import service as apply
from cityhub.apply.cli import panorama_pass
from cityhub.apply.facilities.schemas import ChannelUserCreate
from cityhub.apply.panorama import service as panorama
from cityhub.apply.panorama import snapshot
from cityhub.apply.schemas import ScenarioCreate
from cityhub.core.actor import Actor
from cityhub.kit import clock
from cityhub.kit.db import Database
from cityhub.kit.errors import Forbidden
from tests.apply.test_pages import _login
from tests.compute.helpers import published

SYSTEM = Actor.system("test")


def test_the_panorama_counts_every_layer_and_the_targets_by_status(world: Any) -> None:
    apply.programme_seed(world.session, SYSTEM)
    apply.progress_refresh(world.session, SYSTEM)
    apply.scenarios.scenario_create(world.session, world.actors["org_member_a"], ScenarioCreate(
        name="智慧停车", batch="livelihood", year=2026, owner_org_id=world.orgs["dept_a"].id))
    out = apply.panorama(world.session, world.actors["org_member_b"])
    assert set(out) >= {"cloud", "connect", "data", "compute", "ops", "apply", "at"}
    assert all(out[k] is not None for k in ("cloud", "connect", "data", "compute", "ops"))
    seeded = sum(1 for n in reference.SEED if n.kind == "target")
    assert sum(sum(r.values()) for r in out["apply"]["targets"].values()) == seeded
    assert set(out["apply"]["targets"]) == {"cloud", "connect", "data", "compute", "apply"}
    livelihood = next(b for b in out["apply"]["scenarios"] if b["batch"] == "livelihood")
    assert (livelihood["total"], livelihood["delivered"]) == (1, 0)  # declared, not yet delivered
    assert out["connect"]["districts"] and out["connect"]["stations_active"] == 0
    with pytest.raises(Forbidden):
        apply.panorama(world.session, Actor.anonymous())


def test_a_failing_layer_is_unavailable_and_the_screen_still_answers(world: Any,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(_session: Any) -> dict[str, Any]:
        raise RuntimeError("the compute layer is down")

    monkeypatch.setitem(panorama.LAYERS, "compute", broken)
    out = apply.panorama_compute(world.session)
    assert out["compute"] is None and out["cloud"] is not None and out["ops"] is not None


def test_the_page_renders_its_first_reading(client: TestClient, world: Any) -> None:
    apply.programme_seed(world.session, SYSTEM)
    world.session.commit()
    _login(client, "t-b-member")
    page = client.get("/apply/panorama")
    assert page.status_code == 200 and "智慧城市建设全景" in page.text and 'data-testid="kpis"' in page.text
    data = json.loads(re.search(r'id="page-data">(.*?)</script>', page.text, re.S).group(1))  # type: ignore[union-attr]  # the block is there
    assert data["quiet_s"] > 0 and data["words"]["layers"]["cloud"] == "云"
    api = client.get("/api/v1/apply/panorama")
    assert api.status_code == 200 and api.json()["apply"]["status"] == data["data"]["apply"]["status"]
    client.cookies.set("cityhub_lang", "en")
    assert "Smart-city programme panorama" in client.get("/apply/panorama").text


def test_a_request_reads_the_stored_reading_and_a_write_marks_it_due(world: Any) -> None:
    admin = world.actors["platform_admin"]
    first = apply.panorama(world.session, admin)  # nothing stored yet on this database: the first request reads
    assert first["version"] == 1 and not apply.panorama_due(world.session)
    apply.facilities.channel_user_create(world.session, admin, ChannelUserCreate(
        name="跨境用户", sector="finance", bandwidth_mbps=10, status="active", commissioned_on=date(2025, 1, 1)))
    again = apply.panorama(world.session, admin)
    assert again["at"] == first["at"] and again["connect"]["channel_users"] == 0  # stored, never computed here
    assert apply.panorama_due(world.session)  # the write asked the worker for a new reading
    apply.panorama_refresh(world.session)  # the worker's pass
    fresh = apply.panorama(world.session, admin)
    assert fresh["connect"]["channel_users"] == 1 and fresh["version"] == 2 and not apply.panorama_due(world.session)


def test_the_worker_reads_again_when_due(world: Any, db: Database) -> None:
    start = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
    clock.set_now(start)
    assert snapshot.due(None, start)  # never read
    apply.panorama_refresh(world.session)
    row = snapshot.stored(world.session)
    assert row is not None and not snapshot.due(row, start + timedelta(seconds=snapshot.REFRESH_S - 1))
    assert snapshot.due(row, start + timedelta(seconds=snapshot.REFRESH_S))  # the other layers move on their own
    apply.scenarios.scenario_create(world.session, world.actors["org_member_a"], ScenarioCreate(
        name="智慧停车", batch="livelihood", year=2026, owner_org_id=world.orgs["dept_a"].id))
    world.session.refresh(row)
    assert snapshot.due(row, start)  # asked for by the write, at once
    world.session.flush()
    clock.set_now(start + timedelta(seconds=1))
    assert panorama_pass(db, snapshot.REFRESH_S) is True
    assert panorama_pass(db, snapshot.REFRESH_S) is False  # nothing new: no reading
    world.session.expire_all()  # what the worker stored, as the next request reads it
    livelihood = next(b for b in apply.panorama(world.session, world.actors["auditor"])["apply"]["scenarios"]
                      if b["batch"] == "livelihood")
    assert livelihood["total"] == 1


def test_the_stream_pushes_the_stored_reading(client: TestClient, world: Any) -> None:
    apply.programme_seed(world.session, SYSTEM)
    world.session.commit()
    with client.stream("GET", "/apply/panorama/stream", params={"once": "1"},
                       headers=world.headers("org_member_b")) as resp:
        body = b"".join(resp.iter_bytes()).decode()
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
    event = next(line for line in body.splitlines() if line.startswith("data: "))
    data = json.loads(event[len("data: "):])
    assert "event: snapshot" in body and data["version"] >= 1 and set(data) >= {"cloud", "ops", "apply"}
    assert client.get("/apply/panorama/stream", params={"once": "1"}).status_code in (401, 403)


def test_the_compute_layer_reads_published_components(world: Any) -> None:
    published(world, "pano-geo")
    out = apply.panorama_compute(world.session)
    assert out["compute"] is not None and out["compute"]["components"] == 1
