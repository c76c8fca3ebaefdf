"""The organisation tree as every request needs it: parents, memoised subtrees, the bureau, the portal's unit.

Cached per process (a short TTL on SQLite) or in the push cache on PostgreSQL, and dropped in every process when
the tree or an identity changes (`org_tree_changed`, `identity_changed`; decision 0002).
"""

from __future__ import annotations

import time as time_mod
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityhub.core.models import CoreOption, Organization, OrgKind
from cityhub.kit import pushcache
from cityhub.kit.settings import get_settings

# Per-process cache of the organisation tree. Organisations are never re-parented and only empty ones are
# deleted, so a stale copy can only lack a brand-new unit: it may deny, never wrongly allow. Creating an
# organisation in this process clears it at once; other processes see the new unit within the TTL.
# Each entry also memoises subtrees of that tree: every authenticated request expands its role bindings, and a
# binding at the city covers every unit (measured: the expansion was the largest Python cost of an API request).
_TREE_TTL_S = 5.0


class _TreeEntry(NamedTuple):
    at: float  # monotonic time of loading
    parents: dict[uuid.UUID, uuid.UUID | None]
    memo: dict[uuid.UUID, frozenset[uuid.UUID]]  # memoised subtrees
    portal: uuid.UUID | None  # the portal accounts' organisation
    bureau: uuid.UUID | None  # the big-data bureau
    areas: frozenset[uuid.UUID]  # districts, counties and new areas (区县): the roots of the data tiers


_tree_cache: dict[str, _TreeEntry] = {}

# the kinds of unit that run their own tier of the data catalog (core.service.AREA_KINDS re-exports this set)
AREA_KINDS = frozenset({OrgKind.DISTRICT.value, OrgKind.COUNTY.value, OrgKind.NEW_AREA.value})


# push-cache namespaces (kit.pushcache): cleared in every process when their facts change
ORG_TREE_NS = "org_tree"
IDENTITY_NS = "identity"  # actors of API tokens and of web-session users
BUREAU_OPTION = "bureau_org_id"  # core_option key naming the big-data bureau (else settings.bureau_code)
# Users whose home is the organisation with this code are citizens' open-data portal accounts (data/portal.py
# registers them there), a kind of principal apart from staff: `_actor` gives them kind "portal".
PORTAL_ORG_CODE = "public"


def _tree_entry(session: Session) -> _TreeEntry:
    cache = pushcache.for_session(session)
    if cache is not None:  # PostgreSQL with a listener: exact across processes, no TTL needed
        hit = cache.get(ORG_TREE_NS, "tree")
        if hit is None:
            generation = cache.generation(ORG_TREE_NS)
            hit = _load_tree(session)
            cache.put(ORG_TREE_NS, "tree", hit, generation)
        return hit  # type: ignore[no-any-return]  # a _TreeEntry, put just above or by an earlier call
    key = str(session.get_bind().engine.url)
    hit = _tree_cache.get(key)
    if hit is not None and time_mod.monotonic() - hit.at < _TREE_TTL_S:
        return hit
    entry = _tree_cache[key] = _load_tree(session)
    return entry


def _load_tree(session: Session) -> _TreeEntry:
    rows = session.execute(select(Organization.id, Organization.parent_id, Organization.code,
                                  Organization.kind)).all()
    portal = next((oid for oid, _pid, code, _kind in rows if code == PORTAL_ORG_CODE), None)
    parents = {oid: pid for oid, pid, _code, _kind in rows}
    areas = frozenset(oid for oid, _pid, _code, kind in rows if kind in AREA_KINDS)
    option = session.get(CoreOption, BUREAU_OPTION)
    if option is not None and option.value and uuid.UUID(option.value) in parents:
        bureau: uuid.UUID | None = uuid.UUID(option.value)
    else:
        code = get_settings().bureau_code
        bureau = next((oid for oid, _pid, c, _kind in rows if c == code), None)
    return _TreeEntry(time_mod.monotonic(), parents, {}, portal, bureau, areas)


