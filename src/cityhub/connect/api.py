"""Connect REST API: profiles, assets, devices and credentials, telemetry queries and CSV, quarantine, HTTP ingest.

`/api/v1/connect/...` is for people (user sessions and API tokens); `POST /api/v1/devices/{id}/telemetry` is for
devices and gateways (the device token) and runs the same ingest path as MQTT.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import StreamingResponse
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from cityhub.connect import schemas, service
from cityhub.core.deps import CurrentActor
from cityhub.kit import clock
from cityhub.kit.errors import Unauthorized, ValidationFailed
from cityhub.kit.i18n import gettext as _
from cityhub.kit.metrics import register_db_metrics
from cityhub.kit.pagination import Page, PageParams, page_params, page_response
from cityhub.kit.web import DbSession, SessionRoute

router = APIRouter(prefix="/api/v1/connect", tags=["connect"], route_class=SessionRoute)
device_router = APIRouter(prefix="/api/v1/devices", tags=["connect"], route_class=SessionRoute)
extra_routers = [device_router]
Paging = Annotated[PageParams, Depends(page_params)]
MAX_RANGE = timedelta(days=400)


def _db_metrics(session: Any) -> list[Metric]:
    # The ingest workers run in their own processes: the counts live in the database, not in this process.
    quarantined = CounterMetricFamily("cityhub_connect_quarantined", "Messages and records quarantined by every "
                                      "ingest path, by reason.", labels=["reason"])
    for reason, n in sorted(service.quarantine_counts(session).items()):
        quarantined.add_metric([reason], n)
    devices = GaugeMetricFamily("cityhub_connect_devices", "Registered devices by status.", labels=["status"])
    for status, n in sorted(service.device_status_counts(session).items()):
        devices.add_metric([status], n)
    return [quarantined, devices]


register_db_metrics(_db_metrics)


def device_out(session: Any, d: Any, codes: dict[uuid.UUID, str] | None = None) -> schemas.Device:
    """A device as returned by the API."""
    out = schemas.Device.model_validate(d)
    out.profile_code = (codes or service.profile_codes(session)).get(d.profile_id, "")
    out.topic = service.topic_for(d.id)
    return out


def _with_token(session: Any, d: Any, token: str) -> schemas.DeviceWithToken:
    return schemas.DeviceWithToken(**device_out(session, d).model_dump(), token=token)


def _keys(keys: str | None) -> list[str] | None:
    if not keys:
        return None
    out = [k.strip() for k in keys.split(",") if k.strip()]
    if len(out) > 20 or any(len(k) > 64 for k in out):
        raise ValidationFailed(_("At most 20 keys of up to 64 characters"), field="keys")
    return out


def _range(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    end = clock.as_utc(end) if end else clock.now()
    start = clock.as_utc(start) if start else end - timedelta(hours=24)
    if end <= start:
        raise ValidationFailed(_("'to' must be after 'from'"), field="to")
    if end - start > MAX_RANGE:
        raise ValidationFailed(_("The range may span at most 400 days"), field="from")
    return start, end


# ---- profiles


@router.get("/profiles", response_model=list[schemas.DeviceProfile])
def profiles(session: DbSession, actor: CurrentActor) -> Any:
    """Device profiles and their metrics."""
    return service.device_profile_list(session, actor)


@router.post("/profiles", response_model=schemas.DeviceProfile, status_code=201)
def profile_create(session: DbSession, actor: CurrentActor, body: schemas.DeviceProfileCreate
                   ) -> Any:
    """Register a device profile (platform admins)."""
    return service.device_profile_create(session, actor, body)


# ---- assets


@router.get("/assets", response_model=list[schemas.Asset])
def assets(session: DbSession, actor: CurrentActor, kind: schemas.AssetKind | None = None,
           org_id: uuid.UUID | None = None, parent_id: uuid.UUID | None = None) -> Any:
    """Visible assets."""
    return service.asset_list(session, actor, kind=kind.value if kind else None, org_id=org_id, parent_id=parent_id)


@router.post("/assets", response_model=schemas.Asset, status_code=201)
def asset_create(session: DbSession, actor: CurrentActor, body: schemas.AssetCreate) -> Any:
    """Register an asset."""
    return service.asset_create(session, actor, body)


@router.get("/assets/{asset_id}", response_model=schemas.Asset)
def asset(session: DbSession, actor: CurrentActor, asset_id: uuid.UUID) -> Any:
    """One asset."""
    return service.asset_get(session, actor, asset_id)


@router.patch("/assets/{asset_id}", response_model=schemas.Asset)
def asset_update(session: DbSession, actor: CurrentActor, asset_id: uuid.UUID, body: schemas.AssetUpdate
                 ) -> Any:
    """Change an asset."""
    return service.asset_update(session, actor, asset_id, body)


@router.delete("/assets/{asset_id}", status_code=204)
def asset_delete(session: DbSession, actor: CurrentActor, asset_id: uuid.UUID) -> None:
    """Remove an asset with no children and no devices."""
    service.asset_delete(session, actor, asset_id)


# ---- devices


@router.get("/devices", response_model=Page[schemas.Device])
def devices(session: DbSession, actor: CurrentActor, page: Paging, org_id: uuid.UUID | None = None,
            asset_id: uuid.UUID | None = None, profile: str | None = Query(None, max_length=60),
            status: schemas.DeviceStatus | None = None, q: str | None = Query(None, max_length=100)) -> Any:
    """Visible devices, filtered."""
    rows, total = service.device_list(session, actor, page, org_id=org_id, asset_id=asset_id, profile_code=profile,
                                      status=status.value if status else None, q=q)
    codes = service.profile_codes(session)
    return page_response(schemas.Device, [device_out(session, d, codes) for d in rows], total, page)


@router.post("/devices", response_model=schemas.DeviceWithToken, status_code=201)
def device_create(session: DbSession, actor: CurrentActor, body: schemas.DeviceCreate) -> schemas.DeviceWithToken:
    """Register a device; the response carries its token, shown this once."""
    device, token = service.device_create(session, actor, body)
    return _with_token(session, device, token)


@router.get("/devices/{device_id}", response_model=schemas.Device)
def device(session: DbSession, actor: CurrentActor, device_id: uuid.UUID) -> schemas.Device:
    """One device."""
    return device_out(session, service.device_get(session, actor, device_id))


@router.patch("/devices/{device_id}", response_model=schemas.Device)
def device_update(session: DbSession, actor: CurrentActor, device_id: uuid.UUID, body: schemas.DeviceUpdate
                  ) -> schemas.Device:
    """Change a device (status: active ↔ disabled → decommissioned)."""
    return device_out(session, service.device_update(session, actor, device_id, body))


@router.post("/devices/{device_id}/token", response_model=schemas.DeviceWithToken)
def device_token_rotate(session: DbSession, actor: CurrentActor, device_id: uuid.UUID) -> schemas.DeviceWithToken:
    """Issue a new device token (the old one stops working); shown this once."""
    device, token = service.device_token_rotate(session, actor, device_id)
    return _with_token(session, device, token)


@router.get("/devices/{device_id}/latest", response_model=list[schemas.LatestValue])
def device_latest(session: DbSession, actor: CurrentActor, device_id: uuid.UUID) -> list[schemas.LatestValue]:
    """The newest value of each metric."""
    latest = service.device_latest(session, actor, device_id)
    return [schemas.LatestValue(key=k, ts=ts, value=service.finite(v), text=t)
            for k, (ts, v, t) in sorted(latest.items())]


class TelemetryOut(BaseModel):
    """Raw points (no `agg`) or time-bucket aggregates."""

    device_id: uuid.UUID
    start: datetime
    end: datetime
    agg: str | None
    interval: str | None
    points: list[schemas.Point]
    buckets: list[schemas.Bucket]


@router.get("/devices/{device_id}/telemetry", response_model=TelemetryOut)
def telemetry(session: DbSession, actor: CurrentActor, device_id: uuid.UUID,
              keys: str | None = Query(None, max_length=1400, description="Comma-separated metric keys."),
              start: datetime | None = Query(None, alias="from"), end: datetime | None = Query(None, alias="to"),
              agg: str | None = Query(None, pattern="^(avg|min|max|sum|count)$"),
              interval: str = Query("5m", max_length=8, description="Bucket width, 1m … 1d."),
              limit: int = Query(10_000, ge=1, le=service.MAX_RAW_POINTS)) -> TelemetryOut:
    """Raw points, or with `agg` time-bucket aggregates over `interval`, for one or several keys."""
    lo, hi = _range(start, end)
    key_list = _keys(keys)
    out = TelemetryOut(device_id=device_id, start=lo, end=hi, agg=agg, interval=interval if agg else None,
                       points=[], buckets=[])
    if agg:
        out.buckets = [schemas.Bucket(key=k, ts=ts, value=v) for k, ts, v in service.telemetry_series(
            session, actor, device_id, keys=key_list or [], agg=agg, interval=interval, start=lo, end=hi)]
    else:
        out.points = [schemas.Point(device_id=device_id, key=k, ts=ts, value=service.finite(v), text=t)
                      for k, ts, v, t in service.telemetry_raw(session, actor, device_id, keys=key_list, start=lo,
                                                               end=hi, limit=limit)]
    return out


@router.get("/devices/{device_id}/telemetry.csv", response_class=StreamingResponse,
            responses={200: {"content": {"text/csv": {}}}})
def telemetry_csv(session: DbSession, actor: CurrentActor, device_id: uuid.UUID,
                  keys: str | None = Query(None, max_length=1400),
                  start: datetime | None = Query(None, alias="from"), end: datetime | None = Query(None, alias="to"),
                  ) -> StreamingResponse:
    """Raw points as CSV."""
    lo, hi = _range(start, end)
    chunks = list(service.telemetry_csv(session, actor, device_id, keys=_keys(keys), start=lo, end=hi))
    return StreamingResponse(iter(chunks), media_type="text/csv", headers={
        "Content-Disposition": f'attachment; filename="telemetry-{device_id}.csv"'})


# ---- quarantine


@router.get("/quarantine", response_model=Page[schemas.QuarantineItem])
def quarantine(session: DbSession, actor: CurrentActor, page: Paging, device_id: uuid.UUID | None = None,
               reason: str | None = Query(None, max_length=30)) -> Any:
    """Quarantined messages and records (newest first)."""
    rows, total = service.quarantine_list(session, actor, page, device_id=device_id, reason=reason)
    return page_response(schemas.QuarantineItem, rows, total, page)


# ---- HTTP ingest (device credential)


class TelemetryRecord(BaseModel):
    """One record: `ts` (ISO-8601 or epoch ms; default receive time) and metric values."""

    ts: str | int | None = None
    values: dict[str, float | bool | str]


_RECORD = TelemetryRecord.model_json_schema()
_INGEST_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "oneOf": [_RECORD, {"type": "array", "items": _RECORD}]}}}}}


@device_router.post("/{device_id}/telemetry", response_model=schemas.IngestResponse, openapi_extra=_INGEST_BODY)
async def ingest(request: Request, device_id: str = PathParam(max_length=64)) -> schemas.IngestResponse:
    """Telemetry from a device or gateway (`Authorization: Bearer <device token>`); same rules as MQTT.

    `device_id` is canonicalised like an MQTT topic's: 8-4-4-4-12 hex digits in either case, 32 hex digits,
    `{…}` or `urn:uuid:…` all name the same device; anything else is a 422 naming `device_id`.
    """
    auth = request.headers.get("authorization", "")
    scheme, _sep, token = auth.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(_("Send the device token as 'Authorization: Bearer <token>'"))
    body = await request.body()
    db = request.app.state.db

    def work() -> schemas.IngestResult:
        with db.session_scope() as session:
            result = service.ingest_http(session, device_id, token.strip(), body)
        if service.ingest_keys_prune_due():  # housekeeping of decision 0009, in a transaction of its own
            with db.session_scope() as session:
                service.ingest_keys_prune(session)
        return result

    r = await run_in_threadpool(work)
    return schemas.IngestResponse(stored=r.stored, duplicates=r.duplicates, quarantined=r.quarantined)

