"""Programme cockpit REST API under /api/v1/apply: the target tree, targets, their history, reports and review.

Routes return what the service returns; `response_model` validates and serialises it once.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, Response
from pydantic import ValidationError

from cityhub.apply import schemas
from cityhub.apply import service as apply
from cityhub.apply.evaluation.schemas import (
    Adjustment,
    Evidence,
    RankRow,
    Run,
    RunCreate,
    Scheme,
    SchemeCreate,
    SchemeUpdate,
    ScoreCard,
)
from cityhub.apply.facilities.schemas import (
    ChannelUser,
    ChannelUserCreate,
    DataCentre,
    DataCentreCreate,
    FacilityTotals,
)
from cityhub.core.deps import CurrentActor
from cityhub.kit.pagination import Page, PageParams, page_params, page_response
from cityhub.kit.web import DbSession, SessionRoute, allow_large_bodies

router = APIRouter(prefix="/api/v1/apply", tags=["apply"], route_class=SessionRoute)
Paging = Annotated[PageParams, Depends(page_params)]
E = "/evaluation"


@router.get("/targets", response_model=list[schemas.Progress])
def targets(session: DbSession, actor: CurrentActor) -> Any:
    """The programme as a tree: every node with its progress, schedule, forecast and red/amber/green status."""
    return apply.target_tree(session, actor)


@router.post("/targets", response_model=schemas.Target, status_code=201)
def target_create(session: DbSession, actor: CurrentActor, body: schemas.TargetCreate) -> Any:
    """Add a node (the bureau)."""
    return apply.target_create(session, actor, body)


@router.get("/targets/{target_id}", response_model=schemas.Progress)
def target_get(session: DbSession, actor: CurrentActor, target_id: uuid.UUID) -> Any:
    """One target with its progress and status."""
    return apply.target_progress(session, actor, target_id)


@router.patch("/targets/{target_id}", response_model=schemas.Target)
def target_update(session: DbSession, actor: CurrentActor, target_id: uuid.UUID, body: schemas.TargetUpdate) -> Any:
    """Change a node (the bureau)."""
    return apply.target_update(session, actor, target_id, body)


@router.delete("/targets/{target_id}", status_code=204)
def target_delete(session: DbSession, actor: CurrentActor, target_id: uuid.UUID) -> Response:
    """Delete a node without children (the bureau)."""
    apply.target_delete(session, actor, target_id)
    return Response(status_code=204)


@router.get("/targets/{target_id}/history", response_model=list[schemas.TargetValue])
def target_history(session: DbSession, actor: CurrentActor, target_id: uuid.UUID) -> Any:
    """Every value the target had, oldest first."""
    return apply.target_history(session, actor, target_id)


@router.post("/targets/{target_id}/reports", response_model=schemas.Report, status_code=201)
def report_create(session: DbSession, actor: CurrentActor, target_id: uuid.UUID, body: schemas.ReportCreate) -> Any:
    """The owner reports a value with evidence (a link; a file: `…/reports/upload`); it counts once approved."""
    return apply.report_create(session, actor, target_id, body)


allow_large_bodies(f"{router.prefix}/targets/", f"{router.prefix}/reports/")


@router.post("/targets/{target_id}/reports/upload", response_model=schemas.Report, status_code=201)
async def report_create_with_file(request: Request, session: DbSession, actor: CurrentActor, target_id: uuid.UUID,
                                  value: float = Query(ge=-1e15, le=1e15, allow_inf_nan=False),
                                  as_of: date | None = None, note: str = Query("", max_length=4000),
                                  evidence_url: str = Query("", max_length=500),
                                  filename: str = Query("evidence", min_length=1, max_length=150)) -> Any:
    """The owner reports a value with a file as its evidence (the raw body: PDF, PNG, JPEG, DOCX or XLSX)."""
    try:
        body = schemas.ReportCreate(value=value, as_of=as_of, note=note, evidence_url=evidence_url)
    except ValidationError as exc:  # the query's values, checked as the JSON route checks its body: 422 naming them
        raise RequestValidationError([{**e, "loc": ("query", *e["loc"])} for e in exc.errors()]) from exc
    return apply.report_create(session, actor, target_id, body, [(filename, await request.body())])


@router.post("/reports/{report_id}/evidence", response_model=schemas.ReportEvidence, status_code=201)
async def report_evidence_attach(request: Request, session: DbSession, actor: CurrentActor, report_id: uuid.UUID,
                                 filename: str = Query("evidence", min_length=1, max_length=150)) -> Any:
    """Attach a file (the raw body) to a report of the caller's unit while it awaits review."""
    return apply.report_evidence.report_evidence_attach(session, actor, report_id, filename, await request.body())


