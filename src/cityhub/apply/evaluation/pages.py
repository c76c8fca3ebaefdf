"""The annual evaluation's printable report (年度评比报告), and the evidence form of a unit's scorecard.

The browser prints it to PDF ("Print → Save as PDF"), with the ranking chart drawn as SVG so it prints sharp.
Its last section lists every unit's evidence files (佐证材料) with type, size and SHA-256, each a download link.

The print stylesheet (`apply-report.css`: `@page` A4, repeated table headers, no page break inside a row, the
WenQuanYi Zen Hei font the servers carry) makes the browser's own PDF a copy; the PDF file made on the server is
`report.pdf` (`evaluation/pdf.py`). Who: the bureau and auditors, as the workbook.
Mounted with the cockpit's router (`apply/pages.py`, `extra_routers`).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, Response

from cityhub.apply import service as apply
from cityhub.core.deps import CurrentActor
from cityhub.kit import clock, labels
from cityhub.kit.i18n import get_locale
from cityhub.kit.i18n import gettext as _
from cityhub.kit.web import DbSession, SessionRoute, allow_large_bodies, form_action, render

router = APIRouter(prefix="/apply/evaluation", include_in_schema=False, route_class=SessionRoute)
Csrf = Annotated[str, Form(max_length=100)]


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
    unit_names = {u["org_id"]: u["name"] for u in data["units"]}
    evidence = [{"unit": unit_names.get(e.org_id, ""), "indicator": names.get(e.indicator_key, e.indicator_key),
                 "file": e} for e in apply.evidence.run_evidence(session, actor, run_id)]
    return render(request, "apply/evaluation_report.html", {
        **data, "title": title, "names": names, "chart": chart, "printed_at": clock.now(), "evidence": evidence})


allow_large_bodies("/apply/evaluation/evidence")


@router.post("/evidence")
async def evidence_attach(request: Request, session: DbSession, actor: CurrentActor, csrf_token: Csrf,
                          run_id: Annotated[uuid.UUID, Form()], org_id: Annotated[uuid.UUID, Form()],
                          indicator_key: Annotated[str, Form(max_length=60)],
                          file: Annotated[UploadFile, File()]) -> Response:
    """A unit's staff (or the bureau) attach evidence from the scorecard."""
    content = await file.read(apply.evidence.MAX_BYTES + 1)
    with form_action(request, session, csrf_token, _("Evidence attached")) as done:
        apply.evidence.evaluation_evidence_attach(session, actor, run_id, org_id, indicator_key,
                                                  file.filename or "evidence", content)
    return done.redirect(f"/apply/evaluation/runs/{run_id}/units/{org_id}#evidence")


@router.get("/evidence/{evidence_id}")
def evidence_file(session: DbSession, actor: CurrentActor, evidence_id: uuid.UUID) -> FileResponse:
    """Download one evidence file (whoever may read the unit's scorecard)."""
    ev, path = apply.evidence.evidence_open(session, actor, evidence_id)
    return FileResponse(path, media_type=ev.content_type, filename=ev.filename)
