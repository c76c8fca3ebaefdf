"""Alarms, the routing table, webhooks and the alarm-event outbox.

Alarms are raised (one open per originator and type), acknowledged, cleared and assigned here; the routing table
says which department an incident goes to.
Every alarm change queues its event in the outbox in the same transaction (`_alarm_event`); the ops worker
delivers it after commit (`alarms/delivery.py`). Nothing here commits.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time as time_mod
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import Select, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cityhub.core import service as core
from cityhub.core.actor import Actor
from cityhub.kit import clock, egress
from cityhub.kit.db import get_or_404, is_postgres
from cityhub.kit.errors import Conflict, NotFound, ServiceUnavailable, ValidationFailed
from cityhub.kit.i18n import gettext as _
from cityhub.kit.metrics import REGISTRY
from cityhub.kit.pagination import PageParams, paginate
from cityhub.kit.settings import get_settings
from cityhub.ops import devices, policies, schemas
from cityhub.ops.common import ENGINE_ACTOR, home_org, org_exists
from cityhub.ops.models import Alarm, AlarmScope, OutboxMessage, RoutingRule, RuleState, Severity, Webhook
from cityhub.ops.rules.engine import state_id
from cityhub.ops.rules.state import new_version
from cityhub.ops.schemas import SEVERITY_RANK, AlarmCreate, AlarmStats, RoutingRuleCreate, WebhookCreate

try:
    from prometheus_client import Counter

    ALARM_EVENTS = Counter("cityhub_ops_alarm_events_total", "Alarm events by kind", ["kind"], registry=REGISTRY)
except ValueError:  # pragma: no cover - module re-imported in the same process
    ALARM_EVENTS = None  # type: ignore[assignment]  # a re-import keeps the process's existing counter; callers check for None

MQTT_ALARM_TOPIC = "cityhub/v1/alarms/{org}"
WEBHOOK_BACKOFF_S = 10
WEBHOOK_MAX_ATTEMPTS = 8


# ---------------------------------------------------------------- alarms


def _alarm_event(session: Session, alarm: Alarm, kind: str) -> None:
    """Queue the alarm event for MQTT and the matching webhooks (the worker delivers after commit)."""
    payload = {"event": kind, "alarm": {
        "id": str(alarm.id), "type": alarm.type, "severity": alarm.severity, "originator_type": alarm.originator_type,
        "originator_id": str(alarm.originator_id), "originator_name": alarm.originator_name,
        "org_id": str(alarm.org_id), "district_id": str(alarm.district_id) if alarm.district_id else None,
        "acknowledged": alarm.acknowledged, "cleared": alarm.cleared, "count": alarm.count,
        "start_ts": alarm.start_ts.isoformat(), "end_ts": alarm.end_ts.isoformat(),
        "details": alarm.details}, "at": clock.now().isoformat()}
    now = clock.now()
    session.add(OutboxMessage(channel="mqtt", target=MQTT_ALARM_TOPIC.format(org=alarm.org_id), payload=payload,
                              created_at=now, next_attempt_at=now))
    orgs = set(core.org_ancestors(session, alarm.org_id)) | {alarm.org_id}
    rank = SEVERITY_RANK.get(alarm.severity, 4)
    for hook in session.scalars(select(Webhook).where(Webhook.enabled.is_(True), Webhook.org_id.in_(orgs))):
        if rank <= SEVERITY_RANK.get(hook.min_severity, 4):
            session.add(OutboxMessage(channel="webhook", target=str(hook.id), payload=payload, created_at=now,
                                      next_attempt_at=now))
    if ALARM_EVENTS is not None:
        ALARM_EVENTS.labels(kind).inc()


def alarm_status(alarm: Alarm) -> str:
    """ThingsBoard's combined status: ACTIVE_UNACK, ACTIVE_ACK, CLEARED_UNACK, CLEARED_ACK."""
    return schemas.alarm_status(alarm.cleared, alarm.acknowledged)


