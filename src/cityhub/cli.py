"""`cityhub` command line: serve, db upgrade, demo, users and tokens, config; domains add their own commands."""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cityhub.kit import context, events
from cityhub.kit.db import Database
from cityhub.kit.settings import Settings, get_settings

app = typer.Typer(help="cityhub 城市智能中枢 — operate a city's cloud, sensing network, data, compute and programme.",
                  no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
user_app = typer.Typer(help="Users.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
config_app = typer.Typer(help="Configuration.", no_args_is_help=True)
org_app = typer.Typer(help="Organisations.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")
app.add_typer(config_app, name="config")
app.add_typer(org_app, name="org")

err = Console(stderr=True)
DOMAINS = ("cloud", "connect", "context", "data", "compute", "ops", "apply")


def _db() -> Database:
    context.set_current(context.RequestContext(channel="cli"))
    return Database.from_settings()


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default from settings).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default from settings).")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes.")] = None,
    reload: Annotated[bool, typer.Option(help="Reload on code changes (development).")] = False,
) -> None:
    """Serve the web UI and API."""
    import uvicorn

    s = get_settings()
    _warn_if_superuser(s.effective_database_url)
    logging.basicConfig(level=s.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    bind, listen = host or s.host, port or s.port
    err.print(f"cityhub: serving [bold]{serving_url(bind, listen)}[/bold]"
              + (f" (listening on every address, {bind})" if bind in ("0.0.0.0", "::") else ""), soft_wrap=True)
    # proxy_headers=False: uvicorn would believe X-Forwarded-For from 127.0.0.1 by default; the app does it, for
    # CITYHUB_TRUSTED_PROXIES only (the same under any ASGI server).
    uvicorn.run("cityhub.app:create_served_app", factory=True, host=bind, port=listen,
                workers=workers or s.workers, reload=reload, log_level=s.log_level.lower(), access_log=False,
                proxy_headers=False)


def serving_url(host: str, port: int) -> str:
    """The address a browser on this machine opens for a server bound to `host`:`port`."""
    shown = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}.get(host, host)
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"  # an IPv6 address
    return f"http://{shown}:{port}/"


def _warn_if_superuser(url: str) -> None:
    """PostgreSQL: say so loudly when cityhub connects as a superuser (SECURITY.md, `cityhub db roles`)."""
    if not url.startswith("postgresql"):
        return
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            superuser = conn.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")).scalar()
    except Exception:  # unreachable database: /readyz reports it
        return
    finally:
        engine.dispose()
    if superuser:
        err.print("[bold red]warning[/bold red]: cityhub connects to PostgreSQL as a superuser; create the "
                  "least-privilege roles with `cityhub db roles` and connect as the app role (SECURITY.md)")


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Upgrade the database schema (Alembic)."""
    from cityhub.kit.migrate import upgrade

    upgrade(get_settings().effective_database_url, revision)
    err.print(f"[green]database at {revision}[/green]: {_redacted_url(get_settings().effective_database_url)}")


@db_app.command("roles")
def db_roles(
    admin_url: Annotated[str, typer.Option(help="A superuser's URL to the cityhub database, e.g. "
                                           "postgresql+psycopg://postgres@127.0.0.1/cityhub.")],
    app_role: Annotated[str, typer.Option(help="Role that owns the schema and runs cityhub.")] = "cityhub",
    app_password: Annotated[str, typer.Option(envvar="CITYHUB_APP_DB_PASSWORD", help="Its password.")] = "",
    open_password: Annotated[str, typer.Option(envvar="CITYHUB_OPEN_SQL_PASSWORD",
                                               help="Password of the open-data role.")] = "",
    print_only: Annotated[bool, typer.Option("--print", help="Print the SQL instead of running it.")] = False,
) -> None:
    """Create the PostgreSQL roles: the app role (no superuser) and the read-only open-data role (SECURITY.md)."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    from cityhub.kit import pgroles

    open_role = get_settings().open_sql_role
    database = make_url(admin_url).database or ""
    statements = [*pgroles.role_statements(app_role, open_role, app_password=app_password,
                                           open_password=open_password),
                  *pgroles.database_statements(database, app_role, open_role)]
    if print_only:
        for stmt in statements:
            typer.echo(stmt + ";")
        return
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        pgroles.ensure_roles(conn, app_role, open_role, app_password=app_password, open_password=open_password)
        pgroles.ensure_database(conn, database, app_role, open_role)
    engine.dispose()
    err.print(f"[green]roles ready[/green]: {app_role} owns {database}; {open_role} may read only schema open_data")


