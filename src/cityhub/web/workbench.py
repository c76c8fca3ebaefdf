"""What each role's landing page shows: the city at a glance, and one person's work queues (issue 16).

Everything here comes from the domains' public service functions, called with the viewer's own actor, so a queue
holds only what its policies let the viewer see; a section whose permission the viewer lacks is left out rather
than shown empty. Counts are the services' totals; each queue lists its first few items, nearest deadline first.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from cityhub.cloud import service as cloud
from cityhub.connect import service as connect
from cityhub.core import service as core
from cityhub.core.actor import Actor
from cityhub.core.permissions import P, permissions_of
from cityhub.data import service as data
from cityhub.kit import clock, labels
from cityhub.kit.errors import CityhubError
from cityhub.kit.i18n import gettext as _
from cityhub.kit.i18n import lazy
from cityhub.kit.pagination import PageParams
from cityhub.kit.web import to_local
from cityhub.ops import service as ops

SHOWN = 6  # items listed per queue; the count says how many there are
T = TypeVar("T")

# The states a queue's items can be in, in the viewer's language (the codes are the domains' own).
STATE_LABELS = {
    "submitted": lazy("submitted, awaiting review"), "compliance_review": lazy("in compliance review"),
    "provider_review": lazy("with the provider"), "coordination": lazy("in coordination"),
    "draft": lazy("draft"), "rejected": lazy("returned"), "raised": lazy("raised"), "handling": lazy("being handled"),
    "new": lazy("new"), "dispatched": lazy("dispatched"), "accepted": lazy("accepted"),
    "in_progress": lazy("in progress"), "reopened": lazy("reopened"), "pending_bureau": lazy("awaiting the bureau"),
}
SEVERITY_LABELS = {"critical": lazy("critical"), "major": lazy("major"), "minor": lazy("minor"),
                   "warning": lazy("warning"), "indeterminate": lazy("indeterminate")}
WAITING_ON_OTHERS = ("submitted", "compliance_review", "provider_review", "coordination")
OPEN_OBJECTION = ("raised", "handling")


def state_label(code: str) -> str:
    """A state code in the viewer's language (the code itself when it has no label)."""
    label = STATE_LABELS.get(code) or SEVERITY_LABELS.get(code)
    return _(label) if label else code


@dataclass(frozen=True)
class Item:
    """One piece of work: what, where it stands, where to do it, and by when."""

    title: str
    detail: str
    href: str
    due: datetime | None = None

    @property
    def overdue(self) -> bool:
        """Past its deadline."""
        return self.due is not None and self.due < clock.now()


@dataclass
class Queue:
    """A kind of work waiting for the viewer: how many, the first few, and the page where it is done."""

    key: str
    title: str
    href: str
    count: int = 0
    items: list[Item] = field(default_factory=list)

    @property
    def overdue(self) -> int:
        """How many of the listed items are past their deadline."""
        return sum(1 for i in self.items if i.overdue)


@dataclass(frozen=True)
class Metric:
    """One number of the city overview, linking down to where it comes from."""

    label: str
    value: str
    href: str
    alert: bool = False  # something waits: shown in the warning colour
    key: str = ""  # a stable name for tests and styles


@dataclass
class Layer:
    """A card of the city overview: one layer's numbers."""

    key: str
    metrics: list[Metric] = field(default_factory=list)


def _soonest(items: Iterable[Item]) -> list[Item]:
    far = datetime.max.replace(tzinfo=UTC)
    return sorted(items, key=lambda i: i.due or far)[:SHOWN]


def _safe(fn: Callable[[], T], default: T) -> T:
    """A section the viewer's policies refuse after all is left out, not an error page."""
    try:
        return fn()
    except CityhubError:
        return default


# ---------------------------------------------------------------- my work


