"""Ops pages: the live 大屏 (server-sent events), alarms, incidents, rules, indicators, citizen reports.

The rule editor previews a rule against the last 24 h; the report form is public.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from pydantic import ValidationError

from cityhub.core import service as core
from cityhub.core.deps import CurrentActor, OptionalActor
from cityhub.core.permissions import P
from cityhub.kit import clock, context, labels
from cityhub.kit.errors import CityhubError, ValidationFailed
from cityhub.kit.i18n import gettext as _
from cityhub.kit.pagination import PageParams
from cityhub.kit.settings import get_settings
from cityhub.kit.web import (
    DbSession,
    NavItem,
    SessionRoute,
    allow_large_bodies,
    error_text,
    form_action,
    redirect_with_message,
    register_nav,
    render,
    verify_csrf,
)
from cityhub.ops import devices, schemas, service
from cityhub.ops.incidents.service import OPEN_INCIDENT
from cityhub.ops.rules import editor

router = APIRouter(prefix="/ops", include_in_schema=False, route_class=SessionRoute)
_OPS = (P.OPS_READ_ALL, P.OPS_WORK)  # the center's staff and auditors, and each unit for its own
register_nav(
    NavItem("ops", "Operations screen", "/ops/screen", order=10, permissions=_OPS),
    NavItem("ops", "Alarms", "/ops/alarms", order=20, permissions=_OPS),
    NavItem("ops", "Incidents", "/ops/incidents", order=30, permissions=_OPS),
    NavItem("ops", "Rules", "/ops/rules", order=40, permissions=_OPS),
    NavItem("ops", "City indicators", "/ops/indicators", order=50, permissions=_OPS),
    NavItem("ops", "Report a problem", "/ops/report", order=60, public=True),
)
allow_large_bodies("/ops/report", "/ops/incidents/")
Csrf = Annotated[str, Form(max_length=100)]
ACTIONS = {"accepted": "Accept", "in_progress": "Start work", "resolved": "Resolve", "closed": "Close",
           "reopened": "Reopen", "dispatched": "Dispatch", "new": "Return to the center"}


# vocabularies the templates label codes with: {{ a.severity|label(V.severity) }}
VOCAB = {"severity": schemas.Severity, "kind": schemas.RuleKind, "status": schemas.IncidentStatus,
         "source": schemas.IncidentSource, "alarm_status": schemas.AlarmStatus, "theme": schemas.Theme,
         "indicator_source": schemas.IndicatorSource, "category": "ops.category", "event": "ops.incident_event",
         "comparison": "ops.operator", "band": "ops.band", "unit": "ops.unit", "direction": "ops.direction"}


def _page(request: Request, template: str, context: dict[str, Any], status_code: int = 200) -> Response:
    return render(request, template, {"V": VOCAB, "unit_text": schemas.unit_text, **context}, status_code=status_code)


def _id_field(value: str, field: str) -> uuid.UUID | None:
    """An optional id from a form field (empty: none); anything else is a 422 naming the field."""
    try:
        return uuid.UUID(value) if value else None
    except ValueError as exc:
        raise ValidationFailed(_("Not a valid id"), field=field) from exc


def _number_field(value: str, field: str) -> float | None:
    """An optional finite number from a form field (empty: none); anything else is a 422 naming the field."""
    try:
        number = float(value) if value else None
    except ValueError:
        number = math.nan
    if number is not None and not math.isfinite(number):
        raise ValidationFailed(_("Enter a number"), field=field)
    return number


def _names(session: Any) -> dict[uuid.UUID, str]:
    return core.organization_names(session)


def _districts(session: Any) -> list[Any]:
    return [o for o in core.organization_all(session) if o.kind in ("district", "county", "new_area")]


# ---- the 大屏


@router.get("/screen")
def screen(request: Request, session: DbSession, actor: CurrentActor, district_id: uuid.UUID | None = None
           ) -> Response:
    """The full-screen operations view, live over server-sent events; a district view filters it."""
    snap = schemas.DashboardSnapshot.model_validate(service.dashboard_snapshot(session, actor, district_id))
    district = next((d for d in _districts(session) if d.id == district_id), None)
    return _page(request, "ops/screen.html", {
        "snap": snap.model_dump(mode="json"), "district": district, "districts": _districts(session),
        "refresh_s": get_settings().ops_screen_refresh_s, "district_names": core.district_name_map(session),
        "severity_labels": {s.value: labels.label(s) for s in schemas.Severity},
        "status_labels": {s.value: labels.label(s) for s in schemas.IncidentStatus},
        "scenario_kinds": {"drainage": _("Rainstorm drainage what-if"), "traffic": _("Road closure"),
                           "dispatch": _("Dispatch optimisation")}})


@router.get("/screen/stream")
async def screen_stream(request: Request, actor: CurrentActor, district_id: uuid.UUID | None = None,
                        once: bool = False) -> StreamingResponse:
    """Server-sent events: a dashboard snapshot every few seconds (`once=1` sends one and ends)."""
    db = request.app.state.db
    pause = get_settings().ops_screen_refresh_s

    def snapshot() -> str:
        with db.session_scope() as session:
            snap = schemas.DashboardSnapshot.model_validate(service.dashboard_snapshot(session, actor, district_id))
            return snap.model_dump_json()

    async def events() -> AsyncIterator[bytes]:
        yield b"retry: 5000\n\n"
        while True:
            data = await asyncio.to_thread(snapshot)
            yield f"event: snapshot\ndata: {data}\n\n".encode()
            if once or await request.is_disconnected():
                return
            await asyncio.sleep(pause)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"cache-control": "no-cache", "x-accel-buffering": "no"})


# ---- alarms


@router.get("/alarms")
def alarms(request: Request, session: DbSession, actor: CurrentActor, msg: str | None = None,
           active: str = Query("1", pattern="^(0|1|all)$"), ack: str = Query("", pattern="^(|0|1)$"),
           severity: str = Query("", max_length=20), district_id: uuid.UUID | None = None,
           offset: int = Query(0, ge=0, le=1_000_000)) -> Response:
    """Alarm list with acknowledge and clear; filters by state, acknowledgement, severity and district."""
    page = PageParams(limit=50, offset=offset)
    items, total = service.alarm_list(session, actor, page, active=None if active == "all" else active == "1",
                                      acknowledged=None if not ack else ack == "1", severity=severity or None,
                                      district_id=district_id)
    stats = service.alarm_stats(session, actor, district_id)
    return _page(request, "ops/alarms.html", {
        "alarms": items, "total": total, "offset": offset, "limit": page.limit, "msg": msg, "active": active,
        "ack": ack, "severity": severity, "district_id": district_id, "districts": _districts(session),
        "names": _names(session), "stats": stats, "severities": schemas.SEVERITIES, "status": service.alarm_status,
        "forecasts": {a.id: _alarm_forecast(a) for a in items if (a.details or {}).get("forecast")}})


def _alarm_forecast(alarm: Any) -> dict[str, Any]:
    """A forecast alarm's evidence as shown: the forecast value, when the threshold is met, the 95 % interval."""
    fc = alarm.details["forecast"]
    return {"value": float(fc["value"]), "at": datetime.fromisoformat(fc["at"]), "lower": float(fc["lower"]),
            "upper": float(fc["upper"]), "threshold": float(fc["threshold"]), "op": str(fc.get("op", ">"))}


