"""Core tables: organisations, users, role bindings, API tokens, audit log, working-day calendar."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cityhub.kit import clock
from cityhub.kit.db import Base, Timestamps, UUIDPk


class OrgKind(StrEnum):
    """Kind of organisation in the city tree."""

    CITY = "city"
    DEPARTMENT = "department"  # 市级部门
    DISTRICT = "district"  # 区
    COUNTY = "county"  # 县 / 自治县
    NEW_AREA = "new_area"  # 两江新区 and similar
    UNIT = "unit"  # a section or subordinate unit


class Role(StrEnum):
    """Roles, always bound to a user within an organisation (covering its subtree)."""

    PLATFORM_ADMIN = "platform_admin"
    ORG_ADMIN = "org_admin"
    ORG_MEMBER = "org_member"
    OPERATOR = "operator"
    AUDITOR = "auditor"


class CoreOption(Base):
    """Platform options set at run time by platform admins (`bureau_org_id`: which unit is the big-data bureau)."""

    __tablename__ = "core_option"

    key: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[str] = mapped_column(Text, default="")


class Organization(UUIDPk, Timestamps, Base):
    """A node of the city tree: the city, a department, a district/county."""

    __tablename__ = "core_organization"

    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200), default="")
    code: Mapped[str] = mapped_column(String(40), unique=True)
    uscc: Mapped[str | None] = mapped_column(String(18), unique=True)
    division_code: Mapped[str | None] = mapped_column(String(12))
    kind: Mapped[str] = mapped_column(String(20))
    parent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_organization.id"), index=True)
    head_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("core_user.id", use_alter=True, name="fk_core_organization_head_user_id_core_user")
    )
    lon: Mapped[float | None]
    lat: Mapped[float | None]


class User(UUIDPk, Timestamps, Base):
    """A person who logs in (or a service account)."""

    __tablename__ = "core_user"

    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100), default="")
    email: Mapped[str | None] = mapped_column(String(200))
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_organization.id"), index=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    disabled: Mapped[bool] = mapped_column(default=False)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]
    # carried in the session cookie; logout, a password change, disabling and role changes bump it, so every
    # cookie issued before stops working at once (api tokens are separate and revoked on their own)
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class RoleBinding(UUIDPk, Base):
    """User U has role R within organisation O (and O's descendants)."""

    __tablename__ = "core_role_binding"
    __table_args__ = (UniqueConstraint("user_id", "org_id", "role"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"), index=True)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_organization.id"), index=True)
    role: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class ApiToken(UUIDPk, Base):
    """A bearer token; only its SHA-256 is stored, the secret is shown once."""

    __tablename__ = "core_api_token"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[Any]] = mapped_column(default=list)
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class AuditEntry(Base):
    """Append-only record of one action (a trigger forbids UPDATE/DELETE on PostgreSQL)."""

    __tablename__ = "core_audit"
    __table_args__ = (
        Index("ix_core_audit_at", "at"),
        Index("ix_core_audit_action_at", "action", "at"),
        Index("ix_core_audit_actor_at", "actor_id", "at"),
        Index("ix_core_audit_org_at", "org_id", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(default=clock.now)
    actor_id: Mapped[uuid.UUID | None]
    actor_name: Mapped[str] = mapped_column(String(100), default="")
    org_id: Mapped[uuid.UUID | None]
    action: Mapped[str] = mapped_column(String(80))
    target_type: Mapped[str] = mapped_column(String(60), default="")
    target_id: Mapped[str] = mapped_column(String(80), default="")
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)
    request_id: Mapped[str] = mapped_column(String(64), default="")
    ip: Mapped[str] = mapped_column(String(64), default="")
    channel: Mapped[str] = mapped_column(String(16), default="")
    outcome: Mapped[str] = mapped_column(String(16), default="ok")


class CalendarDay(Base):
    """An exception to the Mon–Fri working week: a public holiday, or a weekend made a working day (调休)."""

    __tablename__ = "core_calendar_day"

    day: Mapped[date] = mapped_column(primary_key=True)
    working: Mapped[bool]
    name: Mapped[str] = mapped_column(Text, default="")
