"""The annual evaluation's printable report (年度评比报告): one HTML page laid out for A4.

The browser prints it to PDF ("Print → Save as PDF"), with the ranking chart drawn as SVG so it prints sharp.

No PDF library is installed (WeasyPrint and ReportLab are not dependencies); the print stylesheet
(`apply-report.css`: `@page` A4, repeated table headers, no page break inside a row, the WenQuanYi Zen Hei font
the servers carry) makes the browser's own PDF the report. Who: the bureau and auditors, as the workbook.
Mounted with the cockpit's router (`apply/pages.py`, `extra_routers`).
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import Response

from cityhub.apply import service as apply
from cityhub.core.deps import CurrentActor
from cityhub.kit import clock, labels
from cityhub.kit.i18n import get_locale
from cityhub.kit.i18n import gettext as _
from cityhub.kit.web import DbSession, SessionRoute, render

router = APIRouter(prefix="/apply/evaluation", include_in_schema=False, route_class=SessionRoute)


@router.get("/runs/{run_id}/report")
def evaluation_report_print(request: Request, session: DbSession, actor: CurrentActor, run_id: uuid.UUID) -> Response:
    """The run's report, ready to print (bureau, auditors; anyone else 403, an unknown run 404)."""
    data = apply.evaluation.report(session, actor, run_id)
    scheme = data["scheme"]
    en = get_locale().startswith("en")
    title = (scheme.title_en if en and scheme.title_en else scheme.title_zh) if scheme else ""
    names = {i["key"]: labels.label(i["key"], "apply.indicator") for i in data["indicators"]}
    chart = {"names": [u["name"] for u in reversed(data["units"])],
             "totals": [u["total"] for u in reversed(data["units"])], "label": _("Total score")}
    return render(request, "apply/evaluation_report.html", {
        **data, "title": title, "names": names, "chart": chart, "printed_at": clock.now()})
