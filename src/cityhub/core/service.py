"""The only way to core data: organisations, users, roles, tokens, authentication, audit, calendar.

Other domains call these functions (never core models) for the actor, audit rows, organisation scope
and working-day arithmetic.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import re
import secrets
import time as time_mod
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NamedTuple
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Select, bindparam, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cityhub.core import policies
from cityhub.core.actor import Actor
from cityhub.core.models import (
    ApiToken,
    AuditEntry,
    CalendarDay,
    CoreOption,
    Organization,
    OrgKind,
    Role,
    RoleBinding,
    User,
)
from cityhub.core.permissions import DerivedRole
from cityhub.core.schemas import (
    ApiTokenCreate,
    OrganizationCreate,
    OrganizationUpdate,
    RoleBindingCreate,
    UserCreate,
    UserUpdate,
)
from cityhub.kit import clock, context, pushcache
from cityhub.kit.errors import Conflict, NotFound, Unauthorized, ValidationFailed
from cityhub.kit.i18n import gettext as _
from cityhub.kit.pagination import PageParams, paginate
from cityhub.kit.refs import reference
from cityhub.kit.settings import get_settings

__all__ = ["Actor", "Role", "OrgKind"]

_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)  # OWASP minimum for argon2id
_SENSITIVE = re.compile(r"password|secret|token|credential|private_key", re.I)
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")  # a value that is a URL: audited without userinfo and query
TOKEN_PREFIX = "chub"


# ---------------------------------------------------------------- audit


def _redact_url(value: str) -> str:
    """A URL without its userinfo, query and fragment, where keys travel (`?key=…`, `https://user:pw@host`)."""
    try:
        parts = urlsplit(value)
        host = parts.netloc.rpartition("@")[2]
        userinfo = "***@" if "@" in parts.netloc else ""
    except ValueError:
        return "***"
    return urlunsplit((parts.scheme, userinfo + host, parts.path, "***" if parts.query else "",
                       "***" if parts.fragment else ""))


def _redact(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: ("***" if _SENSITIVE.search(str(k)) else _redact(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact(v) for v in value]
    if isinstance(value, uuid.UUID | datetime | date):
        return str(value)
    if isinstance(value, str) and _URL.match(value):
        return _redact_url(value)
    return value


def audit_record(
    session: Session,
    actor: Actor,
    action: str,
    *,
    target_type: str = "",
    target_id: object = "",
    org_id: uuid.UUID | None = None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    outcome: str = "ok",
) -> AuditEntry:
    """Append one audit row for `action` (secrets are redacted, only changed keys are kept)."""
    summary: dict[str, Any] = {}
    if before is not None and after is not None:
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        summary["changed"] = changed
        summary["before"] = _redact({k: before.get(k) for k in changed})
        summary["after"] = _redact({k: after.get(k) for k in changed})
    elif after is not None:
        summary["after"] = _redact(dict(after))
    elif before is not None:
        summary["before"] = _redact(dict(before))
    if extra:
        summary.update(_redact(dict(extra)))
    ctx = context.current()
    entry = AuditEntry(
        at=clock.now(),
        actor_id=actor.user_id,
        actor_name=actor.username[:100],
        org_id=org_id,
        action=action,
        target_type=target_type,
        target_id=str(target_id)[:80],
        summary=summary,
        request_id=ctx.request_id,
        ip=ctx.ip,
        channel=ctx.channel,
        outcome=outcome,
    )
    session.add(entry)
    session.flush()
    return entry


def snapshot(obj: object, fields: Iterable[str]) -> dict[str, Any]:
    """A dict of the named attributes, for before/after audit summaries."""
    return {f: getattr(obj, f) for f in fields}


@contextmanager
def audited(session: Session, actor: Actor, action: str, obj: Any, fields: Iterable[str], *, target_type: str,
            org_id: uuid.UUID | None = None, extra: Mapping[str, Any] | None = None) -> Iterator[None]:
    """Change `obj` inside the block; on leaving it, flush and write one audit row of the named fields.

    `audit_record` keeps only the fields that changed, so the history reads as what was done.

        with core.audited(session, actor, "rule_update", rule, ("name", "enabled"), target_type="ops_rule",
                          org_id=rule.org_id):
            rule.name = data.name
    """
    names = tuple(fields)
    before = snapshot(obj, names)
    yield
    session.flush()
    audit_record(session, actor, action, target_type=target_type, target_id=getattr(obj, "id", ""),
                 org_id=org_id, before=before, after=snapshot(obj, names), extra=extra)


@dataclass(frozen=True)
class AuditFilter:
    """Audit query filters."""

    actor: str | None = None
    org_id: uuid.UUID | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _audit_query(session: Session, actor: Actor, flt: AuditFilter) -> Select[AuditEntry]:
    policies.audit_read(actor)
    stmt = select(AuditEntry)
    if not actor.has(Role.PLATFORM_ADMIN):
        stmt = stmt.where(AuditEntry.org_id.in_(actor.orgs_for(Role.AUDITOR)))
    if flt.actor:
        stmt = stmt.where(AuditEntry.actor_name == flt.actor)
    if flt.org_id:
        stmt = stmt.where(AuditEntry.org_id == flt.org_id)
    if flt.action:
        if flt.action.endswith("*"):
            stmt = stmt.where(AuditEntry.action.startswith(flt.action[:-1], autoescape=True))
        else:
            stmt = stmt.where(AuditEntry.action == flt.action)
    if flt.since:
        stmt = stmt.where(AuditEntry.at >= flt.since)
    if flt.until:
        stmt = stmt.where(AuditEntry.at < flt.until)
    return stmt.order_by(AuditEntry.id.desc())


def audit_list(session: Session, actor: Actor, flt: AuditFilter, page: PageParams) -> tuple[list[AuditEntry], int]:
    """Audit rows the actor may read, newest first."""
    return paginate(session, _audit_query(session, actor, flt), page)


AUDIT_CSV_COLUMNS = ("id", "at", "actor_name", "actor_id", "org_id", "action", "target_type", "target_id",
                     "outcome", "request_id", "ip", "channel", "summary")


def audit_export_csv(session: Session, actor: Actor, flt: AuditFilter, max_rows: int = 1_000_000) -> Iterator[str]:
    """Stream the filtered audit log as CSV text chunks."""
    import json

    stmt = _audit_query(session, actor, flt).limit(max_rows).execution_options(yield_per=1000)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(AUDIT_CSV_COLUMNS)
    for row in session.scalars(stmt):
        values = [getattr(row, c) for c in AUDIT_CSV_COLUMNS[:-1]]
        writer.writerow([*values, json.dumps(row.summary, ensure_ascii=False)])
        if buf.tell() > 64 * 1024:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()


# ---------------------------------------------------------------- organisations


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


_tree_cache: dict[str, _TreeEntry] = {}


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
    rows = session.execute(select(Organization.id, Organization.parent_id, Organization.code)).all()
    portal = next((oid for oid, _pid, code in rows if code == PORTAL_ORG_CODE), None)
    parents = {oid: pid for oid, pid, _code in rows}
    option = session.get(CoreOption, BUREAU_OPTION)
    if option is not None and option.value and uuid.UUID(option.value) in parents:
        bureau: uuid.UUID | None = uuid.UUID(option.value)
    else:
        code = get_settings().bureau_code
        bureau = next((oid for oid, _pid, c in rows if c == code), None)
    return _TreeEntry(time_mod.monotonic(), parents, {}, portal, bureau)


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


def bureau_set(session: Session, actor: Actor, org_id: uuid.UUID) -> None:
    """Name the organisation acting as the big-data bureau (its staff review, approve and rank city-wide)."""
    policies.bureau_set(actor)
    if session.get(Organization, org_id) is None:
        raise NotFound(_("Organisation not found"))
    option = session.get(CoreOption, BUREAU_OPTION)
    before = {"org_id": option.value if option else None}
    if option is None:
        session.add(CoreOption(key=BUREAU_OPTION, value=str(org_id)))
    else:
        option.value = str(org_id)
    session.flush()
    org_tree_changed(session)  # actors carry bureau roles: rebuild them everywhere
    audit_record(session, actor, "bureau_set", target_type="organization", target_id=org_id, org_id=org_id,
                 before=before, after={"org_id": str(org_id)})


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


def organization_get(session: Session, actor: Actor, org_id: uuid.UUID) -> Organization:
    """One organisation by id."""
    policies.organization_read(actor)
    org = session.get(Organization, org_id)
    if org is None:
        raise NotFound(_("Organisation not found"), details={"id": str(org_id)})
    return org


def organization_by_code(session: Session, code: str) -> Organization | None:
    """Look up an organisation by its short code (no actor: codes are public)."""
    return session.scalar(select(Organization).where(Organization.code == code))


def organization_list(
    session: Session,
    actor: Actor,
    page: PageParams,
    *,
    parent_id: uuid.UUID | None = None,
    kind: str | None = None,
    q: str | None = None,
) -> tuple[list[Any], int]:
    """Organisations, filtered by parent, kind or a name/code search (case-insensitive substring).

    Returns plain rows (dicts or rows of the table's columns), not entities: the list is only serialised. On
    PostgreSQL with the push cache the directory is served from memory (`org_directory`), else from the table;
    both give the same rows in the same order (tests/core/test_org_directory.py).
    """
    policies.organization_read(actor)
    directory = org_directory(session)
    if directory is not None:
        needle = q.lower() if q else None
        rows = [r for r in directory
                if (parent_id is None or r["parent_id"] == parent_id) and (not kind or r["kind"] == kind)
                and (needle is None or needle in r["name"].lower() or needle in r["code"].lower()
                     or needle in (r["name_en"] or "").lower())]
        return rows[page.offset:page.offset + page.limit], len(rows)
    stmt = select(*Organization.__table__.c).order_by(Organization.code)
    if parent_id is not None:
        stmt = stmt.where(Organization.parent_id == parent_id)
    if kind:
        stmt = stmt.where(Organization.kind == kind)
    if q:
        stmt = stmt.where(or_(Organization.name.icontains(q, autoescape=True),
                              Organization.code.icontains(q, autoescape=True),
                              Organization.name_en.icontains(q, autoescape=True)))
    return paginate(session, stmt, page, rows=True)


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


def organization_all(session: Session) -> list[Organization]:
    """Every organisation, ordered by code (for pickers, demo and other domains' reports)."""
    return list(session.scalars(select(Organization).order_by(Organization.code)))


_ORG_FIELDS = ("name", "name_en", "code", "uscc", "division_code", "kind", "parent_id", "head_user_id", "lon", "lat")


def _unique_org(session: Session, code: str | None, uscc: str | None, exclude: uuid.UUID | None = None) -> None:
    if code is not None:
        other = session.scalar(select(Organization.id).where(Organization.code == code))
        if other is not None and other != exclude:
            raise Conflict(_("An organisation with this code exists"), details={"field": "code", "value": code})
    if uscc is not None:
        other = session.scalar(select(Organization.id).where(Organization.uscc == uscc))
        if other is not None and other != exclude:
            raise Conflict(_("An organisation with this USCC exists"), details={"field": "uscc", "value": uscc})


def organization_create(session: Session, actor: Actor, data: OrganizationCreate) -> Organization:
    """Create an organisation under its parent."""
    policies.organization_create(actor, data.parent_id)
    if data.parent_id is not None and session.get(Organization, data.parent_id) is None:
        raise ValidationFailed(_("Parent organisation not found"), field="parent_id")
    _unique_org(session, data.code, data.uscc)
    org = Organization(**data.model_dump())
    session.add(org)
    session.flush()
    org_tree_changed(session)
    audit_record(session, actor, "organization_create", target_type="organization", target_id=org.id,
                 org_id=org.id, after=snapshot(org, _ORG_FIELDS))
    return org


def organization_update(session: Session, actor: Actor, org_id: uuid.UUID, data: OrganizationUpdate) -> Organization:
    """Change an organisation."""
    org = organization_get(session, actor, org_id)
    policies.organization_update(actor, org.id)
    changes = data.model_dump(exclude_unset=True)
    _unique_org(session, None, changes.get("uscc"), exclude=org.id)
    head_id = changes.get("head_user_id")
    if head_id is not None:  # a user the caller may see (else unknown to them, as in every write)
        reference("head_user_id", lambda: user_get(session, actor, head_id), _("Head user not found"))
    before = snapshot(org, _ORG_FIELDS)
    for k, v in changes.items():
        setattr(org, k, v)
    session.flush()
    pushcache.invalidate(session, ORG_TREE_NS)  # the directory holds names and codes (the parent cannot change)
    audit_record(session, actor, "organization_update", target_type="organization", target_id=org.id,
                 org_id=org.id, before=before, after=snapshot(org, _ORG_FIELDS))
    return org


def organization_delete(session: Session, actor: Actor, org_id: uuid.UUID) -> None:
    """Delete an empty organisation (no children, no users)."""
    org = organization_get(session, actor, org_id)
    policies.organization_delete(actor, org.id)
    if session.scalar(select(func.count()).where(Organization.parent_id == org.id)):
        raise Conflict(_("The organisation still has child organisations"))
    if session.scalar(select(func.count()).where(User.org_id == org.id)):
        raise Conflict(_("The organisation still has users"))
    before = snapshot(org, _ORG_FIELDS)
    bound = session.execute(select(RoleBinding.id, RoleBinding.role, RoleBinding.user_id)
                            .where(RoleBinding.org_id == org.id)).all()
    if any(role == Role.PLATFORM_ADMIN.value for _id, role, _uid in bound):
        _keep_a_platform_admin(session, without_bindings=[bid for bid, _role, _uid in bound])
    session.execute(delete(RoleBinding).where(RoleBinding.org_id == org.id))
    for user in session.scalars(select(User).where(User.id.in_({uid for _id, _role, uid in bound}))):
        _end_sessions(session, user)  # their role set changed
    session.delete(org)
    try:
        session.flush()
    except IntegrityError as exc:  # still referenced by another domain's rows
        raise Conflict(_("The organisation is still referenced"), details=str(exc.orig)[:200]) from exc
    org_tree_changed(session)
    audit_record(session, actor, "organization_delete", target_type="organization", target_id=org_id,
                 org_id=org_id, before=before)


AREA_KINDS = frozenset({OrgKind.DISTRICT.value, OrgKind.COUNTY.value, OrgKind.NEW_AREA.value})


def area_reference(session: Session, org_id: uuid.UUID | None, field: str = "district_id") -> None:
    """A district (county, new area) named in a write as a location: any area, but an area (else 422 naming the field).

    A location tag widens who sees a record (alarms are visible to their district): a department named there would
    put one unit's alarms on another's desk.
    """
    if org_id is None:
        return
    org = session.get(Organization, org_id)
    if org is None or org.kind not in AREA_KINDS:
        raise ValidationFailed(_("Name a district, county or new area"), field=field)


def organization_head(session: Session, org_id: uuid.UUID) -> User | None:
    """The unit's head (its 云长 / cloud chief)."""
    org = session.get(Organization, org_id)
    return session.get(User, org.head_user_id) if org and org.head_user_id else None


# ---------------------------------------------------------------- users


def hash_password(password: str) -> str:
    """argon2id hash."""
    return _hasher.hash(password)


def _verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


_USER_FIELDS = ("username", "display_name", "email", "org_id", "disabled")


def user_get(session: Session, actor: Actor, user_id: uuid.UUID) -> User:
    """One user the actor may see (others are 404, as if absent)."""
    user = session.get(User, user_id)
    if user is None or not policies.user_read(actor, user.org_id, user.id):
        raise NotFound(_("User not found"), details={"id": str(user_id)})
    return user


def user_by_username(session: Session, username: str) -> User | None:
    """Look up a user by name (for the CLI and login)."""
    return session.scalar(select(User).where(User.username == username))


def user_list(
    session: Session, actor: Actor, page: PageParams, *, org_id: uuid.UUID | None = None, q: str | None = None
) -> tuple[list[User], int]:
    """Users the actor may see."""
    stmt = select(User).order_by(User.username)
    if not actor.has(Role.PLATFORM_ADMIN):
        visible = actor.orgs_for(Role.ORG_ADMIN, Role.AUDITOR)
        stmt = stmt.where(or_(User.org_id.in_(visible), User.id == actor.user_id))
    if org_id is not None:
        stmt = stmt.where(User.org_id == org_id)
    if q:
        stmt = stmt.where(or_(User.username.like(f"%{q}%"), User.display_name.like(f"%{q}%")))
    return paginate(session, stmt, page)


def user_create(session: Session, actor: Actor, data: UserCreate) -> User:
    """Create a user, with optional roles within their organisation."""
    policies.user_create(actor, data.org_id)
    if session.get(Organization, data.org_id) is None:
        raise ValidationFailed(_("Organisation not found"), field="org_id")
    for role in data.roles:
        policies.role_binding_create(actor, data.org_id, role.value, data.org_id, False)
    if user_by_username(session, data.username) is not None:
        raise Conflict(_("This username is taken"), details={"field": "username", "value": data.username})
    user = User(
        username=data.username,
        display_name=data.display_name or data.username,
        email=data.email,
        org_id=data.org_id,
        password_hash=hash_password(data.password),
    )
    session.add(user)
    session.flush()
    audit_record(session, actor, "user_create", target_type="user", target_id=user.id, org_id=user.org_id,
                 after=snapshot(user, _USER_FIELDS))
    for role in data.roles:
        _binding_add(session, actor, user, data.org_id, role.value)
    return user


def user_update(session: Session, actor: Actor, user_id: uuid.UUID, data: UserUpdate) -> User:
    """Change a user's profile or disable/enable them (disabling ends their sessions)."""
    user = user_get(session, actor, user_id)
    policies.user_update(actor, user.org_id, is_platform_admin(session, user.id))
    changes = data.model_dump(exclude_unset=True)
    disabling = bool(changes.get("disabled")) and not user.disabled
    if disabling:
        if user.id == actor.user_id:
            raise Conflict(_("You cannot disable your own account"), code="self_lockout")
        _keep_a_platform_admin(session, without_user=user.id)
    before = snapshot(user, _USER_FIELDS)
    for k, v in changes.items():
        setattr(user, k, v)
    session.flush()
    if disabling:
        _end_sessions(session, user)
    identity_changed(session)  # disabled, username and home unit are part of the cached actor
    audit_record(session, actor, "user_update", target_type="user", target_id=user.id, org_id=user.org_id,
                 before=before, after=snapshot(user, _USER_FIELDS))
    return user


def user_password_set(session: Session, actor: Actor, user_id: uuid.UUID, password: str,
                      current_password: str | None = None) -> User:
    """Set a new password (and unlock the account); every session of the user ends.

    Changing one's own password needs the current one (a stolen session must not be enough to take the account);
    an admin resetting another user's password does not.
    """
    user = user_get(session, actor, user_id)
    policies.user_password_set(actor, user.org_id, user.id, is_platform_admin(session, user.id))
    if actor.user_id == user.id and not _verify_password(user.password_hash, current_password or ""):
        raise ValidationFailed(_("The current password is wrong"), field="current_password")
    user.password_hash = hash_password(password)
    user.failed_logins = 0
    user.locked_until = None
    session.flush()
    _end_sessions(session, user)
    audit_record(session, actor, "user_password_set", target_type="user", target_id=user.id, org_id=user.org_id)
    return user


def user_logout(session: Session, actor: Actor) -> None:
    """End every web session of the caller (the cookie's session version stops matching)."""
    if actor.user_id is None:
        return
    policies.user_logout(actor, actor.user_id)
    user = session.get(User, actor.user_id)
    if user is None:
        return
    _end_sessions(session, user)
    audit_record(session, actor, "user_logout", target_type="user", target_id=user.id, org_id=user.org_id)


def _end_sessions(session: Session, user: User) -> None:
    # in SQL, so two concurrent bumps both count; then every process drops the user's cached session actor
    user.session_version = User.session_version + 1  # an SQL expression: the value is reloaded
    session.flush()
    identity_changed(session)


def is_platform_admin(session: Session, user_id: uuid.UUID) -> bool:
    """Does the user hold a platform_admin binding anywhere?"""
    return session.scalar(select(RoleBinding.id).where(
        RoleBinding.user_id == user_id, RoleBinding.role == Role.PLATFORM_ADMIN.value).limit(1)) is not None


def _keep_a_platform_admin(session: Session, *, without_user: uuid.UUID | None = None,
                           without_bindings: Iterable[uuid.UUID] = ()) -> None:
    """Refuse a change that would leave no active platform admin (nobody could administer the city)."""
    stmt = (select(User.id).join(RoleBinding, RoleBinding.user_id == User.id)
            .where(RoleBinding.role == Role.PLATFORM_ADMIN.value, User.disabled.is_(False)))
    if without_user is not None:
        stmt = stmt.where(User.id != without_user)
    excluded = list(without_bindings)
    if excluded:
        stmt = stmt.where(RoleBinding.id.not_in(excluded))
    # on PostgreSQL the remaining admins' rows stay locked to the commit: two admins disabling each other at the
    # same time are serialised, and the second sees the first's change (no-op on SQLite, which has one writer)
    if session.scalars(stmt.limit(1).with_for_update(of=User)).first() is None:
        raise Conflict(_("This would leave the platform without an active platform admin"),
                       code="last_platform_admin")


def user_roles(session: Session, user_id: uuid.UUID) -> list[RoleBinding]:
    """A user's role bindings."""
    return list(session.scalars(select(RoleBinding).where(RoleBinding.user_id == user_id)
                                .order_by(RoleBinding.created_at)))


# ---------------------------------------------------------------- role bindings


def _binding_add(session: Session, actor: Actor, user: User, org_id: uuid.UUID, role: str) -> RoleBinding:
    if user.org_id == portal_org_id(session):
        raise ValidationFailed(_("A portal account cannot hold staff roles"), field="user_id")
    exists = session.scalar(select(RoleBinding).where(
        RoleBinding.user_id == user.id, RoleBinding.org_id == org_id, RoleBinding.role == role))
    if exists is not None:
        raise Conflict(_("The user already has this role here"), details={"role": role})
    binding = RoleBinding(user_id=user.id, org_id=org_id, role=role)
    session.add(binding)
    session.flush()
    _end_sessions(session, user)  # a changed role set starts from a fresh login
    audit_record(session, actor, "role_binding_create", target_type="role_binding", target_id=binding.id,
                 org_id=org_id, after={"user": user.username, "org_id": org_id, "role": role})
    return binding


def role_binding_create(session: Session, actor: Actor, data: RoleBindingCreate) -> RoleBinding:
    """Grant a role to a user within an organisation."""
    policies.role_binding_grantable(actor, data.org_id, data.role.value)
    user = session.get(User, data.user_id)
    if user is None or not policies.user_read(actor, user.org_id, user.id):
        # a user the caller may not see is unknown to them (no probing for who works elsewhere)
        raise ValidationFailed(_("User not found"), field="user_id")
    policies.role_binding_create(actor, data.org_id, data.role.value, user.org_id,
                                 is_platform_admin(session, user.id))
    if session.get(Organization, data.org_id) is None:
        raise ValidationFailed(_("Organisation not found"), field="org_id")
    return _binding_add(session, actor, user, data.org_id, data.role.value)


def role_binding_delete(session: Session, actor: Actor, binding_id: uuid.UUID) -> None:
    """Remove a role binding (never one's own platform_admin binding, nor the last active platform admin's)."""
    binding = session.get(RoleBinding, binding_id)
    if binding is None or not actor.has_any((Role.PLATFORM_ADMIN, Role.ORG_ADMIN, Role.AUDITOR), binding.org_id):
        raise NotFound(_("Role binding not found"))
    user = session.get(User, binding.user_id)
    if user is None:  # pragma: no cover - bindings cascade with their user
        raise NotFound(_("Role binding not found"))
    policies.role_binding_delete(actor, binding.org_id, binding.role, user.org_id, is_platform_admin(session, user.id))
    if binding.role == Role.PLATFORM_ADMIN.value:
        if user.id == actor.user_id:
            raise Conflict(_("You cannot remove your own platform admin role"), code="self_lockout")
        _keep_a_platform_admin(session, without_bindings=[binding.id])
    before = {"user_id": binding.user_id, "org_id": binding.org_id, "role": binding.role}
    session.delete(binding)
    session.flush()
    _end_sessions(session, user)
    audit_record(session, actor, "role_binding_delete", target_type="role_binding", target_id=binding_id,
                 org_id=before["org_id"], before=before)  # type: ignore[arg-type]  # values are UUIDs


def role_binding_list(
    session: Session, actor: Actor, page: PageParams, *, user_id: uuid.UUID | None = None,
    org_id: uuid.UUID | None = None,
) -> tuple[list[RoleBinding], int]:
    """Bindings the actor may see (their own, and those in orgs they administer or audit)."""
    stmt = select(RoleBinding).order_by(RoleBinding.created_at)
    if not actor.has(Role.PLATFORM_ADMIN):
        visible = actor.orgs_for(Role.ORG_ADMIN, Role.AUDITOR)
        stmt = stmt.where(or_(RoleBinding.org_id.in_(visible), RoleBinding.user_id == actor.user_id))
    if user_id is not None:
        stmt = stmt.where(RoleBinding.user_id == user_id)
    if org_id is not None:
        stmt = stmt.where(RoleBinding.org_id == org_id)
    return paginate(session, stmt, page)


# ---------------------------------------------------------------- actors and authentication


def actor_for_user(session: Session, user: User, token_scopes: tuple[str, ...] | None = None) -> Actor:
    """Build the Actor of a user: each role binding expanded to the organisation's subtree."""
    bindings = session.execute(
        select(RoleBinding.role, RoleBinding.org_id).where(RoleBinding.user_id == user.id)
    ).all()
    return _actor(session, user.id, user.username, user.org_id, [(r, o) for r, o in bindings], token_scopes)


def actor_for_username(session: Session, username: str) -> Actor:
    """The Actor of a named user (CLI `--as`, tests)."""
    user = user_by_username(session, username)
    if user is None:
        raise NotFound(_("User not found"), details={"username": username})
    return actor_for_user(session, user)


@dataclass(frozen=True)
class LoginResult:
    """Outcome of a password login; the boundary commits either way (failure counters must stick)."""

    actor: Actor | None
    reason: str = ""
    session_version: int = 0  # for the session cookie (`core.deps.session_start`)


def login_attempt(session: Session, username: str, password: str) -> LoginResult:
    """Check a password, counting failures and locking the account after too many."""
    settings = get_settings()
    now = clock.now()
    user = user_by_username(session, username)
    anon = Actor(user_id=None, username=username[:64], kind="anonymous")
    if user is None:
        _hasher.hash(password)  # same cost as a real check, so timing does not reveal unknown usernames
        audit_record(session, anon, "user_login", target_type="user", outcome="failed",
                     extra={"reason": "bad_credentials"})
        return LoginResult(None, "bad_credentials")
    if user.locked_until is not None and user.locked_until > now:
        _verify_password(user.password_hash, password)  # the same work as any check; the answer is ignored
        audit_record(session, anon, "user_login", target_type="user", target_id=user.id, org_id=user.org_id,
                     outcome="refused", extra={"reason": "locked"})
        return LoginResult(None, "locked")
    if not _verify_password(user.password_hash, password):
        user.failed_logins += 1
        reason = "bad_credentials"
        audit_record(session, anon, "user_login", target_type="user", target_id=user.id, org_id=user.org_id,
                     outcome="failed", extra={"reason": reason, "failures": user.failed_logins})
        if user.failed_logins >= settings.login_max_failures:
            user.locked_until = now + timedelta(minutes=settings.login_lock_minutes)
            user.failed_logins = 0
            audit_record(session, Actor.system(), "user_lock", target_type="user", target_id=user.id,
                         org_id=user.org_id, extra={"until": user.locked_until, "after_failures":
                                                    settings.login_max_failures})
            reason = "locked"
        session.flush()
        return LoginResult(None, reason)
    if user.disabled:
        audit_record(session, anon, "user_login", target_type="user", target_id=user.id, org_id=user.org_id,
                     outcome="refused", extra={"reason": "disabled"})
        return LoginResult(None, "disabled")
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    actor = actor_for_user(session, user)
    audit_record(session, actor, "user_login", target_type="user", target_id=user.id, org_id=user.org_id)
    return LoginResult(actor, session_version=user.session_version)


def actor_for_session_user(session: Session, user_id: uuid.UUID, session_version: int) -> Actor | None:
    """The Actor behind a web session cookie; None when the user is gone or disabled, or the cookie is stale.

    Stale: issued before the user's last logout, password change, disabling or role change (the session version
    it carries no longer matches).
    """
    cache = pushcache.for_session(session)
    generation = cache.generation(IDENTITY_NS) if cache is not None else None
    user = session.get(User, user_id)
    if user is None or user.disabled or user.session_version != session_version:
        return None
    actor = actor_for_user(session, user)
    if cache is not None and generation is not None:
        cache.put(IDENTITY_NS, ("user", user_id), (user.session_version, actor), generation)
    return actor


def cached_session_actor(session: Session, user_id: uuid.UUID, session_version: int) -> Actor | None:
    """`actor_for_session_user` from the push cache, without I/O; None when not cached (ask the database)."""
    cache = pushcache.for_session(session)
    hit = cache.get(IDENTITY_NS, ("user", user_id)) if cache is not None else None
    if hit is None or hit[0] != session_version:
        return None
    return hit[1]  # type: ignore[no-any-return]  # the Actor cached by actor_for_session_user


def _token_hash(secret: str) -> str:
    # Tokens carry 192 bits of randomness, so a fast keyed hash is safe (no need for a slow password hash).
    key = get_settings().secret_key.encode()
    return hmac.new(key, secret.encode(), hashlib.sha256).hexdigest()


_LAST_USED_EVERY = timedelta(minutes=5)
# Built once: constructing the statement costs more than its (cached) compilation on every request.
_TOKEN_LOOKUP = (
    select(ApiToken.id, ApiToken.secret_hash, ApiToken.revoked_at, ApiToken.expires_at, ApiToken.last_used_at,
           ApiToken.scopes, User.id, User.username, User.org_id, User.disabled, RoleBinding.role, RoleBinding.org_id)
    .join(User, User.id == ApiToken.user_id)
    .outerjoin(RoleBinding, RoleBinding.user_id == User.id)
    .where(ApiToken.prefix == bindparam("prefix"))
)


def authenticate_token(session: Session, raw: str) -> Actor:
    """Resolve `chub_<prefix>_<secret>` to its user's Actor; revoked, expired or malformed tokens fail."""
    parts = raw.split("_")
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or len(parts[1]) > 16:
        raise Unauthorized(_("Invalid API token"))
    cache = pushcache.for_session(session)
    generation = cache.generation(IDENTITY_NS) if cache is not None else None  # read before the database
    # One round trip on the hot path: token, user and role bindings together (a row per binding).
    rows = session.execute(_TOKEN_LOOKUP, {"prefix": parts[1]}).all()
    if not rows:
        raise Unauthorized(_("Invalid API token"))
    (token_id, secret_hash, revoked_at, expires_at, last_used_at, scopes,
     user_id, username, org_id, disabled, _role, _org) = rows[0]
    if not hmac.compare_digest(secret_hash, _token_hash(raw)):
        raise Unauthorized(_("Invalid API token"))
    now = clock.now()
    if revoked_at is not None:
        raise Unauthorized(_("This API token has been revoked"), code="token_revoked")
    if expires_at is not None and clock.as_utc(expires_at) <= now:
        raise Unauthorized(_("This API token has expired"), code="token_expired")
    if disabled:
        raise Unauthorized(_("This account is disabled"), code="account_disabled")
    if last_used_at is None or now - clock.as_utc(last_used_at) > _LAST_USED_EVERY:
        # coarse on purpose: a write per request would cost every read
        session.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now))
        last_used_at = now
    bindings = [(r[10], r[11]) for r in rows if r[10] is not None]
    actor = _actor(session, user_id, username, org_id, bindings, tuple(scopes))
    if cache is not None and generation is not None:
        expires = clock.as_utc(expires_at) if expires_at is not None else None
        cache.put(IDENTITY_NS, ("token", parts[1]), (secret_hash, expires, clock.as_utc(last_used_at), actor),
                  generation)
    return actor


