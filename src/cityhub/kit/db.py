"""Database engine, declarative Base, column types and the session scope (the only place that commits)."""

from __future__ import annotations

import select
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, TypeVar

from sqlalchemy import JSON, DateTime, Enum, MetaData, create_engine, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

from cityhub.kit import clock
from cityhub.kit.errors import NotFound
from cityhub.kit.i18n import gettext as _
from cityhub.kit.settings import Settings, get_settings

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware timestamps on every backend (SQLite stores naive UTC, we hand back aware UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Reject naive datetimes; store UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = clock.as_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Always aware UTC."""
        return clock.as_utc(value) if value is not None else None


JSONType = JSON().with_variant(JSONB(), "postgresql")


def status_type(enum: type[StrEnum]) -> Enum:
    """A status column of `enum`, read back as its member (`Mapped[StatusEnum]`, moved with `check_transition`).

    The enum's values in a VARCHAR(20), exactly the plain string column the statuses were stored in before (no
    CHECK constraint, no native enum type), so typing a column with it needs no migration.
    """
    return Enum(enum, native_enum=False, length=20, create_constraint=False,
                values_callable=lambda members: [m.value for m in members])


class Base(DeclarativeBase):
    """Declarative base of every cityhub table."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(), dict[str, Any]: JSONType, list[Any]: JSONType,
    }


class UUIDPk:
    """Mixin: UUID primary key."""

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)


class Timestamps:
    """Mixin: created/updated times set from the testable clock."""

    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # pysqlite's own transaction handling breaks SAVEPOINT; SQLAlchemy emits BEGIN itself (see _sqlite_begin).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    # IMMEDIATE: take the write lock when the transaction starts. `make run` has several processes on one SQLite
    # file (server, workers, simulator); a deferred transaction that reads and then writes fails at once with
    # "database is locked" when another process wrote in between (the busy timeout cannot help a stale snapshot),
    # whereas an immediate one waits its turn. SQLite is the embedded default; PostgreSQL is for concurrency.
    # A connection that only reads (health checks) asks for `sqlite_deferred` so it never waits for the lock.
    conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get("sqlite_deferred") else "BEGIN IMMEDIATE")


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine with the pragmas/pool settings cityhub expects."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            from pathlib import Path

            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 20)
    if url.startswith("postgresql"):
        # A server that stops answering (network partition, a host gone without a FIN) must fail a call within a
        # minute, not hang a worker for the kernel's two hours: then it is an outage the worker waits out
        # (kit.resilience). libpq: connect_timeout bounds connecting, TCP keepalives a silent established connection.
        connect_args = {"connect_timeout": 10, "keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10,
                        "keepalives_count": 3}
        kwargs["connect_args"] = {**connect_args, **kwargs.get("connect_args", {})}
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg":
        engine.dialect.do_ping = _SocketFirstPing(engine.dialect.do_ping)  # type: ignore[method-assign]  # wrapping the dialect's ping is the point
    return engine


class _SocketFirstPing:
    """A pool pre-ping that costs no round trip while the idle connection's socket is quiet.

    A pooled psycopg connection that sits idle receives nothing; when the server closes it (restart, failover,
    `pg_terminate_backend`, idle timeout) the server's error message and the close make its socket readable. So a
    zero-timeout `select` on an idle connection answers "still there" without a `SELECT 1`, and anything readable
    (or any doubt) falls back to the real ping, which SQLAlchemy uses to discard and replace the connection. A
    silently vanished peer (no FIN) is caught by neither check before the query, exactly as before.
    """

    def __init__(self, real: Callable[[Any], bool]) -> None:
        self.real = real

    def __call__(self, dbapi_connection: Any) -> bool:
        """True when the connection is usable (SQLAlchemy's `do_ping` contract: the real ping raises if not)."""
        from psycopg import pq

        try:
            pg = dbapi_connection.pgconn
            if pg.status != pq.ConnStatus.OK or pg.transaction_status != pq.TransactionStatus.IDLE:
                return self.real(dbapi_connection)
            readable, _w, _x = select.select([pg.socket], [], [], 0)
        except Exception:  # closed handle, no socket: let the real ping decide
            return self.real(dbapi_connection)
        return self.real(dbapi_connection) if readable else True


class Database:
    """An engine plus its session factory; the app and CLI each hold one."""

    def __init__(self, url: str | None = None, *, engine: Engine | None = None) -> None:
        self.engine = engine if engine is not None else make_engine(url or get_settings().effective_database_url)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Database:
        """The database the settings point at."""
        return cls((settings or get_settings()).effective_database_url)

    @contextmanager
    def session_scope(self) -> Iterator[Session]:
        """Open a session, commit on success, roll back on any error."""
        session = self.sessionmaker()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @property
    def is_postgres(self) -> bool:
        """True on PostgreSQL (COPY, partitions, triggers are available)."""
        return self.engine.dialect.name == "postgresql"


def is_postgres(session: Session) -> bool:
    """True when the session's connection is PostgreSQL."""
    return session.get_bind().dialect.name == "postgresql"


_M = TypeVar("_M")


def get_or_404(session: Session, model: type[_M], obj_id: uuid.UUID | None, label: str) -> _M:
    """The row of `model` with this id, or NotFound ("<label> not found", the id in details).

    Only for rows every caller of the service may know exist; a row the actor may not see goes through its
    capability's visibility rule, which answers the same 404.
    """
    obj = session.get(model, obj_id) if obj_id is not None else None
    if obj is None:
        raise NotFound(_(f"{label} not found"), details={"id": str(obj_id)})  # "<Label> not found" is catalogued
    return obj
