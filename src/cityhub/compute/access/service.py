"""Access: departments' consumer applications, their keys, and subscriptions to component versions.

A key is `chk_<prefix>_<secret>` (192 random bits), shown once; only its HMAC-SHA256 under a key derived from
CITYHUB_SECRET_KEY is stored, so a copy of the database lets nobody call the gateway. Revoking a key, disabling an
application or ending a subscription clears the gateway's cached resolutions in every process at commit (push
cache on PostgreSQL), so the next call is refused.

A subscription is requested by the application's unit and decided by the component owner's admins (or the
bureau); a component marked open to all units approves at once. A component reading 重要 or 核心 data (the highest
grade of its catalog entries) is approved as a sharing request of that data is, open to all or not: by the bureau
(核心: a bureau administrator); the owner's admins may refuse. Deprecated components take no new subscription.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from cityhub.compute import policies
from cityhub.compute.models import AppKey, Component, ComponentStatus, ComponentVersion, Subscription
from cityhub.compute.models import ConsumerApp as App
from cityhub.compute.models import SubscriptionStatus as SS
from cityhub.compute.registry import service as registry
from cityhub.compute.schemas import AppCreate, SubscriptionCreate, SubscriptionDecision
from cityhub.core import service as core
from cityhub.core.actor import Actor
from cityhub.kit import clock, labels
from cityhub.kit.errors import Conflict, Forbidden, NotFound, ValidationFailed, transition
from cityhub.kit.i18n import gettext as _
from cityhub.kit.refs import reference
from cityhub.kit.settings import get_settings

KEY_PREFIX = "chk"
SUB_TRANSITIONS: dict[SS, set[SS]] = {
    SS.PENDING: {SS.ACTIVE, SS.REJECTED, SS.REVOKED},
    SS.ACTIVE: {SS.REVOKED},
    SS.REJECTED: set(),
    SS.REVOKED: set(),
}


@lru_cache(maxsize=4)
def _hash_key(secret_key: str) -> bytes:
    # a key of its own, derived from the settings' secret: key hashes never equal API-token hashes
    return hmac.new(secret_key.encode(), b"cityhub compute app keys", hashlib.sha256).digest()


def key_hash(raw: str) -> str:
    """The stored form of a key: HMAC-SHA256 under a key derived from CITYHUB_SECRET_KEY (hex)."""
    return hmac.new(_hash_key(get_settings().secret_key), raw.encode(), hashlib.sha256).hexdigest()


# ---------------------------------------------------------------- applications


def _visible_app(actor: Actor, app: App | None) -> App:
    if app is None or not policies.sees_unit(actor, app.org_id):
        raise NotFound(_("Application not found"))
    return app


def app_get(session: Session, actor: Actor, app_id: uuid.UUID) -> App:
    """One application the actor may see."""
    return _visible_app(actor, session.get(App, app_id))


def app_list(session: Session, actor: Actor, org_id: uuid.UUID | None = None) -> list[App]:
    """Applications of the units the actor sees (or of one unit)."""
    stmt = select(App)
    if not policies.reads_all(actor):
        stmt = stmt.where(App.org_id.in_(policies.read_orgs(actor)))
    if org_id:
        stmt = stmt.where(App.org_id == org_id)
    return list(session.scalars(stmt.order_by(App.name)))


def app_create(session: Session, actor: Actor, data: AppCreate) -> App:
    """Register a consumer application of the unit."""
    reference("org_id", lambda: core.organization_get(session, actor, data.org_id))
    policies.app_create(actor, data.org_id)
    if session.scalar(select(App.id).where(App.org_id == data.org_id, App.name == data.name)) is not None:
        raise Conflict(_("The unit has an application of this name"),
                       details=[{"field": "name", "message": "taken"}])
    app = App(org_id=data.org_id, name=data.name, description=data.description)
    session.add(app)
    session.flush()
    core.audit_record(session, actor, "app_create", target_type="compute_app", target_id=app.id, org_id=app.org_id,
                      after={"name": app.name})
    return app


def app_disable(session: Session, actor: Actor, app_id: uuid.UUID, disabled: bool = True) -> App:
    """Stop (or restart) every call of the application at once."""
    app = app_get(session, actor, app_id)
    policies.app_update(actor, app.org_id)
    with core.audited(session, actor, "app_disable" if disabled else "app_enable", app, ("disabled",),
                      target_type="compute_app", org_id=app.org_id):
        app.disabled = disabled
    registry.gateway_changed(session)
    return app


def app_keys(session: Session, actor: Actor, app_id: uuid.UUID) -> list[AppKey]:
    """The application's keys (prefixes and dates only)."""
    app = app_get(session, actor, app_id)
    return list(session.scalars(select(AppKey).where(AppKey.app_id == app.id).order_by(AppKey.created_at.desc())))


