"""Demo step: the programme cockpit — the seed plan's targets with a history, so the cockpit shows a living programme.

The plan's 2019–2022 window is moved onto the present (started three years ago, due in a year), so schedules and
statuses mean something on the day the demo runs; the numbers are the plan's. Computed targets take their value
from the layers the earlier steps built; each reported target gets quarterly reports by its owner's staff with a
link as evidence, approved by the bureau's reviewer (the latest two left waiting in the review queue). Idempotent:
a target that already has reports is skipped.
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from cityhub.apply import service as apply
from cityhub.apply.schemas import ReportCreate
from cityhub.core import service as core
from cityhub.demo.city import BUREAU_CODE
from cityhub.kit import clock

if TYPE_CHECKING:
    from cityhub.demo import DemoContext

REVIEWER = "dsj-reviewer"
LEFT_IN_QUEUE = 2


def _quarters(start: date, today: date) -> list[date]:
    out: list[date] = []
    d = start
    while True:
        d = d + timedelta(days=91)
        if d >= today:
            return out
        out.append(d)


def build(session: Session, ctx: DemoContext) -> dict[str, int]:
    """Seed the targets, compute what the platform knows, and give the reported ones an approved history."""
    today = clock.now().date()
    start, deadline = today - timedelta(days=3 * 365), today + timedelta(days=365)
    seeded = apply.programme_seed(session, ctx.actor, start, deadline)
    refreshed = apply.progress_refresh(session, ctx.actor)
    reviewer = core.actor_for_username(session, REVIEWER)
    orgs = {o.id: o.code for o in core.organization_all(session)}
    reports = waiting = 0
    for node in apply.target_tree(session, ctx.actor):
        stack = [node]
        while stack:
            p = stack.pop()
            stack.extend(p.children)
            t = p.target
            if t.method != "reported" or t.target_value is None or apply.report_list(session, ctx.actor,
                                                                                    target_id=t.id):
                continue
            owner = orgs.get(t.owner_org_id, BUREAU_CODE) if t.owner_org_id else BUREAU_CODE
            reporter = core.actor_for_username(session, f"{owner.removeprefix('cq-')}-staff")
            pace = ctx.rng.uniform(0.45, 1.1)  # how far along its schedule this target's owner is
            quarters = _quarters(t.start_date or start, today)
            for i, as_of in enumerate(quarters, 1):
                share = min(1.0, pace * i / (len(quarters) + 4) * (1 + 0.08 * math.sin(i)))
                value = round(t.baseline + share * (t.target_value - t.baseline), 1 if t.target_value < 100 else 0)
                r = apply.report_create(session, reporter, t.id, ReportCreate(
                    value=value, as_of=as_of, note=f"{as_of:%Y} 年第 {(as_of.month - 1) // 3 + 1} 季度进展",
                    evidence_url=f"https://example.gov.cn/{owner}/progress/{t.code}/{as_of:%Y%m%d}.pdf"))
                reports += 1
                if i == len(quarters) and waiting < LEFT_IN_QUEUE:
                    waiting += 1
                    continue
                apply.report_review(session, reviewer, r.id, True, "材料齐全，同意")
    ctx.log(f"demo: apply — {seeded.created} targets loaded, {refreshed.computed} computed from the layers, "
            f"{reports} progress reports ({waiting} waiting for the bureau's review)")
    return {"targets_created": seeded.created, "computed": refreshed.computed, "reports": reports,
            "waiting_review": waiting}
