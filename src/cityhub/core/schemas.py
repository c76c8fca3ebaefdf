"""Core request/response models."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import Field, field_validator

from cityhub.core.models import OrgKind as OrgKind
from cityhub.core.models import Role as Role
from cityhub.kit import labels
from cityhub.kit.idcodes import USCC_ALPHABET, credit_code_check_char
from cityhub.kit.schemas import IDSchema, InputModel, ReadModel, Timestamped

labels.register(OrgKind, {
    OrgKind.CITY: "City (municipality)", OrgKind.DEPARTMENT: "City department", OrgKind.DISTRICT: "District (区)",
    OrgKind.COUNTY: "County (县)", OrgKind.NEW_AREA: "New area", OrgKind.UNIT: "Section or subordinate unit"})
labels.register(Role, {
    Role.PLATFORM_ADMIN: "Platform administrator", Role.ORG_ADMIN: "Unit administrator",
    Role.ORG_MEMBER: "Unit staff", Role.OPERATOR: "Operations duty officer", Role.AUDITOR: "Auditor"})
# what the user and token lists show as their state (derived, not stored as one column)
ACCOUNT_STATUS = "core.account_status"
labels.register(ACCOUNT_STATUS, {"active": "Account enabled", "disabled": "Account disabled",
                                 "locked": "Locked after failed logins"})
TOKEN_STATUS = "core.token_status"
labels.register(TOKEN_STATUS, {"active": "Token valid", "revoked": "Token revoked", "expired": "Token expired"})
TOKEN_SCOPE = "core.token_scope"
labels.register(TOKEN_SCOPE, {"read": "Read only (GET)"})

USCC_CHARS = USCC_ALPHABET
uscc_check_char = credit_code_check_char  # GB 32100-2015's check character (kit.idcodes)


def uscc_valid(code: str) -> bool:
    """True when `code` is an 18-character USCC with a correct check character."""
    if len(code) != 18 or any(c not in USCC_CHARS for c in code):
        return False
    return uscc_check_char(code[:17]) == code[17]


def _check_uscc(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.upper()
    if not uscc_valid(value):
        raise ValueError("not a valid unified social credit code (18 characters, GB 32100 check digit)")
    return value


USERNAME_PATTERN = r"^[a-zA-Z0-9][a-zA-Z0-9_.\-]{1,63}$"
CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,39}$"


class OrganizationCreate(InputModel):
    """A new organisation under a parent."""

    name: str = Field(min_length=1, max_length=200)
    name_en: str = Field("", max_length=200)
    code: str = Field(pattern=CODE_PATTERN, description="Short unique code, e.g. `cq-dsj`.")
    uscc: str | None = Field(None, description="统一社会信用代码 (18 characters, validated check digit).")
    division_code: str | None = Field(None, pattern=r"^\d{6,12}$", description="GB/T 2260 division code.")
    kind: OrgKind
    parent_id: uuid.UUID | None = None
    lon: float | None = Field(None, ge=-180, le=180)
    lat: float | None = Field(None, ge=-90, le=90)

    _uscc = field_validator("uscc")(_check_uscc)


class OrganizationUpdate(InputModel):
    """Changes to an organisation; every field optional."""

    name: str | None = Field(None, min_length=1, max_length=200)
    name_en: str | None = Field(None, max_length=200)
    uscc: str | None = None
    division_code: str | None = Field(None, pattern=r"^\d{6,12}$")
    head_user_id: uuid.UUID | None = None
    lon: float | None = Field(None, ge=-180, le=180)
    lat: float | None = Field(None, ge=-90, le=90)

    _uscc = field_validator("uscc")(_check_uscc)


class Organization(Timestamped):
    """An organisation as the API shows it."""

    name: str
    name_en: str
    code: str
    uscc: str | None
    division_code: str | None
    kind: str
    parent_id: uuid.UUID | None
    head_user_id: uuid.UUID | None
    lon: float | None
    lat: float | None


class RoleBindingCreate(InputModel):
    """Grant a role within an organisation."""

    user_id: uuid.UUID
    org_id: uuid.UUID
    role: Role


class RoleBinding(IDSchema):
    """A role binding."""

    user_id: uuid.UUID
    org_id: uuid.UUID
    role: str
    created_at: datetime


class UserCreate(InputModel):
    """A new user in an organisation."""

    username: str = Field(pattern=USERNAME_PATTERN)
    display_name: str = Field("", max_length=100)
    email: str | None = Field(None, max_length=200, pattern=r"^[^@\s]+@[^@\s]+$")
    org_id: uuid.UUID
    password: str = Field(min_length=8, max_length=200)
    roles: list[Role] = Field(default_factory=list, description="Roles bound within `org_id`.")


class UserUpdate(InputModel):
    """Changes to a user; every field optional."""

    display_name: str | None = Field(None, max_length=100)
    email: str | None = Field(None, max_length=200, pattern=r"^[^@\s]+@[^@\s]+$")
    disabled: bool | None = None


class PasswordSet(InputModel):
    """A new password; changing one's own needs the current one too (an admin's reset of another user's does not)."""

    password: str = Field(min_length=8, max_length=200)
    current_password: str | None = Field(None, max_length=200)


class User(Timestamped):
    """A user as the API shows it (never the password hash)."""

    username: str
    display_name: str
    email: str | None
    org_id: uuid.UUID
    disabled: bool
    locked_until: datetime | None
    last_login_at: datetime | None


class ApiTokenCreate(InputModel):
    """A new API token for the calling user."""

    name: str = Field(min_length=1, max_length=100)
    expires_at: datetime | None = None
    scopes: list[str] = Field(
        default_factory=list,
        description="Empty: everything the user may do. `read`: GET only. Other scopes narrow further.",
    )

    @field_validator("expires_at")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        if v is not None and v.tzinfo is None:
            raise ValueError("expires_at needs a time zone (e.g. 2027-01-01T00:00:00Z)")
        return v

    @field_validator("scopes")
    @classmethod
    def _scopes(cls, v: list[str]) -> list[str]:
        for s in v:
            if not s or len(s) > 64 or not all(c.isalnum() or c in ":_-." for c in s):
                raise ValueError(f"invalid scope {s!r}")
        return sorted(set(v))


class ApiToken(IDSchema):
    """A token as listed (never its secret)."""

    user_id: uuid.UUID
    name: str
    prefix: str
    scopes: list[str]
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    created_at: datetime


class ApiTokenCreated(ApiToken):
    """The token right after creation: `token` is shown this once."""

    token: str


class AuditEntry(ReadModel):
    """One audit row."""

    id: int
    at: datetime
    actor_id: uuid.UUID | None
    actor_name: str
    org_id: uuid.UUID | None
    action: str
    target_type: str
    target_id: str
    summary: dict[str, Any]
    request_id: str
    ip: str
    channel: str
    outcome: str


class Me(ReadModel):
    """Who the caller is and what they may do."""

    user: User
    roles: list[RoleBinding]
    token_scopes: list[str] | None


class CalendarDaySet(InputModel):
    """Mark a date as holiday or working day."""

    working: bool
    name: str = Field("", max_length=100)


class CalendarDay(ReadModel):
    """A calendar exception."""

    day: Any
    working: bool
    name: str


class BureauSet(InputModel):
    """Which organisation is the big-data bureau (reviews data, approves large cloud requests, ranks units)."""

    org_id: uuid.UUID
