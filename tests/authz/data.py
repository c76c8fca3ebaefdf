"""Data routes: who may read the catalog, change entries, upload, request, review, read granted rows, and more."""

from __future__ import annotations

from typing import Any

from cityhub.data import schemas, service
from cityhub.data.base.schemas import BaseFeedSet
from cityhub.data.collection.schemas import JobCreate, SourceCreate
from cityhub.data.models import SyncSource
from cityhub.data.quality.schemas import QualityCheckCreate
from tests.authz import ANY_USER, PUBLIC, Expect, roles
from tests.data.helpers import SYSTEM, active_grant, bureau_setup, entry_data, load_people, published_entry

ADMIN = roles("platform_admin")
A_STAFF = roles("platform_admin", "org_admin_a", "org_member_a")
B_STAFF = roles("platform_admin", "org_member_b")
UNIT_STAFF = roles("platform_admin", "org_admin_a", "org_member_a", "org_member_b", "district_admin")
REQUEST_READERS = roles("platform_admin", "auditor", "org_admin_a", "org_member_a", "org_member_b")


def _request(w: Any, entry: Any, steps: int) -> Any:
    """A request by member B for the entry, advanced `steps` steps (0 draft, 1 compliance, 2 provider)."""
    b = w.actors["org_member_b"]
    req = service.share_request_create(w.session, b, schemas.ShareRequestCreate(
        entry_id=entry.id, items=["name", "gender"], legal_basis="依据", purpose="核验", consuming_system="系统"))
    if steps >= 1:
        service.share_request_submit(w.session, b, req.id)
    if steps >= 2:
        service.share_request_compliance_review(w.session, w.actors["bureau_member"], req.id, True)
    return req


def prepare(w: Any) -> None:
    """A published entry of dept A with rows, a draft and a pending entry, requests in each state, a grant."""
    bureau_setup(w)
    s, a = w.session, w.actors["org_member_a"]
    entry = published_entry(w)
    res = load_people(w, entry)
    draft = service.catalog_entry_create(s, a, entry_data(w, title="草稿资源"))
    pending = service.catalog_entry_create(s, a, entry_data(w, title="待审资源"))
    service.catalog_entry_submit(s, a, pending.id)
    grant, _token, active = active_grant(w, entry, items=["name", "gender"])
    rejected = _request(w, entry, 2)
    service.share_request_provider_review(s, a, rejected.id, False, "不同意")
    coordination = _request(w, entry, 2)
    service.share_request_provider_review(s, a, coordination.id, False, "不同意")
    service.share_request_coordinate(s, w.actors["org_member_b"], coordination.id, "请协调")
    approved = _request(w, entry, 2)
    service.share_request_provider_review(s, a, approved.id, True)
    b = w.actors["org_member_b"]
    obj = service.objection_raise(s, b, schemas.ObjectionCreate(kind="catalog_error", entry_id=entry.id,
                                                                content="字段有误"))
    handled = service.objection_raise(s, b, schemas.ObjectionCreate(kind="catalog_error", entry_id=entry.id,
                                                                    content="字段有误2"))
    service.objection_reply(s, a, handled.id, "已改")
    demand = service.demand_create(s, b, schemas.DemandCreate(title="人口需求", description="需要", purpose="核验"))
    assigned = service.demand_create(s, b, schemas.DemandCreate(title="人口需求2", description="需要", purpose="核验"))
    service.demand_assign(s, SYSTEM, assigned.id, schemas.DemandAssign(org_id=w.orgs["dept_a"].id))
    _prepare_portal(w)
    _prepare_base(w, entry)
    _prepare_standards(w)
    src = service.sync_source_create(s, a, SourceCreate(org_id=w.orgs["dept_a"].id, name="投放目录",
                                                                kind="files"))
    job = service.sync_job_create(s, a, JobCreate(name="人口同步", source_id=src.id, entry_id=entry.id,
                                                          mapping={"name": "xm"}, key=["name"]))
    check = service.quality_check_create(s, a, QualityCheckCreate(entry_id=entry.id, kind="not_null",
                                                                          column="name"))
    # a CKAN source on a loopback port nothing answers (the matrix world has no egress allow-list: set directly)
    ckan = SyncSource(org_id=w.orgs["dept_a"].id, name="远端目录", kind="ckan", url="http://127.0.0.1:9")
    s.add(ckan)
    s.flush()
    w.extra.update(c_source=src, c_job=job, c_check=check, c_ckan=ckan)
    service.quality_check_create(s, a, QualityCheckCreate(entry_id=entry.id, kind="not_null", column="income"))
    service.quality_run(s, a, entry.id)  # one loaded row has no income: a quality task for dept A
    [(task, _title, _late)] = service.quality_task_list(s, SYSTEM)[0]
    d_admin = w.actors["district_admin"]  # the district's own entry, published in the district's tier
    tier_entry = service.catalog_entry_create(s, d_admin, entry_data(w, "district", title="区级资源"))
    service.catalog_entry_submit(s, d_admin, tier_entry.id)
    service.catalog_entry_review(s, d_admin, tier_entry.id, True, "合规")
    w.extra.update(q_task=task, t_entry=tier_entry)
    w.extra.update(d_entry=entry, d_res=res, d_draft=draft, d_pending=pending, d_grant=grant, d_active=active,
                   d_draft_req=_request(w, entry, 0), d_compliance=_request(w, entry, 1),
                   d_provider=_request(w, entry, 2), d_rejected=rejected, d_coordination=coordination,
                   d_approved=approved, d_obj=obj, d_handled=handled, d_demand=demand, d_assigned=assigned)