def portal_org_id(session: Session) -> uuid.UUID | None:
    """The organisation of portal accounts, None until the first one registers (read with the cached tree)."""
    portal = _tree_entry(session).portal
    if portal is None and pushcache.for_session(session) is None:
        # the per-process tree may predate the organisation (created by another process within its TTL): ask,
        # so a portal account is never taken for staff
        portal = session.scalar(select(Organization.id).where(Organization.code == PORTAL_ORG_CODE))
    return portal


def bureau_id(session: Session) -> uuid.UUID | None:
    """The big-data bureau: the unit a platform admin named, else the one coded `settings.bureau_code`.

    None when neither exists. The one lookup every domain uses (cached with the organisation tree).
    """
    return _tree_entry(session).bureau


def org_parents(session: Session) -> dict[uuid.UUID, uuid.UUID | None]:
    """Every organisation's parent (the tree is small: a city has a few hundred units at most)."""
    return _tree_entry(session).parents


def org_subtree(session: Session, root: uuid.UUID) -> frozenset[uuid.UUID]:
    """The organisation and all its descendants (memoised with the cached tree)."""
    tree, memo = _tree_entry(session)[1:3]
    hit = memo.get(root)
    if hit is None:
        hit = memo[root] = frozenset(expand_subtrees(tree, [root]))
    return hit


def org_area(session: Session, org_id: uuid.UUID) -> uuid.UUID | None:
    """The district (county, new area) an organisation belongs to: itself or its nearest such ancestor.

    None for the city's own units. Read with the cached tree; organisations are never re-parented, so it never
    changes.
    """
    areas = _tree_entry(session).areas
    return next((o for o in org_ancestors(session, org_id) if o in areas), None)


def org_tree_changed(session: Session) -> None:
    """Drop the cached organisation tree, and the actors built from it, here and (on commit) in every process."""
    _tree_cache.clear()
    pushcache.invalidate(session, ORG_TREE_NS, IDENTITY_NS)


def identity_changed(session: Session) -> None:
    """Drop cached actors (a token revoked, a user changed, a role granted or removed) in every process."""
    pushcache.invalidate(session, IDENTITY_NS)


def expand_subtrees(parents: Mapping[uuid.UUID, uuid.UUID | None], roots: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    """The given organisations and all their descendants."""
    children: dict[uuid.UUID | None, list[uuid.UUID]] = {}
    for oid, pid in parents.items():
        children.setdefault(pid, []).append(oid)
    out: set[uuid.UUID] = set()
    stack = [r for r in roots if r in parents]
    while stack:
        oid = stack.pop()
        if oid in out:
            continue
        out.add(oid)
        stack.extend(children.get(oid, ()))
    return out


def org_ancestors(session: Session, org_id: uuid.UUID) -> list[uuid.UUID]:
    """The organisation and its ancestors, nearest first."""
    parents = org_parents(session)
    chain: list[uuid.UUID] = []
    cur: uuid.UUID | None = org_id
    while cur is not None and cur not in chain:
        chain.append(cur)
        cur = parents.get(cur)
    return chain


def org_directory(session: Session) -> tuple[dict[str, Any], ...] | None:
    """Every organisation as a dict of its columns, in the table's `ORDER BY code` order, from the push cache.

    None without a listening cache (SQLite, tests' rolled-back transactions): ask the table. A city has a few
    hundred units and changes them a few times a year, while every list page, picker and policy reads them.
    """
    cache = pushcache.for_session(session)
    if cache is None:
        return None
    hit = cache.get(ORG_TREE_NS, "directory")
    if hit is None:
        generation = cache.generation(ORG_TREE_NS)
        result = session.execute(select(*Organization.__table__.c).order_by(Organization.code))
        keys = list(result.keys())
        hit = tuple(dict(zip(keys, row, strict=True)) for row in result)
        cache.put(ORG_TREE_NS, "directory", hit, generation)
    return hit  # type: ignore[no-any-return]  # the tuple put just above or by an earlier call
