"""Build a small cloud through the services: a dummy provider, two regions, pools, a catalog, two tenancies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cityhub.cloud import service as cloud
from cityhub.cloud.schemas import (
    CatalogItemCreate,
    PoolCreate,
    ProviderAccountCreate,
    Quota,
    RegionCreate,
    TenancyCreate,
)
from cityhub.core import service as core
from cityhub.core.schemas import OrganizationUpdate, UserCreate

SYSTEM = core.Actor.system("test")


def build_cloud(w: Any, root: Path) -> dict[str, Any]:
    """Provider, regions, pools, catalog, tenancies for dept A and B, a bureau admin; stored in w.extra."""
    s = w.session
    acc = cloud.provider_account_create(s, SYSTEM, ProviderAccountCreate(
        name=f"测试云-{root.name}", kind="dummy", config={"root": str(root)},
        credentials={"access_key": "AK-test", "secret_key": "SK-very-secret"}))
    r1 = cloud.region_create(s, SYSTEM, RegionCreate(account_id=acc.id, code="local-1", name="一区"))
    r2 = cloud.region_create(s, SYSTEM, RegionCreate(account_id=acc.id, code="local-2", name="二区"))
    p1 = cloud.pool_create(s, SYSTEM, PoolCreate(region_id=r1.id, name=f"p1-{root.name}", security_level=2,
                                                 vcpus_total=64, ram_mb_total=262144, disk_gb_total=4000,
                                                 storage_gb_total=10000))
    p2 = cloud.pool_create(s, SYSTEM, PoolCreate(region_id=r2.id, name=f"p2-{root.name}", security_level=3,
                                                 price_factor=1.5, vcpus_total=64, ram_mb_total=262144,
                                                 disk_gb_total=4000, storage_gb_total=10000))
    small = cloud.catalog_item_create(s, SYSTEM, CatalogItemCreate(
        code=f"ecs.small.{root.name[-6:].lower()}", name="云主机 小", kind="compute", size_id="ecs.s1", vcpus=2,
        ram_mb=4096, disk_gb=40, monthly_price=300))
    large = cloud.catalog_item_create(s, SYSTEM, CatalogItemCreate(
        code=f"ecs.large.{root.name[-6:].lower()}", name="云主机 大", kind="compute", size_id="ecs.l1", vcpus=8,
        ram_mb=16384, disk_gb=160, monthly_price=3000))
    oss = cloud.catalog_item_create(s, SYSTEM, CatalogItemCreate(
        code=f"oss.{root.name[-6:].lower()}", name="对象存储 1TB", kind="storage", storage_gb=1024,
        monthly_price=200))
    ta = cloud.tenancy_create(s, SYSTEM, TenancyCreate(org_id=w.orgs["dept_a"].id, name="甲局租户",
                                                       quota=Quota(instances=6, vcpus=24)))
    tb = cloud.tenancy_create(s, SYSTEM, TenancyCreate(org_id=w.orgs["dept_b"].id, name="乙局租户"))
    if "bureau_admin" not in w.users:
        user = core.user_create(s, SYSTEM, UserCreate(username="t-cloud-bureau-admin", password="long-enough-1",
                                                      org_id=w.orgs["bureau"].id, roles=["org_admin"]))
        w.users["bureau_admin"] = user
        head = core.user_create(s, SYSTEM, UserCreate(username="t-a-head", password="long-enough-1",
                                                      org_id=w.orgs["dept_a"].id))
        core.organization_update(s, SYSTEM, w.orgs["dept_a"].id, OrganizationUpdate(head_user_id=head.id))
        w.users["head_a"] = head
        w.actors["bureau_admin"] = core.actor_for_user(s, user)
        w.actors["head_a"] = core.actor_for_user(s, head)
    out = {"account": acc, "regions": (r1, r2), "pools": (p1, p2), "small": small, "large": large, "oss": oss,
           "tenancy_a": ta, "tenancy_b": tb, "root": root}
    w.extra["cloud"] = out
    s.flush()
    return out