def _prepare_standards(w: Any) -> None:
    """A draft element, a draft code list with codes, a published code list no element uses."""
    from cityhub.data.standards.schemas import CodeListCreate, DataElementCreate

    s, admin = w.session, w.actors["platform_admin"]
    service.data_element_create(s, admin, DataElementCreate(identifier="DE80001", name_zh="草稿数据元",
                                                            data_type="string", format="an..10"))
    draft = service.code_list_create(s, admin, CodeListCreate(identifier="T-DRAFT", name="草稿代码表"))
    service.code_list_import(s, admin, draft.id, "code,label_zh\n1,一\n".encode())
    spare = service.code_list_create(s, admin, CodeListCreate(identifier="T-SPARE", name="备用代码表"))
    service.code_list_import(s, admin, spare.id, "code,label_zh\n1,一\n".encode())
    service.code_list_publish(s, admin, spare.id)
    w.extra.update(s_draft_list=draft, s_spare_list=spare)


def _prepare_base(w: Any, entry: Any) -> None:
    """Unit A's people entry feeds the population base database, merged into golden records; one conflict."""
    from cityhub.data.base.service import merge_base
    from cityhub.data.models import BaseConflict, BaseRecord

    service.base_feed_set(w.session, w.actors["bureau_member"], BaseFeedSet(
        base_db="population", entry_id=entry.id, key_item="id_number", priority=1))
    merge_base(w.session, "population")
    record = w.session.query(BaseRecord).filter_by(base_db="population").first()
    conflict = BaseConflict(record_id=record.id, base_db="population", field="name", candidates=[
        {"feed": "f1", "org": "o1", "priority": 1, "value": "甲", "at": ""},
        {"feed": "f2", "org": "o2", "priority": 5, "value": "乙", "at": ""}])
    w.session.add(conflict)
    w.session.flush()
    w.extra.update(b_entry=entry, b_record=record, b_conflict=conflict)


def _prepare_portal(w: Any) -> None:
    """Open-portal objects: a 无条件开放 entry with rows, and one without masked items carrying a file."""
    import io

    from tests.data.portal_helpers import open_entry

    p_open, p_res = open_entry(w, "户籍人口统计")
    simple = [{"name_cn": "线路", "name_en": "line", "data_type": "C", "length": 20},
              {"name_cn": "站数", "name_en": "stops", "data_type": "I"}]
    p_file_entry, _r = open_entry(w, "公交线路", rows=False, items=simple)
    p_file = service.resource_file_upload(w.session, w.actors["org_member_a"], p_file_entry.id, "线路图", "lines.pdf",
                                          "application/pdf", io.BytesIO(b"%PDF-1.4 lines"))
    w.extra.update(p_open=p_open, p_res=p_res, p_file_entry=p_file_entry, p_file=p_file)


