"""`cityhub backup` / `cityhub restore`: the demo city makes an exact round trip on SQLite and on PostgreSQL.

The source is the real demo city (`cityhub demo`, ≈15 s on SQLite, ≈22 s on PostgreSQL here) plus what the demo
does not make: half of the telemetry archived to the Parquet lake, an uploaded data file and, on PostgreSQL, the
`open_data` views public SQL creates. It is backed up once per backend through the CLI; each test restores it onto
a fresh empty database. The comparison of source and target is made twice: by `kit.dbstate` (counts, checksums,
object fingerprints) and independently here (every row of every table fetched and compared as sorted Python
values), and every file under var_dir is compared byte for byte.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from cityhub.kit import backup, dbstate, i18n
from cityhub.kit.db import Database
from cityhub.kit.settings import Settings, get_settings
from tests.conftest import drop_pg_database, pg_database

DEMO_PASSWORD = "backup-demo-pass-1"


@dataclass
class Site:
    """One installation: a database URL and a var_dir."""

    backend: str
    url: str
    var_dir: Path

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "CITYHUB_DATABASE_URL": self.url, "CITYHUB_VAR_DIR": str(self.var_dir),
                "CITYHUB_DEMO_PASSWORD": DEMO_PASSWORD, "CITYHUB_DEFAULT_LOCALE": "en"}

    @property
    def settings(self) -> Settings:
        return Settings(database_url=self.url, var_dir=self.var_dir)

    def drop(self) -> None:
        if self.backend == "postgresql":
            drop_pg_database(str(make_url(self.url).database))


def new_site(backend: str, root: Path, name: str) -> Site:
    """An empty installation (on PostgreSQL a fresh database owned by the app role)."""
    var_dir = root / name / "var"
    if backend == "sqlite":
        return Site(backend, f"sqlite:///{var_dir / 'cityhub.db'}", var_dir)
    return Site(backend, pg_database(f"cityhub_bk_{name}"), var_dir)


def cli(site: Site, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cityhub.cli", *args], capture_output=True, text=True,
                          env=site.env, timeout=600)


def _enrich(site: Site) -> None:
    """What the demo leaves out: a Parquet lake, an uploaded file, the open_data views (PostgreSQL)."""
    from cityhub.connect import archive
    from cityhub.core.service import Actor
    from cityhub.data import service as data

    db = Database(site.url)
    with pytest.MonkeyPatch.context() as mp:  # the services read var_dir from the settings
        mp.setenv("CITYHUB_VAR_DIR", str(site.var_dir))
        mp.setenv("CITYHUB_DATABASE_URL", site.url)
        get_settings.cache_clear()
        try:
            out = archive.archive(db, Actor.system("test"), datetime.now(UTC) - timedelta(hours=3),
                                  get_settings().lake_dir)
            assert out["archived"] > 1000 and out["deleted"] == out["archived"]
            with db.session_scope() as session:
                entry_id = session.execute(text(
                    "SELECT id FROM data_catalog_entry WHERE status = 'published' ORDER BY id LIMIT 1")).scalar()
                data.resource_file_upload(session, Actor.system("test"), uuid.UUID(str(entry_id)), "备份测试附件",
                                          "readme.csv", "text/csv", io.BytesIO("编号,名称\n1,渝中区\n".encode()))
            if site.backend == "postgresql":
                _open_views(site, db)
        finally:
            get_settings.cache_clear()
    db.engine.dispose()


def _open_views(site: Site, db: Database) -> None:
    """Public SQL on every open datastore table: that creates (and grants) the views of schema open_data."""
    from fastapi.testclient import TestClient

    from cityhub.app import create_app

    with db.engine.connect() as conn:
        ids = [str(r[0]) for r in conn.execute(text(
            "SELECT r.id FROM data_resource r JOIN data_catalog_entry e ON e.id = r.entry_id WHERE r.kind = 'table' "
            "AND e.status = 'published' AND e.open_type = 'unconditional'"))]
    assert ids, "the demo publishes open datastore tables"
    with TestClient(create_app(get_settings(), db)) as client:
        for rid in ids:
            r = client.get("/api/3/action/datastore_search_sql", params={"sql": f'SELECT count(*) FROM "{rid}"'})
            assert r.status_code == 200, r.text


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def source(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The demo city, enriched, on each backend."""
    site = new_site(request.param, tmp_path_factory.mktemp("bk"), "src")
    try:
        for args in (["db", "upgrade"], ["demo"]):
            out = cli(site, *args)
            assert out.returncode == 0, out.stderr[-2000:]
        _enrich(site)
        yield site
    finally:
        site.drop()


