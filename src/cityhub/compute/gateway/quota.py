"""Quota counters of the gateway: fixed or sliding windows per minute, day and month, exact across processes.

**Fixed** windows count calls per calendar bucket: the minute, the local day and the local month
(`CITYHUB_DISPLAY_TIMEZONE`, so a daily quota resets at midnight in Chongqing). **Sliding** windows count the last
60 s, 24 h or 30 days: the count is the current fixed-size bucket plus the previous one weighted by how much of it
still lies inside the window (`prev × (1 − elapsed) + current`, the estimate Kong and Cloudflare use; exact when
calls are spread evenly over the previous bucket, and never letting a burst at a bucket's edge through twice as a
fixed window does). A call is admitted when every window still has room for it, and then counted in all of them;
a refused call is counted in none.

With CITYHUB_REDIS_URL the counters live in Redis and one Lua script decides a *batch* of calls atomically: the
takes of every request that arrives in the same event-loop turn go to Redis in one EVALSHA (one round trip and
one command for many calls), and the script handles them one after another, so any number of processes share a
quota of N and admit exactly N calls. Without Redis they live in this process (exact for a single process).

**Leases.** Far from its limit a subscription needs no round trip per call: when the script admits a call it may
also grant this process a *lease* of extra calls, counted in Redis at once, which the process then admits alone
(no await, no round trip) until it is spent, its windows' buckets or limits change, or it lies idle for
`LEASE_IDLE_S` (what is left is given back, DECRBY, so no count is lost). A grant is at most `LEASE_MAX` and at
most 1/`LEASE_SHARE` of the room left in the tightest window *after* the call, so near the limit (room < 17) no
lease is granted and every call is again decided by the script: the calls admitted across all processes never
exceed N (each one is in a Redis counter before it is admitted), and they reach N because a lease is spent by its
own process's next calls or given back when idle (`tests/compute/test_quota.py`,
`tests/compute/test_quota_processes.py`).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from cityhub.kit.settings import get_settings

log = logging.getLogger(__name__)

FIXED, SLIDING = "fixed", "sliding"
LEASE_MAX = 64  # extra calls one grant may lease to a process
LEASE_SHARE = 16  # a grant is at most 1/LEASE_SHARE of the room left in the tightest window
LEASE_IDLE_S = 1.0  # a lease unused this long is given back
SLIDING_SIZES = {"m": 60, "d": 86_400, "M": 30 * 86_400}  # a sliding "month" is the last 30 days


@dataclass(frozen=True, slots=True)
class Window:
    """One window of a subscription's quota for the current call.

    `bucket` numbers the current fixed-size bucket (its counter's key); `remaining_s` is the time until it ends.
    A sliding window also weighs the previous bucket (`bucket - 1`) by `1 - elapsed`.
    """

    name: str
    limit: int
    bucket: int
    remaining_s: float
    sliding: bool = False
    elapsed: float = 0.0  # fraction of the current bucket gone (sliding windows)
    size_s: float = 60.0

    def retry_after(self, current: int, previous: int) -> float:
        """Seconds until this window has room for one more call (for Retry-After)."""
        if not self.sliding or current + 1 > self.limit:
            return self.remaining_s
        # prev × (1 − e') + current ≤ limit − 1  →  e' ≥ 1 − (limit − 1 − current) / prev
        needed = 1 - (self.limit - 1 - current) / previous if previous else self.elapsed
        return max(0.0, (needed - self.elapsed) * self.size_s)


class _Calendar:
    """Local day and month boundaries, recomputed only when a boundary passes (not on every call)."""

    def __init__(self) -> None:
        self.tz_name = ""
        self.day_end = self.day_start = 0.0
        self.month_end = 0.0
        self.day_id = self.month_id = 0

    def at(self, now: float) -> _Calendar:
        tz = get_settings().display_timezone
        if tz != self.tz_name or not self.day_start <= now < self.day_end:
            self._compute(now, tz)
        return self

    def _compute(self, now: float, tz_name: str) -> None:
        tz = ZoneInfo(tz_name)
        local = datetime.fromtimestamp(now, tz)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        next_midnight = (midnight + timedelta(days=1, hours=2)).replace(hour=0)  # safe across DST changes
        first_next = midnight.replace(day=1, month=local.month % 12 + 1, year=local.year + local.month // 12)
        self.tz_name = tz_name
        self.day_start, self.day_end = midnight.timestamp(), next_midnight.timestamp()
        self.month_end = first_next.timestamp()
        self.day_id, self.month_id = local.toordinal(), local.year * 12 + local.month - 1


_calendar = _Calendar()


def windows(limits: tuple[int | None, int | None, int | None], now: float | None = None,
            mode: str = FIXED) -> list[Window]:
    """The current windows of (per minute, per day, per month) limits; None limits are skipped."""
    now = time.time() if now is None else now
    out: list[Window] = []
    if mode == SLIDING:
        for name, limit in zip(("m", "d", "M"), limits, strict=True):
            if limit is not None:
                size = SLIDING_SIZES[name]
                bucket, into = divmod(now, size)
                # named apart from the fixed windows: their buckets count differently (epoch vs calendar days)
                out.append(Window("s" + name, limit, int(bucket), size - into, True, into / size, size))
        return out
    per_minute, per_day, per_month = limits
    if per_minute is not None:
        out.append(Window("m", per_minute, int(now // 60), 60 - now % 60))
    if per_day is not None or per_month is not None:
        cal = _calendar.at(now)
        if per_day is not None:
            out.append(Window("d", per_day, cal.day_id, cal.day_end - now, size_s=86_400))
        if per_month is not None:
            out.append(Window("M", per_month, cal.month_id, cal.month_end - now, size_s=31 * 86_400))
    return out


class QuotaStore(Protocol):
    """Take one call from every window of a subscription, or none of them."""

    async def take(self, subscription: str, wins: list[Window]) -> float | None:
        """None when admitted; otherwise seconds until the exceeded window has room (the Retry-After)."""
        ...


class MemoryQuota:
    """Counters in this process (no Redis configured): exact for one process only."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str, int], int] = {}
        self._latest: dict[str, int] = {}  # the newest bucket taken from, per window name
        self._sweep_at = time.monotonic() + 60

    async def take(self, subscription: str, wins: list[Window]) -> float | None:
        """Check every window, then count the call in each (the event loop makes this atomic)."""
        return self.take_now(subscription, wins)

    def take_now(self, subscription: str, wins: list[Window]) -> float | None:
        """`take` without awaiting (the same decision)."""
        counts = self._counts
        for w in wins:
            cur = counts.get((subscription, w.name, w.bucket), 0)
            if w.sliding:
                prev = counts.get((subscription, w.name, w.bucket - 1), 0)
                if prev * (1 - w.elapsed) + cur + 1 > w.limit:
                    return w.retry_after(cur, prev)
            elif cur >= w.limit:
                return w.remaining_s
        latest = self._latest
        for w in wins:
            key = (subscription, w.name, w.bucket)
            counts[key] = counts.get(key, 0) + 1
            if w.bucket > latest.get(w.name, -1):
                latest[w.name] = w.bucket
        now = time.monotonic()
        if now > self._sweep_at:  # drop counters no window reads any more (older than the previous bucket)
            self._sweep_at = now + 60
            for k in [k for k in counts if k[2] < latest.get(k[1], 0) - 1]:
                del counts[k]
        return None

    def count(self, subscription: str, name: str, bucket: int) -> int:
        """A counter's value (tests and the usage page)."""
        return self._counts.get((subscription, name, bucket), 0)


# One batch of calls, decided one after another (atomic as a whole).
# ARGV[1] = number of calls; then per call: its number of windows, the most extra calls it may lease (0: none),
# then per window five numbers:
#   kind (0 fixed, 1 sliding), limit, counter TTL (ms), elapsed fraction × 1e6 (sliding), ms until the bucket ends.
# KEYS: per window its counter, and for a sliding window the previous bucket's counter after it.
# Returns, per call, −extra (≤ 0) when admitted (every counter incremented by 1 + extra, the lease granted) or else
# the Retry-After in ms (≥ 1).
_TAKE = """
local out = {}
local k, a = 1, 2
for c = 1, tonumber(ARGV[1]) do
  local nwin, want = tonumber(ARGV[a]), tonumber(ARGV[a + 1]); a = a + 2
  local k0, a0 = k, a
  local retry = 0
  local extra = want
  for w = 1, nwin do
    local kind, limit = tonumber(ARGV[a]), tonumber(ARGV[a + 1])
    local elapsed, rem = tonumber(ARGV[a + 3]) / 1e6, tonumber(ARGV[a + 4])
    if retry == 0 then
      local cur = tonumber(redis.call('GET', KEYS[k]) or '0')
      local used = cur
      if kind == 0 then
        if cur >= limit then retry = rem end
      else
        local prev = tonumber(redis.call('GET', KEYS[k + 1]) or '0')
        used = prev * (1 - elapsed) + cur
        if used + 1 > limit then
          if cur + 1 > limit or prev == 0 then
            retry = rem
          else
            local size = rem / (1 - elapsed)
            retry = ((1 - (limit - 1 - cur) / prev) - elapsed) * size
          end
          if retry < 1 then retry = 1 end
          retry = math.ceil(retry)
        end
      end
      local grant = math.floor((limit - 1 - used) / """ + str(LEASE_SHARE) + """)
      if grant < extra then extra = grant end
    end
    a = a + 5
    k = k + 1 + kind
  end
  if retry == 0 then
    local kk, aa = k0, a0
    for w = 1, nwin do
      local kind = tonumber(ARGV[aa])
      if redis.call('INCRBY', KEYS[kk], 1 + extra) == 1 + extra then redis.call('PEXPIRE', KEYS[kk], ARGV[aa + 2]) end
      aa = aa + 5
      kk = kk + 1 + kind
    end
    out[c] = -extra
  else
    out[c] = retry
  end
end
return out
"""

# Give back unspent leases: ARGV[i] is the count to return to KEYS[i] (a counter already expired stays gone).
_GIVE_BACK = """
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('DECRBY', KEYS[i], ARGV[i]) end
end
return 0
"""


@dataclass(slots=True)
class _Lease:
    """Calls this process may admit alone: already counted in Redis for these buckets and limits."""

    key: tuple[tuple[str, int, int], ...]  # (window name, bucket, limit) of every window
    counters: list[str]  # the Redis counters charged with the lease (the current buckets)
    left: int
    used_at: float


class RedisQuota:
    """Counters in Redis, shared by every server process.

    The calls of one event-loop turn go in one script run; far from the limit, leases of extra calls are spent
    in this process (see the module's docstring).
    """

    def __init__(self, url: str, prefix: str = "cityhub:compute:quota", *, lease_max: int = LEASE_MAX) -> None:
        import redis.asyncio as aioredis

        self._redis = aioredis.Redis.from_url(url)
        self._script = self._redis.register_script(_TAKE)
        self._give_back_script = self._redis.register_script(_GIVE_BACK)
        self.prefix = prefix
        self.lease_max = lease_max
        self._pending: list[tuple[str, list[Window], asyncio.Future[float | None]]] = []
        self._running: set[asyncio.Future[None]] = set()  # the loop keeps only weak references to tasks
        self._leases: dict[str, _Lease] = {}
        self._sweeping = False
        self.batches = 0  # script runs (the benchmark reports calls per run)
        self.taken = 0  # calls sent to the script
        self.leased = 0  # calls admitted from a lease, without a round trip
        self.given_back = 0  # leased calls returned unspent

    async def take(self, subscription: str, wins: list[Window]) -> float | None:
        """Admit from this process's lease for these windows, or queue the call for this turn's batch."""
        lease = self._leases.get(subscription)
        if lease is not None:
            if lease.left > 0 and lease.key == _lease_key(wins):
                lease.left -= 1
                lease.used_at = time.monotonic()
                self.leased += 1
                return None
            self._drop(subscription)
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[float | None] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._send)  # after the requests already ready in this turn have queued theirs
        self._pending.append((subscription, wins, fut))
        return await fut

    def _send(self) -> None:
        batch, self._pending = self._pending, []
        if batch:
            task = asyncio.ensure_future(self._run(batch))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    def _counter(self, subscription: str, w: Window, bucket: int) -> str:
        return f"{self.prefix}:{subscription}:{w.name}:{bucket}"

    async def _run(self, batch: list[tuple[str, list[Window], asyncio.Future[float | None]]]) -> None:
        keys: list[str] = []
        args: list[int] = [len(batch)]
        asking: set[str] = set()
        for subscription, wins, _fut in batch:
            # one lease request per subscription and batch: the others of the turn are decided one by one
            want = 0 if subscription in asking or not self.lease_max else self.lease_max
            asking.add(subscription)
            args += [len(wins), want]
            for w in wins:
                keys.append(self._counter(subscription, w, w.bucket))
                if w.sliding:
                    keys.append(self._counter(subscription, w, w.bucket - 1))
                # a counter outlives the time any window reads it by a margin (a sliding one: its next bucket too)
                ttl = w.remaining_s + (w.size_s if w.sliding else 0) + 5
                args += [1 if w.sliding else 0, w.limit, int(ttl * 1000), int(w.elapsed * 1e6),
                         math.ceil(w.remaining_s * 1000)]
        try:
            got = await self._script(keys=keys, args=args)
        except Exception as exc:  # Redis unreachable: every call of the batch hears it
            for *_rest, fut in batch:
                if not fut.done():
                    fut.set_exception(exc)
            return
        self.batches += 1
        self.taken += len(batch)
        for (subscription, wins, fut), ms in zip(batch, got, strict=True):
            ms = int(ms)
            if ms < 0:
                self._grant(subscription, wins, -ms)
            if not fut.done():
                fut.set_result(None if ms <= 0 else ms / 1000.0)

    def _grant(self, subscription: str, wins: list[Window], extra: int) -> None:
        key = _lease_key(wins)
        now = time.monotonic()
        lease = self._leases.get(subscription)
        if lease is not None and lease.key == key:
            lease.left += extra
            lease.used_at = now
            return
        self._drop(subscription)
        counters = [self._counter(subscription, w, w.bucket) for w in wins]
        self._leases[subscription] = _Lease(key, counters, extra, now)
        if not self._sweeping:
            self._sweeping = True
            asyncio.get_running_loop().call_later(LEASE_IDLE_S, self._sweep)

    def _drop(self, subscription: str) -> None:
        """Forget a subscription's lease, giving back what is left of it."""
        lease = self._leases.pop(subscription, None)
        if lease is not None and lease.left > 0:
            self._spawn(self._return([lease]))

    def _sweep(self) -> None:
        """Give back the leases idle for LEASE_IDLE_S; look again while any is held."""
        now = time.monotonic()
        idle = [sub for sub, lease in self._leases.items() if now - lease.used_at >= LEASE_IDLE_S]
        for sub in idle:
            self._drop(sub)
        if self._leases:
            asyncio.get_running_loop().call_later(LEASE_IDLE_S, self._sweep)
        else:
            self._sweeping = False

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _return(self, leases: list[_Lease]) -> None:
        keys = [c for lease in leases if lease.left > 0 for c in lease.counters]
        args = [lease.left for lease in leases if lease.left > 0 for _c in lease.counters]
        if not keys:
            return
        try:
            await self._give_back_script(keys=keys, args=args)
        except Exception as exc:  # the counts stay taken: fewer calls admitted, never more
            log.warning("could not give back quota leases: %s", exc)
            return
        self.given_back += sum(lease.left for lease in leases if lease.left > 0)

    async def close(self) -> None:
        """Give back every lease, then close the connection pool."""
        leases, self._leases = list(self._leases.values()), {}
        await self._return(leases)
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
        await self._redis.aclose()  # type: ignore[attr-defined]  # redis 5+; the stubs predate it


def _lease_key(wins: list[Window]) -> tuple[tuple[str, int, int], ...]:
    return tuple((w.name, w.bucket, w.limit) for w in wins)


def store_from_settings() -> QuotaStore:
    """Redis when CITYHUB_REDIS_URL is set, this process otherwise."""
    url = get_settings().redis_url
    return RedisQuota(url) if url else MemoryQuota()
