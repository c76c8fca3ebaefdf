"""Who is acting: a staff user or a portal account (via session or token), the system, or an anonymous caller."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from cityhub.core.models import Role


@dataclass(frozen=True)
class Actor:
    """The caller of a service function; policies decide from this alone plus the target."""

    user_id: uuid.UUID | None
    username: str
    org_id: uuid.UUID | None = None
    # role -> every organisation the role covers (bindings expanded to their subtrees)
    roles: dict[str, frozenset[uuid.UUID]] = field(default_factory=dict)
    # None: a web session (everything the roles allow); a tuple: an API token's scopes (empty = all)
    token_scopes: tuple[str, ...] | None = None
    # user (government staff) | portal (a citizen's open-data portal account) | system | anonymous;
    # `core.service` decides user or portal, from the home organisation, in one place (`_actor`)
    kind: str = "user"

    @classmethod
    def system(cls, name: str = "system") -> Actor:
        """The platform itself (CLI, demo builder, background workers)."""
        return cls(user_id=None, username=name, kind="system")

    @classmethod
    def unit_staff(cls, name: str, org_id: uuid.UUID) -> Actor:
        """Someone acting with a unit's staff rights there and nowhere else (e.g. a hub application of that unit)."""
        return cls(user_id=None, username=name, org_id=org_id, roles={Role.ORG_MEMBER: frozenset({org_id})})

    @classmethod
    def anonymous(cls) -> Actor:
        """A caller with no credentials (public portal)."""
        return cls(user_id=None, username="anonymous", kind="anonymous")

    @property
    def is_system(self) -> bool:
        """True for the platform's own processes."""
        return self.kind == "system"

    @property
    def is_authenticated(self) -> bool:
        """True for staff users, portal accounts and the system."""
        return self.kind != "anonymous"

    @property
    def is_portal_account(self) -> bool:
        """True for a citizen's open-data portal account: a principal of the portal, never of internal pages."""
        return self.kind == "portal"

    @property
    def is_internal(self) -> bool:
        """True for callers of the internal platform: staff users and the system."""
        return self.kind in ("user", "system")

    @property
    def is_platform_admin(self) -> bool:
        """True for the system and for platform admins."""
        return self.is_system or bool(self.roles.get(Role.PLATFORM_ADMIN))

    def has(self, role: Role | str, org_id: uuid.UUID | None = None) -> bool:
        """Does the actor hold `role` (over `org_id`, when given)?"""
        if self.is_system:
            return True
        covered = self.roles.get(str(role), frozenset())
        return bool(covered) if org_id is None else org_id in covered

    def has_any(self, roles: Iterable[Role | str], org_id: uuid.UUID | None = None) -> bool:
        """Does the actor hold any of `roles` (over `org_id`)?"""
        return any(self.has(r, org_id) for r in roles)

    def orgs_for(self, *roles: Role | str) -> frozenset[uuid.UUID]:
        """Every organisation covered by any of `roles`."""
        out: frozenset[uuid.UUID] = frozenset()
        for r in roles:
            out |= self.roles.get(str(r), frozenset())
        return out

    @property
    def member_orgs(self) -> frozenset[uuid.UUID]:
        """Organisations the actor works for in any role (staff of the unit or above it)."""
        return self.orgs_for(Role.PLATFORM_ADMIN, Role.ORG_ADMIN, Role.ORG_MEMBER, Role.OPERATOR)

    @property
    def staff_orgs(self) -> frozenset[uuid.UUID]:
        """Organisations the actor is staff of (org admin or member there or above): "my units"."""
        return self.orgs_for(Role.ORG_ADMIN, Role.ORG_MEMBER)

    def allows_scope(self, scope: str) -> bool:
        """Does the credential allow `scope` (sessions and unscoped tokens allow everything)?"""
        if not self.token_scopes:
            return True
        return scope in self.token_scopes or "write" in self.token_scopes
