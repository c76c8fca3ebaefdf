"""The CKAN Action API mapped onto the catalog: packages are catalog entries, organisations are providers.

Every action reads and writes through the data domain's capability services, so the catalog's visibility, grades,
masking, review workflow and audit apply unchanged; the action modules only translate parameters and shapes (see
docs/open-portal.md for the field mapping): `ckan_base` (errors, parameters, dictization), `ckan_search`,
`ckan_read`, `ckan_write`. Errors are raised as `CkanError` carrying CKAN's `__type` and status code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import IO, Any

from sqlalchemy.orm import Session

from cityhub.core.service import Actor
from cityhub.data.portal.ckan_base import LICENSE_BY_OPEN, Call, CkanError, bad_request, denied, not_found, translate
from cityhub.data.portal.ckan_read import (
    datastore_info,
    datastore_search,
    datastore_search_sql,
    license_list,
    package_activity_list,
    package_show,
    resource_show,
    site_read,
    status_show,
)
from cityhub.data.portal.ckan_search import (
    current_package_list_with_resources,
    group_list,
    group_show,
    organization_list,
    organization_show,
    package_list,
    package_search,
    resource_search,
    tag_list,
)
from cityhub.data.portal.ckan_write import (
    datastore_create,
    datastore_delete,
    datastore_upsert,
    package_create,
    package_delete,
    package_patch,
    package_update,
    resource_create,
    resource_delete,
    resource_patch,
    resource_update,
)
from cityhub.kit.errors import CityhubError
from cityhub.kit.i18n import gettext as _

__all__ = ["ACTIONS", "LICENSE_BY_OPEN", "WRITE_ACTIONS", "CkanError", "call", "translate"]


def help_show(c: Call) -> str:
    """The documentation of an action."""
    name = c.get_str("name", required=True, max_len=100)
    fn = ACTIONS.get(name)
    if fn is None:
        raise not_found(f"Action {name!r}")
    return (fn.__doc__ or name).strip()


ACTIONS: dict[str, Callable[[Call], Any]] = {
    f.__name__: f for f in (
        status_show, site_read, package_list, package_show, package_search, current_package_list_with_resources,
        resource_show, resource_search, organization_list, organization_show, group_list, group_show, tag_list,
        license_list, package_activity_list, datastore_search, datastore_search_sql, datastore_info, help_show,
        package_create, package_update, package_patch, package_delete, resource_create, resource_update,
        resource_patch, resource_delete, datastore_create, datastore_upsert, datastore_delete)
}


WRITE_ACTIONS = frozenset({"package_create", "package_update", "package_patch", "package_delete", "resource_create",
                           "resource_update", "resource_patch", "resource_delete", "datastore_create",
                           "datastore_upsert", "datastore_delete"})


def call(session: Session, actor: Actor, name: str, params: dict[str, Any], base_url: str,
         files: dict[str, tuple[str, IO[bytes], str]] | None = None) -> Any:
    """Run one action; raises CkanError (domain errors translated); writes run in a savepoint (all or nothing)."""
    fn = ACTIONS.get(name)
    if fn is None:
        raise bad_request(f"Action name not known: {name}")
    if name in WRITE_ACTIONS and not actor.is_authenticated:
        raise denied(_("Send the API token of a department user in the Authorization header"))
    c = Call(session=session, actor=actor, params=params, base_url=base_url, files=files or {})
    try:
        if name in WRITE_ACTIONS:
            with session.begin_nested():
                return fn(c)
        return fn(c)
    except CityhubError as exc:
        raise translate(exc) from exc
