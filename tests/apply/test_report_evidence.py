"""Progress reports take files as evidence: a link, a file or both (never neither); files are recognised by their
bytes and bounded in size, a refused file writes nothing, a reviewed report takes no more; each file is audited;
whoever sees the report downloads them, anyone else gets 404; the form, the review queue and the API."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from cityhub.apply import files
from cityhub.apply import service as apply
from cityhub.apply.schemas import ReportCreate
from cityhub.core.models import AuditEntry
from cityhub.kit.errors import Conflict, NotFound, PayloadTooLarge, ValidationFailed
from tests.apply.test_pages import _csrf, _login
from tests.apply.test_service import _target

PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
rev = apply.report_evidence


def _audits(w: Any) -> list[Any]:
    return list(w.session.scalars(select(AuditEntry).where(AuditEntry.action == "report_evidence_attach")))


def test_a_file_alone_is_evidence_and_only_those_who_see_the_report_read_it(world: Any) -> None:
    t = _target(world, "t.file")
    member_a = world.actors["org_member_a"]
    r = apply.report_create(world.session, member_a, t.id, ReportCreate(value=12), [("进度 报告.pdf", PDF)])
    [f] = rev.report_evidence_list(world.session, member_a, [r.id])[r.id]
    assert (f.filename, f.content_type, f.size) == ("进度报告.pdf", "application/pdf", len(PDF))
    extra = rev.report_evidence_attach(world.session, world.actors["org_admin_a"], r.id, "site.png", PNG)
    [row, _] = _audits(world)
    assert row.org_id == world.orgs["dept_a"].id and row.summary["after"]["sha256"] == f.sha256
    reviewer = world.actors["platform_admin"]  # the bureau sees every report and its files
    assert [x.id for x in rev.report_evidence_list(world.session, reviewer, [r.id])[r.id]] == [f.id, extra.id]
    assert rev.report_evidence_open(world.session, reviewer, f.id)[1].read_bytes() == PDF
    member_b = world.actors["org_member_b"]
    assert rev.report_evidence_list(world.session, member_b, [r.id]) == {}  # not theirs: left out
    with pytest.raises(NotFound):
        rev.report_evidence_open(world.session, member_b, f.id)
    with pytest.raises(NotFound):
        rev.report_evidence_attach(world.session, member_b, r.id, "x.pdf", PDF)


def test_bad_files_are_refused_and_nothing_is_written(world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    t = _target(world, "t.bad")
    member_a = world.actors["org_member_a"]
    for name, content in (("a.pdf", b"MZ\x90\x00 not a pdf"), ("a.docx", b"PK\x03\x04 broken"), ("a.pdf", b"")):
        with pytest.raises(ValidationFailed) as e:
            apply.report_create(world.session, member_a, t.id, ReportCreate(
                value=1, evidence_url="https://example.gov.cn/e.pdf"), [(name, content)])
        assert e.value.field == "file", name
    monkeypatch.setattr(files, "MAX_BYTES", len(PDF) - 1)
    with pytest.raises(PayloadTooLarge):
        apply.report_create(world.session, member_a, t.id, ReportCreate(value=1), [("a.pdf", PDF)])
    assert apply.report_list(world.session, member_a, target_id=t.id) == [] and _audits(world) == []
    monkeypatch.setattr(files, "MAX_BYTES", 1024)
    r = apply.report_create(world.session, member_a, t.id, ReportCreate(
        value=1, evidence_url="https://example.gov.cn/e.pdf"))
    apply.report_review(world.session, world.actors["platform_admin"], r.id, approve=False, note="缺少佐证")
    with pytest.raises(Conflict):  # reviewed: what the reviewer saw is final
        rev.report_evidence_attach(world.session, member_a, r.id, "late.pdf", PDF)
    assert _audits(world) == []


def test_the_form_uploads_the_file_and_the_queue_links_it(client: TestClient, world: Any) -> None:
    t = _target(world, "t.form")
    world.session.commit()
    _login(client, "t-a-member")
    page = client.get(f"/apply/targets/{t.id}")
    assert 'enctype="multipart/form-data"' in page.text and "佐证材料（文件）" in page.text
    r = client.post(f"/apply/targets/{t.id}/reports", data={"csrf_token": _csrf(page.text), "value": "7"},
                    files={"file": ("证明.pdf", PDF, "application/pdf")}, follow_redirects=True)
    assert r.status_code == 200 and "证明.pdf" in r.text
    link = re.search(r'href="(/apply/report-evidence/[0-9a-f-]+)"', r.text)
    assert link is not None
    got = client.get(link.group(1))
    assert got.status_code == 200 and got.content == PDF
    refused = client.post(f"/apply/targets/{t.id}/reports", data={"csrf_token": _csrf(r.text), "value": "8"},
                          follow_redirects=True)  # neither a link nor a file
    assert "请提供佐证材料" in refused.text
    client.cookies.clear()
    _login(client, "t-b-member")
    assert client.get(link.group(1)).status_code == 404
    client.cookies.clear()
    _login(client, "t-admin")
    queue = client.get("/apply/review")
    assert link.group(1) in queue.text


def test_the_api_creates_with_a_file_lists_and_downloads(client: TestClient, world: Any) -> None:
    t = _target(world, "t.api")
    world.session.commit()
    a = world.headers("org_member_a")
    created = client.post(f"/api/v1/apply/targets/{t.id}/reports/upload", params={"value": 3, "filename": "q.pdf"},
                          content=PDF, headers=a)
    assert created.status_code == 201, created.text
    rid = created.json()["id"]
    bad = client.post(f"/api/v1/apply/targets/{t.id}/reports/upload",  # the link is checked as the JSON route does
                      params={"value": 3, "evidence_url": "ª½«"}, content=PDF, headers=a)
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "evidence_url", bad.text
    more = client.post(f"/api/v1/apply/reports/{rid}/evidence", params={"filename": "x.exe"}, content=b"MZ",
                       headers=a)
    assert more.status_code == 422 and "file" in more.text
    [f] = client.get(f"/api/v1/apply/reports/{rid}/evidence", headers=a).json()
    assert f["filename"] == "q.pdf" and f["size"] == len(PDF)
    assert client.get(f"/api/v1/apply/report-evidence/{f['id']}", headers=a).content == PDF
    assert client.get(f"/api/v1/apply/report-evidence/{f['id']}",
                      headers=world.headers("org_member_b")).status_code == 404
