"""Quota windows: fixed by the local calendar, sliding by the weighted previous bucket; in process and in Redis,
where the takes of one event-loop turn go in one script run and still admit exactly N."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cityhub.compute.gateway import quota
from cityhub.compute.gateway.quota import SLIDING, MemoryQuota, QuotaStore, RedisQuota, windows
from tests.compute.helpers import published, subscribed
from tests.conftest import need_service

CST = ZoneInfo("Asia/Shanghai")
REDIS_URL = "redis://127.0.0.1:6379/0"
CONVERT = "/hub/coord/1.0.0/convert?lng=121.5&lat=31.2&from=wgs84&to=gcj02"


def _redis() -> RedisQuota:
    need_service("Redis", "127.0.0.1", 6379)
    return RedisQuota(REDIS_URL, prefix=f"test:quota:{uuid.uuid4().hex}")


def test_fixed_windows_follow_the_local_calendar() -> None:
    before_midnight = datetime(2026, 12, 31, 23, 59, 30, tzinfo=CST).timestamp()
    m, d, mo = windows((10, 100, 1000), now=before_midnight)
    assert (m.name, d.name, mo.name) == ("m", "d", "M")
    assert m.remaining_s == pytest.approx(30) and d.remaining_s == pytest.approx(30)
    assert mo.remaining_s == pytest.approx(30)  # the month ends at the same local midnight
    after = windows((10, 100, 1000), now=before_midnight + 60)
    assert after[1].bucket == d.bucket + 1 and after[2].bucket == mo.bucket + 1
    assert after[1].remaining_s == pytest.approx(86_400 - 30)
    assert not any(w.sliding for w in after)


async def _sliding_scenario(store: QuotaStore) -> tuple[list[float | None], float | None]:
    """Ten calls in the previous minute, then calls half-way through this one, with a limit of ten a minute."""
    start = 1_800_000_000 - 1_800_000_000 % 60 + 60  # a minute boundary
    earlier = windows((10, None, None), now=start - 30, mode=SLIDING)
    for _ in range(10):
        assert await store.take("s", earlier) is None
    now = windows((10, None, None), now=start + 30, mode=SLIDING)
    assert now[0].elapsed == pytest.approx(0.5)
    got = [await store.take("s", now) for _ in range(6)]
    return got, got[-1]


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_a_sliding_window_weighs_the_previous_bucket(kind: str) -> None:
    store: Any = MemoryQuota() if kind == "memory" else _redis()

    async def run() -> tuple[list[float | None], float | None]:
        try:
            return await _sliding_scenario(store)
        finally:
            if kind == "redis":
                await store.close()

    got, retry = asyncio.run(run())
    # half of the previous minute's ten still count: five more fit, the sixth is refused
    assert got[:5] == [None] * 5
    # five of ten now, and 10 × (1 − e) + 5 ≤ 9 once e ≥ 0.6: six seconds after the half minute
    assert retry == pytest.approx(6, abs=0.01)


def test_a_fixed_window_admits_a_burst_at_its_edge_that_a_sliding_one_refuses() -> None:
    edge = 1_800_000_000 - 1_800_000_000 % 60 + 60
    fixed, sliding = MemoryQuota(), MemoryQuota()

    def admitted(store: MemoryQuota, mode: str) -> int:
        n = 0
        for at in (edge - 1, edge + 1):  # ten calls a second before the minute ends, ten a second after
            wins = windows((10, None, None), now=at, mode=mode)
            n += sum(store.take_now("s", wins) is None for _ in range(10))
        return n

    assert admitted(fixed, "fixed") == 20  # twice the limit within two seconds
    assert admitted(sliding, SLIDING) == 10


def test_redis_decides_one_turn_of_calls_in_one_script_run_and_admits_exactly_n() -> None:
    store = _redis()

    async def run() -> list[float | None]:
        try:
            wins = windows((None, 7, 100), mode="fixed")
            return list(await asyncio.gather(*(store.take("sub", wins) for _ in range(20))))
        finally:
            await store.close()

    got = asyncio.run(run())
    assert sum(r is None for r in got) == 7
    assert all(r is not None and r > 0 for r in got[7:])  # in arrival order: the first seven pass
    assert store.batches == 1 and store.taken == 20


def test_two_stores_leasing_from_one_redis_admit_exactly_n() -> None:
    """Two processes' stores on one counter: leases spare most round trips and the total is still exactly N."""
    a = _redis()
    b = RedisQuota(REDIS_URL, prefix=a.prefix)
    n = 1000

    async def run() -> list[float | None]:
        try:
            wins = windows((None, n, None), mode="fixed")
            return [await (a if i % 2 else b).take("sub", wins) for i in range(3 * n)]
        finally:
            await a.close()
            await b.close()

    got = asyncio.run(run())
    assert sum(r is None for r in got) == n
    assert a.leased > 0 and b.leased > 0  # both admitted calls alone from their leases
    # most admitted calls needed no round trip; every refusal was decided by the script
    assert a.leased + b.leased > n // 2 and a.taken + b.taken == 3 * n - a.leased - b.leased
    assert got[-1] is not None and got[-1] > 0  # the last calls are refused with a Retry-After


def test_an_unspent_lease_is_given_back_when_idle_and_at_close(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(quota, "LEASE_IDLE_S", 0.05)
    store = _redis()
    wins = windows((10_000, None, None), mode="fixed")
    counter = f"{store.prefix}:sub:m:{wins[0].bucket}"

    async def run() -> tuple[int, int, int]:
        import redis.asyncio as aioredis

        r = aioredis.Redis.from_url(REDIS_URL)
        try:
            assert await store.take("sub", wins) is None
            leased = int(await r.get(counter) or 0)  # the call and its lease are counted at once
            await asyncio.sleep(0.3)  # idle: the sweep gives the lease back
            idle = int(await r.get(counter) or 0)
            assert await store.take("sub", wins) is None  # a new lease
            await store.close()
            return leased, idle, int(await r.get(counter) or 0)
        finally:
            await r.aclose()  # type: ignore[attr-defined]  # redis 5+; the stubs predate it

    leased, idle, closed = asyncio.run(run())
    assert leased == 1 + quota.LEASE_MAX
    assert idle == 1 and closed == 2  # only the calls admitted stay counted


def test_a_sliding_subscription_through_the_gateway(client: Any, world: Any) -> None:
    w = world
    comp = published(w, "coord")
    _app, sub, key = subscribed(w, comp, quota_per_minute=3, quota_window="sliding")
    assert sub.quota_window == "sliding"
    codes = [client.get(CONVERT, headers={"X-Api-Key": key}).status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    r = client.get(CONVERT, headers={"X-Api-Key": key})
    assert r.json()["error"]["code"] == "quota_exceeded" and 1 <= int(r.headers["Retry-After"]) <= 60
