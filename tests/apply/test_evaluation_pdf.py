"""The evaluation's report as a PDF made on the server: a well-formed PDF (header, cross-reference table, trailer,
pages, the built-in CID font STSong-Light named and no font file embedded) whose text holds the run — the units'
names, the adjustment's reason, the evidence file, draft or frozen — in Chinese by default and in English on
English pages; the bureau and auditors get it, a unit's staff and any other unit 403, anonymous 401, an unknown run
404 (as the workbook); the run page links it.

pypdf is not installed in the venv, so the text is read with the small reader below: every content stream
inflated, its literal strings unescaped and decoded as ReportLab writes them (UTF-16-BE for the CID font, Latin-1
for the standard fonts).
"""

from __future__ import annotations

import base64
import re
import uuid
import zlib
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cityhub.apply import service as apply
from cityhub.apply.evaluation import pdf as evaluation_pdf
from cityhub.apply.models import EvalStatus, OrgType
from cityhub.kit.errors import Forbidden
from tests.apply.test_evaluation_report import _run
from tests.apply.test_pages import _login

STREAM = re.compile(rb"<<(?P<dict>(?:(?!>>\s*stream).)*?)>>\s*stream\r?\n(?P<body>.*?)\s*endstream", re.S)
FONT = re.compile(rb"/BaseFont /(?P<base>[\w-]+)(?:(?!endobj).)*?/Name /(?P<name>F\d+)", re.S)
TOKEN = re.compile(rb"/(?P<font>F\d+) [\d.]+ Tf|(?P<open>\()")
ESC = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f", b"(": b"(", b")": b")", b"\\": b"\\"}


def _literal(content: bytes, i: int) -> tuple[bytes, int]:
    """The literal string opening at `content[i]` ("("), escapes resolved, and the index after it."""
    buf, depth, i = bytearray(), 1, i + 1
    while depth:
        c = content[i:i + 1]
        if c == b"\\":
            digits = re.match(rb"[0-7]{1,3}", content[i + 1:i + 4])
            if digits:
                buf.append(int(digits.group(), 8) & 0xFF)
                i += 1 + len(digits.group())
                continue
            buf += ESC.get(content[i + 1:i + 2], content[i + 1:i + 2])
            i += 2
            continue
        depth += {b"(": 1, b")": -1}.get(c, 0)
        if depth:
            buf += c
        i += 1
    return bytes(buf), i


def pdf_text(pdf: bytes) -> str:
    """Every string drawn on the pages, one per line: in the CID font as UTF-16-BE (UniGB-UCS2-H), else Latin-1."""
    cid = {m.group("name") for m in FONT.finditer(pdf) if m.group("base") == b"STSong-Light"}
    texts: list[str] = []
    for m in STREAM.finditer(pdf):
        body = m.group("body")
        if b"/ASCII85Decode" in m.group("dict"):
            body = base64.a85decode(body.strip().removesuffix(b"~>"), adobe=False)
        if b"/FlateDecode" in m.group("dict"):
            body = zlib.decompress(body)
        font, i = b"", 0
        while tok := TOKEN.search(body, i):
            if tok.group("font"):
                font, i = tok.group("font"), tok.end()
                continue
            raw, i = _literal(body, tok.start())
            texts.append(raw.decode("utf-16-be", "replace") if font in cid else raw.decode("latin-1"))
    return "\n".join(texts)


def check_structure(pdf: bytes) -> int:
    """Header, trailer, cross-reference table pointing at objects, a catalogue; returns the page count."""
    assert pdf.startswith(b"%PDF-1.") and pdf.rstrip().endswith(b"%%EOF")
    startxref = int(re.findall(rb"startxref\s+(\d+)", pdf)[-1])
    assert pdf[startxref:startxref + 4] == b"xref"
    entries = re.findall(rb"(\d{10}) 00000 n", pdf[startxref:])
    assert entries and all(re.match(rb"\d+ 0 obj", pdf[int(off):int(off) + 12]) for off in entries)
    assert b"/Type /Catalog" in pdf
    assert b"/BaseFont /STSong-Light" in pdf and b"/FontFile" not in pdf  # the built-in CID font: nothing embedded
    pages = len(re.findall(rb"/Type /Page(?!s)", pdf))
    assert re.search(rb"/Count %d\b" % pages, pdf)  # the page tree counts every page object
    return pages