def cached_token_actor(session: Session, raw: str) -> Actor | None:
    """`authenticate_token` from the push cache, without I/O; None when the database must answer.

    Only successes are cached, so every refusal (unknown, revoked, expired, disabled) goes through
    `authenticate_token` and says why; a revocation, a disabled user or a changed binding clears the cache
    (`identity_changed`), expiry is checked here, and after `_LAST_USED_EVERY` the database is asked again so
    `last_used_at` stays current.
    """
    cache = pushcache.for_session(session)
    if cache is None:
        return None
    parts = raw.split("_")
    if len(parts) != 3:
        return None
    hit = cache.get(IDENTITY_NS, ("token", parts[1]))
    if hit is None:
        return None
    secret_hash, expires_at, last_used_at, actor = hit
    if not hmac.compare_digest(secret_hash, _token_hash(raw)):
        return None
    now = clock.now()
    if (expires_at is not None and expires_at <= now) or now - last_used_at > _LAST_USED_EVERY:
        return None
    return actor  # type: ignore[no-any-return]  # the Actor cached by authenticate_token


def _actor(session: Session, user_id: uuid.UUID, username: str, org_id: uuid.UUID,
           bindings: Iterable[tuple[str, uuid.UUID]], token_scopes: tuple[str, ...] | None) -> Actor:
    bindings = list(bindings)
    roles: dict[str, frozenset[uuid.UUID]] = {}
    for role, bound_org in bindings:
        sub = org_subtree(session, bound_org)
        roles[role] = roles[role] | sub if role in roles else sub
    kind = "portal" if org_id == portal_org_id(session) else "user"
    _add_bureau_roles(session, roles)
    return Actor(user_id=user_id, username=username, org_id=org_id, roles=roles, token_scopes=token_scopes,
                 kind=kind)


