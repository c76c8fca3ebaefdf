"""Compute REST API under /api/v1/compute, and the gateway `/hub/{component_code}/{version}/{path}`.

The API covers the registry, applications and keys, subscriptions and usage. The gateway is keyed by application
keys, not staff credentials, and is not in the platform's OpenAPI document: each component publishes its own.
Routes return what the service returns; `response_model` validates and serialises it once.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query
from fastapi.responses import Response

from cityhub.compute import schemas
from cityhub.compute import service as compute
from cityhub.compute.gateway.asgi import PREFIX as GATEWAY_PREFIX
from cityhub.compute.gateway.asgi import gateway_app
from cityhub.core import service as core
from cityhub.core.deps import CurrentActor
from cityhub.kit.pagination import Page, PageParams, page_params, page_response
from cityhub.kit.web import DbSession, SessionRoute

router = APIRouter(prefix="/api/v1/compute", tags=["compute"], route_class=SessionRoute)
Paging = Annotated[PageParams, Depends(page_params)]
Note = Annotated[str, Body(embed=True, max_length=2000)]


# ---- registry


@router.get("/components", response_model=Page[schemas.Component])
def components(session: DbSession, actor: CurrentActor, page: Paging, q: str = Query("", max_length=200),
               category: schemas.Category | None = None, status: schemas.ComponentStatus | None = None,
               org_id: uuid.UUID | None = None) -> Response:
    """The catalogue: published components, and the caller's units' others; `q` is a Chinese-aware search."""
    items, total = compute.component_list(session, actor, page, q=q, category=category, status=status,
                                          org_id=org_id)
    return page_response(schemas.Component, items, total, page)


@router.post("/components", response_model=schemas.Component, status_code=201)
def component_create(session: DbSession, actor: CurrentActor, body: schemas.ComponentCreate) -> Any:
    """Register a component (a draft); the OpenAPI document is validated (422 with the reason and where)."""
    return compute.component_create(session, actor, body)


@router.get("/components/{component_id}", response_model=schemas.Component)
def component_get(session: DbSession, actor: CurrentActor, component_id: uuid.UUID) -> Any:
    """One component."""
    return compute.component_get(session, actor, component_id)


@router.patch("/components/{component_id}", response_model=schemas.Component)
def component_update(session: DbSession, actor: CurrentActor, component_id: uuid.UUID,
                     body: schemas.ComponentUpdate) -> Any:
    """Change a draft (409 once submitted)."""
    return compute.component_update(session, actor, component_id, body)


@router.delete("/components/{component_id}", status_code=204)
def component_delete(session: DbSession, actor: CurrentActor, component_id: uuid.UUID) -> Response:
    """Delete a draft nobody subscribed to."""
    compute.component_delete(session, actor, component_id)
    return Response(status_code=204)


@router.get("/components/{component_id}/versions", response_model=list[schemas.Version])
def component_versions(session: DbSession, actor: CurrentActor, component_id: uuid.UUID) -> Any:
    """Versions, newest first."""
    return compute.component_versions(session, actor, component_id)


@router.post("/components/{component_id}/versions", response_model=schemas.Version, status_code=201)
def component_version_create(session: DbSession, actor: CurrentActor, component_id: uuid.UUID,
                             body: schemas.VersionCreate) -> Any:
    """Add an immutable version (409 when the semver exists)."""
    return compute.component_version_create(session, actor, component_id, body)


@router.post("/versions/{version_id}/publish", response_model=schemas.Version)
def component_version_publish(session: DbSession, actor: CurrentActor, version_id: uuid.UUID) -> Any:
    """The bureau publishes a new version of a published component."""
    return compute.component_version_publish(session, actor, version_id)


@router.post("/components/{component_id}/submit", response_model=schemas.Component)
def component_submit(session: DbSession, actor: CurrentActor, component_id: uuid.UUID) -> Any:
    """Send a draft to the bureau's review."""
    return compute.component_submit(session, actor, component_id)


