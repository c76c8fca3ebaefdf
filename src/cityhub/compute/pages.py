"""Capability hub pages: the catalogue, a component, my applications, the approval and review queues, usage.

Every form posts, redirects and shows its outcome as a flash message (kit.web.form_action); an application's key
is shown once, on the page view right after it was made (kept in the signed session until then, never in a URL).
What a page lists is what the compute services let the caller see: another unit's draft is a 404, a queue the
caller may not work is a 403.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import Response

from cityhub.compute import policies, schemas
from cityhub.compute import service as compute
from cityhub.compute.jobs import pages as jobs_pages
from cityhub.core import service as core
from cityhub.core.deps import CurrentActor
from cityhub.core.permissions import P
from cityhub.kit import clock, i18n, safejson
from cityhub.kit.errors import Forbidden, ValidationFailed
from cityhub.kit.i18n import gettext as _
from cityhub.kit.pagination import PageParams
from cityhub.kit.settings import get_settings
from cityhub.kit.web import DbSession, NavItem, SessionRoute, form_action, register_nav, render

router = APIRouter(prefix="/compute", include_in_schema=False, route_class=SessionRoute)
register_nav(
    NavItem("compute", "Capability hub", "/compute", order=10),
    NavItem("compute", "My apps", "/compute/apps", order=20, permissions=(P.COMPUTE_CONSUME,)),
    NavItem("compute", "Subscription approvals", "/compute/approvals", order=30,
            permissions=(P.COMPUTE_APPROVE, P.COMPUTE_REVIEW)),
    NavItem("compute", "Component review", "/compute/review", order=40, permissions=(P.COMPUTE_REVIEW,)),
    NavItem("compute", "Usage and chargeback", "/compute/usage", order=50,
            permissions=(P.COMPUTE_READ, P.COMPUTE_READ_ALL)),
    NavItem("compute", "Batch jobs", "/compute/jobs", order=60,
            permissions=(P.COMPUTE_JOB_RUN, P.COMPUTE_READ_ALL)),
)
Csrf = Annotated[str, Form(max_length=100)]
Text = Annotated[str, Form(max_length=2000)]
NEW_KEY = "compute_new_key"  # session slot of a key made by the last POST, shown once by the next page view
CATALOGUE_LIMIT = 500
LIST_PAGE = 50  # rows per page of the decided subscriptions and of the usage per component and application

# Codes a page shows are labelled through the kit.labels vocabularies registered in compute.schemas; badge tones.
BADGES = {"published": "ok", "active": "ok", "in_review": "warn", "pending": "warn", "deprecated": "warn",
          "retired": "err", "rejected": "err", "revoked": "err", "succeeded": "ok", "queued": "warn",
          "running": "warn", "cancelling": "warn", "failed": "err", "cancelled": "err"}
METHODS = ("get", "post", "put", "patch", "delete", "head", "options")


def _subcategory(text: str | None) -> str:
    """A component's sub-category in the page's language (the known families; free text as written)."""
    if not text:
        return ""
    return schemas.SUBCATEGORIES_EN.get(text, text) if i18n.get_locale() == "en" else text


def _labels() -> dict[str, Any]:
    return {"subcategory": _subcategory, "status": schemas.ComponentStatus, "sub": schemas.SubscriptionStatus,
            "category": schemas.Category, "kind": schemas.VersionKind, "job": schemas.JobStatus, "badge": BADGES,
            "note": compute.decision_note_text}


def _names(session: Any) -> dict[uuid.UUID, str]:
    return core.organization_names(session)


def _allowed(check: Callable[[], None]) -> bool:
    try:
        check()
    except Forbidden:
        return False
    return True


def _decides(actor: Any, owner_org_id: uuid.UUID) -> bool:
    return _allowed(lambda: policies.subscription_decide(actor, owner_org_id))


def _optional_int(value: str, field: str) -> int | None:
    """An optional positive whole number from a form field (empty: none); anything else is a 422 naming it."""
    value = value.strip()
    if not value:
        return None
    if not value.isdigit() or not 1 <= int(value) <= 2_147_483_647:
        raise ValidationFailed(_("Enter a whole number of at least 1"), field=field)
    return int(value)


def _optional_date(value: str, field: str) -> date | None:
    value = value.strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ValidationFailed(_("Enter a date as YYYY-MM-DD"), field=field) from exc


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(), ZoneInfo(get_settings().display_timezone))


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def interface_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The operations of an OpenAPI document as table rows: path, method, summary, parameters, answers.

    Documents were validated on upload; this still reads them defensively (a page never fails on a document).
    """
    rows: list[dict[str, Any]] = []
    for path, raw_item in _dict(_dict(doc).get("paths")).items():
        item = _dict(raw_item)
        for method in METHODS:
            op = item.get(method)
            if not isinstance(op, dict):
                continue
            params = []
            for p in [*_list(item.get("parameters")), *_list(op.get("parameters"))]:
                if isinstance(p, dict) and "name" in p:
                    params.append({"name": str(p["name"]), "in": str(p.get("in", "")),
                                   "type": str(_dict(p.get("schema")).get("type", "")),
                                   "required": bool(p.get("required"))})
            for media in _dict(_dict(op.get("requestBody")).get("content")).values():
                schema = _dict(_dict(media).get("schema"))
                required = set(_list(schema.get("required")))
                for name, prop in _dict(schema.get("properties")).items():
                    params.append({"name": str(name), "in": "body", "required": name in required,
                                   "type": str(_dict(prop).get("type", ""))})
                break  # the first media type describes the body
            rows.append({"path": str(path), "method": method.upper(), "summary": str(op.get("summary", "")),
                         "description": str(op.get("description", "")), "params": params,
                         "responses": [str(code) for code in _dict(op.get("responses"))]})
    return rows


