"""Programme cockpit pages: the target tree, a target with its trend and forecast, the report form, the review queue.

Every form posts, redirects and shows its outcome as a flash message (kit.web.form_action). What a page shows is
what the apply services let the caller see; the review queue of someone outside the bureau is a 403.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from cityhub.apply import policies, schemas
from cityhub.apply import service as apply
from cityhub.core import service as core
from cityhub.core.deps import CurrentActor
from cityhub.core.permissions import P
from cityhub.kit import clock
from cityhub.kit.i18n import get_locale
from cityhub.kit.i18n import gettext as _
from cityhub.kit.web import DbSession, NavItem, SessionRoute, form_action, register_nav, render

router = APIRouter(prefix="/apply", include_in_schema=False, route_class=SessionRoute)
register_nav(
    NavItem("apply", "Programme targets", "/apply", order=10, permissions=(P.APPLY_READ,)),
    NavItem("apply", "Progress review", "/apply/review", order=20, permissions=(P.APPLY_REVIEW,)),
)
Csrf = Annotated[str, Form(max_length=100)]
TONES = {"green": "ok", "amber": "warn", "red": "err", "none": ""}


def _title(t: Any) -> str:
    return str(t.title_en if get_locale().startswith("en") and t.title_en else t.title_zh)


def _flat(nodes: list[schemas.Progress], depth: int = 0) -> list[tuple[int, schemas.Progress]]:
    out: list[tuple[int, schemas.Progress]] = []
    for n in nodes:
        out.append((depth, n))
        out += _flat(n.children, depth + 1)
    return out


@router.get("")
def tree(request: Request, session: DbSession, actor: CurrentActor) -> Response:
    """Every node of the programme with its status, progress against schedule and forecast."""
    roots = apply.target_tree(session, actor)
    rows = _flat(roots)
    counts = {s: sum(1 for _d, n in rows if n.target.kind == "target" and n.status == s) for s in TONES}
    return render(request, "apply/tree.html", {"rows": rows, "counts": counts, "tones": TONES, "title": _title,
                                               "manages": policies.manages(actor)})


@router.post("/refresh")
def refresh(request: Request, session: DbSession, actor: CurrentActor, csrf_token: Csrf) -> Response:
    """The bureau recomputes every computed target now."""
    with form_action(request, session, csrf_token, _("Progress computed from the platform")) as done:
        apply.progress_refresh(session, actor)
    return done.redirect("/apply")


@router.get("/targets/{target_id}")
def target(request: Request, session: DbSession, actor: CurrentActor, target_id: uuid.UUID) -> Response:
    """One target: its numbers, the plan's text, its history and forecast, reports, and the report form."""
    p = apply.target_progress(session, actor, target_id)
    t = p.target
    history = apply.target_history(session, actor, target_id)
    owner = apply.owner_of(session, apply.target_get(session, actor, target_id))
    names = {o.id: o.name for o in core.organization_all(session)}
    chart = {"history": [[v.at.isoformat(), v.value] for v in history],
             "forecast": ([[history[-1].at.isoformat(), history[-1].value], [f"{t.deadline}T00:00:00+00:00",
                                                                             p.forecast]]
                          if history and p.forecast is not None and t.deadline else []),
             "target": t.target_value, "deadline": f"{t.deadline}T00:00:00+00:00" if t.deadline else None,
             "labels": {"history": _("Recorded values"), "forecast": _("Trend to the deadline"),
                        "target": _("Target value")}}
    return render(request, "apply/target.html", {
        "p": p, "t": t, "title": _title(t), "history": history, "chart": chart, "tones": TONES,
        "owner_name": names.get(owner, "") if owner else "",
        "reports": apply.report_list(session, actor, target_id=target_id),
        "may_report": t.method == "reported" and owner is not None and policies.may_report(actor, owner),
        "today": clock.now().date().isoformat()})


@router.post("/targets/{target_id}/reports")
def report(request: Request, session: DbSession, actor: CurrentActor, target_id: uuid.UUID, csrf_token: Csrf,
           value: Annotated[float, Form()], evidence_url: Annotated[str, Form(max_length=500)],
           as_of: Annotated[date | None, Form()] = None, note: Annotated[str, Form(max_length=4000)] = "") -> Response:
    """The owner reports a value with its evidence."""
    keep = {"value": value, "evidence_url": evidence_url, "as_of": as_of.isoformat() if as_of else "", "note": note}
    with form_action(request, session, csrf_token, _("Report submitted for the bureau's review"), keep=keep) as done:
        apply.report_create(session, actor, target_id, schemas.ReportCreate(
            value=value, evidence_url=evidence_url.strip(), as_of=as_of, note=note))
    return done.redirect(f"/apply/targets/{target_id}")


@router.get("/review")
def review(request: Request, session: DbSession, actor: CurrentActor) -> Response:
    """The bureau's queue of reported progress."""
    queue = apply.report_queue(session, actor)
    targets = {r.target_id: apply.target_get(session, actor, r.target_id) for r in queue}
    return render(request, "apply/review.html", {
        "queue": queue, "targets": targets, "title": _title,
        "names": {o.id: o.name for o in core.organization_all(session)}})


@router.post("/reports/{report_id}/review")
def report_review(request: Request, session: DbSession, actor: CurrentActor, report_id: uuid.UUID,
                  csrf_token: Csrf, approve: Annotated[str, Form(max_length=10)] = "",
                  note: Annotated[str, Form(max_length=2000)] = "") -> Response:
    """Approve or reject a report."""
    with form_action(request, session, csrf_token, _("Review recorded")) as done:
        apply.report_review(session, actor, report_id, approve == "1", note)
    return done.redirect("/apply/review")