@router.post("/alarms/{alarm_id}/{action}")
def alarm_action(request: Request, session: DbSession, actor: CurrentActor, alarm_id: uuid.UUID, action: str,
                 csrf_token: Csrf) -> Response:
    """Acknowledge, clear, or open an incident for an alarm."""
    opened: uuid.UUID | None = None
    with form_action(request, session, csrf_token, _("Saved")) as done:
        if action == "ack":
            service.alarm_acknowledge(session, actor, alarm_id)
        elif action == "clear":
            service.alarm_clear(session, actor, alarm_id)
        elif action == "incident":
            alarm = service.alarm_get(session, actor, alarm_id)
            opened = service.incident_create(session, actor, schemas.IncidentCreate(
                title=f"{alarm.originator_name} · {alarm.type}"[:200], alarm_ids=[alarm.id],
                severity=schemas.Severity(alarm.severity))).id
        else:
            raise CityhubError(_("Unknown action"))
    if done.ok and opened is not None:
        return redirect_with_message(f"/ops/incidents/{opened}")
    return done.redirect("/ops/alarms")


# ---- incidents


@router.get("/incidents")
def incidents(request: Request, session: DbSession, actor: CurrentActor, msg: str | None = None,
              status: str = Query("", max_length=20), severity: str = Query("", max_length=20),
              category: str = Query("", max_length=40), org_id: uuid.UUID | None = None,
              breached: str = Query("", pattern="^(|1)$"), offset: int = Query(0, ge=0, le=1_000_000)) -> Response:
    """The incident queue (a department sees its own), with filters."""
    page = PageParams(limit=50, offset=offset)
    items, total = service.incident_list(session, actor, page, status=status or None, severity=severity or None,
                                         category=category or None, org_id=org_id,
                                         breached=True if breached else None)
    from cityhub.ops import policies

    return _page(request, "ops/incidents.html", {
        "incidents": items, "total": total, "offset": offset, "limit": page.limit, "msg": msg, "status": status,
        "severity": severity, "category": category, "org_id": org_id, "breached": breached,
        "statuses": schemas.INCIDENT_STATUSES, "severities": schemas.SEVERITIES, "names": _names(session),
        "now": clock.now(), "can_create": policies.is_center(actor), "categories": schemas.CATEGORIES,
        "departments": [o for o in core.organization_all(session) if o.kind == "department"]})