def alarm_raise(session: Session, actor: Actor, *, originator_type: str, originator_id: uuid.UUID,
                alarm_type: str, severity: str, details: dict[str, Any], org_id: uuid.UUID,
                rule_id: uuid.UUID | None = None, district_id: uuid.UUID | None = None,
                asset_path: Sequence[uuid.UUID] = (), lon: float | None = None, lat: float | None = None,
                name: str | None = None, at: datetime | None = None) -> tuple[Alarm, bool]:
    """Raise an alarm, or re-trigger the open one of the same originator and type; returns (alarm, created)."""
    at = at or clock.now()
    open_alarm = session.scalar(select(Alarm).where(Alarm.originator_id == originator_id, Alarm.type == alarm_type,
                                                    Alarm.cleared.is_(False)))
    if open_alarm is None:
        if name is None and originator_type == "device":
            name = device_name(session, originator_id)
        alarm = Alarm(org_id=org_id, originator_type=originator_type, originator_id=originator_id,
                      originator_name=(name or str(originator_id)[:8])[:200], type=alarm_type, severity=severity,
                      start_ts=at, end_ts=at, details=details, rule_id=rule_id, district_id=district_id, lon=lon,
                      lat=lat, count=1)
        try:
            with session.begin_nested():
                session.add(alarm)
                session.flush()
        except IntegrityError:
            # another worker raised the same (originator, type) a moment ago: the database kept one; count on it
            open_alarm = session.scalar(select(Alarm).where(Alarm.originator_id == originator_id,
                                                            Alarm.type == alarm_type, Alarm.cleared.is_(False)))
            if open_alarm is None:
                raise
        else:
            scopes = {(a, "asset") for a in asset_path}
            if district_id is not None:
                scopes.add((district_id, "district"))
            for entity_id, kind in scopes:
                session.add(AlarmScope(alarm_id=alarm.id, entity_id=entity_id, entity_kind=kind))
            session.flush()
            core.audit_record(session, actor, "alarm_raise", target_type="ops_alarm", target_id=alarm.id,
                              org_id=org_id, after={"type": alarm_type, "severity": severity,
                                                    "originator_id": originator_id})
            _alarm_event(session, alarm, "created")
            return alarm, True
    previous = open_alarm.severity
    open_alarm.count += 1
    open_alarm.end_ts = max(clock.as_utc(open_alarm.end_ts), at)
    open_alarm.details = {**(open_alarm.details or {}), **details}
    if severity != previous:
        open_alarm.severity = severity
        _alarm_event(session, open_alarm, "severity_changed")
    session.flush()
    return open_alarm, False


_names: dict[uuid.UUID, str] = {}
_names_loaded_at = [-1e9]
NAMES_REFRESH_S = 30.0


def device_name(session: Session, device_id: uuid.UUID) -> str:
    """A device's name for a new alarm, from a per-process cache of every device (names change rarely).

    Raising must stay cheap inside the ingest batch; a miss reloads all names at most every 30 s, otherwise asks
    connect for the one device.
    """
    name = _names.get(device_id)
    if name is not None:
        return name
    if time_mod.monotonic() - _names_loaded_at[0] > NAMES_REFRESH_S:
        _names.update({r.device_id: r.name for r in devices.device_refs(session, status=None)})
        _names_loaded_at[0] = time_mod.monotonic()
        name = _names.get(device_id)
    if name is None:
        ref = devices.device_ref(session, device_id)
        name = ref.name if ref is not None else ""
        if ref is not None:
            _names[device_id] = name
    return name


def alarm_clear_by_rule(session: Session, originator_id: uuid.UUID, alarm_type: str, at: datetime,
                        details: dict[str, Any]) -> bool:
    """The rule's clear condition held: clear the open alarm (the engine's own clear)."""
    alarm = session.scalar(select(Alarm).where(Alarm.originator_id == originator_id, Alarm.type == alarm_type,
                                               Alarm.cleared.is_(False)))
    if alarm is None:
        return False
    alarm.cleared, alarm.clear_ts = True, at
    alarm.details = {**(alarm.details or {}), "cleared_by": "rule", "clear_details": details}
    session.flush()
    core.audit_record(session, ENGINE_ACTOR, "alarm_clear", target_type="ops_alarm", target_id=alarm.id,
                      org_id=alarm.org_id, after={"cleared": True, "by": "rule"})
    _alarm_event(session, alarm, "cleared")
    return True


def alarm_create(session: Session, actor: Actor, data: AlarmCreate) -> Alarm:
    """Raise an alarm by hand (re-triggers the open one of that originator and type)."""
    policies.alarm_create(actor)
    org_id: uuid.UUID | None = None
    name = ""
    district_id = None
    path: Sequence[uuid.UUID] = ()
    lon = lat = None
    if data.originator_type == "device":
        ref = devices.device_ref(session, data.originator_id)
        if ref is not None:
            org_id, name, district_id, path, lon, lat = (ref.org_id, ref.name, ref.district_id, ref.asset_path,
                                                         ref.lon, ref.lat)
    else:
        aref = devices.asset_ref(session, data.originator_id)
        if aref is not None:
            org_id, name, district_id, path, lon, lat = (aref.org_id, aref.name, aref.district_id, aref.path,
                                                         aref.lon, aref.lat)
    if org_id is None:
        raise ValidationFailed(_("Unknown originator"), field="originator_id")
    alarm, _created = alarm_raise(session, actor, originator_type=data.originator_type,
                                  originator_id=data.originator_id, alarm_type=data.type,
                                  severity=data.severity.value, details=data.details, org_id=org_id,
                                  district_id=district_id, asset_path=path, lon=lon, lat=lat, name=name)
    return alarm


