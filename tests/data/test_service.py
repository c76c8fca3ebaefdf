"""Data services: catalog lifecycle, search, datastore loads, masking, sharing, grants, objections, 三清单, KPIs."""

from __future__ import annotations

import io
import json
import re
from datetime import timedelta
from typing import Any

import httpx
import pytest
from openpyxl import Workbook, load_workbook

from cityhub.core import service as core
from cityhub.data import schemas, service
from cityhub.data.datastore.export import to_csv, to_xlsx
from cityhub.data.datastore.stores import resource_credentials
from cityhub.data.vocabulary import MASK_RULES
from cityhub.kit import clock
from cityhub.kit.errors import (
    Conflict,
    Forbidden,
    InvalidTransition,
    NotFound,
    RateLimited,
    Unauthorized,
    ValidationFailed,
)
from tests.data.helpers import (
    PEOPLE_CSV,
    SYSTEM,
    active_grant,
    bureau_setup,
    entry_data,
    gbk_people_csv,
    load_people,
    published_entry,
)


def test_masking_rules_are_data() -> None:
    assert MASK_RULES["id_number"].apply("500101199001011234") == "5001**********1234"
    assert MASK_RULES["phone"].apply("18012341999") == "180****1999"
    assert MASK_RULES["name"].apply("张三") == "张*"
    assert MASK_RULES["name"].apply("欧阳娜娜") == "欧***"
    assert MASK_RULES["name"].apply("张") == "*"
    assert MASK_RULES["full"].apply("secret") == "******"


def test_entry_create_generates_unique_code_and_slug(world: Any) -> None:
    bureau_setup(world)
    a = world.actors["org_member_a"]
    e1 = service.catalog_entry_create(world.session, a, entry_data(world))
    e2 = service.catalog_entry_create(world.session, a, entry_data(world))
    assert re.match(r"^500000-101-\d{6}$", e1.code)
    assert e1.code != e2.code and e1.name != e2.name
    assert e1.name.startswith("ren-kou")
    assert "人口" in e1.search_text.split() and "rkjcxx" in e1.search_text.split()


def test_entry_rules_name_the_field(world: Any) -> None:
    bureau_setup(world)
    a = world.actors["org_member_a"]
    with pytest.raises(ValidationFailed) as exc:
        service.catalog_entry_create(world.session, a, entry_data(world, share_condition=""))
    assert exc.value.field == "share_condition"
    with pytest.raises(ValidationFailed) as exc:
        service.catalog_entry_create(world.session, a, entry_data(world, security_grade="core",
                                                                   open_type="unconditional"))
    assert exc.value.field == "open_type"
    with pytest.raises(ValueError, match="duplicated"):
        entry_data(world, items=[schemas.InfoItem(name_cn="a", name_en="a", data_type="C").model_dump()] * 2)


def test_department_registers_and_edits_only_its_own(world: Any) -> None:
    bureau_setup(world)
    with pytest.raises(Forbidden):
        service.catalog_entry_create(world.session, world.actors["org_member_b"], entry_data(world))
    draft = service.catalog_entry_create(world.session, world.actors["org_member_a"], entry_data(world))
    with pytest.raises(NotFound):  # B cannot even see A's draft
        service.catalog_entry_update(world.session, world.actors["org_member_b"], draft.id,
                                     schemas.EntryUpdate(title="改掉"))
    pub = published_entry(world)
    with pytest.raises(Forbidden):
        service.catalog_entry_update(world.session, world.actors["org_member_b"], pub.id,
                                     schemas.EntryUpdate(title="改掉"))