def _add_bureau_roles(session: Session, roles: dict[str, frozenset[uuid.UUID]]) -> None:
    """Staff bound at the bureau (or above it) act for it city-wide: the derived roles of `core.permissions`."""
    bureau = bureau_id(session)
    if bureau is None:
        return
    admin = bureau in roles.get(Role.ORG_ADMIN, frozenset())
    if not admin and bureau not in roles.get(Role.ORG_MEMBER, frozenset()):
        return
    parents = org_parents(session)
    root = bureau
    while (up := parents.get(root)) is not None:
        root = up
    city = org_subtree(session, root)
    roles[DerivedRole.BUREAU_STAFF] = city
    if admin:
        roles[DerivedRole.BUREAU_ADMIN] = city


def api_token_create(session: Session, actor: Actor, user_id: uuid.UUID, data: ApiTokenCreate) -> tuple[ApiToken, str]:
    """Create a token for `user_id`; returns the row and the secret (shown once, stored hashed)."""
    policies.api_token_create(actor, user_id)
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(_("User not found"))
    if data.expires_at is not None and data.expires_at <= clock.now():
        raise ValidationFailed(_("expires_at is in the past"), field="expires_at")
    prefix = secrets.token_hex(6)
    raw = f"{TOKEN_PREFIX}_{prefix}_{secrets.token_urlsafe(24).replace('_', 'x')}"
    token = ApiToken(user_id=user.id, name=data.name, prefix=prefix, secret_hash=_token_hash(raw),
                     scopes=list(data.scopes), expires_at=data.expires_at)
    session.add(token)
    session.flush()
    audit_record(session, actor, "api_token_create", target_type="api_token", target_id=token.id,
                 org_id=user.org_id, after={"user": user.username, "name": data.name, "prefix": prefix,
                                            "scopes": data.scopes, "expires_at": data.expires_at})
    return token, raw


