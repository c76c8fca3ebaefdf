"""Ops REST API under /api/v1/ops.

Rules (+ preview), alarms, incidents, citizen reports, routing, indicators, webhooks, the dashboard snapshot.
Routes return what the service returns; `response_model` validates and serialises it once.
"""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, Response

from cityhub.core.deps import CurrentActor, OptionalActor
from cityhub.kit import context
from cityhub.kit.pagination import Page, PageParams, page_params, page_response
from cityhub.kit.web import DbSession, SessionRoute, allow_large_bodies
from cityhub.ops import schemas, service

router = APIRouter(prefix="/api/v1/ops", tags=["ops"], route_class=SessionRoute)
Paging = Annotated[PageParams, Depends(page_params)]
allow_large_bodies("/api/v1/ops/reports", "/api/v1/ops/incidents/")


# ---- rules


@router.get("/rules", response_model=Page[schemas.Rule])
def rules(session: DbSession, actor: CurrentActor, page: Paging,
          profile_code: str | None = Query(None, max_length=64), enabled: bool | None = None,
          device_id: uuid.UUID | None = None) -> Response:
    """Rules the caller may see; device_id: the rules scoped to that one device."""
    items, total = service.rule_list(session, actor, page, profile_code=profile_code, enabled=enabled,
                                     device_id=device_id)
    return page_response(schemas.Rule, items, total, page)


@router.post("/rules", response_model=schemas.Rule, status_code=201)
def rule_create(session: DbSession, actor: CurrentActor, body: schemas.RuleCreate) -> Any:
    """Define a rule (422 naming the field when the definition is invalid)."""
    return service.rule_create(session, actor, body)


@router.post("/rules/preview", response_model=schemas.RulePreview)
def rule_preview(session: DbSession, actor: CurrentActor, body: schemas.RuleCreate,
                 hours: int = Query(24, ge=1, le=168)) -> schemas.RulePreview:
    """What the rule would have done over the last 24 h of stored telemetry ("would have fired 3 times")."""
    return service.rule_preview(session, actor, body, hours)


@router.get("/rules/{rule_id}", response_model=schemas.Rule)
def rule_get(session: DbSession, actor: CurrentActor, rule_id: uuid.UUID) -> Any:
    """One rule."""
    return service.rule_get(session, actor, rule_id)


@router.patch("/rules/{rule_id}", response_model=schemas.Rule)
def rule_update(session: DbSession, actor: CurrentActor, rule_id: uuid.UUID, body: schemas.RuleUpdate
                ) -> Any:
    """Change a rule."""
    return service.rule_update(session, actor, rule_id, body)


@router.delete("/rules/{rule_id}", status_code=204)
def rule_delete(session: DbSession, actor: CurrentActor, rule_id: uuid.UUID) -> Response:
    """Delete a rule (its alarms stay)."""
    service.rule_delete(session, actor, rule_id)
    return Response(status_code=204)


# ---- alarms


@router.get("/alarms", response_model=Page[schemas.Alarm])
def alarms(session: DbSession, actor: CurrentActor, page: Paging, active: bool | None = None,
           severity: schemas.Severity | None = None, district_id: uuid.UUID | None = None,
           entity_id: uuid.UUID | None = None, acknowledged: bool | None = None,
           type: str | None = Query(None, max_length=100)) -> Response:
    """Alarms the caller may see; `entity_id` = an asset (alarms propagated up to it) or a district."""
    items, total = service.alarm_list(session, actor, page, active=active,
                                      severity=severity.value if severity else None, district_id=district_id,
                                      entity_id=entity_id, acknowledged=acknowledged, alarm_type=type)
    return page_response(schemas.Alarm, items, total, page)


@router.post("/alarms", response_model=schemas.Alarm, status_code=201)
def alarm_create(session: DbSession, actor: CurrentActor, body: schemas.AlarmCreate) -> Any:
    """Raise an alarm by hand (re-triggers the open one of that originator and type)."""
    return service.alarm_create(session, actor, body)


@router.get("/alarms/stats", response_model=schemas.AlarmStats)
def alarm_stats(session: DbSession, actor: CurrentActor, district_id: uuid.UUID | None = None
                ) -> schemas.AlarmStats:
    """Active alarms by severity and district."""
    return service.alarm_stats(session, actor, district_id)


@router.get("/alarms/{alarm_id}", response_model=schemas.Alarm)
def alarm_get(session: DbSession, actor: CurrentActor, alarm_id: uuid.UUID) -> Any:
    """One alarm."""
    return service.alarm_get(session, actor, alarm_id)


@router.post("/alarms/{alarm_id}/ack", response_model=schemas.Alarm)
def alarm_ack(session: DbSession, actor: CurrentActor, alarm_id: uuid.UUID) -> Any:
    """Acknowledge an alarm (409 when already acknowledged)."""
    return service.alarm_acknowledge(session, actor, alarm_id)


