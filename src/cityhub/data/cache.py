"""Open-portal response cache and per-IP rate limits: Redis when `CITYHUB_REDIS_URL` is set, in-process otherwise.

Cached anonymous reads are keyed by the *catalog generation*, a counter bumped after every commit that changed a
catalog entry or a resource (see the session hooks in `service.py`). A reader takes the generation before it reads
the database and stores its answer under that generation, so an answer computed from data older than a publish can
only land under an old generation that nobody looks up any more: a publish is visible on the very next request.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from functools import lru_cache
from typing import Any

from cityhub.kit.settings import get_settings

log = logging.getLogger("cityhub.data.cache")

PREFIX = "cityhub:portal:"
_MAX_LOCAL = 2000

_lock = threading.Lock()
_local_gen = 0
_local_cache: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
_local_hits: dict[str, tuple[int, int]] = {}  # rate-limit key -> (window, count)
_clock = time.time  # the rate limit's wall clock (tests pin it so three requests cannot straddle a window)


@lru_cache(maxsize=4)
def _client(url: str) -> Any:
    import redis

    return redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)


def redis_client() -> Any | None:
    """The Redis client of the configured URL, or None (in-process mode)."""
    url = get_settings().redis_url
    return _client(url) if url else None


def _redis_call(fn: Any) -> Any:
    """Run `fn(client)`; None when Redis is not configured or fails (the portal degrades to in-process)."""
    client = redis_client()
    if client is None:
        return None
    try:
        return fn(client)
    except Exception as exc:  # redis-py raises several kinds; an outage must not break public reads
        log.warning("redis unavailable for the portal cache: %s", type(exc).__name__)
        return None


def generation() -> int:
    """The current catalog generation."""
    value = _redis_call(lambda c: c.get(PREFIX + "gen"))
    if value is not None:
        return int(value)
    if redis_client() is not None and _redis_call(lambda c: c.ping()):
        return 0  # Redis is up and the counter was never bumped
    return _local_gen


def bump_generation() -> None:
    """Invalidate every cached read (called after a commit that changed the catalog)."""
    global _local_gen
    with _lock:
        _local_gen += 1
        _local_cache.clear()
    _redis_call(lambda c: c.incr(PREFIX + "gen"))


def cache_key(gen: int, *parts: str) -> str:
    """A cache key for a read at generation `gen`."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
    return f"{PREFIX}c:{gen}:{digest}"


def cache_get(key: str) -> bytes | None:
    """A cached answer, or None."""
    if redis_client() is not None:
        value = _redis_call(lambda c: c.get(key))
        return bytes(value) if value is not None else None
    with _lock:
        hit = _local_cache.get(key)
        if hit is None:
            return None
        if hit[0] < time.monotonic():
            _local_cache.pop(key, None)
            return None
        _local_cache.move_to_end(key)
        return hit[1]


def cache_set(key: str, value: bytes, ttl_s: int) -> None:
    """Store an answer for `ttl_s` seconds."""
    if ttl_s <= 0:
        return
    if redis_client() is not None:
        _redis_call(lambda c: c.setex(key, ttl_s, value))
        return
    with _lock:
        _local_cache[key] = (time.monotonic() + ttl_s, value)
        while len(_local_cache) > _MAX_LOCAL:
            _local_cache.popitem(last=False)


def rate_limit_hit(ip: str, limit: int, window_s: int = 60) -> int:
    """Count one request of `ip`; 0 when allowed, else the seconds until the next window (Retry-After)."""
    if limit <= 0:
        return 0
    now = _clock()
    window = int(now // window_s)
    retry = max(1, int((window + 1) * window_s - now))
    key = f"{PREFIX}rl:{ip}:{window}"

    def hit(c: Any) -> int:
        pipe = c.pipeline()
        pipe.incr(key)
        pipe.expire(key, window_s + 1)
        return int(pipe.execute()[0])

    count = _redis_call(hit)
    if count is None:
        with _lock:
            w, n = _local_hits.get(ip, (window, 0))
            n = n + 1 if w == window else 1
            _local_hits[ip] = (window, n)
            if len(_local_hits) > 100_000:  # forget old windows rather than grow without bound
                for k in [k for k, (wv, _n) in _local_hits.items() if wv != window]:
                    del _local_hits[k]
            count = n
    return retry if count > limit else 0


def reset_local() -> None:
    """Forget in-process counters and cache (tests)."""
    with _lock:
        _local_cache.clear()
        _local_hits.clear()
