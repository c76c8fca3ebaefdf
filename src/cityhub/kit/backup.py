"""Backup and restore of a whole installation: the database, the files under var_dir, the non-secret settings.

A backup is a folder (docs/backup.md):

- `database.dump` — PostgreSQL: `pg_dump --format=custom` of the settings' database, taken on a snapshot exported
  by the transaction that also computes the manifest's table checksums, so both describe the same instant even
  while the application writes; or `database.sqlite` — SQLite: a copy made with the online backup API.
- `files.tar` — every regular file under `var_dir` (the Parquet lake, uploaded data files, incident attachments,
  the local cloud provider's state), except the SQLite database itself; left out with `--no-files`.
- `settings.json` — the settings without secrets (which ones were left out or redacted is in the manifest).
- `manifest.json` — versions, Alembic revision, time, backend, sha256 and size of each file above and of each file
  inside `files.tar`, and per table its row count and a checksum of its content, plus a fingerprint of every
  schema object (columns, views, indexes, constraints, triggers, functions, grants, comments) — `kit.dbstate`.

`restore` verifies every checksum before it touches anything, refuses a database that is not empty, restores,
then recomputes every table's count and checksum and every object's fingerprint and raises `RestoreMismatch` on
any difference: the round trip is exact or it fails loudly.

Why one module of ~670 lines (the project keeps modules under ~600): backup and restore are the two directions of
one format. The manifest `backup` writes is exactly what `verify` and `restore` check, field by field (names, sizes,
checksums, tar members, settings left out, the backend's tools and versions), so the writer and its checker change
together and are read together; split, each half would import the other's private helpers. What is separable
already lives apart: table checksums and schema fingerprints in `kit.dbstate`, progress reporting in `kit.progress`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from cityhub.kit.dbstate import (
    PG_USER_NS,
    DatabaseState,
    compare,
    database_state,
    pg_state,
    sqlite_connect,
    sqlite_path,
    sqlite_state,
)
from cityhub.kit.errors import CityhubError
from cityhub.kit.i18n import gettext as _
from cityhub.kit.progress import Progress, QuietProgress, rich_progress
from cityhub.kit.settings import Settings, get_settings

__all__ = ["BackupError", "RestoreMismatch", "backup", "database_state", "restore", "rich_progress", "verify"]

FORMAT = "cityhub-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
PG_DUMP = "database.dump"
SQLITE_COPY = "database.sqlite"
FILES_TAR = "files.tar"
SETTINGS_JSON = "settings.json"
_SECRET_WORDS = ("secret", "password", "token", "key")
_KEY_CHECK = b"cityhub-backup/secret-key-check/v1"
_CHUNK = 1 << 20


class BackupError(CityhubError):
    """A backup or restore that cannot go ahead (nothing was changed unless the message says so)."""

    code = "backup_failed"


class RestoreMismatch(BackupError):
    """The restored database differs from the manifest; `details` lists each difference."""

    code = "restore_mismatch"


@contextmanager
def _database_errors() -> Iterator[None]:
    """An unreachable database is the operator's problem to fix, not a traceback."""
    try:
        yield
    except OperationalError as exc:
        raise BackupError(_("Cannot reach the database: {error}").format(
            error=str(exc.orig or exc).strip().splitlines()[0])) from exc


# ---------------------------------------------------------------- files, settings, manifest


