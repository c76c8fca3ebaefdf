"""Core's public façade: organisations, users, roles, tokens, authentication, audit, calendar.

Every domain imports `cityhub.core.service` (never core's models) for the actor, audit rows, organisation scope and
working-day arithmetic. The work is in one package per capability — `organizations` (the cached tree in
`organizations.tree`), `users` (users, role bindings, `passwords`, `sessions`: logins and actors), `tokens`, `audit`,
`calendar` — and this module re-exports their public names so callers keep one import.
"""

from __future__ import annotations

from cityhub.core.actor import Actor
from cityhub.core.audit.sentences import AuditLine
from cityhub.core.audit.sentences import action_choices as audit_action_choices
from cityhub.core.audit.sentences import describe as audit_describe
from cityhub.core.audit.service import (
    AUDIT_CSV_COLUMNS,
    AuditFilter,
    audit_action_counts,
    audit_export_csv,
    audit_export_people_csv,
    audit_list,
    audit_record,
    audited,
    snapshot,
)
from cityhub.core.calendar.service import (
    calendar_day_set,
    calendar_days,
    calendar_list,
    is_working_day,
    working_days_add,
    working_days_between,
)
from cityhub.core.models import OrgKind, Role
from cityhub.core.organizations.service import (
    area_reference,
    bureau_set,
    core_counts,
    district_name_map,
    organization_all,
    organization_by_code,
    organization_create,
    organization_delete,
    organization_get,
    organization_head,
    organization_heads,
    organization_list,
    organization_names,
    organization_update,
)
from cityhub.core.organizations.tree import (
    AREA_KINDS,
    BUREAU_OPTION,
    IDENTITY_NS,
    ORG_TREE_NS,
    PORTAL_ORG_CODE,
    bureau_id,
    expand_subtrees,
    identity_changed,
    org_ancestors,
    org_area,
    org_directory,
    org_parents,
    org_subtree,
    org_tree_changed,
    portal_org_id,
)
from cityhub.core.tokens.service import (
    TOKEN_PREFIX,
    api_token_create,
    api_token_list,
    api_token_revoke,
    authenticate_token,
    cached_token_actor,
)
from cityhub.core.users.passwords import hash_password, one_hash_per_password
from cityhub.core.users.service import (
    is_platform_admin,
    role_binding_create,
    role_binding_delete,
    role_binding_list,
    user_by_username,
    user_create,
    user_get,
    user_list,
    user_logout,
    user_password_set,
    user_roles,
    user_roles_of,
    user_update,
)
from cityhub.core.users.sessions import (
    LoginResult,
    actor_for_session_user,
    actor_for_user,
    actor_for_username,
    cached_session_actor,
    login_attempt,
)

__all__ = [
    "AREA_KINDS", "AUDIT_CSV_COLUMNS", "BUREAU_OPTION", "IDENTITY_NS", "ORG_TREE_NS", "PORTAL_ORG_CODE",
    "TOKEN_PREFIX", "Actor", "AuditFilter", "AuditLine", "LoginResult", "OrgKind", "Role", "actor_for_session_user",
    "actor_for_user", "actor_for_username", "api_token_create", "api_token_list", "api_token_revoke",
    "area_reference", "audit_action_choices", "audit_action_counts", "audit_describe", "audit_export_csv",
    "audit_export_people_csv", "audit_list", "audit_record", "audited", "authenticate_token", "bureau_id",
    "bureau_set", "cached_session_actor", "cached_token_actor", "calendar_day_set", "calendar_days",
    "calendar_list", "core_counts", "district_name_map",
    "expand_subtrees", "hash_password", "identity_changed", "is_platform_admin",
    "is_working_day", "login_attempt", "one_hash_per_password", "org_ancestors", "org_area", "org_directory",
    "org_parents",
    "org_subtree",
    "org_tree_changed", "organization_all", "organization_by_code", "organization_create", "organization_delete",
    "organization_get", "organization_head", "organization_heads", "organization_list", "organization_names",
    "organization_update",
    "portal_org_id", "role_binding_create", "role_binding_delete", "role_binding_list", "snapshot",
    "user_by_username", "user_create", "user_get", "user_list", "user_logout", "user_password_set", "user_roles",
    "user_roles_of", "user_update", "working_days_add", "working_days_between",
]