def prepare_refs(w: Any) -> None:
    """Unit B's twins for the id swaps (tests/test_cross_unit_refs.py): a draft and a published entry of dept B,
    and a request for the latter by the district (neither A's nor visible to A).
    """
    s = w.session
    b_draft = service.catalog_entry_create(s, w.actors["org_member_b"], entry_data(w, "dept_b", title="乙局草稿"))
    b_published = published_entry(w, "dept_b", title="乙局资源")
    b_request = service.share_request_create(s, w.actors["district_admin"], schemas.ShareRequestCreate(
        entry_id=b_published.id, items=["name"], legal_basis="依据", purpose="核验", consuming_system="系统"))
    b_source = service.sync_source_create(s, w.actors["org_member_b"], SourceCreate(
        org_id=w.orgs["dept_b"].id, name="乙局目录", kind="files"))
    w.extra.update(d_b_draft=b_draft, d_b_published=b_published, d_b_request=b_request, c_b_source=b_source)


def _b_draft(w: Any) -> Any:
    return w.extra["d_b_draft"].id


def _b_draft_list(w: Any) -> Any:
    return [w.extra["d_b_draft"].id]


def _x(key: str, name: str) -> Any:
    return lambda w: {name: w.extra[key].id}


def _entry_body(w: Any) -> dict[str, Any]:
    return entry_data(w).model_dump(mode="json", exclude_none=True)


