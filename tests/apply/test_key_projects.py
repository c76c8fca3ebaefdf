"""The key-project register (数字经济重点项目): the owner unit and the bureau write, staff read; the status flow (409
off the table, completed is final); progress reports with their history (never falling, one per day); unknown ids
404, unknown references 422 naming the field, a taken name 409; every write audited; the import all-or-nothing with
each row's problems named; the progress sources and the 全景 figures count the register."""

from __future__ import annotations

import io
import uuid
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from cityhub.apply import service as apply
from cityhub.apply.projects.schemas import KeyProjectCreate, KeyProjectReportCreate, KeyProjectUpdate
from cityhub.apply.schemas import EnterpriseCreate, ParkCreate
from cityhub.core.actor import Actor
from cityhub.core.models import AuditEntry
from cityhub.kit import clock
from cityhub.kit.errors import Conflict, Forbidden, InvalidTransition, NotFound, ValidationFailed
from cityhub.kit.idcodes import credit_code_check_char
from cityhub.kit.pagination import PageParams

pj = apply.projects
SYSTEM = Actor.system("test")
TODAY = clock.now().date()


def _audit(w: Any, target_id: Any) -> list[str]:
    return [a.action for a in w.session.scalars(select(AuditEntry).where(AuditEntry.target_id == str(target_id))
                                                .order_by(AuditEntry.at))]


def _registers(w: Any) -> tuple[Any, Any]:
    admin = w.actors["platform_admin"]
    park = apply.economy.digital_park_create(w.session, admin, ParkCreate(code="xt", name="仙桃数据谷",
                                                                          district_org_id=w.orgs["district"].id))
    first17 = "91500000MA5U7000A"
    firm = apply.economy.enterprise_create(w.session, admin, EnterpriseCreate(
        credit_code=first17 + credit_code_check_char(first17), name="仙桃传感科技", sector="iot", size="medium",
        park_id=park.id))
    return park, firm


def _body(w: Any, **over: Any) -> KeyProjectCreate:
    values: dict[str, Any] = {"name": "仙桃传感器产业园二期", "owner_org_id": w.orgs["dept_a"].id, "sector": "iot",
                              "investment_total": 12000.0, "planned_start": TODAY - timedelta(days=400),
                              "planned_finish": TODAY + timedelta(days=300)}
    return KeyProjectCreate(**{**values, **over})


def test_the_owner_unit_registers_reports_and_moves_its_project_on(world: Any) -> None:
    park, firm = _registers(world)
    member = world.actors["org_member_a"]
    p = pj.key_project_create(world.session, member, _body(world, park_id=park.id, lead_enterprise_id=firm.id,
                                                           district_org_id=world.orgs["district"].id))
    assert p.status == "planned" and p.investment_completed == 0 and p.completion == 0
    # a report while planned (preparatory spending), then building, then more reports out of order
    pj.key_project_report(world.session, member, p.id, KeyProjectReportCreate(
        as_of=TODAY - timedelta(days=300), investment_completed=500, milestone="完成土地平整"))
    pj.key_project_transition(world.session, member, p.id, "under_construction", "开工")
    pj.key_project_report(world.session, member, p.id, KeyProjectReportCreate(
        as_of=TODAY - timedelta(days=30), investment_completed=6000, milestone="主体封顶"))
    pj.key_project_report(world.session, member, p.id, KeyProjectReportCreate(
        as_of=TODAY - timedelta(days=120), investment_completed=3000, milestone="主体施工"))
    got = pj.key_project_get(world.session, world.actors["org_member_b"], p.id)  # another unit reads it
    assert got.investment_completed == 6000 and got.completion == 0.5  # the latest day's figure, not the last typed
    history = pj.key_project_reports(world.session, world.actors["auditor"], p.id)
    assert [r.investment_completed for r in history] == [500, 3000, 6000]  # oldest first
    assert history[0].reported_by == member.user_id
    pj.key_project_transition(world.session, member, p.id, "completed", "竣工验收")
    assert pj.key_project_get(world.session, member, p.id).status == "completed"
    assert _audit(world, p.id) == ["key_project_create", "key_project_report", "key_project_transition",
                                   "key_project_report", "key_project_report", "key_project_transition"]
    # filters
    page = PageParams(limit=10)
    assert pj.key_project_list(world.session, member, page, park_id=park.id)[1] == 1
    assert pj.key_project_list(world.session, member, page, status="planned")[1] == 0
    assert pj.key_project_list(world.session, member, page, district_org_id=world.orgs["district"].id)[1] == 1
    assert pj.key_project_list(world.session, member, page, district_org_id=world.orgs["dept_b"].id)[1] == 0