@router.post("/components/{component_id}/review", response_model=schemas.Component)
def component_review(session: DbSession, actor: CurrentActor, component_id: uuid.UUID,
                     body: schemas.Review) -> Any:
    """The bureau publishes, or sends back with a note."""
    return compute.component_review(session, actor, component_id, body.approve, body.note)


@router.post("/components/{component_id}/deprecate", response_model=schemas.Component)
def component_deprecate(session: DbSession, actor: CurrentActor, component_id: uuid.UUID,
                        note: Note = "") -> Any:
    """No new subscriptions; existing ones keep calling."""
    return compute.component_deprecate(session, actor, component_id, note)


@router.post("/components/{component_id}/retire", response_model=schemas.Component)
def component_retire(session: DbSession, actor: CurrentActor, component_id: uuid.UUID,
                     note: Note = "") -> Any:
    """The gateway stops answering it."""
    return compute.component_retire(session, actor, component_id, note)


@router.post("/components/{component_id}/reinstate", response_model=schemas.Component)
def component_reinstate(session: DbSession, actor: CurrentActor, component_id: uuid.UUID) -> Any:
    """The bureau brings a deprecated component back."""
    return compute.component_reinstate(session, actor, component_id)


@router.get("/components/{component_id}/consumers")
def component_consumers(session: DbSession, actor: CurrentActor, component_id: uuid.UUID) -> list[dict[str, Any]]:
    """Who uses this component (active subscriptions)."""
    return compute.component_consumers(session, actor, component_id)


@router.get("/components/{component_id}/dependencies")
def component_dependencies(session: DbSession, actor: CurrentActor, component_id: uuid.UUID
                           ) -> list[dict[str, Any]]:
    """The catalog entries it reads, with their security grade."""
    return compute.component_dependencies(session, actor, component_id)


@router.get("/components/{component_id}/usage", response_model=list[schemas.UsagePoint])
def component_usage(session: DbSession, actor: CurrentActor, component_id: uuid.UUID,
                    hours: int = Query(48, ge=1, le=24 * 31)) -> list[schemas.UsagePoint]:
    """Calls per hour (what the caller may read of them)."""
    compute.component_get(session, actor, component_id)
    return compute.usage_series(session, actor, component_id, hours)


@router.get("/review-queue", response_model=list[schemas.Component])
def review_queue(session: DbSession, actor: CurrentActor) -> Any:
    """Components waiting for the bureau."""
    return compute.component_review_queue(session, actor)


@router.get("/builtins")
def builtins(actor: CurrentActor) -> list[dict[str, Any]]:
    """The built-in handlers a version may name, with their OpenAPI documents."""
    return compute.builtin_catalogue()


# ---- applications and keys


@router.get("/apps", response_model=list[schemas.App])
def apps(session: DbSession, actor: CurrentActor, org_id: uuid.UUID | None = None) -> Any:
    """Consumer applications of the caller's units."""
    return compute.app_list(session, actor, org_id)


@router.post("/apps", response_model=schemas.App, status_code=201)
def app_create(session: DbSession, actor: CurrentActor, body: schemas.AppCreate) -> Any:
    """Register a consumer application."""
    return compute.app_create(session, actor, body)


@router.get("/apps/{app_id}", response_model=schemas.App)
def app_get(session: DbSession, actor: CurrentActor, app_id: uuid.UUID) -> Any:
    """One application."""
    return compute.app_get(session, actor, app_id)


@router.post("/apps/{app_id}/disable", response_model=schemas.App)
def app_disable(session: DbSession, actor: CurrentActor, app_id: uuid.UUID) -> Any:
    """Stop every call of the application at once."""
    return compute.app_disable(session, actor, app_id, True)


@router.post("/apps/{app_id}/enable", response_model=schemas.App)
def app_enable(session: DbSession, actor: CurrentActor, app_id: uuid.UUID) -> Any:
    """Let the application call again."""
    return compute.app_disable(session, actor, app_id, False)


