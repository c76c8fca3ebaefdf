"""Demo step: the City of Chongqing, its departments and districts, demo users per unit, the holiday calendar."""

from __future__ import annotations

import hashlib
from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from cityhub.core import service
from cityhub.core.schemas import OrganizationCreate, OrganizationUpdate, UserCreate
from cityhub.demo.city import BUREAU_CODE, CALENDAR, CITY, DEPARTMENTS, DISTRICTS, Unit
from cityhub.kit.idcodes import USCC_ALPHABET, credit_code_check_char

if TYPE_CHECKING:
    from cityhub.demo import DemoContext



def synthetic_uscc(code: str, division: str) -> str:
    """A synthetic but well-formed USCC for a government body (登记管理部门 1, 机关 1)."""
    digest = hashlib.sha256(code.encode()).digest()
    body = "11" + division[:6] + "".join(USCC_ALPHABET[b % 31] for b in digest[:9])
    return body + credit_code_check_char(body)


# The helpers answer a core Organization / User as Any: the demo sees core through its service only.
def _ensure_org(session: Session, ctx: DemoContext, unit: Unit, parent_id: object) -> tuple[Any, bool]:
    existing = service.organization_by_code(session, unit.code)
    if existing is not None:
        return existing, False
    org = service.organization_create(session, ctx.actor, OrganizationCreate(
        name=unit.name, name_en=unit.name_en, code=unit.code, kind=unit.kind,
        division_code=unit.division_code, parent_id=parent_id,
        uscc=synthetic_uscc(unit.code, unit.division_code or "500000"), lon=unit.lon, lat=unit.lat))
    return org, True


def _ensure_user(session: Session, ctx: DemoContext, username: str, display: str, org_id: object,
                 roles: list[str]) -> tuple[Any, bool]:
    existing = service.user_by_username(session, username)
    if existing is not None:
        return existing, False
    user = service.user_create(session, ctx.actor, UserCreate(
        username=username, display_name=display, org_id=org_id, password=ctx.password,
        roles=roles))
    return user, True


def build(session: Session, ctx: DemoContext) -> dict[str, int]:
    """Create what is missing of the demo city's organisations, users and calendar.

    Every demo user gets the one demo password, hashed once (core.one_hash_per_password: equal hashes say nothing
    the shared, printed password does not).
    """
    with service.one_hash_per_password():
        return _build(session, ctx)


def _build(session: Session, ctx: DemoContext) -> dict[str, int]:
    orgs_created = users_created = 0
    city, created = _ensure_org(session, ctx, CITY, None)
    orgs_created += created
    city_id = city.id
    for username, display, roles in (
        ("admin", "平台管理员 Platform admin", ["platform_admin"]),
        ("auditor", "审计员 Auditor", ["auditor"]),
        ("operator", "运行中心值班员 Operations operator", ["operator"]),
    ):
        bureau_parent = city_id
        _, created = _ensure_user(session, ctx, username, display, bureau_parent, roles)
        users_created += created
    for unit in (*DEPARTMENTS, *DISTRICTS):
        org, created = _ensure_org(session, ctx, unit, city_id)
        orgs_created += created
        short = unit.code.removeprefix("cq-")
        chief, c1 = _ensure_user(session, ctx, f"{short}-chief", f"{unit.name}主要负责人（云长）", org.id,
                                 ["org_admin"])
        _, c2 = _ensure_user(session, ctx, f"{short}-staff", f"{unit.name}工作人员", org.id,
                             ["org_member"])
        users_created += c1 + c2
        if org.head_user_id is None:
            service.organization_update(session, ctx.actor, org.id,
                                        OrganizationUpdate(head_user_id=chief.id))
        if unit.code == BUREAU_CODE:
            _, c3 = _ensure_user(session, ctx, "dsj-reviewer", "大数据局审核员", org.id,
                                 ["org_member"])
            users_created += c3
    existing_days = service.calendar_days(session, date(2025, 1, 1), date(2026, 12, 31))
    days = 0
    for day, working, name in CALENDAR:
        d = date.fromisoformat(day)
        if d not in existing_days:
            service.calendar_day_set(session, ctx.actor, d, working, name)
            days += 1
    ctx.log(f"demo: core — {orgs_created} organisations, {users_created} users, {days} calendar days added")
    return {"orgs_created": orgs_created, "users_created": users_created, "calendar_days": days}