@pytest.fixture(scope="module")
def backup_dir(source: Site, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`cityhub backup` of the source, once per backend."""
    outdir = tmp_path_factory.mktemp("bk_out") / "backup"
    out = cli(source, "backup", str(outdir))
    assert out.returncode == 0, out.stderr[-2000:]
    return outdir


@pytest.fixture
def target(source: Site, tmp_path: Path) -> Iterator[Site]:
    """A fresh, empty installation of the source's backend."""
    site = new_site(source.backend, tmp_path, "dst")
    try:
        yield site
    finally:
        site.drop()


def _tables(url: str) -> dict[str, tuple[int, str]]:
    """Independently of kit.dbstate: per table, its row count and the sha256 of its sorted rows."""
    engine = create_engine(url)
    out = {}
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                names = [r[0] for r in conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'"))]
            else:
                names = [f"{s}.{t}" for s, t in conn.execute(text(
                    "SELECT schemaname, tablename FROM pg_tables "
                    "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"))]
            for name in names:
                quoted = ".".join(f'"{part}"' for part in name.split("."))
                rows = sorted(repr(tuple(r)) for r in conn.execute(text(f"SELECT * FROM {quoted}")))
                out[name] = (len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest())
    finally:
        engine.dispose()
    return out


def _files(root: Path) -> dict[str, str]:
    """sha256 of every regular file under var_dir but the SQLite database itself."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not p.name.startswith("cityhub.db")}


def _is_empty(site: Site) -> bool:
    if site.backend == "sqlite":
        path = site.var_dir / "cityhub.db"
        return not path.exists() or not _tables(site.url)
    return not _tables(site.url)


def test_round_trip_of_the_demo_city_is_exact(source: Site, backup_dir: Path, target: Site) -> None:
    manifest = json.loads((backup_dir / "manifest.json").read_text())
    out = cli(target, "restore", str(backup_dir))
    assert out.returncode == 0, out.stderr[-3000:]

    before, after = _tables(source.url), _tables(target.url)
    assert after == before  # every table, every row
    assert len(before) >= 60 and sum(n for n, _h in before.values()) > 50_000, "the demo city is really there"
    assert dbstate.database_state(target.url) == dbstate.database_state(source.url)  # objects and sequences too
    assert {k: v["rows"] for k, v in manifest["tables"].items()} == {k: n for k, (n, _h) in before.items()
                                                                      if k in manifest["tables"]}

    files = _files(source.var_dir)
    assert _files(target.var_dir) == files
    assert any(name.startswith("lake/telemetry/day=") for name in files), "the Parquet lake went along"
    assert any(name.startswith("data/files/") for name in files), "the uploaded file went along"
    assert set(manifest["tree"]["files"]) == set(files)
    if source.backend == "postgresql":
        objects = manifest["objects"]
        assert any(k.startswith("relation v open_data.") for k in objects), "open_data views round-trip"
        assert any(k.startswith("relation r connect_partitions.") for k in objects), "telemetry partitions too"
        engine = create_engine(target.url)
        with engine.connect() as conn:  # the grants came along: the open-data role may read the views
            grants = conn.execute(text("SELECT count(*) FROM information_schema.role_table_grants "
                                       "WHERE table_schema = 'open_data' AND grantee = :r"),
                                  {"r": get_settings().open_sql_role}).scalar()
        engine.dispose()
        assert grants and grants >= 1

    # and the checksums see one changed value: the comparison is not vacuous
    engine = create_engine(target.url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE core_organization SET name = name || '·' WHERE code = 'cq-yb'"))
    engine.dispose()
    changed = next(name for name in manifest["tables"] if name.endswith("core_organization"))
    assert dbstate.compare(manifest, dbstate.database_state(target.url)) == [
        i18n.gettext("table {name}: content checksum differs").format(name=changed)]


def test_manifest_names_versions_checksums_and_leaves_secrets_out(source: Site, backup_dir: Path) -> None:
    manifest = json.loads((backup_dir / "manifest.json").read_text())
    assert manifest["backend"] == source.backend and manifest["alembic_revision"]
    assert manifest["created_at"].endswith("Z") and manifest["cityhub_version"]
    for name, entry in manifest["files"].items():
        path = backup_dir / name
        assert entry == {"sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "size": path.stat().st_size}
    settings = json.loads((backup_dir / "settings.json").read_text())
    assert "secret_key" not in settings and "demo_password" not in settings
    assert {"secret_key", "demo_password", "open_sql_password"} <= set(manifest["settings"]["omitted"])
    assert DEMO_PASSWORD not in (backup_dir / "settings.json").read_text()
    assert DEMO_PASSWORD not in (backup_dir / "manifest.json").read_text()


@pytest.mark.parametrize("damaged", ["database", "files.tar", "settings.json"])
def test_a_corrupted_backup_is_refused_before_the_target_is_touched(
        source: Site, backup_dir: Path, target: Site, tmp_path: Path, damaged: str) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(backup_dir, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    path = copy / (manifest["database"]["file"] if damaged == "database" else damaged)
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x01  # one bit, same size: only the checksum can tell
    path.write_bytes(bytes(raw))
    with pytest.raises(backup.BackupError, match="sha256"):
        backup.restore(copy, settings=target.settings)
    assert _is_empty(target) and not target.var_dir.exists()


def test_a_non_empty_database_is_refused_even_with_force(source: Site, backup_dir: Path) -> None:
    before = dbstate.database_state(source.url)
    out = cli(source, "restore", str(backup_dir))
    assert out.returncode == 1, out.stderr
    assert "not empty" in out.stderr
    with pytest.raises(backup.BackupError, match=r"not empty|不是空的"):
        backup.restore(backup_dir, settings=source.settings, force=True)
    assert dbstate.database_state(source.url) == before


def test_a_difference_after_the_restore_fails_loudly(source: Site, backup_dir: Path, target: Site,
                                                     tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(backup_dir, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    table = next(name for name in sorted(manifest["tables"]) if name.endswith("core_user"))
    manifest["tables"][table]["checksum"] = "0" * 32  # what a restore that lost or changed a row would show
    (copy / "manifest.json").write_text(json.dumps(manifest))
    out = cli(target, "restore", str(copy))
    assert out.returncode == 3
    assert f"table {table}: content checksum differs" in out.stderr


def test_existing_files_are_replaced_only_with_force(source: Site, backup_dir: Path, target: Site) -> None:
    manifest = json.loads((backup_dir / "manifest.json").read_text())
    name = next(n for n in sorted(manifest["tree"]["files"]) if n.startswith("data/files/"))
    stale = target.var_dir / name
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"an older copy")
    with pytest.raises(backup.BackupError, match="--force"):
        backup.restore(backup_dir, settings=target.settings)
    assert _is_empty(target) and stale.read_bytes() == b"an older copy"
    report = backup.restore(backup_dir, settings=target.settings, force=True)
    assert report.files == len(manifest["tree"]["files"])
    assert hashlib.sha256(stale.read_bytes()).hexdigest() == manifest["tree"]["files"][name]["sha256"]


def test_backup_never_overwrites(source: Site, backup_dir: Path) -> None:
    before = {p.name: p.read_bytes() for p in backup_dir.iterdir()}
    with pytest.raises(backup.BackupError):
        backup.backup(backup_dir, settings=source.settings)
    assert {p.name: p.read_bytes() for p in backup_dir.iterdir()} == before


def test_settings_snapshot_redacts_passwords_in_urls() -> None:
    s = Settings(database_url="postgresql+psycopg://app:pg-secret@db.example:5432/cityhub",
                 redis_url="redis://:redis-secret@cache:6379/0", secret_key="k" * 40, open_sql_password="open-pw")
    values, omitted, redacted = backup.settings_snapshot(s)
    dumped = json.dumps(values)
    assert "pg-secret" not in dumped and "redis-secret" not in dumped and "open-pw" not in dumped
    assert values["database_url"] == "postgresql+psycopg://app:***@db.example:5432/cityhub"
    assert {"database_url", "redis_url"} <= set(redacted) and {"secret_key", "open_sql_password"} <= set(omitted)


def test_the_postgres_password_travels_in_the_environment_not_the_command_line() -> None:
    conninfo, env = backup._pg_conninfo(make_url("postgresql+psycopg://app:pw-123@db:5433/city?sslmode=require"))
    assert "pw-123" not in conninfo and env["PGPASSWORD"] == "pw-123"
    assert "sslmode=require" in conninfo and "port=5433" in conninfo and "dbname=city" in conninfo