def _daily(points: list[schemas.UsagePoint]) -> list[dict[str, Any]]:
    """Hourly points summed per local day."""
    tz = ZoneInfo(get_settings().display_timezone)
    days: dict[str, list[int]] = {}
    for p in points:
        day = p.hour.astimezone(tz).date().isoformat()
        d = days.setdefault(day, [0, 0])
        d[0] += p.calls
        d[1] += p.errors
    return [{"day": k, "calls": v[0], "errors": v[1]} for k, v in days.items()]


def _subscribable(session: Any, actor: Any) -> tuple[list[Any], list[tuple[str, str, str]]]:
    """The actor's enabled applications and the published (component, version) pairs they may ask for."""
    apps = [a for a in compute.app_list(session, actor) if not a.disabled and policies.may_consume(actor, a.org_id)]
    if not apps:
        return [], []
    comps, _total = compute.component_list(session, actor, PageParams(limit=CATALOGUE_LIMIT, offset=0),
                                           status=schemas.ComponentStatus.PUBLISHED)
    targets = []
    for c in comps:
        for v in compute.component_versions(session, actor, c.id):
            if v.published_at is not None:
                targets.append((f"{c.code}@{v.version}", c.name_zh, v.version))
    return apps, targets


# ---------------------------------------------------------------- catalogue and component


@router.get("")
def catalogue(request: Request, session: DbSession, actor: CurrentActor, q: str = Query("", max_length=200),
              category: schemas.Category | None = None) -> Response:
    """The hub's catalogue: cards by category, Chinese-aware search."""
    comps, total = compute.component_list(session, actor, PageParams(limit=CATALOGUE_LIMIT, offset=0), q=q,
                                          category=category)
    groups = [(cat, [c for c in comps if c.category == cat]) for cat in schemas.Category]
    return render(request, "compute/catalogue.html", {
        "groups": groups, "total": total, "q": q, "category": category, "names": _names(session),
        "labels": _labels(), "shown": len(comps), "can_register": bool(_publishing_units(session, actor))})


def _publishing_units(session: Any, actor: Any) -> list[tuple[uuid.UUID, str]]:
    """Units whose components the actor may register (their staff), by name."""
    names = _names(session)
    units = []
    for oid, name in names.items():
        try:
            policies.component_create(actor, oid)
        except Forbidden:
            continue
        units.append((oid, name))
    return sorted(units, key=lambda u: u[1])


OPENAPI_MAX_BYTES = 512 * 1024  # an interface description, not a data file


@router.get("/components/new")
def component_new(request: Request, session: DbSession, actor: CurrentActor) -> Response:
    """The form a department registers a component with (a draft, then the bureau's review)."""
    units = _publishing_units(session, actor)
    if not units:
        raise Forbidden(_("Only the unit's staff register its components"))
    return render(request, "compute/register.html", {"units": units, "labels": _labels()})


