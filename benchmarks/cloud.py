"""Cloud benchmark: placement decisions vs naive first-fit, and end-to-end provisioning through the job runner.

Prints one JSON line with `placements_per_s`, `first_fit_placements_per_s`, `utilisation_stddev`,
`first_fit_utilisation_stddev` (over the pools after all placements; lower = more even) and `nodes_per_s`
(order → quota check → approval → placement → provisioning job on the dummy provider → active).

Size: the issue's full size runs by default (10,000 placements over 200 pools; 1,000 nodes). Set
CLOUD_BENCH_PLACEMENTS, CLOUD_BENCH_POOLS, CLOUD_BENCH_NODES to change it; CLOUD_BENCH_DB to a PostgreSQL URL to
provision against PostgreSQL instead of a temporary SQLite file.
"""

from __future__ import annotations

import copy
import os
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from _common import record  # benchmarks/ is on sys.path: the scripts run as scripts

from cityhub.cloud import placement
from cityhub.cloud.placement import Demand, PoolState

SIZES = ((2, 4096, 40), (4, 8192, 80), (8, 16384, 160), (16, 65536, 320))


def _pools(n: int, rng: random.Random) -> list[PoolState]:
    out = []
    for i in range(n):
        scale = rng.choice((0.5, 1.0, 1.0, 2.0))
        out.append(PoolState(uuid.UUID(int=i + 1), f"r{i % 5}", rng.choice((2, 2, 3)), rng.choice((0.9, 1.0, 1.2)),
                             int(512 * scale), int(2_097_152 * scale), int(40_000 * scale), 0))
    return out


def _demands(n: int, rng: random.Random) -> list[Demand]:
    out = []
    for _ in range(n):
        v, r, d = rng.choices(SIZES, (40, 35, 20, 5))[0]
        out.append(Demand(vcpus=v, ram_mb=r, disk_gb=d, region=f"r{rng.randrange(5)}" if rng.random() < 0.2 else "",
                          security_level=3 if rng.random() < 0.15 else 2, strategy="spread"))
    return out


def _run(pools: list[PoolState], demands: list[Demand], fn: object) -> tuple[float, float, int]:
    pools = copy.deepcopy(pools)
    placed = 0
    started = time.perf_counter()
    for d in demands:
        chosen = fn(pools, d)  # type: ignore[operator]  # choose or first_fit
        if chosen is not None:
            placement.commit(chosen, d)
            placed += 1
    elapsed = time.perf_counter() - started
    return len(demands) / elapsed, statistics.pstdev(p.utilisation() for p in pools), placed


def bench_placement(n_requests: int, n_pools: int) -> dict[str, float]:
    """Placement throughput and the utilisation spread it leaves, vs first-fit on the same input."""
    rng = random.Random(7)
    pools, demands = _pools(n_pools, rng), _demands(n_requests, rng)
    rate, spread, placed = _run(pools, demands, placement.choose)
    ff_rate, ff_spread, ff_placed = _run(pools, demands, placement.first_fit)
    return {"placements_per_s": round(rate, 1), "first_fit_placements_per_s": round(ff_rate, 1),
            "utilisation_stddev": round(spread, 4), "first_fit_utilisation_stddev": round(ff_spread, 4),
            "placed": placed, "first_fit_placed": ff_placed, "placement_speed_ratio": round(rate / ff_rate, 3),
            "stddev_ratio": round(spread / ff_spread, 3) if ff_spread else 0.0}


def bench_provisioning(n_nodes: int) -> dict[str, float | str]:
    """Order, approve and provision `n_nodes` single-node requests through the job runner on the dummy provider."""
    from cityhub.cloud import service as cloud
    from cityhub.cloud.cli import run_due_jobs
    from cityhub.cloud.schemas import (
        CatalogItemCreate,
        PoolCreate,
        ProviderAccountCreate,
        Quota,
        RegionCreate,
        RequestCreate,
        TenancyCreate,
    )
    from cityhub.core import service as core
    from cityhub.core.schemas import OrganizationCreate
    from cityhub.kit.db import Database
    from cityhub.kit.migrate import upgrade

    tmp = Path(tempfile.mkdtemp(prefix="cityhub-bench-cloud-"))
    url = os.environ.get("CLOUD_BENCH_DB") or f"sqlite:///{tmp / 'bench.db'}"
    upgrade(url)
    db = Database(url)
    actor = core.Actor.system("bench")
    tag = uuid.uuid4().hex[:6]
    with db.session_scope() as s:
        city = core.organization_create(s, actor, OrganizationCreate(name="基准市", code=f"b-{tag}", kind="city"))
        dept = core.organization_create(s, actor, OrganizationCreate(name="基准局", code=f"b-{tag}-d",
                                                                     kind="department", parent_id=city.id))
        acc = cloud.provider_account_create(s, actor, ProviderAccountCreate(
            name=f"bench-{tag}", kind="dummy", config={"root": str(tmp / "dummy")}, credentials={"k": "v"}))
        region = cloud.region_create(s, actor, RegionCreate(account_id=acc.id, code="local-1", name="r"))
        cloud.pool_create(s, actor, PoolCreate(region_id=region.id, name=f"bench-{tag}", vcpus_total=10**7,
                                               ram_mb_total=2 * 10**9, disk_gb_total=10**9, storage_gb_total=10**9))
        item = cloud.catalog_item_create(s, actor, CatalogItemCreate(
            code=f"b.{tag}", name="小", kind="compute", size_id="ecs.s1", vcpus=2, ram_mb=4096, disk_gb=40,
            monthly_price=100))
        tenancy = cloud.tenancy_create(s, actor, TenancyCreate(org_id=dept.id, name="t", quota=Quota(
            instances=10**6, vcpus=10**7, ram_mb=2 * 10**9, disk_gb=10**9)))
        item_id, tenancy_id = item.id, tenancy.id
    started = time.perf_counter()
    for _ in range(n_nodes):
        with db.session_scope() as s:  # each order and approval is its own request/transaction, as over HTTP
            req = cloud.request_create(s, actor, tenancy_id, RequestCreate(item_id=item_id))
            cloud.request_approve(s, actor, req.id)
    ordered = time.perf_counter()
    done = 0
    while True:
        out = run_due_jobs(db, limit=500)
        done += out["done"]
        if not out["run"]:
            break
    elapsed = time.perf_counter() - started
    with db.session_scope() as s:
        active = cloud.tenancy_usage(s, tenancy_id)["instances"]
    db.engine.dispose()
    return {"nodes_per_s": round(n_nodes / elapsed, 1), "nodes": n_nodes, "nodes_active": active,
            "jobs_done": done, "order_and_approve_s": round(ordered - started, 2),
            "job_runner_s": round(elapsed - (ordered - started), 2),
            "job_runner_nodes_per_s": round(n_nodes / (elapsed - (ordered - started)), 1),
            "database": "postgresql" if url.startswith("postgresql") else "sqlite"}


def main() -> None:
    """Run both parts and print one JSON line."""
    n_req = int(os.environ.get("CLOUD_BENCH_PLACEMENTS", "10000"))
    n_pools = int(os.environ.get("CLOUD_BENCH_POOLS", "200"))
    n_nodes = int(os.environ.get("CLOUD_BENCH_NODES", "1000"))
    result = {"benchmark": "cloud", "placements": n_req, "pools": n_pools, **bench_placement(n_req, n_pools),
              **bench_provisioning(n_nodes)}
    record("cloud", result)


if __name__ == "__main__":
    main()
