"""A real CKAN client (ckanapi.RemoteCKAN) against a live server: what harvesters and scripts do, unchanged."""

from __future__ import annotations

import io
import json
from typing import Any

import ckanapi
import pytest

from cityhub.core import service as core
from cityhub.data import service
from tests.data.helpers import PEOPLE_CSV, PEOPLE_ITEMS, bureau_setup
from tests.data.portal_helpers import MASKED_COLUMNS, OPEN_COLUMNS, open_entry


def _token(world: Any, key: str) -> str:
    from cityhub.core.schemas import ApiTokenCreate

    _t, raw = core.api_token_create(world.session, core.Actor.system("test"), world.users[key].id,
                                    ApiTokenCreate(name="ckan"))
    return raw


def test_harvester_reads_the_open_catalog(live_server: str, world: Any) -> None:
    entry, res = open_entry(world, "户籍人口统计")
    open_entry(world, "企业登记信息", open_type="conditional", rows=False, tags=["企业"])
    world.session.flush()
    ckan = ckanapi.RemoteCKAN(live_server, user_agent="cityhub-test-harvester")
    assert ckan.action.status_show()["ckan_version"].startswith("2.")
    names = ckan.action.package_list()
    assert entry.name in names and len(names) == 2
    # incremental harvest: modified since, paged, sorted like ckanext-harvest does it
    page = ckan.action.package_search(fq="metadata_modified:[2000-01-01T00:00:00Z TO *]", rows=1, start=0,
                                      sort="metadata_modified desc")
    assert page["count"] == 2 and len(page["results"]) == 1
    pkg = ckan.action.package_show(id=entry.name)
    assert pkg["id"] == str(entry.id) and pkg["resources"][0]["datastore_active"]
    facets = ckan.action.package_search(q="人口", **{"facet.field": ["organization", "tags"], "facet.limit": 5})
    assert facets["search_facets"]["organization"]["items"][0]["count"] == 2
    rows = ckan.action.datastore_search(resource_id=str(res.id), filters={"gender": "男"}, limit=5)
    assert rows["total"] == 1 and set(rows["records"][0]) == {"_id", *OPEN_COLUMNS}
    with pytest.raises(ckanapi.NotFound):
        ckan.action.package_show(id="no-such-dataset")
    with pytest.raises(ckanapi.ValidationError) as err:
        ckan.action.package_search(fq="bogus_field:1")
    assert "fq" in err.value.error_dict
    with pytest.raises(ckanapi.NotAuthorized):
        ckan.action.package_create(name="anon-try", owner_org=world.orgs["dept_a"].code)
    # GET-only clients (get_only=True) see the same answers
    get_only = ckanapi.RemoteCKAN(live_server, get_only=True)
    assert get_only.action.package_show(id=entry.name)["name"] == entry.name
    orgs = {o["name"]: o for o in get_only.action.organization_list(all_fields=True)}
    assert orgs[world.orgs["dept_a"].code]["package_count"] == 2
    assert orgs[world.orgs["dept_b"].code]["package_count"] == 0