def test_lifecycle_versions_and_rereview(world: Any) -> None:
    entry = published_entry(world)
    assert entry.status == "published" and entry.version == 1
    a, bureau = world.actors["org_member_a"], world.actors["bureau_member"]
    with pytest.raises(InvalidTransition) as exc:
        service.catalog_entry_submit(world.session, a, entry.id)  # nothing changed
    assert exc.value.status_code == 409
    items = [*entry.items, {"name_cn": "住址", "name_en": "address", "data_type": "C", "masking_rule": "address"}]
    service.catalog_entry_update(world.session, a, entry.id, schemas.EntryUpdate(
        title="人口基础信息（2026版）", items=items))
    assert entry.title == "人口基础信息" and entry.change_status == "draft"  # published version unchanged
    service.catalog_entry_submit(world.session, a, entry.id)
    with pytest.raises(ValidationFailed):
        service.catalog_entry_review(world.session, bureau, entry.id, False, "")
    service.catalog_entry_review(world.session, bureau, entry.id, True, "同意")
    assert entry.version == 2 and entry.title == "人口基础信息（2026版）" and entry.pending_changes is None
    versions = service.catalog_entry_versions(world.session, a, entry.id)
    assert [v.version for v in versions] == [2, 1]
    diff = {d["label"]: d for d in versions[0].diff}
    assert diff["名称"]["before"] == "人口基础信息" and diff["信息项 住址"]["change"] == "added"
    service.catalog_entry_offline(world.session, a, entry.id, "停用")
    with pytest.raises(InvalidTransition):
        service.catalog_entry_offline(world.session, a, entry.id, "again")
    with pytest.raises(NotFound):  # offline entries are visible only to their owner and the bureau
        service.catalog_entry_review(world.session, world.actors["org_member_b"], entry.id, True)


def test_search_chinese_pinyin_facets_and_visibility(world: Any) -> None:
    published_entry(world)
    published_entry(world, org="dept_b", title="企业登记信息", abstract="市场主体登记注册信息",
                    base_db="legal_person", tags=["法人"], share_type="unconditional", share_condition="",
                    open_type="conditional", open_condition="实名注册用户")
    service.catalog_entry_create(world.session, world.actors["org_member_a"], entry_data(world, title="人口草稿"))
    s = world.session
    member_b = world.actors["org_member_b"]
    rows, total, facets = service.catalog_search(s, member_b, "人口", facets=["base_db", "share_type"])
    assert total == 1 and rows[0].title == "人口基础信息"  # the draft of A is not visible to B
    assert facets["base_db"] == {"population": 1}
    rows, total, _f = service.catalog_search(s, member_b, "qydj")  # pinyin initials of 企业登记
    assert [r.title for r in rows] == ["企业登记信息"]
    rows, total, facets = service.catalog_search(s, member_b, "", {"share_type": ["unconditional"]},
                                                 ["provider_org_id"])
    assert total == 1 and facets["provider_org_id"] == {str(world.orgs["dept_b"].id): 1}
    rows, total, _f = service.catalog_search(s, member_b, "", {"tags": ["身份"]})
    assert [r.title for r in rows] == ["人口基础信息"]
    rows, total, _f = service.catalog_search(s, core.Actor.anonymous(), "")
    assert [r.title for r in rows] == ["企业登记信息"]  # 不予开放 entries stay hidden from the public
    rows, total, _f = service.catalog_search(s, world.actors["org_member_a"], "草稿", {"status": ["draft"]})
    assert total == 1
    with pytest.raises(ValidationFailed):
        service.catalog_search(s, member_b, "", {"bogus": ["x"]})


def test_upload_utf8_then_gbk_replaces_atomically(world: Any) -> None:
    entry = published_entry(world)
    res = load_people(world, entry)
    assert res.row_count == 3
    a = world.actors["org_member_a"]
    res2, load = service.resource_table_upload(world.session, a, entry.id, "people-gbk.csv",
                                               io.BytesIO(gbk_people_csv()), resource_id=res.id)
    assert load.accepted and load.encoding == "gb18030" and res2 is not None and res2.id == res.id
    _fields, recs, total, _n = service.datastore_query(world.session, a, res.id)
    assert total == 3 and recs[2]["name"] == "欧阳娜娜" and recs[0]["employed"] is True
    assert recs[0]["income"] == "8000.50" and recs[0]["birth_date"] == "1990-01-01"


def test_upload_with_bad_rows_loads_nothing_and_reports(world: Any) -> None:
    entry = published_entry(world)
    res = load_people(world, entry)
    bad = PEOPLE_CSV + "王五,5001,1381234567899,男,1990-13-01,abc,也许\n,500101199001011235,,,,,\n"
    _res, load = service.resource_table_upload(world.session, world.actors["org_member_a"], entry.id, "bad.csv",
                                               io.BytesIO(bad.encode()), resource_id=res.id)
    assert not load.accepted and load.rows_bad == 2 and load.rows_total == 5
    cells = {(e["row"], e["column"]) for e in load.errors}
    assert {(5, "phone"), (5, "birth_date"), (5, "income"), (5, "employed"), (6, "name")} <= cells
    _f, _recs, total, _n = service.datastore_query(world.session, world.actors["org_member_a"], res.id)
    assert total == 3  # the previous load is intact


