"""Core services: organisations, users, tokens, login throttling, audit, working-day calendar."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from cityhub.core import service as core
from cityhub.core.schemas import (
    USCC_CHARS,
    ApiTokenCreate,
    OrganizationCreate,
    UserCreate,
    uscc_check_char,
    uscc_valid,
)
from cityhub.kit import clock
from cityhub.kit.errors import Conflict, Forbidden, NotFound, Unauthorized, ValidationFailed
from cityhub.kit.pagination import PageParams
from tests.conftest import PASSWORD

SYSTEM = core.Actor.system("test")


def test_uscc_known_valid_code() -> None:
    # 91350100M000100Y43 is the GB 32100 worked example.
    assert uscc_valid("91350100M000100Y43")
    assert not uscc_valid("91350100M000100Y44")
    assert not uscc_valid("91350100M000100Y4")
    assert not uscc_valid("91350100M000100YI3")  # I is not in the charset


@given(st.text(alphabet=USCC_CHARS, min_size=17, max_size=17))
def test_uscc_check_char_round_trips(body: str) -> None:
    code = body + uscc_check_char(body)
    assert uscc_valid(code)
    wrong = USCC_CHARS[(USCC_CHARS.index(code[-1]) + 1) % 31]
    assert not uscc_valid(body + wrong)


def test_org_code_and_uscc_are_unique(session: Any, world: Any) -> None:
    with pytest.raises(Conflict) as exc:
        core.organization_create(session, SYSTEM, OrganizationCreate(name="x", code="t-dept-a", kind="department"))
    assert exc.value.details["field"] == "code"


def test_org_admin_scope_covers_children_only(session: Any, world: Any) -> None:
    actor = world.actors["org_admin_a"]
    unit = core.organization_create(session, actor, OrganizationCreate(
        name="科室", code="t-a-x", kind="unit", parent_id=world.orgs["dept_a"].id))
    # the binding at dept A covers the new child unit once the actor is rebuilt
    world.refresh_actors()
    assert world.actors["org_admin_a"].has("org_admin", unit.id)
    with pytest.raises(Forbidden):
        core.organization_create(session, actor, OrganizationCreate(
            name="越权", code="t-b-x", kind="unit", parent_id=world.orgs["dept_b"].id))


def test_user_visibility_hides_other_departments(session: Any, world: Any) -> None:
    with pytest.raises(NotFound):
        core.user_get(session, world.actors["org_member_b"], world.users["org_member_a"].id)
    rows, total = core.user_list(session, world.actors["org_admin_a"], PageParams())
    assert {u.username for u in rows} == {"t-a-admin", "t-a-member"}
    assert total == 2


def test_duplicate_username_conflicts_and_writes_nothing(session: Any, world: Any) -> None:
    before = session.scalar(text("select count(*) from core_audit"))
    with pytest.raises(Conflict):
        core.user_create(session, SYSTEM, UserCreate(username="t-a-member", password=PASSWORD,
                                                     org_id=world.orgs["dept_a"].id))
    assert session.scalar(text("select count(*) from core_audit")) == before


def test_login_locks_after_repeated_failures_and_is_audited(session: Any, world: Any, settings: Any) -> None:
    clock.set_now(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    for _ in range(settings.login_max_failures):
        assert core.login_attempt(session, "t-a-member", "wrong-password").actor is None
    result = core.login_attempt(session, "t-a-member", PASSWORD)
    assert result.actor is None and result.reason == "locked"
    lock_rows = session.execute(text("select count(*) from core_audit where action = 'user_lock'")).scalar()
    assert lock_rows == 1
    clock.advance(timedelta(minutes=settings.login_lock_minutes + 1))
    assert core.login_attempt(session, "t-a-member", PASSWORD).actor is not None


def test_unknown_user_and_wrong_password_look_the_same(session: Any, world: Any) -> None:
    assert core.login_attempt(session, "nobody", "x" * 10).reason == "bad_credentials"
    assert core.login_attempt(session, "t-a-member", "x" * 10).reason == "bad_credentials"


def test_token_lifecycle(session: Any, world: Any) -> None:
    user = world.users["org_member_a"]
    token, raw = core.api_token_create(session, world.actors["org_member_a"], user.id, ApiTokenCreate(name="ci"))
    assert core.authenticate_token(session, raw).user_id == user.id
    stored = session.execute(text("select secret_hash from core_api_token where prefix = :p"),
                             {"p": token.prefix}).scalar()
    assert raw not in stored
    core.api_token_revoke(session, world.actors["org_member_a"], token.id)
    with pytest.raises(Unauthorized) as exc:
        core.authenticate_token(session, raw)
    assert exc.value.code == "token_revoked"


def test_expired_token_refused(session: Any, world: Any) -> None:
    clock.set_now(datetime(2026, 1, 1, tzinfo=UTC))
    user = world.users["org_member_a"]
    _tok, raw = core.api_token_create(session, SYSTEM, user.id, ApiTokenCreate(
        name="short", expires_at=datetime(2026, 1, 2, tzinfo=UTC)))
    assert core.authenticate_token(session, raw)
    clock.set_now(datetime(2026, 1, 3, tzinfo=UTC))
    with pytest.raises(Unauthorized) as exc:
        core.authenticate_token(session, raw)
    assert exc.value.code == "token_expired"


def test_token_in_the_past_rejected(session: Any, world: Any) -> None:
    with pytest.raises(ValidationFailed):
        core.api_token_create(session, SYSTEM, world.users["org_member_a"].id, ApiTokenCreate(
            name="x", expires_at=datetime(2000, 1, 1, tzinfo=UTC)))


def test_audit_redacts_secrets_and_records_changes(session: Any, world: Any) -> None:
    core.user_password_set(session, world.actors["org_admin_a"], world.users["org_member_a"].id, "brand-new-pw")
    row = session.execute(text("select summary, actor_name from core_audit where action = 'user_password_set'"
                               )).first()
    assert row is not None and row.actor_name == "t-a-admin"
    assert "brand-new-pw" not in str(row.summary)
    entry = core.audit_record(session, SYSTEM, "thing_update", before={"name": "a", "api_secret": "s1"},
                              after={"name": "b", "api_secret": "s2"})
    assert entry.summary["changed"] == ["api_secret", "name"]
    assert entry.summary["after"]["api_secret"] == "***"


@pytest.mark.postgresql_only("the append-only trigger is PostgreSQL's")
def test_audit_is_append_only_on_postgresql(session: Any, world: Any) -> None:
    nested = session.begin_nested()
    with pytest.raises(DBAPIError):
        session.execute(text("update core_audit set action = 'tampered'"))
    nested.rollback()


def test_audit_scope_of_department_auditor(session: Any, world: Any) -> None:
    with pytest.raises(Forbidden):
        core.audit_list(session, world.actors["org_member_a"], core.AuditFilter(), PageParams())
    rows, _ = core.audit_list(session, world.actors["auditor"], core.AuditFilter(action="user_*"), PageParams())
    assert rows and all(r.action.startswith("user_") for r in rows)


def test_working_days_skip_weekends_and_holidays(session: Any) -> None:
    core.calendar_day_set(session, SYSTEM, date(2026, 10, 1), False, "国庆节")
    core.calendar_day_set(session, SYSTEM, date(2026, 10, 2), False, "国庆节")
    core.calendar_day_set(session, SYSTEM, date(2026, 10, 10), True, "调休")  # a Saturday made a working day
    start = datetime(2026, 9, 30, 2, 0, tzinfo=UTC)  # Wednesday, 10:00 in Chongqing
    due = core.working_days_add(session, start, 3)
    # Oct 1, 2 holidays; Oct 3-4 weekend; working days: Oct 5, 6, 7 -> due end of Oct 7 local
    assert due == datetime(2026, 10, 7, 15, 59, 59, tzinfo=UTC)
    assert core.working_days_between(session, start, datetime(2026, 10, 11, 1, tzinfo=UTC)) == 6
