"""The digital-economy registers: bureau-only writes, the 统一社会信用代码 checked before anything is written,
field-named problems, duplicates 409, and the 1,000-enterprise target computed from the register."""

from __future__ import annotations

import io
from typing import Any

import pytest

from cityhub.apply import service as apply
from cityhub.apply.schemas import EnterpriseCreate, ParkCreate
from cityhub.core.actor import Actor
from cityhub.kit.errors import Conflict, Forbidden, ValidationFailed
from cityhub.kit.idcodes import credit_code_check_char
from cityhub.kit.pagination import PageParams

SYSTEM = Actor.system("test")
ec = apply.economy


def _code(first17: str) -> str:
    return first17 + credit_code_check_char(first17)


def test_only_the_bureau_registers_and_counts_feed_the_target(world: Any) -> None:
    admin = world.actors["platform_admin"]
    apply.programme_seed(world.session, SYSTEM)
    with pytest.raises(Forbidden):
        ec.digital_park_create(world.session, world.actors["org_admin_a"], ParkCreate(code="p1", name="园一"))
    park = ec.digital_park_create(world.session, admin, ParkCreate(code="p1", name="园一",
                                                                   district_org_id=world.orgs["district"].id))
    body = EnterpriseCreate(credit_code=_code("91500000MA5U0000A").lower(), name="甲科技", sector="ai",
                            size="small", park_id=park.id)
    assert body.credit_code == body.credit_code.upper()  # normalised before the check
    with pytest.raises(Forbidden):
        ec.enterprise_create(world.session, world.actors["org_member_a"], body)
    ec.enterprise_create(world.session, admin, body)
    ec.enterprise_create(world.session, admin, body.model_copy(update={
        "credit_code": _code("91500000MA5U0001B"), "park_id": None}))
    with pytest.raises(Conflict):
        ec.enterprise_create(world.session, admin, body)
    assert [p.enterprises for p in ec.park_list(world.session, world.actors["org_member_b"])] == [1]
    assert ec.enterprise_list(world.session, world.actors["auditor"], PageParams(limit=10), park_id=park.id)[1] == 1
    apply.progress_refresh(world.session, SYSTEM)
    t = apply.target_by_code(world.session, SYSTEM, "apply.enterprises")
    assert t.method == "computed" and t.current_value == 2.0


def test_bad_codes_and_fields_are_named_and_nothing_is_written(world: Any) -> None:
    admin = world.actors["platform_admin"]
    good = _code("91500000MA5U0000A")
    wrong_check = good[:17] + ("0" if good[17] != "0" else "1")
    for bad in (wrong_check, good[:17], "91500000MA5U0000I" + good[17]):  # check character, length, alphabet
        with pytest.raises(ValueError, match="credit_code"):
            EnterpriseCreate(credit_code=bad, name="x", sector="ai", size="small")
    with pytest.raises(ValidationFailed) as e:
        ec.enterprise_create(world.session, admin, EnterpriseCreate(
            credit_code=good, name="x", sector="mining", size="huge", park_id=world.orgs["dept_a"].id))
    assert [d["field"] for d in e.value.details] == ["sector", "size", "park_id"]
    with pytest.raises(ValidationFailed) as e:
        ec.digital_park_create(world.session, admin, ParkCreate(code="p2", name="园二",
                                                                district_org_id=world.orgs["dept_a"].id))
    assert e.value.field == "district_org_id"
    assert ec.enterprise_count(world.session) == 0 and ec.park_list(world.session, admin) == []


def _csv(*rows: str) -> bytes:
    return ("credit_code,name,sector,size,park\n" + "\n".join(rows) + "\n").encode()


def test_import_is_all_or_nothing_with_each_row_named_and_updates_known_codes(world: Any) -> None:
    admin = world.actors["platform_admin"]
    ec.digital_park_create(world.session, admin, ParkCreate(code="xtsjg", name="仙桃数据谷"))
    ok1, ok2 = _code("91500000MA5U0100A"), _code("91500000MA5U0101B")
    bad = _csv(f"{ok1},甲科技,ai,small,xtsjg", f"{ok1[:17]}X,乙科技,ai,small,", f"{ok2},丙科技,mining,huge,无此园",
               f"{ok1},重复,ai,small,")
    with pytest.raises(ValidationFailed) as e:
        ec.enterprise_import(world.session, admin, "e.csv", bad)
    got = [(d["row"], d["field"]) for d in e.value.details]
    assert (3, "credit_code") in got and (4, "park") in got and (4, "sector") in got and (4, "size") in got
    assert (5, "credit_code") in got and not any(r == 2 for r, _f in got)  # row 2 is fine; row 5 repeats it
    assert ec.enterprise_count(world.session) == 0  # nothing half-written
    with pytest.raises(Forbidden):
        ec.enterprise_import(world.session, world.actors["org_admin_a"], "e.csv", _csv(f"{ok1},甲科技,ai,small,"))
    out = ec.enterprise_import(world.session, admin, "e.csv", _csv(f"{ok1},甲科技,ai,small,仙桃数据谷",
                                                                   f"{ok2},丙科技,ic,large,"))
    assert (out.created, out.updated) == (2, 0)
    out = ec.enterprise_import(world.session, admin, "e.csv", _csv(f"{ok1},甲科技（更名）,ai,medium,"))
    assert (out.created, out.updated) == (0, 1) and ec.enterprise_count(world.session) == 2
    with pytest.raises(ValidationFailed) as e:
        ec.enterprise_import(world.session, admin, "e.csv", b"name,sector\nx,ai\n")
    assert e.value.field == "file"


def test_import_reads_an_xlsx_workbook(world: Any) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["credit_code", "name", "sector", "size"])
    ws.append([_code("91500000MA5U0200C"), "丁科技", "iot", "micro"])
    buf = io.BytesIO()
    wb.save(buf)
    out = ec.enterprise_import(world.session, world.actors["platform_admin"], "e.xlsx", buf.getvalue())
    assert out.created == 1 and ec.enterprise_count(world.session) == 1
    with pytest.raises(ValidationFailed) as e:
        ec.enterprise_import(world.session, world.actors["platform_admin"], "e.xlsx", b"PK\x03\x04 broken")
    assert e.value.field == "file"
