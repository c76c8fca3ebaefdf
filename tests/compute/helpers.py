"""Helpers of the compute tests: the bureau with its people, components published through the services."""

from __future__ import annotations

from typing import Any

from cityhub.compute import service as compute
from cityhub.compute.schemas import AppCreate, ComponentCreate, SubscriptionCreate, VersionCreate
from cityhub.core import service as core
from cityhub.core.actor import Actor
from cityhub.core.schemas import UserCreate

SYSTEM = Actor.system("test")


def bureau_setup(w: Any) -> Any:
    """Make the world's bureau the big-data bureau, with a member (a reviewer through the derived role)."""
    core.bureau_set(w.session, SYSTEM, w.orgs["bureau"].id)
    if "bureau_member" not in w.users:
        w.users["bureau_member"] = core.user_create(w.session, SYSTEM, UserCreate(
            username="t-bureau-member", password="correct-horse-42", org_id=w.orgs["bureau"].id,
            roles=["org_member"]))
        w.refresh_actors()
    return w


def component_data(w: Any, code: str = "coord", org: str = "dept_a", builtin: str = "coord-convert",
                   **over: Any) -> ComponentCreate:
    """A valid component of `org` describing a built-in's interface."""
    data: dict[str, Any] = {
        "code": code, "name_zh": "坐标转换", "name_en": "Coordinate conversion", "category": "common",
        "subcategory": "地理空间", "org_id": w.orgs[org].id, "description": "WGS-84、GCJ-02、BD-09 坐标互转",
        "tags": ["坐标", "地图"], "openapi": compute.builtin_openapi(builtin), "sla": {"availability": 99.9,
                                                                                     "p95_ms": 50}}
    data.update(over)
    return ComponentCreate.model_validate(data)


def published(w: Any, code: str = "coord", org: str = "dept_a", builtin: str = "coord-convert",
              version: str = "1.0.0", **over: Any) -> Any:
    """A component with one built-in version, submitted by `org`'s member and published by the bureau."""
    bureau_setup(w)
    member = w.actors["org_member_a" if org == "dept_a" else "org_member_b"]
    c = compute.component_create(w.session, member, component_data(w, code, org, builtin, **over))
    compute.component_version_create(w.session, member, c.id, VersionCreate(version=version, kind="builtin",
                                                                            builtin=builtin))
    compute.component_submit(w.session, member, c.id)
    compute.component_review(w.session, w.actors["bureau_member"], c.id, True, "ok")
    return c


def subscribed(w: Any, component: Any, org: str = "dept_b", version: str = "1.0.0", **quotas: Any
               ) -> tuple[Any, Any, str]:
    """An application of `org` with a key and an active subscription (approved by the owner's admin)."""
    member = w.actors["org_member_b" if org == "dept_b" else "org_member_a"]
    app = compute.app_create(w.session, member, AppCreate(org_id=w.orgs[org].id, name=f"app-{component.code}"))
    _key, raw = compute.app_key_create(w.session, member, app.id)
    sub = compute.subscription_create(w.session, member, SubscriptionCreate(
        app_id=app.id, component_code=component.code, version=version, **quotas))
    if sub.status == "pending":
        from cityhub.compute.schemas import SubscriptionDecision

        owner_admin = w.actors["org_admin_a"] if component.org_id == w.orgs["dept_a"].id else SYSTEM
        compute.subscription_decide(w.session, owner_admin, sub.id, SubscriptionDecision(approve=True))
    w.session.flush()
    return app, sub, raw