def _visible_token(session: Session, actor: Actor, token_id: uuid.UUID) -> tuple[ApiToken, User]:
    row = session.execute(select(ApiToken, User).join(User, User.id == ApiToken.user_id)
                          .where(ApiToken.id == token_id)).first()
    if row is None or not policies.api_token_read(actor, row[1].org_id, row[1].id):
        raise NotFound(_("API token not found"))
    return row


def api_token_list(session: Session, actor: Actor, page: PageParams, *, user_id: uuid.UUID | None = None
                   ) -> tuple[list[ApiToken], int]:
    """Tokens of the actor, or of users the actor administers."""
    stmt = select(ApiToken).join(User, User.id == ApiToken.user_id).order_by(ApiToken.created_at.desc())
    if not actor.has(Role.PLATFORM_ADMIN):
        stmt = stmt.where(or_(ApiToken.user_id == actor.user_id,
                              User.org_id.in_(actor.orgs_for(Role.ORG_ADMIN))))
    if user_id is not None:
        stmt = stmt.where(ApiToken.user_id == user_id)
    return paginate(session, stmt, page)


def api_token_revoke(session: Session, actor: Actor, token_id: uuid.UUID) -> ApiToken:
    """Revoke a token at once (idempotent: revoking twice keeps the first time)."""
    token, owner = _visible_token(session, actor, token_id)
    policies.api_token_revoke(actor, owner.org_id, owner.id)
    if token.revoked_at is None:
        token.revoked_at = clock.now()
        session.flush()
        identity_changed(session)
        audit_record(session, actor, "api_token_revoke", target_type="api_token", target_id=token.id,
                     org_id=owner.org_id, extra={"user": owner.username, "prefix": token.prefix})
    return token


