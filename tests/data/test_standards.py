"""Data standards (issue 20): elements and code lists, the catalog's element references, CSV import, conformance."""

from __future__ import annotations

import io
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from cityhub.core.actor import Actor
from cityhub.core.models import AuditEntry
from cityhub.data import schemas, service
from cityhub.data.standards.schemas import CodeListCreate, DataElementCreate, DataElementUpdate, format_ok
from cityhub.demo.city import DISTRICTS
from cityhub.kit.errors import Conflict, Forbidden, InvalidTransition, NotFound, ValidationFailed
from tests.data.helpers import bureau_setup, entry_data, published_entry

STD_ITEMS: list[dict[str, Any]] = [
    {"name_cn": "姓名", "name_en": "name", "data_type": "C", "element": "DE00010"},
    {"name_cn": "公民身份号码", "name_en": "id_number", "data_type": "C", "masking_rule": "id_number",
     "element": "DE00001"},
    {"name_cn": "性别", "name_en": "sex", "data_type": "C", "element": "DE00003"},
    {"name_cn": "行政区划", "name_en": "division", "data_type": "C", "element": "DE00004"},
    {"name_cn": "出生日期", "name_en": "birth", "data_type": "C", "element": "DE00005"},
    {"name_cn": "经度", "name_en": "lon", "data_type": "N", "element": "DE00008"},
    {"name_cn": "联系电话", "name_en": "phone", "data_type": "C"},
]
STD_CSV = ("name,id_number,sex,division,birth,lon,phone\n"
           "张三,500101199001011234,1,500101,1990-01-01,106.551234,13800000000\n"
           "李四,50010119900101123,男,500300,1990/01/02,106.5512345,13900000000\n"
           "王五,11010519491231002X,2,500000,19491231,181.0,\n")