@router.post("/incidents")
def incident_create(request: Request, session: DbSession, actor: CurrentActor, csrf_token: Csrf,
                    title: Annotated[str, Form(max_length=200)], category: Annotated[str, Form(max_length=40)],
                    severity: Annotated[str, Form(max_length=20)] = "major",
                    description: Annotated[str, Form(max_length=5000)] = "",
                    org_id: Annotated[str, Form(max_length=40)] = "") -> Response:
    """Open an incident by hand."""
    opened: uuid.UUID | None = None
    keep = {"title": title, "category": category, "severity": severity, "description": description, "org_id": org_id}
    with form_action(request, session, csrf_token, _("Saved"), keep=keep) as done:
        data = schemas.IncidentCreate(title=title, category=category, severity=severity,
                                      description=description, org_id=_id_field(org_id, "org_id"))
        opened = service.incident_create(session, actor, data).id
    if done.ok and opened is not None:
        return redirect_with_message(f"/ops/incidents/{opened}")
    return done.redirect("/ops/incidents")


@router.get("/incidents/{incident_id}")
def incident_page(request: Request, session: DbSession, actor: CurrentActor, incident_id: uuid.UUID,
                  msg: str | None = None) -> Response:
    """An incident: timeline, comments, attachments, transitions."""
    d = service.incident_detail(session, actor, incident_id)
    inc = d["incident"]
    return _page(request, "ops/incident.html", {
        "inc": inc, "events": d["events"], "attachments": d["attachments"], "alarms": d["alarms"],
        "shared": d["shared_with"], "names": _names(session), "msg": msg,
        "moves": [s.value for s in service.incident_moves(inc)], "actions": ACTIONS,
        "open": inc.status in OPEN_INCIDENT,
        "departments": [o for o in core.organization_all(session) if o.kind == "department"]})


@router.post("/incidents/{incident_id}/transition")
def incident_transition(request: Request, session: DbSession, actor: CurrentActor, incident_id: uuid.UUID,
                        csrf_token: Csrf, status: Annotated[str, Form(max_length=20)],
                        note: Annotated[str, Form(max_length=2000)] = "",
                        org_id: Annotated[str, Form(max_length=40)] = "") -> Response:
    """Move the incident."""
    with form_action(request, session, csrf_token, _("Saved")) as done:
        if status not in schemas.INCIDENT_STATUSES:
            raise ValidationFailed(_("Unknown status"), field="status")
        service.incident_transition(session, actor, incident_id, schemas.IncidentStatus(status), note,
                                    _id_field(org_id, "org_id"))
    return done.redirect(f"/ops/incidents/{incident_id}")


