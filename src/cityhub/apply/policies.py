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


def report_review(actor: Actor, reporter_id: uuid.UUID | None) -> None:
    """The bureau reviews, and a reviewer never decides their own report."""
    require(reviews(actor), "Only the bureau reviews reported progress")
    require(reporter_id is None or actor.user_id != reporter_id,
            "A report is reviewed by someone other than its reporter")
