"""First run without the demo (issue 16): `cityhub init`, `cityhub org create`, the URL `serve` prints, the access log.

A city that wants its own data and no demo city starts from an empty database: `init` creates the first
organisation and its first platform admin and refuses once any organisation exists; `org create` adds units.
Bad input is refused naming the field, and nothing is half-created.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from cityhub.app import create_app
from cityhub.core import service as core
from cityhub.kit.db import Database
from cityhub.kit.settings import get_settings
from tests.browser import free_port


def cli(args: list[str], db_url: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cityhub.cli", *args], capture_output=True, text=True,
                          env={**os.environ, "CITYHUB_DATABASE_URL": db_url, "COLUMNS": "200", **env}, timeout=300)


@pytest.fixture
def empty_db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'cityhub.db'}"
    assert cli(["db", "upgrade"], url).returncode == 0
    return url


def _rows(url: str, sql: str) -> list[Any]:
    eng = create_engine(url)
    with eng.connect() as conn:
        out = list(conn.execute(text(sql)).all())
    eng.dispose()
    return out


def test_init_creates_the_first_organisation_and_platform_admin(empty_db: str) -> None:
    out = cli(["init", "--org-code", "hz", "--org-name", "杭州市", "--admin", "root"], empty_db)
    assert out.returncode == 0, out.stderr
    password = out.stdout.strip()
    assert len(password) >= 12 and "\n" not in password  # generated, printed once on stdout
    with Database(empty_db).session_scope() as session:
        actor = core.login_attempt(session, "root", password).actor
        assert actor is not None and actor.is_platform_admin
        org = core.organization_by_code(session, "hz")
        assert org is not None and org.name == "杭州市" and org.kind == "city"
    audited = {r[0] for r in _rows(empty_db, "select action from core_audit")}
    assert {"organization_create", "user_create"} <= audited
    # once an organisation exists, init is refused and says what to use instead
    again = cli(["init", "--org-code", "x", "--org-name", "x", "--admin", "x"], empty_db)
    assert again.returncode == 2 and "already initialised" in again.stderr and "org create" in again.stderr


def test_init_with_a_given_password_prints_none(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    assert cli(["db", "upgrade"], url).returncode == 0
    out = cli(["init", "--org-code", "cq", "--org-name", "重庆市", "--admin", "boss"], url,
              CITYHUB_ADMIN_PASSWORD="a-long-password-1")
    assert out.returncode == 0 and out.stdout == "", out.stderr
    with Database(url).session_scope() as session:
        assert core.login_attempt(session, "boss", "a-long-password-1").actor is not None


@pytest.mark.parametrize(("args", "field"), [
    (["--org-code", "Bad Code!", "--org-name", "x", "--admin", "root"], "code"),
    (["--org-code", "cq", "--org-name", "", "--admin", "root"], "name"),
    (["--org-code", "cq", "--org-name", "重庆市", "--org-kind", "galaxy", "--admin", "root"], "kind"),
    (["--org-code", "cq", "--org-name", "重庆市", "--admin", "root", "--password", "short"], "password"),
])
def test_init_names_the_bad_field_and_creates_nothing(empty_db: str, args: list[str], field: str) -> None:
    out = cli(["init", *args], empty_db)
    assert out.returncode == 2, out.stderr
    assert "refused" in out.stderr and re.search(rf"\b{field}\b", out.stderr), out.stderr
    assert "Traceback" not in out.stderr
    assert _rows(empty_db, "select count(*) from core_organization")[0][0] == 0
    assert _rows(empty_db, "select count(*) from core_user")[0][0] == 0


def test_org_create_under_a_parent_and_bad_input(empty_db: str) -> None:
    assert cli(["init", "--org-code", "cq", "--org-name", "重庆市", "--admin", "root"], empty_db).returncode == 0
    ok = cli(["org", "create", "--code", "cq-yb", "--name", "重庆市医疗保障局", "--kind", "department",
              "--parent", "cq", "--name-en", "Healthcare Security Bureau"], empty_db)
    assert ok.returncode == 0, ok.stderr
    rows = _rows(empty_db, "select c.code, p.code from core_organization c join core_organization p "
                           "on p.id = c.parent_id")
    assert rows == [("cq-yb", "cq")]
    no_parent = cli(["org", "create", "--code", "cq-x", "--name", "x", "--kind", "unit", "--parent", "nope"],
                    empty_db)
    assert no_parent.returncode == 2 and "parent" in no_parent.stderr
    bad_kind = cli(["org", "create", "--code", "cq-y", "--name", "y", "--kind", "planet", "--parent", "cq"],
                   empty_db)
    assert bad_kind.returncode == 2 and "kind" in bad_kind.stderr
    dup = cli(["org", "create", "--code", "cq-yb", "--name", "again", "--kind", "department", "--parent", "cq"],
              empty_db)
    assert dup.returncode == 2 and "refused" in dup.stderr and "Traceback" not in dup.stderr
    assert _rows(empty_db, "select count(*) from core_organization")[0][0] == 2
    # a user in the new unit works straight away: the bare install needs no demo
    user = cli(["user", "create", "--username", "yb-one", "--password", "yb-password-1", "--org", "cq-yb",
                "--role", "org_member"], empty_db)
    assert user.returncode == 0, user.stderr


def test_the_access_log_line_and_its_setting(db: Database, caplog: pytest.LogCaptureFixture) -> None:
    settings = get_settings()
    caplog.set_level(logging.INFO, logger="cityhub.access")
    with TestClient(create_app(settings.model_copy(update={"access_log": True}), db)) as client:
        r = client.get("/login?next=/secret-query", headers={"X-Request-Id": "req-abc-1"})
    lines = [rec.getMessage() for rec in caplog.records if rec.name == "cityhub.access"]
    assert r.status_code == 200 and len(lines) == 1, lines
    assert re.fullmatch(r"GET /login 200 \d+\.\dms rid=req-abc-1", lines[0]), lines[0]  # no query string
    caplog.clear()
    with TestClient(create_app(settings.model_copy(update={"access_log": False}), db)) as client:
        assert client.get("/login").status_code == 200
    assert not [rec for rec in caplog.records if rec.name == "cityhub.access"]


def test_serve_prints_the_address_it_really_serves(empty_db: str, tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "CITYHUB_DATABASE_URL": empty_db, "CITYHUB_PORT": str(port), "COLUMNS": "200",
           "CITYHUB_VAR_DIR": str(tmp_path / "var")}
    proc = subprocess.Popen([sys.executable, "-m", "cityhub.cli", "serve"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert f"serving http://127.0.0.1:{port}/" in first, first
        deadline = time.monotonic() + 60
        answer = None
        while time.monotonic() < deadline:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/login", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert answer is not None and answer.status_code == 200
    finally:
        proc.terminate()
        output = proc.communicate(timeout=30)[0]
    assert re.search(r"cityhub\.access: GET /login 200 \d+\.\dms rid=\w+", output), output[-2000:]