@router.post("/incidents/{incident_id}/assign")
def incident_assign(request: Request, session: DbSession, actor: CurrentActor, incident_id: uuid.UUID,
                    csrf_token: Csrf, team: Annotated[str, Form(max_length=100)] = "",
                    note: Annotated[str, Form(max_length=2000)] = "",
                    org_id: Annotated[str, Form(max_length=40)] = "") -> Response:
    """Give the incident to a field team (of another department: a dispatch there)."""
    with form_action(request, session, csrf_token, _("Saved")) as done:
        service.incident_assign(session, actor, incident_id, team, _id_field(org_id, "org_id"), note)
    return done.redirect(f"/ops/incidents/{incident_id}")


@router.post("/incidents/{incident_id}/comment")
def incident_comment(request: Request, session: DbSession, actor: CurrentActor, incident_id: uuid.UUID,
                     csrf_token: Csrf, text: Annotated[str, Form(min_length=1, max_length=5000)]) -> Response:
    """Comment."""
    with form_action(request, session, csrf_token, _("Saved")) as done:
        service.incident_comment(session, actor, incident_id, text)
    return done.redirect(f"/ops/incidents/{incident_id}")


@router.post("/incidents/{incident_id}/attach")
async def incident_attach(request: Request, session: DbSession, actor: CurrentActor, incident_id: uuid.UUID,
                          csrf_token: Csrf, file: Annotated[UploadFile, File()]) -> Response:
    """Attach a photo or PDF."""
    with form_action(request, session, csrf_token, _("Saved")) as done:  # the CSRF check comes before the upload
        content = await file.read(get_settings().ops_photo_max_bytes + 1)
        service.incident_attach(session, actor, incident_id, file.filename or "file", content)
    return done.redirect(f"/ops/incidents/{incident_id}")


# ---- rules


def _rule_fields(form: Any) -> dict[str, Any]:
    """The definition fields of the editor's form (the parts a new version may change)."""
    def num(name: str) -> float | None:
        return _number_field(str(form.get(name) or "").strip(), name)

    kind = str(form.get("kind") or "threshold")
    cond: dict[str, Any] | None = None
    if kind in ("threshold", "rate"):
        cond = {"op": form.get("op") or ">", "value": num("value")}
    elif kind == "forecast":
        cond = {"op": form.get("op") or ">", "value": num("value"),
                "horizon_s": round((num("horizon_min") or 0) * 60)}
    elif kind == "anomaly":
        cond = {"z": num("z") or 3.0, "alpha": num("alpha") or 0.05, "min_samples": int(num("min_samples") or 30)}
    clear = None
    if kind != "no_data" and num("clear_value") is not None:
        clear = {"op": form.get("clear_op") or "<", "value": num("clear_value")}
    return {"name": form.get("name") or "", "severity": form.get("severity") or "major", "condition": cond,
            "clear_condition": clear, "duration_s": int(num("duration_min") or 0) * 60 if kind != "no_data" else 0,
            "repeat_count": int(num("repeat_count") or 1) if kind != "no_data" else 1,
            "no_data_s": int(num("no_data_min") or 0) * 60 if kind == "no_data" else 0,
            "auto_incident": form.get("auto_incident") == "on", "category": form.get("category") or ""}


def _rule_from_form(form: Any) -> schemas.RuleCreate:
    return schemas.RuleCreate.model_validate({
        **_rule_fields(form), "kind": str(form.get("kind") or "threshold"),
        "profile_code": form.get("profile_code") or None, "key": form.get("key") or "",
        "asset_id": _id_field(str(form.get("asset_id") or ""), "asset_id"),
        "device_id": _id_field(str(form.get("device_id") or ""), "device_id"),
        "org_id": _id_field(str(form.get("org_id") or ""), "org_id")})