@router.get("/reports/{report_id}/evidence", response_model=list[schemas.ReportEvidence])
def report_evidence(session: DbSession, actor: CurrentActor, report_id: uuid.UUID) -> Any:
    """A report's files (whoever sees the report)."""
    apply.report_get(session, actor, report_id)
    return apply.report_evidence.report_evidence_list(session, actor, [report_id]).get(report_id, [])


@router.get("/report-evidence/{evidence_id}", response_class=FileResponse)
def report_evidence_file(session: DbSession, actor: CurrentActor, evidence_id: uuid.UUID) -> FileResponse:
    """Download one of a report's files."""
    ev, path = apply.report_evidence.report_evidence_open(session, actor, evidence_id)
    return FileResponse(path, media_type=ev.content_type, filename=ev.filename)


@router.get("/reports", response_model=list[schemas.Report])
def reports(session: DbSession, actor: CurrentActor, target_id: uuid.UUID | None = None,
            status: str | None = Query(None, pattern="^(submitted|approved|rejected)$")) -> Any:
    """Reports: the bureau's all, others' those of their units."""
    return apply.report_list(session, actor, target_id=target_id, status=status)


@router.get("/review-queue", response_model=list[schemas.Report])
def review_queue(session: DbSession, actor: CurrentActor) -> Any:
    """Reports awaiting the bureau."""
    return apply.report_queue(session, actor)


@router.get("/reports/{report_id}", response_model=schemas.Report)
def report_get(session: DbSession, actor: CurrentActor, report_id: uuid.UUID) -> Any:
    """One report."""
    return apply.report_get(session, actor, report_id)


@router.post("/reports/{report_id}/review", response_model=schemas.Report)
def report_review(session: DbSession, actor: CurrentActor, report_id: uuid.UUID, body: schemas.ReportReview) -> Any:
    """Approve or reject a report (someone at the bureau other than the reporter)."""
    return apply.report_review(session, actor, report_id, body.approve, body.note)


@router.post("/progress/refresh", response_model=schemas.RefreshResult)
def progress_refresh(session: DbSession, actor: CurrentActor) -> Any:
    """Compute every computed target from its progress source now (the bureau)."""
    return apply.progress_refresh(session, actor)


@router.get("/sources", response_model=list[schemas.SourceInfo])
def sources(actor: CurrentActor, layer: str | None = Query(None, max_length=20)) -> Any:
    """The named progress sources computed targets may use."""
    return [s for s in apply.sources() if layer is None or s["layer"] == layer]


# ---------------------------------------------------------------- annual evaluation


@router.get(f"{E}/indicators")
def evaluation_indicators(actor: CurrentActor) -> list[dict[str, Any]]:
    """The indicators a scheme may weigh (measured from the platform, or scored by the bureau)."""
    return apply.evaluation.indicators(actor)


@router.get(f"{E}/schemes", response_model=list[Scheme])
def evaluation_schemes(session: DbSession, actor: CurrentActor) -> Any:
    """Every evaluation scheme."""
    return apply.evaluation.scheme_list(session, actor)


@router.post(f"{E}/schemes", response_model=Scheme, status_code=201)
def evaluation_scheme_create(session: DbSession, actor: CurrentActor, body: SchemeCreate) -> Any:
    """Add a scheme (the bureau)."""
    return apply.evaluation.evaluation_scheme_create(session, actor, body)


