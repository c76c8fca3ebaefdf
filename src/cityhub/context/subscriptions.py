"""Subscriptions (ETSI GS CIM 009 v1.8 clause 5.8 / 5.2.12): CRUD, and matching changes to them.

A subscription belongs to a tenant (organisation) and sees what that organisation sees: its own entities, and
others' through a read grant to it or a public grant (`visible_to_org`). Every entity write of the store calls
`on_change` in the writing transaction; a matching subscription gets one Notification row in the outbox
(`ContextNotification`) holding the entities as they are after the change, so the notification exists exactly
when the change commits. `notify.deliver` (the `cityhub context worker`) sends them later: a dead endpoint never
slows a write.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import orjson
from sqlalchemy import ColumnElement, exists, func, or_, select
from sqlalchemy.orm import Session

from cityhub.context import entities as ent
from cityhub.context import policies, qlang
from cityhub.context.jsonld import LdContext, context_for
from cityhub.context.models import (
    NO_DATASET,
    ContextEntity,
    ContextEntityType,
    ContextGrant,
    ContextNotification,
    ContextSubscription,
)
from cityhub.context.problems import NgsiError, bad, not_found
from cityhub.core import service as core
from cityhub.core.actor import Actor
from cityhub.kit import clock, egress
from cityhub.kit.errors import Unauthorized
from cityhub.kit.i18n import gettext as _
from cityhub.kit.pagination import MAX_OFFSET

S = ContextSubscription
E = ContextEntity
FORMATS = ("normalized", "keyValues", "concise")
ACCEPTS = ("application/json", "application/ld+json")
MAX_LIMIT = 1000
_MEMBERS = {"id", "type", "@context", "subscriptionName", "description", "entities", "watchedAttributes", "q",
            "geoQ", "notification", "expiresAt", "isActive", "throttling", "timeInterval", "lang", "csf",
            "scopeQ", "status", "createdAt", "modifiedAt", "notificationTrigger", "jsonldContext"}


# ---- validation


def _names(raw: Any, field: str) -> list[str]:
    if not isinstance(raw, list) or not raw:
        raise bad(f"{field} must be a non-empty array of attribute names", field)
    return [ent.check_name(n, field) for n in raw]


def _selector(raw: Any, i: int) -> dict[str, str]:
    field = f"entities[{i}]"
    if not isinstance(raw, dict):
        raise bad(f"{field} must be an object", field)
    if not isinstance(raw.get("type"), str) or not raw["type"]:
        raise bad(f"{field}.type is required", f"{field}.type")
    out = {"type": ent.check_name(raw["type"], f"{field}.type")}
    if "id" in raw:
        out["id"] = ent.check_uri(raw["id"], f"{field}.id")
    if "idPattern" in raw:
        pattern = raw["idPattern"]
        try:
            re.compile(pattern if isinstance(pattern, str) else "(")
        except re.error as exc:
            raise bad(f"{field}.idPattern is not a regular expression: {exc}", f"{field}.idPattern") from None
        out["idPattern"] = pattern
    unknown = set(raw) - {"id", "idPattern", "type"}
    if unknown:
        raise bad(f"{field} has unknown members: {', '.join(sorted(unknown))[:100]}", field)
    return out


def check_endpoint_uri(uri: Any) -> str:
    """http(s) endpoints on hosts of the egress allow-list (as ops webhooks), or mqtt(s)://host[:port]/topic."""
    field = "notification.endpoint.uri"
    if not isinstance(uri, str) or not uri:
        raise bad("notification.endpoint.uri is required", field)
    parts = urlsplit(uri)
    if parts.scheme in ("mqtt", "mqtts"):
        host = (parts.hostname or "").lower()
        if not host or not parts.path.strip("/"):
            raise bad(f"{field}: an MQTT endpoint is mqtt://host[:port]/topic", field)
        if host not in egress.allowed_hosts():
            raise bad(f"{field}: {host} is not on the egress allow-list", field)
        return uri
    try:
        egress.check_url(uri, field=field, listed_only=True)
    except egress.EgressDenied:
        raise bad(f"{field}: http(s) endpoints on hosts of the egress allow-list only "
                  "(CITYHUB_EGRESS_ALLOWED_HOSTS), or mqtt://", field) from None
    return uri