@router.get("/apps/{app_id}/keys", response_model=list[schemas.AppKey])
def app_keys(session: DbSession, actor: CurrentActor, app_id: uuid.UUID) -> Any:
    """The application's keys (prefixes only)."""
    return compute.app_keys(session, actor, app_id)


@router.post("/apps/{app_id}/keys", response_model=schemas.AppKeyCreated, status_code=201)
def app_key_create(session: DbSession, actor: CurrentActor, app_id: uuid.UUID) -> schemas.AppKeyCreated:
    """Make a key; `key` is in this answer only."""
    key, raw = compute.app_key_create(session, actor, app_id)
    return schemas.AppKeyCreated(**schemas.AppKey.model_validate(key).model_dump(), key=raw)


@router.post("/keys/{key_id}/revoke", response_model=schemas.AppKey)
def app_key_revoke(session: DbSession, actor: CurrentActor, key_id: uuid.UUID) -> Any:
    """Revoke a key; the gateway refuses it from now on."""
    return compute.app_key_revoke(session, actor, key_id)


@router.post("/keys/{key_id}/rotate", response_model=schemas.AppKeyCreated, status_code=201)
def app_key_rotate(session: DbSession, actor: CurrentActor, key_id: uuid.UUID) -> schemas.AppKeyCreated:
    """A new key, the old one revoked."""
    key, raw = compute.app_key_rotate(session, actor, key_id)
    return schemas.AppKeyCreated(**schemas.AppKey.model_validate(key).model_dump(), key=raw)


# ---- subscriptions


@router.get("/subscriptions", response_model=list[schemas.Subscription])
def subscriptions(session: DbSession, actor: CurrentActor, app_id: uuid.UUID | None = None,
                  component_id: uuid.UUID | None = None,
                  status: schemas.SubscriptionStatus | None = None) -> Any:
    """Subscriptions the caller sees, as consumer or as owner."""
    rows = compute.subscription_list(session, actor, app_id=app_id, component_id=component_id, status=status)
    return [r["subscription"] for r in rows]


@router.post("/subscriptions", response_model=schemas.Subscription, status_code=201)
def subscription_create(session: DbSession, actor: CurrentActor,
                        body: schemas.SubscriptionCreate) -> Any:
    """Ask for a subscription (approved at once when the component is open to all units)."""
    return compute.subscription_create(session, actor, body)


@router.get("/subscriptions/{sub_id}", response_model=schemas.Subscription)
def subscription_get(session: DbSession, actor: CurrentActor, sub_id: uuid.UUID) -> Any:
    """One subscription."""
    return compute.subscription_get(session, actor, sub_id)


@router.post("/subscriptions/{sub_id}/decide", response_model=schemas.Subscription)
def subscription_decide(session: DbSession, actor: CurrentActor, sub_id: uuid.UUID,
                        body: schemas.SubscriptionDecision) -> Any:
    """The owner approves (with quotas) or rejects (with a reason)."""
    return compute.subscription_decide(session, actor, sub_id, body)


@router.post("/subscriptions/{sub_id}/revoke", response_model=schemas.Subscription)
def subscription_revoke(session: DbSession, actor: CurrentActor, sub_id: uuid.UUID,
                        note: Note = "") -> Any:
    """End a subscription (either side)."""
    return compute.subscription_revoke(session, actor, sub_id, note)


# ---- usage


@router.get("/usage", response_model=list[schemas.UsageRow])
def usage(session: DbSession, actor: CurrentActor, since: datetime | None = None, until: datetime | None = None,
          org_id: uuid.UUID | None = None, component_id: uuid.UUID | None = None) -> list[schemas.UsageRow]:
    """Calls per component and application over a period, with chargeback."""
    return compute.usage_report(session, actor, since=since, until=until, org_id=org_id, component_id=component_id)


# ---- saved analyses (issue 18)


