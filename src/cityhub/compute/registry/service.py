"""The registry: components, their immutable versions, and the lifecycle the bureau governs.

draft → in_review → published → deprecated → retired (a review may send a component back to draft; the bureau may
bring a deprecated one back). Published and deprecated components are visible to all staff; the rest to the owner
unit, the bureau and those who read every unit's (404 for anyone else, like an unknown code).
"""

from __future__ import annotations

import functools
import uuid
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from cityhub.compute import policies
from cityhub.compute.builtins import service as builtins
from cityhub.compute.models import Component, ComponentStatus, ComponentVersion, Subscription, SubscriptionStatus
from cityhub.compute.models import ConsumerApp as App
from cityhub.compute.registry import search
from cityhub.compute.schemas import SUBCATEGORIES, ComponentCreate, ComponentUpdate, VersionCreate, semver_key
from cityhub.core import service as core
from cityhub.core.actor import Actor
from cityhub.data import service as data
from cityhub.kit import clock, egress, pushcache
from cityhub.kit.errors import Conflict, NotFound, ValidationFailed, transition
from cityhub.kit.i18n import gettext as _
from cityhub.kit.pagination import PageParams, paginate
from cityhub.kit.refs import reference
from cityhub.kit.settings import get_settings

TRANSITIONS: dict[ComponentStatus, set[ComponentStatus]] = {
    ComponentStatus.DRAFT: {ComponentStatus.IN_REVIEW},
    ComponentStatus.IN_REVIEW: {ComponentStatus.PUBLISHED, ComponentStatus.DRAFT},
    ComponentStatus.PUBLISHED: {ComponentStatus.DEPRECATED},
    ComponentStatus.DEPRECATED: {ComponentStatus.RETIRED, ComponentStatus.PUBLISHED},
    ComponentStatus.RETIRED: set(),
}
PUBLIC_STATUSES = (ComponentStatus.PUBLISHED, ComponentStatus.DEPRECATED)
CALLABLE_STATUSES = PUBLIC_STATUSES
GATEWAY_NS = "compute_gateway"  # push-cache namespace of the gateway's resolutions, cleared by every change here
_FIELDS = ("name_zh", "name_en", "subcategory", "description", "tags", "docs", "sla", "catalog_entry_ids",
           "open_to_all", "price_per_call")


def gateway_changed(session: Session) -> None:
    """Clear the gateway's cached resolutions in every process when this transaction commits."""
    pushcache.invalidate(session, GATEWAY_NS)


def upstream_hosts() -> frozenset[str]:
    """The hosts an upstream version may name (CITYHUB_COMPUTE_UPSTREAM_ALLOWED_HOSTS)."""
    return egress.host_list(get_settings().compute_upstream_allowed_hosts)


# ---------------------------------------------------------------- validation