@router.post("/alarms/{alarm_id}/clear", response_model=schemas.Alarm)
def alarm_clear(session: DbSession, actor: CurrentActor, alarm_id: uuid.UUID) -> Any:
    """Clear an alarm (409 when already cleared)."""
    return service.alarm_clear(session, actor, alarm_id)


@router.post("/alarms/{alarm_id}/assign", response_model=schemas.Alarm)
def alarm_assign(session: DbSession, actor: CurrentActor, alarm_id: uuid.UUID, body: schemas.AlarmAssign
                 ) -> Any:
    """Assign an alarm to a user."""
    return service.alarm_assign(session, actor, alarm_id, body.assignee_id)


# ---- incidents


def _detail(d: dict[str, Any]) -> schemas.IncidentDetail:
    out = schemas.IncidentDetail.model_validate(d["incident"])
    out.events = [schemas.IncidentEvent.model_validate(e) for e in d["events"]]
    out.attachments = [schemas.Attachment.model_validate(a) for a in d["attachments"]]
    out.alarms = [schemas.Alarm.model_validate(a) for a in d["alarms"]]
    out.shared_with = d["shared_with"]
    return out


@router.get("/incidents", response_model=Page[schemas.Incident])
def incidents(session: DbSession, actor: CurrentActor, page: Paging, status: schemas.IncidentStatus | None = None,
              org_id: uuid.UUID | None = None, district_id: uuid.UUID | None = None, open_only: bool = False,
              breached: bool | None = None) -> Response:
    """The incident queue the caller may see (a department sees its own and those shared with it)."""
    items, total = service.incident_list(session, actor, page, status=status.value if status else None,
                                         org_id=org_id, district_id=district_id, open_only=open_only,
                                         breached=breached)
    return page_response(schemas.Incident, items, total, page)


@router.post("/incidents", response_model=schemas.IncidentDetail, status_code=201)
def incident_create(session: DbSession, actor: CurrentActor, body: schemas.IncidentCreate
                    ) -> schemas.IncidentDetail:
    """Open an incident (from alarms or by hand); routed by the routing table unless a department is named."""
    incident = service.incident_create(session, actor, body)
    return _detail(service.incident_detail(session, actor, incident.id))


@router.get("/incidents/{incident_id}", response_model=schemas.IncidentDetail)
def incident_get(session: DbSession, actor: CurrentActor, incident_id: uuid.UUID) -> schemas.IncidentDetail:
    """An incident with its timeline, attachments and alarms."""
    return _detail(service.incident_detail(session, actor, incident_id))


@router.post("/incidents/{incident_id}/transition", response_model=schemas.Incident)
def incident_transition(session: DbSession, actor: CurrentActor, incident_id: uuid.UUID,
                        body: schemas.IncidentTransition) -> Any:
    """Dispatch, accept, start, resolve, close, reopen (409 for a move the state table does not allow)."""
    return service.incident_transition(session, actor, incident_id, body.status, body.note, body.org_id)


@router.post("/incidents/{incident_id}/assign", response_model=schemas.Incident)
def incident_assign(session: DbSession, actor: CurrentActor, incident_id: uuid.UUID,
                    body: schemas.IncidentAssign) -> Any:
    """Give an open incident to a field team; a team of another department re-dispatches it there (the center's)."""
    return service.incident_assign(session, actor, incident_id, body.team, body.org_id, body.note)


@router.post("/incidents/{incident_id}/comments", response_model=schemas.IncidentEvent, status_code=201)
def incident_comment(session: DbSession, actor: CurrentActor, incident_id: uuid.UUID, body: schemas.CommentCreate
                     ) -> Any:
    """Comment on an incident."""
    return service.incident_comment(session, actor, incident_id, body.text)


@router.post("/incidents/{incident_id}/shares", response_model=schemas.Incident)
def incident_share(session: DbSession, actor: CurrentActor, incident_id: uuid.UUID,
                   body: schemas.IncidentShareCreate) -> Any:
    """Share an incident with another department."""
    return service.incident_share(session, actor, incident_id, body.org_id)


@router.post("/incidents/{incident_id}/attachments", response_model=schemas.Attachment, status_code=201)
async def incident_attach(request: Request, session: DbSession, actor: CurrentActor, incident_id: uuid.UUID,
                          filename: str = Query("file", min_length=1, max_length=150)) -> Any:
    """Attach a file: the raw body (image or PDF; images are re-encoded)."""
    content = await request.body()
    return service.incident_attach(session, actor, incident_id, filename, content)


@router.get("/attachments/{attachment_id}", response_class=FileResponse)
def attachment(session: DbSession, actor: CurrentActor, attachment_id: uuid.UUID) -> FileResponse:
    """Download an attachment."""
    att, path = service.attachment_open(session, actor, attachment_id)
    return FileResponse(path, media_type=att.content_type, filename=att.filename)


# ---- citizen reports (anonymous)