P = "/api/v1/data"
EXPECTATIONS = [
    Expect("GET", f"{P}/vocabularies", PUBLIC),
    Expect("GET", f"{P}/catalog", PUBLIC),
    Expect("POST", f"{P}/catalog/entries", A_STAFF, body=_entry_body,
           refs={"provider_org_id": lambda w: w.orgs["dept_b"].id, "related_entry_ids": _b_draft_list}),
    Expect("GET", f"{P}/catalog/entries/{{entry_id}}", ANY_USER, params=_x("d_entry", "entry_id"),
           note="不予开放 entries are hidden from anonymous callers"),
    Expect("GET", f"{P}/catalog/entries/{{entry_id}}", roles("platform_admin", "auditor", "org_admin_a",
                                                             "org_member_a"), params=_x("d_draft", "entry_id"),
           note="drafts: owner, bureau, auditors"),
    Expect("GET", f"{P}/catalog/by-name/{{name}}", ANY_USER, params=lambda w: {"name": w.extra["d_entry"].name}),
    Expect("GET", f"{P}/catalog/by-code/{{code}}", ANY_USER, params=lambda w: {"code": w.extra["d_entry"].code}),
    Expect("PATCH", f"{P}/catalog/entries/{{entry_id}}", A_STAFF, params=_x("d_draft", "entry_id"),
           body=lambda w: {"abstract": "新摘要"}, refs={"related_entry_ids": _b_draft_list}),
    Expect("POST", f"{P}/catalog/entries/{{entry_id}}/submit", A_STAFF, params=_x("d_draft", "entry_id")),
    Expect("POST", f"{P}/catalog/entries/{{entry_id}}/review", ADMIN, params=_x("d_pending", "entry_id"),
           body=lambda w: {"approve": True, "note": "ok"}, note="the bureau (platform admin here) reviews"),
    Expect("POST", f"{P}/catalog/entries/{{entry_id}}/share-upward", roles("platform_admin", "district_admin"),
           params=_x("t_entry", "entry_id"), body=lambda w: {"shared": True},
           note="the district's data admin shares its tier's entries with the city"),
    Expect("POST", f"{P}/catalog/entries/{{entry_id}}/offline", A_STAFF, params=_x("d_entry", "entry_id"),
           body=lambda w: {"reason": "停用"}),
    Expect("GET", f"{P}/catalog/entries/{{entry_id}}/versions", ANY_USER, params=_x("d_entry", "entry_id")),
    Expect("GET", f"{P}/catalog/entries/{{entry_id}}/stats", ANY_USER, params=_x("d_entry", "entry_id")),
    Expect("GET", f"{P}/catalog/entries/{{entry_id}}/resources", ANY_USER, params=_x("d_entry", "entry_id")),
    Expect("POST", f"{P}/catalog/entries/{{entry_id}}/resources/api", A_STAFF, params=_x("d_entry", "entry_id"),
           body=lambda w: {"title": "接口", "upstream_url": "https://up.example/x", "credentials": {"k": "v"}}),
    Expect("POST", f"{P}/uploads/{{entry_id}}/table", A_STAFF, params=_x("d_entry", "entry_id"),
           note="empty body: allowed roles get 422"),
    Expect("POST", f"{P}/uploads/{{entry_id}}/file", A_STAFF, params=_x("d_entry", "entry_id"),
           note="empty body: allowed roles get 422"),
    Expect("GET", f"{P}/resources/{{resource_id}}/rows", roles("platform_admin", "org_admin_a", "org_member_a",
                                                                "org_member_b"), params=_x("d_res", "resource_id"),
           note="provider clear, bureau masked, grantee B granted items masked"),
    Expect("GET", f"{P}/resources/{{resource_id}}/file", roles("platform_admin", "org_admin_a", "org_member_a",
                                                                "org_member_b"), params=_x("d_res", "resource_id"),
           note="a table resource: allowed roles (provider, bureau, grantee B) get 409"),
    Expect("GET", f"{P}/requests", ANY_USER),
    Expect("POST", f"{P}/requests", UNIT_STAFF, body=lambda w: {
        "entry_id": str(w.extra["d_entry"].id), "items": ["name"], "legal_basis": "依据", "purpose": "核验",
        "consuming_system": "系统"}, refs={"entry_id": _b_draft}),
    Expect("GET", f"{P}/requests/{{request_id}}", REQUEST_READERS, params=_x("d_draft_req", "request_id")),
    Expect("GET", f"{P}/requests/{{request_id}}/events", REQUEST_READERS, params=_x("d_draft_req", "request_id")),
    Expect("POST", f"{P}/requests/{{request_id}}/submit", B_STAFF, params=_x("d_draft_req", "request_id")),
    Expect("POST", f"{P}/requests/{{request_id}}/withdraw", B_STAFF, params=_x("d_draft_req", "request_id"),
           body=lambda w: {"reason": "不要了"}),
    Expect("POST", f"{P}/requests/{{request_id}}/compliance-review", ADMIN, params=_x("d_compliance", "request_id"),
           body=lambda w: {"approve": True}),
    Expect("POST", f"{P}/requests/{{request_id}}/provider-review", A_STAFF, params=_x("d_provider", "request_id"),
           body=lambda w: {"approve": True}),
    Expect("POST", f"{P}/requests/{{request_id}}/coordinate", B_STAFF, params=_x("d_rejected", "request_id"),
           body=lambda w: {"reason": "请协调"}),
    Expect("POST", f"{P}/requests/{{request_id}}/close", B_STAFF, params=_x("d_rejected", "request_id"),
           body=lambda w: {"reason": "接受"}),
    Expect("POST", f"{P}/requests/{{request_id}}/arbitrate", ADMIN, params=_x("d_coordination", "request_id"),
           body=lambda w: {"approve": True, "note": "同意"}),
    Expect("POST", f"{P}/requests/{{request_id}}/activate", B_STAFF, params=_x("d_approved", "request_id")),
    Expect("POST", f"{P}/requests/{{request_id}}/revoke", A_STAFF, params=_x("d_active", "request_id"),
           body=lambda w: {"reason": "停止"}),
    Expect("GET", f"{P}/grants/{{grant_id}}", REQUEST_READERS, params=_x("d_grant", "grant_id")),
    Expect("GET", f"{P}/grants/{{grant_id}}/rows", roles("org_member_b"), params=_x("d_grant", "grant_id")),
    Expect("GET", f"{P}/grants/{{grant_id}}/rows.csv", roles("org_member_b"), params=_x("d_grant", "grant_id")),
    Expect("GET", f"{P}/grants/{{grant_id}}/api", roles("org_member_b"), params=_x("d_grant", "grant_id"),
           note="no API resource: B gets 404"),
    Expect("GET", f"{P}/grants/{{grant_id}}/access-log", REQUEST_READERS, params=_x("d_grant", "grant_id")),
    Expect("GET", f"{P}/objections", ANY_USER),
    Expect("POST", f"{P}/objections", UNIT_STAFF, body=lambda w: {
        "kind": "catalog_error", "entry_id": str(w.extra["d_entry"].id), "content": "有误"},
        refs={"entry_id": _b_draft, "request_id": lambda w: w.extra["d_b_request"].id}),
    Expect("POST", f"{P}/objections/{{objection_id}}/accept", A_STAFF, params=_x("d_obj", "objection_id")),
    Expect("POST", f"{P}/objections/{{objection_id}}/reply", A_STAFF, params=_x("d_obj", "objection_id"),
           body=lambda w: {"reply": "已处理"}),
    Expect("POST", f"{P}/objections/{{objection_id}}/evaluate", B_STAFF, params=_x("d_handled", "objection_id"),
           body=lambda w: {"rating": 5}),
    Expect("GET", f"{P}/demands", ANY_USER),
    Expect("POST", f"{P}/demands", UNIT_STAFF, body=lambda w: {"title": "需求", "description": "描述",
                                                                "purpose": "用途"}),
    Expect("GET", f"{P}/demands/{{demand_id}}", ANY_USER, params=_x("d_demand", "demand_id")),
    Expect("POST", f"{P}/demands/{{demand_id}}/assign", ADMIN, params=_x("d_demand", "demand_id"),
           body=lambda w: {"org_id": str(w.orgs["dept_a"].id)}, refs={"org_id": lambda w: w.orgs["dept_b"].id}),
    Expect("POST", f"{P}/demands/{{demand_id}}/answer", A_STAFF, params=_x("d_assigned", "demand_id"),
           body=lambda w: {"entry_id": str(w.extra["d_entry"].id)},
           refs={"entry_id": lambda w: w.extra["d_b_published"].id}),
    Expect("GET", f"{P}/kpis", ANY_USER),
    Expect("GET", f"{P}/lists/{{which}}", ANY_USER, params=lambda w: {"which": "catalog"}),
    Expect("PUT", "/api/v1/bureau", ADMIN, body=lambda w: {"org_id": str(w.orgs["bureau"].id)},
           refs={"org_id": lambda w: w.orgs["dept_b"].id}),
]