def test_upload_refuses_unknown_columns_and_bad_encoding(world: Any) -> None:
    entry = published_entry(world)
    a = world.actors["org_member_a"]
    _r, load = service.resource_table_upload(world.session, a, entry.id, "x.csv",
                                             io.BytesIO(b"name,id_number,shoe_size\nx,y,42\n"))
    assert not load.accepted and load.errors[0]["column"] == "shoe_size"
    with pytest.raises(ValidationFailed) as exc:
        service.resource_table_upload(world.session, a, entry.id, "x.csv",
                                      io.BytesIO("name,id_number\n张三,1\n".encode("utf-16")))
    assert exc.value.field == "file"


def test_upload_xlsx(world: Any) -> None:
    entry = published_entry(world)
    wb = Workbook()
    ws = wb.active
    ws.append(["姓名", "公民身份号码", "出生日期", "月收入"])
    ws.append(["赵六", "500101199001011239", clock.now().date(), 3000])
    buf = io.BytesIO()
    wb.save(buf)
    buf.seek(0)
    res, load = service.resource_table_upload(world.session, world.actors["org_member_a"], entry.id, "p.xlsx", buf)
    assert load.accepted and res is not None and res.row_count == 1


def test_masking_on_every_read_path(world: Any) -> None:
    entry = published_entry(world)
    res = load_people(world, entry)
    s = world.session
    _f, recs, _t, _n = service.datastore_query(s, world.actors["org_member_a"], res.id)
    assert recs[0]["id_number"] == "500101199001011234"  # the provider sees its own data
    _f, recs, _t, _n = service.datastore_query(s, world.actors["platform_admin"], res.id)
    assert recs[0]["id_number"] == "5001**********1234" and recs[0]["name"] == "张*"
    with pytest.raises(Forbidden):
        service.datastore_query(s, world.actors["org_member_b"], res.id)
    grant, _token, _req = active_grant(world, entry, items=["name", "phone", "gender"])
    fields, recs, total, _n = service.grant_rows(s, world.actors["org_member_b"], grant.id)
    assert fields == ["name", "phone", "gender"] and "id_number" not in recs[0]
    assert recs[0] == {"name": "张*", "phone": "180****1999", "gender": "男"}
    _f, recs, total, _n = service.grant_rows(s, world.actors["org_member_b"], grant.id, {"gender": "女"})
    assert total == 2
    _f, recs, total, _n = service.grant_rows(s, world.actors["org_member_b"], grant.id, q="张")
    assert total == 0  # free text never searches masked columns (that would leak them)
    with pytest.raises(ValidationFailed):
        service.grant_rows(s, world.actors["org_member_b"], grant.id, fields=["id_number"])
    csv_text = service.grant_rows_csv(s, world.actors["org_member_b"], grant.id).decode("utf-8-sig")
    assert "180****1999" in csv_text and "18012341999" not in csv_text
    logs = service.access_log(s, world.actors["org_member_b"], grant.id)
    assert sum(x.rows for x in logs) == 3 + 2 + 0 + 3 and entry.accesses_count >= 3


def test_unconditional_skips_provider_and_none_cannot_be_requested(world: Any) -> None:
    entry = published_entry(world, share_type="unconditional", share_condition="")
    b = world.actors["org_member_b"]
    req = service.share_request_create(world.session, b, schemas.ShareRequestCreate(
        entry_id=entry.id, items=["name"], legal_basis="依据", purpose="核验", consuming_system="系统"))
    service.share_request_submit(world.session, b, req.id)
    assert req.status == "compliance_review" and req.deadline_at is not None
    service.share_request_compliance_review(world.session, world.actors["bureau_member"], req.id, True)
    assert req.status == "approved"
    closed = published_entry(world, title="不共享数据", share_type="none", share_condition="", legal_basis="涉密")
    with pytest.raises(ValidationFailed) as exc:
        service.share_request_create(world.session, b, schemas.ShareRequestCreate(
            entry_id=closed.id, items=["name"], legal_basis="依据", purpose="核验", consuming_system="系统"))
    assert exc.value.field == "entry_id"


