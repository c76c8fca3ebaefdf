"""One permission check per apply action, named like the action; each raises Forbidden or returns a bool.

Every member of staff reads the programme (its targets and their progress are the city's, not a unit's); the
bureau manages the target tree and runs the computed progress; a target's owner unit reports its value with
evidence; the bureau reviews reports, and never the reviewer's own.
"""

from __future__ import annotations

import uuid

from cityhub.core.actor import Actor
from cityhub.core.permissions import P, can, require


def reads(actor: Actor) -> bool:
    """Staff read the programme."""
    return can(actor, P.APPLY_READ)


def manages(actor: Actor) -> bool:
    """The bureau (and platform admins) manage targets."""
    return can(actor, P.APPLY_MANAGE)


def reviews(actor: Actor) -> bool:
    """The bureau reviews reported progress."""
    return can(actor, P.APPLY_REVIEW)


def may_report(actor: Actor, owner_org_id: uuid.UUID) -> bool:
    """May the actor report the value of a target the unit owns (forms show only then)?"""
    return can(actor, P.APPLY_REPORT, owner_org_id) or manages(actor)


def target_read(actor: Actor) -> None:
    """Staff read the programme."""
    require(reads(actor), "Only staff read the programme")


def target_create(actor: Actor) -> None:
    """The bureau adds targets."""
    require(manages(actor), "Only the bureau manages the programme's targets")


def target_update(actor: Actor) -> None:
    """The bureau changes targets."""
    target_create(actor)


def target_delete(actor: Actor) -> None:
    """The bureau deletes targets."""
    target_create(actor)


def progress_refresh(actor: Actor) -> None:
    """The bureau (and the platform's own jobs) compute progress."""
    target_create(actor)


def programme_seed(actor: Actor) -> None:
    """The bureau loads the seed plan's targets."""
    target_create(actor)


def report_create(actor: Actor, owner_org_id: uuid.UUID) -> None:
    """The owner unit's staff report (the bureau may report for a target it owns)."""
    require(may_report(actor, owner_org_id), "Only the target's owner reports its progress")


def report_visible(actor: Actor, org_id: uuid.UUID, reporter_id: uuid.UUID | None) -> bool:
    """Who sees a report (and its evidence): the bureau, the owner unit's staff, its reporter, platform admins."""
    return (reviews(actor) or org_id in actor.staff_orgs or (reporter_id is not None and reporter_id == actor.user_id)
            or actor.is_platform_admin)


def report_review(actor: Actor, reporter_id: uuid.UUID | None) -> None:
    """The bureau reviews, and a reviewer never decides their own report."""
    require(reviews(actor), "Only the bureau reviews reported progress")
    require(reporter_id is None or actor.user_id != reporter_id,
            "A report is reviewed by someone other than its reporter")


# ---------------------------------------------------------------- annual evaluation


def evaluation_scheme_create(actor: Actor) -> None:
    """Only the bureau changes evaluation schemes."""
    require(manages(actor), "Only the bureau manages evaluation schemes")


def evaluation_scheme_update(actor: Actor) -> None:
    """Only the bureau changes evaluation schemes."""
    evaluation_scheme_create(actor)


def evaluation_run_compute(actor: Actor) -> None:
    """Only the bureau runs the evaluation."""
    require(manages(actor), "Only the bureau runs the annual evaluation")


def evaluation_score_adjust(actor: Actor) -> None:
    """Only the bureau adjusts results (with a reason)."""
    require(manages(actor), "Only the bureau adjusts evaluation results")


def evaluation_run_freeze(actor: Actor) -> None:
    """Only the bureau freezes an evaluation."""
    require(manages(actor), "Only the bureau freezes an evaluation")


def may_export(actor: Actor) -> bool:
    """The bureau and auditors (who read everything) download the full report with every unit's breakdown."""
    return manages(actor) or can(actor, P.AUDIT_READ)


def evaluation_export(actor: Actor) -> None:
    """The bureau and auditors download the full report."""
    require(may_export(actor), "Only the bureau downloads the evaluation report")


def scorecard_read(actor: Actor, org_id: uuid.UUID, is_head: bool) -> bool:
    """A unit's breakdown: the bureau, auditors, the unit's staff and its 云长 (head)."""
    return (manages(actor) or can(actor, P.AUDIT_READ) or org_id in actor.staff_orgs or is_head
            or actor.is_platform_admin)


