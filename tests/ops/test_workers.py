"""Several ingest workers on PostgreSQL: a shared subscription hands one device's messages to different workers.

Each worker's batch runs in its own transaction; the rule state is written only where it is still the version
that worker read, so a series changed by another worker in the meantime is re-read and evaluated again (no lost
update of counters, timers or running statistics).
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from cityhub.connect.schemas import SeriesPoint
from cityhub.core import service as core
from cityhub.core.schemas import OrganizationCreate
from cityhub.kit.db import Database, make_engine
from cityhub.kit.migrate import upgrade
from cityhub.kit.settings import get_settings
from cityhub.ops import service as ops
from cityhub.ops.models import Alarm, RuleState
from cityhub.ops.rules import engine, state
from cityhub.ops.schemas import RuleCreate
from tests.conftest import need_service

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def pg() -> Iterator[Database]:
    """A scratch PostgreSQL database whose transactions really commit (two connections see each other)."""
    admin_url = make_url(get_settings().test_postgres_url)
    need_service("PostgreSQL", admin_url.host or "127.0.0.1", admin_url.port or 5432)
    name = f"cityhub_test_ops_workers_{os.getpid()}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    db = Database(engine=make_engine(url))
    yield db
    db.engine.dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _point(device: uuid.UUID, org: uuid.UUID, minute: float, value: float) -> SeriesPoint:
    return SeriesPoint(device_id=device, key="v", ts=T0 + timedelta(minutes=minute), value=value, text=None,
                       org_id=org, profile_code="w-profile")


def test_two_workers_on_one_series_lose_no_update(pg: Database) -> None:
    system = core.Actor.system("test")
    with pg.session_scope() as s:
        org = core.organization_create(s, system, OrganizationCreate(name="工人市", code=f"w-{uuid.uuid4().hex[:6]}",
                                                                     kind="city"))
        rule = ops.rule_create(s, system, RuleCreate.model_validate({
            "name": "三连", "kind": "threshold", "profile_code": "w-profile", "key": "v", "org_id": org.id,
            "condition": {"op": ">", "value": 10}, "repeat_count": 3}))
        org_id, rule_id = org.id, rule.id
    device = uuid.uuid4()
    with pg.session_scope() as s:  # the series exists before the race (first sight creates the row)
        ops.on_telemetry_stored(s, [_point(device, org_id, 0, 1.0)])

    a_flushed, release_a = threading.Event(), threading.Event()
    result: dict[str, Any] = {}

    def worker_a() -> None:
        with pg.session_scope() as s:
            ops.on_telemetry_stored(s, [_point(device, org_id, 1, 20.0)])  # count 1, row now locked by A
            a_flushed.set()
            release_a.wait(10)

    def worker_b() -> None:
        state.clear_cache()  # a different process: its own memory
        with pg.session_scope() as s:
            result["b"] = ops.on_telemetry_stored(s, [_point(device, org_id, 2, 30.0)])

    ta = threading.Thread(target=worker_a)
    ta.start()
    assert a_flushed.wait(10)
    tb = threading.Thread(target=worker_b)
    tb.start()
    time.sleep(0.5)  # B read the committed state (count 0) and now waits on A's row lock
    release_a.set()
    ta.join(10)
    tb.join(10)
    assert result["b"].replayed == 1  # B saw that A moved the series and evaluated its point again
    with pg.session_scope() as s:
        st = s.get(RuleState, engine.state_id(rule_id, device))
        assert st is not None and st.count == 2  # A's and B's violations both counted
        ops.on_telemetry_stored(s, [_point(device, org_id, 3, 40.0)])  # the third in a row fires
    with pg.session_scope() as s:
        alarms = list(s.scalars(select(Alarm).where(Alarm.originator_id == device)))
        assert len(alarms) == 1 and alarms[0].details["count"] == 3