def test_the_pdf_holds_the_run_with_its_charts_and_chinese_text(world: Any) -> None:
    run = _run(world)
    pdf_bytes = b"%PDF-1.7\n%%EOF\n"
    apply.evidence.evaluation_evidence_attach(world.session, world.actors["org_member_a"], run.id,
                                              world.orgs["dept_a"].id, "cloud.on_cloud", "上云台账.pdf", pdf_bytes)
    pdf = apply.evaluation_pdf.report_pdf(world.session, world.actors["auditor"], run.id)
    assert check_structure(pdf) >= 4  # cover, indicators, ranking, scores
    text = pdf_text(pdf)
    assert "年度评比报告" in text and "草稿" in text
    assert "甲局" in text and "乙局" in text and "承办全市现场会" in text  # the units, the adjustment's reason
    assert "上云台账.pdf" in text and "五、佐证材料" in text  # the evidence section and its file
    assert "总分" in text and "I1" in text  # the ranking chart's legend, the indicator chart's categories
    with pytest.raises(Forbidden):
        apply.evaluation_pdf.report_pdf(world.session, world.actors["org_member_a"], run.id)
    apply.evaluation.evaluation_run_freeze(world.session, world.actors["platform_admin"], run.id)
    assert "已冻结" in pdf_text(apply.evaluation_pdf.report_pdf(world.session, world.actors["auditor"], run.id))


def test_the_pdf_route_follows_the_workbooks_permission(client: TestClient, world: Any) -> None:
    run = _run(world)
    world.session.commit()
    url = f"/apply/evaluation/runs/{run.id}/report.pdf"
    api = f"/api/v1/apply/evaluation/runs/{run.id}/report.pdf"
    assert client.get(url).status_code in (401, 303) and client.get(api).status_code == 401  # anonymous
    for user in ("t-a-member", "t-b-member"):  # the unit's own staff, another unit's staff: as the workbook
        _login(client, user)
        assert client.get(url).status_code == 403 == client.get(f"/apply/evaluation/runs/{run.id}/report.xlsx"
                                                                 ).status_code
        assert client.get(api).status_code == 403
        client.cookies.clear()
    _login(client, "t-admin")
    assert client.get(f"/apply/evaluation/runs/{uuid.uuid4()}/report.pdf").status_code == 404
    r = client.get(url)
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert r.headers["content-disposition"] == f'attachment; filename="evaluation-{run.id}.pdf"'
    check_structure(r.content)
    assert "甲局" in pdf_text(r.content) and "评比报告" in pdf_text(r.content)
    assert client.get(api).content[:5] == b"%PDF-"
    assert f'href="{url}" data-testid="report-pdf"' in client.get(f"/apply/evaluation/runs/{run.id}").text
    client.cookies.set("cityhub_lang", "en")
    text = pdf_text(client.get(url).content)
    assert "Draft: not frozen, may still change" in text and "Ranking" in text and "Evidence" in text
    assert "甲局" in text  # the units keep their names


def test_a_long_ranking_with_many_indicators_still_lays_out() -> None:
    """79 units (the issue's 40 departments and 39 districts in one table), 14 indicators, long names, reasons and
    evidence: no flowable is too large for a page (ReportLab would raise LayoutError), every unit is printed."""
    keys = [f"k{n}" for n in range(14)]
    units: list[dict[str, Any]] = [
        {"org_id": uuid.uuid4(), "name": f"重庆市第{n}号区县大数据应用发展管理局", "head": "张三", "rank": n,
         "computed": 100 - n, "adjustment": 1.5 if n % 7 == 0 else 0.0, "reason": "说明" * 150,
         "total": 100.0 - n, "scores": {k: (None if n % 5 == 0 else float(n)) for k in keys}, "values": {}}
        for n in range(1, 80)]
    frozen = datetime(2026, 12, 31, tzinfo=UTC)
    data: dict[str, Any] = {
        "run": SimpleNamespace(year=2026, status=EvalStatus.FROZEN, frozen_at=frozen),
        "scheme": SimpleNamespace(org_type=OrgType.DISTRICT, title_zh="区县年度评比", title_en=""),
        "indicators": [{"key": k, "weight": 7, "full_at": None if k == "k0" else 75} for k in keys],
        "units": units, "adjusted": [u for u in units if u["adjustment"]], "mean": 60.0, "best": 99.0,
        "worst": 21.0, "indicator_means": dict.fromkeys(keys, 50.0)}
    file = SimpleNamespace(filename="很长的佐证材料文件名" * 6 + ".pdf", content_type="application/pdf", size=2048,
                           sha256="ab" * 32, uploaded_at=datetime(2026, 12, 1, tzinfo=UTC))
    files = [{"unit": u["name"], "indicator": "上云率", "file": file} for u in units for _ in range(3)]
    pdf = evaluation_pdf.render(data, "区县年度评比", {k: f"指标{k}" * 4 for k in keys}, files,
                                datetime(2026, 12, 31, tzinfo=UTC))
    assert check_structure(pdf) >= 8
    text = pdf_text(pdf)
    assert all(u["name"] in text for u in units) and "已冻结" in text and "区县" in text