def test_the_status_flow_is_a_table_and_completed_is_final(world: Any) -> None:
    admin, member = world.actors["platform_admin"], world.actors["org_member_a"]
    p = pj.key_project_create(world.session, admin, _body(world))  # the bureau registers for unit A
    with pytest.raises(InvalidTransition):
        pj.key_project_transition(world.session, member, p.id, "completed")  # planned → completed skips building
    with pytest.raises(ValidationFailed) as e:
        pj.key_project_transition(world.session, member, p.id, "finished")
    assert e.value.field == "status"
    pj.key_project_transition(world.session, member, p.id, "under_construction")
    pj.key_project_transition(world.session, member, p.id, "suspended")
    with pytest.raises(Conflict):  # a suspended project reports nothing until it resumes
        pj.key_project_report(world.session, member, p.id, KeyProjectReportCreate(as_of=TODAY,
                                                                                  investment_completed=1))
    with pytest.raises(Conflict):  # started once: not deleted, suspended
        pj.key_project_delete(world.session, admin, p.id)
    pj.key_project_transition(world.session, member, p.id, "under_construction")
    pj.key_project_transition(world.session, admin, p.id, "completed")
    for to in ("under_construction", "suspended", "planned"):
        with pytest.raises(InvalidTransition):
            pj.key_project_transition(world.session, admin, p.id, to)
    with pytest.raises(Conflict):
        pj.key_project_update(world.session, admin, p.id, KeyProjectUpdate(description="改"))
    with pytest.raises(Conflict):
        pj.key_project_report(world.session, admin, p.id, KeyProjectReportCreate(as_of=TODAY,
                                                                                 investment_completed=1))
    assert InvalidTransition.status_code == 409


def test_other_units_are_refused_and_unknown_ids_are_404(world: Any) -> None:
    a, b = world.actors["org_member_a"], world.actors["org_member_b"]
    with pytest.raises(Forbidden):  # declaring for another unit
        pj.key_project_create(world.session, b, _body(world))
    with pytest.raises(Forbidden):
        pj.key_project_create(world.session, world.actors["auditor"], _body(world))
    p = pj.key_project_create(world.session, a, _body(world))
    report = KeyProjectReportCreate(as_of=TODAY, investment_completed=10)
    for call in (lambda who: pj.key_project_update(world.session, who, p.id, KeyProjectUpdate(description="x")),
                 lambda who: pj.key_project_transition(world.session, who, p.id, "under_construction"),
                 lambda who: pj.key_project_report(world.session, who, p.id, report),
                 lambda who: pj.key_project_delete(world.session, who, p.id)):
        with pytest.raises(Forbidden):
            call(b)
    with pytest.raises(Forbidden):  # handing the project to a unit one does not act for
        pj.key_project_update(world.session, a, p.id, KeyProjectUpdate(owner_org_id=world.orgs["dept_b"].id))
    assert pj.key_project_get(world.session, a, p.id).owner_org_id == world.orgs["dept_a"].id
    nobody = uuid.uuid4()
    for missing in (lambda: pj.key_project_get(world.session, a, nobody),
                    lambda: pj.key_project_reports(world.session, a, nobody),
                    lambda: pj.key_project_update(world.session, a, nobody, KeyProjectUpdate(description="x")),
                    lambda: pj.key_project_transition(world.session, a, nobody, "suspended"),
                    lambda: pj.key_project_report(world.session, a, nobody, report),
                    lambda: pj.key_project_delete(world.session, a, nobody)):
        with pytest.raises(NotFound):
            missing()
    assert _audit(world, p.id) == ["key_project_create"]  # refusals write nothing
    pj.key_project_delete(world.session, a, p.id)  # planned: the owner deletes it
    assert _audit(world, p.id)[-1] == "key_project_delete"
    with pytest.raises(NotFound):
        pj.key_project_get(world.session, a, p.id)


