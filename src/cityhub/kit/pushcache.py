"""Process-local caches that PostgreSQL notifications clear: rarely-changing facts read on every request.

A cached fact (an API token's actor, the organisation tree) stays exact across processes because every write that
changes it calls `invalidate(session, namespace)` in its transaction: the namespace is cleared in this process at
once and a `NOTIFY cityhub_invalidate, '<namespace>'` reaches every other process's listener when the transaction
commits (PostgreSQL delivers notifications only on commit, in commit order).

Safety rules the class keeps:
- No listening connection, no cache: until the listener has LISTENed, and again from the moment its connection
  fails, `get` misses and `put` drops, so a missed notification can never leave a stale entry behind. The
  reconnect clears everything.
- A loader reads `generation(ns)` *before* reading the database and passes it to `put`; an invalidation in between
  bumps the generation and the `put` is dropped (the value might predate the change).
- Entries also expire after `ttl_s`, a backstop against a listener that is connected but starved.

SQLite has no NOTIFY, so there is no cache there (every read goes to the database), and tests that bind a
Database to a rolled-back transaction run without one too (create_app starts the listener only for the database
it opens itself).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Hashable
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

CHANNEL = "cityhub_invalidate"
_NOTIFY = text("SELECT pg_notify(:channel, :ns)")


class PushCache:
    """Namespaced key → value maps, cleared by notifications on `CHANNEL` (one listener thread per database)."""

    def __init__(self, dsn: str, *, ttl_s: float = 60.0, max_entries: int = 100_000) -> None:
        self._dsn = dsn
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._data: dict[str, dict[Hashable, tuple[float, Any]]] = {}
        self._generations: dict[str, int] = {}
        self._epoch = 0  # bumped on every reconnect: clears every namespace's generation at once
        self.listening = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.hits = 0
        self.misses = 0

    # ---- reads and writes (any thread)

    def generation(self, ns: str) -> tuple[int, int]:
        """Read before loading from the database; pass to `put`."""
        return self._epoch, self._generations.get(ns, 0)

    def get(self, ns: str, key: Hashable) -> Any:
        """The cached value, or None (not cached, expired, or no listener)."""
        if not self.listening:
            return None
        hit = self._data.get(ns, {}).get(key)
        if hit is None or time.monotonic() - hit[0] > self.ttl_s:
            self.misses += 1
            return None
        self.hits += 1
        return hit[1]

    def put(self, ns: str, key: Hashable, value: Any, generation: tuple[int, int]) -> None:
        """Cache a value loaded after `generation` was read, unless an invalidation came in between."""
        if not self.listening or generation != self.generation(ns):
            return
        entries = self._data.setdefault(ns, {})
        if len(entries) >= self.max_entries:
            entries.clear()
        entries[key] = (time.monotonic(), value)

    def clear(self, ns: str | None = None) -> None:
        """Drop a namespace (or everything) and make loads that started before this unable to store."""
        if ns is None:
            self._epoch += 1
            self._data = {}
            return
        self._generations[ns] = self._generations.get(ns, 0) + 1
        self._data.pop(ns, None)

    # ---- the listener

    def start(self) -> None:
        """Start the listener thread (idempotent)."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="cityhub-pushcache", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop listening; the cache turns itself off."""
        self._stop.set()
        self.listening = False
        if self._thread is not None:
            self._thread.join(timeout=5)

    def wait_listening(self, timeout: float = 5.0) -> bool:
        """Block until the listener is up (tests, startup)."""
        deadline = time.monotonic() + timeout
        while not self.listening and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.listening

    def _run(self) -> None:
        import psycopg

        while not self._stop.is_set():
            try:
                with psycopg.connect(self._dsn, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.clear()  # whatever was cached before this connection may have missed notifications
                    self.listening = True
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=1.0):
                            self.clear(note.payload or None)
            except Exception as exc:  # the database went away: no cache until the listener is back
                if not self._stop.is_set():
                    log.warning("push-cache listener lost its connection (%s); caching paused", exc)
            finally:
                self.listening = False
                self.clear()
            self._stop.wait(1.0)


_caches: dict[str, PushCache] = {}


def _key(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def start(engine: Engine, ttl_s: float = 60.0) -> PushCache | None:
    """The cache of a PostgreSQL database, listening (one per process and database); None on other backends."""
    if engine.dialect.name != "postgresql":
        return None
    key = _key(engine)
    cache = _caches.get(key)
    if cache is None:
        dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        cache = _caches[key] = PushCache(dsn, ttl_s=ttl_s)
    cache.start()
    return cache


def stop_all() -> None:
    """Stop every listener (tests)."""
    for cache in _caches.values():
        cache.stop()
    _caches.clear()


def for_session(session: Session) -> PushCache | None:
    """The listening cache of the session's database, if this process started one."""
    if not _caches:
        return None
    cache = _caches.get(_key(session.get_bind().engine))
    return cache if cache is not None and cache.listening else None


def for_engine(engine: Engine) -> PushCache | None:
    """The process's cache of the engine's database, listening or not (hot paths keep it and check `listening`)."""
    return _caches.get(_key(engine)) if _caches else None


def invalidate(session: Session, *namespaces: str) -> None:
    """Call in the transaction that changes a cached fact: clear here now, everywhere else when it commits."""
    bind = session.get_bind()
    cache = _caches.get(_key(bind.engine)) if _caches else None
    for ns in namespaces:
        if cache is not None:
            cache.clear(ns)
        if bind.dialect.name == "postgresql":
            session.execute(_NOTIFY, {"channel": CHANNEL, "ns": ns})