@router.patch(f"{E}/schemes/{{scheme_id}}", response_model=Scheme)
def evaluation_scheme_update(session: DbSession, actor: CurrentActor, scheme_id: uuid.UUID,
                             body: SchemeUpdate) -> Any:
    """Change a scheme (the bureau); computed runs keep their own copy of the indicators."""
    return apply.evaluation.evaluation_scheme_update(session, actor, scheme_id, body)


@router.get(f"{E}/runs", response_model=list[Run])
def evaluation_runs(session: DbSession, actor: CurrentActor) -> Any:
    """Every yearly run."""
    return apply.evaluation.run_list(session, actor)


@router.post(f"{E}/runs", response_model=Run, status_code=201)
def evaluation_run_compute(session: DbSession, actor: CurrentActor, body: RunCreate) -> Any:
    """Compute (or recompute a draft of) a scheme's run for a year (the bureau); a frozen run is a 409."""
    return apply.evaluation.evaluation_run_compute(session, actor, body)


@router.get(f"{E}/runs/{{run_id}}", response_model=Run)
def evaluation_run(session: DbSession, actor: CurrentActor, run_id: uuid.UUID) -> Any:
    """One run."""
    return apply.evaluation.run_get(session, actor, run_id)


@router.get(f"{E}/runs/{{run_id}}/ranking", response_model=list[RankRow])
def evaluation_ranking(session: DbSession, actor: CurrentActor, run_id: uuid.UUID) -> Any:
    """Every unit's rank and total (every member of staff)."""
    return apply.evaluation.ranking(session, actor, run_id)


@router.get(f"{E}/runs/{{run_id}}/units/{{org_id}}", response_model=ScoreCard)
def evaluation_scorecard(session: DbSession, actor: CurrentActor, run_id: uuid.UUID, org_id: uuid.UUID) -> Any:
    """A unit's scorecard with the breakdown (the bureau, the unit's staff and its 云长)."""
    return apply.evaluation.scorecard(session, actor, run_id, org_id)


@router.post(f"{E}/runs/{{run_id}}/units/{{org_id}}/adjustment", response_model=ScoreCard)
def evaluation_score_adjust(session: DbSession, actor: CurrentActor, run_id: uuid.UUID, org_id: uuid.UUID,
                            body: Adjustment) -> Any:
    """The bureau's adjustment and scores for a unit, with a reason (audited); a frozen run is a 409."""
    apply.evaluation.evaluation_score_adjust(session, actor, run_id, org_id, body)
    return apply.evaluation.scorecard(session, actor, run_id, org_id)


@router.post(f"{E}/runs/{{run_id}}/freeze", response_model=Run)
def evaluation_run_freeze(session: DbSession, actor: CurrentActor, run_id: uuid.UUID) -> Any:
    """Freeze a run (the bureau): nothing in it changes afterwards."""
    return apply.evaluation.evaluation_run_freeze(session, actor, run_id)


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.get(f"{E}/runs/{{run_id}}/report.xlsx", responses={200: {"content": {XLSX: {}}}})
def evaluation_report(session: DbSession, actor: CurrentActor, run_id: uuid.UUID) -> Response:
    """The run as a workbook: the ranking and every indicator's score (the bureau, auditors)."""
    content = apply.evaluation.export_xlsx(session, actor, run_id)
    return Response(content, media_type=XLSX,
                    headers={"Content-Disposition": f'attachment; filename="evaluation-{run_id}.xlsx"'})


PDF = "application/pdf"


@router.get(f"{E}/runs/{{run_id}}/report.pdf", responses={200: {"content": {PDF: {}}}})
def evaluation_report_pdf(session: DbSession, actor: CurrentActor, run_id: uuid.UUID) -> Response:
    """The run's report as PDF: cover, indicators, ranking with its chart, scores, adjustments, evidence (as XLSX)."""
    content = apply.evaluation_pdf.report_pdf(session, actor, run_id)
    return Response(content, media_type=PDF,
                    headers={"Content-Disposition": f'attachment; filename="evaluation-{run_id}.pdf"'})


# ---------------------------------------------------------------- 5G base stations


