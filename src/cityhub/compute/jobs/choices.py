"""What the batch-job form offers a member of staff, each choice with a label a person reads.

- the units they run jobs for (`compute.job_run`);
- the published versions of published (or deprecated) components, built-in or upstream, with the built-ins'
  operations by their OpenAPI summaries;
- the datastore tables their units may read: their own, and those granted to them by an active sharing request
  (the grant is applied when the job reads the table: granted items only, masked as the grant says);
- their units' enabled applications (an upstream version runs as one of them).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cityhub.compute import policies
from cityhub.compute.access import service as access
from cityhub.compute.builtins import service as builtins
from cityhub.compute.models import Component, ComponentStatus, ComponentVersion
from cityhub.core.actor import Actor
from cityhub.kit.errors import Forbidden, NotFound


@dataclass(slots=True)
class Operation:
    """One operation of a built-in: method, sub-path and its summary."""

    method: str
    path: str
    summary: str


@dataclass(slots=True)
class VersionChoice:
    """A version the form offers: `code@version` is the value."""

    value: str
    component_name: str
    version: str
    kind: str  # builtin | upstream
    operations: list[Operation] = field(default_factory=list)


@dataclass(slots=True)
class TableChoice:
    """A datastore table a unit may read."""

    resource_id: uuid.UUID
    title: str
    entry_title: str
    org_id: uuid.UUID  # the unit that may read it
    granted: bool  # through a sharing grant (else the unit's own)
    columns: list[str]


def job_units(actor: Actor, names: dict[uuid.UUID, str]) -> list[uuid.UUID]:
    """Units the actor runs jobs for, by name."""
    return sorted((o for o in names if policies.may_run_jobs(actor, o)), key=lambda o: names[o])


def job_versions(session: Session) -> list[VersionChoice]:
    """Published versions of published and deprecated components (what every member of staff sees)."""
    rows = session.execute(select(Component, ComponentVersion).join(
        ComponentVersion, ComponentVersion.component_id == Component.id).where(
        Component.status.in_((ComponentStatus.PUBLISHED, ComponentStatus.DEPRECATED)),
        ComponentVersion.published_at.is_not(None)).order_by(Component.name_zh, ComponentVersion.version)).all()
    out = []
    for c, v in rows:
        ops: list[Operation] = []
        if v.kind == "builtin":
            doc = builtins.builtin_get(v.builtin)
            paths = (doc.openapi().get("paths", {}) if doc is not None else {})
            for (method, sub), _handler in sorted((doc.routes() if doc is not None else {}).items()):
                if method not in ("GET", "POST"):
                    continue
                summary = str(paths.get(f"/{sub}", {}).get(method.lower(), {}).get("summary", ""))
                ops.append(Operation(method, f"/{sub}", summary))
        out.append(VersionChoice(f"{c.code}@{v.version}", c.name_zh, v.version, str(v.kind), ops))
    return out


def job_tables(session: Session, actor: Actor, units: list[uuid.UUID]) -> list[TableChoice]:
    """Datastore tables of the units' own entries, then those granted to them (active sharing requests)."""
    from cityhub.data import service as data

    wanted = set(units)
    out: list[TableChoice] = []
    seen: set[tuple[uuid.UUID, uuid.UUID]] = set()

    def add(entry_id: uuid.UUID, org_id: uuid.UUID, granted: bool) -> None:
        try:
            resources = data.resource_list(session, actor, entry_id)
            entry = data.catalog_entry_get(session, actor, entry_id)
        except (NotFound, Forbidden):
            return
        for r in resources:
            if r.kind == "table" and r.table_name and (r.id, org_id) not in seen:
                seen.add((r.id, org_id))
                cols = [str(c.get("name") or c.get("name_en") or "") if isinstance(c, dict) else str(c)
                        for c in r.columns or []]
                out.append(TableChoice(r.id, r.title, entry.title, org_id, granted, [c for c in cols if c]))

    for entry in data.catalog_entry_list_owned(session, actor):
        if entry.provider_org_id in wanted:
            add(entry.id, entry.provider_org_id, False)
    requests, _total = data.share_request_list(session, actor, box="mine", status="active", limit=500)
    for req in requests:
        if req.requester_org_id in wanted:
            add(req.entry_id, req.requester_org_id, True)
    return out


def job_apps(session: Session, actor: Actor, units: list[uuid.UUID]) -> list[Any]:
    """The units' enabled applications (an upstream job runs as one of them)."""
    wanted = set(units)
    return [a for a in access.app_list(session, actor) if a.org_id in wanted and not a.disabled]