def _titles(session: Session, entry_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    return {e.id: e.title for e in data.catalog_entries_by_ids(session, list(set(entry_ids)))}


def _org_names(session: Session) -> dict[uuid.UUID, str]:
    return core.organization_names(session)


def _sharing_to_answer(session: Session, actor: Actor, names: dict[uuid.UUID, str]) -> Queue:
    rows, total = data.share_request_list(session, actor, box="provider", limit=50)
    titles = _titles(session, [r.entry_id for r in rows])
    items = [Item(titles.get(r.entry_id, ""), _("from {org}").format(org=names.get(r.requester_org_id, "")),
                  "/data/requests?box=provider", r.deadline_at) for r in rows]
    return Queue("sharing_answer", _("Sharing requests to answer"), "/data/requests?box=provider", total,
                 _soonest(items))


def _sharing_waiting(session: Session, actor: Actor, names: dict[uuid.UUID, str]) -> Queue:
    rows: list[Any] = []
    total = 0
    for status in WAITING_ON_OTHERS:
        found, n = data.share_request_list(session, actor, box="mine", status=status, limit=SHOWN)
        rows += found
        total += n
    titles = _titles(session, [r.entry_id for r in rows])
    items = [Item(titles.get(r.entry_id, ""), f"{state_label(r.status)} · {names.get(r.provider_org_id, '')}",
                  "/data/requests", r.deadline_at) for r in rows]
    return Queue("sharing_waiting", _("My requests waiting on others"), "/data/requests", total, _soonest(items))


def _entries_to_fix(session: Session, actor: Actor) -> Queue:
    rows = [*data.catalog_entry_list_owned(session, actor, status="rejected"),
            *data.catalog_entry_list_owned(session, actor, status="draft")]
    items = [Item(e.title, f"{state_label(e.status)} · {e.code or ''}".rstrip(" ·"), f"/data/entries/{e.id}")
             for e in rows]
    return Queue("entries", _("Catalog entries to finish or fix"), "/data/publish", len(rows), items[:SHOWN])


def _objections(session: Session, actor: Actor) -> Queue:
    rows, _total = data.objection_list(session, actor, limit=200)
    mine = actor.staff_orgs
    open_rows = [o for o in rows if o.status in OPEN_OBJECTION
                 and (actor.is_platform_admin or o.handler_org_id in mine)]
    titles = _titles(session, [o.entry_id for o in open_rows])
    items = [Item(titles.get(o.entry_id, ""), f"{state_label(o.status)} · {o.content[:60]}", "/data/lists",
                  o.deadline_at) for o in open_rows]
    return Queue("objections", _("Objections and corrections to handle"), "/data/lists", len(open_rows),
                 _soonest(items))


def _quality_to_fix(session: Session, actor: Actor) -> Queue:
    """The viewer's units' entries whose latest quality checks fail: the owner's task until they pass."""
    _units, entries = data.quality_scores(session, actor)
    mine = actor.staff_orgs
    rows = [e for e in entries if e.failing and (actor.is_platform_admin or e.org_id in mine)]
    items = [Item(e.title, _("{n} checks failing, score {score}").format(
        n=e.failing, score=e.score if e.score is not None else "—"), "/data/collection/quality") for e in rows]
    return Queue("quality", _("Failing quality checks of my entries"), "/data/collection/quality", len(rows),
                 items[:SHOWN])


def _golden_conflicts(session: Session, actor: Actor) -> Queue:
    """Base databases whose feeds disagree: conflicts for the bureau, their owner, to resolve."""
    rows = [b for b in data.base_overview(session, actor) if b["open_conflicts"]]
    items = [Item(labels.label(b["base_db"], "data.base_db"), _("{n} conflicts to resolve").format(
        n=b["open_conflicts"]), f"/data/base/{b['base_db']}") for b in rows]
    return Queue("golden", _("Golden-record conflicts"), "/data/base", sum(b["open_conflicts"] for b in rows),
                 items[:SHOWN])


def incident_due(incident: Any) -> datetime | None:
    """The SLA clock that runs now: acceptance until accepted, then resolution."""
    if incident.accepted_at is None and incident.accept_due_at is not None:
        return incident.accept_due_at  # type: ignore[no-any-return]  # an ops Incident row
    return incident.resolve_due_at  # type: ignore[no-any-return]  # an ops Incident row


def _incidents(session: Session, actor: Actor) -> Queue:
    rows, total = ops.incident_list(session, actor, PageParams(limit=100, offset=0), open_only=True)
    items = [Item(f"{i.number} {i.title}", f"{state_label(i.status)} · {state_label(i.severity)}",
                  f"/ops/incidents/{i.id}", incident_due(i)) for i in rows]
    return Queue("incidents", _("Incidents assigned to my units"), "/ops/incidents", total, _soonest(items))


def _cloud_approvals(session: Session, actor: Actor, names: dict[uuid.UUID, str]) -> Queue:
    rows = cloud.approval_queue(session, actor)
    catalog = {c.id: c.name for c in cloud.catalog_list(session, actor)}
    items = [Item(f"{catalog.get(r.item_id, '')} × {r.quantity}",
                  _("{org}, {cost} yuan a month, since {day}").format(
                      org=names.get(r.org_id, ""), cost=f"{r.monthly_cost:,.2f}",
                      day=to_local(r.created_at, "%Y-%m-%d")),
                  "/cloud/tenancies") for r in rows]
    return Queue("cloud", _("Cloud requests to approve"), "/cloud/tenancies", len(rows), items[:SHOWN])


def my_work(session: Session, actor: Actor) -> list[Queue]:
    """The viewer's queues, each only where their permissions give them that kind of work."""
    held = permissions_of(actor)
    names = _org_names(session)
    queues: list[Queue] = []
    if P.DATA_WRITE in held:
        queues += [_safe(lambda: _sharing_to_answer(session, actor, names), Queue("", "", "")),
                   _safe(lambda: _sharing_waiting(session, actor, names), Queue("", "", "")),
                   _safe(lambda: _entries_to_fix(session, actor), Queue("", "", "")),
                   _safe(lambda: _objections(session, actor), Queue("", "", "")),
                   _safe(lambda: _quality_to_fix(session, actor), Queue("", "", ""))]
    if P.DATA_REVIEW in held:
        queues.append(_safe(lambda: _golden_conflicts(session, actor), Queue("", "", "")))
    if P.OPS_WORK in held:
        queues.append(_safe(lambda: _incidents(session, actor), Queue("", "", "")))
    if P.CLOUD_REQUEST_APPROVE_UNIT in held or P.CLOUD_REQUEST_APPROVE_BUREAU in held:
        queues.append(_safe(lambda: _cloud_approvals(session, actor, names), Queue("", "", "")))
    return [q for q in queues if q.key]


# ---------------------------------------------------------------- the city overview


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def _cloud_layer(session: Session, actor: Actor) -> list[Metric]:
    ov = cloud.overview(session, actor)
    city, _units = cloud.ratios(session, actor)
    waiting = len(cloud.approval_queue(session, actor))
    out = [Metric(_("Tenancies"), f"{ov['tenancies']:,}", "/cloud/tenancies"),
           Metric(_("vCPU allocated"), f"{ov['vcpus_used']:,} / {ov['vcpus_total']:,}", "/cloud"),
           Metric(_("Requests awaiting approval"), f"{waiting:,}", "/cloud/tenancies", alert=waiting > 0)]
    if city is not None:
        out.append(Metric(_("Systems on the cloud"), _pct(city.on_cloud_ratio), "/cloud/migration"))
    return out


def _connect_layer(session: Session, actor: Actor) -> list[Metric]:
    ov = connect.overview(session, actor)
    out = [Metric(_("Devices"), f"{ov['total']:,}", "/connect"),
           Metric(_("Devices in service"), f"{ov['by_status'].get('active', 0):,}", "/connect")]
    if P.CONNECT_INSPECT in permissions_of(actor):
        held = sum(connect.quarantine_counts(session).values())
        out.append(Metric(_("Messages in quarantine"), f"{held:,}", "/connect/quarantine", alert=held > 0))
    return out


def _data_layer(session: Session, actor: Actor) -> list[Metric]:
    counts = data.data_counts(session)
    review = len(data.catalog_review_queue(session, actor))
    _rows, compliance = data.share_request_list(session, actor, box="compliance", limit=1)
    return [Metric(_("Published catalog entries"), f"{counts['entries_published']:,}", "/data"),
            Metric(_("Entries awaiting review"), f"{review:,}", "/data/review", alert=review > 0),
            Metric(_("Sharing requests in progress"), f"{counts['requests_open']:,}", "/data/requests?box=all"),
            Metric(_("Requests awaiting compliance review"), f"{compliance:,}", "/data/requests?box=compliance",
                   alert=compliance > 0),
            Metric(_("Active data grants"), f"{counts['grants_active']:,}", "/data/requests?box=all")]


def _ops_layer(session: Session, actor: Actor) -> list[Metric]:
    stats = ops.alarm_stats(session, actor)
    page = PageParams(limit=1, offset=0)
    _rows, open_total = ops.incident_list(session, actor, page, open_only=True)
    _rows, breached = ops.incident_list(session, actor, page, open_only=True, breached=True)
    return [Metric(_("Active alarms"), f"{stats.total_active:,}", "/ops/alarms", alert=stats.total_active > 0),
            Metric(_("Not yet acknowledged"), f"{stats.unacknowledged:,}", "/ops/alarms",
                   alert=stats.unacknowledged > 0),
            Metric(_("Open incidents"), f"{open_total:,}", "/ops/incidents"),
            Metric(_("Incidents past their SLA"), f"{breached:,}", "/ops/incidents", alert=breached > 0)]


def _admin_layer(session: Session, actor: Actor) -> list[Metric]:
    counts = core.core_counts(session)
    out = [Metric(_("Organisations"), f"{counts['organizations']:,}", "/admin/organizations",
                  key="organizations"),
           Metric(_("Users"), f"{counts['users']:,}", "/admin/users"),
           Metric(_("Active API tokens"), f"{counts['active_tokens']:,}", "/admin/tokens")]
    if P.AUDIT_READ in permissions_of(actor):
        out.append(Metric(_("Actions in the last 24 h"), f"{counts['audit_today']:,}", "/admin/audit"))
    return out


# layer key (kit.web.LAYERS) -> (the permission that opens its numbers, how to compute them)
_LAYERS: dict[str, tuple[P, Callable[[Session, Actor], list[Metric]]]] = {
    "cloud": (P.CLOUD_READ, _cloud_layer),
    "connect": (P.CONNECT_READ, _connect_layer),
    "data": (P.DATA_READ, _data_layer),
    "ops": (P.OPS_WORK, _ops_layer),
    "admin": (P.USER_READ, _admin_layer),
}


def city_overview(session: Session, actor: Actor) -> dict[str, list[Metric]]:
    """Each layer's headline numbers the viewer may read, by layer key (layers without numbers are absent)."""
    held = permissions_of(actor)
    out: dict[str, list[Metric]] = {}
    for key, (needed, compute) in _LAYERS.items():
        if needed in held or (key == "ops" and P.OPS_READ_ALL in held):
            try:
                out[key] = compute(session, actor)
            except CityhubError:  # a policy refused after all: the card is left out
                continue
    return out
