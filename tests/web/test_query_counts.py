"""List pages read their rows in a fixed number of queries, whatever the number of rows (no N+1).

Each test counts the SQL statements one page load sends (a SQLAlchemy `before_cursor_execute` listener on the test
engine), adds more rows of the kind the page lists, and counts again: the count must not grow with the rows. The
pages named are the two the page benchmark found slow (issue 16: /cloud/scorecards ~290 queries for 32 units,
/admin/users one role query per user).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from cityhub.cloud import service as cloud
from cityhub.cloud.schemas import SystemCreate, TenancyCreate
from cityhub.core import service as core
from cityhub.core.schemas import OrganizationCreate, OrganizationUpdate, UserCreate
from cityhub.kit.settings import get_settings
from tests.conftest import PASSWORD, core_binding
from tests.web.test_pages import login

SYSTEM = core.Actor.system("test")


@contextmanager
def counting(db: Any) -> Iterator[list[str]]:
    """Collect the SQL statements sent to the test engine while the block runs."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", note)


def page_queries(client: Any, db: Any, path: str) -> int:
    client.get(path)  # warm: caches that a first load fills (actor, vocabularies) are not what is measured
    with counting(db) as seen:
        r = client.get(path)
    assert r.status_code == 200, path
    return len(seen)


def add_units(world: Any, n: int, start: int) -> None:
    """`n` more units, each with a head, a system and a tenancy (so each appears in the ranking)."""
    s = world.session
    for i in range(start, start + n):
        org = core.organization_create(s, SYSTEM, OrganizationCreate(
            name=f"加局{i}", code=f"t-extra-{i}", kind="department", parent_id=world.orgs["city"].id))
        head = core.user_create(s, SYSTEM, UserCreate(username=f"t-head-{i}", password=PASSWORD, org_id=org.id,
                                                      display_name=f"局长{i}"))
        core.organization_update(s, SYSTEM, org.id, OrganizationUpdate(head_user_id=head.id))
        cloud.system_create(s, SYSTEM, SystemCreate(org_id=org.id, name=f"系统{i}", dr_required=3))
        cloud.tenancy_create(s, SYSTEM, TenancyCreate(org_id=org.id, name=f"租户{i}"))
    s.flush()


def test_scorecards_page_queries_do_not_grow_with_units(client: Any, db: Any, world: Any,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "bureau_code", "t-bureau")
    add_units(world, 2, 0)
    login(client, "t-admin")
    before = page_queries(client, db, "/cloud/scorecards")
    add_units(world, 8, 2)
    after = page_queries(client, db, "/cloud/scorecards")
    assert "加局9" in client.get("/cloud/scorecards").text  # the new units are in the ranking
    assert after == before, f"/cloud/scorecards: {before} queries for 2 units, {after} for 10"


def test_users_page_queries_do_not_grow_with_users(client: Any, db: Any, world: Any) -> None:
    login(client, "t-admin")
    before = page_queries(client, db, "/admin/users")
    s = world.session
    for i in range(12):
        u = core.user_create(s, SYSTEM, UserCreate(username=f"t-many-{i}", password=PASSWORD,
                                                   org_id=world.orgs["dept_a"].id))
        core.role_binding_create(s, SYSTEM, core_binding(u.id, world.orgs["dept_a"].id, "org_member"))
    s.flush()
    after = page_queries(client, db, "/admin/users")
    assert after == before, f"/admin/users: {before} queries, {after} with 12 more users"


def user_table(client: Any, **params: str) -> str:
    page = client.get("/admin/users", params=params)
    assert page.status_code == 200
    return str(page.text.split("<table>", 1)[1].split("</table>", 1)[0])


def test_users_page_filters_by_unit_and_role(client: Any, world: Any) -> None:
    login(client, "t-admin")
    unit = user_table(client, org_id=str(world.orgs["dept_b"].id))
    assert "t-b-member" in unit and "t-a-member" not in unit and "t-admin" not in unit
    role = user_table(client, role="auditor")
    assert "t-auditor" in role and "t-operator" not in role
    both = user_table(client, org_id=str(world.orgs["dept_a"].id), role="org_admin")
    assert "t-a-admin" in both and "t-a-member" not in both
    # A malformed filter is no filter, never a 500.
    assert "t-auditor" in user_table(client, org_id="nope", role="nope")


def test_one_grant_form_on_the_users_page(client: Any, world: Any) -> None:
    """Roles are granted from one form above the table (a role and a unit picker per row made a 320 kB page)."""
    login(client, "t-admin")
    page = client.get("/admin/users").text
    assert page.count('data-testid="grant-form"') == 1 and page.count('name="org_id"') == 3  # create, filter, grant
    csrf = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    member = world.users["org_member_b"]
    r = client.post("/admin/bindings", data={"csrf_token": csrf, "user_id": str(member.id), "role": "auditor",
                                             "org_id": str(world.orgs["dept_b"].id)}, follow_redirects=True)
    assert r.status_code == 200 and "t-b-member" in user_table(client, role="auditor")
    bad = client.post("/admin/bindings", data={"csrf_token": csrf, "user_id": "nope", "role": "auditor",
                                               "org_id": str(world.orgs["dept_b"].id)}, follow_redirects=True)
    assert bad.status_code < 500