def app_key_create(session: Session, actor: Actor, app_id: uuid.UUID) -> tuple[AppKey, str]:
    """Make a key; the raw key is returned this once. Rotation is a new key, then revoking the old one."""
    app = app_get(session, actor, app_id)
    policies.app_key_create(actor, app.org_id)
    prefix = secrets.token_hex(6)
    raw = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(24)}"
    key = AppKey(app_id=app.id, prefix=prefix, key_hash=key_hash(raw))
    session.add(key)
    session.flush()
    core.audit_record(session, actor, "app_key_create", target_type="compute_app_key", target_id=key.id,
                      org_id=app.org_id, after={"app": app.name, "prefix": prefix})
    return key, raw


def app_key_revoke(session: Session, actor: Actor, key_id: uuid.UUID) -> AppKey:
    """Revoke a key: the gateway refuses it from the moment this commits."""
    key = session.get(AppKey, key_id)
    app = _visible_app(actor, session.get(App, key.app_id) if key else None)
    assert key is not None  # _visible_app raised otherwise
    policies.app_key_revoke(actor, app.org_id)
    if key.revoked_at is not None:
        raise Conflict(_("The key is already revoked"))
    with core.audited(session, actor, "app_key_revoke", key, ("revoked_at",), target_type="compute_app_key",
                      org_id=app.org_id):
        key.revoked_at = clock.now()
    registry.gateway_changed(session)
    return key


def app_key_rotate(session: Session, actor: Actor, key_id: uuid.UUID) -> tuple[AppKey, str]:
    """A new key for the same application and the old one revoked, in one transaction."""
    key = session.get(AppKey, key_id)
    app = _visible_app(actor, session.get(App, key.app_id) if key else None)
    app_key_revoke(session, actor, key_id)
    return app_key_create(session, actor, app.id)


# ---------------------------------------------------------------- subscriptions


def _visible_sub(session: Session, actor: Actor, sub: Subscription | None) -> tuple[Subscription, App, Component]:
    if sub is not None:
        app = session.get(App, sub.app_id)
        comp = session.get(Component, sub.component_id)
        if app is not None and comp is not None and (policies.sees_unit(actor, app.org_id)
                                                     or policies.sees_unit(actor, comp.org_id)):
            return sub, app, comp
    raise NotFound(_("Subscription not found"))


def subscription_get(session: Session, actor: Actor, sub_id: uuid.UUID) -> Subscription:
    """One subscription, seen by the consumer's and the owner's units."""
    return _visible_sub(session, actor, session.get(Subscription, sub_id))[0]