# ---- collection (issue 20): a unit's sources and sync jobs; its staff change and run them
C_READERS = roles("platform_admin", "auditor", "org_admin_a", "org_member_a")
EXPECTATIONS += [
    Expect("GET", f"{P}/sources", ANY_USER, note="each sees their unit's (bureau and auditors every unit's)"),
    Expect("POST", f"{P}/sources", A_STAFF, body=lambda w: {"org_id": str(w.orgs["dept_a"].id), "name": "新目录",
                                                            "kind": "files"},
           refs={"org_id": lambda w: w.orgs["dept_b"].id}),
    Expect("GET", f"{P}/sources/{{source_id}}", C_READERS, params=_x("c_source", "source_id")),
    Expect("DELETE", f"{P}/sources/{{source_id}}", A_STAFF, params=_x("c_source", "source_id")),
    Expect("POST", f"{P}/sources/{{source_id}}/harvest", A_STAFF, params=_x("c_ckan", "source_id"),
           note="the remote is unreachable: a failed run, recorded"),
    Expect("GET", f"{P}/sources/{{source_id}}/harvest-runs", C_READERS, params=_x("c_ckan", "source_id")),
    Expect("GET", f"{P}/sync-jobs", ANY_USER),
    Expect("POST", f"{P}/sync-jobs", UNIT_STAFF, note="staff of other units get 422: A's source is no id of theirs",
           body=lambda w: {
        "name": "新任务", "source_id": str(w.extra["c_source"].id), "entry_id": str(w.extra["d_entry"].id),
        "mapping": {"name": "xm"}, "key": ["name"]},
        refs={"source_id": lambda w: w.extra["c_b_source"].id, "entry_id": lambda w: w.extra["d_b_published"].id}),
    Expect("GET", f"{P}/sync-jobs/{{job_id}}", C_READERS, params=_x("c_job", "job_id")),
    Expect("PATCH", f"{P}/sync-jobs/{{job_id}}", A_STAFF, params=_x("c_job", "job_id"),
           body=lambda w: {"enabled": False}),
    Expect("DELETE", f"{P}/sync-jobs/{{job_id}}", A_STAFF, params=_x("c_job", "job_id")),
    Expect("POST", f"{P}/sync-jobs/{{job_id}}/run", A_STAFF, params=_x("c_job", "job_id")),
    Expect("GET", f"{P}/sync-jobs/{{job_id}}/runs", C_READERS, params=_x("c_job", "job_id")),
    Expect("GET", f"{P}/quality/checks", C_READERS, query=lambda w: {"entry_id": str(w.extra["d_entry"].id)}),
    Expect("POST", f"{P}/quality/checks", A_STAFF, body=lambda w: {
        "entry_id": str(w.extra["d_entry"].id), "kind": "unique", "column": "id_number"},
        refs={"entry_id": _b_draft}),
    Expect("DELETE", f"{P}/quality/checks/{{check_id}}", A_STAFF, params=_x("c_check", "check_id")),
    Expect("POST", f"{P}/quality/entries/{{entry_id}}/run", A_STAFF, params=_x("d_entry", "entry_id")),
    Expect("GET", f"{P}/quality/scores", ANY_USER),
    Expect("GET", f"{P}/quality/tasks", ANY_USER, note="each sees their units' tasks (the bureau every unit's)"),
    Expect("GET", f"{P}/quality/tasks/{{task_id}}", C_READERS, params=_x("q_task", "task_id")),
    Expect("POST", f"{P}/quality/tasks/{{task_id}}/resolve", A_STAFF, params=_x("q_task", "task_id"),
           body=lambda w: {"note": "已补录"}),
    # base databases: the bureau manages feeds and conflicts; the bureau and the feeding unit read
    Expect("POST", f"{P}/base/feeds", ADMIN, body=lambda w: {
        "base_db": "population", "entry_id": str(w.extra["b_entry"].id), "key_item": "id_number", "priority": 2},
        refs={"entry_id": "the bureau names any unit's entry as a feed"}),
    Expect("GET", f"{P}/base/{{base_db}}", C_READERS, params=lambda w: {"base_db": "population"}),
    Expect("POST", f"{P}/base/{{base_db}}/merge", ADMIN, params=lambda w: {"base_db": "population"}),
    # … and a unit holding a grant on a feeding entry (org B's grant on the people entry: its granted items, masked)
    Expect("GET", f"{P}/base/{{base_db}}/records/{{key}}", roles("platform_admin", "auditor", "org_admin_a",
                                                                "org_member_a", "org_member_b"),
           params=lambda w: {"base_db": "population", "key": w.extra["b_record"].key}),
    Expect("GET", f"{P}/base/{{base_db}}/conflicts", C_READERS, params=lambda w: {"base_db": "population"}),
    # place lookups in 自然资源和空间地理 (no unit feeds it in this world: the bureau's alone — auditors read golden
    # records of the units they audit, and no unit feeds it)
    Expect("GET", f"{P}/base/geo/within", ADMIN, query=lambda w: {
        "min_lon": 105, "min_lat": 28, "max_lon": 110, "max_lat": 32}),
    Expect("GET", f"{P}/base/geo/near", ADMIN, query=lambda w: {
        "lon": 106.5, "lat": 29.5, "radius_m": 1000}),
    Expect("POST", f"{P}/base/conflicts/{{conflict_id}}/resolve", ADMIN, params=_x("b_conflict", "conflict_id"),
           body=lambda w: {"value": "乙"}),
]