def test_bad_references_are_422_naming_the_field_and_a_taken_name_is_409(world: Any) -> None:
    admin = world.actors["platform_admin"]
    with pytest.raises(ValidationFailed) as e:
        pj.key_project_create(world.session, admin, _body(
            world, sector="mining", park_id=uuid.uuid4(), lead_enterprise_id=uuid.uuid4(),
            district_org_id=world.orgs["dept_a"].id))  # a department is not a district
    assert [d["field"] for d in e.value.details] == ["district_org_id", "sector", "park_id", "lead_enterprise_id"]
    with pytest.raises(ValidationFailed) as e:
        pj.key_project_create(world.session, admin, _body(world, owner_org_id=uuid.uuid4()))
    assert e.value.details[0]["field"] == "owner_org_id"
    with pytest.raises(ValueError, match="planned_finish"):
        _body(world, planned_finish=TODAY - timedelta(days=500))
    with pytest.raises(ValueError, match="investment_total"):
        _body(world, investment_total=0)
    p = pj.key_project_create(world.session, admin, _body(world))
    with pytest.raises(Conflict):
        pj.key_project_create(world.session, admin, _body(world, sector="ai"))
    other = pj.key_project_create(world.session, admin, _body(world, name="另一个项目"))
    with pytest.raises(Conflict):
        pj.key_project_update(world.session, admin, other.id, KeyProjectUpdate(name=p.name))
    with pytest.raises(ValidationFailed) as e:
        pj.key_project_update(world.session, admin, p.id, KeyProjectUpdate(planned_finish=date(2000, 1, 1)))
    assert e.value.field == "planned_finish"
    with pytest.raises(ValidationFailed) as e:
        pj.key_project_update(world.session, admin, p.id, KeyProjectUpdate.model_validate({"name": None}))
    assert e.value.field == "name"
    with pytest.raises(ValidationFailed) as e:
        pj.key_project_update(world.session, admin, p.id, KeyProjectUpdate(park_id=uuid.uuid4()))
    assert e.value.details[0]["field"] == "park_id"
    changed = pj.key_project_update(world.session, admin, p.id, KeyProjectUpdate(investment_total=15000,
                                                                                 description="扩建"))
    assert changed.investment_total == 15000 and changed.description == "扩建"
    row = world.session.scalars(select(AuditEntry).where(AuditEntry.action == "key_project_update")).one()
    assert row.summary["before"] == {"investment_total": 12000.0, "description": ""}
    assert row.summary["after"] == {"investment_total": 15000.0, "description": "扩建"}
    # reports: not in the future, one per day, never falling
    member = world.actors["org_member_a"]
    with pytest.raises(ValidationFailed) as e:
        pj.key_project_report(world.session, member, p.id, KeyProjectReportCreate(
            as_of=TODAY + timedelta(days=1), investment_completed=1))
    assert e.value.field == "as_of"
    pj.key_project_report(world.session, member, p.id, KeyProjectReportCreate(
        as_of=TODAY - timedelta(days=10), investment_completed=800))
    with pytest.raises(Conflict):
        pj.key_project_report(world.session, member, p.id, KeyProjectReportCreate(
            as_of=TODAY - timedelta(days=10), investment_completed=900))
    for as_of, value in ((TODAY, 700), (TODAY - timedelta(days=20), 900)):
        with pytest.raises(ValidationFailed) as e:
            pj.key_project_report(world.session, member, p.id, KeyProjectReportCreate(
                as_of=as_of, investment_completed=value))
        assert e.value.field == "investment_completed"
    with pytest.raises(ValueError, match="investment_completed"):
        KeyProjectReportCreate(as_of=TODAY, investment_completed=-1)


def test_the_register_counts_in_the_sources_the_summary_and_the_panorama(world: Any) -> None:
    park, _firm = _registers(world)
    admin = world.actors["platform_admin"]
    a = pj.key_project_create(world.session, admin, _body(world, park_id=park.id))
    b = pj.key_project_create(world.session, admin, _body(world, name="园外项目", investment_total=8000))
    for p, value in ((a, 3000.0), (b, 8000.0)):
        pj.key_project_transition(world.session, admin, p.id, "under_construction")
        pj.key_project_report(world.session, admin, p.id, KeyProjectReportCreate(as_of=TODAY,
                                                                                 investment_completed=value))
    pj.key_project_transition(world.session, admin, b.id, "completed")
    assert apply.SOURCES["apply.key_projects_investment"].compute(world.session) == 11000.0
    assert apply.SOURCES["apply.key_projects_completed"].compute(world.session) == 1.0
    s = pj.key_project_summary(world.session, world.actors["org_member_b"])
    assert s.total == 2 and s.by_status["under_construction"] == 1 and s.by_status["completed"] == 1
    assert (s.investment_total, s.investment_completed) == (20000.0, 11000.0)
    assert [(r["name"], r["projects"]) for r in s.by_park] == [("仙桃数据谷", 1), ("", 1)]  # outside any park last
    in_park = pj.key_project_summary(world.session, admin, park.id)
    assert in_park.total == 1 and in_park.investment_completed == 3000.0
    figures = apply.panorama_compute(world.session)["apply"]["key_projects"]
    assert figures == {"total": 2, "under_construction": 1, "completed": 1, "investment_total": 20000.0,
                       "investment_completed": 11000.0}


# ---------------------------------------------------------------- import

HEADER = "name,owner,sector,investment_total,park,lead_enterprise,district,planned_start,planned_finish," \
         "investment_completed,as_of,description"


def _csv(*rows: str) -> bytes:
    return (HEADER + "\n" + "\n".join(rows) + "\n").encode()