@router.get("/base-stations", response_model=Page[schemas.Station])
def base_stations(session: DbSession, actor: CurrentActor, page: Paging, district_org_id: uuid.UUID | None = None,
                  status: str | None = Query(None, pattern="^(planned|building|active|retired)$"),
                  carrier: str | None = Query(None, max_length=20)) -> Any:
    """The register, filtered by district, status or carrier."""
    items, total = apply.stations.station_list(session, actor, page, district_org_id=district_org_id,
                                               status=status, carrier=carrier)
    return page_response(schemas.Station, items, total, page)


@router.post("/base-stations", response_model=schemas.Station, status_code=201)
def base_station_create(session: DbSession, actor: CurrentActor, body: schemas.StationCreate) -> Any:
    """Register a station (the bureau)."""
    return apply.stations.base_station_create(session, actor, body)


@router.post("/base-stations/import", response_model=schemas.ImportResult,
             openapi_extra={"requestBody": {"required": True, "content": {
                 "text/csv": {"schema": {"type": "string", "format": "binary"}}}}},
             responses={422: {"description": "Every row's problems (row, field, message); nothing was written"}})
async def base_station_import(request: Request, session: DbSession, actor: CurrentActor) -> Any:
    """Import an operator's return as the raw CSV body: every row valid, or nothing written (the bureau)."""
    return apply.stations.base_station_import(session, actor, await request.body())


@router.get("/base-stations/density", response_model=list[schemas.DistrictDensity])
def base_station_density(session: DbSession, actor: CurrentActor) -> Any:
    """Stations in service and registered per district (the density map)."""
    return apply.stations.density(session, actor)


@router.get("/links", response_model=list[schemas.Link])
def network_links(session: DbSession, actor: CurrentActor) -> Any:
    """The backbone and interconnect links."""
    return apply.stations.link_list(session, actor)


@router.post("/links", response_model=schemas.Link, status_code=201)
def network_link_create(session: DbSession, actor: CurrentActor, body: schemas.LinkCreate) -> Any:
    """Register a link (the bureau)."""
    return apply.stations.network_link_create(session, actor, body)


# ---------------------------------------------------------------- application scenarios


@router.get("/scenarios", response_model=Page[schemas.Scenario])
def scenarios(session: DbSession, actor: CurrentActor, page: Paging,
              batch: str | None = Query(None, pattern="^(smart_city|livelihood|5g|data_channel|future_community)$"),
              status: str | None = Query(None, pattern="^(declared|building|built|accepted)$"),
              owner_org_id: uuid.UUID | None = None, component_id: uuid.UUID | None = None,
              entry_id: uuid.UUID | None = None, device_id: uuid.UUID | None = None,
              cloud_resource_id: uuid.UUID | None = None) -> Any:
    """The register, filtered by batch, status, owner, or a component / catalog entry / device / cloud resource."""
    items, total = apply.scenarios.scenario_list(session, actor, page, batch=batch, status=status,
                                                 owner_org_id=owner_org_id, component_id=component_id,
                                                 entry_id=entry_id, device_id=device_id,
                                                 cloud_resource_id=cloud_resource_id)
    return page_response(schemas.Scenario, items, total, page)


@router.post("/scenarios", response_model=schemas.Scenario, status_code=201)
def scenario_create(session: DbSession, actor: CurrentActor, body: schemas.ScenarioCreate) -> Any:
    """Declare a scenario of one's unit (the unit's staff, or the bureau)."""
    return apply.scenarios.scenario_create(session, actor, body)


@router.get("/scenarios/summary", response_model=list[schemas.BatchSummary])
def scenario_summary(session: DbSession, actor: CurrentActor) -> Any:
    """Every batch: scenarios per status and how many are delivered (built or accepted)."""
    return apply.scenarios.summary(session, actor)


@router.get("/scenarios/{scenario_id}/kpis", response_model=list[schemas.ScenarioKpi])
def scenario_kpis(session: DbSession, actor: CurrentActor, scenario_id: uuid.UUID) -> Any:
    """A scenario's indicators: target, actual and how far it got (staff read them all)."""
    return apply.scenarios.scenario_kpis(session, actor, scenario_id)


