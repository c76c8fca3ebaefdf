"""Two server processes sharing Redis: one quota of N admits exactly N calls, and every call is metered.

The calls alternate between the processes and run concurrently, so each process sees only part of them: only a
counter shared in Redis, taken atomically, can stop at N. Each process flushes its own metering buffer; after both
stop, the calls table holds every call.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from cityhub.compute import service as compute
from cityhub.compute.models import Call
from cityhub.compute.schemas import AppCreate, SubscriptionCreate, SubscriptionDecision, VersionCreate
from cityhub.core import service as core
from cityhub.core.actor import Actor
from cityhub.core.schemas import OrganizationCreate
from cityhub.kit.db import Database
from cityhub.kit.migrate import upgrade
from tests.compute.helpers import component_data
from tests.conftest import need_service

N = 25
SYSTEM = Actor.system("test")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _build(url: str) -> str:
    """A city with one published no-op component and one subscription of quota N a day; returns the key."""
    db = Database(url)
    with db.engine.begin() as conn:
        upgrade(connection=conn)
    with db.session_scope() as s:
        city = core.organization_create(s, SYSTEM, OrganizationCreate(name="市", code="q-city", kind="city"))
        orgs = {k: core.organization_create(s, SYSTEM, OrganizationCreate(
            name=k, code=f"q-{k}", kind="department", parent_id=city.id)) for k in ("a", "b")}

        class W:
            pass

        w: Any = W()
        w.orgs = {"dept_a": orgs["a"]}
        c = compute.component_create(s, SYSTEM, component_data(w, "noop", builtin="noop"))
        compute.component_version_create(s, SYSTEM, c.id, VersionCreate(
            version="1.0.0", kind="builtin", builtin="noop"))
        compute.component_submit(s, SYSTEM, c.id)
        compute.component_review(s, SYSTEM, c.id, True)
        app = compute.app_create(s, SYSTEM, AppCreate(org_id=orgs["b"].id, name="caller"))
        _k, raw = compute.app_key_create(s, SYSTEM, app.id)
        sub = compute.subscription_create(s, SYSTEM, SubscriptionCreate(
            app_id=app.id, component_code="noop", version="1.0.0", quota_per_day=N))
        compute.subscription_decide(s, SYSTEM, sub.id, SubscriptionDecision(approve=True))
    db.engine.dispose()
    return raw


def test_two_processes_sharing_redis_admit_exactly_n(tmp_path: Path) -> None:
    need_service("Redis", "127.0.0.1", 6379)
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    key = _build(url)
    env = {**os.environ, "CITYHUB_DATABASE_URL": url, "CITYHUB_REDIS_URL": "redis://127.0.0.1:6379/0",
           "CITYHUB_PUSH_CACHE": "false", "CITYHUB_COMPUTE_METER_FLUSH_S": "0.2", "CITYHUB_VAR_DIR": str(tmp_path)}
    ports = [_port(), _port()]
    procs = [subprocess.Popen([sys.executable, "-m", "cityhub.cli", "serve", "--port", str(p)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for p in ports]
    try:
        deadline = time.monotonic() + 60
        for p in ports:
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{p}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
        with httpx.Client(timeout=10) as http:
            def call(i: int) -> int:
                return http.get(f"http://127.0.0.1:{ports[i % 2]}/hub/noop/1.0.0/ping",
                                headers={"X-Api-Key": key}).status_code

            with ThreadPoolExecutor(8) as pool:
                codes = list(pool.map(call, range(3 * N)))
        assert codes.count(200) == N and codes.count(429) == 2 * N, codes
        served = {p: 0 for p in ports}
        for i, c in enumerate(codes):
            served[ports[i % 2]] += c == 200
        assert all(v > 0 for v in served.values()), served  # both processes admitted some
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
    db = Database(url)
    with db.session_scope() as s:
        assert s.scalar(select(func.count()).select_from(Call)) == 3 * N  # every call metered, none lost
        assert s.scalar(select(func.count()).select_from(Call).where(Call.status == 429)) == 2 * N
    db.engine.dispose()
