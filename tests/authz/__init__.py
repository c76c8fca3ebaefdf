"""Authorisation matrix declarations.

Each domain adds `tests/authz/<domain>.py` with `EXPECTATIONS: list[Expect]` (and optionally
`prepare(world)` to create the objects its routes act on, stored in `world.extra`). The generic test in
`tests/test_authz_matrix.py` walks every API route with every role and no credentials; it fails when a route
has no declared expectation, when a denied role gets through, when an allowed role is refused, or on any 5xx.

`refs` declares, for each id field of a write's body, another unit's object to swap in (a function of the world;
unit B's twins may come from the module's `prepare_refs(world)`), or a string saying why any unit's object is a
legitimate value there. `tests/test_cross_unit_refs.py` sends each swap as unit A's staff and expects a refusal;
it fails for a write route whose id field declares nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

PUBLIC = "public"  # anonymous callers allowed too
ANY_USER = "any_user"  # every authenticated role


@dataclass(frozen=True)
class Expect:
    """Who may call `method path` on the target that `params` picks."""

    method: str
    path: str  # the route template as registered, e.g. /api/v1/organizations/{org_id}
    allowed: frozenset[str] | str
    params: Callable[[Any], dict[str, Any]] = field(default=lambda w: {})
    body: Callable[[Any], Any] | None = None
    query: Callable[[Any], dict[str, Any]] | None = None
    note: str = ""
    refs: Mapping[str, Callable[[Any], Any] | str] = field(default_factory=dict, compare=False, hash=False)

    def allows(self, role: str | None, all_roles: tuple[str, ...]) -> bool:
        """Is `role` (None = anonymous) expected to get through?"""
        if self.allowed == PUBLIC:
            return True
        if role is None:
            return False
        if self.allowed == ANY_USER:
            return True
        return role in self.allowed


def roles(*names: str) -> frozenset[str]:
    """A set of role keys (see WORLD_USERS in conftest)."""
    return frozenset(names)
