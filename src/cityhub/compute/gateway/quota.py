"""Quota counters of the gateway: fixed windows per minute, day and month, exact across server processes.

With CITYHUB_REDIS_URL the counters live in Redis and one Lua script checks every window of a subscription and
takes a call from all of them atomically (no window is charged for a refused call), so any number of processes
share a quota of N and admit exactly N calls. Without Redis they live in this process (a single-process setup).
Days and months follow the display time zone (Asia/Shanghai): a daily quota resets at local midnight.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from cityhub.kit.settings import get_settings


@dataclass(frozen=True)
class Window:
    """One fixed window of a subscription's quota: its name, limit, bucket id and seconds until it ends."""

    name: str
    limit: int
    bucket: int
    remaining_s: float


def windows(limits: tuple[int | None, int | None, int | None], now: float | None = None) -> list[Window]:
    """The current windows of (per minute, per day, per month) limits; None limits are skipped."""
    per_minute, per_day, per_month = limits
    now = time.time() if now is None else now
    out: list[Window] = []
    if per_minute is not None:
        out.append(Window("m", per_minute, int(now // 60), 60 - now % 60))
    if per_day is not None or per_month is not None:
        local = datetime.fromtimestamp(now, ZoneInfo(get_settings().display_timezone))
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        if per_day is not None:
            out.append(Window("d", per_day, local.toordinal(), 86400 - (local - midnight).total_seconds()))
        if per_month is not None:
            first_next = (midnight.replace(day=1, month=local.month % 12 + 1, year=local.year + local.month // 12))
            out.append(Window("M", per_month, local.year * 12 + local.month - 1,
                              (first_next - local).total_seconds()))
    return out


class QuotaStore(Protocol):
    """Take one call from every window of a subscription, or none of them."""

    async def take(self, subscription: str, wins: list[Window]) -> float | None:
        """None when admitted; otherwise seconds until the exceeded window ends (the Retry-After)."""
        ...


class MemoryQuota:
    """Counters in this process (no Redis configured): exact for one process only."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str, int], int] = {}
        self._sweep_at = 0.0

    async def take(self, subscription: str, wins: list[Window]) -> float | None:
        """Check every window, then count the call in each (the event loop makes this atomic)."""
        keys = [(subscription, w.name, w.bucket) for w in wins]
        for key, w in zip(keys, wins, strict=True):
            if self._counts.get(key, 0) >= w.limit:
                return w.remaining_s
        for key in keys:
            self._counts[key] = self._counts.get(key, 0) + 1
        now = time.monotonic()
        if now > self._sweep_at:  # drop past windows' counters now and then
            self._sweep_at = now + 60
            current = {(w.name, w.bucket) for w in windows((1, 1, 1))}
            for k in [k for k in self._counts if (k[1], k[2]) not in current]:
                del self._counts[k]
        return None

    def count(self, subscription: str, name: str, bucket: int) -> int:
        """A counter's value (tests and the usage page)."""
        return self._counts.get((subscription, name, bucket), 0)


# KEYS: one counter per window; ARGV: limit and TTL (ms) per window, in the same order.
# Returns 0 when admitted (every counter incremented), else the PTTL of the first exceeded window's counter.
_TAKE = """
for i, key in ipairs(KEYS) do
  local used = tonumber(redis.call('GET', key) or '0')
  if used >= tonumber(ARGV[2 * i - 1]) then
    local ttl = redis.call('PTTL', key)
    if ttl < 1 then ttl = 1 end
    return ttl
  end
end
for i, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then
    redis.call('PEXPIRE', key, ARGV[2 * i])
  end
end
return 0
"""


class RedisQuota:
    """Counters in Redis, shared by every server process: one atomic script per call."""

    def __init__(self, url: str, prefix: str = "cityhub:compute:quota") -> None:
        import redis.asyncio as aioredis

        self._redis = aioredis.Redis.from_url(url)
        self._script = self._redis.register_script(_TAKE)
        self.prefix = prefix

    async def take(self, subscription: str, wins: list[Window]) -> float | None:
        """Run the script; None when admitted, else seconds until the exceeded window ends."""
        keys = [f"{self.prefix}:{subscription}:{w.name}:{w.bucket}" for w in wins]
        args: list[int] = []
        for w in wins:
            args += [w.limit, int(w.remaining_s * 1000) + 5000]  # the counter outlives its window by a margin
        ttl = int(await self._script(keys=keys, args=args))
        return None if ttl == 0 else ttl / 1000.0

    async def close(self) -> None:
        """Close the connection pool."""
        await self._redis.close()


def store_from_settings() -> QuotaStore:
    """Redis when CITYHUB_REDIS_URL is set, this process otherwise."""
    url = get_settings().redis_url
    return RedisQuota(url) if url else MemoryQuota()
