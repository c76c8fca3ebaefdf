"""Factories for portal tests: open entries with rows, a public user and an approved application."""

from __future__ import annotations

import io
from typing import Any

from cityhub.data import schemas, service
from cityhub.data.portal import service as portal
from tests.data.helpers import PEOPLE_CSV, published_entry

OPEN_COLUMNS = ["gender", "birth_date", "income", "employed"]  # PEOPLE_ITEMS without a masking rule
MASKED_COLUMNS = ["name", "id_number", "phone"]


def open_entry(w: Any, title: str = "户籍人口统计", open_type: str = "unconditional", org: str = "dept_a",
               rows: bool = True, **over: Any) -> tuple[Any, Any]:
    """A published entry of the open catalog (people items, three of them masked) and its table resource."""
    over.setdefault("open_condition", "注册并说明用途" if open_type == "conditional" else "")
    over.setdefault("tags", ["人口", "统计"])
    entry = published_entry(w, org, title=title, open_type=open_type, **over)
    res = None
    if rows:
        actor = w.actors["org_member_a" if org == "dept_a" else "org_member_b"]
        res, load = service.resource_table_upload(w.session, actor, entry.id, "people.csv",
                                                  io.BytesIO(PEOPLE_CSV.encode()))
        assert load.accepted, load.errors
    return entry, res


def public_user(w: Any, username: str = "citizen1") -> Any:
    """A registered public user (no department) and their actor."""
    from cityhub.core import service as core

    user = portal.public_user_register(w.session, core.Actor.anonymous(), schemas.PublicUserRegister(
        username=username, email=f"{username}@example.org", password="correct-horse-42"))
    return core.actor_for_user(w.session, user)


def approved_application(w: Any, entry: Any, applicant: Any) -> tuple[Any, str]:
    """The applicant applies, the provider approves, the applicant activates: (grant, token)."""
    req = portal.open_application_create(w.session, applicant, schemas.OpenApplicationCreate(
        entry_id=entry.id, purpose="研究城市人口结构变化"))
    service.share_request_provider_review(w.session, w.actors["org_member_a"], req.id, True, "同意")
    return portal.open_application_activate(w.session, applicant, req.id)
