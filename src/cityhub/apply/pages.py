"""Programme cockpit pages: the target tree, a target with its trend and forecast, the report form, the review queue.

Every form posts, redirects and shows its outcome as a flash message (kit.web.form_action). What a page shows is
what the apply services let the caller see; the review queue of someone outside the bureau is a 403.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse, Response

from cityhub.apply import policies, schemas
from cityhub.apply import service as apply
from cityhub.apply.evaluation.schemas import Adjustment, RunCreate
from cityhub.core import service as core
from cityhub.core.deps import CurrentActor
from cityhub.core.permissions import P
from cityhub.kit import clock, labels
from cityhub.kit.errors import ValidationFailed
from cityhub.kit.i18n import get_locale
from cityhub.kit.i18n import gettext as _
from cityhub.kit.pagination import PageParams
from cityhub.kit.settings import get_settings
from cityhub.kit.web import (
    DbSession,
    NavItem,
    SessionRoute,
    allow_large_bodies,
    form_action,
    redirect_with_message,
    register_nav,
    render,
    verify_csrf,
)

router = APIRouter(prefix="/apply", include_in_schema=False, route_class=SessionRoute)
register_nav(
    NavItem("apply", "Programme targets", "/apply", order=10, permissions=(P.APPLY_READ,)),
    NavItem("apply", "Progress review", "/apply/review", order=20, permissions=(P.APPLY_REVIEW,)),
    NavItem("apply", "Annual evaluation", "/apply/evaluation", order=30, permissions=(P.APPLY_READ,)),
    NavItem("apply", "Network infrastructure", "/apply/stations", order=40, permissions=(P.APPLY_READ,)),
    NavItem("apply", "Application scenarios", "/apply/scenarios", order=50, permissions=(P.APPLY_READ,)),
)
Csrf = Annotated[str, Form(max_length=100)]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TONES = {"green": "ok", "amber": "warn", "red": "err", "none": ""}


def _title(t: Any) -> str:
    return str(t.title_en if get_locale().startswith("en") and t.title_en else t.title_zh)


# a target's unit of measure as the plan writes it (Chinese measure words) → what an English page shows: a count needs
# no word after "268 / 500", the others their English noun
UNITS_EN = {"个": "", "台": "servers", "家": "enterprises", "M": "Mbps", "G": "Gbps"}


def _unit(unit: str | None) -> str:
    """A target's unit in the page's language."""
    if not unit:
        return ""
    return UNITS_EN.get(unit, unit) if get_locale().startswith("en") else unit


def _flat(nodes: list[schemas.Progress], depth: int = 0) -> list[tuple[int, schemas.Progress]]:
    out: list[tuple[int, schemas.Progress]] = []
    for n in nodes:
        out.append((depth, n))
        out += _flat(n.children, depth + 1)
    return out


@router.get("")
def tree(request: Request, session: DbSession, actor: CurrentActor) -> Response:
    """Every node of the programme with its status, progress against schedule and forecast."""
    roots = apply.target_tree(session, actor)
    rows = _flat(roots)
    counts = {s: sum(1 for _d, n in rows if n.target.kind == "target" and n.status == s) for s in TONES}
    return render(request, "apply/tree.html", {"rows": rows, "counts": counts, "tones": TONES, "title": _title,
                                               "manages": policies.manages(actor), "unit": _unit})


@router.post("/refresh")
def refresh(request: Request, session: DbSession, actor: CurrentActor, csrf_token: Csrf) -> Response:
    """The bureau recomputes every computed target now."""
    with form_action(request, session, csrf_token, _("Progress computed from the platform")) as done:
        apply.progress_refresh(session, actor)
    return done.redirect("/apply")


@router.get("/targets/{target_id}")
def target(request: Request, session: DbSession, actor: CurrentActor, target_id: uuid.UUID) -> Response:
    """One target: its numbers, the plan's text, its history and forecast, reports, and the report form."""
    p = apply.target_progress(session, actor, target_id)
    t = p.target
    history = apply.target_history(session, actor, target_id)
    reports = apply.report_list(session, actor, target_id=target_id)
    owner = apply.owner_of(session, apply.target_get(session, actor, target_id))
    names = core.organization_names(session)
    chart = {"history": [[v.at.isoformat(), v.value] for v in history],
             "forecast": ([[history[-1].at.isoformat(), history[-1].value], [f"{t.deadline}T00:00:00+00:00",
                                                                             p.forecast]]
                          if history and p.forecast is not None and t.deadline else []),
             "target": t.target_value, "deadline": f"{t.deadline}T00:00:00+00:00" if t.deadline else None,
             "labels": {"history": _("Recorded values"), "forecast": _("Trend to the deadline"),
                        "target": _("Target value")}}
    return render(request, "apply/target.html", {
        "p": p, "t": t, "title": _title(t), "history": history, "chart": chart, "tones": TONES, "unit": _unit,
        "owner_name": names.get(owner, "") if owner else "",
        "reports": reports, "evidence": apply.report_evidence.report_evidence_list(session, actor,
                                                                                     [r.id for r in reports]),
        "may_report": t.method == "reported" and owner is not None and policies.may_report(actor, owner),
        "today": clock.now().date().isoformat()})


