"""The helpers every domain's pages and services share (issue 15): one way to run a form, quote a flash message,
fetch-or-404, move a status through its table, and audit a change."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import BaseModel, ValidationError

from cityhub.core import service as core
from cityhub.core.actor import Actor
from cityhub.core.models import AuditEntry, Organization
from cityhub.kit.db import get_or_404
from cityhub.kit.errors import Conflict, InvalidTransition, NotFound, ValidationFailed, transition
from cityhub.kit.web import error_text, redirect_with_message


class Light(StrEnum):
    RED = "red"
    GREEN = "green"
    AMBER = "amber"


FLOW = {Light.RED: {Light.GREEN}, Light.GREEN: {Light.AMBER}, Light.AMBER: {Light.RED}}


class Lamp:
    status: Any = "red"  # as a Mapped[str] column reads back: the plain value


@pytest.mark.parametrize("msg", ["保存成功", "a & b", "50% #1 ?x=y", "line\nbreak"])
def test_the_flash_message_survives_the_redirect_whatever_it_holds(msg: str) -> None:
    for base in ("/cloud/tenancies", "/ops/incidents?status=new"):
        r = redirect_with_message(base, msg)
        assert r.status_code == 303
        url = urlsplit(r.headers["location"])
        assert url.path == base.split("?")[0]
        assert parse_qs(url.query)["msg"] == [msg]


def test_error_text_names_the_fields_once() -> None:
    assert error_text(ValidationFailed("bad", field="quantity")) == "bad (quantity)"
    assert error_text(ValidationFailed("quantity is too large", field="quantity")) == "quantity is too large"
    assert error_text(Conflict("Quota exceeded", details={"quota": "vcpu"})) == "Quota exceeded (vcpu)"

    class Form(BaseModel):
        n: int

    with pytest.raises(ValidationError) as info:
        Form(n="x")
    assert error_text(info.value).startswith("n: ")


def test_transition_follows_the_table_and_returns_the_old_state() -> None:
    lamp = Lamp()
    assert transition(lamp, Light.GREEN, FLOW, "lamp") == Light.RED
    assert lamp.status == Light.GREEN
    with pytest.raises(InvalidTransition):
        transition(lamp, Light.RED, FLOW, "lamp")
    assert lamp.status == Light.GREEN  # refused: unchanged


def test_get_or_404_and_audited(world: Any) -> None:
    s = world.session
    org = get_or_404(s, Organization, world.orgs["dept_a"].id, "Organisation")
    with pytest.raises(NotFound):
        get_or_404(s, Organization, uuid.uuid4(), "Organisation")
    with pytest.raises(NotFound):
        get_or_404(s, Organization, None, "Organisation")
    actor = Actor.system("t")
    with core.audited(s, actor, "organization_rename", org, ("name", "code"), target_type="organization",
                      org_id=org.id):
        org.name = "甲局（新）"
    row = s.query(AuditEntry).filter_by(action="organization_rename").one()
    assert row.summary["changed"] == ["name"]
    assert row.summary["after"] == {"name": "甲局（新）"}