def _alarm_visible_filter(actor: Actor) -> Any:
    if policies.sees_all(actor):
        return True
    orgs = policies.work_orgs(actor)
    return or_(Alarm.org_id.in_(orgs), Alarm.district_id.in_(orgs))


def _visible_alarm(session: Session, actor: Actor, alarm_id: uuid.UUID) -> Alarm:
    alarm = get_or_404(session, Alarm, alarm_id, "Alarm")
    if not policies.visible(actor, alarm.org_id, alarm.district_id):
        raise NotFound(_("Alarm not found"), details={"id": str(alarm_id)})
    return alarm


def alarm_get(session: Session, actor: Actor, alarm_id: uuid.UUID) -> Alarm:
    """One alarm the actor may see."""
    return _visible_alarm(session, actor, alarm_id)


def alarm_query(actor: Actor, *, active: bool | None = None, severity: str | None = None,
                district_id: uuid.UUID | None = None, entity_id: uuid.UUID | None = None,
                acknowledged: bool | None = None, alarm_type: str | None = None) -> Select[Any]:
    """Alarms the actor may see, filtered; `entity_id` is an asset (alarms propagated up to it) or a district."""
    stmt = select(Alarm).where(_alarm_visible_filter(actor))
    if active is not None:
        stmt = stmt.where(Alarm.cleared.is_(not active))
    if severity:
        stmt = stmt.where(Alarm.severity == severity)
    if district_id:
        stmt = stmt.where(Alarm.district_id == district_id)
    if acknowledged is not None:
        stmt = stmt.where(Alarm.acknowledged.is_(acknowledged))
    if alarm_type:
        stmt = stmt.where(Alarm.type == alarm_type)
    if entity_id:
        stmt = stmt.where(or_(Alarm.originator_id == entity_id, Alarm.id.in_(
            select(AlarmScope.alarm_id).where(AlarmScope.entity_id == entity_id))))
    return stmt


def alarm_list(session: Session, actor: Actor, page: PageParams, **filters: Any) -> tuple[list[Alarm], int]:
    """Alarms the actor may see, newest first."""
    policies.read(actor)
    return paginate(session, alarm_query(actor, **filters).order_by(Alarm.start_ts.desc(), Alarm.id), page)


def _reset_rule_state(session: Session, alarm: Alarm) -> None:
    if alarm.rule_id is not None:
        session.execute(update(RuleState).where(RuleState.id == state_id(alarm.rule_id, alarm.originator_id))
                        .values(active=False, pending_since=None, count=0, due_at=None,
                                version=new_version()))


def alarm_acknowledge(session: Session, actor: Actor, alarm_id: uuid.UUID) -> Alarm:
    """Acknowledge an alarm (409 when it already is)."""
    alarm = _visible_alarm(session, actor, alarm_id)
    policies.alarm_acknowledge(actor, alarm.org_id)
    if alarm.acknowledged:
        raise Conflict(_("The alarm is already acknowledged"), code="already_acknowledged")
    alarm.acknowledged, alarm.ack_ts = True, clock.now()
    session.flush()
    core.audit_record(session, actor, "alarm_acknowledge", target_type="ops_alarm", target_id=alarm.id,
                      org_id=alarm.org_id, after={"acknowledged": True})
    _alarm_event(session, alarm, "acknowledged")
    return alarm


def alarm_clear(session: Session, actor: Actor, alarm_id: uuid.UUID) -> Alarm:
    """Clear an alarm by hand (409 when it already is); the rule's series starts over."""
    alarm = _visible_alarm(session, actor, alarm_id)
    policies.alarm_clear(actor, alarm.org_id)
    if alarm.cleared:
        raise Conflict(_("The alarm is already cleared"), code="already_cleared")
    alarm.cleared, alarm.clear_ts = True, clock.now()
    alarm.details = {**(alarm.details or {}), "cleared_by": actor.username}
    session.flush()
    _reset_rule_state(session, alarm)
    core.audit_record(session, actor, "alarm_clear", target_type="ops_alarm", target_id=alarm.id,
                      org_id=alarm.org_id, after={"cleared": True})
    _alarm_event(session, alarm, "cleared")
    return alarm