allow_large_bodies("/apply/targets/", "/apply/reports/")


@router.post("/targets/{target_id}/reports")
async def report(request: Request, session: DbSession, actor: CurrentActor, target_id: uuid.UUID, csrf_token: Csrf,
                 value: Annotated[float, Form()], evidence_url: Annotated[str, Form(max_length=500)] = "",
                 as_of: Annotated[date | None, Form()] = None, note: Annotated[str, Form(max_length=4000)] = "",
                 file: Annotated[UploadFile | None, File()] = None) -> Response:
    """The owner reports a value with its evidence: a link, a file, or both."""
    keep = {"value": value, "evidence_url": evidence_url, "as_of": as_of.isoformat() if as_of else "", "note": note}
    upload = [(file.filename or "evidence", await file.read(apply.files.MAX_BYTES + 1))] if file and file.filename \
        else []
    with form_action(request, session, csrf_token, _("Report submitted for the bureau's review"), keep=keep) as done:
        apply.report_create(session, actor, target_id, schemas.ReportCreate(
            value=value, evidence_url=evidence_url.strip(), as_of=as_of, note=note), upload)
    return done.redirect(f"/apply/targets/{target_id}")


@router.post("/reports/{report_id}/evidence")
async def report_evidence_attach(request: Request, session: DbSession, actor: CurrentActor, report_id: uuid.UUID,
                                 csrf_token: Csrf, file: Annotated[UploadFile, File()]) -> Response:
    """The owner adds a file to a report awaiting review."""
    content = await file.read(apply.files.MAX_BYTES + 1)
    target_id = apply.report_get(session, actor, report_id).target_id
    with form_action(request, session, csrf_token, _("Evidence attached")) as done:
        apply.report_evidence.report_evidence_attach(session, actor, report_id, file.filename or "evidence", content)
    return done.redirect(f"/apply/targets/{target_id}#reports")


@router.get("/report-evidence/{evidence_id}")
def report_evidence_file(session: DbSession, actor: CurrentActor, evidence_id: uuid.UUID) -> FileResponse:
    """Download one of a report's files (whoever sees the report)."""
    ev, path = apply.report_evidence.report_evidence_open(session, actor, evidence_id)
    return FileResponse(path, media_type=ev.content_type, filename=ev.filename)


@router.get("/review")
def review(request: Request, session: DbSession, actor: CurrentActor) -> Response:
    """The bureau's queue of reported progress."""
    queue = apply.report_queue(session, actor)
    targets = {r.target_id: apply.target_get(session, actor, r.target_id) for r in queue}
    return render(request, "apply/review.html", {
        "queue": queue, "targets": targets,
        "evidence": apply.report_evidence.report_evidence_list(session, actor, [r.id for r in queue]),
        "title": _title, "unit": _unit,
        "names": core.organization_names(session)})


@router.post("/reports/{report_id}/review")
def report_review(request: Request, session: DbSession, actor: CurrentActor, report_id: uuid.UUID,
                  csrf_token: Csrf, approve: Annotated[str, Form(max_length=10)] = "",
                  note: Annotated[str, Form(max_length=2000)] = "") -> Response:
    """Approve or reject a report."""
    with form_action(request, session, csrf_token, _("Review recorded")) as done:
        apply.report_review(session, actor, report_id, approve == "1", note)
    return done.redirect("/apply/review")


# ---------------------------------------------------------------- annual evaluation


def _scheme_title(s: Any) -> str:
    return str(s.title_en if get_locale().startswith("en") and s.title_en else s.title_zh)


@router.get("/evaluation")
def evaluation(request: Request, session: DbSession, actor: CurrentActor) -> Response:
    """The schemes with their weighted indicators, every yearly run, the actor's own scorecards, the run form."""
    ev = apply.evaluation
    schemes = ev.scheme_list(session, actor)
    names = core.organization_names(session)
    return render(request, "apply/evaluation.html", {
        "schemes": schemes, "by_id": {s.id: s for s in schemes}, "runs": ev.run_list(session, actor),
        "mine": [(r, oid, names.get(oid, "")) for r, oid in ev.my_scorecards(session, actor)],
        "title": _scheme_title, "manages": policies.manages(actor), "year": clock.now().year})