def test_core_data_needs_bureau_admin_after_provider(world: Any) -> None:
    entry = published_entry(world, security_grade="core")
    b = world.actors["org_member_b"]
    req = service.share_request_create(world.session, b, schemas.ShareRequestCreate(
        entry_id=entry.id, items=["name"], legal_basis="依据", purpose="核验", consuming_system="系统"))
    service.share_request_submit(world.session, b, req.id)
    service.share_request_compliance_review(world.session, world.actors["bureau_member"], req.id, True)
    with pytest.raises(Forbidden):
        service.share_request_provider_review(world.session, b, req.id, True)
    service.share_request_provider_review(world.session, world.actors["org_member_a"], req.id, True)
    assert req.status == "compliance_review"
    with pytest.raises(Forbidden):
        service.share_request_compliance_review(world.session, world.actors["bureau_member"], req.id, True)
    service.share_request_compliance_review(world.session, world.actors["bureau_admin"], req.id, True)
    assert req.status == "approved"
    events = [e.to_status for e in service.share_request_events(world.session, b, req.id)]
    assert events == ["draft", "submitted", "compliance_review", "provider_review", "compliance_review", "approved"]


def test_rejection_coordination_and_illegal_transitions(world: Any) -> None:
    entry = published_entry(world)
    b, a = world.actors["org_member_b"], world.actors["org_member_a"]
    req = service.share_request_create(world.session, b, schemas.ShareRequestCreate(
        entry_id=entry.id, items=["name"], legal_basis="依据", purpose="核验", consuming_system="系统"))
    with pytest.raises(InvalidTransition) as exc:
        service.share_request_activate(world.session, b, req.id)
    assert exc.value.details["current"] == "draft"
    service.share_request_submit(world.session, b, req.id)
    service.share_request_compliance_review(world.session, world.actors["bureau_member"], req.id, True)
    with pytest.raises(ValidationFailed):
        service.share_request_provider_review(world.session, a, req.id, False, "")
    service.share_request_provider_review(world.session, a, req.id, False, "超出职责范围")
    assert req.status == "rejected" and req.reason == "超出职责范围"
    service.share_request_coordinate(world.session, b, req.id, "属于法定职责")
    service.share_request_arbitrate(world.session, world.actors["bureau_member"], req.id, True, "协调同意")
    grant, token, = service.share_request_activate(world.session, b, req.id)
    assert req.status == "active" and token.startswith("chub_")
    actor = core.authenticate_token(world.session, token)
    assert actor.token_scopes == (f"data:grant:{grant.id}",)
    service.share_request_revoke(world.session, a, req.id, "停止合作")
    assert grant.status == "revoked"
    with pytest.raises(Unauthorized) as denied:
        core.authenticate_token(world.session, token)
    assert denied.value.code == "token_revoked"
    req2 = service.share_request_create(world.session, b, schemas.ShareRequestCreate(
        entry_id=entry.id, items=["name"], legal_basis="依据", purpose="核验", consuming_system="系统"))
    service.share_request_withdraw(world.session, b, req2.id, "不需要了")
    with pytest.raises(InvalidTransition):
        service.share_request_submit(world.session, b, req2.id)


def test_grant_token_scope_and_quota(world: Any) -> None:
    entry = published_entry(world)
    load_people(world, entry)
    grant, token, _req = active_grant(world, entry, quota=4)
    consumer = core.authenticate_token(world.session, token)
    _f, recs, _t, _n = service.grant_rows(world.session, consumer, grant.id, limit=3)
    assert len(recs) == 3
    _f, recs, _t, _n = service.grant_rows(world.session, consumer, grant.id, limit=100)
    assert len(recs) == 1  # capped by the remaining quota
    with pytest.raises(RateLimited):
        service.grant_rows(world.session, consumer, grant.id)
    with pytest.raises(Forbidden):  # the consuming-system token cannot write
        service.catalog_entry_create(world.session, consumer, entry_data(world, org="dept_b"))
    with pytest.raises(NotFound):
        service.grant_rows(world.session, world.actors["org_member_a"], grant.id)