# ---------------------------------------------------------------- working-day calendar


def calendar_days(session: Session, start: date, end: date) -> dict[date, bool]:
    """Calendar exceptions between two dates (inclusive): date → is a working day."""
    rows = session.execute(select(CalendarDay.day, CalendarDay.working)
                           .where(CalendarDay.day >= start, CalendarDay.day <= end)).all()
    return dict(rows)


def calendar_list(session: Session, year: int) -> list[CalendarDay]:
    """Calendar exceptions of a year."""
    return list(session.scalars(select(CalendarDay).where(
        CalendarDay.day >= date(year, 1, 1), CalendarDay.day <= date(year, 12, 31)).order_by(CalendarDay.day)))


def calendar_day_set(session: Session, actor: Actor, day: date, working: bool, name: str = "") -> CalendarDay:
    """Mark one date as a holiday or an extra working day."""
    policies.calendar_day_set(actor)
    row = session.get(CalendarDay, day)
    before = {"working": row.working, "name": row.name} if row else None
    if row is None:
        row = CalendarDay(day=day, working=working, name=name)
        session.add(row)
    else:
        row.working, row.name = working, name
    session.flush()
    audit_record(session, actor, "calendar_day_set", target_type="calendar_day", target_id=day.isoformat(),
                 before=before, after={"working": working, "name": name})
    return row


