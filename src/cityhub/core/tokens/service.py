"""API tokens: `chub_<prefix>_<secret>`, stored as a keyed hash and shown once; bearer authentication.

Successful lookups are kept in the push cache; a revocation drops them in every process at once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from datetime import timedelta

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.orm import Session

from cityhub.core import policies
from cityhub.core.actor import Actor
from cityhub.core.audit.service import audit_record
from cityhub.core.models import ApiToken, Role, RoleBinding, User
from cityhub.core.organizations.tree import IDENTITY_NS, identity_changed
from cityhub.core.schemas import ApiTokenCreate
from cityhub.core.users.sessions import actor_of
from cityhub.kit import clock, pushcache
from cityhub.kit.errors import NotFound, Unauthorized, ValidationFailed
from cityhub.kit.i18n import gettext as _
from cityhub.kit.pagination import PageParams, paginate
from cityhub.kit.settings import get_settings

TOKEN_PREFIX = "chub"


def token_hash(secret: str) -> str:
    """The stored form of a token: HMAC-SHA256 keyed with the secret key."""
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
    if not hmac.compare_digest(secret_hash, token_hash(raw)):
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
    actor = actor_of(session, user_id, username, org_id, bindings, tuple(scopes))
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
    if not hmac.compare_digest(secret_hash, token_hash(raw)):
        return None
    now = clock.now()
    if (expires_at is not None and expires_at <= now) or now - last_used_at > _LAST_USED_EVERY:
        return None
    return actor  # type: ignore[no-any-return]  # the Actor cached by authenticate_token


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
    token = ApiToken(user_id=user.id, name=data.name, prefix=prefix, secret_hash=token_hash(raw),
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
