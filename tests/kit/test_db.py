"""kit.db: the pool's socket-first pre-ping on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

from cityhub.kit.db import make_engine
from cityhub.kit.settings import get_settings
from tests.conftest import need_service


@pytest.fixture
def pg() -> Iterator[Engine]:
    url = make_url(get_settings().test_postgres_url)
    need_service("PostgreSQL", url.host or "127.0.0.1", url.port or 5432)
    eng = make_engine(url.render_as_string(hide_password=False), pool_size=1, max_overflow=0)
    yield eng
    eng.dispose()


def _pings(eng: Engine) -> list[str]:
    """Record every real ping (the fallback of the socket-first check)."""
    seen: list[str] = []
    check = eng.dialect.do_ping
    real = check.real  # type: ignore[attr-defined]  # kit.db._SocketFirstPing

    def counting(conn: object) -> bool:
        seen.append("ping")
        return bool(real(conn))

    check.real = counting  # type: ignore[attr-defined]  # the test hangs the original on the function to restore it
    return seen


def test_quiet_idle_connection_is_reused_without_a_round_trip(pg: Engine) -> None:
    seen = _pings(pg)
    with pg.connect() as conn:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
    for _ in range(5):
        with pg.connect() as conn:
            assert conn.execute(text("SELECT pg_backend_pid()")).scalar() == pid
    assert seen == []


def test_connection_closed_by_the_server_is_replaced_before_use(pg: Engine) -> None:
    seen = _pings(pg)
    with pg.connect() as conn:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
    admin = create_engine(make_url(get_settings().test_postgres_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as other:
        assert other.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar() is True
    admin.dispose()
    # the server's FATAL message and close made the idle socket readable: the real ping ran, failed, and the
    # pool handed out a fresh connection instead of an error
    import time

    time.sleep(0.2)
    with pg.connect() as conn:
        assert conn.execute(text("SELECT pg_backend_pid()")).scalar() != pid
    assert seen == ["ping"]
