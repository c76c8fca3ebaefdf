"""The audit log as sentences (issue 16): every action the code writes has a label, a row reads as who did what to
which object with each changed field named and its values formatted, the page filters and pages, and the export
for people carries a BOM and headers in the reader's language while the machines' export keeps its codes."""

from __future__ import annotations

import ast
import csv
import io
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cityhub.core import service as core
from cityhub.core.audit import vocabulary
from cityhub.kit import i18n, labels
from tests.web.test_pages import login

SRC = Path(__file__).resolve().parents[2] / "src" / "cityhub"
# Actions whose code the source computes (a variable or an f-string), listed by hand from the code that makes them.
COMPUTED = {
    "app_disable", "app_enable", "component_submit", "component_review", "component_deprecate", "component_retire",
    "component_reinstate", "incident_dispatch", "incident_accept", "incident_start", "incident_resolve",
    "incident_close", "incident_reopen", "incident_return", "catalog_entry_publish", "catalog_entry_reject",
    "objection_handle", "objection_evaluate", "share_request_submitted", "share_request_approved",
    "share_request_rejected", "share_request_active", "share_request_closed", "share_request_expired",
}


def _written_actions() -> set[str]:
    """Every action code passed as a literal to `audit_record` / `audited` anywhere in the source."""
    found: set[str] = set()
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or len(node.args) < 3:
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in ("audit_record", "audited") and isinstance(node.args[2], ast.Constant):
                found.add(str(node.args[2].value))
    return found


def test_every_action_the_code_writes_has_a_sentence() -> None:
    written = _written_actions()
    assert len(written) > 80  # the scan found the calls
    labelled = labels.vocabularies()[vocabulary.ACTION]
    missing = sorted((written | COMPUTED) - set(labelled))
    assert not missing, f"audit actions without a label in core/audit/vocabulary.py: {missing}"
    zh = i18n.catalogue("zh_CN")
    assert all(text in zh for text in labelled.values())


def test_a_row_reads_as_a_sentence_with_named_formatted_changes(session: Any, world: Any) -> None:
    unit = world.orgs["dept_a"]
    chief = world.users["org_admin_a"]
    core.user_update(session, core.Actor.system("test"), chief.id, core_user_update(display_name="张三"))
    entry = core.audit_record(
        session, world.actors["org_admin_a"], "request_approve", target_type="cloud_request",
        target_id="9a07bab9-0000-4000-8000-000000000000", org_id=unit.id,
        before={"status": "submitted", "monthly_cost": 7200.0, "deadline": None, "assigned_org_id": None},
        after={"status": "pending_bureau", "monthly_cost": 7500.5, "deadline": datetime(2026, 12, 18, 16, tzinfo=UTC),
               "assigned_org_id": str(unit.id)})
    zh = core.audit_describe(session, [entry])[0]
    assert zh.sentence == "张三 批准了云资源申请 #9a07bab9"
    assert zh.unit == unit.name
    changes = {name: (before, after) for name, before, after in zh.changes}
    assert changes["月费用"] == ("¥7,200.00", "¥7,500.50")
    assert changes[labels.label("deadline", vocabulary.FIELD)] == ("—", "2026-12-19 00:00")  # Beijing time
    assert changes["承办单位"] == ("—", unit.name)  # an id named by the unit's name
    assert changes["状态"][0] != "submitted" and "_" not in changes["状态"][1]  # labels, never codes
    token = i18n.set_locale("en")
    try:
        en = core.audit_describe(session, [entry])[0]
    finally:
        i18n._locale.reset(token)  # type: ignore[arg-type]  # the token from set_locale is the ContextVar's token (typed loosely there)
    assert en.sentence == "张三 approved cloud request #9a07bab9"
    assert ("Monthly cost", "¥7,200.00", "¥7,500.50") in en.changes


def core_user_update(**fields: Any) -> Any:
    from cityhub.core.schemas import UserUpdate

    return UserUpdate(**fields)


def test_a_created_object_is_named_and_a_system_actor_says_so(session: Any, world: Any) -> None:
    entry = core.audit_record(session, core.Actor.system("demo"), "tenancy_create", target_type="cloud_tenancy",
                              target_id="b271d84b-0000-4000-8000-000000000000", org_id=world.orgs["dept_a"].id,
                              after={"name": "甲局政务云租户", "vcpus": 12000, "credentials": "***"})
    line = core.audit_describe(session, [entry])[0]
    assert line.sentence == "系统（demo） 开通了云租户 甲局政务云租户"
    assert ("vCPU", "12,000") in line.details and ("凭据", "（已隐藏）") in line.details


def test_the_page_filters_pages_and_exports_for_people(client: Any, world: Any, session: Any) -> None:
    admin = world.actors["platform_admin"]
    for i in range(60):
        core.audit_record(session, admin, "request_create", target_type="cloud_request", target_id=f"r{i}",
                          org_id=world.orgs["dept_a" if i % 2 else "dept_b"].id, after={"quantity": i})
    session.flush()
    login(client, "t-admin")
    page = client.get("/admin/audit", params={"action": "request_create"})
    assert page.status_code == 200
    assert page.text.count('class="sentence"') == 50 and 'rel="next"' in page.text
    visible = re.sub(r"<[^>]+>", " ", page.text.split('id="page-data"')[0])
    assert "request_create" not in visible and "cloud_request" not in visible  # sentences, not codes
    second = client.get("/admin/audit", params={"action": "request_create", "offset": 50})
    assert second.text.count('class="sentence"') == 10
    unit = client.get("/admin/audit", params={"action": "request_create", "org_id": str(world.orgs["dept_a"].id)})
    assert unit.text.count('class="sentence"') == 30
    who = client.get("/admin/audit", params={"who": "t-aud"})  # nobody by that name wrote these rows
    assert 'class="sentence"' not in who.text and "没有符合筛选条件的审计记录" in who.text
    future = client.get("/admin/audit", params={"since": "2999-01-01"})
    assert future.text.count('class="sentence"') == 0
    bad = client.get("/admin/audit", params={"since": "yesterday"})
    assert bad.status_code == 422 and "since" in bad.text

    people = client.get("/admin/audit/export.csv", params={"action": "request_create"})
    assert people.status_code == 200 and people.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(people.content.decode("utf-8-sig"))))
    assert rows[0][:4] == ["时间", "操作人", "单位", "操作内容"]
    assert len(rows) == 61 and "提交了云资源申请" in rows[1][3]

    machines = client.get("/api/v1/audit.csv", params={"action": "request_create"}, headers=world.headers(
        "platform_admin"))
    assert not machines.content.startswith("\ufeff".encode())
    assert machines.text.splitlines()[0].startswith("id,at,actor_name")
    assert ",request_create," in machines.text


def test_an_auditor_of_a_unit_filters_only_within_what_they_read(client: Any, world: Any, session: Any) -> None:
    login(client, "t-auditor")
    r = client.get("/admin/audit", params={"org_id": str(world.orgs["dept_b"].id)})
    assert r.status_code == 200
