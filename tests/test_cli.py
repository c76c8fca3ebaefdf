"""The command line as a new user drives it: upgrade, demo (twice), users, tokens, config."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from cityhub.core import service as core
from cityhub.kit.db import Database


def run(args: list[str], db_url: str, **env: str) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run([sys.executable, "-m", "cityhub.cli", *args], capture_output=True, text=True,
                          env={**os.environ, "CITYHUB_DATABASE_URL": db_url, **env}, timeout=300)


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    path: Path = tmp_path_factory.mktemp("cli") / "cityhub.db"
    url = f"sqlite:///{path}"
    assert run(["db", "upgrade"], url).returncode == 0
    first = run(["demo", "--only", "core"], url)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip(), "the generated demo password is printed once on stdout"
    return url


def test_demo_is_idempotent_and_builds_the_real_city(demo_db: str) -> None:
    again = run(["demo", "--only", "core"], demo_db)
    assert again.returncode == 0 and again.stdout.strip() == "", "no new password the second time"
    eng = create_engine(demo_db)
    with eng.connect() as conn:
        kinds: dict[str, int] = dict(
            conn.execute(text("select kind, count(*) from core_organization group by kind")).all())
        assert kinds["district"] + kinds["county"] == 38
        assert kinds["new_area"] == 1 and kinds["city"] == 1
        names = {r[0] for r in conn.execute(text("select name from core_organization"))}
        assert {"渝中区", "梁平区", "武隆区", "两江新区", "重庆市大数据应用发展管理局"} <= names
        heads = conn.execute(text("select count(*) from core_organization where head_user_id is not null")).scalar()
        assert heads == len(names) - 1  # every unit but the city itself has its 云长
    eng.dispose()


def test_token_create_prints_only_the_token(demo_db: str) -> None:
    out = run(["token", "create", "--username", "admin", "--expires", "2030-01-01"], demo_db)
    assert out.returncode == 0
    lines = out.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("chub_")
    with Database(demo_db).session_scope() as session:
        assert core.authenticate_token(session, lines[0]).username == "admin"
    assert run(["token", "create", "--username", "nobody"], demo_db).returncode == 2


def test_user_create_and_bad_input(demo_db: str) -> None:
    ok = run(["user", "create", "--username", "cli-user", "--password", "cli-password-1", "--org", "cq-yb",
              "--role", "org_member"], demo_db)
    assert ok.returncode == 0, ok.stderr
    dup = run(["user", "create", "--username", "cli-user", "--password", "cli-password-1", "--org", "cq-yb"],
              demo_db)
    assert dup.returncode == 2 and "用户名已被占用" in dup.stderr  # CLI messages follow CITYHUB_DEFAULT_LOCALE
    bad_org = run(["user", "create", "--username", "x-user", "--password", "cli-password-1", "--org", "nope"],
                  demo_db)
    assert bad_org.returncode == 2


def test_config_show_lists_every_setting_and_masks_secrets(demo_db: str) -> None:
    out = run(["config", "show"], demo_db, CITYHUB_SECRET_KEY="super-secret-value")
    assert out.returncode == 0
    assert "CITYHUB_DATABASE_URL" in out.stdout and "CITYHUB_MQTT_URL" in out.stdout
    assert "super-secret-value" not in out.stdout


def test_help_lists_commands(demo_db: str) -> None:
    out = run(["--help"], demo_db)
    for cmd in ("serve", "db", "demo", "user", "token", "config"):
        assert cmd in out.stdout