# ---- data standards (issue 20): the bureau maintains them; published ones are public; conformance like quality
_S = f"{P}/standards"


def _el(ident: str) -> Any:
    return lambda w: {"identifier": ident}


EXPECTATIONS += [
    Expect("GET", f"{_S}/elements", PUBLIC),
    Expect("POST", f"{_S}/elements", ADMIN, body=lambda w: {
        "identifier": "DE80002", "name_zh": "新数据元", "data_type": "integer", "format": "n..5"},
        refs={"code_list_id": "code lists are the city's standards, no unit's"}),
    Expect("GET", f"{_S}/elements/{{identifier}}", PUBLIC, params=_el("DE00001")),
    Expect("PATCH", f"{_S}/elements/{{identifier}}", ADMIN, params=_el("DE80001"), body=lambda w: {"unit": "个"},
           refs={"code_list_id": "code lists are the city's standards, no unit's"}),
    Expect("POST", f"{_S}/elements/{{identifier}}/publish", ADMIN, params=_el("DE80001")),
    Expect("POST", f"{_S}/elements/{{identifier}}/retire", ADMIN, params=_el("DE00014")),
    Expect("GET", f"{_S}/elements/{{identifier}}/uses", PUBLIC, params=_el("DE00003")),
    Expect("GET", f"{_S}/code-lists", PUBLIC),
    Expect("POST", f"{_S}/code-lists", ADMIN, body=lambda w: {"identifier": "T-NEW", "name": "新代码表"}),
    Expect("GET", f"{_S}/code-lists/{{list_id}}", PUBLIC, params=_x("s_spare_list", "list_id")),
    Expect("POST", f"{_S}/code-lists/{{list_id}}/values", ADMIN, params=_x("s_draft_list", "list_id"),
           note="empty body: allowed roles get 422"),
    Expect("POST", f"{_S}/code-lists/{{list_id}}/publish", ADMIN, params=_x("s_draft_list", "list_id")),
    Expect("POST", f"{_S}/code-lists/{{list_id}}/retire", ADMIN, params=_x("s_spare_list", "list_id")),
    Expect("GET", f"{_S}/conformance", ANY_USER),
    Expect("GET", f"{_S}/conformance/resources/{{resource_id}}", C_READERS, params=_x("d_res", "resource_id")),
    # the providing unit and the bureau count again (auditors read the report, they do not recheck it)
    Expect("POST", f"{_S}/conformance/resources/{{resource_id}}/recheck", A_STAFF,
           params=_x("d_res", "resource_id")),
]