def _external_refs(node: Any, path: str = "") -> list[str]:
    """Paths of `$ref`s that point outside the document (the validator would fetch them: refused instead)."""
    out: list[str] = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref" and not (isinstance(v, str) and v.startswith("#")):
                out.append(path or "/")
            else:
                out += _external_refs(v, f"{path}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _external_refs(v, f"{path}/{i}")
    return out


def validate_openapi(doc: dict[str, Any], field: str = "openapi") -> None:
    """Refuse an interface that is not a valid OpenAPI 3 document, naming where it is wrong (422)."""
    from openapi_spec_validator import validate
    from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

    external = _external_refs(doc)
    if external:
        raise ValidationFailed(_("Only references inside the document ($ref starting with #) are allowed"),
                               field=field, details=[{"field": field, "message": f"external $ref at {p}"}
                                                     for p in external[:10]])
    if str(doc.get("openapi", "")).split(".")[0] != "3":
        raise ValidationFailed(_("An OpenAPI 3 document is required (its 'openapi' field, e.g. 3.1.0)"),
                               field=f"{field}.openapi")
    try:
        validate(doc)
    except OpenAPIValidationError as exc:
        where = "/".join(str(p) for p in exc.path)
        raise ValidationFailed(_("The OpenAPI document is not valid: {reason}", reason=exc.message),
                               field=f"{field}.{where.replace('/', '.')}" if where else field) from exc
    except Exception as exc:  # the validator's other failures (unresolvable pointers, bad types) are the caller's
        raise ValidationFailed(_("The OpenAPI document is not valid: {reason}", reason=str(exc)[:300]),
                               field=field) from exc


def _catalog_refs(session: Session, actor: Actor, ids: list[uuid.UUID]) -> list[str]:
    """Catalog entries the component reads: each must be one the actor may see (422 naming it otherwise)."""
    out = []
    for i, entry_id in enumerate(ids):
        reference(f"catalog_entry_ids[{i}]", functools.partial(data.catalog_entry_get, session, actor, entry_id))
        out.append(str(entry_id))
    return list(dict.fromkeys(out))


def _search_text(c: Component) -> str:
    words = search.segment(" ".join([c.name_zh, c.name_en, c.subcategory, c.description, " ".join(c.tags or [])]))
    return " ".join([c.code, *words])[:20_000]


# ---------------------------------------------------------------- reading


def _visible(actor: Actor, c: Component | None) -> Component:
    if c is None or not (c.status in PUBLIC_STATUSES or policies.sees_unit(actor, c.org_id)):
        raise NotFound(_("Component not found"))
    return c


def component_get(session: Session, actor: Actor, component_id: uuid.UUID) -> Component:
    """One component the actor may see (others are 404)."""
    return _visible(actor, session.get(Component, component_id))


def component_by_code(session: Session, actor: Actor, code: str) -> Component:
    """One component by its gateway code."""
    return _visible(actor, session.scalar(select(Component).where(Component.code == code)))


def component_list(session: Session, actor: Actor, page: PageParams, *, q: str = "", category: str | None = None,
                   status: str | None = None, org_id: uuid.UUID | None = None) -> tuple[list[Component], int]:
    """Components the actor may see; `q` matches the segmented names, tags and description (Chinese-aware)."""
    stmt = select(Component)
    if not (policies.reads_all(actor) or policies.reviews(actor)):
        stmt = stmt.where(or_(Component.status.in_([s.value for s in PUBLIC_STATUSES]),
                              Component.org_id.in_(policies.read_orgs(actor))))
    if q.strip():
        for tok in search.segment(q)[:8] or [q.strip().lower()]:
            like = f"%{tok}%"
            stmt = stmt.where(or_(Component.search_text.ilike(like), Component.code.ilike(like),
                                  Component.name_zh.ilike(like)))
    if category:
        stmt = stmt.where(Component.category == category)
    if status:
        stmt = stmt.where(Component.status == status)
    if org_id:
        stmt = stmt.where(Component.org_id == org_id)
    return paginate(session, stmt.order_by(Component.category, Component.code), page)


def component_review_queue(session: Session, actor: Actor) -> list[Component]:
    """Components waiting for the bureau."""
    policies.component_review(actor)
    return list(session.scalars(select(Component).where(Component.status == ComponentStatus.IN_REVIEW)
                                .order_by(Component.updated_at)))


def component_version_queue(session: Session, actor: Actor) -> list[tuple[Component, ComponentVersion]]:
    """Versions added to published (or deprecated) components and waiting for the bureau to publish them."""
    policies.component_version_publish(actor)
    rows = session.execute(select(Component, ComponentVersion)
                           .join(ComponentVersion, ComponentVersion.component_id == Component.id)
                           .where(Component.status.in_([s.value for s in PUBLIC_STATUSES]),
                                  ComponentVersion.published_at.is_(None))
                           .order_by(ComponentVersion.created_at)).all()
    return [(c, v) for c, v in rows]


def component_versions(session: Session, actor: Actor, component_id: uuid.UUID) -> list[ComponentVersion]:
    """Versions, newest first (by semver)."""
    c = component_get(session, actor, component_id)
    rows = list(session.scalars(select(ComponentVersion).where(ComponentVersion.component_id == c.id)))
    return sorted(rows, key=lambda v: semver_key(v.version), reverse=True)


def component_version_get(session: Session, actor: Actor, code: str, version: str) -> ComponentVersion:
    """One version by component code and semver."""
    c = component_by_code(session, actor, code)
    v = session.scalar(select(ComponentVersion).where(ComponentVersion.component_id == c.id,
                                                      ComponentVersion.version == version))
    if v is None:
        raise NotFound(_("Version not found"), details={"version": version})
    return v


def component_consumers(session: Session, actor: Actor, component_id: uuid.UUID) -> list[dict[str, Any]]:
    """Who uses this: active subscriptions' applications and units (the owner and readers of every unit see all)."""
    c = component_get(session, actor, component_id)
    rows = session.execute(
        select(App.id, App.name, App.org_id, ComponentVersion.version, Subscription.status)
        .join(Subscription, Subscription.app_id == App.id)
        .join(ComponentVersion, ComponentVersion.id == Subscription.version_id)
        .where(Subscription.component_id == c.id, Subscription.status == SubscriptionStatus.ACTIVE)
        .order_by(App.name)).all()
    whole = policies.sees_unit(actor, c.org_id)
    return [{"app_id": r[0], "app_name": r[1], "org_id": r[2], "version": r[3]} for r in rows
            if whole or policies.sees_unit(actor, r[2])]


def component_dependencies(session: Session, actor: Actor, component_id: uuid.UUID) -> list[dict[str, Any]]:
    """What this depends on: the catalog entries it reads, with their security grade (those the actor may see)."""
    c = component_get(session, actor, component_id)
    out = []
    for raw in c.catalog_entry_ids or []:
        try:
            e = data.catalog_entry_get(session, actor, uuid.UUID(str(raw)))
        except NotFound:
            continue
        out.append({"id": e.id, "code": e.code, "title": e.title, "security_grade": e.security_grade})
    return out


GRADE_RANK = {"general": 0, "important": 1, "core": 2}  # GB/T 43697-2024, data.schemas.GRADES
_GRADE_READER = Actor.system("compute data grade")


def component_data_grade(session: Session, c: Component) -> str:
    """The highest security grade of the catalog entries the component reads (`general` when it reads none).

    Read with the platform's rights: the grade decides who approves a subscription, whoever asks.
    """
    best = "general"
    for raw in c.catalog_entry_ids or []:
        try:
            grade = str(data.catalog_entry_get(session, _GRADE_READER, uuid.UUID(str(raw))).security_grade)
        except (NotFound, ValueError):
            continue
        if GRADE_RANK.get(grade, 0) > GRADE_RANK[best]:
            best = grade
    return best


# ---------------------------------------------------------------- writes


def component_create(session: Session, actor: Actor, data_in: ComponentCreate) -> Component:
    """Register a component as a draft of the owner's unit."""
    reference("org_id", lambda: core.organization_get(session, actor, data_in.org_id))
    policies.component_create(actor, data_in.org_id)
    if session.scalar(select(Component.id).where(Component.code == data_in.code)) is not None:
        raise Conflict(_("A component with this code exists"), details=[{"field": "code", "message": "taken"}])
    if data_in.openapi:
        validate_openapi(data_in.openapi)
    c = Component(code=data_in.code, name_zh=data_in.name_zh, name_en=data_in.name_en, category=data_in.category,
                  subcategory=data_in.subcategory, org_id=data_in.org_id, description=data_in.description,
                  tags=data_in.tags, openapi=data_in.openapi, docs=data_in.docs,
                  sla=data_in.sla.model_dump(exclude_none=True),
                  catalog_entry_ids=_catalog_refs(session, actor, data_in.catalog_entry_ids),
                  open_to_all=data_in.open_to_all, price_per_call=data_in.price_per_call,
                  status=ComponentStatus.DRAFT)
    c.search_text = _search_text(c)
    session.add(c)
    session.flush()
    core.audit_record(session, actor, "component_create", target_type="compute_component", target_id=c.id,
                      org_id=c.org_id, after={"code": c.code, "name_zh": c.name_zh, "category": c.category})
    return c


def component_update(session: Session, actor: Actor, component_id: uuid.UUID, data_in: ComponentUpdate
                     ) -> Component:
    """Change a draft (a submitted or published component is changed by a new version, or sent back first)."""
    c = component_get(session, actor, component_id)
    policies.component_update(actor, c.org_id)
    if c.status != ComponentStatus.DRAFT:
        raise Conflict(_("Only a draft component can be changed"), details={"status": c.status})
    values = data_in.model_dump(exclude_unset=True)
    if values.get("openapi"):
        validate_openapi(values["openapi"])
    with core.audited(session, actor, "component_update", c, (*_FIELDS, "openapi"), target_type="compute_component",
                      org_id=c.org_id):
        for k, v in values.items():
            if k == "catalog_entry_ids":
                v = _catalog_refs(session, actor, data_in.catalog_entry_ids or [])
            elif k == "sla":
                v = data_in.sla.model_dump(exclude_none=True) if data_in.sla else {}
            elif k == "tags":
                v = list(dict.fromkeys(t.strip() for t in v if t.strip()))
            setattr(c, k, v)
        c.search_text = _search_text(c)
    return c


def component_delete(session: Session, actor: Actor, component_id: uuid.UUID) -> None:
    """Delete a draft that nobody ever subscribed to."""
    c = component_get(session, actor, component_id)
    policies.component_delete(actor, c.org_id)
    if c.status != ComponentStatus.DRAFT:
        raise Conflict(_("Only a draft component can be deleted"), details={"status": c.status})
    if session.scalar(select(Subscription.id).where(Subscription.component_id == c.id).limit(1)) is not None:
        raise Conflict(_("The component has subscriptions"))
    core.audit_record(session, actor, "component_delete", target_type="compute_component", target_id=c.id,
                      org_id=c.org_id, before={"code": c.code})
    session.delete(c)
    session.flush()


def component_version_create(session: Session, actor: Actor, component_id: uuid.UUID, data_in: VersionCreate
                             ) -> ComponentVersion:
    """Add an immutable version; on a published component it waits for the bureau to publish it."""
    c = component_get(session, actor, component_id)
    policies.component_version_create(actor, c.org_id)
    if c.status == ComponentStatus.RETIRED:
        raise Conflict(_("A retired component takes no new version"), details={"status": c.status})
    if session.scalar(select(ComponentVersion.id).where(ComponentVersion.component_id == c.id,
                                                        ComponentVersion.version == data_in.version)) is not None:
        raise Conflict(_("This version exists; versions are immutable, add a new one"),
                       details=[{"field": "version", "message": "taken"}])
    if data_in.kind == "builtin":
        if data_in.upstream_url:
            raise ValidationFailed(_("A built-in version has no upstream URL"), field="upstream_url")
        if builtins.builtin_get(data_in.builtin) is None:
            raise ValidationFailed(_("Unknown built-in handler; one of: {names}",
                                     names=", ".join(builtins.builtin_names())), field="builtin")
    else:
        if data_in.builtin:
            raise ValidationFailed(_("An upstream version names no built-in handler"), field="builtin")
        if not data_in.upstream_url:
            raise ValidationFailed(_("An upstream version needs its URL"), field="upstream_url")
        egress.check_url(data_in.upstream_url, field="upstream_url", listed_only=True, hosts=upstream_hosts())
    v = ComponentVersion(component_id=c.id, version=data_in.version, kind=data_in.kind,
                         upstream_url=data_in.upstream_url.rstrip("/"), builtin=data_in.builtin,
                         changelog=data_in.changelog)
    session.add(v)
    session.flush()
    core.audit_record(session, actor, "component_version_create", target_type="compute_component_version",
                      target_id=v.id, org_id=c.org_id,
                      after={"component": c.code, "version": v.version, "kind": v.kind,
                             "upstream_url": v.upstream_url, "builtin": v.builtin})
    return v


def _move(session: Session, actor: Actor, c: Component, target: ComponentStatus, action: str, note: str = ""
          ) -> Component:
    with core.audited(session, actor, action, c, ("status", "review_note"), target_type="compute_component",
                      org_id=c.org_id):
        transition(c, target, TRANSITIONS, "component")
        if note:
            c.review_note = note
    gateway_changed(session)
    return c


def component_submit(session: Session, actor: Actor, component_id: uuid.UUID) -> Component:
    """Send a draft to the bureau: it needs its interface and at least one version."""
    c = component_get(session, actor, component_id)
    policies.component_submit(actor, c.org_id)
    if not c.openapi:
        raise ValidationFailed(_("Describe the interface (an OpenAPI document) before submitting"), field="openapi")
    if session.scalar(select(ComponentVersion.id).where(ComponentVersion.component_id == c.id).limit(1)) is None:
        raise ValidationFailed(_("Add a version before submitting"), field="versions")
    return _move(session, actor, c, ComponentStatus.IN_REVIEW, "component_submit")


def component_review(session: Session, actor: Actor, component_id: uuid.UUID, approve: bool, note: str = ""
                     ) -> Component:
    """The bureau publishes a submitted component (and its versions) or sends it back to draft with a note."""
    c = component_get(session, actor, component_id)
    policies.component_review(actor)
    if not approve and not note.strip():
        raise ValidationFailed(_("Say why the component goes back"), field="note")
    target = ComponentStatus.PUBLISHED if approve else ComponentStatus.DRAFT
    _move(session, actor, c, target, "component_review", note.strip())
    if approve:
        now = clock.now()
        for v in session.scalars(select(ComponentVersion).where(ComponentVersion.component_id == c.id,
                                                               ComponentVersion.published_at.is_(None))):
            v.published_at = now
        session.flush()
    return c


def component_version_publish(session: Session, actor: Actor, version_id: uuid.UUID) -> ComponentVersion:
    """The bureau publishes a version added to an already published component."""
    v = session.get(ComponentVersion, version_id)
    c = _visible(actor, session.get(Component, v.component_id) if v else None)
    assert v is not None  # _visible raised otherwise
    policies.component_version_publish(actor)
    if c.status not in PUBLIC_STATUSES:
        raise Conflict(_("The component is not published; review it instead"), details={"status": c.status})
    if v.published_at is not None:
        raise Conflict(_("This version is already published"))
    v.published_at = clock.now()
    session.flush()
    core.audit_record(session, actor, "component_version_publish", target_type="compute_component_version",
                      target_id=v.id, org_id=c.org_id, after={"component": c.code, "version": v.version})
    gateway_changed(session)
    return v


def component_deprecate(session: Session, actor: Actor, component_id: uuid.UUID, note: str = "") -> Component:
    """No new subscriptions; existing ones keep calling."""
    c = component_get(session, actor, component_id)
    policies.component_deprecate(actor, c.org_id)
    return _move(session, actor, c, ComponentStatus.DEPRECATED, "component_deprecate", note)


def component_retire(session: Session, actor: Actor, component_id: uuid.UUID, note: str = "") -> Component:
    """The gateway stops answering it (404) from the moment this commits."""
    c = component_get(session, actor, component_id)
    policies.component_retire(actor, c.org_id)
    return _move(session, actor, c, ComponentStatus.RETIRED, "component_retire", note)


def component_reinstate(session: Session, actor: Actor, component_id: uuid.UUID) -> Component:
    """The bureau brings a deprecated component back to published."""
    c = component_get(session, actor, component_id)
    policies.component_reinstate(actor)
    return _move(session, actor, c, ComponentStatus.PUBLISHED, "component_reinstate")


def subcategories() -> dict[str, tuple[str, ...]]:
    """The usual sub-categories per category (forms offer them; others may be typed)."""
    return SUBCATEGORIES
