"""The annual evaluation's report as a PDF file made on the server (ReportLab platypus, 年度评比报告).

**Who**: whoever may read the printable report and the workbook — the bureau and auditors
(`policies.evaluation_export`, checked by `service.report` and `evidence.run_evidence`); anyone else 403, an
unknown run 404. **What**: a title page (scheme, year, organisation type, draft or frozen with its date, summary
figures), the indicators with weight, full marks and mean score (a bar chart of the means), the ranking of the
run's units (departments or districts: a scheme ranks one organisation type) with a bar chart of the totals, every
unit's score per indicator, the bureau's adjustments with their reasons, and every unit's evidence files (type,
size, SHA-256). Text is in the request's language (`kit.i18n`); Chinese is drawn with ReportLab's built-in CID font
`STSong-Light` (`UnicodeCIDFont`: the PDF names the font, no font file is embedded or read from disk).
"""

from __future__ import annotations

import io
import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from reportlab.graphics.charts.barcharts import HorizontalBarChart, VerticalBarChart
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from sqlalchemy.orm import Session

from cityhub.apply.evaluation import evidence
from cityhub.apply.evaluation.service import report
from cityhub.apply.models import EvalStatus, OrgType
from cityhub.core.actor import Actor
from cityhub.kit import clock, labels
from cityhub.kit.i18n import get_locale
from cityhub.kit.i18n import gettext as _
from cityhub.kit.settings import get_settings

FONT = "STSong-Light"
pdfmetrics.registerFont(UnicodeCIDFont(FONT))
BAR = colors.HexColor("#2f6fb0")
GRID = colors.HexColor("#b8c2cc")
HEAD = colors.HexColor("#e8eef4")
LOW = colors.HexColor("#fbe3e3")
CHART_ROWS = 45  # units per ranking chart: a longer ranking is drawn in several charts, each fits a page
WIDTH = A4[0] - 36 * mm  # the frame's width (18 mm margins)

_BODY = ParagraphStyle("body", fontName=FONT, fontSize=9, leading=13, wordWrap="CJK")
_CELL = ParagraphStyle("cell", parent=_BODY, fontSize=8, leading=10)
_NOTE = ParagraphStyle("note", parent=_BODY, fontSize=8, leading=11, textColor=colors.HexColor("#555555"))
_H1 = ParagraphStyle("h1", parent=_BODY, fontSize=22, leading=30, spaceAfter=8 * mm)
_H2 = ParagraphStyle("h2", parent=_BODY, fontSize=13, leading=18, spaceBefore=4 * mm, spaceAfter=3 * mm)
_COVER = ParagraphStyle("cover", parent=_BODY, fontSize=12, leading=18, spaceAfter=3 * mm)