def test_deadlines_reminders_escalation_and_expiry(world: Any) -> None:
    clock.set_now(clock.as_utc(__import__("datetime").datetime(2026, 9, 28, 2, 0)))  # Monday before 国庆
    entry = published_entry(world)
    b = world.actors["org_member_b"]
    req = service.share_request_create(world.session, b, schemas.ShareRequestCreate(
        entry_id=entry.id, items=["name"], legal_basis="依据", purpose="核验", consuming_system="系统",
        valid_until=clock.now() + timedelta(days=60)))
    service.share_request_submit(world.session, b, req.id)
    service.share_request_compliance_review(world.session, world.actors["bureau_member"], req.id, True)
    assert req.status == "provider_review"
    deadline = req.deadline_at
    assert deadline is not None and deadline - clock.now() > timedelta(days=14)  # 10 working days over 国庆
    assert service.sla_check(world.session)["reminded"] == 0
    clock.set_now(deadline - timedelta(days=1))
    assert service.sla_check(world.session)["reminded"] == 1
    assert service.sla_check(world.session)["reminded"] == 0  # idempotent
    clock.set_now(deadline + timedelta(hours=1))
    assert service.sla_check(world.session)["escalated"] == 1
    assert service.sla_check(world.session)["escalated"] == 0
    service.share_request_provider_review(world.session, world.actors["org_member_a"], req.id, True)
    grant, _tok = service.share_request_activate(world.session, b, req.id)
    clock.set_now(clock.now() + timedelta(days=61))
    assert service.sla_check(world.session)["expired"] == 1
    assert req.status == "expired" and grant.status == "expired"


def test_objections_and_demands_feed_kpis(world: Any) -> None:
    entry = published_entry(world)
    load_people(world, entry)
    a, b, bureau = world.actors["org_member_a"], world.actors["org_member_b"], world.actors["bureau_member"]
    obj = service.objection_raise(world.session, b, schemas.ObjectionCreate(
        kind="catalog_error", entry_id=entry.id, content="出生日期格式有误"))
    assert obj.handler_org_id == world.orgs["dept_a"].id and obj.deadline_at is not None
    with pytest.raises(Forbidden):
        service.objection_reply(world.session, b, obj.id, "自己答复")
    service.objection_reply(world.session, a, obj.id, "已更正")
    service.objection_evaluate(world.session, b, obj.id, 5, "满意")
    with pytest.raises(InvalidTransition):
        service.objection_evaluate(world.session, b, obj.id, 4)
    with pytest.raises(ValidationFailed):
        service.objection_raise(world.session, b, schemas.ObjectionCreate(kind="usage_objection",
                                                                          entry_id=entry.id, content="使用异议"))
    dem = service.demand_create(world.session, b, schemas.DemandCreate(
        title="需要人口信息", description="核验身份", purpose="社保"))
    with pytest.raises(Forbidden):
        service.demand_assign(world.session, b, dem.id, schemas.DemandAssign(org_id=world.orgs["dept_a"].id))
    service.demand_assign(world.session, bureau, dem.id, schemas.DemandAssign(org_id=world.orgs["dept_a"].id))
    with pytest.raises(Forbidden):
        service.demand_answer(world.session, b, dem.id, schemas.DemandAnswer(entry_id=entry.id))
    service.demand_answer(world.session, a, dem.id, schemas.DemandAnswer(entry_id=entry.id, answer="已编目"))
    kpi = {k["org_name"]: k for k in service.kpis(world.session, b)}["甲局"]
    assert kpi["coverage"] == 1.0 and kpi["field_pass_rate"] == 1.0 and kpi["on_time_update_rate"] == 1.0
    assert kpi["demands_assigned"] == 1 and kpi["demands_on_time"] == 1 and kpi["objection_reply_days"] == 0
    header, rows = service.responsibility_list_rows(world.session, b)
    wb = load_workbook(io.BytesIO(to_xlsx("责任清单", header, rows)))
    assert wb.active.cell(1, 1).value == "单位"
    header, rows = service.catalog_list_rows(world.session, b)
    assert rows[0][0] == entry.code and "公民身份号码" in rows[0][7]
    assert "需要人口信息" in to_csv(*service.demand_list_rows(world.session, b)).decode("utf-8-sig")