@router.post("/reports", response_model=schemas.ReportReceipt, status_code=201)
def report_create(session: DbSession, actor: OptionalActor, body: schemas.CitizenReportCreate
                  ) -> schemas.ReportReceipt:
    """A citizen report (no login): rate-limited per address, sanitised, routed to the responsible department."""
    photo = None
    if body.photo_base64:
        try:
            photo = base64.b64decode(body.photo_base64, validate=True)
        except ValueError:
            photo = None  # the service names the field
    return service.citizen_report_create(session, body, context.client_ip(), photo)


@router.get("/reports/{code}", response_model=schemas.ReportReceipt)
def report_status(session: DbSession, actor: OptionalActor, code: str) -> schemas.ReportReceipt:
    """The status of a citizen report, by its tracking code."""
    return service.citizen_report_status(session, code[:20])


# ---- routing


@router.get("/routing", response_model=list[schemas.RoutingRule])
def routing(session: DbSession, actor: CurrentActor) -> Any:
    """The routing table in evaluation order."""
    return service.routing_rule_list(session, actor)


@router.post("/routing", response_model=schemas.RoutingRule, status_code=201)
def routing_create(session: DbSession, actor: CurrentActor, body: schemas.RoutingRuleCreate
                   ) -> Any:
    """Add a routing line."""
    return service.routing_rule_create(session, actor, body)


@router.delete("/routing/{rule_id}", status_code=204)
def routing_delete(session: DbSession, actor: CurrentActor, rule_id: uuid.UUID) -> Response:
    """Remove a routing line."""
    service.routing_rule_delete(session, actor, rule_id)
    return Response(status_code=204)


# ---- indicators


@router.get("/indicators", response_model=list[schemas.Indicator])
def indicators(session: DbSession, actor: CurrentActor, theme: schemas.Theme | None = None) -> Any:
    """The indicator registry with latest values and bands."""
    return service.indicator_list(session, actor, theme.value if theme else None)


@router.post("/indicators", response_model=schemas.Indicator, status_code=201)
def indicator_create(session: DbSession, actor: CurrentActor, body: schemas.IndicatorCreate) -> Any:
    """Register an indicator."""
    return service.indicator_create(session, actor, body)


@router.get("/indicators/{indicator_id}", response_model=schemas.Indicator)
def indicator_get(session: DbSession, actor: CurrentActor, indicator_id: uuid.UUID) -> Any:
    """One indicator."""
    return service.indicator_get(session, actor, indicator_id)


@router.patch("/indicators/{indicator_id}", response_model=schemas.Indicator)
def indicator_update(session: DbSession, actor: CurrentActor, indicator_id: uuid.UUID,
                     body: schemas.IndicatorUpdate) -> Any:
    """Change an indicator's definition or bands."""
    return service.indicator_update(session, actor, indicator_id, body)


@router.get("/indicators/{indicator_id}/values", response_model=list[schemas.IndicatorValue])
def indicator_values(session: DbSession, actor: CurrentActor, indicator_id: uuid.UUID,
                     start: datetime | None = None, end: datetime | None = None,
                     limit: int = Query(1000, ge=1, le=10_000)) -> Any:
    """An indicator's series."""
    return service.indicator_values(session, actor, indicator_id, start, end, limit)


@router.post("/indicators/{indicator_id}/values", response_model=schemas.IndicatorValue, status_code=201)
def indicator_value_record(session: DbSession, actor: CurrentActor, indicator_id: uuid.UUID,
                           body: schemas.IndicatorValueCreate,
                           source: str = Query("manual", pattern="^(manual|datastore)$")) -> Any:
    """Record a value (manual entry or a datastore job); a band breach raises the indicator's alarm."""
    return service.indicator_value_record(session, actor, indicator_id, body.value, body.ts, source)


# ---- webhooks, outbox, dashboard


@router.get("/webhooks", response_model=list[schemas.Webhook])
def webhooks(session: DbSession, actor: CurrentActor) -> Any:
    """Webhooks of the units the caller administers."""
    return service.webhook_list(session, actor)


@router.post("/webhooks", response_model=schemas.Webhook, status_code=201)
def webhook_create(session: DbSession, actor: CurrentActor, body: schemas.WebhookCreate) -> Any:
    """Register a webhook (https/http on a configured host; requests are HMAC-signed with the secret)."""
    return service.webhook_create(session, actor, body)


@router.delete("/webhooks/{webhook_id}", status_code=204)
def webhook_delete(session: DbSession, actor: CurrentActor, webhook_id: uuid.UUID) -> Response:
    """Remove a webhook."""
    service.webhook_delete(session, actor, webhook_id)
    return Response(status_code=204)


@router.get("/outbox", response_model=schemas.OutboxStats)
def outbox(session: DbSession, actor: CurrentActor) -> Any:
    """Delivery state of alarm events (MQTT and webhooks)."""
    return service.outbox_stats(session, actor)


@router.get("/dashboard", response_model=schemas.DashboardSnapshot)
def dashboard(session: DbSession, actor: CurrentActor, district_id: uuid.UUID | None = None
              ) -> Any:
    """What the 大屏 shows (the live page receives the same payload over server-sent events)."""
    return service.dashboard_snapshot(session, actor, district_id)
