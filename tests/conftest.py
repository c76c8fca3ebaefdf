"""Shared fixtures: a database per backend (SQLite and PostgreSQL), a transaction per test, the app, a small world.

Every test that takes `db`, `session`, `client` or `world` runs once on SQLite and once on PostgreSQL.
PostgreSQL tests skip when it is absent, unless CITYHUB_REQUIRE_SERVICES=1 (CI), where they fail.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from cityhub.app import create_app
from cityhub.core import service as core
from cityhub.core.schemas import ApiTokenCreate, OrganizationCreate, UserCreate
from cityhub.core.users import passwords
from cityhub.kit import clock
from cityhub.kit.db import Database, make_engine
from cityhub.kit.migrate import upgrade
from cityhub.kit.settings import Settings, get_settings

REQUIRE_SERVICES = os.environ.get("CITYHUB_REQUIRE_SERVICES") == "1"
# The suite checks rule semantics where they are easiest to observe: inline, in the ingest transaction, on both
# backends. The queue mode (the default on PostgreSQL) has its own tests: tests/ops/test_queue.py.
os.environ.setdefault("CITYHUB_OPS_EVALUATION", "inline")
# Each test process gets its own var folder (uploads, the Parquet lake, the simulated cloud's state file): two
# xdist workers building the demo city at once shared ./var/cloud, and one's deliberately failing provider made
# the other's provisioning fail.
_VAR = tempfile.mkdtemp(prefix=f"cityhub-var-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-")
atexit.register(shutil.rmtree, _VAR, True)
os.environ["CITYHUB_VAR_DIR"] = _VAR  # not setdefault: xdist workers inherit the controller's environment
get_settings.cache_clear()
PASSWORD = "correct-horse-42"
# Same algorithm (argon2id), trivial cost: the world fixture hashes seven passwords per test on both backends, and
# production cost (19 MiB, 2 passes) made that a third of the suite's time. Hash verification is still real.
passwords._hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out the SQLite variant of tests marked `postgresql_only` (rather than building a world to skip it)."""
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_sqlite = callspec is not None and any(v == "sqlite" for v in callspec.params.values())
        (dropped if on_sqlite and item.get_closest_marker("postgresql_only") else keep).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


@pytest.hookimpl(optionalhook=True)  # xdist's hook: unknown when a run loads no xdist (-p no:xdist)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`make test`'s scheduler (xdist's `--dist loadgroup` groups by a node-id suffix pytest 9 no longer keeps).

    A test file that declares module- or class-scoped fixtures (a demo city, a browser, a Spark session, a live
    server) runs whole on one worker, so its expensive fixture is built once instead of once per worker; every
    other test is its own unit, balanced one by one. The grouped files go first, largest first, so that no long
    file starts last and leaves the other worker idle (what `--dist loadfile` did: measured in the commit log).
    """
    if config.getoption("dist", "no") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling  # type: ignore[import-untyped]  # xdist ships no type information

    grouped: dict[str, bool] = {}

    def has_module_fixture(path: str) -> bool:
        if path not in grouped:
            try:
                src = (config.rootpath / path).read_text(encoding="utf-8")
            except OSError:
                src = ""
            grouped[path] = 'scope="module"' in src or 'scope="class"' in src
        return grouped[path]

    class ModuleFixtureScheduling(LoadScopeScheduling):  # type: ignore[misc]  # its base is untyped (above)
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return path if has_module_fixture(path) else nodeid

    config.option.loadscopereorder = True  # largest units (the grouped files) first; singletons keep their order
    return ModuleFixtureScheduling(config, log)


def service_available(host: str, port: int) -> bool:
    """Is something listening on host:port?"""
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def need_service(name: str, host: str, port: int) -> None:
    """Skip (or, in CI, fail) when an outside service is down."""
    if not service_available(host, port):
        msg = f"{name} is not reachable at {host}:{port}"
        if REQUIRE_SERVICES:
            pytest.fail(msg + " and CITYHUB_REQUIRE_SERVICES=1")
        pytest.skip(msg)


APP_ROLE = "cityhub_app"  # the suite runs as the production roles do (kit/pgroles.py, SECURITY.md): no superuser


def pg_database(prefix: str = "cityhub_test") -> str:
    """Create a database owned by the app role (the open-data role may only connect); returns its app-role URL."""
    from cityhub.kit import pgroles

    admin_url = make_url(get_settings().test_postgres_url)
    need_service("PostgreSQL", admin_url.host or "127.0.0.1", admin_url.port or 5432)
    name = f"{prefix}_{os.getpid()}"  # unique per process: parallel runs never drop each other's database
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        pgroles.ensure_roles(conn, APP_ROLE, get_settings().open_sql_role)
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}" OWNER {APP_ROLE}'))
    admin.dispose()
    admin = create_engine(admin_url.set(database=name), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        pgroles.ensure_database(conn, name, APP_ROLE, get_settings().open_sql_role)
    admin.dispose()
    return admin_url.set(database=name, username=APP_ROLE, password=None).render_as_string(hide_password=False)


def drop_pg_database(name: str) -> None:
    """Drop a database made by `pg_database`."""
    admin = create_engine(make_url(get_settings().test_postgres_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _pg_engine() -> Engine:
    return make_engine(pg_database())


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A freshly migrated database of each backend for this test session."""
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("db") / "cityhub.db"
        eng = make_engine(f"sqlite:///{path}")
    else:
        eng = _pg_engine()
    with eng.begin() as conn:
        upgrade(connection=conn)
    yield eng
    eng.dispose()
    if request.param == "postgresql":
        drop_pg_database(str(eng.url.database))