def _notification(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise bad("notification is required (an object with an endpoint)", "notification")
    out: dict[str, Any] = {}
    if "attributes" in raw:
        out["attributes"] = _names(raw["attributes"], "notification.attributes")
    fmt = raw.get("format", "normalized")
    if fmt not in FORMATS:
        raise bad(f"notification.format must be one of {', '.join(FORMATS)}", "notification.format")
    out["format"] = fmt
    for flag in ("sysAttrs", "showChanges"):
        if flag in raw:
            if not isinstance(raw[flag], bool):
                raise bad(f"notification.{flag} must be true or false", f"notification.{flag}")
            out[flag] = raw[flag]
    endpoint = raw.get("endpoint")
    if not isinstance(endpoint, dict):
        raise bad("notification.endpoint is required", "notification.endpoint")
    ep: dict[str, Any] = {"uri": check_endpoint_uri(endpoint.get("uri"))}
    accept = endpoint.get("accept", "application/json")
    if accept not in ACCEPTS:
        raise bad(f"notification.endpoint.accept must be one of {', '.join(ACCEPTS)}", "notification.endpoint.accept")
    ep["accept"] = accept
    info = endpoint.get("receiverInfo")
    if info is not None:
        if not isinstance(info, list) or not all(
                isinstance(i, dict) and set(i) == {"key", "value"} and isinstance(i["key"], str)
                and re.fullmatch(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}", i["key"]) and isinstance(i["value"], str)
                and "\n" not in i["value"] and "\r" not in i["value"] for i in info):
            raise bad("receiverInfo is an array of {key, value} header names and values",
                      "notification.endpoint.receiverInfo")
        ep["receiverInfo"] = info
    out["endpoint"] = ep
    return out


def _geo_q(raw: Any, ctx: LdContext) -> dict[str, Any]:
    from cityhub.context.query import geo_query  # query builds on the store, which calls on_change

    if not isinstance(raw, dict):
        raise bad("geoQ must be an object", "geoQ")
    coords = raw.get("coordinates")
    text = coords if isinstance(coords, str) else orjson.dumps(coords).decode()
    geo_query(str(raw.get("georel", "")), raw.get("geometry"), text, raw.get("geoproperty"), ctx)  # checks it
    return {k: raw[k] for k in ("geometry", "coordinates", "georel", "geoproperty") if k in raw}


def parse(body: Any, ctx: LdContext) -> dict[str, Any]:
    """The checked members of a subscription (names as the client wrote them); 400 naming what is wrong."""
    if not isinstance(body, dict):
        raise bad("A subscription is a JSON object", "body")
    if body.get("type") != "Subscription":
        raise bad("type must be Subscription", "type")
    unknown = set(body) - _MEMBERS
    if unknown:
        raise bad(f"Unknown subscription members: {', '.join(sorted(unknown))[:100]}", sorted(unknown)[0])
    out = _scalars(body)
    if "entities" in body:
        if not isinstance(body["entities"], list) or not body["entities"]:
            raise bad("entities must be a non-empty array", "entities")
        out["entities"] = [_selector(s, i) for i, s in enumerate(body["entities"])]
    if "watchedAttributes" in body:
        out["watchedAttributes"] = _names(body["watchedAttributes"], "watchedAttributes")
    if "entities" not in out and "watchedAttributes" not in out:
        raise bad("Name entities or watchedAttributes", "entities")
    if "timeInterval" in body:
        out["timeInterval"] = _interval(body)
    if "notificationTrigger" in body:
        out["notificationTrigger"] = _triggers(body["notificationTrigger"])
    if "q" in body:
        if not isinstance(body["q"], str):
            raise bad("q must be a string", "q")
        qlang.parse(body["q"], ctx)
        out["q"] = body["q"]
    if "geoQ" in body:
        out["geoQ"] = _geo_q(body["geoQ"], ctx)
    out["notification"] = _notification(body.get("notification"))
    return out


def _interval(body: dict[str, Any]) -> float:
    """The `timeInterval` (clause 5.2.12): positive seconds; it excludes watchedAttributes and throttling."""
    t = body["timeInterval"]
    if isinstance(t, bool) or not isinstance(t, int | float) or not t > 0:
        raise bad("timeInterval is a positive number of seconds", "timeInterval")
    for other in ("watchedAttributes", "throttling"):
        if other in body:
            raise bad(f"timeInterval and {other} exclude each other: a periodic subscription has no {other}", other)
    return float(t)


TRIGGERS = ("entityCreated", "entityUpdated", "entityDeleted", "attributeCreated", "attributeUpdated",
            "attributeDeleted")
DEFAULT_TRIGGERS = ["attributeCreated", "attributeUpdated"]  # clause 5.2.12 when none is given


def _triggers(raw: Any) -> list[str]:
    if not isinstance(raw, list) or not raw or not all(isinstance(t, str) for t in raw):
        raise bad("notificationTrigger is a non-empty array of event names", "notificationTrigger")
    unknown = [t for t in raw if t not in TRIGGERS]
    if unknown:
        raise bad(f"notificationTrigger: unknown event {unknown[0][:40]!r}; use " + ", ".join(TRIGGERS),
                  "notificationTrigger")
    return list(dict.fromkeys(raw))


def _scalars(body: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("subscriptionName", "description", "lang"):
        if name in body:
            if not isinstance(body[name], str):
                raise bad(f"{name} must be a string", name)
            out[name] = body[name]
    if "expiresAt" in body:
        out["expiresAt"] = ent.parse_time(body["expiresAt"], "expiresAt")
    if "jsonldContext" in body:  # accepted, not applied: a notification carries the subscription's @context
        ent.check_uri(body["jsonldContext"], "jsonldContext")  # a URI or a 400 (ETSI TP 028_07_01)
    if "isActive" in body and not isinstance(body["isActive"], bool):
        raise bad("isActive must be true or false", "isActive")
    if "throttling" in body:
        t = body["throttling"]
        if isinstance(t, bool) or not isinstance(t, int | float) or t < 0:
            raise bad("throttling is a non-negative number of seconds", "throttling")
        out["throttling"] = t
    return out


def _apply(row: ContextSubscription, members: dict[str, Any], is_active: Any) -> None:
    before = (row.body or {}).get("timeInterval")
    row.body = members
    row.expires_at = datetime.fromisoformat(members["expiresAt"].replace("Z", "+00:00")) \
        if "expiresAt" in members else None
    row.throttling = float(members.get("throttling", 0))
    interval = members.get("timeInterval")
    if interval is None:
        row.next_periodic_at = None
    elif row.next_periodic_at is None or before != interval:
        row.next_periodic_at = clock.now()  # periodic: the current state at the next pass, then every interval
    if isinstance(is_active, bool):
        row.active = is_active


# ---- CRUD


def _org(actor: Actor, tenant: uuid.UUID | None) -> uuid.UUID:
    if not actor.is_authenticated:
        raise Unauthorized(_("Log in or send an API token"))
    org = tenant or actor.org_id
    if org is None:
        raise bad("Name the organisation in the NGSILD-Tenant header", "NGSILD-Tenant")
    return org


def _readable(actor: Actor) -> ColumnElement[bool] | None:
    if policies.reads_all(actor):
        return None
    return S.org_id.in_(policies.read_orgs(actor))


def subscription_get(session: Session, actor: Actor, sub_id: str, tenant: uuid.UUID | None) -> ContextSubscription:
    """A subscription the caller sees (its unit's; all for those who read every unit); ResourceNotFound else."""
    if not actor.is_authenticated:
        raise Unauthorized(_("Log in or send an API token"))
    ent.check_uri(sub_id, "subscriptionId")
    stmt = select(S).where(S.sub_id == sub_id)
    readable = _readable(actor)
    if readable is not None:
        stmt = stmt.where(readable)
    if tenant is not None:
        stmt = stmt.where(S.org_id == tenant)
    row = session.scalar(stmt)
    if row is None:
        raise not_found(f"Subscription {sub_id} not found")
    return row


def subscription_list(session: Session, actor: Actor, tenant: uuid.UUID | None, limit: int, offset: int
                      ) -> tuple[list[ContextSubscription], int]:
    """A page of the subscriptions the caller sees, and their number."""
    if not actor.is_authenticated:
        raise Unauthorized(_("Log in or send an API token"))
    if not 0 <= limit <= MAX_LIMIT:
        raise bad(f"limit must be between 0 and {MAX_LIMIT}", "limit")
    if not 0 <= offset <= MAX_OFFSET:  # deeper is a search problem; also keeps OFFSET inside BIGINT
        raise bad(f"offset must be between 0 and {MAX_OFFSET}", "offset")
    clauses = [c for c in (_readable(actor), S.org_id == tenant if tenant is not None else None) if c is not None]
    rows = list(session.scalars(select(S).where(*clauses).order_by(S.created_at, S.sub_id).limit(limit)
                                .offset(offset))) if limit else []
    return rows, int(session.scalar(select(func.count()).select_from(S).where(*clauses)) or 0)


def _audit(session: Session, actor: Actor, action: str, row: ContextSubscription) -> None:
    core.audit_record(session, actor, action, target_type="context_subscription", target_id=row.sub_id,
                      org_id=row.org_id, after={"endpoint": row.body.get("notification", {}).get("endpoint", {})
                                                .get("uri", ""), "active": row.active})


def subscription_create(session: Session, actor: Actor, body: Any, ctx: LdContext, tenant: uuid.UUID | None
                        ) -> ContextSubscription:
    """Create a subscription of the tenant (409 AlreadyExists when its id is taken)."""
    org = _org(actor, tenant)
    policies.subscription_write(actor, org)
    members = parse(body, ctx)
    sub_id = ent.check_uri(body["id"], "id") if "id" in body else f"urn:ngsi-ld:Subscription:{uuid.uuid4()}"
    if session.scalar(select(S.id).where(S.sub_id == sub_id)) is not None:
        raise NgsiError("AlreadyExists", f"Subscription {sub_id} already exists")
    user = ctx.user
    row = S(id=uuid.uuid4(), sub_id=sub_id, org_id=org, created_by=actor.user_id,
            ld_context=[] if user is None else (user if isinstance(user, list) else [user]))
    _apply(row, members, body.get("isActive", True))
    session.add(row)
    session.flush()
    _audit(session, actor, "context_subscription_create", row)
    return row


def subscription_update(session: Session, actor: Actor, sub_id: str, body: Any, ctx: LdContext,
                        tenant: uuid.UUID | None) -> ContextSubscription:
    """Merge the members given into the subscription (null removes an optional member) and check it again."""
    row = subscription_get(session, actor, sub_id, tenant)
    policies.subscription_write(actor, row.org_id)
    if not isinstance(body, dict) or not [k for k in body if k != "@context"]:
        raise bad("The update is a non-empty JSON object", "body")
    if "id" in body and body["id"] != sub_id:
        raise bad("The id in the body differs from the id in the path", "id")
    merged: dict[str, Any] = {**row.body, "type": "Subscription"}
    for key, value in body.items():
        if key in ("@context", "id", "isActive", "type"):
            continue
        if value is None or value == ent.NULL:
            merged.pop(key, None)
        elif key == "notification" and isinstance(value, dict):
            merged[key] = {**row.body.get("notification", {}), **value}
        else:
            merged[key] = value
    _apply(row, parse(merged, context_for(row.ld_context or None)), body.get("isActive"))
    row.next_allowed_at = None
    row.modified_at = clock.now()
    session.flush()
    _audit(session, actor, "context_subscription_update", row)
    return row


def subscription_delete(session: Session, actor: Actor, sub_id: str, tenant: uuid.UUID | None) -> None:
    """Delete a subscription (its undelivered notifications go with it)."""
    row = subscription_get(session, actor, sub_id, tenant)
    policies.subscription_write(actor, row.org_id)
    _audit(session, actor, "context_subscription_delete", row)
    session.delete(row)
    session.flush()


def _time(at: datetime | None) -> str | None:
    return ent.time_text(at) if at is not None else None


def status(row: ContextSubscription, now: datetime | None = None) -> str:
    """Active | paused | expired."""
    now = now or clock.now()
    if row.expires_at is not None and row.expires_at <= now:
        return "expired"
    return "active" if row.active else "paused"


def render(row: ContextSubscription, sys_attrs: bool = False) -> dict[str, Any]:
    """The subscription as NGSI-LD answers it, status members included."""
    body = dict(row.body)
    notification = dict(body.pop("notification", {}))
    notification["timesSent"] = row.times_sent
    if row.times_sent:
        notification["status"] = "failed" if row.last_failure is not None and (
            row.last_success is None or row.last_failure > row.last_success) else "ok"
    for key, at in (("lastNotification", row.last_notification), ("lastSuccess", row.last_success),
                    ("lastFailure", row.last_failure)):
        if at is not None:
            notification[key] = _time(at)
    out: dict[str, Any] = {"id": row.sub_id, "type": "Subscription", **body, "notification": notification,
                           "isActive": row.active, "status": status(row)}
    if row.throttling == 0:
        out.pop("throttling", None)
    if sys_attrs:
        out["createdAt"], out["modifiedAt"] = _time(row.created_at), _time(row.modified_at)
    return out


# ---- matching changes


@dataclass(frozen=True)
class Changed:
    """An entity as a write left it, and the attributes (IRIs) the write touched (None: created, all of them)."""

    pk: uuid.UUID
    entity_id: str
    org_id: uuid.UUID
    types: list[str]
    attrs: dict[str, Any]
    created_at: datetime
    modified_at: datetime
    touched: frozenset[str] | None
    previous: dict[str, Any] | None = None  # the attributes before the write (None: created)
    deleted: bool = False  # the entity is being deleted (its last state above)

    def events(self) -> frozenset[str]:
        """The notificationTrigger events of this change."""
        if self.deleted:
            return frozenset({"entityDeleted"})
        if self.touched is None or self.previous is None:
            return frozenset({"entityCreated", "attributeCreated"})
        out = {"entityUpdated"}
        for iri in self.touched:
            out.add("attributeCreated" if iri not in self.previous else "attributeDeleted" if iri not in self.attrs
                    else "attributeUpdated")
        return frozenset(out)


def visible_to_org(org_id: uuid.UUID) -> ColumnElement[bool]:
    """What a unit sees as a subscriber: its own entities, others' through a grant to it or a public grant."""
    typed = select(ContextEntityType.entity_pk).where(
        ContextEntityType.entity_pk == E.id, ContextEntityType.type == ContextGrant.entity_type).correlate(
        E, ContextGrant).exists()
    granted = exists().where(ContextGrant.owner_org_id == E.org_id,
                             or_(ContextGrant.grantee_org_id.is_(None), ContextGrant.grantee_org_id == org_id),
                             or_(ContextGrant.entity_type == "", typed))
    return or_(E.org_id == org_id, granted)


def _selected(members: dict[str, Any], ctx: LdContext, c: Changed) -> bool:
    selectors = members.get("entities")
    if not selectors:
        return True
    for s in selectors:
        if ctx.expand(s["type"]) not in c.types:
            continue
        if "id" in s and s["id"] != c.entity_id:
            continue
        if "idPattern" in s and re.search(s["idPattern"], c.entity_id) is None:
            continue
        return True
    return False


def _watched(members: dict[str, Any], ctx: LdContext, c: Changed) -> bool:
    watched = members.get("watchedAttributes")
    if not watched or c.touched is None:
        return True
    return any(ctx.expand(n) in c.touched for n in watched)


def _sql_filter(session: Session, row: ContextSubscription, ctx: LdContext, members: dict[str, Any],
                candidates: list[Changed]) -> list[Changed]:
    from cityhub.context.query import _regexp

    dialect = session.get_bind().dialect.name
    clauses = [E.id.in_([c.pk for c in candidates]), visible_to_org(row.org_id)]
    if "q" in members:
        if dialect != "postgresql" and "~=" in members["q"]:
            _regexp(session)
        clauses.append(qlang.to_sql(qlang.parse(members["q"], ctx), E.attrs, dialect, E.id))
    keep = set(session.scalars(select(E.id).where(*clauses)))
    return geo_filter(members, ctx, [c for c in candidates if c.pk in keep])


def geo_filter(members: dict[str, Any], ctx: LdContext, candidates: list[Changed]) -> list[Changed]:
    """The candidates a subscription's `geoQ` keeps (all without one): shapely's exact test, as in queries."""
    from cityhub.context.query import geo_match, geo_query

    if "geoQ" not in members:
        return candidates
    g = members["geoQ"]
    coords = g.get("coordinates")
    geo = geo_query(str(g.get("georel", "")), g.get("geometry"),
                    coords if isinstance(coords, str) else orjson.dumps(coords).decode(), g.get("geoproperty"), ctx)
    return [c for c in candidates if any(geo_match(geo, inst.get("value"))
                                         for inst in c.attrs.get(geo.prop, {}).values() if isinstance(inst, dict))]


def notification(row: ContextSubscription, ctx: LdContext, entities: list[Changed]) -> dict[str, Any]:
    """The Notification for these entities, in the subscription's format and attribute projection."""
    members = row.body.get("notification", {})
    keep = frozenset(ctx.expand(n) for n in members["attributes"]) if members.get("attributes") else None
    view = ent.View(ctx, members.get("format", "normalized"), bool(members.get("sysAttrs")), keep)
    data = []
    for c in entities:
        if c.deleted:  # clause 5.2.12: the entity's id and type, and when it was deleted
            data.append({**ent.render(c.entity_id, c.types, {}, c.created_at, c.modified_at, ent.View(ctx)),
                         "deletedAt": ent.time_text(c.modified_at)})
            continue
        rendered = ent.render(c.entity_id, c.types, c.attrs, c.created_at, c.modified_at, view)
        if members.get("showChanges") and view.fmt == "normalized" and c.previous is not None:
            _show_changes(rendered, c, ctx)
        data.append(rendered)
    return {"id": f"urn:ngsi-ld:Notification:{uuid.uuid4()}", "type": "Notification",
            "subscriptionId": row.sub_id, "notifiedAt": ent.now_text(), "data": data}


def _show_changes(rendered: dict[str, Any], c: Changed, ctx: LdContext) -> None:
    """showChanges: each changed instance carries its value before the write (`previousValue`, `previousObject`…)."""
    assert c.previous is not None
    for iri in c.touched or ():
        shown = rendered.get(ctx.compact(iri))
        before = c.previous.get(iri, {})
        for inst in shown if isinstance(shown, list) else [shown] if isinstance(shown, dict) else []:
            old = before.get(inst.get("datasetId", NO_DATASET))
            key = ent.VALUE_KEY.get(str(inst.get("type")), "value")
            if old is not None and key in old and old.get(key) != inst.get(key):
                inst["previous" + key[0].upper() + key[1:]] = ent.render_instance(old, ent.View(ctx)).get(key)


Match = Callable[[Session, ContextSubscription, LdContext, dict[str, Any], list[Changed]], list[Changed]]


def on_change(session: Session, changes: list[Changed], match: Match | None = None) -> int:
    """Queue a notification for every active subscription these changes match; how many were queued.

    One query for the active subscriptions (none: done), then per subscription the entity selectors and
    watchedAttributes in memory, visibility and `q` as one SQL statement over the candidates, `geoQ` with shapely.
    `match` replaces the last step for entities that are not stored rows (connect's devices: `devicewatch`).
    """
    if not changes:
        return 0
    now = clock.now()
    subs = session.scalars(select(S).where(S.active.is_(True), or_(S.expires_at.is_(None), S.expires_at > now),
                                           S.next_periodic_at.is_(None))).all()  # periodic: context/periodic.py
    queued = 0
    for row in subs:
        if row.next_allowed_at is not None and row.next_allowed_at > now:
            continue  # throttled: this change is not notified
        ctx = context_for(row.ld_context or None)
        members = row.body
        triggers = frozenset(members.get("notificationTrigger") or DEFAULT_TRIGGERS)
        candidates = [c for c in changes if _selected(members, ctx, c) and _watched(members, ctx, c)
                      and c.events() & triggers]
        if not candidates:
            continue
        matched = (match or _sql_filter)(session, row, ctx, members, candidates)
        if not matched:
            continue
        session.add(ContextNotification(subscription_pk=row.id, payload=notification(row, ctx, matched),
                                        created_at=now, next_attempt_at=now))
        if row.throttling > 0:
            row.next_allowed_at = now + timedelta(seconds=row.throttling)
        queued += 1
    if queued:
        session.flush()
    return queued