@router.put("/scenarios/{scenario_id}/kpis", response_model=list[schemas.ScenarioKpi])
def scenario_kpis_set(session: DbSession, actor: CurrentActor, scenario_id: uuid.UUID,
                      body: schemas.ScenarioKpisSet) -> Any:
    """Replace a scenario's indicators (its owner unit or the bureau; an accepted scenario's are final)."""
    return apply.scenarios.scenario_kpis_set(session, actor, scenario_id, body)


@router.put("/scenarios/{scenario_id}/budget", response_model=schemas.Scenario)
def scenario_budget_set(session: DbSession, actor: CurrentActor, scenario_id: uuid.UUID,
                        body: schemas.ScenarioBudgetSet) -> Any:
    """Set a scenario's budget in 万元, planned and spent (its owner unit or the bureau)."""
    return apply.scenarios.scenario_budget_set(session, actor, scenario_id, body)


@router.get("/scenarios/{scenario_id}", response_model=schemas.Scenario)
def scenario_get(session: DbSession, actor: CurrentActor, scenario_id: uuid.UUID) -> Any:
    """One scenario with the components and catalog entries it uses."""
    return apply.scenarios.scenario_get(session, actor, scenario_id)


@router.post("/scenarios/{scenario_id}/transition", response_model=schemas.Scenario)
def scenario_transition(session: DbSession, actor: CurrentActor, scenario_id: uuid.UUID,
                        body: schemas.ScenarioTransition) -> Any:
    """Move a scenario on: the bureau accepts it into building and as delivered; the owner reports it built."""
    return apply.scenarios.scenario_transition(session, actor, scenario_id, body.status, body.note)


@router.put("/scenarios/{scenario_id}/links", response_model=schemas.Scenario)
def scenario_links_set(session: DbSession, actor: CurrentActor, scenario_id: uuid.UUID,
                       body: schemas.ScenarioLinksSet) -> Any:
    """Replace what a scenario uses, kind by kind (its owner unit or the bureau, until it is accepted)."""
    return apply.scenarios.scenario_links_set(session, actor, scenario_id, body)


allow_large_bodies(f"{router.prefix}/scenarios/")


@router.put("/scenarios/{scenario_id}/picture", response_model=schemas.Scenario,
            openapi_extra={"requestBody": {"required": True, "content": {
                "image/png": {"schema": {"type": "string", "format": "binary"}},
                "image/jpeg": {"schema": {"type": "string", "format": "binary"}}}}},
            responses={422: {"description": "Not a PNG or JPEG picture (by its bytes), or empty"}})
async def scenario_picture_set(request: Request, session: DbSession, actor: CurrentActor, scenario_id: uuid.UUID,
                               filename: str = Query("picture", min_length=1, max_length=150)) -> Any:
    """Set the showcase picture (the raw body: a PNG or JPEG); the owner unit or the bureau, as on the page."""
    return apply.scenarios.scenario_picture_set(session, actor, scenario_id, filename, await request.body())


# ---------------------------------------------------------------- digital economy


@router.get("/parks", response_model=list[schemas.Park])
def digital_parks(session: DbSession, actor: CurrentActor) -> Any:
    """Every digital-economy park with its count of registered enterprises."""
    return apply.economy.park_list(session, actor)


@router.post("/parks", response_model=schemas.Park, status_code=201)
def digital_park_create(session: DbSession, actor: CurrentActor, body: schemas.ParkCreate) -> Any:
    """Register a park (the bureau)."""
    return apply.economy.digital_park_create(session, actor, body)


@router.get("/enterprises", response_model=Page[schemas.Enterprise])
def enterprises(session: DbSession, actor: CurrentActor, page: Paging, park_id: uuid.UUID | None = None,
                sector: str | None = Query(None, max_length=30)) -> Any:
    """The enterprise register, filtered by park or sector."""
    items, total = apply.economy.enterprise_list(session, actor, page, park_id=park_id, sector=sector)
    return page_response(schemas.Enterprise, items, total, page)


@router.post("/enterprises", response_model=schemas.Enterprise, status_code=201)
def enterprise_create(session: DbSession, actor: CurrentActor, body: schemas.EnterpriseCreate) -> Any:
    """Register an enterprise by its checked 统一社会信用代码 (the bureau)."""
    return apply.economy.enterprise_create(session, actor, body)