def _redacted_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@app.command()
def demo(only: Annotated[list[str] | None, typer.Option(help="Run only these steps.")] = None) -> None:
    """Build the demo city (idempotent: completes what is missing)."""
    from cityhub import demo as demo_mod

    s = get_settings()
    # one line per message, never wrapped mid-phrase at the terminal's width, no colouring of numbers
    report = demo_mod.build(_db(), s.demo_password or None,
                            log=lambda m: err.print(f"[dim]{m}[/dim]", soft_wrap=True, highlight=False),
                            only=tuple(only) if only else None)
    if report.password:
        err.print("[bold yellow]Demo users were created with this password (shown once):[/bold yellow]")
        print(report.password)
    err.print("[green]demo city ready[/green] — users: admin (platform admin), auditor, operator, "
              "<unit>-chief (org admin, 云长), <unit>-staff, e.g. dsj-chief, yb-staff", soft_wrap=True)


@org_app.command("bureau")
def org_bureau(code: Annotated[str, typer.Argument(help="Organisation code of the big-data bureau.")]) -> None:
    """Name the organisation that acts as the big-data bureau (default: settings.bureau_code, cq-dsj)."""
    from cityhub.core import service

    with _db().session_scope() as session:
        organisation = service.organization_by_code(session, code)
        if organisation is None:
            err.print(f"[red]no organisation with code {code!r}[/red]")
            raise typer.Exit(2)
        service.bureau_set(session, service.Actor.system("cli"), organisation.id)
    err.print(f"[green]bureau = {code}[/green]")


def _input_error(exc: Exception) -> str:
    """A refused input as a person reads it: each field named with what is wrong."""
    from cityhub.kit.web import error_text

    return error_text(exc)


@app.command()
def init(
    org_code: Annotated[str, typer.Option(help="Code of the first organisation (the city), e.g. cq.")],
    org_name: Annotated[str, typer.Option(help="Its name, e.g. 重庆市.")],
    admin: Annotated[str, typer.Option(help="Login name of the first platform admin.")],
    org_kind: Annotated[str, typer.Option(help="Its kind: city, department, district, county, new_area, unit."
                                          )] = "city",
    password: Annotated[str, typer.Option(envvar="CITYHUB_ADMIN_PASSWORD", show_envvar=True,
                                          help="The admin's password (min 8 characters); generated and printed "
                                               "once when not given.")] = "",
) -> None:
    """First run without the demo: the first organisation and its first platform admin (refused once one exists)."""
    import secrets

    from pydantic import ValidationError

    from cityhub.core import first_run, service
    from cityhub.core.schemas import OrganizationCreate
    from cityhub.kit.errors import CityhubError

    generated = not password
    password = password or secrets.token_urlsafe(12)
    with _db().session_scope() as session:
        existing = service.core_counts(session)["organizations"]
        if existing:
            err.print(f"[red]already initialised: {existing} organisation(s) exist[/red]; add more with "
                      "`cityhub org create` and people with `cityhub user create`", soft_wrap=True)
            raise typer.Exit(2)
        try:
            org, user = first_run.platform_init(session, service.Actor.system("cli"), OrganizationCreate(
                code=org_code, name=org_name, kind=org_kind), admin, password)
        except (ValidationError, CityhubError) as exc:
            err.print("[red]refused[/red]: " + escape(_input_error(exc)), soft_wrap=True)
            raise typer.Exit(2) from exc
    err.print(f"[green]initialised[/green]: organisation {org.code} ({org.name}), platform admin {user.username}",
              soft_wrap=True)
    if generated:
        err.print("[bold yellow]The admin's password (shown once):[/bold yellow]")
        print(password)