@router.post("/components")
async def component_register(
    request: Request, session: DbSession, actor: CurrentActor, csrf_token: Csrf,
    org_id: Annotated[str, Form(max_length=40)], code: Annotated[str, Form(max_length=64)],
    name_zh: Annotated[str, Form(max_length=200)], category: Annotated[str, Form(max_length=20)],
    openapi: Annotated[UploadFile, File()], version: Annotated[str, Form(max_length=64)],
    upstream_url: Annotated[str, Form(max_length=500)], name_en: Annotated[str, Form(max_length=200)] = "",
    subcategory: Annotated[str, Form(max_length=100)] = "", description: Text = "",
    tags: Annotated[str, Form(max_length=500)] = "", availability: Annotated[str, Form(max_length=10)] = "",
    p95_ms: Annotated[str, Form(max_length=10)] = "", price_per_call: Annotated[str, Form(max_length=20)] = "",
    submit: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Register a component from the form, all or nothing (one savepoint).

    The draft, its interface (an uploaded OpenAPI document, validated by the registry) and its first version with
    the endpoint, sent to the bureau's review when asked.
    """
    keep = {"org_id": org_id, "code": code, "name_zh": name_zh, "name_en": name_en, "category": category,
            "subcategory": subcategory, "description": description, "tags": tags, "availability": availability,
            "p95_ms": p95_ms, "price_per_call": price_per_call, "version": version, "upstream_url": upstream_url,
            "submit": submit or "0"}  # a refused form comes back filled in (the file must be chosen again)
    with form_action(request, session, csrf_token, _("Component registered as a draft"), keep=keep) as done:
        raw = await openapi.read(OPENAPI_MAX_BYTES + 1)
        if not raw:
            raise ValidationFailed(_("Upload the interface as an OpenAPI document (JSON)"), field="openapi")
        doc = safejson.loads(raw, max_bytes=OPENAPI_MAX_BYTES, field="openapi")
        if not isinstance(doc, dict):
            raise ValidationFailed(_("An OpenAPI 3 document is required (its 'openapi' field, e.g. 3.1.0)"),
                                   field="openapi")
        data = schemas.ComponentCreate.model_validate({
            "org_id": org_id, "code": code.strip(), "name_zh": name_zh.strip(), "name_en": name_en.strip(),
            "category": category, "subcategory": subcategory.strip(), "description": description,
            "tags": [t.strip() for t in tags.replace("，", ",").split(",") if t.strip()], "openapi": doc,
            "sla": {"availability": availability or None, "p95_ms": p95_ms or None},
            "price_per_call": price_per_call or 0})
        c = compute.component_create(session, actor, data)
        compute.component_version_create(session, actor, c.id, schemas.VersionCreate(
            version=version.strip(), kind=schemas.VersionKind.UPSTREAM, upstream_url=upstream_url.strip()))
        if submit:
            compute.component_submit(session, actor, c.id)
            done.msg = _("Submitted for the bureau's review")
    if not done.ok:
        return done.redirect("/compute/components/new")
    return done.redirect(f"/compute/components/{code.strip()}")


@router.get("/components/{code}")
def component_page(request: Request, session: DbSession, actor: CurrentActor, code: str) -> Response:
    """One component: versions, interface, SLA, who uses it, what it reads, calls in the last 30 days."""
    c = compute.component_by_code(session, actor, code)
    versions = compute.component_versions(session, actor, c.id)
    apps, _targets = _subscribable(session, actor) if c.status == "published" else ([], [])
    published = [v for v in versions if v.published_at is not None]
    rows = compute.usage_report(session, actor, component_id=c.id)
    return render(request, "compute/component.html", {
        "c": c, "versions": versions, "interface": interface_rows(c.openapi), "names": _names(session),
        "consumers": compute.component_consumers(session, actor, c.id),
        "dependencies": compute.component_dependencies(session, actor, c.id),
        "usage": _daily(compute.usage_series(session, actor, c.id, hours=24 * 30)),
        "usage_calls": sum(r.calls for r in rows), "usage_cost": round(sum(r.cost for r in rows), 2),
        "apps": apps, "published": published, "labels": _labels(), "request_base": str(request.base_url).rstrip("/"),
        "may": {
            "submit": c.status == "draft" and _allowed(lambda: policies.component_submit(actor, c.org_id)),
            "review": c.status == "in_review" and policies.reviews(actor),
            "deprecate": c.status == "published" and _allowed(lambda: policies.component_deprecate(actor, c.org_id)),
            "retire": c.status == "deprecated" and _allowed(lambda: policies.component_retire(actor, c.org_id)),
            "reinstate": c.status == "deprecated" and policies.reviews(actor),
            "publish_version": c.status in ("published", "deprecated") and policies.reviews(actor),
        }})


@router.post("/components/{code}/{action}")
def component_action(request: Request, session: DbSession, actor: CurrentActor, code: str, action: str,
                     csrf_token: Csrf, note: Text = "", approve: Annotated[str, Form(max_length=10)] = "") -> Response:
    """Move a component through its life: submit, review, deprecate, retire, reinstate."""
    messages = {"submit": _("Submitted for the bureau's review"), "review": _("Review recorded"),
                "deprecate": _("Component deprecated"), "retire": _("Component retired"),
                "reinstate": _("Component published again")}
    if action not in messages:
        raise ValidationFailed(_("Unknown action"), field="action")
    with form_action(request, session, csrf_token, messages[action]) as done:
        c = compute.component_by_code(session, actor, code)
        if action == "submit":
            compute.component_submit(session, actor, c.id)
        elif action == "review":
            compute.component_review(session, actor, c.id, approve == "1", note)
        elif action == "deprecate":
            compute.component_deprecate(session, actor, c.id, note)
        elif action == "retire":
            compute.component_retire(session, actor, c.id, note)
        else:
            compute.component_reinstate(session, actor, c.id)
    back = request.headers.get("referer", "")
    return done.redirect("/compute/review" if back.endswith("/compute/review") else f"/compute/components/{code}")


@router.post("/versions/{version_id}/publish")
def version_publish(request: Request, session: DbSession, actor: CurrentActor, version_id: uuid.UUID,
                    csrf_token: Csrf) -> Response:
    """The bureau publishes a version added to a published component."""
    with form_action(request, session, csrf_token, _("The version is published")) as done:
        compute.component_version_publish(session, actor, version_id)
    return done.redirect("/compute/review")


# ---------------------------------------------------------------- my applications


@router.get("/apps")
def apps_page(request: Request, session: DbSession, actor: CurrentActor) -> Response:
    """The actor's units' applications: keys (a new one shown once), subscriptions with quotas, the forms."""
    apps = compute.app_list(session, actor)
    keys = {a.id: compute.app_keys(session, actor, a.id) for a in apps}
    subs: dict[uuid.UUID, list[dict[str, Any]]] = {a.id: [] for a in apps}
    for row in compute.subscription_list(session, actor):
        if row["subscription"].app_id in subs:
            subs[row["subscription"].app_id].append(row)
    names = _names(session)
    units = sorted((oid for oid in names if policies.may_consume(actor, oid)), key=lambda o: names[o])
    _apps, targets = _subscribable(session, actor)
    response = render(request, "compute/apps.html", {
        "apps": apps, "keys": keys, "subs": subs, "names": names, "units": units, "targets": targets,
        "subscribe_apps": _apps, "new_key": request.session.pop(NEW_KEY, None), "labels": _labels(),
        "now": clock.now()})
    response.headers["Cache-Control"] = "no-store"  # the page may carry a key shown once
    return response


def _keep_key(request: Request, app_name: str, key: Any, raw: str) -> None:
    request.session[NEW_KEY] = {"app": app_name, "prefix": key.prefix, "key": raw}


@router.post("/apps")
def app_create(request: Request, session: DbSession, actor: CurrentActor, csrf_token: Csrf,
               org_id: Annotated[uuid.UUID, Form()], name: Annotated[str, Form(max_length=200)],
               description: Text = "") -> Response:
    """Register an application and make its first key (shown once)."""
    with form_action(request, session, csrf_token, _("Application registered; copy its key now")) as done:
        app = compute.app_create(session, actor, schemas.AppCreate(org_id=org_id, name=name.strip(),
                                                                   description=description))
        key, raw = compute.app_key_create(session, actor, app.id)
    if done.ok:
        _keep_key(request, app.name, key, raw)
    return done.redirect("/compute/apps")


@router.post("/apps/{app_id}/keys")
def app_key_create(request: Request, session: DbSession, actor: CurrentActor, app_id: uuid.UUID,
                   csrf_token: Csrf) -> Response:
    """Another key for the application (shown once)."""
    with form_action(request, session, csrf_token, _("Key made; copy it now")) as done:
        app = compute.app_get(session, actor, app_id)
        key, raw = compute.app_key_create(session, actor, app.id)
    if done.ok:
        _keep_key(request, app.name, key, raw)
    return done.redirect("/compute/apps")


@router.post("/keys/{key_id}/rotate")
def app_key_rotate(request: Request, session: DbSession, actor: CurrentActor, key_id: uuid.UUID,
                   csrf_token: Csrf) -> Response:
    """A new key, the old one revoked at once."""
    with form_action(request, session, csrf_token, _("Key rotated: the old key no longer works; copy the new one"
                                                     )) as done:
        key, raw = compute.app_key_rotate(session, actor, key_id)
        app = compute.app_get(session, actor, key.app_id)
    if done.ok:
        _keep_key(request, app.name, key, raw)
    return done.redirect("/compute/apps")


@router.post("/keys/{key_id}/revoke")
def app_key_revoke(request: Request, session: DbSession, actor: CurrentActor, key_id: uuid.UUID,
                   csrf_token: Csrf) -> Response:
    """Revoke a key: the gateway refuses it from now on."""
    with form_action(request, session, csrf_token, _("Key revoked")) as done:
        compute.app_key_revoke(session, actor, key_id)
    return done.redirect("/compute/apps")


@router.post("/apps/{app_id}/{state}")
def app_state(request: Request, session: DbSession, actor: CurrentActor, app_id: uuid.UUID, state: str,
              csrf_token: Csrf) -> Response:
    """Stop every call of the application at once, or let it call again."""
    if state not in ("disable", "enable"):
        raise ValidationFailed(_("Unknown action"), field="state")
    msg = _("Application disabled") if state == "disable" else _("Application enabled")
    with form_action(request, session, csrf_token, msg) as done:
        compute.app_disable(session, actor, app_id, state == "disable")
    return done.redirect("/compute/apps")


@router.post("/subscriptions")
def subscription_create(
    request: Request, session: DbSession, actor: CurrentActor, csrf_token: Csrf,
    app_id: Annotated[uuid.UUID, Form()], target: Annotated[str, Form(max_length=140)] = "",
    quota_per_minute: Annotated[str, Form(max_length=12)] = "", quota_per_day: Annotated[str, Form(max_length=12)] = "",
    quota_per_month: Annotated[str, Form(max_length=12)] = "", expires_on: Annotated[str, Form(max_length=10)] = "",
    purpose: Text = "", back: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Ask for a subscription (`target` is component@version); open components are approved at once."""
    with form_action(request, session, csrf_token, _("Subscription requested")) as done:
        code, sep, version = target.partition("@")
        if not sep or not code or not version:
            raise ValidationFailed(_("Choose a component version"), field="target")
        expires = _optional_date(expires_on, "expires_on")
        sub = compute.subscription_create(session, actor, schemas.SubscriptionCreate(
            app_id=app_id, component_code=code, version=version,
            quota_per_minute=_optional_int(quota_per_minute, "quota_per_minute"),
            quota_per_day=_optional_int(quota_per_day, "quota_per_day"),
            quota_per_month=_optional_int(quota_per_month, "quota_per_month"),
            expires_at=_local_midnight(expires + timedelta(days=1)) if expires else None, purpose=purpose))
        if sub.status == "active":
            done.msg = _("Subscribed: the component is open to all units")
    url = back if back.startswith("/compute/") and "//" not in back else "/compute/apps"
    return done.redirect(url)


@router.post("/subscriptions/{sub_id}/revoke")
def subscription_revoke(request: Request, session: DbSession, actor: CurrentActor, sub_id: uuid.UUID,
                        csrf_token: Csrf, note: Text = "", back: Annotated[str, Form(max_length=200)] = "") -> Response:
    """End a subscription (either side)."""
    with form_action(request, session, csrf_token, _("Subscription ended")) as done:
        compute.subscription_revoke(session, actor, sub_id, note)
    return done.redirect("/compute/approvals" if back == "/compute/approvals" else "/compute/apps")


# ---------------------------------------------------------------- queues


@router.get("/approvals")
def approvals(request: Request, session: DbSession, actor: CurrentActor,
              offset: int = Query(0, ge=0, le=10_000_000)) -> Response:
    """Subscriptions waiting for the component owner's decision, and the decided ones, a page at a time."""
    if not policies.approves_any(actor):
        raise Forbidden(_("Only the component owner's administrators decide subscriptions"))
    queue = compute.subscription_queue(session, actor)
    decided = [r for r in compute.subscription_list(session, actor)
               if r["subscription"].status != "pending" and _decides(actor, r["owner_org_id"])]
    return render(request, "compute/approvals.html", {
        "queue": queue, "decided": decided[offset:offset + LIST_PAGE], "decided_total": len(decided),
        "offset": offset, "limit": LIST_PAGE, "names": _names(session), "labels": _labels()})


@router.post("/subscriptions/{sub_id}/decide")
def subscription_decide(
    request: Request, session: DbSession, actor: CurrentActor, sub_id: uuid.UUID, csrf_token: Csrf,
    decision: Annotated[str, Form(max_length=10)], note: Text = "",
    quota_per_minute: Annotated[str, Form(max_length=12)] = "", quota_per_day: Annotated[str, Form(max_length=12)] = "",
    quota_per_month: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    """Approve (quotas may be set or lowered) or refuse with a reason."""
    ok = _("Subscription approved") if decision == "approve" else _("Subscription refused")
    with form_action(request, session, csrf_token, ok) as done:
        if decision not in ("approve", "reject"):
            raise ValidationFailed(_("Unknown decision"), field="decision")
        compute.subscription_decide(session, actor, sub_id, schemas.SubscriptionDecision(
            approve=decision == "approve", note=note,
            quota_per_minute=_optional_int(quota_per_minute, "quota_per_minute"),
            quota_per_day=_optional_int(quota_per_day, "quota_per_day"),
            quota_per_month=_optional_int(quota_per_month, "quota_per_month")))
    return done.redirect("/compute/approvals")


@router.get("/review")
def review(request: Request, session: DbSession, actor: CurrentActor) -> Response:
    """The bureau's queue: submitted components, and new versions of published ones."""
    queue = compute.component_review_queue(session, actor)
    return render(request, "compute/review.html", {
        "queue": queue, "versions": {c.id: compute.component_versions(session, actor, c.id) for c in queue},
        "operations": {c.id: len(interface_rows(c.openapi)) for c in queue},
        "version_queue": compute.component_version_queue(session, actor), "names": _names(session),
        "labels": _labels()})


# ---------------------------------------------------------------- usage and chargeback


@router.get("/usage")
def usage(request: Request, session: DbSession, actor: CurrentActor,
          since: date | None = None, until: date | None = None, org_id: uuid.UUID | None = None,
          offset: int = Query(0, ge=0, le=10_000_000)) -> Response:
    """Calls and chargeback per department and per component over a period (the last 30 days by default)."""
    today = clock.now().astimezone(ZoneInfo(get_settings().display_timezone)).date()
    until = until or today
    since = since or until - timedelta(days=29)
    rows = compute.usage_report(session, actor, since=_local_midnight(since),
                                until=_local_midnight(until + timedelta(days=1)), org_id=org_id)
    names = _names(session)
    per_unit: dict[uuid.UUID, dict[str, Any]] = {}
    for r in rows:
        u = per_unit.setdefault(r.org_id, {"org_id": r.org_id, "name": names.get(r.org_id, str(r.org_id)),
                                           "calls": 0, "errors": 0, "cost": 0.0, "components": set()})
        u["calls"] += r.calls
        u["errors"] += r.errors
        u["cost"] += r.cost
        u["components"].add(r.component_code)
    units = sorted(per_unit.values(), key=lambda u: (-u["cost"], -u["calls"], u["name"]))
    for u in units:
        u["cost"] = round(u["cost"], 2)
        u["components"] = len(u["components"])
    params = {"since": _local_midnight(since).isoformat(),
              "until": _local_midnight(until + timedelta(days=1)).isoformat()}
    if org_id:
        params["org_id"] = str(org_id)
    return render(request, "compute/usage.html", {
        "rows": rows[offset:offset + LIST_PAGE], "rows_total": len(rows), "offset": offset, "limit": LIST_PAGE,
        "units": units, "since": since, "until": until, "org_id": org_id, "names": names,
        "csv": f"/api/v1/compute/usage.csv?{urlencode(params)}",
        "xlsx": f"/api/v1/compute/usage.xlsx?{urlencode(params)}",
        "total": {"calls": sum(r.calls for r in rows), "errors": sum(r.errors for r in rows),
                  "cost": round(sum(r.cost for r in rows), 2)},
        "chart": [{"name": u["name"].removeprefix("重庆市"), "calls": u["calls"], "cost": u["cost"]}
                  for u in units[:30]]})


# ---------------------------------------------------------------- batch jobs, saved analyses, scenario runs
# Their own modules, mounted with this router: the jobs page and its form (`compute/jobs/pages.py`), saved analyses
# (`compute/analytics/pages.py`) and scenario runs (`compute/analytics/scenario_pages.py`), issues 17 and 18.

from cityhub.compute.analytics.pages import router as _analyses_router  # noqa: E402  # mounted with this module's router
from cityhub.compute.analytics.scenario_pages import router as _scenarios_router  # noqa: E402  # mounted likewise

extra_routers = [jobs_pages.router, _analyses_router, _scenarios_router]