def alarm_assign(session: Session, actor: Actor, alarm_id: uuid.UUID, assignee_id: uuid.UUID | None) -> Alarm:
    """Assign an alarm to a user who may see it (or unassign)."""
    alarm = _visible_alarm(session, actor, alarm_id)
    policies.alarm_assign(actor, alarm.org_id)
    if assignee_id is not None:
        try:
            user = core.user_get(session, Actor.system("ops"), assignee_id)
        except NotFound as exc:
            raise ValidationFailed(_("Unknown user"), field="assignee_id") from exc
        assignee = core.actor_for_user(session, user)
        if not policies.visible(assignee, alarm.org_id, alarm.district_id):
            raise ValidationFailed(_("That user cannot see this alarm"), field="assignee_id")
    with core.audited(session, actor, "alarm_assign", alarm, ("assignee_id",), target_type="ops_alarm",
                      org_id=alarm.org_id):
        alarm.assignee_id = assignee_id
    return alarm


def alarm_stats(session: Session, actor: Actor, district_id: uuid.UUID | None = None) -> AlarmStats:
    """Active alarms by severity and by district."""
    policies.read(actor)
    base = alarm_query(actor, active=True, district_id=district_id).subquery()
    by_sev = {str(s): int(n) for s, n in session.execute(
        select(base.c.severity, func.count()).group_by(base.c.severity)).all()}
    by_district = {str(d): int(n) for d, n in session.execute(
        select(base.c.district_id, func.count()).where(base.c.district_id.is_not(None))
        .group_by(base.c.district_id)).all()}
    unack = session.scalar(select(func.count()).select_from(base).where(base.c.acknowledged.is_(False))) or 0
    return AlarmStats(by_severity={s.value: by_sev.get(s.value, 0) for s in Severity}, by_district=by_district,
                      total_active=sum(by_sev.values()), unacknowledged=int(unack))


# ---------------------------------------------------------------- routing


def routing_rule_create(session: Session, actor: Actor, data: RoutingRuleCreate) -> RoutingRule:
    """Add a line to the routing table."""
    policies.routing_rule_write(actor)
    core.area_reference(session, data.district_id)
    org_exists(session, data.target_org_id, "target_org_id")
    if not data.use_asset_owner and data.target_org_id is None:
        raise ValidationFailed(_("Route to a department or to the asset's owner"), field="target_org_id")
    row = RoutingRule(**data.model_dump())
    session.add(row)
    session.flush()
    core.audit_record(session, actor, "routing_rule_create", target_type="ops_routing_rule", target_id=row.id,
                      after=data.model_dump())
    return row


def routing_rule_list(session: Session, actor: Actor) -> list[RoutingRule]:
    """The routing table in evaluation order."""
    policies.read(actor)
    return list(session.scalars(select(RoutingRule).order_by(RoutingRule.priority, RoutingRule.created_at)))


def routing_rule_delete(session: Session, actor: Actor, rule_id: uuid.UUID) -> None:
    """Remove a line of the routing table."""
    policies.routing_rule_write(actor)
    row = get_or_404(session, RoutingRule, rule_id, "Routing rule")
    core.audit_record(session, actor, "routing_rule_delete", target_type="ops_routing_rule", target_id=row.id,
                      before=core.snapshot(row, ("priority", "category", "district_id", "target_org_id")))
    session.delete(row)
    session.flush()


def route(session: Session, category: str, district_id: uuid.UUID | None,
          owner_org_id: uuid.UUID | None) -> uuid.UUID | None:
    """The department responsible: first matching routing line (category, district), else the fallback unit."""
    for row in session.scalars(select(RoutingRule).order_by(RoutingRule.priority, RoutingRule.created_at)):
        if row.category and row.category != category:
            continue
        if row.district_id and row.district_id != district_id:
            continue
        if row.use_asset_owner:
            if owner_org_id is not None:
                return owner_org_id
            continue
        return row.target_org_id
    code = get_settings().ops_fallback_org_code
    fallback = core.organization_by_code(session, code) if code else None
    return fallback.id if fallback else None


# ---------------------------------------------------------------- webhooks and the outbox