def test_import_names_each_bad_row_and_writes_nothing(world: Any) -> None:
    _park, firm = _registers(world)
    admin = world.actors["platform_admin"]
    a, d = world.orgs["dept_a"].code, world.orgs["district"].code
    bad = _csv(f"好项目,{a},iot,5000,xt,{firm.credit_code},{d},2025-01-01,2026-12-31,1000,2025-06-30,说明",
               "无主项目,t-nobody,iot,5000,,,,,,,,",  # row 3: unknown owner
               f"坏数字,{a},mining,很多,无此园,无此企业,{a},,,,,",  # row 4: five problems
               f"日期倒置,{a},ai,100,,,,2026-01-01,2025-01-01,,,",  # row 5: finish before start
               f"未来进度,{a},ai,100,,,,,,10,2999-01-01,",  # row 6: a report as of the future
               f"好项目,{a},iot,5000,,,,,,,,")  # row 7: repeats row 2
    with pytest.raises(ValidationFailed) as e:
        pj.key_project_import(world.session, admin, "p.csv", bad)
    got = {(x["row"], x["field"]) for x in e.value.details}
    assert (3, "owner") in got
    assert {(4, "sector"), (4, "investment_total"), (4, "park"), (4, "lead_enterprise"), (4, "district")} <= got
    assert (5, "planned_finish") in got and (6, "as_of") in got and (7, "name") in got
    assert not any(r == 2 for r, _f in got)  # row 2 is fine
    assert pj.key_project_list(world.session, admin, PageParams(limit=10))[1] == 0  # nothing half-written
    with pytest.raises(Forbidden):  # the bureau imports; a unit registers its own projects one by one
        pj.key_project_import(world.session, world.actors["org_admin_a"], "p.csv", _csv(f"x,{a},ai,1,,,,,,,,"))
    with pytest.raises(ValidationFailed) as e:
        pj.key_project_import(world.session, admin, "p.csv", b"name,sector\nx,ai\n")
    assert e.value.field == "file"
    with pytest.raises(ValidationFailed) as e:
        pj.key_project_import(world.session, admin, "p.csv", HEADER.encode() + b"\n")
    assert e.value.field == "file"


def test_import_creates_updates_and_records_progress(world: Any) -> None:
    park, firm = _registers(world)
    admin = world.actors["platform_admin"]
    a, d = world.orgs["dept_a"].code, world.orgs["district"].name  # a unit by its code or its name
    out = pj.key_project_import(world.session, admin, "p.csv", _csv(
        f"好项目,{a},iot,5000,仙桃数据谷,{firm.name},{d},2025-01-01,2026-12-31,1000,2025-06-30,说明",
        f"第二个,{a},ai,\"2,000\",,,,,,,,"))
    assert (out.created, out.updated) == (2, 0)
    rows = {p.name: p for p in pj.key_project_list(world.session, admin, PageParams(limit=10))[0]}
    good = rows["好项目"]
    assert good.park_id == park.id and good.lead_enterprise_id == firm.id and good.investment_completed == 1000
    assert good.district_org_id == world.orgs["district"].id and rows["第二个"].investment_total == 2000
    assert [r.as_of for r in pj.key_project_reports(world.session, admin, good.id)] == [date(2025, 6, 30)]
    # a known name updates; a figure lower than an earlier report is that row's problem, and nothing is written
    with pytest.raises(ValidationFailed) as e:
        pj.key_project_import(world.session, admin, "p.csv", _csv(
            f"第二个,{a},ai,2500,,,,,,,,", f"好项目,{a},iot,5000,,,,,,900,2025-09-30,"))
    assert [(x["row"], x["field"]) for x in e.value.details] == [(3, "investment_completed")]
    assert pj.key_project_get(world.session, admin, rows["第二个"].id).investment_total == 2000
    out = pj.key_project_import(world.session, admin, "p.csv", _csv(
        f"第二个,{a},ai,2500,,,,,,,,", f"好项目,{a},iot,5000,,,,,,1800,2025-09-30,"))
    assert (out.created, out.updated) == (0, 2)
    assert pj.key_project_get(world.session, admin, good.id).investment_completed == 1800
    assert len(world.session.scalars(select(AuditEntry).where(AuditEntry.action == "key_project_import")).all()) == 2


def test_import_reads_an_xlsx_workbook(world: Any) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["name", "owner", "sector", "investment_total", "planned_start"])
    ws.append(["表格项目", world.orgs["dept_b"].code, "software", 3200, date(2025, 3, 1)])
    buf = io.BytesIO()
    wb.save(buf)
    out = pj.key_project_import(world.session, world.actors["platform_admin"], "p.xlsx", buf.getvalue())
    assert out.created == 1
    p = pj.key_project_list(world.session, SYSTEM, PageParams(limit=10))[0][0]
    assert p.owner_org_id == world.orgs["dept_b"].id and p.planned_start == date(2025, 3, 1)
    with pytest.raises(ValidationFailed) as e:
        pj.key_project_import(world.session, world.actors["platform_admin"], "p.xlsx", b"PK\x03\x04 broken")
    assert e.value.field == "file"