# ---------------------------------------------------------------- infrastructure registries


def base_station_create(actor: Actor) -> None:
    """The bureau keeps the 5G base-station register (operators' returns are imported by it)."""
    require(manages(actor), "Only the bureau keeps the infrastructure registers")


def base_station_import(actor: Actor) -> None:
    """The bureau imports the operators' returns."""
    base_station_create(actor)


def network_link_create(actor: Actor) -> None:
    """The bureau registers backbone and interconnect links."""
    base_station_create(actor)


# ---------------------------------------------------------------- application scenarios


def scenario_create(actor: Actor, owner_org_id: uuid.UUID) -> None:
    """A unit's staff declare the unit's scenarios (the bureau may declare for any unit)."""
    require(may_report(actor, owner_org_id), "Only the owner unit's staff declare its scenarios")


def scenario_transition(actor: Actor, owner_org_id: uuid.UUID, by_bureau: bool) -> None:
    """The transition table names who moves a scenario: the bureau, or the owner unit (and the bureau)."""
    if by_bureau:
        require(manages(actor), "Only the bureau accepts scenarios")
    else:
        require(may_report(actor, owner_org_id), "Only the owner unit or the bureau moves this scenario on")


def scenario_plan_update(actor: Actor, owner_org_id: uuid.UUID) -> None:
    """A scenario's KPIs and budget: its owner unit's staff and the bureau, as for declaring it."""
    require(may_report(actor, owner_org_id), "Only the owner unit or the bureau changes the scenario's KPIs and budget")


def scenario_links_set(actor: Actor, owner_org_id: uuid.UUID) -> None:
    """What a scenario uses: its owner (lead) unit's staff and the bureau, as for its KPIs and budget."""
    require(may_report(actor, owner_org_id), "Only the owner unit or the bureau changes what the scenario uses")


def digital_park_create(actor: Actor) -> None:
    """The bureau keeps the digital-economy registers."""
    require(manages(actor), "Only the bureau keeps the digital-economy registers")


def enterprise_create(actor: Actor) -> None:
    """The bureau registers enterprises."""
    digital_park_create(actor)


def channel_user_create(actor: Actor) -> None:
    """The bureau keeps the data-channel register."""
    require(manages(actor), "Only the bureau keeps the infrastructure registers")


def data_centre_create(actor: Actor) -> None:
    """The bureau keeps the data-centre register."""
    require(manages(actor), "Only the bureau keeps the infrastructure registers")


def evaluation_evidence_attach(actor: Actor, org_id: uuid.UUID) -> None:
    """A unit's staff attach evidence for their unit's score; the bureau for any unit."""
    require(manages(actor) or may_report(actor, org_id), "Only the unit's staff or the bureau attach its evidence")


def enterprise_import(actor: Actor) -> None:
    """The bureau imports the enterprise register."""
    digital_park_create(actor)


# ---------------------------------------------------------------- digital-economy key projects


def key_project_create(actor: Actor, owner_org_id: uuid.UUID) -> None:
    """A unit's staff register the key projects their unit is responsible for (the bureau for any unit)."""
    require(may_report(actor, owner_org_id), "Only the owner unit's staff or the bureau register its key projects")


def key_project_update(actor: Actor, owner_org_id: uuid.UUID) -> None:
    """The owner unit's staff and the bureau change a key project."""
    require(may_report(actor, owner_org_id), "Only the owner unit's staff or the bureau change this key project")


def key_project_transition(actor: Actor, owner_org_id: uuid.UUID) -> None:
    """The owner unit's staff and the bureau start, suspend, resume and complete a key project."""
    require(may_report(actor, owner_org_id), "Only the owner unit's staff or the bureau move this key project on")


def key_project_report(actor: Actor, owner_org_id: uuid.UUID) -> None:
    """The owner unit's staff and the bureau report a key project's progress."""
    require(may_report(actor, owner_org_id), "Only the owner unit's staff or the bureau report this key project")


def key_project_delete(actor: Actor, owner_org_id: uuid.UUID) -> None:
    """The owner unit's staff and the bureau delete a key project still planned."""
    require(may_report(actor, owner_org_id), "Only the owner unit's staff or the bureau delete this key project")


def key_project_import(actor: Actor) -> None:
    """The bureau imports the key-project register (its rows name any unit as owner)."""
    require(manages(actor), "Only the bureau imports the key-project register")