@router.post("/evaluation/runs")
def evaluation_run(request: Request, session: DbSession, actor: CurrentActor, csrf_token: Csrf,
                   scheme_id: Annotated[uuid.UUID, Form()], year: Annotated[int, Form()]) -> Response:
    """The bureau computes (or recomputes) a run."""
    run_id: uuid.UUID | None = None
    with form_action(request, session, csrf_token, _("Evaluation computed")) as done:
        run_id = apply.evaluation.evaluation_run_compute(session, actor, RunCreate(
            scheme_id=scheme_id, year=year)).id
    return done.redirect(f"/apply/evaluation/runs/{run_id}" if done.ok and run_id else "/apply/evaluation")


@router.get("/evaluation/runs/{run_id}")
def evaluation_run_page(request: Request, session: DbSession, actor: CurrentActor, run_id: uuid.UUID) -> Response:
    """A run: the ranking (chart and table), links to the scorecards one may see, the bureau's adjustments."""
    ev = apply.evaluation
    run = ev.run_get(session, actor, run_id)
    scheme = ev.scheme_get(session, actor, run.scheme_id)
    rows = ev.ranking(session, actor, run_id)
    heads = {o.id for o in core.organization_all(session) if o.head_user_id and o.head_user_id == actor.user_id}
    visible = {r.org_id for r in rows if policies.scorecard_read(actor, r.org_id, r.org_id in heads)}
    bureau_keys = [i["key"] for i in run.indicators if ev.INDICATORS.get(i["key"]) and ev.INDICATORS[i["key"]].bureau]
    chart = {"names": [r.org_name for r in reversed(rows)], "totals": [r.total for r in reversed(rows)],
             "label": _("Total score")}
    return render(request, "apply/evaluation_run.html", {
        "run": run, "scheme": scheme, "title": _scheme_title(scheme), "rows": rows, "visible": visible,
        "manages": policies.manages(actor), "exports": policies.may_export(actor),
        "bureau_keys": bureau_keys, "chart": chart})


@router.post("/evaluation/runs/{run_id}/adjust")
def evaluation_adjust(request: Request, session: DbSession, actor: CurrentActor, run_id: uuid.UUID,
                      csrf_token: Csrf, org_id: Annotated[uuid.UUID, Form()],
                      reason: Annotated[str, Form(max_length=2000)] = "",
                      adjustment: Annotated[str, Form(max_length=20)] = "",
                      bureau_score: Annotated[str, Form(max_length=20)] = "",
                      bureau_key: Annotated[str, Form(max_length=60)] = "bureau.assessment") -> Response:
    """The bureau's adjustment and/or assessment score of a unit, with its reason."""
    with form_action(request, session, csrf_token, _("Adjustment recorded")) as done:
        score = _number(bureau_score, "manual")
        body = Adjustment(adjustment=_number(adjustment, "adjustment"), reason=reason,
                                  manual={bureau_key: score} if score is not None else None)
        apply.evaluation.evaluation_score_adjust(session, actor, run_id, org_id, body)
    return done.redirect(f"/apply/evaluation/runs/{run_id}")


def _number(text: str, field: str) -> float | None:
    if not text.strip():
        return None
    try:
        return float(text)
    except ValueError:
        raise ValidationFailed(_("Enter a number"), field=field) from None


@router.post("/evaluation/runs/{run_id}/freeze")
def evaluation_freeze(request: Request, session: DbSession, actor: CurrentActor, run_id: uuid.UUID,
                      csrf_token: Csrf) -> Response:
    """The bureau freezes the run."""
    with form_action(request, session, csrf_token, _("Evaluation frozen")) as done:
        apply.evaluation.evaluation_run_freeze(session, actor, run_id)
    return done.redirect(f"/apply/evaluation/runs/{run_id}")


@router.get("/evaluation/runs/{run_id}/report.xlsx")
def evaluation_report(session: DbSession, actor: CurrentActor, run_id: uuid.UUID) -> Response:
    """The run's workbook (the bureau, auditors)."""
    return Response(apply.evaluation.export_xlsx(session, actor, run_id), media_type=XLSX,
                    headers={"Content-Disposition": f'attachment; filename="evaluation-{run_id}.xlsx"'})