@pytest.fixture
def db(engine: Engine) -> Iterator[Database]:
    """A Database whose sessions all live in one outer transaction, rolled back after the test."""
    conn = engine.connect()
    outer = conn.begin()
    database = Database(engine=engine)
    database.sessionmaker = sessionmaker(bind=conn, expire_on_commit=False,
                                         join_transaction_mode="create_savepoint")
    database.connection = conn  # type: ignore[attr-defined]  # for tests that isolate steps with savepoints
    try:
        yield database
    finally:
        clock.set_now(None)
        outer.rollback()
        conn.close()


@pytest.fixture
def session(db: Database) -> Iterator[Session]:
    """A session inside the test transaction (flushes are visible to the app under test)."""
    s = db.sessionmaker()
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def settings() -> Settings:
    """Settings for the app under test."""
    return get_settings()


@pytest.fixture
def app(db: Database, settings: Settings) -> Any:
    """The ASGI app bound to the test transaction."""
    return create_app(settings, db)


@pytest.fixture
def client(app: Any) -> Iterator[TestClient]:
    """An HTTP client for the app (no credentials)."""
    with TestClient(app) as c:
        yield c


@dataclass
class World:
    """A small city: root, the bureau, two departments, a district, and one user per role."""

    session: Session
    orgs: dict[str, Any] = field(default_factory=dict)
    users: dict[str, Any] = field(default_factory=dict)
    actors: dict[str, core.Actor] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def headers(self, who: str | None) -> dict[str, str]:
        """Bearer headers of a named user (None = anonymous)."""
        return {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}

    def refresh_actors(self) -> None:
        """Rebuild actors after role changes."""
        for name, user in self.users.items():
            self.actors[name] = core.actor_for_user(self.session, user)


# role name used in authz expectations -> (username, home org key, role, org the role is bound in)
WORLD_USERS = {
    "platform_admin": ("t-admin", "city", "platform_admin", "city"),
    "auditor": ("t-auditor", "city", "auditor", "city"),
    "operator": ("t-operator", "city", "operator", "city"),
    "org_admin_a": ("t-a-admin", "dept_a", "org_admin", "dept_a"),
    "org_member_a": ("t-a-member", "dept_a", "org_member", "dept_a"),
    "org_member_b": ("t-b-member", "dept_b", "org_member", "dept_b"),
    "district_admin": ("t-d-admin", "district", "org_admin", "district"),
}
ROLES = tuple(WORLD_USERS)


def build_world(session: Session) -> World:
    """Create the small city through services, with one API token per user."""
    system = core.Actor.system("test")
    w = World(session=session)
    w.orgs["city"] = core.organization_create(session, system, OrganizationCreate(
        name="测试市", code="t-city", kind="city"))
    for key, name, kind in (("bureau", "大数据局", "department"), ("dept_a", "甲局", "department"),
                            ("dept_b", "乙局", "department"), ("district", "丙区", "district")):
        w.orgs[key] = core.organization_create(session, system, OrganizationCreate(
            name=name, code=f"t-{key.replace('_', '-')}", kind=kind, parent_id=w.orgs["city"].id))
    for key, (username, home, role, bound) in WORLD_USERS.items():
        user = core.user_create(session, system, UserCreate(
            username=username, password=PASSWORD, org_id=w.orgs[home].id))
        core.role_binding_create(session, system, core_binding(user.id, w.orgs[bound].id, role))
        w.users[key] = user
        _tok, raw = core.api_token_create(session, system, user.id, ApiTokenCreate(name="test"))
        w.tokens[key] = raw
    w.refresh_actors()
    session.flush()
    return w


def core_binding(user_id: Any, org_id: Any, role: str) -> Any:
    """A RoleBindingCreate."""
    from cityhub.core.schemas import RoleBindingCreate

    return RoleBindingCreate(user_id=user_id, org_id=org_id, role=role)


@dataclass(frozen=True)
class WorldTemplate:
    """The ids, tokens and actors of the small city committed once per backend (see `world`)."""

    org_ids: dict[str, Any]
    user_ids: dict[str, Any]
    tokens: dict[str, str]
    actors: dict[str, core.Actor]


@pytest.fixture(scope="session")
def world_template(engine: Engine) -> WorldTemplate:
    """Build the small city once per backend and commit it: each test's transaction starts from it and rolls back.

    Building it through the services costs ~130 statements; per test on both backends that was a large part of
    the suite's time. A test still gets the same world, read into its own session (`world`), and anything it
    changes is rolled back with its transaction. Process caches stay exact: tests run without the push cache
    (`kit/pushcache.py`), and actors are frozen values.
    """
    with Database(engine=engine).session_scope() as s:
        w = build_world(s)
        return WorldTemplate(org_ids={k: o.id for k, o in w.orgs.items()},
                             user_ids={k: u.id for k, u in w.users.items()},
                             tokens=dict(w.tokens), actors=dict(w.actors))


@pytest.fixture
def world(session: Session, world_template: WorldTemplate) -> World:
    """The small city with a user and token per role (committed once per backend, read into this test's session)."""
    from cityhub.core.models import Organization, User
    from cityhub.core.organizations import tree

    # the process's organisation tree (no push cache in tests: a TTL cache keyed by the database) may hold what an
    # earlier test changed and rolled back — e.g. another bureau — for the same ids: read afresh
    tree._tree_cache.clear()
    w = World(session=session, tokens=dict(world_template.tokens), actors=dict(world_template.actors))
    orgs = {o.id: o for o in session.scalars(select(Organization).where(
        Organization.id.in_(world_template.org_ids.values())))}
    users = {u.id: u for u in session.scalars(select(User).where(User.id.in_(world_template.user_ids.values())))}
    w.orgs = {k: orgs[i] for k, i in world_template.org_ids.items()}
    w.users = {k: users[i] for k, i in world_template.user_ids.items()}
    return w