def is_working_day(day: date, exceptions: Mapping[date, bool]) -> bool:
    """Working day: an exception decides, otherwise Monday to Friday."""
    return exceptions.get(day, day.weekday() < 5)


def working_days_add(session: Session, start: datetime, days: int) -> datetime:
    """The deadline `days` working days after `start`: end of that working day, Asia/Shanghai, as UTC."""
    if days < 0:
        raise ValueError("days must be >= 0")
    tz = ZoneInfo(get_settings().display_timezone)
    local = start.astimezone(tz).date()
    exceptions = calendar_days(session, local, local + timedelta(days=days * 3 + 30))
    current, left = local, days
    while left > 0:
        current += timedelta(days=1)
        if is_working_day(current, exceptions):
            left -= 1
    end_of_day = datetime.combine(current, time(23, 59, 59), tz)
    return end_of_day.astimezone(UTC)


def working_days_between(session: Session, start: datetime, end: datetime) -> int:
    """Working days strictly after `start`'s date up to and including `end`'s date (local time)."""
    tz = ZoneInfo(get_settings().display_timezone)
    a, b = start.astimezone(tz).date(), end.astimezone(tz).date()
    if b <= a:
        return 0
    exceptions = calendar_days(session, a, b)
    return sum(1 for i in range(1, (b - a).days + 1) if is_working_day(a + timedelta(days=i), exceptions))


# ---------------------------------------------------------------- counts for the home page


def core_counts(session: Session) -> dict[str, int]:
    """Headline counts for the home page."""
    return {
        "organizations": session.scalar(select(func.count()).select_from(Organization)) or 0,
        "users": session.scalar(select(func.count()).select_from(User)) or 0,
        "active_tokens": session.scalar(select(func.count()).select_from(ApiToken)
                                        .where(ApiToken.revoked_at.is_(None))) or 0,
        "audit_today": session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.at >= clock.now() - timedelta(days=1))) or 0,
    }