def _rule_form(rule: Any) -> dict[str, str]:
    """A saved rule as the editor's form values."""
    cond, clear = rule.condition or {}, rule.clear_condition or {}

    def text(v: Any) -> str:
        return "" if v is None else f"{v:g}" if isinstance(v, float) else str(v)

    return {"name": rule.name, "kind": rule.kind, "profile_code": rule.profile_code or "", "key": rule.key,
            "asset_id": str(rule.asset_id or ""), "device_id": str(rule.device_id or ""), "org_id": str(rule.org_id),
            "op": cond.get("op", ">"),
            "value": text(cond.get("value")), "z": text(cond.get("z")),
            "horizon_min": text(int(cond.get("horizon_s") or 0) // 60 or ""), "clear_op": clear.get("op", "<"),
            "clear_value": text(clear.get("value")), "duration_min": text(rule.duration_s // 60),
            "repeat_count": text(rule.repeat_count), "no_data_min": text(rule.no_data_s // 60 or ""),
            "severity": rule.severity, "category": rule.category, "auto_incident": "on" if rule.auto_incident else ""}


def _editor(session: Any, actor: Any) -> dict[str, Any]:
    """What the rule editor's pickers offer."""
    return {"profiles": editor.profiles(session), "assets": editor.usable_assets(session, actor),
            "devices": editor.usable_devices(session, actor),
            "owners": editor.owner_choices(session, actor), "severities": schemas.SEVERITIES,
            "ops": service.RULE_OPS, "symbols": editor.SYMBOLS, "categories": schemas.CATEGORIES,
            "kinds": [k.value for k in schemas.RuleKind]}


@router.get("/rules")
def rules(request: Request, session: DbSession, actor: CurrentActor, msg: str | None = None,
          enabled: str = Query("", pattern="^(|0|1)$"), profile_code: str = Query("", max_length=64),
          offset: int = Query(0, ge=0, le=1_000_000), device_id: uuid.UUID | None = None) -> Response:
    """The rules, each as a sentence; filters by state, profile and one device (a device page links here)."""
    items, total = service.rule_list(session, actor, PageParams(limit=50, offset=offset),
                                     profile_code=profile_code or None, enabled=None if not enabled else enabled == "1",
                                     device_id=device_id)
    catalogue = editor.metrics(session)
    device_names = {d.device_id: d.name for d in editor.usable_devices(session, actor)} if device_id else {}
    return _page(request, "ops/rules.html", {
        "rules": items, "total": total, "offset": offset, "limit": 50, "msg": msg, "names": _names(session),
        "sentences": {r.id: editor.sentence(r, catalogue) for r in items}, "enabled": enabled,
        "profile_code": profile_code, "profiles": editor.profiles(session), "device_id": device_id,
        "device_name": device_names.get(device_id, "") if device_id else ""})


@router.get("/rules/new")
def rule_new(request: Request, session: DbSession, actor: CurrentActor) -> Response:
    """The rule editor for a new rule."""
    return _page(request, "ops/rule_edit.html", {"rule": None, "form": {}, "preview": None, "msg": None,
                                                  **_editor(session, actor)})


@router.post("/rules")
async def rule_submit(request: Request, session: DbSession, actor: CurrentActor) -> Response:
    """Preview a new rule against the last 24 h, or save it."""
    form = await request.form()
    verify_csrf(request, str(form.get("csrf_token") or ""))
    preview = None
    msg = None
    try:
        data = _rule_from_form(form)
        if form.get("action") == "save":
            with session.begin_nested():
                rule = service.rule_create(session, actor, data)
            return redirect_with_message(f"/ops/rules/{rule.id}", _("Saved"))
        preview = service.rule_preview(session, actor, data)
    except (ValidationError, CityhubError) as exc:
        msg = error_text(exc)
    return _page(request, "ops/rule_edit.html", {
        "rule": None, "msg": msg, "preview": preview, **_editor(session, actor),
        "form": {k: str(v) for k, v in form.items() if k != "csrf_token"}}, status_code=200 if msg is None else 422)


def _rule_page(request: Request, session: Any, actor: Any, rule: Any, form: dict[str, str], *, msg: str | None,
               preview: Any = None, status_code: int = 200) -> Response:
    catalogue = editor.metrics(session)
    base = {"kind": rule.kind, "profile_code": rule.profile_code, "key": rule.key}
    versions = [(v, editor.sentence({**base, **v.definition}, catalogue))
                for v in service.rule_versions(session, actor, rule.id)]
    asset = devices.asset_ref(session, rule.asset_id) if rule.asset_id else None
    device = devices.device_ref(session, rule.device_id) if rule.device_id else None
    return _page(request, "ops/rule_edit.html", {
        "rule": rule, "form": form, "msg": msg, "preview": preview, "versions": versions, "asset": asset,
        "device": device,
        "forecasts": (charts := _forecast_charts(session, rule)), "coverage": _coverage(session, rule, catalogue),
        "forecast_data": [{k: c[k] for k in ("actual", "line", "lower", "band", "threshold")} for c in charts],
        "sentence": editor.sentence(rule, catalogue), "names": _names(session), **_editor(session, actor)},
        status_code=status_code)


FORECAST_ACTUAL_H = 6  # hours of actual points drawn before a forecast


def _coverage(session: Any, rule: Any, catalogue: dict[str, Any]) -> dict[str, Any]:
    """What a forecast rule forecasts, its metric by name."""
    cover = service.forecast_coverage(session, rule)
    if cover:
        metric = catalogue.get(rule.profile_code or "", {}).get(rule.key)
        cover["key"] = metric.name if metric is not None else rule.key
    return cover


def _forecast_charts(session: Any, rule: Any) -> list[dict[str, Any]]:
    """A forecast rule's series: the last hours of actual points, the forecast line and its 95 % band."""
    out = []
    now = clock.now()
    for s in service.forecast_series(session, rule, limit=6):
        actual = [[clock.as_utc(p.ts).isoformat(), p.value] for p in devices.telemetry_points(
            session, device_ids=[s["device_id"]], keys=[rule.key], start=now - timedelta(hours=FORECAST_ACTUAL_H),
            end=now + timedelta(seconds=1)) if p.value is not None]
        iso = [datetime.fromtimestamp(t, UTC).isoformat() for t, *_r in s["path"]]
        fc, model = s["forecast"], s["model"]
        out.append({"name": s["name"], "active": s["active"], "error": (s["error"] or {}).get("reason"),
                    "model": model, "forecast": fc, "actual": actual,
                    "fitted_at": datetime.fromisoformat(model["fitted_at"]) if model else None,
                    "forecast_at": datetime.fromisoformat(fc["at"]) if fc else None,
                    "line": [[t, round(v, 4)] for t, (_t, v, _lo, _hi) in zip(iso, s["path"], strict=True)],
                    "lower": [[t, round(lo, 4)] for t, (_t, _v, lo, _hi) in zip(iso, s["path"], strict=True)],
                    "band": [[t, round(hi - lo, 4)] for t, (_t, _v, lo, hi) in zip(iso, s["path"], strict=True)],
                    "threshold": float((rule.condition or {}).get("value") or 0)})
    return out


@router.get("/rules/{rule_id}")
def rule_page(request: Request, session: DbSession, actor: CurrentActor, rule_id: uuid.UUID,
              msg: str | None = None) -> Response:
    """One rule: its sentence, the editor for a new version, the version history."""
    rule = service.rule_get(session, actor, rule_id)
    return _rule_page(request, session, actor, rule, _rule_form(rule), msg=msg)


@router.post("/rules/{rule_id}")
async def rule_edit(request: Request, session: DbSession, actor: CurrentActor, rule_id: uuid.UUID) -> Response:
    """Preview the changed definition, or save it as the rule's next version."""
    form = await request.form()
    verify_csrf(request, str(form.get("csrf_token") or ""))
    rule = service.rule_get(session, actor, rule_id)
    fixed = {"kind": rule.kind, "profile_code": rule.profile_code or "", "key": rule.key,
             "asset_id": str(rule.asset_id or ""), "device_id": str(rule.device_id or ""), "org_id": str(rule.org_id)}
    values = {**{k: str(v) for k, v in form.items() if k != "csrf_token"}, **fixed}
    preview = None
    try:
        fields = _rule_fields(values)
        if form.get("action") == "save":
            with session.begin_nested():
                service.rule_update(session, actor, rule_id, schemas.RuleUpdate.model_validate(fields))
            return redirect_with_message(f"/ops/rules/{rule_id}", _("Saved"))
        preview = service.rule_preview(session, actor, _rule_from_form(values))
    except (ValidationError, CityhubError) as exc:
        return _rule_page(request, session, actor, rule, values, msg=error_text(exc), status_code=422)
    return _rule_page(request, session, actor, rule, values, msg=None, preview=preview)


@router.post("/rules/{rule_id}/toggle")
def rule_toggle(request: Request, session: DbSession, actor: CurrentActor, rule_id: uuid.UUID,
                csrf_token: Csrf) -> Response:
    """Enable or disable a rule."""
    with form_action(request, session, csrf_token, _("Saved")) as done:
        r = service.rule_get(session, actor, rule_id)
        service.rule_update(session, actor, rule_id, schemas.RuleUpdate(enabled=not r.enabled))
    return done.redirect(f"/ops/rules/{rule_id}")


# ---- indicators


@router.get("/indicators")
def indicators(request: Request, session: DbSession, actor: CurrentActor, msg: str | None = None,
               theme: str = Query("", max_length=20), offset: int = Query(0, ge=0, le=1_000_000)) -> Response:
    """Indicator registry with values, bands and trends, by theme, a page at a time."""
    everything = service.indicator_list(session, actor, theme=theme or None)
    items = everything[offset:offset + 12]
    series = {str(i.id): [[clock.as_utc(v.ts).isoformat(), v.value]
                          for v in service.indicator_values(session, actor, i.id, limit=90)] for i in items}
    return _page(request, "ops/indicators.html", {
        "indicators": items, "series": series, "msg": msg, "names": _names(session), "theme": theme,
        "themes": [t.value for t in schemas.Theme], "offset": offset, "limit": 12, "total": len(everything)})


@router.post("/indicators/{indicator_id}/value")
def indicator_value(request: Request, session: DbSession, actor: CurrentActor, indicator_id: uuid.UUID,
                    csrf_token: Csrf, value: Annotated[float, Form(allow_inf_nan=False)]) -> Response:
    """Record a manual value."""
    with form_action(request, session, csrf_token, _("Saved")) as done:
        service.indicator_value_record(session, actor, indicator_id, value)
    return done.redirect("/ops/indicators")


# ---- citizen report (public)


@router.get("/report")
def report_form(request: Request, session: DbSession, actor: OptionalActor, code: str | None = None,
                msg: str | None = None) -> Response:
    """The public intake form."""
    return _page(request, "ops/report.html", {
        "categories": schemas.CATEGORIES, "code": code, "msg": msg, "form": {},
        "district_names": core.district_name_map(session)})


@router.post("/report")
async def report_submit(request: Request, session: DbSession, actor: OptionalActor, csrf_token: Csrf,
                        category: Annotated[str, Form(max_length=40)],
                        description: Annotated[str, Form(max_length=2000)],
                        lon: Annotated[str, Form(max_length=20)] = "", lat: Annotated[str, Form(max_length=20)] = "",
                        contact: Annotated[str, Form(max_length=100)] = "",
                        photo: Annotated[UploadFile | None, File()] = None) -> Response:
    """Take a report from the form."""
    verify_csrf(request, csrf_token)
    try:
        data = schemas.CitizenReportCreate(category=category, description=description,
                                           lon=_number_field(lon, "lon"), lat=_number_field(lat, "lat"),
                                           contact=contact)
        content = await photo.read(get_settings().ops_photo_max_bytes + 1) if photo and photo.filename else None
        with session.begin_nested():
            receipt = service.citizen_report_create(session, data, context.client_ip(),
                                                    content or None, photo.filename or "photo" if photo else "photo")
        return RedirectResponse(f"/ops/report?code={receipt.code}", status_code=303)  # R + hex: nothing to quote
    except (ValidationError, CityhubError) as exc:
        return _page(request, "ops/report.html", {  # what the citizen typed stays in the form
            "categories": schemas.CATEGORIES, "code": None, "msg": error_text(exc),
            "district_names": core.district_name_map(session),
            "form": {"category": category, "description": description, "lon": lon, "lat": lat, "contact": contact}},
            status_code=422)

