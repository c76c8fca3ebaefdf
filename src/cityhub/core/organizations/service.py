"""Organisations: the city, its departments and districts (云长 per unit), the bureau named among them.

Reads go through the cached tree and directory of `organizations.tree`; every change here drops those caches in
every process.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cityhub.core import policies
from cityhub.core.actor import Actor
from cityhub.core.audit.service import audit_record, snapshot
from cityhub.core.models import ApiToken, AuditEntry, CoreOption, Organization, Role, RoleBinding, User
from cityhub.core.organizations.tree import AREA_KINDS, BUREAU_OPTION, ORG_TREE_NS, org_directory, org_tree_changed
from cityhub.core.schemas import OrganizationCreate, OrganizationUpdate
from cityhub.core.users.service import end_sessions, keep_a_platform_admin, user_get
from cityhub.kit import clock, i18n, pushcache
from cityhub.kit.errors import Conflict, NotFound, ValidationFailed
from cityhub.kit.i18n import gettext as _
from cityhub.kit.pagination import PageParams, paginate
from cityhub.kit.refs import reference


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


def organization_all(session: Session) -> list[Organization]:
    """Every organisation, ordered by code (for pickers, demo and other domains' reports)."""
    return list(session.scalars(select(Organization).order_by(Organization.code)))


def organization_names(session: Session, locale: str | None = None) -> dict[uuid.UUID, str]:
    """Every unit's name as a reader of `locale` (default: the request's) reads it, in one query of three columns.

    The English name on English pages, the Chinese one where a unit has none (never an empty cell).
    """
    english = (locale or i18n.get_locale()) == "en"
    rows = session.execute(select(Organization.id, Organization.name, Organization.name_en))
    return {oid: (name_en or name) if english else name for oid, name, name_en in rows}


def district_name_map(session: Session, locale: str | None = None) -> dict[str, str]:
    """Chinese district name → the name a reader of `locale` reads; empty unless English.

    Maps drawn over the Chongqing outlines, whose features are named in Chinese, rename them with it on English
    pages (cityhub.chongqing), where a district has an English name.
    """
    if (locale or i18n.get_locale()) != "en":
        return {}
    rows = session.execute(select(Organization.name, Organization.name_en).where(
        Organization.kind.in_(AREA_KINDS), Organization.name_en != ""))
    return {name: name_en for name, name_en in rows}


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
        keep_a_platform_admin(session, without_bindings=[bid for bid, _role, _uid in bound])
    session.execute(delete(RoleBinding).where(RoleBinding.org_id == org.id))
    for user in session.scalars(select(User).where(User.id.in_({uid for _id, _role, uid in bound}))):
        end_sessions(session, user)  # their role set changed
    session.delete(org)
    try:
        session.flush()
    except IntegrityError as exc:  # still referenced by another domain's rows
        raise Conflict(_("The organisation is still referenced"), details=str(exc.orig)[:200]) from exc
    org_tree_changed(session)
    audit_record(session, actor, "organization_delete", target_type="organization", target_id=org_id,
                 org_id=org_id, before=before)


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


def organization_heads(session: Session, org_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The display names of several units' heads in one query (units without a head are absent)."""
    ids = list(org_ids)
    if not ids:
        return {}
    rows = session.execute(select(Organization.id, User.display_name)
                           .join(User, User.id == Organization.head_user_id).where(Organization.id.in_(ids)))
    return {oid: name for oid, name in rows.all()}


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