def _fernet() -> Fernet:
    key = hashlib.sha256(b"cityhub-ops-webhooks:" + get_settings().secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def webhook_host_allowed(url: str) -> bool:
    """Is the URL http(s) on a host of the egress allow-list (kit.egress; webhooks may call listed hosts only)?"""
    try:
        egress.check_url(url, listed_only=True)
    except egress.EgressDenied:
        return False
    return True


def webhook_create(session: Session, actor: Actor, data: WebhookCreate) -> Webhook:
    """Register a webhook for alarm events of a unit's subtree (the host must be configured)."""
    org_id = data.org_id or home_org(actor)
    org_exists(session, org_id, "org_id")
    policies.webhook_write(actor, org_id)
    if not webhook_host_allowed(data.url):
        raise ValidationFailed(_("Webhook targets are limited to the configured hosts"), field="url")
    hook = Webhook(org_id=org_id, url=data.url, secret_enc=_fernet().encrypt(data.secret.encode()).decode(),
                   min_severity=data.min_severity.value)
    session.add(hook)
    session.flush()
    core.audit_record(session, actor, "webhook_create", target_type="ops_webhook", target_id=hook.id, org_id=org_id,
                      after={"url": data.url, "secret": "***"})
    return hook


def webhook_list(session: Session, actor: Actor) -> list[Webhook]:
    """Webhooks of units the actor administers."""
    policies.read(actor)
    stmt = select(Webhook).order_by(Webhook.created_at)
    managed = policies.webhook_orgs(actor)
    if managed is not None:
        stmt = stmt.where(Webhook.org_id.in_(managed))
    return list(session.scalars(stmt))


def webhook_delete(session: Session, actor: Actor, webhook_id: uuid.UUID) -> None:
    """Remove a webhook (its undelivered messages are dropped)."""
    hook = get_or_404(session, Webhook, webhook_id, "Webhook")
    managed = policies.webhook_orgs(actor)
    if managed is not None and hook.org_id not in managed:
        raise NotFound(_("Webhook not found"), details={"id": str(webhook_id)})
    policies.webhook_write(actor, hook.org_id)
    core.audit_record(session, actor, "webhook_delete", target_type="ops_webhook", target_id=hook.id,
                      org_id=hook.org_id, before={"url": hook.url})
    session.execute(delete(OutboxMessage).where(OutboxMessage.channel == "webhook",
                                                OutboxMessage.target == str(hook.id),
                                                OutboxMessage.delivered.is_(False)))
    session.delete(hook)
    session.flush()


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 over `timestamp.body`, hex (header X-Cityhub-Signature: t=<ts>,v1=<hex>)."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def webhook_secret(hook: Webhook) -> str:
    """The decrypted signing secret (in memory only, for delivery)."""
    try:
        return _fernet().decrypt(hook.secret_enc.encode()).decode()
    except InvalidToken as exc:
        raise ServiceUnavailable(_("Stored webhook secret cannot be decrypted (was the secret key changed?)")) from exc


def outbox_due(session: Session, limit: int = 200, now: datetime | None = None) -> list[OutboxMessage]:
    """Undelivered messages whose next attempt is due, oldest first (locked on PostgreSQL)."""
    now = now or clock.now()
    stmt = select(OutboxMessage).where(OutboxMessage.delivered.is_(False), OutboxMessage.failed.is_(False),
                                       OutboxMessage.next_attempt_at <= now).order_by(OutboxMessage.id).limit(limit)
    if is_postgres(session):
        stmt = stmt.with_for_update(skip_locked=True)
    return list(session.scalars(stmt))


def outbox_mark(session: Session, msg: OutboxMessage, ok: bool, error: str = "") -> None:
    """Record a delivery attempt: delivered, or retried with exponential backoff until it gives up."""
    now = clock.now()
    msg.attempts += 1
    if ok:
        msg.delivered, msg.delivered_at, msg.last_error = True, now, ""
    else:
        msg.last_error = error[:1000]
        if msg.attempts >= WEBHOOK_MAX_ATTEMPTS:
            msg.failed = True
        else:
            msg.next_attempt_at = now + timedelta(seconds=WEBHOOK_BACKOFF_S * 2 ** (msg.attempts - 1))
    session.flush()


def outbox_stats(session: Session, actor: Actor) -> dict[str, int]:
    """Pending, delivered and failed outbox messages."""
    policies.read(actor)
    rows = session.execute(select(OutboxMessage.delivered, OutboxMessage.failed, func.count())
                           .group_by(OutboxMessage.delivered, OutboxMessage.failed)).all()
    out = {"pending": 0, "delivered": 0, "failed": 0}
    for delivered, failed, n in rows:
        out["delivered" if delivered else "failed" if failed else "pending"] += int(n)
    return out


def webhook_get_for_delivery(session: Session, webhook_id: str) -> Webhook | None:
    """The webhook an outbox message targets (None when it was removed)."""
    try:
        return session.get(Webhook, uuid.UUID(webhook_id))
    except ValueError:
        return None
