"""CKAN harvest (issue 20): a second cityhub, served live by uvicorn over its own database, is the remote catalogue.

The remote answers `package_search` with its own CKAN-compatible API (`data/portal`); nothing here is canned.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cityhub.core.models import AuditEntry
from cityhub.data import schemas, service
from cityhub.data.collection.schemas import JobCreate, SourceCreate
from cityhub.data.models import CatalogEntry
from cityhub.kit import clock
from cityhub.kit.db import Database
from cityhub.kit.egress import EgressDenied
from cityhub.kit.errors import Forbidden, NotFound, ValidationFailed
from cityhub.kit.migrate import upgrade
from cityhub.kit.settings import get_settings
from tests.browser import free_port, live_app
from tests.conftest import build_world
from tests.data.helpers import bureau_setup, published_entry

TITLES = ["城市路灯分布", "公共停车场信息", "公园绿地名录"]


@dataclass
class Remote:
    """The remote catalogue: its base URL, database, and the ids of its open datasets by title."""

    url: str
    db: Database
    ids: dict[str, uuid.UUID]
    actors: dict[str, Any]


@pytest.fixture
def var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(get_settings(), "var_dir", tmp_path)
    monkeypatch.setattr(get_settings(), "egress_allowed_hosts", "127.0.0.1")
    return tmp_path


@pytest.fixture
def remote(tmp_path: Path, var: Path) -> Iterator[Remote]:
    """A second cityhub over its own SQLite database with three open, published datasets, served on a port."""
    url = f"sqlite:///{tmp_path / 'remote.db'}"
    upgrade(url)
    db = Database(url)
    with db.session_scope() as s:
        w = build_world(s)
        ids = {t: published_entry(w, title=t, open_type="unconditional", tags=["市政"]).id for t in TITLES}
        published_entry(w, title="不开放的资源")  # not open: the remote's anonymous package_search omits it
        actors = dict(w.actors)
    with live_app(db) as base:
        yield Remote(base, db, ids, actors)
    db.engine.dispose()


def _source(world: Any, remote_url: str, **options: Any) -> Any:
    return service.sync_source_create(world.session, world.actors["org_member_b"], SourceCreate(
        org_id=world.orgs["dept_b"].id, name=f"ckan-{uuid.uuid4().hex[:6]}", kind="ckan", url=remote_url,
        options=options))


def _harvested(world: Any, source: Any) -> dict[str, CatalogEntry]:
    world.session.expire_all()
    return {e.harvest_remote_name: e for e in world.session.scalars(
        select(CatalogEntry).where(CatalogEntry.harvest_source_id == source.id))}


def _remote_change(remote: Remote) -> tuple[str, str]:
    """On the remote: retitle one dataset (through its review) and take another offline; their remote names."""
    clock.set_now(clock.now() + timedelta(hours=1))  # the remote modified time moves visibly
    with remote.db.session_scope() as s:
        a, bureau = remote.actors["org_member_a"], remote.actors["bureau_member"]
        changed = service.catalog_entry_update(s, a, remote.ids[TITLES[0]],
                                               schemas.EntryUpdate(title="城市路灯分布（2027版）"))
        service.catalog_entry_submit(s, a, changed.id)
        service.catalog_entry_review(s, bureau, changed.id, True, "ok")
        gone = service.catalog_entry_offline(s, bureau, remote.ids[TITLES[2]], "停止开放")
        return changed.name, gone.name


def test_harvest_creates_entries_with_provenance_and_rerun_changes_only(world: Any, remote: Remote) -> None:
    b = world.actors["org_member_b"]
    src = _source(world, remote.url, page_size=2)
    run = service.sync_source_harvest(world.session, b, src.id)
    assert run.status == "succeeded", run.error
    assert (run.pages, run.datasets_read, run.created, run.updated, run.unchanged, run.gone, run.failed) == (
        2, 3, 3, 0, 0, 0, 0)
    entries = _harvested(world, src)
    assert sorted(e.title for e in entries.values()) == sorted(TITLES)
    with remote.db.session_scope() as s:
        remote_entries = {e.name: e for e in s.scalars(select(CatalogEntry).where(
            CatalogEntry.id.in_(remote.ids.values())))}
    for name, e in entries.items():
        r = remote_entries[name]
        assert e.provider_org_id == world.orgs["dept_b"].id and e.status == "draft"  # the unit's own draft
        assert e.harvest_remote_id == str(r.id) and e.harvest_remote_modified == r.updated_at
        assert e.harvested_at is not None and not e.harvest_gone
        assert [i["name_en"] for i in e.items] == [i["name_en"] for i in r.items]  # items from the remote's extras
        assert e.tags == ["市政"]
    audits = world.session.scalars(select(AuditEntry.action).where(AuditEntry.target_id == str(src.id))).all()
    assert "sync_source_harvest" in audits

    again = service.sync_source_harvest(world.session, b, src.id)
    assert (again.created, again.updated, again.unchanged, again.gone) == (0, 0, 3, 0)  # nothing changed remotely

    changed_name, gone_name = _remote_change(remote)
    third = service.sync_source_harvest(world.session, b, src.id)
    assert third.status == "succeeded", third.error
    assert (third.datasets_read, third.created, third.updated, third.unchanged, third.gone) == (2, 0, 1, 1, 1)
    entries = _harvested(world, src)
    assert entries[changed_name].title == "城市路灯分布（2027版）"
    assert entries[gone_name].harvest_gone and entries[gone_name].title == TITLES[2]  # flagged, kept as it was
    flagged = world.session.scalars(select(AuditEntry.action).where(
        AuditEntry.target_id == str(entries[gone_name].id))).all()
    assert "catalog_entry_harvest_gone" in flagged
    clock.set_now(clock.now() + timedelta(minutes=1))
    fourth = service.sync_source_harvest(world.session, b, src.id)
    assert (fourth.updated, fourth.unchanged, fourth.gone) == (0, 2, 0)  # flagged once, not again
    runs = service.sync_source_harvest_runs(world.session, b, src.id)
    assert runs[0].id == fourth.id and len(runs) == 4


def test_unreachable_remote_fails_the_run_and_writes_nothing(world: Any, var: Path) -> None:
    src = _source(world, f"http://127.0.0.1:{free_port()}")  # nothing listens there
    run = service.sync_source_harvest(world.session, world.actors["org_member_b"], src.id)
    assert run.status == "failed" and "ConnectError" in run.error
    assert (run.created, run.datasets_read) == (0, 0) and _harvested(world, src) == {}


def test_a_non_ckan_answer_fails_the_run(world: Any, remote: Remote) -> None:
    src = _source(world, remote.url + "/no-such-prefix")
    run = service.sync_source_harvest(world.session, world.actors["org_member_b"], src.id)
    assert run.status == "failed" and "404" in run.error and _harvested(world, src) == {}


def test_registration_checks_the_allow_list_and_options(world: Any, var: Path) -> None:
    with pytest.raises(EgressDenied):
        _source(world, "http://10.1.2.3/")
    with pytest.raises(ValidationFailed) as exc:
        _source(world, "http://127.0.0.1:1/", page_size=0)
    assert exc.value.field == "options.page_size"


def test_only_the_units_staff_harvest_and_sync_jobs_refuse_ckan_sources(world: Any, var: Path) -> None:
    src = _source(world, "http://127.0.0.1:1/")
    with pytest.raises(NotFound):  # another unit does not see the source
        service.sync_source_harvest(world.session, world.actors["org_member_a"], src.id)
    bureau_setup(world)
    with pytest.raises(Forbidden):  # the bureau sees it but does not harvest for the unit
        service.sync_source_harvest(world.session, world.actors["bureau_member"], src.id)
    entry = published_entry(world, "dept_b", title="乙局数据")
    with pytest.raises(ValidationFailed) as exc:
        service.sync_job_create(world.session, world.actors["org_member_b"], JobCreate(
            name="x", source_id=src.id, entry_id=entry.id, mapping={"name": "xm"}, key=["name"]))
    assert exc.value.field == "source_id"


def test_harvest_from_the_collection_page(client: Any, world: Any, remote: Remote) -> None:
    from tests.web.test_pages import _csrf, login

    login(client, "t-b-member")
    page = client.get("/data/collection")
    org = str(world.orgs["dept_b"].id)
    r = client.post("/data/collection/sources", data={"csrf_token": _csrf(page.text), "org_id": org,
                                                       "name": "远端目录", "kind": "ckan", "url": remote.url},
                    follow_redirects=False)
    assert r.status_code == 303
    [src] = service.sync_source_list(world.session, world.actors["org_member_b"])  # before the scheduled one
    page = client.get("/data/collection")
    assert "CKAN 数据目录" in page.text and f"/data/collection/sources/{src.id}/harvest" in page.text
    assert 'action="/data/collection/jobs"' not in page.text  # a catalogue source feeds no sync job
    assert "自动采集" not in page.text
    _source(world, remote.url, every_hours=6)
    assert "每 6 小时自动采集" in client.get("/data/collection").text  # a scheduled harvest says so
    r = client.post(f"/data/collection/sources/{src.id}/harvest", data={"csrf_token": _csrf(page.text)})
    assert r.status_code == 200 and "新增 3 条" in r.text  # the run's counts, translated
    harvested = _harvested(world, src)
    assert len(harvested) == 3
    one = next(iter(harvested.values()))
    shown = client.get(f"/data/entries/{one.id}")
    assert 'data-testid="provenance"' in shown.text and "采集来源" in shown.text and one.harvest_remote_id in shown.text
    login(client, "t-a-member")  # another unit sees neither the source nor its button
    other = client.get("/data/collection")
    assert f"/sources/{src.id}/harvest" not in other.text


def test_a_plain_ckan_dataset_without_cityhub_items_gets_one_resource_item() -> None:
    from cityhub.data.collection import harvest

    plain = {"id": "x", "name": "trees", "extras": [{"key": "items", "value": "not json"}]}
    assert [i["name_en"] for i in harvest._items(plain)] == ["resource"]
    assert [i["name_en"] for i in harvest._items({"extras": [{"key": "items", "value": json.dumps(
        [{"name_cn": "树种", "name_en": "species", "data_type": "C", "masked": False}])}]})] == ["species"]


def test_dcat_catalogue_harvest_follows_pages_and_flags_gone(world: Any, remote: Remote,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from cityhub.data.portal import dcat

    monkeypatch.setattr(dcat, "PAGE_SIZE", 2)  # the remote (in this process) pages its catalogue by two
    b = world.actors["org_member_b"]
    src = service.sync_source_create(world.session, b, SourceCreate(
        org_id=world.orgs["dept_b"].id, name="dcat", kind="dcat", url=f"{remote.url}/catalog.ttl"))
    run = service.sync_source_harvest(world.session, b, src.id)
    assert run.status == "succeeded", run.error
    assert (run.pages, run.datasets_read, run.created, run.failed) == (2, 3, 3, 0)
    entries = _harvested(world, src)
    assert sorted(e.title for e in entries.values()) == sorted(TITLES)
    assert all(e.harvest_remote_id.startswith(remote.url + "/dataset/") and e.harvest_remote_modified
               for e in entries.values())
    assert (service.sync_source_harvest(world.session, b, src.id).unchanged) == 3
    changed_name, gone_name = _remote_change(remote)
    again = service.sync_source_harvest(world.session, b, src.id)
    assert (again.updated, again.unchanged, again.gone) == (1, 1, 1), again.failures
    entries = _harvested(world, src)
    assert entries[changed_name].title == "城市路灯分布（2027版）" and entries[gone_name].harvest_gone


def test_a_json_ld_dcat_answer_is_refused(world: Any, remote: Remote) -> None:
    b = world.actors["org_member_b"]
    src = service.sync_source_create(world.session, b, SourceCreate(
        org_id=world.orgs["dept_b"].id, name="dcat-jsonld", kind="dcat", url=f"{remote.url}/catalog.jsonld"))
    run = service.sync_source_harvest(world.session, b, src.id)
    assert run.status == "failed" and "not Turtle or RDF/XML" in run.error and _harvested(world, src) == {}


@pytest.mark.browser
def test_collection_page_after_a_harvest_at_1366(db: Any, world: Any, remote: Remote, tmp_path: Path) -> None:
    """The sources table with a CKAN source, its Harvest now button and the run's counts as the flash message."""
    import os

    from tests.browser import need_chromium
    from tests.conftest import PASSWORD

    chromium = need_chromium()
    from playwright.sync_api import sync_playwright

    _source(world, remote.url)
    world.session.commit()  # the savepoint the served app reads (the test's outer transaction still rolls back)
    shots = os.environ.get("CITYHUB_SCREENSHOT_DIR")
    out = Path(shots) if shots else tmp_path
    with live_app(db) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu",
                                                                     "--no-first-run"])
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        page.goto(f"{base}/login?next=/data/collection")
        page.fill("input[name=username]", "t-b-member")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("[data-testid=sync-sources]")
        page.click("text=立即采集")
        page.wait_for_selector("text=新增 3 条")
        assert "CKAN 数据目录" in page.inner_text("[data-testid=sync-sources]")
        page.screenshot(path=str(out / "collection-harvest-1366x768.png"), full_page=True)
        browser.close()