def sha256_file(path: Path, progress: Progress | None = None) -> str:
    """The sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            if progress is not None:
                progress.advance(len(chunk))
    return digest.hexdigest()


def _redact_url(value: str) -> str:
    """A URL with its password (and secret-looking query values) replaced by `***`."""
    parts = urlsplit(value)
    netloc = parts.netloc
    if parts.password is not None:
        userinfo, _at, hostport = netloc.rpartition("@")
        netloc = f"{userinfo.partition(':')[0]}:***@{hostport}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, "***" if any(w in k.lower() for w in _SECRET_WORDS) else v) for k, v in pairs],
                          safe="*/:")
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def settings_snapshot(settings: Settings) -> tuple[dict[str, Any], list[str], list[str]]:
    """The settings as JSON values without secrets; returns (values, omitted names, redacted names)."""
    values: dict[str, Any] = {}
    omitted: list[str] = []
    redacted: list[str] = []
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if any(word in name for word in _SECRET_WORDS):
            omitted.append(name)
            continue
        if isinstance(value, Path):
            value = str(value)
        if isinstance(value, str) and "://" in value:
            clean = _redact_url(value)
            if clean != value:
                redacted.append(name)
            value = clean
        values[name] = value
    return values, omitted, redacted


def secret_key_check(settings: Settings) -> str:
    """A keyed check value telling whether two installations share the secret key (reveals nothing else).

    The database already holds values keyed with the same key (API token hashes), so this adds no exposure.
    """
    return hmac.new(settings.secret_key.encode(), _KEY_CHECK, hashlib.sha256).hexdigest()


def _database_files(settings: Settings) -> set[Path]:
    """The SQLite database and its journals (they are the database, not files to copy)."""
    url = make_url(settings.effective_database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return set()
    path = Path(url.database).resolve()
    return {path, *(path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal"))}


def _tree(root: Path, exclude: set[Path], skip_dirs: set[Path]) -> tuple[list[tuple[str, Path]], list[str]]:
    """Regular files under root as (posix relative name, path), sorted; and what was skipped (links, sockets)."""
    files: list[tuple[str, Path]] = []
    skipped: list[str] = []
    for folder, dirs, names in os.walk(root):  # does not follow links to folders
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if (here / d).resolve() not in skip_dirs)
        for name in sorted(names):
            path = here / name
            rel = path.relative_to(root).as_posix()
            if path.resolve() in exclude:
                continue
            if path.is_symlink() or not path.is_file():
                skipped.append(rel)
                continue
            files.append((rel, path))
    return files, skipped


class _HashingReader:
    """Reads a file for tarfile while hashing it and reporting progress."""

    def __init__(self, fh: IO[bytes], progress: Progress) -> None:
        self.fh, self.progress, self.digest, self.size = fh, progress, hashlib.sha256(), 0

    def read(self, n: int = -1) -> bytes:
        data = self.fh.read(n)
        self.digest.update(data)
        self.size += len(data)
        self.progress.advance(len(data))
        return data


def _write_files_tar(root: Path, target: Path, exclude: set[Path], skip_dirs: set[Path],
                     progress: Progress) -> dict[str, Any]:
    files, skipped = _tree(root, exclude, skip_dirs)
    total = sum(path.stat().st_size for _rel, path in files)
    progress.start(_("Files under {root}: {n} files").format(root=root, n=len(files)), total=total)
    listing: dict[str, dict[str, Any]] = {}
    with tarfile.open(target, "w", format=tarfile.PAX_FORMAT) as tar:
        for rel, path in files:
            with path.open("rb") as fh:
                info = tar.gettarinfo(fileobj=fh, arcname=rel)
                reader = _HashingReader(fh, progress)
                try:
                    tar.addfile(info, reader)  # tarfile only calls read()
                except OSError as exc:  # the file shrank while it was read
                    raise BackupError(_("{path} changed while it was backed up; run the backup again").format(
                        path=path)) from exc
                if reader.size != info.size:
                    raise BackupError(_("{path} changed while it was backed up; run the backup again").format(
                        path=path))
            listing[rel] = {"sha256": reader.digest.hexdigest(), "size": info.size}
    progress.finish()
    return {"root": "var_dir", "files": listing, "skipped": skipped}


def _file_entry(path: Path, progress: Progress) -> dict[str, Any]:
    size = path.stat().st_size
    progress.start(_("Checksum of {name}").format(name=path.name), total=size)
    entry = {"sha256": sha256_file(path, progress), "size": size}
    progress.finish()
    return entry


def _cityhub_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cityhub")
    except PackageNotFoundError:  # running from a source tree without installing
        return "unknown"


# ---------------------------------------------------------------- PostgreSQL tools


def _pg_conninfo(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq connection string without the password, and the environment that carries it (PGPASSWORD)."""
    from psycopg.conninfo import make_conninfo

    params: dict[str, Any] = {"host": url.host, "port": url.port, "user": url.username, "dbname": url.database,
                              "application_name": "cityhub-backup"}
    for key, value in url.query.items():
        params[key] = value if isinstance(value, str) else value[-1]
    env = {k: v for k, v in os.environ.items() if k != "PGPASSWORD"}
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return make_conninfo("", **{k: v for k, v in params.items() if v is not None}), env