def test_department_script_creates_uploads_and_updates(live_server: str, world: Any, tmp_path: Any) -> None:
    bureau_setup(world)
    member = ckanapi.RemoteCKAN(live_server, apikey=_token(world, "org_member_a"))
    base = {"owner_org": world.orgs["dept_a"].code, "notes": "各区常住人口统计，按季度更新。",
            "extras": [{"key": "update_cycle", "value": "quarterly"}, {"key": "theme", "value": "人口"}],
            "tags": [{"name": "人口"}]}
    with pytest.raises(ckanapi.ValidationError) as err:
        member.action.package_create(name="renkou-tongji", title="人口统计", **base)
    assert "items" in err.value.error_dict  # the guideline's information items are required
    items = json.dumps([i for i in PEOPLE_ITEMS], ensure_ascii=False)
    created = member.action.package_create(name="renkou-tongji", title="人口统计", items=items, **base)
    assert created["state"] == "draft" and created["private"] is True  # waits for the bureau's review
    entry = service.catalog_entry_by_name(world.session, core.Actor.system(), "renkou-tongji")
    assert entry.status == "pending_review" and entry.open_type == "unconditional"
    csv_path = tmp_path / "people.csv"
    csv_path.write_text(PEOPLE_CSV, encoding="utf-8")
    with csv_path.open("rb") as fh:
        r = member.action.resource_create(package_id="renkou-tongji", name="人口明细", upload=fh)
    assert r["datastore_active"] and r["format"] == "CSV"
    bad = tmp_path / "bad.csv"
    bad.write_text("name,id_number,gender\n张三,,男\n", encoding="utf-8")
    with bad.open("rb") as fh, pytest.raises(ckanapi.ValidationError) as err:
        member.action.resource_create(package_id="renkou-tongji", upload=fh)
    assert "upload" in err.value.error_dict
    # another department cannot even see the draft (404, not 403); neither can the public
    other = ckanapi.RemoteCKAN(live_server, apikey=_token(world, "org_member_b"))
    with pytest.raises(ckanapi.NotFound):
        other.action.package_patch(id="renkou-tongji", notes="改")
    with pytest.raises(ckanapi.NotFound):
        ckanapi.RemoteCKAN(live_server).action.package_show(id="renkou-tongji")
    # the bureau publishes through the same API (it may review), then the public sees it
    bureau = ckanapi.RemoteCKAN(live_server, apikey=_token(world, "bureau_member"))
    published = bureau.action.package_create(name="gongjiao-zhandian", title="公交站点", items=items,
                                             **{**base, "owner_org": world.orgs["bureau"].code})
    assert published["state"] == "active" and published["private"] is False
    public = ckanapi.RemoteCKAN(live_server)
    assert public.action.package_show(id="gongjiao-zhandian")["title"] == "公交站点"
    with pytest.raises(ckanapi.NotAuthorized):  # seen but not changeable: 403
        other.action.package_patch(id="gongjiao-zhandian", notes="改")
    # a change to a published dataset is re-reviewed before it shows
    patched = bureau.action.package_patch(id="gongjiao-zhandian", notes="新摘要")
    assert patched["notes"] == "新摘要"  # the bureau may publish: applied at once
    audit = [a.action for a in core.audit_list(world.session, core.Actor.system(), core.AuditFilter(),
                                               core_page())[0]]
    assert "catalog_entry_create" in audit and "catalog_entry_publish" in audit and "resource_upload" in audit
    bureau.action.package_delete(id="gongjiao-zhandian")
    with pytest.raises(ckanapi.NotFound):
        public.action.package_show(id="gongjiao-zhandian")


def core_page() -> Any:
    from cityhub.kit.pagination import PageParams

    return PageParams(limit=500, offset=0)


def test_read_token_cannot_write_and_masked_columns_stay_hidden(live_server: str, world: Any) -> None:
    from cityhub.core.schemas import ApiTokenCreate

    entry, res = open_entry(world, "户籍人口统计")
    _t, raw = core.api_token_create(world.session, core.Actor.system("t"), world.users["org_member_a"].id,
                                    ApiTokenCreate(name="ro", scopes=["read"]))
    ro = ckanapi.RemoteCKAN(live_server, apikey=raw)
    with pytest.raises(ckanapi.NotAuthorized):
        ro.action.package_patch(id=entry.name, notes="x")
    # the provider itself reads clear values through datastore_search; the public never does
    provider = ckanapi.RemoteCKAN(live_server, apikey=_token(world, "org_member_a"))
    clear = provider.action.datastore_search(resource_id=str(res.id))
    assert "张三" in {r.get("name") for r in clear["records"]}
    public = ckanapi.RemoteCKAN(live_server).action.datastore_search(resource_id=str(res.id))
    assert not any(set(r) & set(MASKED_COLUMNS) for r in public["records"])
    assert io  # keep the import used