def _local(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return value.astimezone(ZoneInfo(get_settings().display_timezone)).strftime(fmt) if value else ""


def _p(text: object, style: ParagraphStyle = _CELL) -> Paragraph:
    """A paragraph of plain text (escaped: names and reasons are data, not markup)."""
    raw = str(text)
    return Paragraph(raw.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"), style)


def _table(rows: list[list[Any]], widths: list[float], numeric_from: int | None = None,
           extra: list[tuple[Any, ...]] | None = None) -> Table:
    t = Table(rows, colWidths=widths, repeatRows=1)
    style: list[tuple[Any, ...]] = [
        ("FONT", (0, 0), (-1, -1), FONT, 8), ("GRID", (0, 0), (-1, -1), 0.4, GRID),
        ("BACKGROUND", (0, 0), (-1, 0), HEAD), ("VALIGN", (0, 0), (-1, -1), "MIDDLE")]
    if numeric_from is not None:
        style.append(("ALIGN", (numeric_from, 1), (-1, -1), "RIGHT"))
    t.setStyle(TableStyle(style + (extra or [])))
    return t


def _ranking_chart(units: list[dict[str, Any]], label: str) -> Drawing:
    """Horizontal bars of the units' totals, the first ranked at the top."""
    rows = list(reversed(units))  # the chart draws its first category at the bottom
    height = 40 + 13 * len(rows)
    d = Drawing(WIDTH, height)
    chart = HorizontalBarChart()
    chart.x, chart.y, chart.width, chart.height = 110, 20, WIDTH - 130, height - 30
    chart.data = [[float(u["total"]) for u in rows]]
    chart.categoryAxis.categoryNames = [f'{u["rank"]}. {u["name"]}'[:18] for u in rows]
    chart.categoryAxis.labels.fontName = FONT
    chart.categoryAxis.labels.fontSize = 7
    chart.categoryAxis.labels.boxAnchor = "e"
    chart.valueAxis.valueMin = 0
    chart.valueAxis.valueMax = max([100.0, *(float(u["total"]) for u in rows)])
    chart.valueAxis.labels.fontName = FONT
    chart.valueAxis.labels.fontSize = 7
    chart.bars[0].fillColor = BAR
    chart.bars[0].strokeColor = None
    chart.barLabelFormat = "%.1f"
    chart.barLabels.fontName = FONT
    chart.barLabels.fontSize = 6
    chart.barLabels.boxAnchor = "w"
    chart.barLabels.dx = 2
    d.add(chart)
    d.add(String(WIDTH - 20, height - 8, label, fontName=FONT, fontSize=8, textAnchor="end"))
    return d


def _indicator_chart(indicators: list[dict[str, Any]], means: dict[str, float | None]) -> Drawing:
    """Vertical bars of each indicator's mean score, indicators numbered as in the table (I1, I2…)."""
    height = 150.0
    d = Drawing(WIDTH, height)
    chart = VerticalBarChart()
    chart.x, chart.y, chart.width, chart.height = 40, 25, WIDTH - 60, height - 40
    chart.data = [[float(means.get(i["key"]) or 0.0) for i in indicators]]
    chart.categoryAxis.categoryNames = [f"I{n}" for n in range(1, len(indicators) + 1)]
    chart.categoryAxis.labels.fontName = FONT
    chart.categoryAxis.labels.fontSize = 7
    chart.valueAxis.valueMin = 0
    chart.valueAxis.valueMax = 100
    chart.valueAxis.labels.fontName = FONT
    chart.valueAxis.labels.fontSize = 7
    chart.bars[0].fillColor = BAR
    chart.bars[0].strokeColor = None
    d.add(chart)
    d.add(String(WIDTH - 20, height - 8, _("Average score"), fontName=FONT, fontSize=8, textAnchor="end"))
    return d


def _num(value: float | None, fmt: str = "%.1f") -> str:
    return fmt % value if value is not None else "—"


def _cover(data: dict[str, Any], title: str, printed_at: datetime) -> list[Any]:
    run, scheme = data["run"], data["scheme"]
    status = (_("Final result, frozen on {day}", day=_local(run.frozen_at, "%Y-%m-%d"))
              if run.status == EvalStatus.FROZEN else _("Draft: not frozen, may still change"))
    summary = [[_("Evaluation scheme"), title], [_("Year"), str(run.year)],
               [_("Status"), f"{labels.label(run.status, EvalStatus)} · {status}"],
               [_("Organisation type"), labels.label(scheme.org_type, OrgType) if scheme else ""],
               [_("Units ranked"), str(len(data["units"]))], [_("Average score"), _num(data["mean"], "%.2f")],
               [_("Highest score"), _num(data["best"])], [_("Lowest score"), _num(data["worst"])],
               [_("Printed at"), _local(printed_at)]]
    rows = [[_p(k, _BODY), _p(v, _BODY)] for k, v in summary]
    cover = Table(rows, colWidths=[45 * mm, WIDTH - 45 * mm])
    cover.setStyle(TableStyle([("FONT", (0, 0), (-1, -1), FONT, 10), ("LINEBELOW", (0, 0), (-1, -1), 0.3, GRID),
                               ("TOPPADDING", (0, 0), (-1, -1), 4), ("BOTTOMPADDING", (0, 0), (-1, -1), 4)]))
    return [Spacer(1, 30 * mm), _p(_("Chongqing new smart city programme"), _COVER), _p(title, _H1),
            _p(_("Annual evaluation report, {year}", year=run.year), _COVER), _p(status, _COVER),
            Spacer(1, 10 * mm), cover, PageBreak()]


def _indicators(data: dict[str, Any], names: dict[str, str]) -> list[Any]:
    means = data["indicator_means"]
    rows: list[list[Any]] = [[_p(_("Indicator")), _("Weight"), _("Full marks at"), _("Average score")]]
    for n, i in enumerate(data["indicators"], 1):
        full = f'{i["full_at"]:g}' if i.get("full_at") is not None else _("the unit's own target")
        rows.append([_p(f'I{n} {names[i["key"]]}'), f'{i["weight"]:g}', _p(full), _num(means.get(i["key"]))])
    note = _("Indicator score = 100 × min(1, value ÷ full marks); an indicator that does not apply to a unit "
             "scores nothing and its weight is shared by the others; total = weighted score + the bureau’s "
             "adjustment (±20, with its reason).")
    out: list[Any] = [_p(_("1. Indicators and weights"), _H2),
                      _table(rows, [WIDTH - 95 * mm, 20 * mm, 45 * mm, 30 * mm], numeric_from=1),
                      Spacer(1, 2 * mm), _p(note, _NOTE)]
    if data["indicators"]:
        out += [Spacer(1, 3 * mm), _indicator_chart(data["indicators"], means)]
    return out


def _ranking(data: dict[str, Any]) -> list[Any]:
    scheme, units = data["scheme"], data["units"]
    kind = labels.label(scheme.org_type, OrgType) if scheme else ""
    out: list[Any] = [PageBreak(), _p(f'{_("2. Ranking")} · {kind}', _H2)]
    for start in range(0, len(units), CHART_ROWS):
        out += [_ranking_chart(units[start:start + CHART_ROWS], _("Total score")), Spacer(1, 3 * mm)]
    rows: list[list[Any]] = [[_("Rank"), _p(_("Unit")), _p(_("Cloud chief")), _("Computed score"),
                              _("Adjustment"), _("Total")]]
    for u in units:
        rows.append([str(u["rank"]), _p(u["name"]), _p(u["head"]), f'{u["computed"]:.1f}',
                     f'{u["adjustment"]:+.1f}' if u["adjustment"] else "", f'{u["total"]:.1f}'])
    if not units:
        rows.append([_p(_("No unit is ranked in this run.")), "", "", "", "", ""])
    out.append(_table(rows, [14 * mm, WIDTH - 112 * mm, 30 * mm, 24 * mm, 22 * mm, 22 * mm], numeric_from=3,
                      extra=[("ALIGN", (0, 1), (0, -1), "RIGHT")]))
    return out


def _matrix(data: dict[str, Any]) -> list[Any]:
    indicators, units = data["indicators"], data["units"]
    head: list[Any] = [_("Rank"), _p(_("Unit"))] + [f"I{n}" for n in range(1, len(indicators) + 1)] + [_("Total")]
    rows: list[list[Any]] = [head]
    low: list[tuple[Any, ...]] = []
    for r, u in enumerate(units, 1):
        row: list[Any] = [str(u["rank"]), _p(u["name"])]
        for c, i in enumerate(indicators, 2):
            s = u["scores"].get(i["key"])
            row.append(_num(s, "%.0f"))
            if s is not None and s < 60:
                low.append(("BACKGROUND", (c, r), (c, r), LOW))
        rows.append([*row, f'{u["total"]:.1f}'])
    cols = len(indicators)
    each = min(16 * mm, (WIDTH - 80 * mm) / max(cols, 1))
    widths = [12 * mm, WIDTH - 12 * mm - 18 * mm - each * cols] + [each] * cols + [18 * mm]
    return [_p(_("3. Scores per indicator"), _H2), _table(rows, widths, numeric_from=2, extra=low),
            Spacer(1, 2 * mm), _p(_("— : the indicator does not apply to the unit. Scores below 60 are marked."),
                                  _NOTE)]


def _adjustments(data: dict[str, Any]) -> list[Any]:
    rows: list[list[Any]] = [[_p(_("Unit")), _("Adjustment"), _p(_("Reason"))]]
    rows += [[_p(u["name"]), f'{u["adjustment"]:+.1f}', _p(u["reason"])] for u in data["adjusted"]]
    if not data["adjusted"]:
        rows.append([_p(_("No adjustment was made.")), "", ""])
    return [_p(_("4. The bureau's adjustments"), _H2),
            _table(rows, [50 * mm, 22 * mm, WIDTH - 72 * mm], extra=[("ALIGN", (1, 1), (1, -1), "RIGHT")])]


def _evidence(files: list[dict[str, Any]]) -> list[Any]:
    rows: list[list[Any]] = [[_p(_("Unit")), _p(_("Indicator")), _p(_("Evidence file")), _("File type"),
                              _("File size"), "SHA-256", _p(_("Uploaded at"))]]
    for e in files:
        f = e["file"]
        rows.append([_p(e["unit"]), _p(e["indicator"]), _p(f.filename), f.content_type.split("/")[-1].split(".")[-1],
                     f"{f.size / 1024:.1f} KB", _p(f.sha256[:16] + "…"), _local(f.uploaded_at, "%Y-%m-%d")])
    if not files:
        rows.append([_p(_("No evidence was attached.")), "", "", "", "", "", ""])
    widths = [28 * mm, 30 * mm, WIDTH - 28 * mm - 30 * mm - 16 * mm - 18 * mm - 30 * mm - 20 * mm,
              16 * mm, 18 * mm, 30 * mm, 20 * mm]
    return [_p(_("5. Evidence"), _H2), _table(rows, widths, extra=[("ALIGN", (4, 1), (4, -1), "RIGHT")]),
            Spacer(1, 2 * mm),
            _p(_("The digest identifies the file as attached: a copy with the same SHA-256 is the same file."), _NOTE)]


def report_pdf(session: Session, actor: Actor, run_id: uuid.UUID) -> bytes:
    """The run's report as PDF bytes (the bureau and auditors, as the printable page and the workbook)."""
    data = report(session, actor, run_id)  # the run's visibility (404) and policies.evaluation_export (403)
    scheme = data["scheme"]
    en = get_locale().startswith("en")
    title = (scheme.title_en if en and scheme.title_en else scheme.title_zh) if scheme else ""
    names = {i["key"]: labels.label(i["key"], "apply.indicator") for i in data["indicators"]}
    unit_names = {u["org_id"]: u["name"] for u in data["units"]}
    files = [{"unit": unit_names.get(e.org_id, ""), "indicator": names.get(e.indicator_key, e.indicator_key),
              "file": e} for e in evidence.run_evidence(session, actor, run_id)]
    return render(data, title, names, files, clock.now())


def render(data: dict[str, Any], title: str, names: dict[str, str], files: list[dict[str, Any]],
           printed_at: datetime) -> bytes:
    """Lay the report out and return the PDF bytes.

    `data` as `service.report` returns it; `files` the evidence rows with their unit's and indicator's names.
    """
    en = get_locale().startswith("en")
    footer = f'{title} · {data["run"].year} · {_("Evaluation report")}'

    def page(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(FONT, 7)
        canvas.setFillColor(colors.HexColor("#777777"))
        canvas.drawString(18 * mm, 10 * mm, footer)
        canvas.drawRightString(A4[0] - 18 * mm, 10 * mm, str(doc.page))
        canvas.restoreState()

    out = io.BytesIO()
    doc = SimpleDocTemplate(out, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=18 * mm,
                            bottomMargin=18 * mm, title=f'{title} {data["run"].year}', author="cityhub",
                            subject=_("Evaluation report"), lang="en" if en else "zh-CN")
    story = [*_cover(data, title, printed_at), *_indicators(data, names), *_ranking(data), PageBreak(),
             *_matrix(data), *_adjustments(data), *_evidence(files)]
    doc.build(story, onFirstPage=page, onLaterPages=page)
    return out.getvalue()