# ---------------------------------------------------------------- data channel and data centres


@router.get("/channel-users", response_model=list[ChannelUser])
def channel_users(session: DbSession, actor: CurrentActor) -> Any:
    """Every user of the international data channel."""
    return apply.facilities.channel_user_list(session, actor)


@router.post("/channel-users", response_model=ChannelUser, status_code=201)
def channel_user_create(session: DbSession, actor: CurrentActor, body: ChannelUserCreate) -> Any:
    """Register a channel user (the bureau)."""
    return apply.facilities.channel_user_create(session, actor, body)


@router.get("/data-centres", response_model=list[DataCentre])
def data_centres(session: DbSession, actor: CurrentActor) -> Any:
    """Every data centre with the cloud pools it hosts."""
    return apply.facilities.data_centre_list(session, actor)


@router.post("/data-centres", response_model=DataCentre, status_code=201)
def data_centre_create(session: DbSession, actor: CurrentActor, body: DataCentreCreate) -> Any:
    """Register a data centre and the cloud pools it hosts (the bureau)."""
    return apply.facilities.data_centre_create(session, actor, body)


@router.get("/facilities/totals", response_model=FacilityTotals)
def facility_totals(session: DbSession, actor: CurrentActor) -> Any:
    """What the two registers add up to, in service."""
    return apply.facilities.facility_totals(session, actor)


# ---------------------------------------------------------------- 全景 screen


@router.get("/panorama")
def panorama(session: DbSession, actor: CurrentActor) -> dict[str, Any]:
    """The 全景 screen's data: every layer's city-wide figures (null when unreadable) and the programme's own."""
    return apply.panorama(session, actor)


# ---------------------------------------------------------------- evaluation evidence

allow_large_bodies(f"{router.prefix}{E}/evidence")


@router.post(f"{E}/evidence", response_model=Evidence, status_code=201)
async def evaluation_evidence_attach(request: Request, session: DbSession, actor: CurrentActor, run_id: uuid.UUID,
                                     org_id: uuid.UUID, indicator_key: str = Query(min_length=1, max_length=60),
                                     filename: str = Query("evidence", min_length=1, max_length=150)) -> Any:
    """Attach evidence (the raw body: PDF, PNG, JPEG, DOCX or XLSX) for an indicator of a unit's score."""
    content = await request.body()
    return apply.evidence.evaluation_evidence_attach(session, actor, run_id, org_id, indicator_key, filename,
                                                     content)


@router.get(f"{E}/evidence", response_model=list[Evidence])
def evaluation_evidence(session: DbSession, actor: CurrentActor, run_id: uuid.UUID, org_id: uuid.UUID) -> Any:
    """A unit's evidence in a run (whoever may read its scorecard)."""
    return apply.evidence.evidence_list(session, actor, run_id, org_id)


@router.get(f"{E}/evidence/{{evidence_id}}", response_class=FileResponse)
def evaluation_evidence_file(session: DbSession, actor: CurrentActor, evidence_id: uuid.UUID) -> FileResponse:
    """Download one evidence file."""
    ev, path = apply.evidence.evidence_open(session, actor, evidence_id)
    return FileResponse(path, media_type=ev.content_type, filename=ev.filename)


@router.post("/enterprises/import", response_model=schemas.ImportResult,
             openapi_extra={"requestBody": {"required": True, "content": {
                 "text/csv": {"schema": {"type": "string", "format": "binary"}}}}},
             responses={422: {"description": "Every row's problems (row, field, message); nothing was written"}})
async def enterprise_import(request: Request, session: DbSession, actor: CurrentActor,
                            filename: str = Query("enterprises.csv", min_length=1, max_length=150)) -> Any:
    """Import the enterprise register (raw CSV or XLSX body): every row valid, or nothing written (the bureau)."""
    return apply.economy.enterprise_import(session, actor, filename, await request.body())


# the key-project register's routes, mounted with this router
from cityhub.apply.projects.api import router as _projects_router  # noqa: E402  # mounted with this module's router

extra_routers = [_projects_router]