def _major(version: str) -> int:
    match = re.search(r"(\d+)(?:\.(\d+))?", version)
    if not match:
        raise BackupError(_("Cannot read the PostgreSQL version {version!r}").format(version=version))
    major = int(match.group(1))
    return major if major >= 10 else major * 100 + int(match.group(2) or 0)  # 9.6 -> 906


def _pg_tool(name: str, server_major: int) -> tuple[str, str]:
    """The client tool of the server's major version when installed side by side (Debian), else PATH's."""
    candidates = [Path(f"/usr/lib/postgresql/{server_major}/bin/{name}")]
    found = shutil.which(name)
    if found:
        candidates.append(Path(found))
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            out = subprocess.run([str(path), "--version"], capture_output=True, text=True, check=False)
            if out.returncode == 0:
                return str(path), out.stdout.strip().rsplit(") ", 1)[-1].split()[0]
    raise BackupError(_("{tool} was not found: install the PostgreSQL {major} client tools").format(
        tool=name, major=server_major))


def _tail(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    return "\n".join(lines[-8:])


# ---------------------------------------------------------------- backup


@dataclass
class BackupReport:
    """What `backup` wrote."""

    outdir: Path
    manifest: dict[str, Any]


def backup(outdir: Path, *, settings: Settings | None = None, include_files: bool = True,
           progress: Progress | None = None) -> BackupReport:
    """Write a backup of the database, the files under var_dir and the non-secret settings into `outdir`."""
    s = settings or get_settings()
    progress = progress or QuietProgress()
    outdir = Path(outdir)
    if outdir.exists() and (not outdir.is_dir() or any(outdir.iterdir())):
        raise BackupError(_("{path} exists and is not an empty folder; a backup never overwrites").format(path=outdir))
    outdir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    try:
        url = make_url(s.effective_database_url)
        manifest: dict[str, Any] = {
            "format": FORMAT, "format_version": FORMAT_VERSION, "cityhub_version": _cityhub_version(),
            "created_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "backend": url.get_backend_name(), "files": {},
        }
        if url.get_backend_name() == "postgresql":
            db_file = outdir / PG_DUMP
            written.append(db_file)
            manifest["database"], state = _pg_backup(url, db_file, progress)
        elif url.get_backend_name() == "sqlite":
            db_file = outdir / SQLITE_COPY
            written.append(db_file)
            manifest["database"], state = _sqlite_backup(sqlite_path(url), db_file, progress)
        else:
            raise BackupError(_("Backups support PostgreSQL and SQLite, not {backend}").format(
                backend=url.get_backend_name()))
        manifest["database"]["url"] = url.render_as_string(hide_password=True)
        manifest.update(state.as_json())
        manifest["files"][db_file.name] = _file_entry(db_file, progress)
        # the files after the database: a file a committed row names was written before its commit, so it is here
        manifest["tree"] = None
        if include_files:
            tar_path = outdir / FILES_TAR
            written.append(tar_path)
            root = s.var_dir.resolve()
            if root.is_dir():
                manifest["tree"] = _write_files_tar(root, tar_path, _database_files(s), {outdir.resolve()}, progress)
            else:
                manifest["tree"] = _write_files_tar_empty(tar_path)
            manifest["files"][FILES_TAR] = _file_entry(tar_path, progress)
        values, omitted, redacted = settings_snapshot(s)
        settings_path = outdir / SETTINGS_JSON
        written.append(settings_path)
        settings_path.write_text(json.dumps(values, indent=2, ensure_ascii=False, sort_keys=True) + "\n",
                                 encoding="utf-8")
        manifest["files"][SETTINGS_JSON] = _file_entry(settings_path, progress)
        manifest["settings"] = {"file": SETTINGS_JSON, "omitted": omitted, "redacted": redacted,
                                "secret_key_check": secret_key_check(s)}
        manifest_path = outdir / MANIFEST
        written.append(manifest_path)
        manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    except BaseException:
        for path in written:  # never leave a half backup that looks whole
            path.unlink(missing_ok=True)
        raise
    return BackupReport(outdir=outdir, manifest=manifest)


def _write_files_tar_empty(target: Path) -> dict[str, Any]:
    with tarfile.open(target, "w", format=tarfile.PAX_FORMAT):
        pass
    return {"root": "var_dir", "files": {}, "skipped": []}


def _pg_backup(url: URL, target: Path, progress: Progress) -> tuple[dict[str, Any], DatabaseState]:
    """pg_dump on a snapshot exported by the transaction that computes the checksums (one instant for both)."""
    engine = create_engine(url, poolclass=NullPool, isolation_level="REPEATABLE READ")
    try:
        with engine.connect() as conn, conn.begin():
            conn.execute(text("SET TRANSACTION READ ONLY"))
            server_version = str(conn.execute(text("SHOW server_version")).scalar())
            server_major = _major(server_version)
            tool, tool_version = _pg_tool("pg_dump", server_major)
            if _major(tool_version) < server_major:
                raise BackupError(_("pg_dump {tool} is older than the server ({server}): install the PostgreSQL "
                                    "{major} client tools").format(tool=tool_version, server=server_version,
                                                                   major=server_major))
            snapshot = str(conn.execute(text("SELECT pg_export_snapshot()")).scalar())
            conninfo, env = _pg_conninfo(url)
            progress.start(_("pg_dump of {db}").format(db=url.database), total=None)
            with open(os.devnull, "rb") as devnull:
                proc = subprocess.Popen(
                    [tool, "--format=custom", f"--snapshot={snapshot}", "--no-password", f"--file={target}",
                     f"--dbname={conninfo}"], stdin=devnull, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                    env=env, text=True)
            try:
                state = pg_state(conn, QuietProgress())  # same snapshot, while pg_dump runs
            finally:
                _out, stderr = proc.communicate()
            progress.finish()
            if proc.returncode != 0:
                raise BackupError(_("pg_dump failed: {error}").format(error=_tail(stderr)))
    finally:
        engine.dispose()
    return ({"file": target.name, "format": "pg_dump custom", "server_version": server_version,
             "pg_dump_version": tool_version, "database": url.database}, state)


def _sqlite_backup(source: Path, target: Path, progress: Progress) -> tuple[dict[str, Any], DatabaseState]:
    """The online backup API: a consistent copy even while other processes write."""
    if not source.exists():
        raise BackupError(_("No SQLite database at {path}").format(path=source))
    progress.start(_("SQLite online backup of {path}").format(path=source), total=None)
    src = sqlite_connect(source)
    dst = sqlite3.connect(target, isolation_level=None)
    try:
        src.backup(dst)  # all pages in one step: one read transaction, one instant
        dst.execute("PRAGMA journal_mode = DELETE")  # a self-contained file (no -wal beside it)
        progress.finish()
        state = sqlite_state(dst, progress)
    finally:
        dst.close()
        src.close()
    return {"file": target.name, "format": "sqlite", "sqlite_version": sqlite3.sqlite_version}, state


# ---------------------------------------------------------------- restore


@dataclass
class RestoreReport:
    """What `restore` did; `warnings` need the operator's attention but do not make the restore inexact."""

    manifest: dict[str, Any]
    tables: int
    files: int
    warnings: list[str] = field(default_factory=list)


def read_manifest(backup_dir: Path) -> dict[str, Any]:
    """The manifest, checked for format."""
    path = Path(backup_dir) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise BackupError(_("{path} is missing: not a backup, or an unfinished one").format(path=path)) from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise BackupError(_("{path} is damaged: {error}").format(path=path, error=exc)) from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(_("{path} is not a cityhub backup manifest").format(path=path))
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BackupError(_("Backup format version {version} is not supported").format(
            version=manifest.get("format_version")))
    return manifest


def verify(backup_dir: Path, progress: Progress | None = None) -> dict[str, Any]:
    """Check the manifest and every file's size and sha256; returns the manifest or raises `BackupError`."""
    progress = progress or QuietProgress()
    manifest = read_manifest(backup_dir)
    files: dict[str, dict[str, Any]] = manifest.get("files", {})
    db_file = manifest.get("database", {}).get("file")
    if db_file not in files or (manifest.get("tree") is not None and FILES_TAR not in files):
        raise BackupError(_("The manifest does not list the backup's files"))
    sizes = {}
    for name, entry in files.items():
        path = Path(backup_dir) / name
        if Path(name).name != name or not path.is_file():
            raise BackupError(_("{name} is missing from the backup").format(name=name))
        sizes[name] = path.stat().st_size
        if sizes[name] != entry["size"]:
            raise BackupError(_("{name} is damaged: {got} bytes, the manifest says {want}").format(
                name=name, got=sizes[name], want=entry["size"]))
    progress.start(_("Verifying {n} backup files").format(n=len(files)), total=sum(sizes.values()))
    for name, entry in files.items():
        if sha256_file(Path(backup_dir) / name, progress) != entry["sha256"]:
            raise BackupError(_("{name} is damaged: its sha256 differs from the manifest").format(name=name))
    progress.finish()
    return manifest


def _refuse_non_empty(found: list[str], how: str) -> None:
    if found:
        raise BackupError(_("The target database is not empty ({objects}): a restore goes onto an empty database "
                            "only. {how}").format(objects=", ".join(found[:5]), how=how))


def _tar_members(tar_path: Path, manifest: dict[str, Any]) -> list[tarfile.TarInfo]:
    """The archive's members, which must be exactly the manifest's files (regular files only)."""
    want: dict[str, dict[str, Any]] = manifest["tree"]["files"]
    with tarfile.open(tar_path, "r") as tar:
        members = tar.getmembers()
    names = {m.name for m in members}
    if any(not m.isfile() for m in members) or names != set(want) or len(names) != len(members):
        raise BackupError(_("{name} does not hold exactly the files its manifest lists").format(name=FILES_TAR))
    return members


def _check_files_target(members: list[tarfile.TarInfo], root: Path, force: bool) -> None:
    """Existing files are replaced only with `force`; a folder (or a file where a folder goes) is never touched."""
    existing, blocked = [], []
    for member in members:
        target = root / member.name
        if target.is_dir() and not target.is_symlink():
            blocked.append(member.name)
        elif target.exists() or target.is_symlink():
            existing.append(member.name)
        elif any(parent.exists() and not parent.is_dir() for parent in target.parents if root in parent.parents):
            blocked.append(member.name)
    if blocked:
        raise BackupError(_("{n} files of the backup cannot be written under {root}: something else is in the way "
                            "(e.g. {example})").format(n=len(blocked), root=root, example=blocked[0]))
    if existing and not force:
        raise BackupError(_("{n} files of the backup already exist under {root} (e.g. {example}); use --force to "
                            "replace them").format(n=len(existing), root=root, example=existing[0]))


def restore(backup_dir: Path, *, settings: Settings | None = None, force: bool = False,
            progress: Progress | None = None) -> RestoreReport:
    """Restore a backup onto an empty database and var_dir; raises `RestoreMismatch` if the result is not exact.

    Nothing is changed until every file's checksum is verified, the database is found empty and no file would be
    overwritten. `force` lets the backup's files replace files that already exist under var_dir; the database
    must be empty either way (a non-empty one is refused, never dropped).
    """
    s = settings or get_settings()
    progress = progress or QuietProgress()
    backup_dir = Path(backup_dir)
    manifest = verify(backup_dir, progress)
    url = make_url(s.effective_database_url)
    if url.get_backend_name() != manifest.get("backend"):
        raise BackupError(_("This is a {backup} backup; the target database is {target}").format(
            backup=manifest.get("backend"), target=url.get_backend_name()))
    dump = backup_dir / manifest["database"]["file"]
    warnings = _restore_warnings(manifest, s)
    var_dir = s.var_dir.resolve()
    members = _tar_members(backup_dir / FILES_TAR, manifest) if manifest.get("tree") is not None else []
    with _database_errors():
        if url.get_backend_name() == "postgresql":
            target = _pg_target(url, manifest, warnings)
            _check_files_target(members, var_dir, force)
            _pg_restore(url, target, dump, progress)
        else:
            path = sqlite_path(url)
            _sqlite_target(path)
            _check_files_target(members, var_dir, force)
            _sqlite_restore(path, dump, progress)
        if members:
            _extract(backup_dir / FILES_TAR, var_dir, manifest, progress)
        state = database_state(s.effective_database_url, progress)
    differences = compare(manifest, state)
    if differences:
        raise RestoreMismatch(_("The restored database differs from the backup in {n} places").format(
            n=len(differences)), details=differences)
    return RestoreReport(manifest=manifest, tables=len(state.tables), files=len(members), warnings=warnings)


def _restore_warnings(manifest: dict[str, Any], s: Settings) -> list[str]:
    from alembic.script import ScriptDirectory

    from cityhub.kit.migrate import alembic_config

    warnings = []
    check = manifest.get("settings", {}).get("secret_key_check")
    if check and not hmac.compare_digest(check, secret_key_check(s)):
        warnings.append(_("CITYHUB_SECRET_KEY differs from the backed-up installation's: API tokens, sessions and "
                          "encrypted credentials will not work until it is set to the same value"))
    revision = manifest.get("alembic_revision")
    script = ScriptDirectory.from_config(alembic_config())
    if revision and revision not in set(script.get_heads()):
        try:
            known = script.get_revision(revision) is not None
        except Exception:  # alembic raises its own errors for unknown revisions
            known = False
        warnings.append(_("The backup is at schema revision {revision}: run `cityhub db upgrade` after the restore")
                        .format(revision=revision) if known else
                        _("The backup's schema revision {revision} is unknown to this cityhub (an older version?)")
                        .format(revision=revision))
    return warnings


@dataclass
class _PgTarget:
    role: str  # the role cityhub connects as: it becomes the owner of everything restored
    server_version: str
    tool: str  # pg_restore


def _pg_target(url: URL, manifest: dict[str, Any], warnings: list[str]) -> _PgTarget:
    """The target must be empty and a pg_restore able to read the dump must be installed."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            role = str(conn.execute(text("SELECT current_user")).scalar())
            server_version = str(conn.execute(text("SHOW server_version")).scalar())
            found = [str(r[0]) for r in conn.execute(text(
                "SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                f"WHERE {PG_USER_NS} UNION ALL SELECT n.nspname || '.' || p.proname FROM pg_proc p "
                f"JOIN pg_namespace n ON n.oid = p.pronamespace WHERE {PG_USER_NS} "
                f"UNION ALL SELECT n.nspname FROM pg_namespace n WHERE {PG_USER_NS} AND n.nspname <> 'public' "
                "ORDER BY 1 LIMIT 6"))]
    finally:
        engine.dispose()
    _refuse_non_empty(found, _("Create a new database (createdb -O {role} NAME; then `cityhub db roles`) and point "
                               "CITYHUB_DATABASE_URL at it.").format(role=role))
    source = manifest["database"]
    server_major, dumped_by = _major(server_version), _major(source.get("pg_dump_version", "0"))
    tool, tool_version = _pg_tool("pg_restore", server_major)
    if _major(tool_version) < dumped_by:
        raise BackupError(_("pg_restore {tool} cannot read a dump made by pg_dump {dump}: install the PostgreSQL "
                            "{major} client tools").format(tool=tool_version, major=dumped_by,
                                                           dump=source.get("pg_dump_version")))
    if server_major < _major(source.get("server_version", server_version)):
        warnings.append(_("The target server ({target}) is older than the backed-up one ({source})").format(
            target=server_version, source=source.get("server_version")))
    return _PgTarget(role=role, server_version=server_version, tool=tool)


def _pg_restore(url: URL, target: _PgTarget, dump: Path, progress: Progress) -> None:
    """pg_restore in one transaction (all or nothing) as the app role, which then owns every object."""
    conninfo, env = _pg_conninfo(url)
    progress.start(_("pg_restore into {db}").format(db=url.database), total=None)
    out = subprocess.run(
        [target.tool, "--no-owner", f"--role={target.role}", "--single-transaction", "--exit-on-error",
         "--no-password", f"--dbname={conninfo}", str(dump)],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env, check=False)
    progress.finish()
    if out.returncode != 0:
        raise BackupError(_("pg_restore failed and changed nothing (one transaction): {error}").format(
            error=_tail(out.stderr)))
    engine = create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            progress.start(_("ANALYZE (planner statistics are not part of a dump)"), total=None)
            conn.execute(text("ANALYZE"))
            progress.finish()
    finally:
        engine.dispose()


def _sqlite_target(path: Path) -> None:
    if not path.exists():
        return
    conn = sqlite_connect(path, read_only=True)
    try:
        found = [str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master ORDER BY name LIMIT 6")]
    finally:
        conn.close()
    _refuse_non_empty(found, _("Move {path} away (or point CITYHUB_DATABASE_URL at a new file).").format(path=path))


def _sqlite_restore(target: Path, copy: Path, progress: Progress) -> None:
    """The online backup API again, from the verified copy into the (empty) target file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    progress.start(_("SQLite restore into {path}").format(path=target), total=None)
    src = sqlite_connect(copy, read_only=True)
    dst = sqlite3.connect(target, isolation_level=None)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()
    progress.finish()


def _extract(tar_path: Path, root: Path, manifest: dict[str, Any], progress: Progress) -> None:
    want: dict[str, dict[str, Any]] = manifest["tree"]["files"]
    progress.start(_("Restoring {n} files into {root}").format(n=len(want), root=root),
                   total=sum(e["size"] for e in want.values()))
    root.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tar_path, "r") as tar:
        for member in tar:
            target = root / member.name
            if target.is_symlink():  # --force: replace the link, never write through it
                target.unlink()
            tar.extract(member, root, filter="data")  # no absolute paths, no escaping links, no devices
            if sha256_file(target) != want[member.name]["sha256"]:
                raise BackupError(_("{path} does not match the manifest after extraction").format(path=target))
            progress.advance(member.size)
    progress.finish()


def summary(report: BackupReport | RestoreReport) -> str:
    """One line for the CLI."""
    m = report.manifest
    tree = m.get("tree") or {"files": {}}
    return _("{backend} database at revision {revision}: {tables} tables, {rows} rows; {files} files").format(
        backend=m["backend"], revision=m.get("alembic_revision"), tables=len(m["tables"]),
        rows=sum(t["rows"] for t in m["tables"].values()), files=len(tree["files"]))
