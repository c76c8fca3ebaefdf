"""A subscription the platform approves itself carries a note code read in the reader's language (issue 16).

The open component's automatic approval stored "open to all units" in English, shown as-is on the zh-CN pages
(/compute/apps, /compute/approvals — found by the visual check). It stores a code now; old rows read the same way.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import update

from cityhub.compute import service as compute
from cityhub.compute.models import Subscription
from cityhub.kit import i18n
from tests.compute.helpers import published, subscribed
from tests.web.test_pages import login


def test_an_automatic_approval_note_is_a_code_read_in_each_language(client: Any, world: Any) -> None:
    comp = published(world, "geo", open_to_all=True)
    _app, sub, _raw = subscribed(world, comp, "dept_b")
    assert sub.status == "active" and sub.decision_note == compute.NOTE_OPEN_TO_ALL
    assert compute.decision_note_text(sub.decision_note) == "面向全部单位开放，自动通过"  # zh-CN by default
    token = i18n.set_locale("en")
    try:
        assert compute.decision_note_text("open to all units") == "Approved at once: open to all units"  # old rows
    finally:
        i18n.reset_locale(token)
    assert compute.decision_note_text("配额不足") == "配额不足"  # a person's note stays as written
    world.session.execute(update(Subscription).where(Subscription.id == sub.id).values(
        decision_note="open to all units"))
    world.session.flush()
    login(client, "t-b-member")
    page = client.get("/compute/apps").text
    assert "面向全部单位开放，自动通过" in page and not re.search(r"open[ _]to[ _]all", page)
