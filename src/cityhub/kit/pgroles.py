"""The PostgreSQL roles cityhub runs with, created once by a database administrator (`cityhub db roles`).

- **app role** (e.g. `cityhub`): owns the database and its schema; runs the migrations and the application. Not a
  superuser, cannot create roles or databases. It needs DDL at run time (a datastore table per uploaded file, monthly
  telemetry partitions, the open-data views), which is why migrations and the application share it.
- **open-data role** (`cityhub_open`): the login public SQL (`datastore_search_sql`) runs as. It holds `CONNECT` on
  the database, `USAGE` on schema `open_data` and `SELECT` on each view there (granted by the app as it creates the
  views), nothing on schema `public`; every transaction is read-only with a pinned `search_path` and a statement
  timeout. No role is granted to it and it is granted to no role, so `SET ROLE` leads nowhere.
- **administrator** (`postgres`): used only to run these statements.

The test-suite creates the same roles with `ensure_roles` and runs the application as the app role.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError


def _ident(name: str) -> str:
    if not name or len(name) > 63:
        raise ValueError(f"bad role or database name: {name!r}")
    return '"' + name.replace('"', '""') + '"'


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def role_statements(app_role: str, open_role: str, *, app_password: str = "", open_password: str = "",
                    statement_timeout_ms: int = 5000) -> list[str]:
    """Create or align both roles (cluster-wide); safe to run again."""
    out = []
    for role, password in ((app_role, app_password), (open_role, open_password)):
        pw = f" PASSWORD {_lit(password)}" if password else ""
        out.append(f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {_lit(role)}) THEN "
                   f"CREATE ROLE {_ident(role)} LOGIN; END IF; END $$")
        out.append(f"ALTER ROLE {_ident(role)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
                   f"NOBYPASSRLS{pw}")
    o = _ident(open_role)
    out += [
        f"ALTER ROLE {o} NOINHERIT CONNECTION LIMIT 20",
        f"ALTER ROLE {o} SET search_path = open_data",
        f"ALTER ROLE {o} SET default_transaction_read_only = on",
        f"ALTER ROLE {o} SET statement_timeout = {int(statement_timeout_ms)}",
        f"ALTER ROLE {o} SET idle_in_transaction_session_timeout = 10000",
        f"ALTER ROLE {o} SET temp_file_limit = '256MB'",
    ]
    return out


def database_statements(database: str, app_role: str, open_role: str) -> list[str]:
    """Run connected to the cityhub database: the app role owns it, the open role may only connect."""
    d, a, o = _ident(database), _ident(app_role), _ident(open_role)
    return [
        f"ALTER DATABASE {d} OWNER TO {a}",
        f"REVOKE ALL ON DATABASE {d} FROM PUBLIC",
        f"GRANT CONNECT, TEMPORARY ON DATABASE {d} TO {a}",
        f"GRANT CONNECT ON DATABASE {d} TO {o}",
        "REVOKE ALL ON SCHEMA public FROM PUBLIC",
        f"GRANT ALL ON SCHEMA public TO {a}",
    ]


def ensure_roles(conn: Connection, app_role: str, open_role: str, **kwargs: str | int) -> None:
    """Apply `role_statements`; tolerates another process creating the same role at the same moment."""
    for stmt in role_statements(app_role, open_role, **kwargs):  # type: ignore[arg-type]  # keyword options
        for attempt in range(3):
            try:
                conn.execute(text(stmt))
                break
            except DBAPIError as exc:  # concurrent CREATE ROLE/ALTER ROLE of the same role: retry
                if attempt == 2 or ("tuple concurrently updated" not in str(exc) and "already exists" not in str(exc)):
                    raise


def ensure_database(conn: Connection, database: str, app_role: str, open_role: str) -> None:
    """Apply `database_statements` on a connection to `database` (autocommit)."""
    for stmt in database_statements(database, app_role, open_role):
        conn.execute(text(stmt))
