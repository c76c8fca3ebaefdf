"""Decisions on a dispatch run's suggestions (issue 18, 指挥调度): the operator accepts or overrides, and it is done.

A dispatch run suggests one team per open incident (`simulate.dispatch`); the operator answers each suggestion once:
`accept` keeps the suggested team, `override` names another of the run's teams (or nobody) with a reason, required.
A team chosen is given the incident through ops' own action (`ops.incident_assign`): the incident moves to the
team's department (its `org_id`, else the unit that ran the scenario) — a dispatch, so ops' rules apply (only the
operations center moves an incident between departments; one accepted elsewhere cannot be moved: 409) — and keeps
the team, with the decision as the timeline's note. Overriding with nobody leaves the incident where it is, noted
on its timeline (`ops.incident_comment`) unless asked not to. The answer is a row of `compute_dispatch_decision`
(the suggestion copied in, the department the incident went to), audited (`dispatch_decision`). Only incidents
the run suggested for can be decided; a second answer for the same incident is a 409.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cityhub.compute import policies
from cityhub.compute.analytics.scenarios import scenario_get
from cityhub.compute.models import DispatchDecision, ScenarioKind
from cityhub.compute.schemas import DispatchDecisionCreate
from cityhub.core import service as core
from cityhub.core.actor import Actor
from cityhub.kit.errors import Conflict, ValidationFailed
from cityhub.kit.i18n import gettext as _
from cityhub.ops import service as ops


def _suggestion(result: dict[str, Any], incident_id: uuid.UUID) -> dict[str, Any]:
    for row in result.get("assignments") or []:
        if row.get("incident_id") == str(incident_id):
            return dict(row)
    raise ValidationFailed(_("The run made no suggestion for this incident"), field="incident_id")


def dispatch_decide(session: Session, actor: Actor, run_id: uuid.UUID, body: DispatchDecisionCreate
                    ) -> DispatchDecision:
    """Answer one suggestion of a dispatch run: the chosen team gets the incident (ops), the answer is recorded.

    422 naming the field; 409 when already answered or when ops cannot move the incident; 403 from ops.
    """
    run = scenario_get(session, actor, run_id)
    policies.dispatch_decide(actor, run.org_id)
    if run.kind != ScenarioKind.DISPATCH:
        raise ValidationFailed(_("Only a dispatch run makes suggestions"), field="run_id")
    row = _suggestion(run.result, body.incident_id)
    suggested = str(row.get("team") or "")
    if body.action == "accept":
        if not suggested:
            raise ValidationFailed(_("No team was suggested: override it with a team, or nobody"), field="action")
        team = suggested
    else:
        team = (body.team or "").strip()
        names = {str(t.get("name")) for t in run.result.get("teams") or []}
        if team and team not in names:
            raise ValidationFailed(_("Not one of the run's teams"), field="team")
        if team == suggested:
            raise ValidationFailed(_("That is the suggested team: accept it instead"), field="team")
        if not body.reason.strip():
            raise ValidationFailed(_("Say why the suggestion is overridden"), field="reason")
    if session.scalar(select(DispatchDecision.id).where(DispatchDecision.run_id == run.id,
                                                        DispatchDecision.incident_id == body.incident_id)):
        raise Conflict(_("This suggestion has been decided"))
    chosen = next((t for t in run.result.get("teams") or [] if str(t.get("name")) == team), None) if team else None
    dest = uuid.UUID(str(chosen["org_id"])) if chosen is not None and chosen.get("org_id") else run.org_id
    reason = body.reason.strip()
    if body.action == "accept":
        text = _("Dispatch suggestion accepted: {team} ({minutes} min), scenario “{name}”").format(
            team=team, minutes=row.get("minutes") if row.get("minutes") is not None else "—", name=run.name)
    else:
        text = _("Dispatch suggestion overridden: {team} instead of {suggested}, because {reason}").format(
            team=team or _("no team"), suggested=suggested or _("no team"), reason=reason)
    # first what ops refuses (403, 409) — it refuses before it writes — then the record
    if team:  # the incident goes to the team, through ops' own action (its rules, its audit row)
        ops.incident_assign(session, actor, body.incident_id, team, org_id=dest, note=text)
    elif body.comment:
        ops.incident_comment(session, actor, body.incident_id, text)
    d = DispatchDecision(run_id=run.id, org_id=run.org_id, incident_id=body.incident_id, action=body.action,
                         suggested_team=suggested[:100], team=team[:100], reason=reason,
                         team_org_id=dest if team else None, decided_by=actor.username[:100])
    try:
        with session.begin_nested():
            session.add(d)
            session.flush()
    except IntegrityError as exc:  # a concurrent answer won (the request's rollback undoes the assignment too)
        raise Conflict(_("This suggestion has been decided")) from exc
    core.audit_record(session, actor, "dispatch_decision", target_type="compute_scenario_run", target_id=run.id,
                      org_id=run.org_id, after={"incident": str(body.incident_id), "action": d.action,
                                                "suggested": d.suggested_team, "team": d.team,
                                                "team_org_id": d.team_org_id, "reason": d.reason})
    return d


def dispatch_decisions(session: Session, actor: Actor, run_id: uuid.UUID) -> list[DispatchDecision]:
    """A run's decisions, in the order they were made (404 when the run is not the caller's to read)."""
    run = scenario_get(session, actor, run_id)
    return list(session.scalars(select(DispatchDecision).where(DispatchDecision.run_id == run.id)
                                .order_by(DispatchDecision.decided_at, DispatchDecision.id)))