@org_app.command("create")
def org_create(
    code: Annotated[str, typer.Option(help="Short unique code, e.g. cq-yb.")],
    name: Annotated[str, typer.Option(help="Name, e.g. 重庆市医疗保障局.")],
    kind: Annotated[str, typer.Option(help="city, department, district, county, new_area or unit.")],
    parent: Annotated[str, typer.Option(help="Code of the parent organisation (empty: a root).")] = "",
    name_en: Annotated[str, typer.Option(help="English name.")] = "",
    uscc: Annotated[str, typer.Option(help="统一社会信用代码 (18 characters).")] = "",
) -> None:
    """Create an organisation (audited as done by the command line)."""
    from pydantic import ValidationError

    from cityhub.core import service
    from cityhub.core.schemas import OrganizationCreate
    from cityhub.kit.errors import CityhubError

    with _db().session_scope() as session:
        parent_id = None
        if parent:
            above = service.organization_by_code(session, parent)
            if above is None:
                err.print(f"[red]refused[/red]: parent: no organisation with code {escape(repr(parent))}",
                          soft_wrap=True)
                raise typer.Exit(2)
            parent_id = above.id
        try:
            org = service.organization_create(session, service.Actor.system("cli"), OrganizationCreate(
                code=code, name=name, kind=kind, parent_id=parent_id, name_en=name_en,
                uscc=uscc or None))
        except (ValidationError, CityhubError) as exc:
            err.print("[red]refused[/red]: " + escape(_input_error(exc)), soft_wrap=True)
            raise typer.Exit(2) from exc
        err.print(f"[green]created organisation {org.code}[/green] ({org.name}, {org.id})")


@user_app.command("create")
def user_create(
    username: Annotated[str, typer.Option(help="Login name.")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, help="Password (min 8 characters).")],
    org: Annotated[str, typer.Option(help="Organisation code, e.g. cq-dsj.")],
    role: Annotated[list[str] | None, typer.Option(help="Role within the organisation (repeatable).")] = None,
    display_name: Annotated[str, typer.Option(help="Display name.")] = "",
) -> None:
    """Create a user."""
    from pydantic import ValidationError

    from cityhub.core import service
    from cityhub.core.schemas import UserCreate
    from cityhub.kit.errors import CityhubError

    with _db().session_scope() as session:
        organisation = service.organization_by_code(session, org)
        if organisation is None:
            err.print(f"[red]no organisation with code {org!r}[/red]")
            raise typer.Exit(2)
        try:
            user = service.user_create(session, service.Actor.system("cli"), UserCreate(
                username=username, password=password, org_id=organisation.id,
                display_name=display_name, roles=role or []))
        except (ValidationError, CityhubError) as exc:
            err.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from exc
        err.print(f"[green]created user {user.username}[/green] ({user.id})")


@user_app.command("set-password")
def user_set_password(
    username: Annotated[str, typer.Option(help="Login name.")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, help="New password.")],
) -> None:
    """Set a user's password (and unlock the account)."""
    from cityhub.core import service

    with _db().session_scope() as session:
        user = service.user_by_username(session, username)
        if user is None:
            err.print(f"[red]no user {username!r}[/red]")
            raise typer.Exit(2)
        service.user_password_set(session, service.Actor.system("cli"), user.id, password)
    err.print("[green]password set[/green]")


@token_app.command("create")
def token_create(
    username: Annotated[str, typer.Option(help="Whose token.")],
    expires: Annotated[datetime | None, typer.Option(help="Expiry (ISO 8601, UTC if no zone).")] = None,
    name: Annotated[str, typer.Option(help="Label.")] = "cli",
    scope: Annotated[list[str] | None, typer.Option(help="Scope (repeatable); none = everything.")] = None,
) -> None:
    """Create an API token; prints only the token on stdout."""
    from datetime import UTC

    from cityhub.core import service
    from cityhub.core.schemas import ApiTokenCreate

    with _db().session_scope() as session:
        user = service.user_by_username(session, username)
        if user is None:
            err.print(f"[red]no user {username!r}[/red]")
            raise typer.Exit(2)
        if expires is not None and expires.tzinfo is None:
            expires = expires.replace(tzinfo=UTC)
        _, raw = service.api_token_create(session, service.Actor.system("cli"), user.id,
                                          ApiTokenCreate(name=name, expires_at=expires, scopes=scope or []))
    sys.stdout.write(raw + "\n")