def test_api_resource_proxy_keeps_credentials_and_masks(world: Any) -> None:
    entry = published_entry(world)
    res = service.resource_api_create(world.session, world.actors["org_member_a"], entry.id,
                                      schemas.ResourceApiCreate(title="核验接口", upstream_url="https://up.example/p",
                                                                credentials={"X-Api-Key": "s3cret"}))
    assert "s3cret" not in res.credentials_enc and resource_credentials(res) == {"X-Api-Key": "s3cret"}
    seen = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen["key"] = request.headers.get("x-api-key")
        return httpx.Response(200, json={"records": [{"name": "张三", "phone": "18012341999", "id_number": "x"}]})

    grant, _t, _r = active_grant(world, entry, items=["name", "phone"])
    out = service.grant_api_call(world.session, world.actors["org_member_b"], grant.id, {},
                                 transport=httpx.MockTransport(handler))
    assert seen["key"] == "s3cret"
    assert out["records"] == [{"name": "张*", "phone": "180****1999"}]
    audit = json.dumps([e.summary for e in core.audit_list(world.session, SYSTEM, core.AuditFilter(
        action="resource_create"), __import__("cityhub.kit.pagination", fromlist=["PageParams"]).PageParams())[0]])
    assert "s3cret" not in audit


def test_file_resource_replace(world: Any, tmp_path: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("CITYHUB_VAR_DIR", str(tmp_path))
    from cityhub.kit.settings import get_settings

    get_settings.cache_clear()
    try:
        entry = published_entry(world)
        a = world.actors["org_member_a"]
        res = service.resource_file_upload(world.session, a, entry.id, "说明", "readme.txt", "text/plain",
                                           io.BytesIO(b"v1"))
        service.resource_file_upload(world.session, a, entry.id, "说明", "readme.txt", "text/plain",
                                     io.BytesIO(b"version 2"), resource_id=res.id)
        _r, path = service.resource_file_open(world.session, a, res.id)
        assert path.read_bytes() == b"version 2" and res.file_size == 9
        with pytest.raises(Forbidden):
            service.resource_file_open(world.session, world.actors["org_member_b"], res.id)
        with pytest.raises(ValidationFailed):
            service.resource_file_upload(world.session, a, entry.id, "", "e.txt", "", io.BytesIO(b""))
    finally:
        get_settings.cache_clear()


def test_duplicate_slug_conflicts(world: Any) -> None:
    bureau_setup(world)
    a = world.actors["org_member_a"]
    service.catalog_entry_create(world.session, a, entry_data(world, name="people"))
    with pytest.raises(Conflict):
        service.catalog_entry_create(world.session, a, entry_data(world, name="people"))


def test_quota_charges_the_rows_returned_on_every_read_path(world: Any, client: Any) -> None:
    """Issue 20: `rows.csv?limit=3` answered 429 with quota left; every path charges exactly what it returns."""
    entry = published_entry(world)
    load_people(world, entry)  # 3 rows
    grant, token, _req = active_grant(world, entry, quota=5)
    consumer = core.authenticate_token(world.session, token)
    hdr = {"Authorization": f"Bearer {token}"}
    _f, recs, _t, _n = service.grant_rows(world.session, consumer, grant.id, limit=1)
    assert len(recs) == 1 and grant.used == 1
    r = client.get(f"/api/v1/data/grants/{grant.id}/rows.csv?limit=2", headers=hdr)
    assert r.status_code == 200, r.text
    assert len(r.text.strip().splitlines()) == 1 + 2  # header + the 2 rows asked for
    world.session.refresh(grant)
    assert grant.used == 3  # charged 2, not a page of the quota's size
    r = client.get(f"/api/v1/data/grants/{grant.id}/rows.csv", headers=hdr)
    assert r.status_code == 200, r.text  # the whole table is 3 rows and 2 are left: the file ends at the quota
    assert len(r.text.strip().splitlines()) == 1 + 2
    world.session.refresh(grant)
    assert grant.used == 5
    assert client.get(f"/api/v1/data/grants/{grant.id}/rows.csv", headers=hdr).status_code == 429
    assert client.get(f"/api/v1/data/grants/{grant.id}/rows?limit=10", headers=hdr).status_code == 429
    logged = service.access_log(world.session, world.actors["org_member_b"], grant.id)
    assert sorted(a.rows for a in logged) == [1, 2, 2] and sum(a.rows for a in logged) == grant.used