@router.get("/analyses", response_model=Page[schemas.Analysis])
def analyses(session: DbSession, actor: CurrentActor, page: Paging) -> Response:
    """The saved analyses of the caller's units."""
    items, total = compute.analysis_list(session, actor, page)
    return page_response(schemas.Analysis, items, total, page)


@router.post("/analyses", response_model=schemas.Analysis, status_code=201)
def analysis_create(session: DbSession, actor: CurrentActor, body: schemas.AnalysisCreate) -> Any:
    """Save an analysis; SQL that is not one read-only statement over readable tables is a 422 naming `sql`."""
    return compute.analysis_create(session, actor, body)


@router.get("/analyses/runs/{run_id}", response_model=schemas.AnalysisRun)
def analysis_run_get(session: DbSession, actor: CurrentActor, run_id: uuid.UUID) -> Any:
    """A run: its state and progress, and its first rows once it succeeded."""
    return compute.analysis_run_get(session, actor, run_id)


@router.post("/analyses/runs/{run_id}/cancel", response_model=schemas.AnalysisRun)
def analysis_run_cancel(session: DbSession, actor: CurrentActor, run_id: uuid.UUID) -> Any:
    """Cancel a running run (409 once it has ended)."""
    return compute.analysis_run_cancel(session, actor, run_id)