@config_app.command("show")
def config_show() -> None:
    """Print every setting with its value, default and description (secrets masked)."""
    s = get_settings()
    table = Table("setting", "value", "default", "description", title="cityhub settings (env prefix CITYHUB_)")
    for name, fld in Settings.model_fields.items():
        value = getattr(s, name)
        shown = "***" if any(k in name for k in ("secret", "password")) and value else str(value)
        if name.endswith("_url") and value:
            shown = _redacted_url(str(value)) if "://" in str(value) else str(value)
        table.add_row(f"CITYHUB_{name.upper()}", shown, str(fld.default), fld.description or "")
    Console(width=200).print(table)


@app.command("health")
def health(
    stale_after: Annotated[float, typer.Option(help="Seconds without a heartbeat after which a worker is stale.")
                           ] = 120.0,
    expect: Annotated[list[str] | None, typer.Option(help="A worker that must have a heartbeat (repeatable), "
                                                     "e.g. ops-worker, cloud-worker, data-sla-check.")] = None,
) -> None:
    """Print the workers' heartbeats (<var_dir>/health); exit 1 if any is stale, waiting, stopped or missing."""
    from cityhub.kit import resilience

    directory = resilience.heartbeat_dir()
    reports = resilience.read_heartbeats(directory, stale_after)
    table = Table("worker", "state", "pid", "last success", "failures", "problem",
                  title=f"worker heartbeats in {directory}")
    for r in reports:
        d = r.data
        table.add_row(str(d.get("worker", r.path.stem)), str(d.get("state", "?")), str(d.get("pid", "")),
                      str(d.get("last_success") or "never"), str(d.get("consecutive_failures", "")),
                      r.problem or "ok")
    names = {r.path.stem for r in reports} | {str(r.data.get("worker", "")) for r in reports}
    missing = [name for name in expect or [] if name not in names]
    for name in missing:
        table.add_row(name, "missing", "", "", "", "no heartbeat file")
    Console(width=200).print(table)
    if not reports and not missing:
        err.print("no worker has written a heartbeat here (none runs on this host, or CITYHUB_VAR_DIR differs)")
    if missing or any(not r.healthy for r in reports):
        raise typer.Exit(1)


@app.command("backup")
def backup_command(
    outdir: Annotated[Path, typer.Argument(help="New (or empty) folder the backup is written to.")],
    no_files: Annotated[bool, typer.Option("--no-files", help="Leave out the files under var_dir.")] = False,
) -> None:
    """Back up the database, the files under var_dir and the non-secret settings (docs/backup.md)."""
    from cityhub.kit import backup, i18n
    from cityhub.kit.errors import CityhubError

    i18n.set_locale(get_settings().default_locale)
    try:
        with backup.rich_progress(err) as progress:
            report = backup.backup(outdir, include_files=not no_files, progress=progress)
    except CityhubError as exc:
        err.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(1) from exc
    err.print(f"[green]{report.outdir}[/green]: {backup.summary(report)}")


@app.command("restore")
def restore_command(
    backup_dir: Annotated[Path, typer.Argument(help="Folder written by `cityhub backup`.")],
    force: Annotated[bool, typer.Option("--force", help="Let the backup's files replace files already under "
                                        "var_dir (the database must be empty regardless).")] = False,
) -> None:
    """Restore a backup onto an empty database, then check every table's count and checksum (docs/backup.md)."""
    from cityhub.kit import backup, i18n
    from cityhub.kit.errors import CityhubError

    i18n.set_locale(get_settings().default_locale)
    try:
        with backup.rich_progress(err) as progress:
            report = backup.restore(backup_dir, force=force, progress=progress)
    except backup.RestoreMismatch as exc:
        err.print(f"[bold red]{exc.message}[/bold red]")
        for line in exc.details or []:
            err.print(f"[red]  {line}[/red]")
        raise typer.Exit(3) from exc
    except CityhubError as exc:
        err.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(1) from exc
    for warning in report.warnings:
        err.print(f"[bold yellow]{warning}[/bold yellow]")
    err.print(f"[green]{backup_dir}[/green]: {backup.summary(report)}")


def _register_domain_commands() -> None:
    for domain in DOMAINS:
        name = f"cityhub.{domain}.cli"
        if importlib.util.find_spec(f"cityhub.{domain}") and importlib.util.find_spec(name):
            importlib.import_module(name).register(app)


_register_domain_commands()
events.load_subscribers()  # every command (the ingest worker too) runs the domains' event consumers

if __name__ == "__main__":  # pragma: no cover
    app()