@router.get("/evaluation/runs/{run_id}/report.pdf")
def evaluation_report_pdf(session: DbSession, actor: CurrentActor, run_id: uuid.UUID) -> Response:
    """The run's report as a PDF file made on the server (the bureau, auditors: as the workbook)."""
    return Response(apply.evaluation_pdf.report_pdf(session, actor, run_id), media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="evaluation-{run_id}.pdf"'})


@router.get("/evaluation/runs/{run_id}/units/{org_id}")
def scorecard(request: Request, session: DbSession, actor: CurrentActor, run_id: uuid.UUID,
              org_id: uuid.UUID) -> Response:
    """A unit's scorecard: rank, total, the radar of its indicators and each indicator's value and score."""
    ev = apply.evaluation
    card = ev.scorecard(session, actor, run_id, org_id)
    run = ev.run_get(session, actor, run_id)
    scheme = ev.scheme_get(session, actor, run.scheme_id)
    names = {i.key: labels.label(i.key, "apply.indicator") for i in card.breakdown}
    scored = [i for i in card.breakdown if i.score is not None]  # what does not apply is not drawn as a zero
    chart = {"indicators": [{"name": names[i.key], "max": 100} for i in scored],
             "scores": [i.score for i in scored], "label": card.org_name}
    attaches = card.status == "draft" and (policies.manages(actor) or policies.may_report(actor, org_id))
    return render(request, "apply/scorecard.html", {
        "card": card, "scheme": scheme, "title": _scheme_title(scheme), "names": names, "chart": chart,
        "evidence": apply.evidence.evidence_list(session, actor, run_id, org_id), "attaches": attaches})


# ---------------------------------------------------------------- 5G base stations


def _stations_page(request: Request, session: DbSession, actor: CurrentActor, district_org_id: uuid.UUID | None,
                   status: str | None, offset: int, errors: Any = None) -> Response:
    page = PageParams(limit=50, offset=offset)
    items, total = apply.stations.station_list(session, actor, page, district_org_id=district_org_id,
                                               status=status)
    density = apply.stations.density(session, actor)
    names = core.organization_names(session)
    return render(request, "apply/stations.html", {
        "items": items, "total": total, "page": page, "density": sorted(density, key=lambda d: -d.active),
        "names": names, "district_org_id": district_org_id, "status": status, "manages": policies.manages(actor),
        "active": sum(d.active for d in density), "registered": sum(d.total for d in density), "errors": errors,
        "links": apply.stations.link_list(session, actor), "today": clock.now().date().isoformat(),
        "district_names": core.district_name_map(session),  # the map's outlines renamed like the data below
        "chart": {"districts": [{"name": names.get(d.org_id, d.name), "value": d.active} for d in density],
                  "label": _("Base stations in service")}}, status_code=422 if errors else 200)


@router.get("/stations")
def stations(request: Request, session: DbSession, actor: CurrentActor,
             district_org_id: uuid.UUID | None = None,
             status: str | None = Query(None, pattern="^(planned|building|active|retired)$"),
             offset: int = Query(0, ge=0, le=1_000_000)) -> Response:
    """The register: the density map per district, the stations (filtered), the bureau's CSV import."""
    return _stations_page(request, session, actor, district_org_id, status, offset)


@router.post("/stations/import")
async def stations_import(request: Request, session: DbSession, actor: CurrentActor, csrf_token: Csrf,
                          file: Annotated[UploadFile, File()]) -> Response:
    """The bureau imports an operator's CSV return: every row valid, or nothing written and each problem listed."""
    verify_csrf(request, csrf_token)
    content = await file.read(get_settings().upload_max_bytes + 1)
    try:
        with session.begin_nested():
            out = apply.stations.base_station_import(session, actor, content)
    except ValidationFailed as e:
        errors = e.details if isinstance(e.details, list) else [{"field": e.field or "", "message": e.message}]
        return _stations_page(request, session, actor, None, None, 0, [{"row": d.get("row", ""), **d} for d in errors])
    return redirect_with_message("/apply/stations", _("Imported: %(created)d new, %(updated)d updated") % {
        "created": out.created, "updated": out.updated})


@router.post("/links")
def link_create(request: Request, session: DbSession, actor: CurrentActor, csrf_token: Csrf,
                name: Annotated[str, Form(max_length=120)], kind: Annotated[str, Form(max_length=20)],
                endpoint_a: Annotated[str, Form(max_length=120)], endpoint_b: Annotated[str, Form(max_length=120)],
                capacity_gbps: Annotated[str, Form(max_length=20)],
                status: Annotated[str, Form(max_length=20)] = "planned",
                commissioned_on: Annotated[date | None, Form()] = None) -> Response:
    """The bureau registers a backbone or interconnect link."""
    with form_action(request, session, csrf_token, _("Link registered")) as done:
        apply.stations.network_link_create(session, actor, schemas.LinkCreate.model_validate({
            "name": name, "kind": kind, "endpoint_a": endpoint_a, "endpoint_b": endpoint_b,
            "capacity_gbps": _number(capacity_gbps, "capacity_gbps"), "status": status,
            "commissioned_on": commissioned_on}))
    return done.redirect("/apply/stations#links")


# ---------------------------------------------------------------- application scenarios

SCENARIO_TONES = {"declared": "", "building": "warn", "built": "ok", "accepted": "ok"}


@router.get("/scenarios")
def scenarios(request: Request, session: DbSession, actor: CurrentActor,
              batch: str | None = Query(None, pattern="^(smart_city|livelihood|5g|data_channel|future_community)$"),
              offset: int = Query(0, ge=0, le=1_000_000)) -> Response:
    """The register by batch with a bar chart of each batch's scenarios per status, and the declaration form."""
    page = PageParams(limit=100, offset=offset)
    items, total = apply.scenarios.scenario_list(session, actor, page, batch=batch)
    summary = apply.scenarios.summary(session, actor)
    orgs = core.organization_all(session)
    names = core.organization_names(session)
    units = [o for o in orgs if policies.may_report(actor, o.id)]
    flow = apply.scenarios.FLOW
    moves = {s.id: [(to, bureau) for to, bureau in flow[s.status].items()
                    if (policies.manages(actor) if bureau else policies.may_report(actor, s.owner_org_id))]
             for s in items}
    statuses = list(apply.scenarios.FLOW)
    return render(request, "apply/scenarios.html", {
        "items": items, "total": total, "page": page, "batch": batch, "summary": summary, "names": names,
        "units": units, "districts": [o for o in orgs if o.kind in apply.scenarios.DISTRICT_KINDS],
        "moves": moves, "tones": SCENARIO_TONES, "year": clock.now().year,
        "chart": {"batches": [labels.label(b.batch) for b in summary],
                  "series": [{"name": labels.label(st),
                              "data": [b.by_status[st] for b in summary]} for st in statuses]}})


@router.post("/scenarios")
def scenario_create(request: Request, session: DbSession, actor: CurrentActor, csrf_token: Csrf,
                    name: Annotated[str, Form(max_length=200)], batch: Annotated[str, Form(max_length=20)],
                    year: Annotated[str, Form(max_length=10)], owner_org_id: Annotated[str, Form(max_length=40)],
                    district_org_id: Annotated[str, Form(max_length=40)] = "",
                    summary: Annotated[str, Form(max_length=4000)] = "") -> Response:
    """A unit's staff declare a scenario of their unit."""
    keep = {"name": name, "batch": batch, "year": year, "summary": summary}
    with form_action(request, session, csrf_token, _("Scenario declared"), keep=keep) as done:
        apply.scenarios.scenario_create(session, actor, schemas.ScenarioCreate.model_validate({
            "name": name, "batch": batch, "year": _number(year, "year"), "owner_org_id": owner_org_id,
            "district_org_id": district_org_id or None, "summary": summary}))
    return done.redirect("/apply/scenarios")


@router.post("/scenarios/{scenario_id}/transition")
def scenario_transition(request: Request, session: DbSession, actor: CurrentActor, scenario_id: uuid.UUID,
                        csrf_token: Csrf, status: Annotated[str, Form(max_length=20)]) -> Response:
    """Move a scenario on (the transition table says who may)."""
    with form_action(request, session, csrf_token, _("Scenario status changed")) as done:
        apply.scenarios.scenario_transition(session, actor, scenario_id, status)
    return done.redirect("/apply/scenarios")


# the registers' own pages, mounted with this router (each module keeps its capability's routes)
from cityhub.apply.economy.pages import router as _economy_router  # noqa: E402  # mounted with this module's router
from cityhub.apply.evaluation.pages import router as _evaluation_router  # noqa: E402  # mounted with this module's router
from cityhub.apply.facilities.pages import router as _facilities_router  # noqa: E402  # mounted with this module's router
from cityhub.apply.panorama.pages import router as _panorama_router  # noqa: E402  # mounted with this module's router
from cityhub.apply.projects.pages import router as _projects_router  # noqa: E402  # mounted with this module's router
from cityhub.apply.scenarios.pages import router as _scenario_router  # noqa: E402  # mounted with this module's router
from cityhub.apply.scenarios.showcase import router as _showcase_router  # noqa: E402  # mounted with this module's router

extra_routers = [_economy_router, _evaluation_router, _facilities_router, _panorama_router, _projects_router,
                 _scenario_router, _showcase_router]