def subscription_list(session: Session, actor: Actor, *, app_id: uuid.UUID | None = None,
                      component_id: uuid.UUID | None = None, status: str | None = None) -> list[dict[str, Any]]:
    """Subscriptions the actor sees (as consumer or owner), with names for lists."""
    stmt = (select(Subscription, App.name, App.org_id, Component.code, Component.name_zh, Component.org_id,
                   ComponentVersion.version)
            .join(App, App.id == Subscription.app_id).join(Component, Component.id == Subscription.component_id)
            .join(ComponentVersion, ComponentVersion.id == Subscription.version_id))
    if not (policies.reads_all(actor) or policies.reviews(actor)):
        orgs = policies.read_orgs(actor)
        stmt = stmt.where(or_(App.org_id.in_(orgs), Component.org_id.in_(orgs)))
    if app_id:
        stmt = stmt.where(Subscription.app_id == app_id)
    if component_id:
        stmt = stmt.where(Subscription.component_id == component_id)
    if status:
        stmt = stmt.where(Subscription.status == status)
    rows = session.execute(stmt.order_by(Subscription.created_at.desc())).all()
    return [{"subscription": r[0], "app_name": r[1], "app_org_id": r[2], "component_code": r[3],
             "component_name": r[4], "owner_org_id": r[5], "version": r[6]} for r in rows]


def subscription_queue(session: Session, actor: Actor) -> list[dict[str, Any]]:
    """Pending subscriptions the actor may decide (the owner's admins; the bureau sees all)."""
    rows = [r for r in subscription_list(session, actor, status=SS.PENDING) if _may_decide(actor, r["owner_org_id"])]
    grades: dict[uuid.UUID, str] = {}
    for r in rows:
        comp_id = r["subscription"].component_id
        if comp_id not in grades:
            comp = session.get(Component, comp_id)
            grades[comp_id] = registry.component_data_grade(session, comp) if comp is not None else "general"
        r["data_grade"] = grades[comp_id]
    return rows


def _may_decide(actor: Actor, owner_org_id: uuid.UUID) -> bool:
    try:
        policies.subscription_decide(actor, owner_org_id)
    except Forbidden:
        return False
    return True


def _check_quotas(values: dict[str, int | None]) -> None:
    m, d, mo = values.get("quota_per_minute"), values.get("quota_per_day"), values.get("quota_per_month")
    if m is not None and d is not None and m > d:
        raise ValidationFailed(_("The per-minute quota exceeds the daily one"), field="quota_per_minute")
    if d is not None and mo is not None and d > mo:
        raise ValidationFailed(_("The daily quota exceeds the monthly one"), field="quota_per_day")


def subscription_create(session: Session, actor: Actor, data: SubscriptionCreate) -> Subscription:
    """An application asks to call a published version; open components approve at once."""
    app = reference("app_id", lambda: app_get(session, actor, data.app_id))
    policies.subscription_create(actor, app.org_id)
    if app.disabled:
        raise Conflict(_("The application is disabled"), details=[{"field": "app_id", "message": "disabled"}])
    version = reference("component_code", lambda: registry.component_version_get(
        session, actor, data.component_code, data.version), _("Unknown component or version"))
    comp = session.get(Component, version.component_id)
    assert comp is not None  # the version's foreign key
    if comp.status != ComponentStatus.PUBLISHED or version.published_at is None:
        raise Conflict(_("Only published versions of published components take subscriptions"),
                       details=[{"field": "version", "message": f"component {comp.status}"}])
    if data.expires_at is not None and clock.as_utc(data.expires_at) <= clock.now():
        raise ValidationFailed(_("The expiry must lie in the future"), field="expires_at")
    quotas = {"quota_per_minute": data.quota_per_minute, "quota_per_day": data.quota_per_day,
              "quota_per_month": data.quota_per_month}
    _check_quotas(quotas)
    if session.scalar(select(Subscription.id).where(
            Subscription.app_id == app.id, Subscription.version_id == version.id,
            Subscription.status.in_([SS.PENDING, SS.ACTIVE]))) is not None:
        raise Conflict(_("The application already has this subscription"),
                       details=[{"field": "version", "message": "subscribed"}])
    sub = Subscription(app_id=app.id, component_id=comp.id, version_id=version.id, status=SS.PENDING,
                       quota_window=data.quota_window,
                       expires_at=clock.as_utc(data.expires_at) if data.expires_at else None, purpose=data.purpose,
                       requested_by=actor.user_id, **quotas)
    session.add(sub)
    session.flush()
    core.audit_record(session, actor, "subscription_create", target_type="compute_subscription", target_id=sub.id,
                      org_id=app.org_id, after={"app": app.name, "component": comp.code, "version": version.version,
                                                **quotas, "quota_window": str(data.quota_window)})
    if comp.open_to_all and registry.component_data_grade(session, comp) == "general":
        _decide(session, core.Actor.system("compute open component"), sub, comp, approve=True,
                note=NOTE_OPEN_TO_ALL)
    return sub