# ---- open-data portal (issue 6): every read is public; writes go through the catalog policies
A_WRITERS = roles("platform_admin", "org_admin_a", "org_member_a")
_open_name = lambda w: {"name": w.extra["p_open"].name}  # noqa: E731  # a table of small lambdas reads best
for _prefix in ("/api/3/action", "/api/action"):
    EXPECTATIONS += [
        Expect("GET", f"{_prefix}/{{action}}", PUBLIC, params=lambda w: {"action": "package_search"}),
        Expect("POST", f"{_prefix}/{{action}}", PUBLIC, params=lambda w: {"action": "package_show"},
               body=lambda w: {"id": w.extra["p_open"].name}),
        Expect("POST", f"{_prefix}/{{action}}", A_WRITERS, params=lambda w: {"action": "package_patch"},
               body=lambda w: {"id": w.extra["p_open"].name, "notes": "新的摘要"},
               note="package_patch maps to catalog_entry_update: the providing unit (and the platform admin)"),
    ]
EXPECTATIONS += [
    Expect("GET", "/api/3", PUBLIC),
    Expect("GET", "/catalog.ttl", PUBLIC), Expect("GET", "/catalog.jsonld", PUBLIC),
    Expect("GET", "/catalog.rdf", PUBLIC), Expect("GET", "/sitemap.xml", PUBLIC),
    Expect("GET", "/dataset/{name}.ttl", PUBLIC, params=_open_name),
    Expect("GET", "/dataset/{name}.jsonld", PUBLIC, params=_open_name),
    Expect("GET", "/dataset/{name}.rdf", PUBLIC, params=_open_name),
    Expect("GET", "/dataset/{name}/datapackage.json", PUBLIC, params=_open_name),
    Expect("GET", "/datastore/dump/{resource_id}", PUBLIC, params=_x("p_res", "resource_id"),
           note="the open items of a 无条件开放 table, for everybody"),
    Expect("GET", "/dataset/{name}/resource/{resource_id}/download/{filename}", PUBLIC,
           params=lambda w: {"name": w.extra["p_file_entry"].name, "resource_id": w.extra["p_file"].id,
                             "filename": "lines.pdf"}),
]