@router.get("/analyses/runs/{run_id}/csv")
def analysis_run_csv(session: DbSession, actor: CurrentActor, run_id: uuid.UUID) -> Response:
    """A finished run's answer as CSV."""
    return Response(compute.analysis_run_csv(session, actor, run_id), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="analysis-{run_id}.csv"'})


@router.get("/analyses/runs/{run_id}/parquet")
def analysis_run_parquet(session: DbSession, actor: CurrentActor, run_id: uuid.UUID) -> Response:
    """A finished run's answer as Parquet (types kept: times, decimals, nulls)."""
    return Response(compute.analysis_run_parquet(session, actor, run_id), media_type="application/vnd.apache.parquet",
                    headers={"Content-Disposition": f'attachment; filename="analysis-{run_id}.parquet"'})


@router.get("/analyses/{analysis_id}", response_model=schemas.Analysis)
def analysis_get(session: DbSession, actor: CurrentActor, analysis_id: uuid.UUID) -> Any:
    """One saved analysis."""
    return compute.analysis_get(session, actor, analysis_id)


@router.patch("/analyses/{analysis_id}", response_model=schemas.Analysis)
def analysis_update(session: DbSession, actor: CurrentActor, analysis_id: uuid.UUID,
                    body: schemas.AnalysisUpdate) -> Any:
    """Change an analysis (a new SQL is checked first)."""
    return compute.analysis_update(session, actor, analysis_id, body)


@router.delete("/analyses/{analysis_id}", status_code=204)
def analysis_delete(session: DbSession, actor: CurrentActor, analysis_id: uuid.UUID) -> Response:
    """Delete an analysis and its runs."""
    compute.analysis_delete(session, actor, analysis_id)
    return Response(status_code=204)


@router.post("/analyses/{analysis_id}/runs", response_model=schemas.AnalysisRun, status_code=202)
def analysis_run(session: DbSession, actor: CurrentActor, analysis_id: uuid.UUID,
                 body: schemas.AnalysisRunStart | None = None) -> Any:
    """Run the analysis as a job over what the caller may read (row and time limits); poll the run for progress."""
    return compute.analysis_run(session, actor, analysis_id, body or schemas.AnalysisRunStart())


@router.get("/analyses/{analysis_id}/runs", response_model=list[schemas.AnalysisRun])
def analysis_runs(session: DbSession, actor: CurrentActor, analysis_id: uuid.UUID) -> Any:
    """The analysis's latest runs, newest first."""
    return compute.analysis_runs(session, actor, analysis_id)


# ---- batch jobs (the AI compute centre)


@router.get("/jobs", response_model=Page[schemas.Job])
def jobs(session: DbSession, actor: CurrentActor, page: Paging, org_id: uuid.UUID | None = None) -> Any:
    """Batch jobs of the caller's units (every unit's for those who read all), newest first, with progress."""
    return compute.job_list(session, actor, page, org_id=org_id)


@router.post("/jobs", response_model=schemas.Job, status_code=202)
def job_create(session: DbSession, actor: CurrentActor, body: schemas.JobCreate) -> Any:
    """Queue a built-in version over a datastore table or a device's telemetry (read now, with your rights)."""
    return compute.job_create(session, actor, body)


@router.get("/jobs/{job_id}", response_model=schemas.Job)
def job_get(session: DbSession, actor: CurrentActor, job_id: uuid.UUID) -> Any:
    """One job: its state, progress and, once finished, the datastore table it wrote."""
    return compute.job_get(session, actor, job_id)


@router.post("/jobs/{job_id}/cancel", response_model=schemas.Job)
def job_cancel(session: DbSession, actor: CurrentActor, job_id: uuid.UUID) -> Any:
    """Cancel a queued job, or ask a running one to stop (409 once it has ended)."""
    return compute.job_cancel(session, actor, job_id)


@router.get("/usage.csv")
def usage_csv(session: DbSession, actor: CurrentActor, since: datetime | None = None, until: datetime | None = None,
              org_id: uuid.UUID | None = None, component_id: uuid.UUID | None = None) -> Response:
    """The usage report as CSV."""
    rows = compute.usage_report(session, actor, since=since, until=until, org_id=org_id, component_id=component_id)
    return Response(compute.usage_csv(rows), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="compute-usage.csv"'})


@router.get("/usage.xlsx")
def usage_xlsx(session: DbSession, actor: CurrentActor, since: datetime | None = None, until: datetime | None = None,
               org_id: uuid.UUID | None = None, component_id: uuid.UUID | None = None) -> Response:
    """The usage report as an XLSX workbook (a sheet per department, and the detail)."""
    rows = compute.usage_report(session, actor, since=since, until=until, org_id=org_id, component_id=component_id)
    names = {o.id: o.name for o in core.organization_all(session)}
    return Response(compute.usage_xlsx(rows, names),
                    media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": 'attachment; filename="compute-usage.xlsx"'})


# ---- the gateway

# `/hub/{component_code}/{version}/{path}` is served by a bare ASGI app ahead of the platform's middleware
# (gateway/asgi.py: none of the session, CSRF, locale or routing work applies to a call keyed by an application
# key). It is not in the platform's OpenAPI document: each component publishes its own.
fast_paths = [(GATEWAY_PREFIX, gateway_app)]
hub = APIRouter(on_shutdown=[compute.gateway_shutdown])  # closes the process's gateway: the last metering flush

from cityhub.compute.analytics.api import router as _analytics_router  # noqa: E402  # mounted with this module's router

extra_routers = [hub, _analytics_router]


# ---- scenario runs (issue 18): drainage and traffic simulations, dispatch optimisation


@router.get("/scenarios", response_model=Page[schemas.ScenarioRun])
def scenarios(session: DbSession, actor: CurrentActor, page: Paging,
              kind: schemas.ScenarioKind | None = None) -> Response:
    """The scenario runs of the caller's units (every unit's for city-wide readers), newest first."""
    items, total = compute.scenario_list(session, actor, page, kind=kind.value if kind else None)
    return page_response(schemas.ScenarioRun, items, total, page)


@router.post("/scenarios", response_model=schemas.ScenarioRun, status_code=201)
def scenario_run(session: DbSession, actor: CurrentActor, body: schemas.ScenarioRunCreate) -> Any:
    """Run a scenario and store it with its result (422 naming the input at fault, e.g. `inputs.rain_mm_h.0`)."""
    return compute.scenario_run(session, actor, body)


@router.get("/scenarios/{run_id}", response_model=schemas.ScenarioRun)
def scenario_get(session: DbSession, actor: CurrentActor, run_id: uuid.UUID) -> Any:
    """One stored scenario run."""
    return compute.scenario_get(session, actor, run_id)