# Decision notes the platform writes are codes, shown in the reader's language (`decision_note_text`); people's own
# notes are shown as written. The English text stored before the code reads the same way.
NOTE_OPEN_TO_ALL = "open_to_all"
labels.register("compute.decision_note", {NOTE_OPEN_TO_ALL: "Approved at once: open to all units"})
_LEGACY_NOTES = {"open to all units": NOTE_OPEN_TO_ALL}


def decision_note_text(note: str | None) -> str:
    """A subscription's decision note as the reader reads it."""
    if not note:
        return ""
    code = _LEGACY_NOTES.get(note, note)
    if code in labels.vocabularies().get("compute.decision_note", {}):
        return labels.label(code, "compute.decision_note")
    return note


def _decide(session: Session, actor: Actor, sub: Subscription, comp: Component, *, approve: bool, note: str,
            quotas: dict[str, int | None] | None = None, window: str | None = None) -> Subscription:
    fields = ("status", "decision_note", "quota_per_minute", "quota_per_day", "quota_per_month", "quota_window")
    final: dict[str, Any] = {k: getattr(sub, k) for k in fields[2:]}
    final.update({k: v for k, v in (quotas or {}).items() if v is not None})
    if window is not None:
        final["quota_window"] = str(window)
    _check_quotas(final)  # before any change: a refused decision leaves the subscription as it was
    with core.audited(session, actor, "subscription_decide", sub, fields, target_type="compute_subscription",
                      org_id=comp.org_id):
        transition(sub, SS.ACTIVE if approve else SS.REJECTED, SUB_TRANSITIONS, "subscription")
        sub.decided_by, sub.decided_at, sub.decision_note = actor.user_id, clock.now(), note
        for k, v in final.items():
            setattr(sub, k, v)
    registry.gateway_changed(session)
    return sub


def subscription_decide(session: Session, actor: Actor, sub_id: uuid.UUID, data: SubscriptionDecision
                        ) -> Subscription:
    """The owner's admins (or the bureau) approve, possibly with quotas, or reject with a reason."""
    sub, _app, comp = _visible_sub(session, actor, session.get(Subscription, sub_id))
    policies.subscription_decide(actor, comp.org_id)
    if not data.approve and not data.note.strip():
        raise ValidationFailed(_("Say why the subscription is refused"), field="note")
    grade = registry.component_data_grade(session, comp)
    if data.approve and grade != "general":
        policies.subscription_approve_graded(actor, grade)
    quotas = {"quota_per_minute": data.quota_per_minute, "quota_per_day": data.quota_per_day,
              "quota_per_month": data.quota_per_month}
    return _decide(session, actor, sub, comp, approve=data.approve, note=data.note.strip(), quotas=quotas,
                   window=data.quota_window)


def subscription_revoke(session: Session, actor: Actor, sub_id: uuid.UUID, note: str = "") -> Subscription:
    """Either side ends a subscription; calls are refused from the moment this commits."""
    sub, app, comp = _visible_sub(session, actor, session.get(Subscription, sub_id))
    policies.subscription_revoke(actor, app.org_id, comp.org_id)
    with core.audited(session, actor, "subscription_revoke", sub, ("status", "decision_note"),
                      target_type="compute_subscription", org_id=comp.org_id):
        transition(sub, SS.REVOKED, SUB_TRANSITIONS, "subscription")
        if note:
            sub.decision_note = note
    registry.gateway_changed(session)
    return sub


def subscription_expiry(sub: Subscription, now: datetime | None = None) -> bool:
    """Has the subscription expired?"""
    return sub.expires_at is not None and sub.expires_at <= (now or clock.now())