def test_scheduled_harvests_are_due_every_hours_and_a_failure_is_retried_within_the_hour(
        world: Any, remote: Remote) -> None:
    """`every_hours` makes a catalogue source due for the sync worker once its latest harvest is that old; a failed
    harvest is due again after an hour; a source without it is never due; a claim re-checks that it is due."""
    from cityhub.core.service import Actor

    with pytest.raises(ValidationFailed) as exc:
        _source(world, remote.url, every_hours=0)
    assert exc.value.field == "options.every_hours"
    b, worker = world.actors["org_member_b"], Actor.system("data-sync")
    start = clock.now()
    clock.set_now(start)
    try:
        src = _source(world, remote.url, every_hours=6)
        _source(world, remote.url)  # on demand only
        broken = service.sync_source_create(world.session, b, SourceCreate(
            org_id=world.orgs["dept_b"].id, name="dcat-down", kind="dcat", url="http://127.0.0.1:1/catalog.ttl",
            options={"every_hours": 24}))
        assert sorted(service.sync_harvest_due(world.session)) == sorted([src.id, broken.id])
        for source_id in (src.id, broken.id):
            assert service.sync_harvest_claim(world.session, source_id)
            service.sync_source_harvest(world.session, worker, source_id, trigger="schedule")
        runs = {s: service.sync_source_harvest_runs(world.session, b, s)[0] for s in (src.id, broken.id)}
        assert (runs[src.id].status, runs[src.id].trigger, runs[src.id].created) == ("succeeded", "schedule", 3)
        assert runs[broken.id].status == "failed"
        assert service.sync_harvest_due(world.session) == []
        assert not service.sync_harvest_claim(world.session, src.id)  # not due any more: nothing to claim
        clock.set_now(start + timedelta(hours=1, minutes=1))
        assert service.sync_harvest_due(world.session) == [broken.id]  # the failure is retried first
        clock.set_now(start + timedelta(hours=6, minutes=1))
        assert sorted(service.sync_harvest_due(world.session)) == sorted([src.id, broken.id])
    finally:
        clock.set_now(None)