def _audit(w: Any, action: str) -> list[AuditEntry]:
    return list(w.session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def _element(w: Any, who: str = "bureau_member", **over: Any) -> Any:
    data: dict[str, Any] = {"identifier": "DE90001", "name_zh": "婚姻状况代码", "name_en": "Marital status code",
                            "definition": "人的婚姻状况。", "data_type": "string", "format": "n2"}
    data.update(over)
    return service.data_element_create(w.session, w.actors[who], DataElementCreate.model_validate(data))


def test_seeds_hold_the_national_code_lists_and_common_elements(world: Any) -> None:
    lists = {cl.identifier: cl for cl in service.code_list_list(world.session, world.actors["org_member_a"])}
    assert {"GB/T 2261.1", "GB/T 2260"} <= set(lists)
    _head, sex = service.code_list_get(world.session, world.actors["org_member_a"], lists["GB/T 2261.1"].id)
    assert [(v.code, v.label_zh) for v in sex] == [("0", "未知的性别"), ("1", "男性"), ("2", "女性"),
                                                   ("9", "未说明的性别")]
    _head, divisions = service.code_list_get(world.session, world.actors["org_member_a"], lists["GB/T 2260"].id)
    seeded = {v.code: (v.label_zh, v.parent_code) for v in divisions}
    # the same 38 districts and counties as the demo city's units, under 市辖区 (500100) and 县 (500200)
    demo = {u.division_code: u.name for u in DISTRICTS if u.division_code}
    assert len(demo) == 38
    assert {c: n for c, (n, _p) in seeded.items() if c not in ("500000", "500100", "500200")} == demo
    assert seeded["500103"] == ("渝中区", "500100") and seeded["500240"][1] == "500200"
    assert seeded["500100"][1] == "500000" and seeded["500000"] == ("重庆市", "")
    elements, total = service.data_element_list(world.session, world.actors["org_member_a"], limit=100)
    names = {e.name_zh for e in elements}
    assert total >= 12 and {"公民身份号码", "统一社会信用代码", "性别代码", "行政区划代码", "出生日期", "联系电话",
                            "电子邮箱", "经度", "纬度"} <= names
    sex_el = service.data_element_get(world.session, world.actors["org_member_a"], "DE00003")
    assert sex_el.code_list_identifier == "GB/T 2261.1" and sex_el.status == "published"


def test_formats_are_parsed() -> None:
    for good in ("an..18", "n8", "n..10,6", "a3..5", "ans..200", "YYYY-MM-DD", ""):
        assert format_ok(good), good
    for bad in ("an", "x..3", "n..3,2,1", "an..3,1", "n5..3", "YYYY"):
        assert not format_ok(bad), bad


def test_only_the_bureau_maintains_standards_and_every_step_is_audited(world: Any) -> None:
    bureau_setup(world)
    for who in ("org_member_a", "org_admin_a", "auditor"):
        with pytest.raises(Forbidden):
            _element(world, who)
        with pytest.raises(Forbidden):
            service.code_list_create(world.session, world.actors[who], CodeListCreate(identifier="GB/T 4766",
                                                                                       name="婚姻状况代码"))
    cl = service.code_list_create(world.session, world.actors["bureau_member"], CodeListCreate(
        identifier="GB/T 4766", name="婚姻状况代码", source_standard="GB/T 4766-1984"))
    with pytest.raises(Conflict):
        service.code_list_create(world.session, world.actors["bureau_member"], CodeListCreate(
            identifier="GB/T 4766", name="重复"))
    el = _element(world, code_list_id=cl.id)
    assert el.status == "draft" and _audit(world, "data_element_create")[0].target_id == str(el.id)
    with pytest.raises(Conflict):
        _element(world)
    # publishing needs the code list published first, and the list needs codes
    with pytest.raises(ValidationFailed) as e:
        service.data_element_publish(world.session, world.actors["bureau_member"], "DE90001")
    assert e.value.field == "code_list_id"
    with pytest.raises(ValidationFailed):
        service.code_list_publish(world.session, world.actors["bureau_member"], cl.id)
    report = service.code_list_import(world.session, world.actors["bureau_member"], cl.id,
                                      "code,label_zh\n10,未婚\n20,已婚\n".encode())
    assert (report.added, report.errors) == (2, [])
    service.code_list_publish(world.session, world.actors["bureau_member"], cl.id)
    service.data_element_update(world.session, world.actors["bureau_member"], "DE90001",
                                DataElementUpdate(definition="人当前的婚姻状况。"))
    service.data_element_publish(world.session, world.actors["bureau_member"], "DE90001")
    with pytest.raises(Conflict):  # a published element no longer changes
        service.data_element_update(world.session, world.actors["bureau_member"], "DE90001",
                                    DataElementUpdate(unit="x"))
    with pytest.raises(InvalidTransition):
        service.data_element_publish(world.session, world.actors["bureau_member"], "DE90001")
    with pytest.raises(Forbidden):
        service.data_element_retire(world.session, world.actors["org_member_a"], "DE90001")
    with pytest.raises(Conflict):  # the published element still uses the list
        service.code_list_retire(world.session, world.actors["bureau_member"], cl.id)
    service.data_element_retire(world.session, world.actors["bureau_member"], "DE90001")
    service.code_list_retire(world.session, world.actors["bureau_member"], cl.id)
    for action in ("code_list_create", "code_list_import", "code_list_publish", "data_element_update",
                   "data_element_publish", "data_element_retire", "code_list_retire"):
        assert len(_audit(world, action)) == 1, action
    assert _audit(world, "data_element_publish")[0].summary  # before/after recorded


def test_bad_input_is_refused_naming_the_field(world: Any) -> None:
    bureau_setup(world)
    with pytest.raises(ValidationError):
        DataElementCreate.model_validate({"identifier": "1bad", "name_zh": "x", "data_type": "string"})
    with pytest.raises(ValidationError):
        DataElementCreate.model_validate({"identifier": "DE1", "name_zh": "x", "data_type": "text"})
    with pytest.raises(ValidationError):
        DataElementCreate.model_validate({"identifier": "DE1", "name_zh": "x", "data_type": "string",
                                          "format": "qq"})
    for over, field in (({"format": "n..5,2"}, "format"), ({"format": "YYYY-MM-DD", "data_type": "integer"}, "format"),
                        ({"code_list_id": "00000000-0000-0000-0000-000000000001"}, "code_list_id")):
        with pytest.raises(ValidationFailed) as e:
            _element(world, **over)
        assert e.value.field == field
    with pytest.raises(NotFound):
        service.data_element_get(world.session, world.actors["org_member_a"], "DE99999")
    with pytest.raises(NotFound):
        service.data_element_publish(world.session, world.actors["bureau_member"], "DE99999")


def test_drafts_are_for_staff_and_published_standards_for_everybody(world: Any) -> None:
    bureau_setup(world)
    _element(world)
    anon = Actor.anonymous()
    assert service.data_element_get(world.session, world.actors["org_member_b"], "DE90001").status == "draft"
    with pytest.raises(NotFound):
        service.data_element_get(world.session, anon, "DE90001")
    assert service.data_element_get(world.session, anon, "DE00001").name_zh == "公民身份号码"
    _items, total = service.data_element_list(world.session, anon, q="身份")
    assert total >= 1
    drafts, n = service.data_element_list(world.session, anon, status="draft")
    assert (drafts, n) == ([], 0)


def test_code_list_import_lists_each_bad_row_and_writes_nothing(world: Any) -> None:
    bureau_setup(world)
    b = world.actors["bureau_member"]
    cl = service.code_list_create(world.session, b, CodeListCreate(identifier="T-1", name="测试"))
    service.code_list_import(world.session, b, cl.id, "code,label_zh\nA,甲\n".encode())
    bad = ("代码,名称,英文名称,上级代码\n"
           "B,乙,Yi,A\n"   # fine: A exists already
           ",无代码,,\n"    # row 2: no code
           "C,,,\n"         # row 3: no label
           "B,重复,,\n"     # row 4: repeated
           "D,丁,,ZZ\n")    # row 5: unknown parent
    report = service.code_list_import(world.session, b, cl.id, bad.encode("gb18030"))
    assert [(e.row, e.field) for e in report.errors] == [(2, "code"), (3, "label_zh"), (4, "code"),
                                                          (5, "parent_code")]
    _head, values = service.code_list_get(world.session, b, cl.id)
    assert [v.code for v in values] == ["A"]  # nothing half-written
    good = service.code_list_import(world.session, b, cl.id, "code,label_zh,parent_code\nA,甲一,\nB,乙,A\n".encode())
    assert (good.added, good.updated) == (1, 1)
    with pytest.raises(ValidationFailed):
        service.code_list_import(world.session, b, cl.id, b"foo,bar\n1,2\n")
    with pytest.raises(ValidationFailed):
        service.code_list_import(world.session, b, cl.id, b"code,label_zh\n")
    with pytest.raises(Forbidden):
        service.code_list_import(world.session, world.actors["org_member_a"], cl.id, b"code,label_zh\nX,x\n")


def test_catalog_items_name_a_published_element(world: Any) -> None:
    bureau_setup(world)
    a = world.actors["org_member_a"]
    entry = service.catalog_entry_create(world.session, a, entry_data(world, items=STD_ITEMS))
    assert entry.items[0]["element"] == "DE00010" and "element" not in entry.items[-1]
    bad = [*STD_ITEMS[:2], {**STD_ITEMS[2], "element": "DE99999"}]
    with pytest.raises(ValidationFailed) as e:
        service.catalog_entry_create(world.session, a, entry_data(world, title="另一个", items=bad))
    assert e.value.field == "items.2.element"
    _element(world)  # a draft element cannot be followed yet
    with pytest.raises(ValidationFailed) as e:
        service.catalog_entry_update(world.session, a, entry.id, schemas.EntryUpdate.model_validate(
            {"items": [{**STD_ITEMS[0], "element": "DE90001"}]}))
    assert e.value.field == "items.0.element"
    uses = service.data_element_uses(world.session, a, "DE00003")
    assert [(u.entry_id, u.item) for u in uses] == [(entry.id, "sex")]
    assert service.data_element_uses(world.session, world.actors["org_member_b"], "DE00003") == []  # a's draft


def _people(world: Any) -> tuple[Any, Any]:
    entry = published_entry(world, items=STD_ITEMS)
    res, load = service.resource_table_upload(world.session, world.actors["org_member_a"], entry.id, "std.csv",
                                              io.BytesIO(STD_CSV.encode()))
    assert load.accepted, load.errors
    return entry, res


def test_conformance_counts_type_format_and_code_list_failures(world: Any) -> None:
    _entry, res = _people(world)
    report = service.conformance_resource(world.session, world.actors["org_member_a"], res.id)
    f = {x.item: x for x in report.fields}
    assert (f["name"].checked, f["name"].nonconforming) == (3, 0)
    # offending values are stored masked by the item's rule (the stored result is read by the unit and the bureau)
    assert (f["id_number"].bad_format, f["id_number"].samples) == (1, ["5001*********1123"])
    assert (f["sex"].bad_format, f["sex"].bad_code, f["sex"].nonconforming, f["sex"].samples) == (1, 1, 1, ["男"])
    assert (f["division"].bad_code, f["division"].samples) == (1, ["500300"])
    assert (f["birth"].type_ok, f["birth"].bad_type) == (False, 2)
    assert sorted(f["birth"].samples) == ["19491231", "1990/01/02"]
    assert (f["lon"].type_ok, f["lon"].bad_format, f["lon"].checked) == (True, 1, 3)
    assert not f["phone"].standardised and f["phone"].checked == 0
    assert (report.fields_total, report.fields_standardised) == (7, 6)
    assert (report.checked, report.nonconforming, report.conforming) == (18, 6, 12)
    assert report.rate == pytest.approx(66.7)
    # the bureau reads the same stored report, masked; unit B not at all
    bureau = service.conformance_resource(world.session, world.actors["bureau_member"], res.id)
    assert {x.item: x for x in bureau.fields}["id_number"].samples == ["5001*********1123"]
    with pytest.raises(Forbidden):
        service.conformance_resource(world.session, world.actors["org_member_b"], res.id)
    departments, resources = service.conformance_report(world.session, world.actors["bureau_member"])
    mine = next(d for d in departments if d.org_id == world.orgs["dept_a"].id)
    assert (mine.resources, mine.checked, mine.nonconforming) == (1, 18, 6)
    assert [r.resource_id for r in resources] == [res.id]
    _d, b_view = service.conformance_report(world.session, world.actors["org_member_b"])
    assert b_view == []


def test_a_typed_column_of_another_type_fails_whole(world: Any) -> None:
    items = [{"name_cn": "出生日期", "name_en": "birth", "data_type": "I", "element": "DE00005"},
             {"name_cn": "性别", "name_en": "sex", "data_type": "I", "element": "DE00003"}]
    entry = published_entry(world, items=items)
    res, load = service.resource_table_upload(world.session, world.actors["org_member_a"], entry.id, "t.csv",
                                              io.BytesIO(b"birth,sex\n19900101,1\n19900102,3\n,\n"))
    assert load.accepted and res is not None, load.errors
    f = {x.item: x for x in service.conformance_resource(world.session, world.actors["org_member_a"], res.id).fields}
    assert (f["birth"].type_ok, f["birth"].checked, f["birth"].bad_type) == (False, 2, 2)
    # a text element on an integer column: the declaration is flagged, the values' text is checked
    assert (f["sex"].type_ok, f["sex"].bad_type, f["sex"].bad_code, f["sex"].samples) == (False, 0, 1, ["3"])
