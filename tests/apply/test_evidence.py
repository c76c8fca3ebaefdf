"""Evidence for evaluation indicators: a unit's staff attach to their own unit's score (the bureau to any), files are
recognised by their bytes and bounded in size, an indicator of the run is named, a frozen run is a 409, every
attachment is audited; the unit's scorecard readers list and download, anyone else gets 404."""

from __future__ import annotations

import io
import uuid
import zipfile
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from cityhub.apply import files as evidence_mod  # the accepted files and their limit, shared
from cityhub.apply import service as apply
from cityhub.core.models import AuditEntry
from cityhub.kit.errors import Conflict, Forbidden, NotFound, PayloadTooLarge, ValidationFailed
from tests.apply.test_evaluation_report import _run
from tests.apply.test_pages import _csrf, _login

PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
ev = apply.evidence


def _docx(with_word: bool = True) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        if with_word:
            z.writestr("word/document.xml", "<w:document/>")
    return buf.getvalue()


def _audits(w: Any) -> list[Any]:
    return list(w.session.scalars(select(AuditEntry).where(AuditEntry.action == "evaluation_evidence_attach")))


def test_own_unit_attaches_readers_list_and_others_get_404(world: Any) -> None:
    run = _run(world)
    a, b = world.orgs["dept_a"].id, world.orgs["dept_b"].id
    member_a = world.actors["org_member_a"]
    e = ev.evaluation_evidence_attach(world.session, member_a, run.id, a, "cloud.on_cloud", "上云 证明.pdf", PDF)
    assert e.content_type == "application/pdf" and e.size == len(PDF) and e.filename == "上云证明.pdf"
    ev.evaluation_evidence_attach(world.session, world.actors["platform_admin"], run.id, b, "data.quality",
                                  "quality.docx", _docx())
    [row, _] = _audits(world)
    after = row.summary["after"]
    assert row.org_id == a and after["sha256"] == e.sha256 and after["indicator"] == "cloud.on_cloud"
    assert [x.id for x in ev.evidence_list(world.session, member_a, run.id, a)] == [e.id]
    assert len(ev.evidence_list(world.session, world.actors["auditor"], run.id, a)) == 1
    assert ev.evidence_open(world.session, world.actors["auditor"], e.id)[1].read_bytes() == PDF
    member_b = world.actors["org_member_b"]
    with pytest.raises(NotFound):  # not B's scorecard: it does not exist for them
        ev.evaluation_evidence_attach(world.session, member_b, run.id, a, "cloud.on_cloud", "x.pdf", PDF)
    with pytest.raises(NotFound):
        ev.evidence_list(world.session, member_b, run.id, a)
    with pytest.raises(NotFound):
        ev.evidence_open(world.session, member_b, e.id)
    with pytest.raises(Forbidden):  # auditors read the unit's evidence but do not attach it
        ev.evaluation_evidence_attach(world.session, world.actors["auditor"], run.id, a, "cloud.on_cloud", "x.pdf",
                                      PDF)
    assert len(_audits(world)) == 2


def test_bad_files_and_indicators_are_refused_and_nothing_is_kept(world: Any, monkeypatch: pytest.MonkeyPatch
                                                                   ) -> None:
    run = _run(world)
    a = world.orgs["dept_a"].id
    member_a = world.actors["org_member_a"]
    for name, content in (("a.pdf", b"MZ\x90\x00 not a pdf"), ("a.docx", _docx(with_word=False)),
                          ("a.xlsx", b"PK\x03\x04 broken"), ("a.zip", _docx()), ("a.pdf", b"")):
        with pytest.raises(ValidationFailed) as e:
            ev.evaluation_evidence_attach(world.session, member_a, run.id, a, "cloud.on_cloud", name, content)
        assert e.value.field == "file", name
    with pytest.raises(ValidationFailed) as e:
        ev.evaluation_evidence_attach(world.session, member_a, run.id, a, "no.such.indicator", "a.pdf", PDF)
    assert e.value.field == "indicator_key"
    monkeypatch.setattr(evidence_mod, "MAX_BYTES", len(PDF) - 1)
    with pytest.raises(PayloadTooLarge):
        ev.evaluation_evidence_attach(world.session, member_a, run.id, a, "cloud.on_cloud", "a.pdf", PDF)
    with pytest.raises(NotFound):
        ev.evaluation_evidence_attach(world.session, member_a, uuid.uuid4(), a, "cloud.on_cloud", "a.pdf", PDF)
    monkeypatch.setattr(evidence_mod, "MAX_BYTES", 1024)
    apply.evaluation.evaluation_run_freeze(world.session, world.actors["platform_admin"], run.id)
    with pytest.raises(Conflict):
        ev.evaluation_evidence_attach(world.session, member_a, run.id, a, "cloud.on_cloud", "a.pdf", PDF)
    assert ev.evidence_list(world.session, member_a, run.id, a) == [] and _audits(world) == []


def test_the_scorecard_form_attaches_and_links_the_file(client: TestClient, world: Any) -> None:
    run = _run(world)
    world.session.commit()
    a = world.orgs["dept_a"].id
    _login(client, "t-a-member")
    url = f"/apply/evaluation/runs/{run.id}/units/{a}"
    page = client.get(url).text
    assert 'data-testid="evidence-form"' in page
    form = {"csrf_token": _csrf(page), "run_id": str(run.id), "org_id": str(a), "indicator_key": "cloud.on_cloud"}
    bad = client.post("/apply/evaluation/evidence", data=form, files={"file": ("a.pdf", b"not a pdf")},
                      follow_redirects=True)
    assert bad.status_code == 200 and "/apply/evaluation/evidence/" not in bad.text
    ok = client.post("/apply/evaluation/evidence", data=form, files={"file": ("proof.pdf", PDF)},
                     follow_redirects=True)
    link = ok.text.split('href="/apply/evaluation/evidence/')[1].split('"')[0]
    assert "proof.pdf" in ok.text
    got = client.get(f"/apply/evaluation/evidence/{link}")
    assert got.status_code == 200 and got.content == PDF
    client.cookies.clear()
    _login(client, "t-b-member")
    assert client.get(f"/apply/evaluation/evidence/{link}").status_code == 404
    assert client.get(f"/api/v1/apply/evaluation/evidence?run_id={run.id}&org_id={a}").status_code == 404
