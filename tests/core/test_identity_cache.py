"""The push-invalidated identity cache (kit.pushcache + core.service): exact across processes, never stale.

Two kinds of test: with real commits on PostgreSQL (another connection plays another server process, and its
invalidation must reach this process's listener through NOTIFY), and inside the rolled-back test transaction (the
service wiring: every change to a cached fact invalidates, and a request after a revocation is refused).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, delete, event, update

from cityhub.core import service as core
from cityhub.core.models import ApiToken, Organization, RoleBinding, User
from cityhub.core.tokens.service import token_hash
from cityhub.kit import clock, pushcache
from cityhub.kit.db import Database
from cityhub.kit.errors import Unauthorized
from cityhub.kit.pagination import PageParams


def _wait(predicate: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


class Live:
    """Committed rows in the test database, a listening cache, and a second 'process' that changes them."""

    def __init__(self, db: Database, other: Database) -> None:
        self.db, self.other = db, other
        self.cache = pushcache.start(db.engine)
        assert self.cache is not None and self.cache.wait_listening()
        tag = secrets.token_hex(4)
        with db.session_scope() as s:
            self.org = Organization(name="缓存测试局", code=f"pc-{tag}", kind="department")
            s.add(self.org)
            s.flush()
            self.other_org = Organization(name="缓存测试二局", code=f"pc2-{tag}", kind="department")
            s.add(self.other_org)
            s.flush()
            self.user = User(username=f"pc-{tag}", org_id=self.org.id, password_hash="x")
            s.add(self.user)
            s.flush()
            s.add(RoleBinding(user_id=self.user.id, org_id=self.org.id, role="org_member"))
            prefix = secrets.token_hex(6)
            self.raw = f"{core.TOKEN_PREFIX}_{prefix}_{secrets.token_urlsafe(24).replace('_', 'x')}"
            self.token = ApiToken(user_id=self.user.id, name="t", prefix=prefix, secret_hash=token_hash(self.raw))
            s.add(self.token)
        self.statements = 0
        event.listen(db.engine, "before_cursor_execute", self._count)

    def _count(self, *_a: Any) -> None:
        self.statements += 1

    def cached(self) -> Any:
        with self.db.session_scope() as s:
            return core.cached_token_actor(s, self.raw)

    def authenticate(self) -> Any:
        with self.db.session_scope() as s:
            return core.authenticate_token(s, self.raw)

    def close(self) -> None:
        event.remove(self.db.engine, "before_cursor_execute", self._count)
        pushcache.stop_all()
        with self.db.engine.begin() as conn:
            conn.execute(delete(User).where(User.id == self.user.id))  # cascades to tokens and bindings
            conn.execute(delete(Organization).where(Organization.id.in_([self.org.id, self.other_org.id])))


@pytest.fixture
def live(engine: Any) -> Iterator[Live]:
    if engine.dialect.name != "postgresql":
        pytest.skip("the push cache listens for PostgreSQL notifications")
    db = Database(engine=create_engine(engine.url, pool_size=2))
    # another URL of the same database: no cache of this process is its cache, so only NOTIFY can tell ours
    other = Database(engine=create_engine(engine.url.update_query_dict({"application_name": "other"}),
                                          pool_size=2))
    state = Live(db, other)
    try:
        yield state
    finally:
        clock.set_now(None)
        state.close()
        db.engine.dispose()
        other.engine.dispose()


def test_a_cached_token_costs_no_statement_and_gives_the_same_actor(live: Live) -> None:
    assert live.cached() is None  # nothing cached yet: the caller asks the database
    first = live.authenticate()
    before = live.statements
    again = live.cached()
    assert again == first and again.roles["org_member"] == frozenset({live.org.id})
    assert live.statements == before  # no statement at all


def test_a_revocation_committed_by_another_process_reaches_this_one(live: Live) -> None:
    live.authenticate()
    assert live.cached() is not None
    with live.other.session_scope() as s:  # another server process revokes through the service rules
        s.execute(update(ApiToken).where(ApiToken.id == live.token.id).values(revoked_at=clock.now()))
        core.identity_changed(s)
        assert live.cached() is not None  # not committed yet: still valid everywhere
    assert _wait(lambda: live.cached() is None)
    with pytest.raises(Unauthorized) as err:
        live.authenticate()
    assert err.value.code == "token_revoked"


def test_a_removed_role_binding_changes_the_cached_roles(live: Live) -> None:
    live.authenticate()
    with live.other.session_scope() as s:
        s.execute(update(RoleBinding).where(RoleBinding.user_id == live.user.id).values(org_id=live.other_org.id))
        core.identity_changed(s)
    assert _wait(lambda: live.cached() is None)
    assert live.authenticate().roles["org_member"] == frozenset({live.other_org.id})


def test_a_logout_committed_by_another_process_ends_the_session_here_at_once(live: Live) -> None:
    uid = live.user.id
    with live.db.session_scope() as s:
        assert core.actor_for_session_user(s, uid, 0) is not None  # loads and caches the session's actor
    with live.db.session_scope() as s:
        before = live.statements
        assert core.cached_session_actor(s, uid, 0) is not None
        assert live.statements == before  # served from the cache
    with live.other.session_scope() as s:  # another server process: the user logs out there
        user = s.get(User, uid)
        assert user is not None
        core.user_logout(s, core.actor_for_user(s, user))
    with live.db.session_scope() as s:
        assert _wait(lambda: core.cached_session_actor(s, uid, 0) is None)
        assert core.actor_for_session_user(s, uid, 0) is None  # the old cookie's version is refused
        assert core.actor_for_session_user(s, uid, 1) is not None  # a new login's cookie is accepted


def test_an_organisation_tree_change_elsewhere_clears_trees_and_actors(live: Live) -> None:
    live.authenticate()
    with live.db.session_scope() as s:
        assert live.other_org.id not in core.org_subtree(s, live.org.id)
    with live.other.session_scope() as s:
        s.execute(update(Organization).where(Organization.id == live.other_org.id).values(parent_id=live.org.id))
        core.org_tree_changed(s)
    assert _wait(lambda: live.cached() is None)
    assert live.authenticate().roles["org_member"] == frozenset({live.org.id, live.other_org.id})


def test_a_wrong_secret_or_an_expired_token_is_never_served_from_the_cache(live: Live) -> None:
    live.authenticate()
    forged = live.raw.rsplit("_", 1)[0] + "_" + "x" * 32
    with live.db.session_scope() as s:
        assert core.cached_token_actor(s, forged) is None
        with pytest.raises(Unauthorized):
            core.authenticate_token(s, forged)
    with live.other.session_scope() as s:
        s.execute(update(ApiToken).where(ApiToken.id == live.token.id).values(expires_at=clock.now()
                                                                             + timedelta(minutes=1)))
        core.identity_changed(s)
    assert _wait(lambda: live.cached() is None)
    live.authenticate()
    assert live.cached() is not None
    clock.set_now(clock.now() + timedelta(minutes=2))
    assert live.cached() is None
    with pytest.raises(Unauthorized) as err:
        live.authenticate()
    assert err.value.code == "token_expired"


def test_last_use_is_still_recorded_every_few_minutes(live: Live) -> None:
    live.authenticate()
    clock.set_now(clock.now() + timedelta(minutes=6))
    assert live.cached() is None  # due for a last_used_at write: the database path takes it
    live.authenticate()
    with live.db.session_scope() as s:
        used = s.get(ApiToken, live.token.id).last_used_at  # type: ignore[union-attr]  # the token row was created above
    assert used is not None and clock.as_utc(used) == clock.now()
    assert live.cached() is not None


def test_without_a_listener_nothing_is_cached(live: Live) -> None:
    live.authenticate()
    assert live.cache is not None
    live.cache.stop()
    assert live.cached() is None
    live.authenticate()
    assert live.cached() is None


def test_a_load_that_raced_an_invalidation_is_not_stored(live: Live) -> None:
    cache = live.cache
    assert cache is not None
    generation = cache.generation(core.IDENTITY_NS)
    cache.clear(core.IDENTITY_NS)  # a change committed while the loader was reading the database
    cache.put(core.IDENTITY_NS, "k", "stale", generation)
    assert cache.get(core.IDENTITY_NS, "k") is None
    cache.put(core.IDENTITY_NS, "k", "fresh", cache.generation(core.IDENTITY_NS))
    assert cache.get(core.IDENTITY_NS, "k") == "fresh"
    cache.clear()  # a reconnect: every namespace
    assert cache.get(core.IDENTITY_NS, "k") is None


# ---------------------------------------------------------------- service wiring, in the test transaction


@pytest.fixture
def invalidations(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    seen: list[tuple[str, ...]] = []
    real = pushcache.invalidate

    def spy(session: Any, *namespaces: str) -> None:
        seen.append(namespaces)
        real(session, *namespaces)

    monkeypatch.setattr(pushcache, "invalidate", spy)
    return seen


def test_every_change_to_a_cached_fact_invalidates(world: Any, session: Any,
                                                   invalidations: list[tuple[str, ...]]) -> None:
    from cityhub.core.schemas import OrganizationCreate, OrganizationUpdate, UserUpdate
    from tests.conftest import core_binding

    admin = core.Actor.system("test")  # world actors predate the organisation created below
    member = world.users["org_member_a"]

    def changed(action: Any) -> set[str]:
        invalidations.clear()
        action()
        return {ns for call in invalidations for ns in call}

    assert changed(lambda: core.user_update(session, admin, member.id, UserUpdate(disabled=True))) == {
        core.IDENTITY_NS}
    binding = core.role_binding_create(session, admin, core_binding(member.id, world.orgs["dept_b"].id,
                                                                    "org_member"))
    assert changed(lambda: core.role_binding_delete(session, admin, binding.id)) == {core.IDENTITY_NS}
    tokens, _n = core.api_token_list(session, admin, PageParams(limit=1, offset=0), user_id=member.id)
    assert changed(lambda: core.api_token_revoke(session, admin, tokens[0].id)) == {core.IDENTITY_NS}
    invalidations.clear()
    new = core.organization_create(session, admin, OrganizationCreate(
        name="新局", code="t-new", kind="department", parent_id=world.orgs["city"].id))
    assert {ns for call in invalidations for ns in call} == {core.ORG_TREE_NS, core.IDENTITY_NS}
    assert changed(lambda: core.organization_update(session, admin, new.id, OrganizationUpdate(
        name="新局二"))) == {core.ORG_TREE_NS}  # the directory holds names; no actor changes
    assert changed(lambda: core.organization_delete(session, admin, new.id)) == {core.ORG_TREE_NS,
                                                                                 core.IDENTITY_NS}


def test_through_the_api_a_revoked_token_is_refused_at_once_with_the_cache_on(
        world: Any, client: Any, engine: Any) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("the push cache listens for PostgreSQL notifications")
    cache = pushcache.start(engine)
    assert cache is not None and cache.wait_listening()
    try:
        who = world.headers("org_member_a")
        assert client.get("/api/v1/organizations", headers=who).status_code == 200
        prefix = world.tokens["org_member_a"].split("_")[1]
        assert cache.get(core.IDENTITY_NS, ("token", prefix)) is not None  # the request cached its actor
        hits = cache.hits
        assert client.get("/api/v1/organizations", headers=who).status_code == 200
        assert cache.hits > hits  # the second request was authenticated from the cache
        mine = client.get("/api/v1/tokens", headers=who).json()["items"]
        assert client.delete(f"/api/v1/tokens/{mine[0]['id']}", headers=who).status_code == 200
        refused = client.get("/api/v1/organizations", headers=who)
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "token_revoked"
    finally:
        pushcache.stop_all()

