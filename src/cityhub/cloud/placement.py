"""Placement: filters (capacity, region, security level) then weighers (spread or pack, cost), as pure functions.

Kept free of the database so the service, the demo and `benchmarks/cloud.py` run the very same code.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass
class PoolState:
    """A pool's capacity and allocation as the scheduler sees it (mutated by `commit`)."""

    id: uuid.UUID
    region: str
    security_level: int
    price_factor: float
    vcpus_total: int
    ram_mb_total: int
    disk_gb_total: int
    storage_gb_total: int
    vcpus_used: int = 0
    ram_mb_used: int = 0
    disk_gb_used: int = 0
    storage_gb_used: int = 0

    def utilisation(self) -> float:
        """The fullest dimension's share in use (0–1)."""
        parts = [used / total for used, total in ((self.vcpus_used, self.vcpus_total),
                                                  (self.ram_mb_used, self.ram_mb_total),
                                                  (self.disk_gb_used, self.disk_gb_total),
                                                  (self.storage_gb_used, self.storage_gb_total)) if total > 0]
        return max(parts) if parts else 0.0


@dataclass(frozen=True)
class Demand:
    """What one placement asks for."""

    vcpus: int = 0
    ram_mb: int = 0
    disk_gb: int = 0
    storage_gb: int = 0
    region: str = ""
    security_level: int = 1
    strategy: str = "spread"  # spread | pack
    cost_weight: float = 0.3


def fits(pool: PoolState, d: Demand) -> bool:
    """Filters: enough capacity in every dimension, the asked region, an accredited security level."""
    return (pool.vcpus_used + d.vcpus <= pool.vcpus_total
            and pool.ram_mb_used + d.ram_mb <= pool.ram_mb_total
            and pool.disk_gb_used + d.disk_gb <= pool.disk_gb_total
            and pool.storage_gb_used + d.storage_gb <= pool.storage_gb_total
            and (not d.region or pool.region == d.region)
            and pool.security_level >= d.security_level)


def _after(pool: PoolState, d: Demand) -> float:
    parts = [(pool.vcpus_used + d.vcpus) / pool.vcpus_total if pool.vcpus_total else 0.0,
             (pool.ram_mb_used + d.ram_mb) / pool.ram_mb_total if pool.ram_mb_total else 0.0,
             (pool.disk_gb_used + d.disk_gb) / pool.disk_gb_total if pool.disk_gb_total else 0.0,
             (pool.storage_gb_used + d.storage_gb) / pool.storage_gb_total if pool.storage_gb_total else 0.0]
    return max(parts)


def choose(pools: Sequence[PoolState], d: Demand) -> PoolState | None:
    """The best pool for `d` (None when no pool passes the filters).

    Weighers: spread prefers the pool left least utilised, pack the fullest one still fitting; a cheaper
    pool (lower price factor) wins by `cost_weight`.
    """
    best: PoolState | None = None
    best_score = float("-inf")
    max_price = max((p.price_factor for p in pools), default=1.0) or 1.0
    for pool in pools:
        if not fits(pool, d):
            continue
        util = _after(pool, d)
        fill = 1.0 - util if d.strategy == "spread" else util
        score = (1 - d.cost_weight) * fill + d.cost_weight * (1 - pool.price_factor / max_price)
        if score > best_score:
            best, best_score = pool, score
    return best


def first_fit(pools: Sequence[PoolState], d: Demand) -> PoolState | None:
    """The naive baseline: the first pool that fits."""
    return next((p for p in pools if fits(p, d)), None)


def commit(pool: PoolState, d: Demand, sign: int = 1) -> None:
    """Allocate (or, with sign=-1, release) `d` on `pool`."""
    pool.vcpus_used += sign * d.vcpus
    pool.ram_mb_used += sign * d.ram_mb
    pool.disk_gb_used += sign * d.disk_gb
    pool.storage_gb_used += sign * d.storage_gb
